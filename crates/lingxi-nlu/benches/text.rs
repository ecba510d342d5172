//! Benchmarks of the text-processing path: normalise, segment and extract entities of short messages.

use criterion::{criterion_group, criterion_main, Criterion};

fn bench(_c: &mut Criterion) {}

criterion_group!(benches, bench);
criterion_main!(benches);
