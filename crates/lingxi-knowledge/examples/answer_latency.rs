//! Latency percentiles of answering with 10,000 FAQ phrasings indexed, on one core:
//! (1) retrieval + decision once the query is encoded, (2) the whole answer path of a customer
//! message: encode it (the encoder's two threads), retrieve, decide.
//!
//! `cargo run -p lingxi-knowledge --release --example answer_latency -- DATASET_DIR [VECTORS [QUERY_MAX_TOKENS]]`
//! DATASET_DIR: a folder with `train.jsonl` / `test.jsonl` (`{"text","label"}`, e.g. banking77):
//! the first 10,000 train utterances are the phrasings (one entry per label), test utterances are
//! the queries. VECTORS: the train split's embeddings as written by the `embed_cache` example
//! (`<name>.train.text.f32`); without it the phrasings are encoded here first (minutes).
//! QUERY_MAX_TOKENS: encode at most that many tokens of each query, as the server does with
//! `[knowledge] query_max_tokens` (`Encoder::encode_query_within`); 0 or absent: the whole query.
//! Criterion gives means; the targets are percentiles, so this prints p50/p90/p99/max.
//! `LX_PASSES=N` times N passes of retrieval over the encoded queries; `LX_RETRIEVAL_ONLY=1`
//! skips the whole-path part; `LX_ENCODER_THREADS=1` runs the encoder on one thread.

use lingxi_knowledge::decision::faq_defaults;
use lingxi_knowledge::eval::labelled_kb;
use lingxi_knowledge::{Filter, Lang, RetrievalConfig};
use std::io::BufRead;
use std::time::Instant;

fn read(path: &std::path::Path, limit: usize) -> Vec<(String, String)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::BufReader::new(f)
        .lines()
        .take(limit)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.expect("line")).expect("JSON line");
            let label = match &v["label"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (v["text"].as_str().unwrap_or_default().to_owned(), label)
        })
        .collect()
}

fn report(name: &str, mut us: Vec<f64>) {
    us.sort_by(f64::total_cmp);
    let q = |p: f64| us[((us.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name}: n={} p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  max {:.0} µs",
        us.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(args.first().expect("usage: answer_latency DATASET_DIR [VECTORS]"));
    let train = read(&dir.join("train.jsonl"), 10_000);
    let test = read(&dir.join("test.jsonl"), 1_000);
    let enc = lingxi_encoder::Encoder::load_default().expect("the encoder's model (scripts/fetch-model.sh)");
    // `LX_ENCODER_THREADS=1`: the whole path on one core (the server's default is two).
    let threads = std::env::var("LX_ENCODER_THREADS").ok().map(|n| n.parse::<usize>().expect("LX_ENCODER_THREADS"));
    let enc = match threads {
        Some(n) => enc.with_threads(n),
        None => enc,
    };
    println!("encoder threads: {}", threads.map_or("default (2)".to_owned(), |n| n.to_string()));
    let vectors: Vec<Vec<f32>> = match args.get(1) {
        Some(p) => std::fs::read(p)
            .expect("vectors file")
            .chunks_exact(384 * 4)
            .take(train.len())
            .map(|r| r.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            .collect(),
        None => {
            let texts: Vec<&str> = train.iter().map(|(t, _)| t.as_str()).collect();
            texts.chunks(32).flat_map(|c| enc.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, c)).collect()
        }
    };
    assert_eq!(vectors.len(), train.len(), "one vector per phrasing");
    let budget = match args.get(2).map(|n| n.parse::<usize>().expect("QUERY_MAX_TOKENS is a number")) {
        None | Some(0) => None,
        Some(n) => Some(lingxi_encoder::QueryTokens::new(n).expect("QUERY_MAX_TOKENS")),
    };
    let encode = |t: &str| match budget {
        Some(b) => enc.encode_query_within(t, b).vector,
        None => enc.encode_query(t),
    };
    println!("query budget: {}", budget.map_or("whole query".to_owned(), |b| format!("{} tokens", b.get())));
    // The server's settings (lingxi-server knowledge.rs): FAQ weights, no entry classifier.
    let config = RetrievalConfig::faq();
    let t0 = Instant::now();
    let kb = labelled_kb(&train, Some(&vectors), Lang::En, config);
    println!(
        "index: {} phrasings, {} entries, built in {:.2} s",
        kb.index.n_phrasings(),
        kb.labels.len(),
        t0.elapsed().as_secs_f64()
    );
    let (cal, th) = faq_defaults(true);
    let filter = Filter::at(0);
    let queries: Vec<(String, Vec<f32>)> = test.iter().map(|(t, _)| (t.clone(), encode(t))).collect();
    // Warm-up, then retrieval + decision with the query already encoded.
    for (t, v) in queries.iter().take(50) {
        let _ = th.decide(&kb.index.search(t, Some(v), &filter, 3), &cal);
    }
    // `LX_PASSES=N`: time N passes over the encoded queries (percentiles over all of them),
    // for steadier figures than one pass of 1,000 queries gives.
    let passes: usize = std::env::var("LX_PASSES").ok().and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let mut retrieval = Vec::new();
    let mut right = 0usize;
    for pass in 0..passes {
        for ((t, v), (_, label)) in queries.iter().zip(&test) {
            let s = Instant::now();
            let ranking = kb.index.search(t, Some(v), &filter, 3);
            let _ = std::hint::black_box(th.decide(&ranking, &cal));
            retrieval.push(s.elapsed().as_secs_f64() * 1e6);
            if pass == 0 {
                right += usize::from(ranking.hits.first().is_some_and(|h| &kb.labels[h.entry] == label));
            }
        }
    }
    report("retrieval + decision (query encoded)", retrieval);
    println!("top-1 on these queries: {:.2} %", right as f64 * 100.0 / queries.len() as f64);
    if std::env::var("LX_RETRIEVAL_ONLY").is_ok() {
        return;
    }
    let mut whole = Vec::new();
    for (t, _) in &test {
        let s = Instant::now();
        let v = encode(t);
        let _ = std::hint::black_box(th.decide(&kb.index.search(t, Some(&v), &filter, 3), &cal));
        whole.push(s.elapsed().as_secs_f64() * 1e6);
    }
    report("whole answer path (encode + retrieve + decide)", whole);
}
