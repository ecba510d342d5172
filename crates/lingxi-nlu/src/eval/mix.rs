//! The mix search of the evaluation: each example's distributions from the fused model's parts
//! (linear, neighbour vote, text-only member, head) computed once, then the mix weights and the
//! out-of-scope threshold chosen on the tuning set.

use super::{neighbours_of, Example};
use crate::fused::{confidence, mix_into, mixed, DenseNormKind, FusedClassifier, Mix};

/// The two halves' distributions for each example of a set, computed once so that the mix
/// and the thresholds can be searched cheaply.
pub(super) struct Parts {
    pub(super) linear: Vec<Vec<f32>>,
    pub(super) similarity: Option<Vec<Vec<f32>>>,
    /// The lexical member's distributions, when there is one.
    pub(super) lexical: Option<Vec<Vec<f32>>>,
    /// The non-linear head's distributions, when there is one.
    pub(super) head: Option<Vec<Vec<f32>>>,
}

pub(super) fn parts(model: &FusedClassifier, ex: &[Example]) -> Parts {
    let linear = ex.iter().map(|e| model.linear_probabilities(&e.text, e.dense.as_deref())).collect();
    let similarity = model
        .neighbours
        .as_ref()
        .map(|nb| ex.iter().map(|e| nb.class_similarity(e.dense.as_deref().unwrap_or_default())).collect());
    Parts { linear, similarity, lexical: None, head: None }
}

/// (predicted class, confidence) per example under a mix.
pub(super) fn predictions(p: &Parts, mix: Mix) -> Vec<(u32, f32)> {
    confidences(p, &distributions(p, mix), mix)
}

/// Every example's class distribution under a mix.
fn distributions(p: &Parts, mix: Mix) -> Vec<Vec<f32>> {
    (0..p.linear.len()).map(|i| distribution(p, i, mix)).collect()
}

/// (predicted class, confidence) per example from its distribution under `mix`.
fn confidences(p: &Parts, rows: &[Vec<f32>], mix: Mix) -> Vec<(u32, f32)> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| confidence(row, p.similarity.as_ref().map(|s| s[i].as_slice()), mix))
        .collect()
}

/// Example `i`'s class distribution under a mix: every member and the neighbour vote mixed in.
fn distribution(p: &Parts, i: usize, mix: Mix) -> Vec<f32> {
    let lin = &p.linear[i];
    let sim = p.similarity.as_ref().map(|s| s[i].as_slice());
    let lexical = p.lexical.as_ref().filter(|_| mix.lexical > 0.0);
    let head = p.head.as_ref().filter(|_| mix.head > 0.0);
    if lexical.is_none() && head.is_none() {
        return mixed(lin, sim, mix);
    }
    // The same order as `FusedClassifier::linear_probabilities`: member, then head.
    let mut all = lin.clone();
    if let Some(lex) = lexical {
        mix_into(&mut all, &lex[i], mix.lexical);
    }
    if let Some(head) = head {
        mix_into(&mut all, &head[i], mix.head);
    }
    mixed(&all, sim, mix)
}

/// Predicted label with the out-of-scope rule applied.
pub(super) fn label_of<'a>(labels: &'a [String], pred: (u32, f32), oos: Option<(&'a str, f32)>) -> &'a str {
    let label = labels.get(pred.0 as usize).map_or("", String::as_str);
    match oos {
        Some((oos_label, threshold)) if pred.1 < threshold => oos_label,
        _ => label,
    }
}

/// The threshold on top confidence with the best in-scope accuracy on `tune` among those
/// reaching `target_recall` OOS recall; the best in-scope accuracy + recall when none does.
pub(super) fn choose_threshold(
    labels: &[String],
    preds: &[(u32, f32)],
    tune: &[Example],
    oos_label: &str,
    target_recall: f64,
) -> f32 {
    let preds: Vec<(bool, bool, f32)> = tune
        .iter()
        .zip(preds)
        .map(|(e, p)| (e.label == oos_label, label_of(labels, *p, None) == e.label, p.1))
        .collect();
    let n_in = preds.iter().filter(|p| !p.0).count().max(1) as f64;
    let n_oos = preds.iter().filter(|p| p.0).count();
    if n_oos == 0 {
        return 0.0;
    }
    let mut best = (f64::NEG_INFINITY, 0.0f32);
    let mut best_constrained: Option<(f64, f32)> = None;
    for step in 0..=200 {
        let t = step as f32 / 200.0;
        let in_ok = preds.iter().filter(|p| !p.0 && p.1 && p.2 >= t).count() as f64;
        // An OOS example is caught when predicted oos outright or rejected by the threshold.
        let oos_ok = preds.iter().filter(|p| p.0 && (p.1 || p.2 < t)).count() as f64;
        let score = in_ok / n_in + oos_ok / n_oos as f64;
        if score > best.0 {
            best = (score, t);
        }
        if oos_ok / n_oos as f64 >= target_recall && best_constrained.is_none_or(|b| in_ok / n_in > b.0) {
            best_constrained = Some((in_ok / n_in, t));
        }
    }
    best_constrained.map_or(best.1, |b| b.1)
}

/// The tuning objective: accuracy, or in-scope accuracy + OOS recall at the chosen threshold.
pub(super) fn score_on(
    labels: &[String],
    preds: &[(u32, f32)],
    ex: &[Example],
    oos_label: Option<&str>,
    target: f64,
) -> f64 {
    match oos_label {
        Some(oos_label) => {
            let t = choose_threshold(labels, preds, ex, oos_label, target);
            let (acc, rec) = in_scope_and_recall(labels, preds, ex, oos_label, t);
            acc + rec
        }
        None => {
            let ok = ex.iter().zip(preds).filter(|(e, p)| label_of(labels, **p, None) == e.label).count();
            ok as f64 / ex.len().max(1) as f64
        }
    }
}

pub(super) fn in_scope_and_recall(
    labels: &[String],
    preds: &[(u32, f32)],
    ex: &[Example],
    oos_label: &str,
    t: f32,
) -> (f64, f64) {
    let (mut n_in, mut ok_in, mut n_oos, mut ok_oos) = (0usize, 0usize, 0usize, 0usize);
    for (e, p) in ex.iter().zip(preds) {
        let label = label_of(labels, *p, Some((oos_label, t)));
        if e.label == oos_label {
            n_oos += 1;
            ok_oos += usize::from(label == oos_label);
        } else {
            n_in += 1;
            ok_in += usize::from(label == e.label);
        }
    }
    (ok_in as f64 / n_in.max(1) as f64, ok_oos as f64 / n_oos.max(1) as f64)
}

/// The neighbour vote's candidates: how the embeddings are prepared, the vote's weights and
/// temperatures (0 = cosines added as they are, [`Mix::tau`]), and the cosine's weights in the
/// out-of-scope confidence (OOS tasks only).
pub(super) struct VoteGrid<'a> {
    pub(super) kinds: &'a [DenseNormKind],
    pub(super) alphas: &'a [f32],
    pub(super) taus: &'a [f32],
    pub(super) betas: &'a [f32],
}

/// The mixes with the neighbour vote tried on the tuning set (the linear model alone is
/// [`Mix::default`], tried separately).
fn mix_grid(grid: &VoteGrid<'_>, oos: bool) -> Vec<Mix> {
    let betas = if oos && !grid.betas.is_empty() { grid.betas } else { &[0.0] };
    let mut mixes = Vec::new();
    for oos_beta in betas {
        for alpha in grid.alphas {
            for tau in grid.taus {
                if *alpha > 0.0 || *oos_beta > 0.0 {
                    mixes.push(Mix { alpha: *alpha, tau: *tau, oos_beta: *oos_beta, ..Mix::default() });
                }
            }
        }
    }
    mixes
}

/// The members that may be mixed into the linear distribution: their distributions over the
/// tuning set and the candidate weights.
#[derive(Clone, Copy)]
pub(super) struct Members<'a> {
    pub(super) lexical: Option<&'a [Vec<f32>]>,
    pub(super) lexical_weights: &'a [f32],
    pub(super) head: Option<&'a [Vec<f32>]>,
    pub(super) head_weights: &'a [f32],
}

/// The best mix of one grid point on the tuning set.
pub(super) struct MixChoice {
    /// The tuning objective ([`score_on`]).
    pub(super) score: f64,
    pub(super) mix: Mix,
    /// The neighbours' preparation.
    pub(super) nb_kind: DenseNormKind,
    /// Each tuning example's class distribution under `mix` (what an ensemble over views averages).
    pub(super) rows: Vec<Vec<f32>>,
}

/// The best mix on the tuning set, the neighbours' preparation and the score. `model` has no
/// neighbours yet; they are built from `train` (raw embeddings) once per kind.
pub(super) fn choose_mix(
    model: &FusedClassifier,
    train: &[Example],
    tune: &[Example],
    votes: &VoteGrid<'_>,
    members: Members<'_>,
    oos_label: Option<&str>,
    target: f64,
) -> MixChoice {
    let mut p = parts(model, tune);
    p.lexical = members.lexical.map(<[Vec<f32>]>::to_vec);
    p.head = members.head.map(<[Vec<f32>]>::to_vec);
    // A member without distributions, or without candidate weights, stays out (weight 0).
    let weights = |probs: Option<&[Vec<f32>]>, given: &'_ [f32]| -> Vec<f32> {
        if probs.is_some() && !given.is_empty() {
            given.to_vec()
        } else {
            vec![0.0]
        }
    };
    let gammas = weights(members.lexical, members.lexical_weights);
    let deltas = weights(members.head, members.head_weights);
    let labels = model.linear.labels();
    let mut best =
        MixChoice { score: f64::NEG_INFINITY, mix: Mix::default(), nb_kind: DenseNormKind::Unit, rows: Vec::new() };
    let consider = |p: &Parts, mix: Mix, kind: DenseNormKind, best: &mut MixChoice| {
        for gamma in &gammas {
            for delta in &deltas {
                let mix = Mix { lexical: *gamma, head: *delta, ..mix };
                // The distributions are kept with the best mix (the neighbours' similarities are
                // replaced for the next kind), so they are computed once, not again on a gain.
                let rows = distributions(p, mix);
                let s = score_on(labels, &confidences(p, &rows, mix), tune, oos_label, target);
                if s > best.score + 1e-9 {
                    *best = MixChoice { score: s, mix, nb_kind: kind, rows };
                }
            }
        }
    };
    consider(&p, Mix::default(), DenseNormKind::Unit, &mut best);
    for kind in votes.kinds {
        let Some(nb) = neighbours_of(&model.linear, train, *kind) else { continue };
        p.similarity = Some(tune.iter().map(|e| nb.class_similarity(e.dense.as_deref().unwrap_or_default())).collect());
        for mix in mix_grid(votes, oos_label.is_some()) {
            consider(&p, mix, *kind, &mut best);
        }
    }
    best
}
