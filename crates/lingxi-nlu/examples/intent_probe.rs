//! The default intent models on the held-out probe set (tests/data/intent_probe.tsv):
//! in-domain accuracy, out-of-domain rejection and the confidence quartiles, per language.
//! `cargo run -p lingxi-nlu --release --example intent_probe [-- FILE] [-v] [--no-negatives]`
//! (-v lists the misses; --no-negatives trains without the `out_of_scope` examples, which is
//! the default model as it was before they were added).

use lingxi_nlu::intent::{
    default_model, default_training_data, DefaultLanguage, IntentConfig, IntentModel, IntentTrainingData, OUT_OF_SCOPE,
};
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::probe::{parse, ProbeScore};
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let without = args.iter().any(|a| a == "--no-negatives");
    let path = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intent_probe.tsv").to_owned());
    let items = parse(&std::fs::read_to_string(&path).expect("probe file"));
    // Classified after normalisation, as the bot does.
    let normalizer = Normalizer::default();
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let model = if without {
            let mut data = IntentTrainingData::new();
            for (name, ex) in default_training_data(lang).intents().iter().filter(|(n, _)| n != OUT_OF_SCOPE) {
                data.add(name, ex.iter().cloned());
            }
            Arc::new(IntentModel::train(&data, &IntentConfig::default()).expect("trainable"))
        } else {
            default_model(lang)
        };
        let mut score = ProbeScore::default();
        for item in items.iter().filter(|i| i.lang == lang) {
            score.add(item, &model.classify(&normalizer.normalize(&item.text).text));
        }
        println!("{lang:?} (threshold {:.3}): {}", model.oos_threshold(), score.summary());
        if verbose {
            for (text, want, got) in &score.misses {
                println!("  miss: {text} | want {want} | got {got}");
            }
        }
    }
}
