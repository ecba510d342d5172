//! Vectors of a split's queries as the encoder sees them under a token budget, for `kb_eval`:
//! `query_cap NAME/SPLIT FULL_VECTORS OUT CUT` where CUT is `head:N` (the first N tokens,
//! `<s>`, `"query: "` and `</s>` included: `Encoder::encode_query_within`) or `headtail:N`
//! (the prefix and the first half of the rest, then the last half). Queries that fit are
//! copied from FULL_VECTORS (the `embed_cache` file of that split), so only long ones are
//! encoded. Prints the token-length percentiles and how many queries were cut.

use lingxi_encoder::{Encoder, QueryTokens, QUERY_PREFIX};
use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [spec, full, out, cut] = &args[..] else {
        return Err("usage: query_cap NAME/SPLIT FULL_VECTORS OUT head:N|headtail:N".into());
    };
    let (mode, n) = cut.split_once(':').ok_or("CUT is head:N or headtail:N")?;
    let budget = QueryTokens::new(n.parse()?)?;
    let file = std::fs::File::open(format!("/work/shared/data/{spec}.jsonl"))?;
    let texts: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map(|l| Ok(serde_json::from_str::<serde_json::Value>(&l?)?["text"].as_str().unwrap_or("").to_owned()))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let full = std::fs::read(full)?;
    assert!(full.len() >= texts.len() * 384 * 4, "FULL_VECTORS covers every line");
    let enc = Encoder::load_default()?.with_threads(1);
    let mut lens = Vec::new();
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut n_cut = 0;
    for (i, t) in texts.iter().enumerate() {
        let ids = enc.tokenizer().encode(&format!("{QUERY_PREFIX}{t}"));
        lens.push(ids.len() + 2);
        let keep = budget.get() - 2;
        let v = if ids.len() <= keep {
            full[i * 384 * 4..(i + 1) * 384 * 4].to_vec()
        } else {
            n_cut += 1;
            let v = match mode {
                "head" => enc.encode_query_within(t, budget).vector,
                "headtail" => {
                    // the prefix (3 tokens) stays; the rest of the budget splits into head and tail
                    let head = 3 + (keep - 3).div_ceil(2);
                    let tail = keep - head;
                    let cut: Vec<u32> = ids[..head].iter().chain(&ids[ids.len() - tail..]).copied().collect();
                    enc.encode_ids(&cut)
                }
                other => return Err(format!("unknown cut {other}").into()),
            };
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
        w.write_all(&v)?;
    }
    w.flush()?;
    lens.sort_unstable();
    let q = |p: f64| lens[((lens.len() - 1) as f64 * p).round() as usize];
    println!(
        "{spec}: {} queries, tokens (with <s>, prefix, </s>) p50 {} p90 {} p99 {} max {}; {cut}: {n_cut} cut ({:.1} %)",
        lens.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0),
        n_cut as f64 * 100.0 / lens.len() as f64
    );
    Ok(())
}
