//! Extra pooled views (`encode_batch_features`) on the real model: the embedding is untouched,
//! the views come from the same pass and do not depend on the thread count.
//!
//! Every test prints a SKIPPED line and passes when `e5-small-q4.bin` is absent.

mod common;

use lingxi_encoder::{cosine, FeatureSpec, QUERY_PREFIX};

fn texts() -> Vec<String> {
    let long = "退款退款退款 refund ".repeat(200); // more than one 510-token window
    ["怎么退款", "How do I get a refund for a card payment?", "", long.as_str()]
        .iter()
        .map(|t| format!("{QUERY_PREFIX}{t}"))
        .collect()
}

#[test]
fn the_embedding_is_exactly_the_plain_one() {
    let Some(enc) = common::encoder() else { return };
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let plain = enc.encode_batch(&refs);
    for spec in [FeatureSpec::default(), FeatureSpec::new(&[0, 6, 11, 12], true, enc.n_layers()).unwrap()] {
        let features = enc.encode_batch_features(&refs, &spec);
        assert_eq!(features.len(), plain.len());
        for (f, p) in features.iter().zip(&plain) {
            assert_eq!(&f.embedding, p, "{spec:?}");
            assert_eq!(f.layer_means.len(), spec.layer_means().len());
            assert_eq!(f.first_token.is_some(), spec.first_token());
        }
    }
}

#[test]
fn views_are_the_layers_asked_for() {
    let Some(enc) = common::encoder() else { return };
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let last = enc.n_layers();
    let spec = FeatureSpec::new(&[last, last - 1, 0], true, last).unwrap();
    for f in enc.encode_batch_features(&refs, &spec) {
        assert!(f.layer_means.iter().chain(f.first_token.as_ref()).all(|v| v.len() == enc.dim()));
        // The last layer's mean, normalised, is the embedding (long texts included: same weights).
        assert!(cosine(&f.layer_means[0], &f.embedding) > 0.99999);
        // An earlier layer, the embedding layer and the first token are other views.
        assert!(cosine(&f.layer_means[1], &f.embedding) < 0.999);
        assert!(cosine(&f.layer_means[2], &f.embedding) < 0.99);
        assert!(cosine(f.first_token.as_ref().unwrap(), &f.embedding) < 0.999);
    }
}

#[test]
fn views_do_not_depend_on_threads_or_batching() {
    let Some(enc) = common::encoder() else { return };
    let one = lingxi_encoder::Encoder::load(common::model_path().unwrap()).unwrap().with_threads(1);
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let spec = FeatureSpec::new(&[9, 10, 11], true, enc.n_layers()).unwrap();
    let two = enc.encode_batch_features(&refs, &spec);
    assert_eq!(one.encode_batch_features(&refs, &spec), two, "1 thread = 2 threads, bit for bit");
    let single = enc.encode_batch_features(&refs[1..2], &spec).pop().unwrap();
    for (a, b) in single.layer_means.iter().zip(&two[1].layer_means) {
        assert!(cosine(a, b) > 0.99999);
    }
}

#[test]
fn a_budgeted_query_gets_its_views_from_the_same_pass() {
    let Some(enc) = common::encoder() else { return };
    let budget = lingxi_encoder::QueryTokens::new(16).unwrap();
    let spec = FeatureSpec::new(&[10, 11], true, enc.n_layers()).unwrap();
    for text in ["怎么退款", "I was charged twice for the same coffee this morning and I want the second one refunded"]
    {
        let plain = enc.encode_query_within(text, budget);
        let q = enc.encode_query_features_within(text, budget, &spec);
        assert_eq!(q.features.embedding, plain.vector, "{text:?}");
        assert_eq!(q.cut, plain.cut);
        assert_eq!(q.features.layer_means.len(), 2);
        assert!(q.features.first_token.is_some());
    }
}
