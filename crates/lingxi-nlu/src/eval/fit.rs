//! Training helpers of the evaluation: the linear model and its calibration, dense views and
//! norms, the head probe, the text-only member, and [`Final`], which trains every final model.
use std::time::Instant;

use super::{stratified_holdout, EvalConfig, EvalError, Example};
use crate::classifier::{ClassifierConfig, TextClassifier, TrainError};
use crate::fused::{by_class, DenseNorm, DenseNormKind, DenseView, FusedClassifier, Mix, Neighbours};
use crate::mlp::{Labelled, MlpConfig, MlpEnsemble};

pub(super) fn texts_labels(ex: &[Example]) -> (Vec<&str>, Vec<&str>) {
    ex.iter().map(|e| (e.text.as_str(), e.label.as_str())).unzip()
}

/// Every example has an embedding (and there is at least one).
pub(super) fn all_dense(ex: &[Example]) -> bool {
    !ex.is_empty() && ex.iter().all(|e| e.dense.is_some())
}

pub(super) fn dense_rows(ex: &[Example]) -> Vec<Vec<f32>> {
    ex.iter().map(|e| e.dense.clone().unwrap_or_default()).collect()
}

/// Trains the linear model: with the embeddings when every example has one, adapted with a
/// background of other domains' examples when one is given (the embeddings shared between the
/// domains when the background has them too, else text only).
pub(super) fn train_linear(
    ex: &[Example],
    background: Option<&[Example]>,
    cfg: &ClassifierConfig,
    dense_weight: f32,
) -> Result<TextClassifier, TrainError> {
    let dense = all_dense(ex);
    match background {
        Some(bg) if dense && all_dense(bg) => {
            let ((t, l), (bt, bl)) = (texts_labels(ex), texts_labels(bg));
            let (d, bd) = (dense_rows(ex), dense_rows(bg));
            TextClassifier::train_adapted_with_dense((&t, &d, &l), (&bt, &bd, &bl), cfg, dense_weight)
        }
        None if dense => {
            let (t, l) = texts_labels(ex);
            TextClassifier::train_with_dense(&t, &dense_rows(ex), &l, cfg, dense_weight)
        }
        _ => train_text_only(ex, background, cfg),
    }
}

/// A text-only model over `train`'s texts, with `background` as domain-adaptive copies.
fn train_text_only(
    train: &[Example],
    background: Option<&[Example]>,
    cfg: &ClassifierConfig,
) -> Result<TextClassifier, TrainError> {
    let (t, l) = texts_labels(train);
    match background {
        Some(bg) => {
            let (bt, bl) = texts_labels(bg);
            TextClassifier::train_adapted(&t, &l, &bt, &bl, cfg)
        }
        None => TextClassifier::train(&t, &l, cfg),
    }
}

pub(super) fn calibrate(clf: &mut TextClassifier, ex: &[Example]) -> f32 {
    let (t, l) = texts_labels(ex);
    let dense = all_dense(ex).then(|| dense_rows(ex));
    clf.calibrate_with_dense(&t, dense.as_deref(), &l)
}

/// The examples with their dense block built by `view` (`None` when some example cannot build it).
pub(super) fn with_view(ex: &[Example], view: &DenseView) -> Option<Vec<Example>> {
    ex.iter()
        .map(|e| {
            let dense = view.compose(e.dense.as_deref()?, &e.extra)?;
            Some(Example { dense: Some(dense), ..e.clone() })
        })
        .collect()
}

/// The examples with their embeddings prepared by `norm`.
pub(super) fn prepared(ex: &[Example], norm: Option<&DenseNorm>) -> Vec<Example> {
    match norm {
        None => ex.to_vec(),
        Some(n) => ex.iter().map(|e| Example { dense: e.dense.as_deref().map(|d| n.apply(d)), ..e.clone() }).collect(),
    }
}

pub(super) fn fit_norm(ex: &[Example], kind: DenseNormKind) -> Option<DenseNorm> {
    let rows: Vec<&[f32]> = ex.iter().filter_map(|e| e.dense.as_deref()).collect();
    DenseNorm::fit(&rows, kind)
}

pub(super) fn neighbours_of(clf: &TextClassifier, ex: &[Example], kind: DenseNormKind) -> Option<Neighbours> {
    if !all_dense(ex) {
        return None;
    }
    let vecs: Vec<&[f32]> = ex.iter().map(|e| e.dense.as_deref().unwrap_or_default()).collect();
    let classes: Vec<u32> = ex.iter().map(|e| clf.label_index(&e.label).unwrap_or(0)).collect();
    Some(Neighbours::fitted(&vecs, &classes, clf.labels().len(), kind))
}

/// One point of the tuning grid, with what was fitted for it on the tuning set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    pub(super) c: f32,
    pub(super) w: f32,
    pub(super) kind: DenseNormKind,
    pub(super) power: f32,
    pub(super) temp: f32,
    pub(super) mix: Mix,
    pub(super) nb_kind: DenseNormKind,
    /// Index into the candidate views.
    pub(super) view: usize,
    /// Trained with the background examples.
    pub(super) adapted: bool,
}

/// A head trained on the tuning model's training part and early-stopped on the tuning set,
/// its distributions over the tuning set and its training time.
pub(super) struct HeadProbe {
    pub(super) head: MlpEnsemble,
    pub(super) tune_probs: Vec<Vec<f32>>,
    pub(super) secs: f64,
}

/// Class indices as the linear model numbers them (sorted label names); examples whose label
/// is not among `names` are left out.
pub(super) fn class_rows<'a>(ex: &'a [Example], names: &[&str]) -> (Vec<&'a [f32]>, Vec<u32>) {
    ex.iter().filter_map(|e| Some((e.dense.as_deref()?, names.binary_search(&e.label.as_str()).ok()? as u32))).unzip()
}

pub(super) fn sorted_labels(ex: &[Example]) -> Vec<&str> {
    let mut names: Vec<&str> = ex.iter().map(|e| e.label.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Trains the heads on `train`'s dense blocks, early-stopped (and their temperatures fitted)
/// on a stratified `stop_fraction` of `train` held out from them, or on `tune` when the
/// fraction is 0. Stopping on `tune` makes the head's tuning-set distributions optimistic, so
/// the grid then over-weights it (round 4 in docs/benchmarks.md).
pub(super) fn train_head(
    train: &[Example],
    tune: &[Example],
    cfg: &MlpConfig,
    stop_fraction: f32,
    seed: u64,
) -> Result<MlpEnsemble, crate::mlp::MlpError> {
    let names = sorted_labels(train);
    let (fit, stop) = if stop_fraction > 0.0 {
        stratified_holdout(train, stop_fraction, seed ^ 0x4845_4144)
    } else {
        (train.to_vec(), tune.to_vec())
    };
    let (rows, classes) = class_rows(&fit, &names);
    let (stop_rows, stop_classes) = class_rows(&stop, &names);
    let stop = Labelled { rows: &stop_rows, classes: &stop_classes };
    MlpEnsemble::train(&Labelled { rows: &rows, classes: &classes }, names.len(), Some(&stop), cfg)
}

pub(super) fn head_probe(
    train: &[Example],
    tune: &[Example],
    config: &EvalConfig,
) -> Result<HeadProbe, crate::mlp::MlpError> {
    let start = Instant::now();
    let cfg = config.head.clone().unwrap_or_default();
    let head = train_head(train, tune, &cfg, config.head_stop_fraction, config.seed)?;
    let secs = start.elapsed().as_secs_f64();
    let tune_probs = tune.iter().map(|e| head.probabilities(e.dense.as_deref().unwrap_or_default())).collect();
    Ok(HeadProbe { head, tune_probs, secs })
}

/// A text-only member probe: its settings and temperature, the model, its distributions over
/// `tune`.
pub(super) struct Member {
    pub(super) c: f32,
    pub(super) nb_power: f32,
    /// Trained with the background (domain-adaptive copies) rather than alone.
    pub(super) adapted: bool,
    pub(super) temp: f32,
    pub(super) model: TextClassifier,
    pub(super) tune_probs: Vec<Vec<f32>>,
}

/// The text-only member for a fused model: C, NB power (`powers`) and whether to train with
/// `background` chosen on the tuning set by the member's own accuracy, trained on `train`,
/// calibrated on `tune`. It is how a background without embeddings reaches a fused model.
pub(super) fn lexical_member(
    train: &[Example],
    tune: &[Example],
    background: &[Example],
    config: &EvalConfig,
    grid: &[f32],
    powers: &[f32],
) -> Result<Member, TrainError> {
    let adapt_options: &[bool] = if background.is_empty() { &[false] } else { &[false, true] };
    let (tt, tl) = texts_labels(tune);
    let mut best: Option<(f64, Member)> = None;
    for &adapted in adapt_options {
        for &nb_power in powers {
            for c in grid {
                let mut cfg = config.classifier.clone();
                cfg.train.c = *c;
                cfg.train.nb_power = nb_power;
                let mut clf = train_text_only(train, adapted.then_some(background), &cfg)?;
                let temp = clf.calibrate(&tt, &tl);
                let probs: Vec<Vec<f32>> = tune.iter().map(|e| by_class(&clf.predict(&e.text))).collect();
                let ok = tune.iter().zip(&probs).filter(|(e, p)| clf.labels()[top_index(p)] == e.label).count();
                let acc = ok as f64 / tune.len().max(1) as f64;
                if best.as_ref().is_none_or(|b| acc > b.0) {
                    best = Some((acc, Member { c: *c, nb_power, adapted, temp, model: clf, tune_probs: probs }));
                }
            }
        }
    }
    best.map(|b| b.1).ok_or(TrainError::Empty)
}

pub(super) fn top_index(p: &[f32]) -> usize {
    p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

pub(super) fn macro_f1(gold: &[&str], pred: &[&str]) -> f64 {
    let mut labels: Vec<&str> = gold.iter().chain(pred).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    let mut sum = 0.0;
    for l in &labels {
        let tp = gold.iter().zip(pred).filter(|(g, p)| *g == l && *p == l).count() as f64;
        let fp = gold.iter().zip(pred).filter(|(g, p)| *g != l && *p == l).count() as f64;
        let fn_ = gold.iter().zip(pred).filter(|(g, p)| *g == l && *p != l).count() as f64;
        if tp > 0.0 {
            sum += 2.0 * tp / (2.0 * tp + fp + fn_);
        }
    }
    sum / labels.len().max(1) as f64
}

pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// The text-only member's final model: trained on `train` at the member's C, calibrated on
/// `tune` (or at the probe's temperature when the final models see the held-out slice).
pub(super) fn final_lexical(
    m: &Member,
    train: &[Example],
    background: &[Example],
    tune: &[Example],
    holdout: bool,
    config: &EvalConfig,
) -> Result<TextClassifier, TrainError> {
    let mut cfg = config.classifier.clone();
    cfg.train.c = m.c;
    cfg.train.nb_power = m.nb_power;
    let mut lex = train_text_only(train, m.adapted.then_some(background), &cfg)?;
    if holdout {
        lex.set_temperature(m.temp);
    } else {
        let (tt, tl) = texts_labels(tune);
        lex.calibrate(&tt, &tl);
    }
    Ok(lex)
}

/// What every final model is trained with, whatever its view.
pub(super) struct Final<'a> {
    pub(super) config: &'a EvalConfig,
    /// Other domains' examples, for a setting that trains with them.
    pub(super) background: &'a [Example],
    /// Tuning used a held-out slice of train, which the final models see.
    pub(super) holdout: bool,
    pub(super) dense: bool,
    /// The text-only member's final model, for a setting that mixes it in.
    pub(super) lexical: Option<&'a TextClassifier>,
}

impl Final<'_> {
    /// The final model of setting `s`, trained on `train` and calibrated on `tune` (both with
    /// `s`'s dense block), its temperature, and the training seconds of a head probe that is
    /// reused as the final head (not in the caller's clock).
    pub(super) fn train(
        &self,
        train: &[Example],
        tune: &[Example],
        s: &Setting,
        probe_head: Option<&HeadProbe>,
    ) -> Result<(FusedClassifier, f32, f64), EvalError> {
        let mut cfg = self.config.classifier.clone();
        cfg.train.c = s.c;
        cfg.train.nb_power = s.power;
        let norm = if self.dense { fit_norm(train, s.kind) } else { None };
        let background = s.adapted.then(|| prepared(self.background, norm.as_ref()));
        let mut clf = train_linear(&prepared(train, norm.as_ref()), background.as_deref(), &cfg, s.w)?;
        let neighbours = if self.dense && (s.mix.alpha > 0.0 || s.mix.oos_beta > 0.0) {
            neighbours_of(&clf, train, s.nb_kind)
        } else {
            None
        };
        let temperature = if self.holdout {
            // The final model has seen the held-out slice; reuse the probe's temperature.
            clf.set_temperature(s.temp);
            s.temp
        } else {
            calibrate(&mut clf, &prepared(tune, norm.as_ref()))
        };
        let lexical = self.lexical.filter(|_| s.mix.lexical > 0.0).cloned();
        let mut reused_secs = 0.0;
        let head = match probe_head.filter(|_| s.mix.head > 0.0) {
            // The final model has seen the held-out slice: train as many epochs as the probe
            // kept, at its temperature.
            Some(p) if self.holdout => {
                let names = sorted_labels(train);
                let (rows, classes) = class_rows(train, &names);
                let labelled = Labelled { rows: &rows, classes: &classes };
                let cfg = self.config.head.clone().unwrap_or_default();
                Some(MlpEnsemble::retrain_like(&p.head, &labelled, names.len(), &cfg)?)
            }
            // With a dev split the probe was trained on the train split (less its stopping
            // slice): it is the final head.
            Some(p) => {
                reused_secs = p.secs;
                Some(p.head.clone())
            }
            None => None,
        };
        let model = FusedClassifier { linear: clf, neighbours, mix: s.mix, dense_norm: norm, lexical, head };
        Ok((model, temperature, reused_secs))
    }
}
