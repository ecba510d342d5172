//! Development helper: embeds the texts of `/work/shared/data/<name>/<split>.jsonl` with e5 ("query: " prefix)
//! into `<out_dir>/<name>.<split>.<field>.f32` (little-endian f32, 384 per line, in line order), so evaluations
//! do not re-encode. Usage: `embed_cache <out_dir> <limit_lines> <name>/<split>:<field>[:limit]...`.

use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out_dir = std::path::PathBuf::from(&args[0]);
    let limit: usize = args[1].parse()?;
    std::fs::create_dir_all(&out_dir)?;
    let enc = lingxi_encoder::Encoder::load_default()?.with_threads(1);
    for spec in &args[2..] {
        let mut parts = spec.split(':');
        let path = parts.next().unwrap_or_default();
        let field = parts.next().ok_or("spec is name/split:field[:limit]")?;
        let limit = parts.next().map(str::parse).transpose()?.unwrap_or(limit);
        let (name, split) = path.split_once('/').ok_or("spec is name/split:field")?;
        let out = out_dir.join(format!("{name}.{split}.{field}.f32"));
        let file = std::fs::File::open(format!("/work/shared/data/{name}/{split}.jsonl"))?;
        let mut texts = Vec::new();
        for line in std::io::BufReader::new(file).lines().take(limit) {
            let v: serde_json::Value = serde_json::from_str(&line?)?;
            texts.push(v[field].as_str().unwrap_or("").to_owned());
        }
        let done = std::fs::metadata(&out).map(|m| m.len() as usize / (384 * 4)).unwrap_or(0);
        if done >= texts.len() {
            eprintln!("{spec}: cached");
            continue;
        }
        let mut w = std::fs::OpenOptions::new().create(true).append(true).open(&out)?;
        let t0 = std::time::Instant::now();
        for (i, chunk) in texts[done..].chunks(32).enumerate() {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for v in enc.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, &refs) {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.write_all(&bytes)?;
            }
            if i % 20 == 0 {
                eprintln!("{spec}: {} / {} in {:?}", done + (i + 1) * 32, texts.len(), t0.elapsed());
            }
        }
        w.flush()?;
    }
    Ok(())
}
