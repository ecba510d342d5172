//! Times what `POST /api/v1/nlu/intent-models` does with a tenant's examples: train an intent
//! model with its held-out report (probe + full model), serialise it, read it back.
//! `cargo run -p lingxi-nlu --release --example intent_training -- /work/shared/data/banking77/train.jsonl`

use lingxi_nlu::intent::{IntentConfig, IntentModel, IntentTrainingData};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: intent_training FILE.jsonl");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let mut data = IntentTrainingData::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        data.add(&label, [v["text"].as_str().unwrap_or_default()]);
        n += 1;
    }
    let t0 = Instant::now();
    let (model, report) = IntentModel::train_with_report(&data, &IntentConfig::default()).expect("trainable");
    let trained = t0.elapsed();
    let bytes = model.to_bytes();
    let t1 = Instant::now();
    IntentModel::from_bytes(&bytes).expect("reads back");
    println!(
        "{n} examples, {} intents: trained with report in {:.2} s; artifact {} bytes, read back in {:.1} ms; held-out {} examples, accuracy {:.2} %, {} weak intents",
        data.intents().len(),
        trained.as_secs_f64(),
        bytes.len(),
        t1.elapsed().as_secs_f64() * 1000.0,
        report.holdout_examples,
        report.holdout_accuracy * 100.0,
        report.weak_intents.len()
    );
}
