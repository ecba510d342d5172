//! Benchmarks of the text-processing path: normalise, segment and extract entities of short messages.
//!
//! Run with `cargo bench -p lingxi-nlu --bench text`. The whole lexical path (this plus the
//! classifiers) aims at p99 ≤ 0.1 ms per short message; this part should stay well under 40 µs.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use lingxi_nlu::entities::{mask_sensitive, EntityConfig, EntityExtractor, Now};
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::Segmenter;

const MESSAGES: &[&str] = &[
    "我要退宽，订单号202603041234567，肿么还没发货！！！",
    "这个order怎么cancel? 明天下午三点前能到吗",
    "上周五买的iPhone 15花了¥5999，能退嗎？電話13812345678",
    "where is my parcel SF1234567890123, it's been 5 days 😡",
    "亲，在吗",
];

fn bench(c: &mut Criterion) {
    let normalizer = Normalizer::new(["灵犀音箱"]);
    let segmenter = Segmenter::with_user_words(["灵犀音箱", "iphone 15"]);
    let extractor = EntityExtractor::new(&EntityConfig {
        order_patterns: vec![],
        catalogue: vec!["iPhone 15".into(), "小米14".into(), "灵犀音箱".into()],
    })
    .expect("valid config");
    let now = Now::china(1_772_589_600);
    // Load the dictionary and compile the patterns outside the measurement.
    for m in MESSAGES {
        let n = normalizer.normalize(m);
        let _ = segmenter.lexical_units(&n.text);
        let _ = extractor.extract(&n.text, now);
    }

    let mut group = c.benchmark_group("text");
    group.bench_function("normalize", |b| {
        b.iter(|| {
            for m in MESSAGES {
                black_box(normalizer.normalize(black_box(m)));
            }
        })
    });
    let normalized: Vec<String> = MESSAGES.iter().map(|m| normalizer.normalize(m).text).collect();
    group.bench_function("segment", |b| {
        b.iter(|| {
            for t in &normalized {
                black_box(segmenter.lexical_units(black_box(t)));
            }
        })
    });
    group.bench_function("entities", |b| {
        b.iter(|| {
            for t in &normalized {
                black_box(extractor.extract(black_box(t), now));
            }
        })
    });
    group.bench_function("normalize+segment+entities", |b| {
        b.iter(|| {
            for m in MESSAGES {
                let n = normalizer.normalize(black_box(m));
                black_box(segmenter.lexical_units(&n.text));
                black_box(extractor.extract(&n.text, now));
            }
        })
    });
    group.bench_function("mask_sensitive", |b| {
        b.iter(|| {
            for m in MESSAGES {
                black_box(mask_sensitive(black_box(m)));
            }
        })
    });
    group.finish();

    // Per-message latency distribution of the whole path (criterion reports means).
    let mut samples: Vec<u128> = Vec::with_capacity(MESSAGES.len() * 2_000);
    for _ in 0..2_000 {
        for m in MESSAGES {
            let start = std::time::Instant::now();
            let n = normalizer.normalize(m);
            black_box(segmenter.lexical_units(&n.text));
            black_box(extractor.extract(&n.text, now));
            samples.push(start.elapsed().as_nanos());
        }
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize] as f64 / 1_000.0;
    println!(
        "per message, normalize+segment+entities: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
