//! Domain adaptation by feature copies (Daumé III, "Frustratingly easy domain adaptation",
//! ACL 2007): a model for one domain (a tenant's reviews, say) trained together with labelled
//! examples of other domains (the background).
//!
//! Every row is copied into a shared block of columns and into a block private to its side:
//! `[x, x, 0]` for the domain's own examples, `[x, 0, x]` for the background's. One linear
//! model over the three blocks learns in the shared block what holds everywhere and in the
//! private blocks where the sides differ, so the own domain borrows the background's evidence
//! for words it has seen rarely and overrides it where its customers mean something else.
//! An own-domain text is scored as `[x, x, 0]`, which is a plain model over `x` whose weights
//! are the shared and own blocks summed: the adapted model has the ordinary form and size.
//!
//! Measured on the three Chinese review sets (docs/benchmarks.md, "Sentiment with background
//! reviews"): on dev, pooling the other domains' reviews plainly scored 0.06–0.6 points below
//! the copies, and for chnsenticorp below the set's own reviews alone.

use crate::classifier::{linear_on_vectors, LinearModel, TrainConfig};
use crate::features::SparseVec;

/// Column block of the own-domain copy (the shared block is 0).
const OWN: u32 = 1;
/// Column block of the background copy.
const BACKGROUND: u32 = 2;

/// `x` (sparse columns below `n`, dense columns from `n` on) as a row of the adapted model:
/// its sparse columns in the shared block and again in block `block` of `n` columns, its dense
/// columns after the three blocks, shared only.
fn placed(x: SparseVec, block: u32, n: u32) -> SparseVec {
    let split = x.indices.partition_point(|j| *j < n);
    let mut indices = Vec::with_capacity(x.indices.len() + split);
    indices.extend_from_slice(&x.indices[..split]);
    indices.extend(x.indices[..split].iter().map(|j| j + block * n));
    indices.extend(x.indices[split..].iter().map(|j| j + 2 * n));
    let mut values = Vec::with_capacity(indices.len());
    values.extend_from_slice(&x.values[..split]);
    values.extend_from_slice(&x.values[..split]);
    values.extend_from_slice(&x.values[split..]);
    SparseVec { indices, values }
}

/// Trains on the own rows (vectorised over `n` sparse columns, then `n_dense` dense ones) with
/// the background rows, and returns the model over `n + n_dense` columns that scores own-domain
/// rows. The dense block (a sentence embedding) is shared, not copied: it is meant to read the
/// same in every domain, and NB scaling (when `cfg.nb_power` asks for it) stays on the sparse
/// copies, fitted over them and folded in as usual.
pub(crate) fn fit_adapted(
    own: (Vec<SparseVec>, &[u32]),
    background: (Vec<SparseVec>, &[u32]),
    n: u32,
    n_dense: u32,
    n_classes: u32,
    cfg: &TrainConfig,
) -> LinearModel {
    let ys: Vec<u32> = own.1.iter().chain(background.1).copied().collect();
    let rows: Vec<SparseVec> = own
        .0
        .into_iter()
        .map(|x| placed(x, OWN, n))
        .chain(background.0.into_iter().map(|x| placed(x, BACKGROUND, n)))
        .collect();
    let model = linear_on_vectors(rows, &ys, 3 * n, 3 * n + n_dense, n_classes, cfg);
    model.fold_blocks(n, &[0, OWN], (3 * n, n_dense))
}

#[cfg(test)]
mod tests {
    use crate::classifier::{ClassifierConfig, TextClassifier};

    fn positive(c: &TextClassifier, text: &str) -> bool {
        let p = c.predict(text);
        c.labels()[p.top().0 as usize] == "1"
    }

    /// (text, label) rows.
    type Rows = Vec<(&'static str, &'static str)>;

    /// Own domain: hotel reviews where "安静" (quiet) is praise. Background: a bar's reviews where
    /// "安静" (dead quiet) is a complaint, and where "干净" (clean) is praise — a word the hotel
    /// reviews never use.
    fn data() -> (Rows, Rows) {
        let mut own = Vec::new();
        for _ in 0..6 {
            own.extend([
                ("房间安静 睡得好", "1"),
                ("隔音差 吵", "0"),
                ("早餐丰富 服务好", "1"),
                ("前台冷漠 服务差", "0"),
            ]);
        }
        let mut bg = Vec::new();
        for _ in 0..30 {
            bg.extend([("太安静了 没气氛", "0"), ("气氛热闹 好玩", "1"), ("桌子干净 舒服", "1"), ("杯子脏 恶心", "0")]);
        }
        (own, bg)
    }

    #[test]
    fn the_own_domain_overrides_the_background_and_borrows_what_it_lacks() {
        let (own, bg) = data();
        let (t, l): (Vec<&str>, Vec<&str>) = own.iter().copied().unzip();
        let (bt, bl): (Vec<&str>, Vec<&str>) = bg.iter().copied().unzip();
        let cfg = ClassifierConfig::default();
        let adapted = TextClassifier::train_adapted(&t, &l, &bt, &bl, &cfg).unwrap();
        // Pooled plainly, the background's five-times-larger vote decides what 安静 means.
        let pooled_t: Vec<&str> = t.iter().chain(&bt).copied().collect();
        let pooled_l: Vec<&str> = l.iter().chain(&bl).copied().collect();
        let pooled = TextClassifier::train(&pooled_t, &pooled_l, &cfg).unwrap();
        assert!(!positive(&pooled, "很安静"), "the premise: pooling reads 安静 as the bar does");
        assert!(positive(&adapted, "很安静"), "the hotel's own sense of 安静 wins");
        // 干净 and 脏 never occur in the hotel reviews: only the background teaches them.
        let own_only = TextClassifier::train(&t, &l, &cfg).unwrap();
        assert_eq!(own_only.predict("干净").n_known_features, 0);
        assert!(positive(&adapted, "干净"));
        assert!(!positive(&adapted, "脏"));
    }

    #[test]
    fn the_adapted_model_has_the_plain_form_and_serialises() {
        let (own, bg) = data();
        let (t, l): (Vec<&str>, Vec<&str>) = own.iter().copied().unzip();
        let (bt, bl): (Vec<&str>, Vec<&str>) = bg.iter().copied().unzip();
        let mut cfg = ClassifierConfig::default();
        cfg.train.nb_power = 0.5;
        let adapted = TextClassifier::train_adapted(&t, &l, &bt, &bl, &cfg).unwrap();
        let restored = TextClassifier::from_bytes(&adapted.to_bytes()).unwrap();
        for text in ["很安静", "干净", "服务差"] {
            assert_eq!(positive(&restored, text), positive(&adapted, text), "{text}");
        }
    }

    #[test]
    fn background_labels_the_domain_lacks_are_left_out() {
        let t = ["好", "差", "好评", "差评"];
        let l = ["1", "0", "1", "0"];
        let bt = ["一般", "好"];
        let bl = ["neutral", "1"];
        let c = TextClassifier::train_adapted(&t, &l, &bt, &bl, &ClassifierConfig::default()).unwrap();
        assert_eq!(c.labels(), ["0", "1"]);
        // The neutral review took no part, not even in the vocabulary.
        assert_eq!(c.predict("一般").n_known_features, 0);
        assert!(c.predict("好").n_known_features > 0);
        assert!(TextClassifier::train_adapted(&t, &l, &bt, &bl[..1], &ClassifierConfig::default()).is_err());
    }

    #[test]
    fn the_dense_block_is_shared_so_the_background_teaches_what_it_means() {
        let (own, bg) = data();
        let (t, l): (Vec<&str>, Vec<&str>) = own.iter().copied().unzip();
        let (bt, bl): (Vec<&str>, Vec<&str>) = bg.iter().copied().unzip();
        // The hotel's embeddings say nothing (one vector for every review); the bar's point
        // along their first axis the way their label goes.
        let flat: Vec<Vec<f32>> = t.iter().map(|_| vec![0.1, 1.0]).collect();
        let signed: Vec<Vec<f32>> = bl.iter().map(|l| vec![if *l == "1" { 1.0 } else { -1.0 }, 0.2]).collect();
        let cfg = ClassifierConfig::default();
        let c = TextClassifier::train_adapted_with_dense((&t, &flat, &l), (&bt, &signed, &bl), &cfg, 2.0).unwrap();
        let positive_with = |text: &str, d: [f32; 2]| {
            let p = c.predict_with_dense(text, Some(&d));
            c.labels()[p.top().0 as usize] == "1"
        };
        // A review in words neither domain used: only the shared dense block can decide.
        assert!(positive_with("出乎意料", [1.0, 0.5]));
        assert!(!positive_with("出乎意料", [-1.0, 0.5]));
        // The own domain's words keep their own sense, as without the dense block.
        assert!(positive_with("很安静", [0.1, 1.0]));
        // The folded model is the plain form over the sparse and dense columns, and serialises.
        let restored = TextClassifier::from_bytes(&c.to_bytes()).unwrap();
        for d in [[1.0, 0.5], [-1.0, 0.5]] {
            let (a, b) =
                (restored.predict_with_dense("出乎意料", Some(&d)), c.predict_with_dense("出乎意料", Some(&d)));
            assert_eq!(a.top().0, b.top().0);
            assert!((a.scores[1] - b.scores[1]).abs() < 0.01, "{:?} {:?}", a.scores, b.scores);
        }
        // Mismatched lengths are an error, not a panic.
        assert!(TextClassifier::train_adapted_with_dense((&t, &flat[..1], &l), (&bt, &signed, &bl), &cfg, 2.0).is_err());
    }
}
