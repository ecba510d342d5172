//! Criterion benchmark: latency of one short customer message (query prefix) on two threads and one,
//! in the arithmetic this CPU gets by default and, for comparison, in f32; skips without the model.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use lingxi_encoder::{Arithmetic, Encoder, MODEL_DIR_ENV, MODEL_FILE_NAME};

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
    let enc = Encoder::load(&path).expect("model loads");
    let default = enc.arithmetic();
    let mut group = c.benchmark_group("encoder");
    let mut arithmetics = vec![default];
    if default != Arithmetic::F32 {
        arithmetics.push(Arithmetic::F32);
    }
    for arithmetic in arithmetics {
        for threads in [2, 1] {
            let enc = Encoder::load_with(&path, arithmetic).unwrap().with_threads(threads);
            let name =
                format!("short_message_{}_{threads}_thread{}", arithmetic.as_str(), if threads > 1 { "s" } else { "" });
            let mut i = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    i = (i + 1) % MESSAGES.len();
                    enc.encode_query(MESSAGES[i])
                })
            });
        }
    }
    group.sample_size(10);
    group.bench_function("batch_of_8_2_threads", |b| b.iter(|| enc.encode_batch(&MESSAGES)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
