//! Accuracy and per-message latency of classifier artifacts on one labelled split, the artifacts
//! timed interleaved message by message so machine load hits them alike:
//! `cargo run -p lingxi-nlu --release --example artifact_compare -- /work/shared/data/waimai_10k/dev.jsonl old.bin models/sentiment-zh.bin`.

use lingxi_nlu::classifier::TextClassifier;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    assert!(a.len() >= 2, "usage: artifact_compare SPLIT.jsonl MODEL.bin [MODEL.bin …]");
    let models: Vec<TextClassifier> =
        a[1..].iter().map(|p| TextClassifier::from_bytes(&std::fs::read(p).unwrap()).unwrap()).collect();
    let rows: Vec<(String, String)> = std::fs::read_to_string(&a[0])
        .unwrap()
        .lines()
        .map(|l| {
            let v = serde_json::from_str::<serde_json::Value>(l).unwrap();
            (v["text"].as_str().unwrap().to_string(), v["label"].to_string())
        })
        .collect();
    let texts: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    for (p, m) in a[1..].iter().zip(&models) {
        let ok = rows.iter().filter(|(t, l)| m.labels()[m.predict(t).top().0 as usize] == *l).count();
        println!("{p}: accuracy {:.2}", ok as f64 / rows.len() as f64 * 100.0);
    }
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    // Three passes: the first also warms caches and jieba's dictionary.
    for _ in 0..3 {
        for t in &texts {
            for (m, l) in models.iter().zip(lat.iter_mut()) {
                let s = Instant::now();
                std::hint::black_box(m.predict(t));
                l.push(s.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    for (p, l) in a[1..].iter().zip(lat.iter_mut()) {
        l.sort_by(f64::total_cmp);
        println!("{p}: p50 {:.1} us p99 {:.1} us", l[l.len() / 2], l[l.len() * 99 / 100]);
    }
}
