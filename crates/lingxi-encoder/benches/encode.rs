//! Criterion benchmark: latency of one short customer message (query prefix) with two threads; skips without the model.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use lingxi_encoder::{Encoder, MODEL_DIR_ENV, MODEL_FILE_NAME};

#[path = "common/messages.rs"]
mod messages;
use messages::MESSAGES;

fn model_path() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        c.push(PathBuf::from(dir).join(MODEL_FILE_NAME));
    }
    c.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(MODEL_FILE_NAME));
    c.into_iter().find(|p| p.is_file())
}

fn bench(c: &mut Criterion) {
    let Some(path) = model_path() else {
        eprintln!("SKIPPED encoder benchmark: {MODEL_FILE_NAME} not found (run scripts/fetch-model.sh)");
        return;
    };
    let enc = Encoder::load(path).expect("model loads");
    let mut group = c.benchmark_group("encoder");
    for (name, threads) in [("short_message_2_threads", 2), ("short_message_1_thread", 1)] {
        let enc = Encoder::load(model_path().unwrap()).unwrap().with_threads(threads);
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % MESSAGES.len();
                enc.encode_query(MESSAGES[i])
            })
        });
    }
    group.sample_size(10);
    group.bench_function("batch_of_8_2_threads", |b| b.iter(|| enc.encode_batch(&MESSAGES)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
