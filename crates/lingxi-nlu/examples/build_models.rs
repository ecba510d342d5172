//! Rebuilds the shipped sentiment artifacts `models/sentiment-{zh,en}.bin` from the public
//! datasets: `cargo run -p lingxi-nlu --release --example build_models -- /work/shared/data`.
//!
//! Chinese: train splits of chnsenticorp + waimai_10k + online_shopping_10_cats (labels 0/1),
//! temperature calibrated on their dev splits. English: twitter_airline_sentiment (3 classes).
//! Test splits are only scored, never trained on: a training text equal to another set's dev or
//! test text is dropped (the sets overlap). Training is seeded, so reruns are identical.

use std::path::{Path, PathBuf};

use lingxi_nlu::classifier::{ClassifierConfig, TextClassifier};
use lingxi_nlu::features::FeatureConfig;

#[path = "common/jsonl.rs"]
mod jsonl;
use jsonl::read_split as read;

fn accuracy(clf: &TextClassifier, ex: &[(String, String)]) -> f64 {
    let ok = ex.iter().filter(|(t, l)| clf.labels()[clf.predict(t).top().0 as usize] == *l).count();
    ok as f64 / ex.len().max(1) as f64 * 100.0
}

/// Texts of the dev and test splits of `sets`.
fn held_out_texts(data: &Path, sets: &[&str]) -> std::collections::HashSet<String> {
    sets.iter()
        .flat_map(|s| ["dev", "test"].into_iter().flat_map(move |split| read(&data.join(s), split)))
        .map(|(t, _)| t.trim().to_string())
        .collect()
}

fn build(data: &Path, sets: &[&str], config: &ClassifierConfig, out: &Path) -> TextClassifier {
    // The sets overlap: 299 of chnsenticorp's 1,200 test reviews occur verbatim in
    // online_shopping_10_cats' train split. A set's train split is used as published (it is
    // what every peer trains on, duplicates of its own test included: chnsenticorp has 331),
    // but a text equal to another set's dev or test text is dropped: that would be training
    // on test data.
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    let mut dropped = 0;
    for s in sets {
        let others: Vec<&str> = sets.iter().copied().filter(|o| o != s).collect();
        let held_out = held_out_texts(data, &others);
        for (t, l) in read(&data.join(s), "train") {
            if held_out.contains(t.trim()) {
                dropped += 1;
            } else {
                train.push((t, l));
            }
        }
        dev.extend(read(&data.join(s), "dev"));
    }
    println!("{}: {dropped} training texts dropped (equal to another set's dev or test text)", out.display());
    let (tt, tl): (Vec<&str>, Vec<&str>) = train.iter().map(|(t, l)| (t.as_str(), l.as_str())).unzip();
    let start = std::time::Instant::now();
    let mut clf = TextClassifier::train(&tt, &tl, config).expect("training data present");
    let secs = start.elapsed().as_secs_f64();
    let (dt, dl): (Vec<&str>, Vec<&str>) = dev.iter().map(|(t, l)| (t.as_str(), l.as_str())).unzip();
    let temperature = clf.calibrate(&dt, &dl);
    let bytes = clf.to_bytes();
    std::fs::write(out, &bytes).expect("write artifact");
    // Score the artifact as shipped (quantised), per source dataset.
    let shipped = TextClassifier::from_bytes(&bytes).expect("artifact reads back");
    println!(
        "{}: {} train examples, {} features, trained in {secs:.1} s, T={temperature:.2}, {} bytes",
        out.display(),
        train.len(),
        clf.n_features(),
        bytes.len()
    );
    let seen: std::collections::HashSet<&str> = train.iter().map(|(t, _)| t.trim()).collect();
    for s in sets {
        println!("  {s}: dev accuracy {:.2}", accuracy(&shipped, &read(&data.join(s), "dev")));
        let test = read(&data.join(s), "test");
        let unseen: Vec<(String, String)> = test.iter().filter(|(t, _)| !seen.contains(t.trim())).cloned().collect();
        println!(
            "  {s}: test accuracy {:.2}; on the {} test texts not in training: {:.2}",
            accuracy(&shipped, &test),
            unseen.len(),
            accuracy(&shipped, &unseen)
        );
    }
    shipped
}

fn main() {
    let data = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/work/shared/data".into()));
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    // min_df = 2 keeps the artifact at a few MB; C = 0.5 was the best on dev.
    let zh = ClassifierConfig {
        features: FeatureConfig { min_df: 2, ..FeatureConfig::default() },
        train: lingxi_nlu::classifier::TrainConfig { c: 0.5, ..Default::default() },
    };
    // The polarity model scales features by |NB log-count ratio|^0.5 (folded into the weights:
    // same format, same speed): 93.13 on the three dev splits pooled against 92.92 without,
    // power 1 92.68, C 0.25–2 around it lower (benchmarks.md, "Sentiment round").
    let mut polarity = zh.clone();
    polarity.train.nb_power = 0.5;
    build(
        &data,
        &["chnsenticorp", "waimai_10k", "online_shopping_10_cats"],
        &polarity,
        &out_dir.join("sentiment-zh.bin"),
    );
    build(&data, &["twitter_airline_sentiment"], &zh, &out_dir.join("sentiment-en.bin"));
    build_subjectivity(&data, &zh, &out_dir.join("subjectivity-zh.bin"));
}

/// Whether a Chinese message carries any sentiment at all. The polarity model only ever saw
/// reviews, which are all opinion: it reads "发票怎么开" as a complaint. Neutral examples are
/// requests and questions to assistants (smp2017 without its chit-chat class, cais) and the
/// default after-sales intents except the unhappy ones; opinionated ones are the reviews.
fn build_subjectivity(data: &Path, config: &ClassifierConfig, out: &Path) {
    let neutral_sets = |split: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = read(&data.join("smp2017_ecdt_task1"), split)
            .into_iter()
            .filter(|(_, l)| l != "chat")
            .chain(read(&data.join("cais"), split))
            .map(|(t, _)| (t, "neutral".to_string()))
            .collect();
        if split == "train" {
            let intents = lingxi_nlu::intent::default_training_data(lingxi_nlu::intent::DefaultLanguage::Chinese);
            for (name, examples) in intents.intents() {
                if !matches!(name.as_str(), "complaint" | "human_agent" | "thanks" | "refund_dispute") {
                    v.extend(examples.iter().map(|e| (e.clone(), "neutral".to_string())));
                }
            }
        }
        v
    };
    let opinion_sets = |split: &str| -> Vec<(String, String)> {
        ["chnsenticorp", "waimai_10k"]
            .iter()
            .flat_map(|s| read(&data.join(s), split))
            .map(|(t, _)| (t, "opinion".to_string()))
            .collect()
    };
    let held_out = held_out_texts(data, &["smp2017_ecdt_task1", "cais", "chnsenticorp", "waimai_10k"]);
    let train: Vec<(String, String)> = neutral_sets("train")
        .into_iter()
        .chain(opinion_sets("train"))
        .filter(|(t, _)| !held_out.contains(t.trim()))
        .collect();
    let dev: Vec<(String, String)> = neutral_sets("dev").into_iter().chain(opinion_sets("dev")).collect();
    let (tt, tl): (Vec<&str>, Vec<&str>) = train.iter().map(|(t, l)| (t.as_str(), l.as_str())).unzip();
    let mut clf = TextClassifier::train(&tt, &tl, config).expect("training data present");
    let (dt, dl): (Vec<&str>, Vec<&str>) = dev.iter().map(|(t, l)| (t.as_str(), l.as_str())).unzip();
    let temperature = clf.calibrate(&dt, &dl);
    let bytes = clf.to_bytes();
    std::fs::write(out, &bytes).expect("write artifact");
    let shipped = TextClassifier::from_bytes(&bytes).expect("artifact reads back");
    println!("{}: {} train examples, T={temperature:.2}, {} bytes", out.display(), train.len(), bytes.len());
    println!(
        "  test: neutral recall {:.2}, opinion recall {:.2}",
        accuracy(&shipped, &neutral_sets("test")),
        accuracy(&shipped, &opinion_sets("test"))
    );
}
