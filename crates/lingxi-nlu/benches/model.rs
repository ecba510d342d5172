//! Latency of the learned-model path on short customer messages: intent classification
//! (with clause splitting) and sentiment, one message at a time on one core.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lingxi_nlu::intent::{default_model, DefaultLanguage};
use lingxi_nlu::sentiment;

fn bench(c: &mut Criterion) {
    let zh = default_model(DefaultLanguage::Chinese);
    let en = default_model(DefaultLanguage::English);
    let _ = sentiment::default_model();
    c.bench_function("intent_zh_short", |b| b.iter(|| zh.classify(black_box("我的快递怎么还没到，能帮我查一下吗"))));
    c.bench_function("intent_en_short", |b| {
        b.iter(|| en.classify(black_box("where is my package, it has been a week")))
    });
    c.bench_function("classifier_only_zh", |b| b.iter(|| zh.classifier().predict(black_box("我的快递怎么还没到"))));
    c.bench_function("sentiment_zh_short", |b| {
        b.iter(|| sentiment::analyze(black_box("气死了，快递一个星期还没到！！")))
    });
    c.bench_function("sentiment_en_short", |b| {
        b.iter(|| sentiment::analyze(black_box("this is ridiculous, still waiting for my bag")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
