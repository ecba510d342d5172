//! The Mahalanobis out-of-scope detector ([`crate::mahalanobis`]) as an evaluation option:
//! after the grid has chosen the model and its mix, the rejection confidence may blend in the
//! detector's in-scope score, `(1 − η)·confidence + η·score`, with the dense view, the
//! shrinkage, η (and the neighbour cosine's β, when the model has neighbours) chosen on the
//! tuning set by the same objective as the rest of the grid. The predicted class stays the
//! fused model's; only the reject decision changes.

use super::{predictions, score_on, with_view, Example, Parts};
use crate::fused::{DenseView, FusedClassifier, Mix};
use crate::mahalanobis::{ClassStats, Mahalanobis, Shrinkage};

/// Candidates of the Mahalanobis detector search (`EvalConfig::mahalanobis`).
#[derive(Debug, Clone, PartialEq)]
pub struct MahaConfig {
    /// Dense blocks the detector may measure (built like [`DenseView`]s of the linear model,
    /// independently of the one the linear model uses).
    pub views: Vec<DenseView>,
    /// Shrinkages of the shared covariance.
    pub shrinkages: Vec<Shrinkage>,
    /// Weights η of the detector's score in the rejection confidence (0 is always tried).
    pub weights: Vec<f32>,
    /// Scale every embedding to unit length before fitting and scoring.
    pub unit: bool,
}

impl Default for MahaConfig {
    fn default() -> Self {
        Self {
            views: vec![DenseView::embedding()],
            shrinkages: vec![
                Shrinkage::LedoitWolf,
                Shrinkage::Fixed(0.01),
                Shrinkage::Fixed(0.1),
                Shrinkage::Fixed(0.3),
            ],
            weights: vec![0.25, 0.5, 0.75, 1.0],
            unit: true,
        }
    }
}

/// A fitted detector and how it enters the rejection confidence.
#[derive(Debug, Clone)]
pub(super) struct OosDistance {
    pub detector: Mahalanobis,
    pub view: DenseView,
    pub shrinkage: Shrinkage,
    pub weight: f32,
}

impl OosDistance {
    /// The rejection confidence of `e` (an example with its raw embedding and extra views)
    /// given the model's confidence `c`; an example the detector cannot score counts as far.
    pub fn confidence(&self, e: &Example, c: f32) -> f32 {
        let score =
            e.dense.as_deref().and_then(|d| self.view.compose(d, &e.extra)).and_then(|v| self.detector.score(&v));
        (1.0 - self.weight) * c + self.weight * score.unwrap_or(0.0)
    }

    /// The same detector refitted on other training examples.
    pub fn refit(&self, train: &[Example], labels: &[String], oos_label: &str, unit: bool) -> Option<Self> {
        let stats = class_stats(train, labels, oos_label, &self.view, unit)?;
        Some(Self { detector: stats.detector(self.shrinkage)?, ..self.clone() })
    }
}

/// Class statistics of the in-scope examples of `train` (raw) under `view`; class indices as
/// the model numbers its labels.
fn class_stats(
    train: &[Example],
    labels: &[String],
    oos_label: &str,
    view: &DenseView,
    unit: bool,
) -> Option<ClassStats> {
    let inscope: Vec<Example> = train.iter().filter(|e| e.label != oos_label).cloned().collect();
    let viewed = with_view(&inscope, view)?;
    let (rows, classes): (Vec<&[f32]>, Vec<u32>) = viewed
        .iter()
        .filter_map(|e| {
            let k = labels.iter().position(|l| *l == e.label)?;
            Some((e.dense.as_deref()?, k as u32))
        })
        .unzip();
    ClassStats::fit(&rows, &classes, labels.len(), unit)
}

/// Searches the detector on the tuning set for `model` (trained on `train_raw`, with `mix`
/// chosen by the grid): returns the mix (its β possibly re-chosen), the detector (`None` when
/// η 0 stays best) and the score. `tune` is the tuning set as the model sees it, `tune_raw`
/// the same examples with their raw views. Every point is appended to `tried`.
#[allow(clippy::too_many_arguments)]
pub(super) fn choose(
    model: &FusedClassifier,
    train_raw: &[Example],
    tune_raw: &[Example],
    tune: &[Example],
    mix: Mix,
    betas: &[f32],
    cfg: &MahaConfig,
    oos_label: &str,
    target: f64,
    tried: &mut Vec<(String, f64)>,
) -> (Mix, Option<OosDistance>, f64) {
    let labels = model.linear.labels();
    let p: Parts = super::parts(model, tune);
    // The cosine's weight is re-chosen only when the model has neighbours to give it.
    let mut betas: Vec<f32> = if p.similarity.is_some() { betas.to_vec() } else { Vec::new() };
    betas.retain(|b| *b != mix.oos_beta);
    betas.insert(0, mix.oos_beta);
    let base: Vec<(f32, Vec<(u32, f32)>)> =
        betas.iter().map(|b| (*b, predictions(&p, Mix { oos_beta: *b, ..mix }))).collect();
    let mut best = (score_on(labels, &base[0].1, tune, Some(oos_label), target), mix, None::<OosDistance>);
    tried.push((format!("mahalanobis none beta {}", mix.oos_beta), best.0));
    for view in &cfg.views {
        let Some(stats) = class_stats(train_raw, labels, oos_label, view, cfg.unit) else { continue };
        let Some(tune_views) = with_view(tune_raw, view) else { continue };
        for shrinkage in &cfg.shrinkages {
            let Some(detector) = stats.detector(*shrinkage) else { continue };
            let scores: Vec<f32> =
                tune_views.iter().map(|e| e.dense.as_deref().and_then(|d| detector.score(d)).unwrap_or(0.0)).collect();
            let mut found: Option<(f32, Mix)> = None;
            for (beta, preds) in &base {
                for eta in cfg.weights.iter().filter(|w| **w > 0.0) {
                    let blended: Vec<(u32, f32)> =
                        preds.iter().zip(&scores).map(|((k, c), s)| (*k, (1.0 - eta) * c + eta * s)).collect();
                    let s = score_on(labels, &blended, tune, Some(oos_label), target);
                    tried.push((
                        format!(
                            "mahalanobis view {} shrink {shrinkage} (λ {:.4}) beta {beta} eta {eta}",
                            view.name,
                            detector.shrinkage()
                        ),
                        s,
                    ));
                    if s > best.0 + 1e-9 {
                        best.0 = s;
                        best.1 = Mix { oos_beta: *beta, ..mix };
                        found = Some((*eta, best.1));
                    }
                }
            }
            if let Some((weight, _)) = found {
                best.2 =
                    Some(OosDistance { detector: detector.clone(), view: view.clone(), shrinkage: *shrinkage, weight });
            }
        }
    }
    (best.1, best.2, best.0)
}

#[cfg(test)]
mod tests {
    use super::super::{evaluate, EvalConfig, Splits, TaskKind};
    use super::*;
    use crate::classifier::Rng;

    /// A unit-length 8-d embedding of class `k` (0–2 lean on axes 0–2; `oos` on axis 6 in
    /// train), varying freely along axes 3–4 and barely along 5–7; `off` pushes along axis 7,
    /// where no training example goes, with the free spread shrunk so that the vector's length
    /// (and with it the class axis's share after normalisation) stays in-scope-like. The texts
    /// say nothing.
    fn example(rng: &mut Rng, label: &str, k: usize, off: f32) -> Example {
        let spread = if off > 0.0 { 0.2 } else { 0.5 };
        let mut u = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        let mut v = vec![0f32; 8];
        v[k] = 1.0;
        v[3] = spread * u();
        v[4] = spread * u();
        for x in &mut v[5..] {
            *x = 0.01 * u();
        }
        v[7] += off;
        Example::new("an item", label).with_dense(v)
    }

    fn split(rng: &mut Rng, n_in: usize, n_oos: usize, train: bool) -> Vec<Example> {
        let mut ex: Vec<Example> = (0..n_in).map(|i| example(rng, &format!("l{}", i % 3), i % 3, 0.0)).collect();
        for i in 0..n_oos {
            // Train's few out-of-scope examples sit elsewhere than the ones met later.
            ex.push(if train { example(rng, "oos", 6, 0.0) } else { example(rng, "oos", i % 3, 0.4) });
        }
        ex
    }

    #[test]
    fn the_detector_is_chosen_on_dev_and_rejects_what_the_probability_cannot() {
        let mut rng = Rng::new(11);
        let splits = Splits {
            train: split(&mut rng, 300, 10, true),
            dev: split(&mut rng, 90, 30, false),
            test: split(&mut rng, 90, 30, false),
            background: Vec::new(),
        };
        let task = TaskKind::IntentWithOos { oos_label: "oos".into() };
        // The neighbour cosine is left out so that the comparison is probability against distance.
        let mut config =
            EvalConfig { c_grid: vec![1.0], dense_weights: vec![3.0], oos_betas: vec![0.0], ..EvalConfig::default() };
        let plain = evaluate(&splits, &task, &config).unwrap();
        let (acc, rec) = (plain.in_scope_accuracy.unwrap(), plain.oos_recall.unwrap());
        assert!(acc + rec < 180.0, "the top probability alone cannot reject these: {acc} / {rec}");
        assert_eq!(plain.mahalanobis, None);
        config.mahalanobis = Some(MahaConfig::default());
        let r = evaluate(&splits, &task, &config).unwrap();
        let (name, lambda, eta) = r.mahalanobis.clone().expect("chosen on dev");
        assert_eq!(name, "e");
        assert!(eta > 0.0 && (0.0..=1.0).contains(&lambda), "{:?}", r.mahalanobis);
        assert!(r.oos_recall.unwrap() >= 90.0 && r.in_scope_accuracy.unwrap() >= 90.0, "{r:?}");
        assert!(r.grid.iter().any(|(p, _)| p.starts_with("mahalanobis view e shrink lw")), "{:?}", r.grid);
        // Without a dev split the probe chooses and the detector is refitted on all of train.
        let holdout = Splits { dev: Vec::new(), ..splits };
        let r = evaluate(&holdout, &task, &config).unwrap();
        assert!(r.in_scope_accuracy.is_some() && r.grid.iter().any(|(p, _)| p.starts_with("mahalanobis")));
    }

    #[test]
    fn an_unscorable_example_counts_as_far() {
        let rows: Vec<Vec<f32>> = (0..6).map(|i| vec![1.0, 0.1 * i as f32, 0.05 * (i % 2) as f32]).collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let detector = Mahalanobis::fit(&refs, &[0, 0, 0, 1, 1, 1], 2, true, Shrinkage::Fixed(0.1)).unwrap();
        let d = OosDistance { detector, view: DenseView::embedding(), shrinkage: Shrinkage::Fixed(0.1), weight: 0.5 };
        assert_eq!(d.confidence(&Example::new("x", "l0"), 0.8), 0.4, "no embedding: score 0");
        let inside = d.confidence(&Example::new("x", "l0").with_dense(rows[1].clone()), 0.8);
        assert!(inside > 0.4, "{inside}");
    }
}
