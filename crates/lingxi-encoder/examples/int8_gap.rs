//! How far int8 vectors are from f32 ones: `int8_gap <file.jsonl> [n]` encodes the `text` field
//! of the first `n` lines (default 1,000) as queries in both arithmetics, one thread each, and
//! prints the mean `1 − cosine` and the smallest cosine. The model is found as
//! `Encoder::load_default` finds it (`Encoder::find_default`).

use std::io::BufRead;

use lingxi_encoder::{cosine, Arithmetic, Encoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        return Err("usage: int8_gap <file.jsonl> [n]".into());
    };
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(file)?).lines().take(n) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        texts.push(v["text"].as_str().ok_or("a line without a \"text\" string")?.to_owned());
    }
    let path = Encoder::find_default()?;
    let f32_enc = Encoder::load_with(&path, Arithmetic::F32)?.with_threads(1);
    let int8_enc = Encoder::load_with(&path, Arithmetic::Int8)?.with_threads(1);
    let (mut gap, mut min) = (0f64, 1f32);
    for t in &texts {
        let c = cosine(&f32_enc.encode_query(t), &int8_enc.encode_query(t));
        gap += f64::from(1.0 - c);
        min = min.min(c);
    }
    println!("{} texts: mean 1 - cos {:.3e}, min cos {min:.5}", texts.len(), gap / texts.len().max(1) as f64);
    Ok(())
}
