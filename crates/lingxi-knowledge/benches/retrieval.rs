//! Criterion bench: retrieval + decision over 10,000 indexed phrasings (synthetic vectors), query already encoded.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lingxi_knowledge::eval::labelled_kb;
use lingxi_knowledge::{Calibrator, Filter, Lang, RetrievalConfig, Thresholds};

/// Deterministic pseudo-random unit vector.
fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut v: Vec<f32> = (0..384)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

fn bench(c: &mut Criterion) {
    let topics =
        ["refund", "invoice", "shipping", "camera", "vacuum", "earbuds", "lock", "points", "warranty", "order"];
    let verbs = ["how do I get", "where is my", "problem with", "can I change", "I need help with"];
    let mut examples = Vec::new();
    for i in 0..10_000u32 {
        let t = topics[(i % 10) as usize];
        let v = verbs[(i / 10 % 5) as usize];
        examples.push((format!("{v} {t} number {i} 退款{}发票", i % 97), format!("intent{}", i % 77)));
    }
    let vectors: Vec<Vec<f32>> = (0..10_000).map(vector).collect();
    let kb =
        labelled_kb(&examples, Some(&vectors), Lang::En, RetrievalConfig { w_classifier: 0.0, ..Default::default() });
    assert_eq!(kb.index.n_phrasings(), 10_000);
    let cal = Calibrator::default();
    let th = Thresholds::default();
    let f = Filter::at(0);
    let q = vector(424242);
    c.bench_function("hybrid search+decide, 10k phrasings, en", |b| {
        b.iter(|| th.decide(&kb.index.search(black_box("where is my refund 退款"), Some(&q), &f, 3), &cal))
    });
    c.bench_function("lexical search+decide, 10k phrasings, en", |b| {
        b.iter(|| th.decide(&kb.index.search(black_box("where is my refund"), None, &f, 3), &cal))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
