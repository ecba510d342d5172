//! Criterion benchmark: latency of one short customer message (query prefix) on two threads and
//! one, in the arithmetic this CPU gets by default and, for comparison, in f32 and in int8 on
//! the slower kernels this CPU also runs (VNNI and AVX-VNNI where AMX is the default; AVX2), and
//! in q4x8 (what CPUs with AVX2 alone compute in); skips without the model.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use lingxi_encoder::{Arithmetic, Encoder, Int8Kernel, MODEL_DIR_ENV, MODEL_FILE_NAME};

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
    let load = |arithmetic: Arithmetic, kernel: Option<Int8Kernel>| match kernel {
        Some(k) => Encoder::load_with_kernel(&path, k).unwrap(),
        None => Encoder::load_with(&path, arithmetic).unwrap(),
    };
    let mut group = c.benchmark_group("encoder");
    // (arithmetic, kernel): the default first, then the others this CPU runs.
    let mut variants = vec![(enc.arithmetic(), enc.int8_kernel())];
    // The slower SIMD kernels this CPU also runs, for the ratio to what CPUs without the
    // faster ones get.
    for kernel in [Int8Kernel::Vnni, Int8Kernel::AvxVnni, Int8Kernel::Avx2] {
        if enc.int8_kernel().is_some_and(|best| best != kernel) && kernel.available() {
            variants.push((Arithmetic::Int8, Some(kernel)));
        }
    }
    // q4x8, what AVX2-only CPUs compute in, where this CPU defaults to something else.
    if enc.arithmetic() != Arithmetic::Q4x8 && Int8Kernel::Avx2.available() {
        variants.push((Arithmetic::Q4x8, None));
    }
    if enc.arithmetic() != Arithmetic::F32 {
        variants.push((Arithmetic::F32, None));
    }
    for (arithmetic, kernel) in variants {
        for threads in [2, 1] {
            let enc = load(arithmetic, kernel).with_threads(threads);
            let kernel = kernel.map(|k| format!("_{}", k.as_str())).unwrap_or_default();
            let name = format!(
                "short_message_{}{kernel}_{threads}_thread{}",
                arithmetic.as_str(),
                if threads > 1 { "s" } else { "" }
            );
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
