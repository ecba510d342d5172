//! Pooled k-fold accuracy of lexical models on a training split, so that a grid choice can rest
//! on more examples than one small dev split (chnsenticorp's dev has 1,200: one example is 0.08
//! points, and its dev and test disagreed about NB scaling).

use crate::adapt::fit_adapted;
use crate::classifier::{label_ids, linear_on_vectors, ClassifierConfig};
use crate::features::{SparseVec, Vectorizer};

/// For each `(C, NB power)` point, `(correct, scored)` summed over `folds` folds of the
/// examples: stratified, the `r`-th example of each label (in the given order) goes to fold
/// `r % folds`, and a fold is scored by a model
/// (vectoriser included) trained on the other folds. The vectoriser depends only on the texts,
/// so each fold is featurised once for all points. Fewer than two folds, or a fold whose
/// training part lacks a label, contributes nothing. With `background` (texts and labels of
/// other domains), every fold's model is trained with it as [`crate::adapt`] describes; the
/// background is never scored.
pub fn fold_correct(
    texts: &[&str],
    labels: &[&str],
    background: Option<(&[&str], &[&str])>,
    config: &ClassifierConfig,
    points: &[(f32, f32)],
    folds: usize,
) -> Vec<(usize, usize)> {
    let mut out = vec![(0usize, 0usize); points.len()];
    if folds < 2 || texts.len() != labels.len() || texts.len() < folds {
        return out;
    }
    let (names, ys) = label_ids(labels);
    let (bg_texts, bg_ys): (Vec<&str>, Vec<u32>) = background
        .map(|(t, l)| {
            t.iter()
                .zip(l)
                .filter_map(|(t, l)| Some((*t, names.binary_search_by(|n| n.as_str().cmp(l)).ok()? as u32)))
                .unzip()
        })
        .unwrap_or_default();
    let mut rank = vec![0usize; names.len()];
    let fold_of: Vec<usize> = ys
        .iter()
        .map(|y| {
            rank[*y as usize] += 1;
            (rank[*y as usize] - 1) % folds
        })
        .collect();
    for fold in 0..folds {
        let (fit, held): (Vec<usize>, Vec<usize>) = (0..texts.len()).partition(|i| fold_of[*i] != fold);
        let mut seen: Vec<u32> = fit.iter().map(|i| ys[*i]).collect();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() < names.len() {
            continue;
        }
        let fit_texts: Vec<&str> = fit.iter().map(|i| texts[*i]).collect();
        let vocabulary: Vec<&str> = fit_texts.iter().chain(&bg_texts).copied().collect();
        let vectorizer = Vectorizer::fit(config.features.clone(), &vocabulary);
        let xs: Vec<SparseVec> = fit_texts.iter().map(|t| vectorizer.transform(t, None)).collect();
        let bg_xs: Vec<SparseVec> = bg_texts.iter().map(|t| vectorizer.transform(t, None)).collect();
        let fit_ys: Vec<u32> = fit.iter().map(|i| ys[*i]).collect();
        let held_xs: Vec<SparseVec> = held.iter().map(|i| vectorizer.transform(texts[*i], None)).collect();
        for (k, (c, power)) in points.iter().enumerate() {
            let mut cfg = config.train.clone();
            cfg.c = *c;
            cfg.nb_power = *power;
            let n = vectorizer.n_sparse();
            let model = match background {
                Some(_) => fit_adapted((xs.clone(), &fit_ys), (bg_xs.clone(), &bg_ys), n, 0, names.len() as u32, &cfg),
                None => linear_on_vectors(xs.clone(), &fit_ys, n, n, names.len() as u32, &cfg),
            };
            for (x, i) in held_xs.iter().zip(&held) {
                let s = model.scores(x);
                let best = (0..s.len()).max_by(|a, b| s[*a].total_cmp(&s[*b]).then(b.cmp(a))).unwrap_or(0);
                out[k].0 += usize::from(best as u32 == ys[*i]);
                out[k].1 += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviews() -> (Vec<&'static str>, Vec<&'static str>) {
        let pos = ["好吃", "很好", "味道好", "好快", "服务好", "好新鲜", "好实惠", "真好"];
        let neg = ["差劲", "很差", "味道差", "太差", "服务差", "差评", "质量差", "真差"];
        let texts = pos.iter().zip(&neg).flat_map(|(p, n)| [*p, *n]).collect();
        let labels = pos.iter().flat_map(|_| ["1", "0"]).collect();
        (texts, labels)
    }

    #[test]
    fn every_example_is_scored_once_per_point_by_a_model_that_did_not_see_it() {
        let (texts, labels) = reviews();
        let points = [(0.5, 0.0), (1.0, 1.0)];
        let out = fold_correct(&texts, &labels, None, &ClassifierConfig::default(), &points, 4);
        for (ok, n) in &out {
            assert_eq!(*n, texts.len());
            assert!(*ok <= *n);
        }
        // Every held-out review carries its class's character ("好" or "差"): well above chance.
        assert!(out.iter().all(|(ok, n)| ok * 4 >= n * 3), "{out:?}");
        // A single "fold" would train on everything it scores: refused.
        assert_eq!(fold_correct(&texts, &labels, None, &ClassifierConfig::default(), &points, 1), vec![(0, 0); 2]);
    }

    #[test]
    fn a_memorised_text_does_not_help_its_own_fold() {
        // Every text is unique and shares nothing with the others: a model that had seen the
        // held-out text would get it right, one that had not can only guess the bias.
        let texts = ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"];
        let labels = ["1", "0", "1", "0", "1", "0", "1", "0"];
        let out = fold_correct(&texts, &labels, None, &ClassifierConfig::default(), &[(4.0, 0.0)], 2);
        // Stratified: each fold holds two of each label, and its model, having seen none of
        // their characters, can only answer one class for all four.
        assert_eq!(out[0], (4, 8));
    }

    #[test]
    fn sentiment_evaluation_chooses_on_dev_pooled_with_train_folds() {
        use crate::eval::{evaluate, EvalConfig, Example, Splits, TaskKind};
        let (texts, labels) = reviews();
        let ex: Vec<Example> = texts.iter().zip(&labels).map(|(t, l)| Example::new(*t, *l)).collect();
        let splits = Splits {
            train: ex[..12].to_vec(),
            dev: ex[12..14].to_vec(),
            test: ex[14..].to_vec(),
            background: Vec::new(),
        };
        let config = EvalConfig::for_task(&TaskKind::Sentiment);
        assert_eq!(config.tune_folds, 4);
        let pooled = evaluate(&splits, &TaskKind::Sentiment, &config).unwrap();
        let dev_only =
            evaluate(&splits, &TaskKind::Sentiment, &EvalConfig { tune_folds: 0, ..config.clone() }).unwrap();
        assert_eq!(pooled.grid.len(), dev_only.grid.len());
        assert!(pooled.grid.iter().all(|(p, _)| p.contains("train folds")));
        assert!(dev_only.grid.iter().all(|(p, _)| !p.contains("train folds")));
        // Each pooled score is (dev correct + fold correct) / (dev + fold examples), point by point
        // (powers outside, C inside, as the grid is searched).
        let points: Vec<(f32, f32)> =
            config.nb_powers.iter().flat_map(|p| config.c_grid.iter().map(move |c| (*c, *p))).collect();
        let (t, l): (Vec<&str>, Vec<&str>) = splits.train.iter().map(|e| (e.text.as_str(), e.label.as_str())).unzip();
        let folds = fold_correct(&t, &l, None, &config.classifier, &points, 4);
        assert_eq!(folds.len(), pooled.grid.len());
        for ((f, (_, pooled)), (_, dev)) in folds.iter().zip(&pooled.grid).zip(&dev_only.grid) {
            assert_eq!(f.1, 12);
            assert!((pooled - (dev * 2.0 + f.0 as f64) / 14.0).abs() < 1e-9, "{pooled} {dev} {f:?}");
        }
    }
}
