//! Offline evaluation of the learned models on labelled splits: train on train only, pick
//! hyper-parameters, calibration and the out-of-scope threshold on dev (or on a held-out
//! slice of train when a dataset has no dev split), then score test once.
//!
//! This is the only module that reads a clock: it reports training time and per-message
//! latency. It still does no I/O; callers read the files (see `examples/nlu_eval.rs`).

use std::borrow::Cow;
use std::time::Instant;

use crate::classifier::{ClassifierConfig, Rng, TextClassifier, TrainError};
use crate::fused::{DenseNormKind, DenseView, FusedClassifier, Mix};
use crate::mlp::MlpConfig;

mod ensemble;
mod fit;
mod mix;
mod oos_distance;
use ensemble::{ViewBest, ViewEnsemble};
use fit::{
    all_dense, calibrate, final_lexical, fit_norm, head_probe, lexical_member, macro_f1, neighbours_of, percentile,
    prepared, sorted_labels, texts_labels, top_index, train_linear, with_view, Final, HeadProbe, Setting,
};
use mix::{
    choose_mix, choose_threshold, in_scope_and_recall, label_of, parts, predictions, score_on, Members, Parts, VoteGrid,
};
pub use oos_distance::MahaConfig;

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The text.
    pub text: String,
    /// Its label (intent name, or sentiment label such as "0"/"1").
    pub label: String,
    /// A sentence embedding of the text, when an encoder is available (every example of an
    /// evaluation has one, or none does).
    pub dense: Option<Vec<f32>>,
    /// Other pooled views of the text from the encoder's same forward pass (earlier layers'
    /// means, the first token's state), in a fixed order across examples; see [`DenseView`].
    pub extra: Vec<Vec<f32>>,
}

impl Example {
    /// An example from anything string-like.
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Self { text: text.into(), label: label.into(), dense: None, extra: Vec::new() }
    }

    /// The example with extra pooled views (see [`Example::extra`]).
    pub fn with_extra(mut self, extra: Vec<Vec<f32>>) -> Self {
        self.extra = extra;
        self
    }

    /// The example with its sentence embedding.
    pub fn with_dense(mut self, dense: Vec<f32>) -> Self {
        self.dense = Some(dense);
        self
    }
}

/// Typed splits; `dev` may be empty, in which case a stratified slice of train is held out
/// for tuning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Splits {
    /// Training examples.
    pub train: Vec<Example>,
    /// Development examples (tuning only); may be empty.
    pub dev: Vec<Example>,
    /// Test examples (scored once, never trained or tuned on).
    pub test: Vec<Example>,
    /// Labelled examples of other domains (other products' reviews, say), for text-only models:
    /// when not empty, training with them through [`crate::adapt`] is one more choice of the
    /// grid. Never scored; [`Splits::with_background`] leaves out copies of the splits' texts.
    pub background: Vec<Example>,
}

impl Splits {
    /// These splits with `examples` of other domains as the background, less every example
    /// whose text is also a text of these splits (review collections copy one another): a copy
    /// of a test text would leak it, and a copy of a train text would leak it into the train
    /// folds that tuning scores. Returns the splits and how many were left out.
    pub fn with_background(mut self, examples: Vec<Example>) -> (Self, usize) {
        let held: std::collections::HashSet<&str> =
            self.train.iter().chain(&self.dev).chain(&self.test).map(|e| e.text.as_str()).collect();
        let n = examples.len();
        let kept: Vec<Example> = examples.into_iter().filter(|e| !held.contains(e.text.as_str())).collect();
        let dropped = n - kept.len();
        self.background = kept;
        (self, dropped)
    }
}

/// What is being evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// Closed-set intent classification.
    Intent,
    /// Intent classification where `oos_label` marks out-of-scope examples; a confidence
    /// threshold chosen on dev turns unsure predictions into out-of-scope.
    IntentWithOos {
        /// The out-of-scope label (e.g. `oos`).
        oos_label: String,
    },
    /// Sentiment polarity (any label set).
    Sentiment,
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Base classifier configuration (its `c` is replaced by the best of `c_grid`).
    pub classifier: ClassifierConfig,
    /// Candidate regularisation values tried on dev.
    pub c_grid: Vec<f32>,
    /// Fraction of train held out for tuning when there is no dev split.
    pub holdout_fraction: f32,
    /// Seed of the hold-out split.
    pub seed: u64,
    /// Out-of-scope operating point: the threshold maximising in-scope accuracy on dev among
    /// those whose dev OOS recall reaches this (the most balanced one when none does).
    pub target_oos_recall: f64,
    /// Candidate scales of the L2-normalised embedding block next to the lexical features
    /// (when the examples carry embeddings), tried on dev with every C.
    pub dense_weights: Vec<f32>,
    /// Candidate preparations of the embedding (unit length, centred, standardised), tried
    /// on dev with every C and weight.
    pub dense_norms: Vec<DenseNormKind>,
    /// Candidate preparations of the embedding for the nearest-neighbour vote (cheap: tried
    /// for every linear model without retraining it).
    pub neighbour_norms: Vec<DenseNormKind>,
    /// Candidate weights of the text-only member mixed into a fused model (fused tasks).
    pub lexical_weights: Vec<f32>,
    /// Candidate weights of the neighbour cosine in the out-of-scope confidence (OOS tasks).
    pub oos_betas: Vec<f32>,
    /// Candidate weights of the nearest-neighbour vote (fused tasks; 0 = linear model alone).
    pub vote_alphas: Vec<f32>,
    /// Candidate softmax temperatures of the vote; 0 adds the class cosines as they are
    /// ([`Mix::tau`]). At 20–100 the vote is nearly uniform and mostly flattens the linear
    /// model's confidence, which moves the out-of-scope operating point; until the thirteenth
    /// session these were the only temperatures run (written 0.01–0.05, read as multipliers),
    /// and sharp votes chosen on dev lost 0.9 point on smp2017's test (benchmarks.md).
    pub vote_taus: Vec<f32>,
    /// Candidate NB-SVM feature-scaling powers (two-class tasks only; 0 = plain SVM).
    pub nb_powers: Vec<f32>,
    /// Candidate dense blocks built from the examples' embedding and extra views, tried on dev
    /// with every other setting (a view some example cannot build is skipped).
    pub dense_views: Vec<DenseView>,
    /// A trained non-linear head over the dense block (fused tasks; `None` = not tried). It is
    /// trained once per view on the tuning model's training part, early-stopped on a slice of
    /// it (`head_stop_fraction`), and mixed in with a weight from `head_weights`.
    pub head: Option<MlpConfig>,
    /// Candidate weights of the head in the linear distribution (0 = without it).
    pub head_weights: Vec<f32>,
    /// Share of the training part held out (stratified) to stop the head and fit its
    /// temperature; 0 = stop on the tuning set itself (optimistic: see `train_head`).
    pub head_stop_fraction: f32,
    /// Lexical tasks with a dev split and no out-of-scope label: C and the NB power are chosen
    /// on dev pooled with this many folds of train (see [`crate::cv::fold_correct`]); 0 or 1 =
    /// dev alone.
    pub tune_folds: usize,
    /// The Mahalanobis out-of-scope detector (OOS tasks with embeddings; `None` = not tried):
    /// searched on the tuning set after the grid, for the chosen model.
    pub mahalanobis: Option<MahaConfig>,
    /// Also try the mean of one fused model per candidate view, each at its view's best grid
    /// point (intent tasks with embeddings and at least two views): chosen when its tuning
    /// score beats the best single point (`eval/ensemble.rs`).
    pub view_ensemble: bool,
}

impl EvalConfig {
    /// The settings for `task`: the defaults, and for sentiment a wider C grid chosen on dev
    /// pooled with four folds of train (a dev split of about a thousand reviews alone picked
    /// settings its test split did not bear out; benchmarks.md, "Sentiment round"). A fused
    /// sentiment model (with embeddings; tuned on dev alone) also tries sharp neighbour votes
    /// and the text-only member up to the whole weight, the grid of benchmarks.md "Fourteenth
    /// session: sentiment with full-length embeddings".
    pub fn for_task(task: &TaskKind) -> Self {
        match task {
            TaskKind::Sentiment => Self {
                c_grid: vec![0.25, 0.5, 1.0, 2.0, 4.0],
                tune_folds: 4,
                vote_alphas: vec![0.0, 0.1, 0.2, 0.3, 0.5, 0.7],
                vote_taus: vec![0.0, 0.01, 0.05, 50.0],
                lexical_weights: vec![0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0],
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            classifier: ClassifierConfig::default(),
            c_grid: vec![0.5, 1.0, 2.0],
            holdout_fraction: 0.1,
            seed: 20240601,
            target_oos_recall: 0.7,
            dense_weights: vec![1.0, 2.0, 3.0, 4.0, 6.0],
            dense_norms: vec![DenseNormKind::Unit],
            nb_powers: vec![0.0, 0.5, 1.0],
            oos_betas: vec![0.0, 0.25, 0.5, 0.75],
            vote_alphas: vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            // Nearly flat votes: what every measured run before the thirteenth session used
            // (see `vote_taus`); sharp ones (≤ 0.05) and added cosines (0) are opt-in.
            vote_taus: vec![100.0, 50.0, 20.0],
            lexical_weights: vec![0.0, 0.2, 0.35, 0.5],
            neighbour_norms: vec![DenseNormKind::Unit, DenseNormKind::Centered, DenseNormKind::Standardized],
            dense_views: vec![DenseView::embedding()],
            head: None,
            head_weights: vec![0.0, 0.25, 0.5, 0.75, 1.0],
            head_stop_fraction: 0.1,
            tune_folds: 0,
            mahalanobis: None,
            view_ensemble: false,
        }
    }
}

/// Why an evaluation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The test split is empty.
    #[error("empty test split")]
    EmptyTest,
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Training the non-linear head failed.
    #[error(transparent)]
    Head(#[from] crate::mlp::MlpError),
}

/// Scores of one evaluation; percentages are in 0..=100.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Task evaluated.
    pub task: TaskKind,
    /// Examples used for the final training run.
    pub n_train: usize,
    /// Examples used for tuning (dev, or the held-out slice of train).
    pub n_tune: usize,
    /// Whether tuning used a held-out slice of train (no dev split).
    pub tuned_on_train_holdout: bool,
    /// Test examples scored.
    pub n_test: usize,
    /// Accuracy over all test examples (out-of-scope counts as a label).
    pub accuracy: f64,
    /// Macro-averaged F1 over the labels present in test or predictions.
    pub macro_f1: f64,
    /// For intent+OOS: accuracy over in-scope test examples.
    pub in_scope_accuracy: Option<f64>,
    /// For intent+OOS: recall on out-of-scope test examples.
    pub oos_recall: Option<f64>,
    /// For intent+OOS: the confidence threshold chosen on dev.
    pub oos_threshold: Option<f32>,
    /// Regularisation chosen on dev.
    pub chosen_c: f32,
    /// Whether the model used sentence embeddings (fused model).
    pub embeddings: bool,
    /// Scale of the embedding block chosen on dev (0 without embeddings).
    pub dense_weight: f32,
    /// Weight of the nearest-neighbour vote chosen on dev (0 = linear model alone).
    pub mix_alpha: f32,
    /// Temperature of the nearest-neighbour vote.
    pub mix_tau: f32,
    /// Weight of the best class's neighbour cosine in the out-of-scope confidence.
    pub oos_beta: f32,
    /// Weight of the text-only member in a fused model (0 = none).
    pub lexical_weight: f32,
    /// The text-only member's settings (C, NB power, trained with the background or not), when
    /// a fused model has one.
    pub lexical_member: Option<String>,
    /// Weight of the trained non-linear head chosen on dev (0 = none).
    pub head_weight: f32,
    /// Epochs the final head trained (the most among its members; 0 without one).
    pub head_epochs: usize,
    /// The Mahalanobis detector's dense view, shrinkage share λ and weight η in the rejection
    /// confidence, chosen on dev (`None` = not used).
    pub mahalanobis: Option<(String, f32, f32)>,
    /// Preparation of the embedding chosen on dev.
    pub dense_norm: DenseNormKind,
    /// The dense block chosen on dev ([`DenseView::name`]; `e` = the embedding alone).
    pub dense_view: String,
    /// The member views when dev chose the ensemble over views ([`EvalConfig::view_ensemble`];
    /// `None` = one model). The setting fields of the report then describe the best single
    /// point (one of the members); accuracy, timing and size are the whole ensemble's.
    pub view_ensemble: Option<Vec<String>>,
    /// Preparation of the embedding for the neighbour vote chosen on dev.
    pub neighbour_norm: DenseNormKind,
    /// NB-SVM scaling power chosen on dev (0 = plain SVM).
    pub nb_power: f32,
    /// Background examples offered ([`Splits::background`]).
    pub n_background: usize,
    /// Whether the grid chose to train with them.
    pub adapted: bool,
    /// The tuning objective of the chosen setting on the tuning set (accuracy in 0..=1, or
    /// in-scope accuracy + OOS recall).
    pub tune_score: f64,
    /// Every grid point tried and its tuning score, in order (for reports and ablations).
    pub grid: Vec<(String, f64)>,
    /// Per view, the trained head alone on the tuning set: its accuracy (0..=1), the epoch
    /// kept (the most among its members) and its training time in seconds (empty without a head).
    pub head_probes: Vec<(String, f64, usize, f64)>,
    /// Softmax temperature fitted on dev.
    pub temperature: f32,
    /// Wall time of the final training run (linear model, neighbours, text-only member and the
    /// temperature fit), seconds.
    pub train_secs: f64,
    /// Median per-message prediction latency, microseconds.
    pub latency_p50_us: f64,
    /// 99th percentile per-message prediction latency, microseconds.
    pub latency_p99_us: f64,
    /// Size of the serialised model, bytes.
    pub model_bytes: usize,
    /// Accuracy of the serialised (quantised) model re-loaded from bytes.
    pub quantized_accuracy: f64,
}

/// Stratified split of `examples` into (kept, held out), deterministic in `seed`.
pub fn stratified_holdout(examples: &[Example], fraction: f32, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let mut by_label: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, e) in examples.iter().enumerate() {
        by_label.entry(e.label.as_str()).or_default().push(i);
    }
    let mut rng = Rng::new(seed);
    let mut held = vec![false; examples.len()];
    for idx in by_label.values_mut() {
        rng.shuffle(idx);
        let n = ((idx.len() as f32) * fraction).round() as usize;
        // Keep at least one training example of every label.
        let n = n.min(idx.len().saturating_sub(1));
        for i in &idx[..n] {
            held[*i] = true;
        }
    }
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (e, h) in examples.iter().zip(held) {
        if h {
            out.push(e.clone());
        } else {
            kept.push(e.clone());
        }
    }
    (kept, out)
}

/// Trains on `splits.train`, tunes on dev (or a held-out slice of train), scores test. When
/// every example carries an embedding, the model is the fused one (linear model over lexical
/// features and the embedding, mixed with nearest neighbours); the mix is chosen on the tuning set.
pub fn evaluate(splits: &Splits, task: &TaskKind, config: &EvalConfig) -> Result<EvalReport, EvalError> {
    if splits.test.is_empty() {
        return Err(EvalError::EmptyTest);
    }
    let oos_label = match task {
        TaskKind::IntentWithOos { oos_label } => Some(oos_label.as_str()),
        _ => None,
    };
    let holdout = splits.dev.is_empty();
    let (tune_train, tune) = if holdout {
        stratified_holdout(&splits.train, config.holdout_fraction, config.seed)
    } else {
        (splits.train.clone(), splits.dev.clone())
    };
    let dense = all_dense(&splits.train) && all_dense(&tune) && all_dense(&splits.test);
    let target = config.target_oos_recall;
    // Pick C (and the mix) on the tuning set, with a probe trained without it.
    let grid = if config.c_grid.is_empty() { vec![config.classifier.train.c] } else { config.c_grid.clone() };
    let weights = if dense && !config.dense_weights.is_empty() { config.dense_weights.clone() } else { vec![1.0] };
    let norms =
        if dense && !config.dense_norms.is_empty() { config.dense_norms.clone() } else { vec![DenseNormKind::Unit] };
    let two_classes = {
        let mut l: Vec<&str> = splits.train.iter().map(|e| e.label.as_str()).collect();
        l.sort_unstable();
        l.dedup();
        l.len() == 2
    };
    let powers = if two_classes && !config.nb_powers.is_empty() { config.nb_powers.clone() } else { vec![0.0] };
    // Folds of train pooled with dev for the choice of C and the NB power (lexical tasks only).
    let fold_points: Vec<(f32, f32)> = powers.iter().flat_map(|p| grid.iter().map(move |c| (*c, *p))).collect();
    // Training with the background is a choice when there is one; for a fused model only when
    // every background example carries an embedding too.
    let adapt_options: &[bool] = if !splits.background.is_empty() && (!dense || all_dense(&splits.background)) {
        &[false, true]
    } else {
        &[false]
    };
    // The background as the linear model of `view` under `norm` sees it (as it is, text only).
    let background_as = |view: &DenseView, norm: Option<&crate::fused::DenseNorm>| -> Option<Cow<'_, [Example]>> {
        if !dense {
            return Some(Cow::Borrowed(splits.background.as_slice()));
        }
        with_view(&splits.background, view).map(|b| Cow::Owned(prepared(&b, norm)))
    };
    // Per adapt option, per fold point.
    let folds: Option<Vec<Vec<(usize, usize)>>> = (!dense && !holdout && oos_label.is_none() && config.tune_folds > 1)
        .then(|| {
            let (t, l) = texts_labels(&splits.train);
            let (bt, bl) = texts_labels(&splits.background);
            adapt_options
                .iter()
                .map(|a| {
                    let bg = a.then_some((bt.as_slice(), bl.as_slice()));
                    crate::cv::fold_correct(&t, &l, bg, &config.classifier, &fold_points, config.tune_folds)
                })
                .collect()
        });
    // The text-only member (fused tasks only), chosen and trained once for the whole grid.
    let member = if dense && config.lexical_weights.iter().any(|g| *g > 0.0) {
        Some(lexical_member(&tune_train, &tune, &splits.background, config, &grid, &powers)?)
    } else {
        None
    };
    let member_probs = member.as_ref().map(|m| m.tune_probs.as_slice());
    // The candidate dense blocks (the embedding as given without embeddings or views).
    let views: Vec<DenseView> =
        if dense && !config.dense_views.is_empty() { config.dense_views.clone() } else { vec![DenseView::embedding()] };
    let mut best: Option<(f64, Setting)> = None;
    let mut tried = Vec::new();
    // The head depends only on the dense block, so it is trained once per view.
    let mut head_probes: Vec<Option<HeadProbe>> = views.iter().map(|_| None).collect();
    let mut head_summary = Vec::new();
    // Per view, its best point and tuning distributions (kept for the ensemble over views).
    let mut view_bests: Vec<Option<ViewBest>> = views.iter().map(|_| None).collect();
    for (view_index, view) in views.iter().enumerate() {
        let (tune_train, tune) = if dense {
            match (with_view(&tune_train, view), with_view(&tune, view), with_view(&splits.test, view)) {
                (Some(a), Some(b), Some(_)) => (a, b),
                _ => continue,
            }
        } else {
            (tune_train.clone(), tune.clone())
        };
        if config.head.is_some() && dense {
            let probe = head_probe(&tune_train, &tune, config)?;
            let names = sorted_labels(&tune_train);
            let ok =
                tune.iter().zip(&probe.tune_probs).filter(|(e, p)| names.get(top_index(p)) == Some(&e.label.as_str()));
            let accuracy = ok.count() as f64 / tune.len().max(1) as f64;
            let epochs = probe.head.heads().iter().map(|h| h.epochs()).max().unwrap_or(0);
            head_summary.push((view.name.clone(), accuracy, epochs, probe.secs));
            head_probes[view_index] = Some(probe);
        }
        let head_probe = &head_probes[view_index];
        for kind in &norms {
            let norm = if dense { fit_norm(&tune_train, *kind) } else { None };
            let (tt, tn) = (prepared(&tune_train, norm.as_ref()), prepared(&tune, norm.as_ref()));
            let bg = if adapt_options.len() > 1 { background_as(view, norm.as_ref()) } else { None };
            for power in &powers {
                for c in &grid {
                    for (w, (adapt_index, adapted)) in
                        weights.iter().flat_map(|w| adapt_options.iter().enumerate().map(move |a| (w, a)))
                    {
                        let mut cfg = config.classifier.clone();
                        cfg.train.c = *c;
                        cfg.train.nb_power = *power;
                        let background = match (adapted, &bg) {
                            (false, _) => None,
                            (true, Some(b)) => Some(b.as_ref()),
                            (true, None) => continue,
                        };
                        let mut clf = train_linear(&tt, background, &cfg, *w)?;
                        let temp = calibrate(&mut clf, &tn);
                        let probe = FusedClassifier {
                            linear: clf,
                            neighbours: None,
                            mix: Mix::default(),
                            dense_norm: norm.clone(),
                            lexical: None,
                            head: None,
                        };
                        let nb_kinds = if dense { config.neighbour_norms.as_slice() } else { &[] };
                        let choice = choose_mix(
                            &probe,
                            &tune_train,
                            &tune,
                            &VoteGrid {
                                kinds: nb_kinds,
                                alphas: &config.vote_alphas,
                                taus: &config.vote_taus,
                                betas: &config.oos_betas,
                            },
                            Members {
                                lexical: member_probs,
                                lexical_weights: &config.lexical_weights,
                                head: head_probe.as_ref().map(|h| h.tune_probs.as_slice()),
                                head_weights: &config.head_weights,
                            },
                            oos_label,
                            target,
                        );
                        let (dev_score, mix, nb_kind) = (choice.score, choice.mix, choice.nb_kind);
                        let s = match folds.as_ref().and_then(|f| {
                            fold_points.iter().position(|q| *q == (*c, *power)).map(|k| f[adapt_index][k])
                        }) {
                            // Accuracy over dev and the folds together.
                            Some((ok, n)) if n > 0 => (dev_score * tn.len() as f64 + ok as f64) / (tn.len() + n) as f64,
                            _ => dev_score,
                        };
                        let point = format!(
                        "view {} C {c} w {w} {kind:?} nb {power} alpha {} tau {} beta {} knn {nb_kind:?} lexical {} head {}",
                        view.name, mix.alpha, mix.tau, mix.oos_beta, mix.lexical, mix.head
                    );
                        let point = if *adapted { format!("{point} adapted") } else { point };
                        let point = match &folds {
                            Some(_) => format!("{point} dev {dev_score:.4} (score: dev + train folds)"),
                            None => point,
                        };
                        let setting = Setting {
                            c: *c,
                            w: *w,
                            kind: *kind,
                            power: *power,
                            temp,
                            mix,
                            nb_kind,
                            view: view_index,
                            adapted: *adapted,
                        };
                        let view_best = &mut view_bests[view_index];
                        if config.view_ensemble && view_best.as_ref().is_none_or(|b| s > b.score) {
                            *view_best = Some(ViewBest { score: s, setting, point: point.clone(), rows: choice.rows });
                        }
                        tried.push((point, s));
                        if best.as_ref().is_none_or(|b| s > b.0) {
                            best = Some((s, setting));
                        }
                    }
                }
            }
        }
    }
    let (tune_score, chosen) = best.unwrap_or((
        0.0,
        Setting {
            c: config.classifier.train.c,
            w: 1.0,
            kind: DenseNormKind::Unit,
            power: 0.0,
            temp: 1.0,
            mix: Mix::default(),
            nb_kind: DenseNormKind::Unit,
            view: 0,
            adapted: false,
        },
    ));
    // The ensemble over views (intent tasks: an out-of-scope threshold is chosen for one model).
    let ensemble_choice = if config.view_ensemble && dense && oos_label.is_none() {
        let labels: Vec<String> = sorted_labels(&tune_train).into_iter().map(String::from).collect();
        ensemble::choose(&view_bests, &labels, &tune, tune_score, &mut tried)
    } else {
        None
    };
    let Setting {
        c: chosen_c,
        w: dense_weight,
        kind: norm_kind,
        power: nb_power,
        temp: probe_temp,
        mix,
        nb_kind,
        view: view_index,
        adapted,
    } = chosen;
    // From here on every split carries the chosen dense block (the grid checked it builds).
    let view = &views[view_index];
    let viewed = |ex: &[Example]| if dense { with_view(ex, view).unwrap_or_else(|| ex.to_vec()) } else { ex.to_vec() };
    // The raw examples stay for the Mahalanobis detector, which builds its own view.
    let (raw_tune_train, raw_tune, raw) = (tune_train, tune, splits);
    let (tune_train, tune) = (viewed(&raw_tune_train), viewed(&raw_tune));
    let splits = &Splits {
        train: viewed(&raw.train),
        dev: Vec::new(),
        test: viewed(&raw.test),
        background: viewed(&raw.background),
    };
    let start = Instant::now();
    // The text-only member's final model is the same for every view: trained once.
    let others = ensemble_choice.iter().flat_map(|c| &c.members).filter(|(i, _)| *i != view_index);
    let lexical = match &member {
        Some(m) if std::iter::once(&chosen).chain(others.map(|(_, s)| s)).any(|s| s.mix.lexical > 0.0) => {
            Some(final_lexical(m, &splits.train, &splits.background, &tune, holdout, config)?)
        }
        _ => None,
    };
    let probe_head = head_probes[view_index].take().filter(|_| mix.head > 0.0);
    let fin = Final { config, background: &splits.background, holdout, dense, lexical: lexical.as_ref() };
    let (mut model, temperature, mut reused_secs) = fin.train(&splits.train, &tune, &chosen, probe_head.as_ref())?;
    // Each other member view's final model, trained as the chosen view's is.
    let ensemble = match &ensemble_choice {
        Some(choice) => {
            let mut members = Vec::new();
            for (i, setting) in &choice.members {
                if *i == view_index {
                    members.push((model.clone(), splits.test.clone()));
                    continue;
                }
                let v = |ex: &[Example]| with_view(ex, &views[*i]).unwrap_or_else(|| ex.to_vec());
                let probe_head = head_probes[*i].take();
                let (m, _, secs) = fin.train(&v(&raw.train), &v(&raw_tune), setting, probe_head.as_ref())?;
                reused_secs += secs;
                members.push((m, v(&raw.test)));
            }
            Some(ViewEnsemble { members })
        }
        None => None,
    };
    let head_epochs = model.head.as_ref().and_then(|h| h.heads().iter().map(|m| m.epochs()).max()).unwrap_or(0);
    // Training time covers everything fitted on train (calibration on dev included).
    let train_secs = start.elapsed().as_secs_f64() + reused_secs;
    let mut distance = None;
    let threshold = if let Some(l) = oos_label {
        // Without a clean tuning set for the final model, the probe (trained without the
        // held-out slice) chooses the threshold and the detector.
        let probe = holdout.then(|| {
            let mut cfg = config.classifier.clone();
            cfg.train.c = chosen_c;
            cfg.train.nb_power = nb_power;
            let probe_norm = if dense { fit_norm(&tune_train, norm_kind) } else { None };
            let tt = prepared(&tune_train, probe_norm.as_ref());
            let bg = adapted.then(|| background_as(view, probe_norm.as_ref())).flatten();
            let mut probe_clf = train_linear(&tt, bg.as_deref(), &cfg, dense_weight).expect("trained above");
            probe_clf.set_temperature(probe_temp);
            let probe_nb = if dense && (mix.alpha > 0.0 || mix.oos_beta > 0.0) {
                neighbours_of(&probe_clf, &tune_train, nb_kind)
            } else {
                None
            };
            FusedClassifier {
                linear: probe_clf,
                neighbours: probe_nb,
                mix,
                dense_norm: probe_norm,
                lexical: member.as_ref().map(|m| m.model.clone()),
                head: probe_head.map(|p| p.head),
            }
        });
        let judge = probe.as_ref().unwrap_or(&model);
        let (chosen_mix, found) = match &config.mahalanobis {
            Some(m) if dense => {
                let (chosen, found, _) = oos_distance::choose(
                    judge,
                    &raw_tune_train,
                    &raw_tune,
                    &tune,
                    mix,
                    &config.oos_betas,
                    m,
                    l,
                    target,
                    &mut tried,
                );
                (chosen, found)
            }
            _ => (mix, None),
        };
        let mut preds = predictions(&parts(judge, &tune), chosen_mix);
        if let Some(d) = &found {
            preds.iter_mut().zip(&raw_tune).for_each(|(p, e)| p.1 = d.confidence(e, p.1));
        }
        let t = choose_threshold(judge.linear.labels(), &preds, &tune, l, target);
        let unit = config.mahalanobis.as_ref().is_none_or(|m| m.unit);
        distance =
            if holdout { found.and_then(|d| d.refit(&raw.train, model.linear.labels(), l, unit)) } else { found };
        model.mix = chosen_mix;
        Some(t)
    } else {
        None
    };
    let oos = oos_label.zip(threshold);
    let labels = model.linear.labels();
    let mut latencies = Vec::with_capacity(splits.test.len());
    let mut preds = Vec::with_capacity(splits.test.len());
    // The detector scores the example's raw views (its own dense block).
    let with_distance = |i: usize, (k, c): (u32, f32)| match &distance {
        Some(d) => (k, d.confidence(&raw.test[i], c)),
        None => (k, c),
    };
    // Test example `i`'s prediction by a model, or by an ensemble over views when there is one.
    let top = |model: &FusedClassifier, ensemble: Option<&ViewEnsemble>, i: usize| match ensemble {
        Some(v) => v.top(i),
        None => {
            let e = &splits.test[i];
            with_distance(i, model.top(&e.text, e.dense.as_deref()))
        }
    };
    for i in 0..splits.test.len() {
        let s = Instant::now();
        let p = top(&model, ensemble.as_ref(), i);
        latencies.push(s.elapsed().as_secs_f64() * 1e6);
        preds.push(p);
    }
    latencies.sort_by(f64::total_cmp);
    let gold: Vec<&str> = splits.test.iter().map(|e| e.label.as_str()).collect();
    let pred: Vec<&str> = preds.iter().map(|p| label_of(labels, *p, oos)).collect();
    let correct = gold.iter().zip(&pred).filter(|(g, p)| g == p).count();
    let (in_scope_accuracy, oos_recall) = match oos {
        Some((l, t)) => {
            let (a, r) = in_scope_and_recall(labels, &preds, &splits.test, l, t);
            (Some(a * 100.0), Some(r * 100.0))
        }
        None => (None, None),
    };
    // The same predictions with the linear models re-loaded from their (quantised) bytes.
    let (model_bytes, quantized) = match &ensemble {
        Some(v) => (v.bytes(), v.reloaded().map(|q| (model.clone(), Some(q)))),
        None => {
            let bytes = model.linear.to_bytes();
            let q =
                TextClassifier::from_bytes(&bytes).ok().map(|q| (FusedClassifier { linear: q, ..model.clone() }, None));
            (bytes.len(), q)
        }
    };
    let quantized_accuracy = match quantized {
        Some((q, q_ensemble)) => {
            let ok = (0..splits.test.len())
                .filter(|i| label_of(labels, top(&q, q_ensemble.as_ref(), *i), oos) == splits.test[*i].label)
                .count();
            ok as f64 / splits.test.len() as f64 * 100.0
        }
        None => 0.0,
    };
    Ok(EvalReport {
        task: task.clone(),
        n_train: splits.train.len(),
        n_tune: tune.len(),
        tuned_on_train_holdout: holdout,
        n_test: splits.test.len(),
        embeddings: dense,
        accuracy: correct as f64 / splits.test.len() as f64 * 100.0,
        macro_f1: macro_f1(&gold, &pred) * 100.0,
        in_scope_accuracy,
        oos_recall,
        oos_threshold: threshold,
        chosen_c,
        dense_weight: if dense { dense_weight } else { 0.0 },
        mix_alpha: mix.alpha,
        mix_tau: mix.tau,
        oos_beta: model.mix.oos_beta,
        lexical_weight: mix.lexical,
        lexical_member: member
            .as_ref()
            .map(|m| format!("C {} nb {} {}", m.c, m.nb_power, if m.adapted { "adapted" } else { "own" })),
        head_weight: mix.head,
        head_epochs,
        mahalanobis: distance.as_ref().map(|d| (d.view.name.clone(), d.detector.shrinkage(), d.weight)),
        dense_norm: norm_kind,
        dense_view: view.name.clone(),
        view_ensemble: ensemble_choice
            .as_ref()
            .map(|c| c.members.iter().map(|(i, _)| views[*i].name.clone()).collect()),
        neighbour_norm: nb_kind,
        nb_power,
        n_background: splits.background.len(),
        adapted,
        tune_score: ensemble_choice.as_ref().map_or(tune_score, |c| c.score),
        grid: tried,
        head_probes: head_summary,
        temperature,
        train_secs,
        latency_p50_us: percentile(&latencies, 0.5),
        latency_p99_us: percentile(&latencies, 0.99),
        model_bytes,
        quantized_accuracy,
    })
}

#[cfg(test)]
mod tests;
