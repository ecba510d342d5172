//! Percentiles of the whole lexical understanding of one message, on one thread: normalise,
//! segment, language, intent (default model of the message's language), entities, sentiment.
//! Criterion gives means; the target is a p99, so this prints p50/p90/p99/max.
//!
//! `cargo run -p lingxi-nlu --release --example pipeline_latency -- FILE.jsonl [FILE.jsonl …]`
//! (`{"text": …}` per line; e.g. the test splits of smp2017_ecdt_task1 and banking77).

use lingxi_nlu::entities::{EntityConfig, EntityExtractor, Now};
use lingxi_nlu::intent::{default_model, DefaultLanguage};
use lingxi_nlu::language::Language;
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::Segmenter;
use lingxi_nlu::sentiment::analyze;
use std::time::Instant;

fn main() {
    let mut texts = Vec::new();
    for path in std::env::args().skip(1) {
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            texts.push(v["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(!texts.is_empty(), "usage: pipeline_latency FILE.jsonl [FILE.jsonl …]");
    let normalizer = Normalizer::default();
    let segmenter = Segmenter::new();
    let extractor = EntityExtractor::new(&EntityConfig::default()).expect("entity patterns");
    let (zh, en) = (default_model(DefaultLanguage::Chinese), default_model(DefaultLanguage::English));
    let now = Now::china(1_764_000_000);
    let once = |t: &str| {
        let n = normalizer.normalize(t);
        let units = segmenter.lexical_units(&n.text);
        let model = if matches!(n.language, Language::English) { &en } else { &zh };
        let intent = model.classify(&n.text);
        let entities = extractor.extract(&n.text, now);
        let sentiment = analyze(&n.text);
        std::hint::black_box((units, intent, entities, sentiment));
    };
    for t in texts.iter().take(200) {
        once(t);
    }
    let mut us: Vec<f64> = texts
        .iter()
        .map(|t| {
            let s = Instant::now();
            once(t);
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let q = |p: f64| us[((us.len() - 1) as f64 * p).round() as usize];
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    println!(
        "lexical understanding: n={} (mean {:.1} chars) p50 {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  max {:.1} µs",
        us.len(),
        chars as f64 / texts.len() as f64,
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}
