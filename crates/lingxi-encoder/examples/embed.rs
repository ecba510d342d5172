//! Command-line helper: embed texts with the local model and print timings, e.g. `cargo run --release --example embed -- query "怎么退款"`.

use std::time::Instant;

use lingxi_encoder::Encoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, texts) = match args.split_first() {
        Some((m, rest)) if m == "query" || m == "passage" || m == "raw" => (m.as_str(), rest.to_vec()),
        _ => ("query", args.clone()),
    };
    let t0 = Instant::now();
    let enc = Encoder::load_default()?;
    eprintln!("loaded in {:?} ({} MB of weights and vocabulary)", t0.elapsed(), enc.heap_bytes() >> 20);
    for text in &texts {
        let ids = enc.tokenizer().encode(text);
        let t = Instant::now();
        let v = match mode {
            "query" => enc.encode_query(text),
            "passage" => enc.encode_passage(text),
            _ => enc.encode(text),
        };
        let took = t.elapsed();
        println!(
            "{text:?} ({} tokens) {:?} [{:.5} {:.5} {:.5} ...] in {took:?}",
            ids.len(),
            &ids[..ids.len().min(12)],
            v[0],
            v[1],
            v[2]
        );
    }
    Ok(())
}
