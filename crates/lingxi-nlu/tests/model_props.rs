//! Property tests: arbitrary input never panics and always yields a defined result.

use lingxi_nlu::intent::{default_model, DefaultLanguage};
use lingxi_nlu::sentiment::analyze;
use proptest::prelude::*;

fn assert_defined(text: &str) {
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let r = default_model(lang).classify(text);
        assert!(r.best_guess.confidence.is_finite());
        assert!((0.0..=1.0).contains(&r.best_guess.confidence));
        assert_eq!(r.out_of_scope, r.top.is_none());
    }
    let s = analyze(text);
    assert!(s.score.is_finite() && (-1.0..=1.0).contains(&s.score));
    assert!((0.0..=1.0).contains(&s.intensity));
    for e in [s.emotions.anger, s.emotions.anxiety, s.emotions.disappointment, s.emotions.satisfaction] {
        assert!((0.0..=1.0).contains(&e));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_string(text in any::<String>()) {
        assert_defined(&text);
    }

    #[test]
    fn control_chars_and_emoji(text in "[\\x00-\\x1f\u{7f}😡🙂👍🤬\u{200d}\u{fe0f}！!？?]{0,64}") {
        assert_defined(&text);
    }

    #[test]
    fn mixed_chinese_english(text in "[a-zA-Z0-9 \u{4e00}-\u{4e80}，。]{0,80}") {
        assert_defined(&text);
    }
}

#[test]
fn edge_cases() {
    assert_defined("");
    assert_defined("😡😡😡😡");
    assert_defined("\u{0}\u{1}\u{2}\t\r\n");
    let big: String = "我要退货 where is my refund 😡 ".repeat(100_000 / 40);
    assert!(big.len() >= 90_000);
    assert_defined(&big);
}

/// A small fused model (lexical features + a 4-d "embedding", neighbours mixed in).
fn fused() -> lingxi_nlu::fused::FusedClassifier {
    use lingxi_nlu::classifier::{ClassifierConfig, TextClassifier};
    use lingxi_nlu::fused::{FusedClassifier, Mix, Neighbours};
    let texts = ["refund please", "where is my parcel", "退款", "快递到哪了"];
    let labels = ["refund", "logistics", "refund", "logistics"];
    let dense =
        vec![vec![1.0, 0.0, 0.0, 0.0], vec![0.0, 1.0, 0.0, 0.0], vec![0.9, 0.1, 0.0, 0.0], vec![0.1, 0.9, 0.0, 0.0]];
    let linear = TextClassifier::train_with_dense(&texts, &dense, &labels, &ClassifierConfig::default(), 3.0).unwrap();
    let rows: Vec<&[f32]> = dense.iter().map(Vec::as_slice).collect();
    let classes: Vec<u32> = labels.iter().map(|l| linear.label_index(l).unwrap()).collect();
    let neighbours = Some(Neighbours::new(&rows, &classes, 2));
    FusedClassifier {
        linear,
        neighbours,
        mix: Mix { alpha: 0.5, tau: 0.02, oos_beta: 0.0, lexical: 0.0, head: 0.0 },
        dense_norm: None,
        lexical: None,
        head: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any text with any embedding (wrong length, NaN, infinities, none) gives a distribution.
    #[test]
    fn fused_model_is_defined_for_any_text_and_vector(
        text in any::<String>(),
        dense in proptest::option::of(proptest::collection::vec(
            prop_oneof![any::<f32>(), Just(f32::NAN), Just(f32::INFINITY), -1.0f32..1.0], 0..8)),
    ) {
        let m = fused();
        let p = m.probabilities(&text, dense.as_deref());
        prop_assert_eq!(p.len(), 2);
        let (k, conf) = m.top(&text, dense.as_deref());
        prop_assert!(k < 2);
        // A finite 4-d vector must give a proper distribution; garbage may give NaN, never a panic.
        if dense.as_ref().is_none_or(|d| d.len() != 4 || d.iter().all(|x| x.is_finite() && x.abs() < 1e6)) {
            prop_assert!(conf.is_finite() && (0.0..=1.0 + 1e-5).contains(&conf), "{:?}", p);
            prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{:?}", p);
        }
    }
}

#[test]
fn fused_model_follows_the_embedding_when_words_are_unknown() {
    let m = fused();
    assert_eq!(m.linear.labels()[m.top("zzz", Some(&[0.0, 1.0, 0.0, 0.0])).0 as usize], "logistics");
    assert_eq!(m.linear.labels()[m.top("zzz", Some(&[1.0, 0.0, 0.0, 0.0])).0 as usize], "refund");
}

/// A fused model whose linear half sees centred embeddings and whose neighbours see
/// standardised ones, with the neighbour cosine in the confidence and a text-only member.
fn prepared_fused() -> lingxi_nlu::fused::FusedClassifier {
    use lingxi_nlu::classifier::{ClassifierConfig, TextClassifier};
    use lingxi_nlu::fused::{DenseNorm, DenseNormKind, FusedClassifier, Mix, Neighbours};
    let texts = ["refund please", "where is my parcel", "退款", "快递到哪了"];
    let labels = ["refund", "logistics", "refund", "logistics"];
    let dense =
        [vec![1.0, 0.2, 0.0, 0.1], vec![1.0, 0.9, 0.0, 0.1], vec![1.0, 0.25, 0.1, 0.0], vec![1.0, 0.8, 0.1, 0.0]];
    let rows: Vec<&[f32]> = dense.iter().map(Vec::as_slice).collect();
    let norm = DenseNorm::fit(&rows, DenseNormKind::Centered);
    let prepared: Vec<Vec<f32>> = dense.iter().map(|d| norm.as_ref().unwrap().apply(d)).collect();
    let linear =
        TextClassifier::train_with_dense(&texts, &prepared, &labels, &ClassifierConfig::default(), 3.0).unwrap();
    let classes: Vec<u32> = labels.iter().map(|l| linear.label_index(l).unwrap()).collect();
    let neighbours = Some(Neighbours::fitted(&rows, &classes, 2, DenseNormKind::Standardized));
    let lexical = Some(TextClassifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap());
    FusedClassifier {
        linear,
        neighbours,
        mix: Mix { alpha: 0.3, tau: 0.02, oos_beta: 0.5, lexical: 0.3, head: 0.0 },
        dense_norm: norm,
        lexical,
        head: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Prepared embeddings: NaN, infinities, zero vectors, wrong lengths and empty text never
    /// panic, and a finite vector of the right length gives a distribution and a confidence in
    /// [-1, 1] (the cosine part may be negative).
    #[test]
    fn prepared_fused_model_is_defined_for_any_text_and_vector(
        text in prop_oneof![Just(String::new()), any::<String>()],
        dense in proptest::option::of(proptest::collection::vec(
            prop_oneof![any::<f32>(), Just(f32::NAN), Just(f32::INFINITY), Just(0.0f32), -1.0f32..1.0], 0..8)),
    ) {
        let m = prepared_fused();
        let p = m.probabilities(&text, dense.as_deref());
        prop_assert_eq!(p.len(), 2);
        let (k, conf) = m.top(&text, dense.as_deref());
        prop_assert!(k < 2);
        if dense.as_ref().is_none_or(|d| d.len() != 4 || d.iter().all(|x| x.is_finite() && x.abs() < 1e6)) {
            prop_assert!(conf.is_finite() && (-1.0..=1.0 + 1e-5).contains(&conf), "{} {:?}", conf, p);
            prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{:?}", p);
        }
    }
}

#[test]
fn prepared_fused_model_follows_the_embedding_when_words_are_unknown() {
    let m = prepared_fused();
    assert_eq!(m.linear.labels()[m.top("", Some(&[1.0, 0.85, 0.05, 0.05])).0 as usize], "logistics");
    assert_eq!(m.linear.labels()[m.top("", Some(&[1.0, 0.2, 0.05, 0.05])).0 as usize], "refund");
}

#[test]
fn the_text_only_member_pulls_towards_the_words() {
    use lingxi_nlu::fused::Mix;
    let mut m = prepared_fused();
    // Words say refund, the embedding says logistics.
    let (text, dense) = ("refund please", Some(&[1.0f32, 0.85, 0.05, 0.05][..]));
    m.mix = Mix { lexical: 0.0, ..m.mix };
    let refund = m.linear.label_index("refund").unwrap() as usize;
    let without = m.probabilities(text, dense)[refund];
    m.mix = Mix { lexical: 0.5, ..m.mix };
    let with = m.probabilities(text, dense)[refund];
    assert!(with > without + 0.05, "{without} → {with}");
    let lexical_alone = lingxi_nlu::fused::by_class(&m.lexical.as_ref().unwrap().predict(text))[refund];
    assert!(lexical_alone > 0.5, "{lexical_alone}");
}
