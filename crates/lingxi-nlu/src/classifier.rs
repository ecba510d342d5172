//! A fast linear text classifier: TF-IDF hashed features (see [`crate::features`]) fed to
//! one-vs-rest L2-loss linear SVMs trained by dual coordinate descent (the LIBLINEAR
//! solver), with probabilities calibrated by softmax temperature scaling on held-out data,
//! and a compact versioned binary format with 8-bit quantised weights.
//!
//! Dense features (e.g. a sentence embedding) can be appended to the sparse ones with
//! [`TextClassifier::train_with_dense`]: the linear model does not care where a column
//! came from.

use crate::features::{FeatureConfig, SparseVec, Vectorizer};

/// Hyper-parameters of the SVM solver.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Inverse regularisation strength (LIBLINEAR's `C`).
    pub c: f32,
    /// Upper bound on passes over the data per class.
    pub max_epochs: u32,
    /// Stop when the projected-gradient spread falls below this (LIBLINEAR's `eps`).
    pub tolerance: f32,
    /// Seed of the example-order shuffle, so training is reproducible.
    pub seed: u64,
    /// Two-class models only: scale each sparse feature by |NB log-count ratio|^power before
    /// training (NB-SVM, Wang & Manning 2012), folded into the weights afterwards so the
    /// artifact and prediction are unchanged. 0 turns it off.
    pub nb_power: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { c: 0.5, max_epochs: 20, tolerance: 0.1, seed: 0x5EED, nb_power: 0.0 }
    }
}

/// Everything needed to train a [`TextClassifier`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassifierConfig {
    /// Feature extraction.
    pub features: FeatureConfig,
    /// Solver.
    pub train: TrainConfig,
}

/// Why training could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    /// No training examples were given.
    #[error("no training examples")]
    Empty,
    /// Texts, labels (and dense rows) differ in length.
    #[error("{texts} texts but {labels} labels or dense rows")]
    LengthMismatch {
        /// Number of texts.
        texts: usize,
        /// Number of labels or dense rows.
        labels: usize,
    },
    /// A classifier needs at least two labels.
    #[error("need at least two distinct labels, got {0}")]
    TooFewLabels(usize),
}

/// Why bytes could not be read as a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a Lingxi classifier artifact.
    #[error("bad magic bytes")]
    BadMagic,
    /// Written by an incompatible version.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// Truncated or inconsistent content.
    #[error("corrupt model: {0}")]
    Corrupt(&'static str),
}

/// Small deterministic PRNG (SplitMix64): enough for shuffling, no dependency.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// A linear multi-class model over sparse vectors. Two classes share one weight vector.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    n_columns: u32,
    n_classes: u32,
    /// Column-major: weights of column `j` for all outputs are contiguous, so scoring a
    /// sparse vector touches one cache line per feature.
    weights: Vec<f32>,
    bias: Vec<f32>,
    temperature: f32,
}

impl LinearModel {
    fn n_outputs(n_classes: u32) -> usize {
        if n_classes == 2 {
            1
        } else {
            n_classes as usize
        }
    }

    /// Trains one-vs-rest L2-regularised L2-loss SVMs by dual coordinate descent.
    pub fn train(xs: &[SparseVec], ys: &[u32], n_columns: u32, n_classes: u32, cfg: &TrainConfig) -> Self {
        let n_out = Self::n_outputs(n_classes);
        let mut weights = vec![0f32; n_columns as usize * n_out];
        let mut bias = vec![0f32; n_out];
        let xnorm: Vec<f32> = xs.iter().map(|x| x.norm_sq() + 1.0).collect();
        let mut rng = Rng::new(cfg.seed);
        let mut w = vec![0f32; n_columns as usize];
        for k in 0..n_out {
            let target = if n_classes == 2 { 1 } else { k as u32 };
            let y: Vec<f32> = ys.iter().map(|c| if *c == target { 1.0 } else { -1.0 }).collect();
            w.iter_mut().for_each(|v| *v = 0.0);
            let b = dual_cd(xs, &y, &xnorm, &mut w, cfg, &mut rng);
            for (j, v) in w.iter().enumerate() {
                weights[j * n_out + k] = *v;
            }
            bias[k] = b;
        }
        Self { n_columns, n_classes, weights, bias, temperature: 1.0 }
    }

    /// Number of classes.
    pub fn n_classes(&self) -> u32 {
        self.n_classes
    }

    /// Weights, column-major (one per output for each column; two classes share one output).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Bias of each output.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// Raw margins, one per class.
    pub fn scores(&self, x: &SparseVec) -> Vec<f32> {
        let n_out = self.bias.len();
        let mut s = self.bias.clone();
        for (j, v) in x.indices.iter().zip(&x.values) {
            if *j >= self.n_columns {
                continue;
            }
            let row = &self.weights[*j as usize * n_out..(*j as usize + 1) * n_out];
            for (acc, wv) in s.iter_mut().zip(row) {
                *acc += wv * v;
            }
        }
        if self.n_classes == 2 {
            vec![-s[0], s[0]]
        } else {
            s
        }
    }

    /// Calibrated class probabilities for margins `scores`.
    pub fn probabilities(&self, scores: &[f32]) -> Vec<f32> {
        softmax(scores, self.temperature)
    }

    /// Softmax temperature (multiplier on margins) in force.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Sets the softmax temperature.
    pub fn set_temperature(&mut self, t: f32) {
        if t.is_finite() && t > 0.0 {
            self.temperature = t;
        }
    }

    /// The model over `n` columns that scores `x` as this one scores `x` copied into each of
    /// `blocks` (block `k` = columns `k·n .. (k+1)·n`): the sum of those blocks' weights; then
    /// `tail = (start, len)`: `len` more columns whose weights are this model's from `start`.
    pub(crate) fn fold_blocks(&self, n: u32, blocks: &[u32], tail: (u32, u32)) -> LinearModel {
        let n_out = self.bias.len();
        let (tail_start, tail_len) = tail;
        let mut weights = vec![0f32; (n + tail_len) as usize * n_out];
        let sparse = n as usize * n_out;
        for k in blocks {
            let start = (*k * n) as usize * n_out;
            if let Some(block) = self.weights.get(start..start + sparse) {
                weights[..sparse].iter_mut().zip(block).for_each(|(w, b)| *w += b);
            }
        }
        let start = tail_start as usize * n_out;
        if let Some(block) = self.weights.get(start..start + tail_len as usize * n_out) {
            weights[sparse..].copy_from_slice(block);
        }
        LinearModel {
            n_columns: n + tail_len,
            n_classes: self.n_classes,
            weights,
            bias: self.bias.clone(),
            temperature: 1.0,
        }
    }
}

/// LIBLINEAR's `solve_l2r_l1l2_svc` for the L2 loss, with a regularised bias feature of 1
/// and shrinking. Returns the bias; `w` holds the weights.
fn dual_cd(xs: &[SparseVec], y: &[f32], xnorm: &[f32], w: &mut [f32], cfg: &TrainConfig, rng: &mut Rng) -> f32 {
    let l = xs.len();
    let diag = 0.5 / cfg.c.max(1e-6);
    let mut alpha = vec![0f32; l];
    let mut b = 0f32;
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    let (mut pg_max_old, mut pg_min_old) = (f32::INFINITY, f32::NEG_INFINITY);
    for _ in 0..cfg.max_epochs.max(1) {
        rng.shuffle(&mut index[..active]);
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        let mut s = 0;
        while s < active {
            let i = index[s];
            let x = &xs[i];
            let mut dot = b;
            for (j, v) in x.indices.iter().zip(&x.values) {
                dot += w[*j as usize] * v;
            }
            let g = y[i] * dot - 1.0 + diag * alpha[i];
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / (xnorm[i] + diag)).max(0.0);
                let d = (alpha[i] - old) * y[i];
                for (j, v) in x.indices.iter().zip(&x.values) {
                    w[*j as usize] += d * v;
                }
                b += d;
            }
            s += 1;
        }
        if pg_max - pg_min <= cfg.tolerance {
            if active == l {
                break;
            }
            active = l;
            pg_max_old = f32::INFINITY;
            pg_min_old = f32::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f32::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 { f32::NEG_INFINITY } else { pg_min };
    }
    let _ = pg_min_old;
    b
}

/// NB-SVM feature scales for a two-class problem: |log-count ratio|^power per sparse column,
/// from smoothed per-class document frequencies (class 1 vs class 0), normalised so the mean
/// squared norm of the scaled training rows stays 1 (the C grid keeps its meaning).
fn nb_scales(xs: &[SparseVec], ys: &[u32], n_sparse: u32, power: f32) -> Vec<f32> {
    let n = n_sparse as usize;
    let (mut pos, mut neg) = (vec![1.0f64; n], vec![1.0f64; n]);
    for (x, y) in xs.iter().zip(ys) {
        let side = if *y == 1 { &mut pos } else { &mut neg };
        for j in x.indices.iter().filter(|j| (**j as usize) < n) {
            side[*j as usize] += 1.0;
        }
    }
    let (sp, sn) = (pos.iter().sum::<f64>(), neg.iter().sum::<f64>());
    let mut s: Vec<f32> = pos
        .iter()
        .zip(&neg)
        .map(|(p, q)| ((p / sp).ln() - (q / sn).ln()).abs().powf(f64::from(power)) as f32)
        .collect();
    let mut scaled = 0.0f64;
    let mut plain = 0.0f64;
    for x in xs {
        for (j, v) in x.indices.iter().zip(&x.values).filter(|(j, _)| (**j as usize) < n) {
            scaled += f64::from(v * s[*j as usize]).powi(2);
            plain += f64::from(*v).powi(2);
        }
    }
    if scaled > 0.0 && plain > 0.0 {
        let k = (plain / scaled).sqrt() as f32;
        s.iter_mut().for_each(|v| *v *= k);
    }
    s
}

/// Trains the linear model on vectorised rows: NB-SVM scaling (two classes, `cfg.nb_power` > 0)
/// is applied to the first `n_sparse` columns and folded into the weights afterwards.
pub(crate) fn linear_on_vectors(
    mut xs: Vec<SparseVec>,
    ys: &[u32],
    n_sparse: u32,
    n_columns: u32,
    n_classes: u32,
    cfg: &TrainConfig,
) -> LinearModel {
    let power = cfg.nb_power;
    let scales = (n_classes == 2 && power.is_finite() && power > 0.0).then(|| nb_scales(&xs, ys, n_sparse, power));
    if let Some(s) = &scales {
        xs.iter_mut().for_each(|x| scale_columns(x, s));
    }
    let mut model = LinearModel::train(&xs, ys, n_columns, n_classes, cfg);
    if let Some(s) = &scales {
        // w'·(s∘x) = (s∘w')·x: the scaled model is a plain linear model over the usual features.
        let n_out = model.bias.len();
        for (j, sj) in s.iter().enumerate() {
            model.weights[j * n_out..(j + 1) * n_out].iter_mut().for_each(|w| *w *= sj);
        }
    }
    model
}

/// Multiplies the entries of `x` in the first `scales.len()` columns by their scale.
fn scale_columns(x: &mut SparseVec, scales: &[f32]) {
    for (j, v) in x.indices.iter().zip(x.values.iter_mut()) {
        if let Some(s) = scales.get(*j as usize) {
            *v *= s;
        }
    }
}

/// Softmax of `scores × scale`, numerically stable. `scale` multiplies: it is an inverse
/// temperature (what the linear models fit and call their `temperature`); to soften scores by
/// a temperature τ, pass `1 / τ` (the neighbour vote once passed τ itself, benchmarks.md).
pub fn softmax(scores: &[f32], scale: f32) -> Vec<f32> {
    let max = scores.iter().copied().filter(|v| v.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        let n = scores.len().max(1) as f32;
        return vec![1.0 / n; scores.len()];
    }
    let mut p: Vec<f32> = scores.iter().map(|s| if s.is_finite() { ((s - max) * scale).exp() } else { 0.0 }).collect();
    let z: f32 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= z);
    p
}

/// Temperature minimising the negative log-likelihood of `labels` under softmax(T·scores),
/// by golden-section search over log T.
pub fn fit_temperature(scores: &[Vec<f32>], labels: &[u32]) -> f32 {
    if scores.is_empty() {
        return 1.0;
    }
    let nll = |log_t: f64| -> f64 {
        let t = log_t.exp() as f32;
        scores
            .iter()
            .zip(labels)
            .map(|(s, y)| {
                let p = softmax(s, t);
                -(f64::from(p.get(*y as usize).copied().unwrap_or(0.0)).max(1e-12)).ln()
            })
            .sum()
    };
    let (mut a, mut b) = ((0.05f64).ln(), (500.0f64).ln());
    let g = 0.618_033_988_75;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (nll(c), nll(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = nll(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = nll(d);
        }
    }
    (((a + b) / 2.0).exp()) as f32
}

/// One classification result: classes ranked by calibrated probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// (class index, probability), best first; probabilities sum to 1.
    pub ranked: Vec<(u32, f32)>,
    /// Raw margins by class index.
    pub scores: Vec<f32>,
    /// Number of features of the text the model knows (0 = nothing recognisable).
    pub n_known_features: usize,
}

impl Prediction {
    /// Best class and its probability.
    pub fn top(&self) -> (u32, f32) {
        self.ranked.first().copied().unwrap_or((0, 0.0))
    }

    /// Probability gap between the best and the second class.
    pub fn margin(&self) -> f32 {
        match self.ranked.as_slice() {
            [a, b, ..] => a.1 - b.1,
            [a] => a.1,
            [] => 0.0,
        }
    }
}

/// A trained text classifier: vectoriser + linear model + label names. Immutable once
/// built (apart from calibration), cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct TextClassifier {
    vectorizer: Vectorizer,
    model: LinearModel,
    labels: Vec<String>,
}

pub(crate) fn label_ids<L: AsRef<str>>(labels: &[L]) -> (Vec<String>, Vec<u32>) {
    let mut names: Vec<String> = labels.iter().map(|l| l.as_ref().to_string()).collect();
    names.sort();
    names.dedup();
    let ids =
        labels.iter().map(|l| names.binary_search_by(|n| n.as_str().cmp(l.as_ref())).unwrap_or(0) as u32).collect();
    (names, ids)
}

impl TextClassifier {
    /// Trains on `texts` with string `labels` (same length).
    pub fn train<S: AsRef<str>, L: AsRef<str>>(
        texts: &[S],
        labels: &[L],
        config: &ClassifierConfig,
    ) -> Result<Self, TrainError> {
        Self::train_inner(texts, None, labels, config, 0, 1.0)
    }

    /// Trains on text plus one dense feature row per text (e.g. a sentence embedding), whose
    /// L2-normalised values are scaled by `dense_weight` and appended to the sparse features.
    pub fn train_with_dense<S: AsRef<str>, L: AsRef<str>>(
        texts: &[S],
        dense: &[Vec<f32>],
        labels: &[L],
        config: &ClassifierConfig,
        dense_weight: f32,
    ) -> Result<Self, TrainError> {
        if dense.len() != texts.len() {
            return Err(TrainError::LengthMismatch { texts: texts.len(), labels: dense.len() });
        }
        let dim = dense.first().map_or(0, Vec::len) as u32;
        Self::train_inner(texts, Some(dense), labels, config, dim, dense_weight)
    }

    fn train_inner<S: AsRef<str>, L: AsRef<str>>(
        texts: &[S],
        dense: Option<&[Vec<f32>]>,
        labels: &[L],
        config: &ClassifierConfig,
        dense_dim: u32,
        dense_weight: f32,
    ) -> Result<Self, TrainError> {
        if texts.is_empty() {
            return Err(TrainError::Empty);
        }
        if texts.len() != labels.len() {
            return Err(TrainError::LengthMismatch { texts: texts.len(), labels: labels.len() });
        }
        let (names, ys) = label_ids(labels);
        if names.len() < 2 {
            return Err(TrainError::TooFewLabels(names.len()));
        }
        let vectorizer = Vectorizer::fit(config.features.clone(), texts).with_dense(dense_dim, dense_weight);
        let xs: Vec<SparseVec> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| vectorizer.transform(t.as_ref(), dense.map(|d| d[i].as_slice())))
            .collect();
        let model = linear_on_vectors(
            xs,
            &ys,
            vectorizer.n_sparse(),
            vectorizer.n_columns(),
            names.len() as u32,
            &config.train,
        );
        Ok(Self { vectorizer, model, labels: names })
    }

    /// Trains on `texts` and `labels` with `background` examples from other domains (e.g.
    /// reviews of other products) through domain-adaptive feature copies
    /// ([`crate::adapt`]): the result scores `texts`' domain and has the plain form and size.
    /// Classes are `labels`' own; background examples of other labels are left out.
    pub fn train_adapted<S: AsRef<str>, L: AsRef<str>, B: AsRef<str>, M: AsRef<str>>(
        texts: &[S],
        labels: &[L],
        background_texts: &[B],
        background_labels: &[M],
        config: &ClassifierConfig,
    ) -> Result<Self, TrainError> {
        Self::adapted_inner((texts, None, labels), (background_texts, None, background_labels), config, 0.0)
    }

    /// [`Self::train_adapted`] with a dense block (a sentence embedding per text, own and
    /// background) scaled by `dense_weight` as in [`Self::train_with_dense`]. The dense block is
    /// shared between the domains, not copied ([`crate::adapt`]).
    #[allow(clippy::type_complexity)]
    pub fn train_adapted_with_dense<S: AsRef<str>, L: AsRef<str>, B: AsRef<str>, M: AsRef<str>>(
        own: (&[S], &[Vec<f32>], &[L]),
        background: (&[B], &[Vec<f32>], &[M]),
        config: &ClassifierConfig,
        dense_weight: f32,
    ) -> Result<Self, TrainError> {
        if own.1.len() != own.0.len() {
            return Err(TrainError::LengthMismatch { texts: own.0.len(), labels: own.1.len() });
        }
        if background.1.len() != background.0.len() {
            return Err(TrainError::LengthMismatch { texts: background.0.len(), labels: background.1.len() });
        }
        Self::adapted_inner(
            (own.0, Some(own.1), own.2),
            (background.0, Some(background.1), background.2),
            config,
            dense_weight,
        )
    }

    #[allow(clippy::type_complexity)]
    fn adapted_inner<S: AsRef<str>, L: AsRef<str>, B: AsRef<str>, M: AsRef<str>>(
        (texts, dense, labels): (&[S], Option<&[Vec<f32>]>, &[L]),
        (background_texts, background_dense, background_labels): (&[B], Option<&[Vec<f32>]>, &[M]),
        config: &ClassifierConfig,
        dense_weight: f32,
    ) -> Result<Self, TrainError> {
        if texts.is_empty() {
            return Err(TrainError::Empty);
        }
        if texts.len() != labels.len() {
            return Err(TrainError::LengthMismatch { texts: texts.len(), labels: labels.len() });
        }
        if background_texts.len() != background_labels.len() {
            return Err(TrainError::LengthMismatch { texts: background_texts.len(), labels: background_labels.len() });
        }
        let (names, ys) = label_ids(labels);
        if names.len() < 2 {
            return Err(TrainError::TooFewLabels(names.len()));
        }
        let (bg, bg_ys): (Vec<usize>, Vec<u32>) = background_labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let id = names.binary_search_by(|n| n.as_str().cmp(l.as_ref())).ok()?;
                Some((i, id as u32))
            })
            .unzip();
        let all: Vec<&str> =
            texts.iter().map(|t| t.as_ref()).chain(bg.iter().map(|i| background_texts[*i].as_ref())).collect();
        let dim = dense.and_then(|d| d.first()).map_or(0, Vec::len) as u32;
        let vectorizer = Vectorizer::fit(config.features.clone(), &all).with_dense(dim, dense_weight);
        let own: Vec<SparseVec> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| vectorizer.transform(t.as_ref(), dense.map(|d| d[i].as_slice())))
            .collect();
        let bg: Vec<SparseVec> = bg
            .iter()
            .map(|i| vectorizer.transform(background_texts[*i].as_ref(), background_dense.map(|d| d[*i].as_slice())))
            .collect();
        let model = crate::adapt::fit_adapted(
            (own, &ys),
            (bg, &bg_ys),
            vectorizer.n_sparse(),
            vectorizer.dense_dim(),
            names.len() as u32,
            &config.train,
        );
        Ok(Self { vectorizer, model, labels: names })
    }

    /// Label names; class index `i` is `labels()[i]`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Class index of a label name.
    pub fn label_index(&self, name: &str) -> Option<u32> {
        self.labels.binary_search_by(|n| n.as_str().cmp(name)).ok().map(|i| i as u32)
    }

    /// Dimension of the dense block this model expects (0 when text-only).
    pub fn dense_dim(&self) -> u32 {
        self.vectorizer.dense_dim()
    }

    /// Raw margins per class.
    pub fn scores(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        self.model.scores(&self.vectorizer.transform(text, dense))
    }

    /// Ranks classes for `text`.
    pub fn predict(&self, text: &str) -> Prediction {
        self.predict_with_dense(text, None)
    }

    /// Ranks classes for `text` plus its dense features (ignored when the model has none or
    /// the length differs).
    pub fn predict_with_dense(&self, text: &str, dense: Option<&[f32]>) -> Prediction {
        let x = self.vectorizer.transform(text, dense);
        let n_known_features = x.nnz();
        let scores = self.model.scores(&x);
        let probs = self.model.probabilities(&scores);
        let mut ranked: Vec<(u32, f32)> = probs.iter().enumerate().map(|(i, p)| (i as u32, *p)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Prediction { ranked, scores, n_known_features }
    }

    /// Fits the softmax temperature on held-out `texts`/`labels` (labels unknown to the
    /// model are skipped) and returns it.
    pub fn calibrate<S: AsRef<str>, L: AsRef<str>>(&mut self, texts: &[S], labels: &[L]) -> f32 {
        self.calibrate_with_dense(texts, None, labels)
    }

    /// [`Self::calibrate`] with dense rows.
    pub fn calibrate_with_dense<S: AsRef<str>, L: AsRef<str>>(
        &mut self,
        texts: &[S],
        dense: Option<&[Vec<f32>]>,
        labels: &[L],
    ) -> f32 {
        let mut scores = Vec::new();
        let mut ys = Vec::new();
        for (i, (t, l)) in texts.iter().zip(labels).enumerate() {
            if let Some(y) = self.label_index(l.as_ref()) {
                scores.push(self.scores(t.as_ref(), dense.map(|d| d[i].as_slice())));
                ys.push(y);
            }
        }
        let t = fit_temperature(&scores, &ys);
        self.model.set_temperature(t);
        self.model.temperature()
    }

    /// Softmax temperature in force.
    pub fn temperature(&self) -> f32 {
        self.model.temperature()
    }

    /// Sets the softmax temperature (e.g. one fitted on a probe model).
    pub fn set_temperature(&mut self, t: f32) {
        self.model.set_temperature(t);
    }

    /// Number of sparse feature columns.
    pub fn n_features(&self) -> u32 {
        self.vectorizer.n_sparse()
    }

    /// Drops sparse columns whose weights are all below `min_abs` in magnitude. Lossy (the
    /// dropped features no longer count in the L2 norm) but shrinks artifacts a lot.
    pub fn prune(&mut self, min_abs: f32) {
        let n_out = self.model.bias.len();
        let n_sparse = self.vectorizer.n_sparse() as usize;
        let keep: Vec<bool> = (0..n_sparse)
            .map(|j| self.model.weights[j * n_out..(j + 1) * n_out].iter().any(|w| w.abs() >= min_abs))
            .collect();
        let mut weights = Vec::new();
        for (j, k) in keep.iter().enumerate() {
            if *k {
                weights.extend_from_slice(&self.model.weights[j * n_out..(j + 1) * n_out]);
            }
        }
        weights.extend_from_slice(&self.model.weights[n_sparse * n_out..]);
        self.vectorizer.retain_columns(&keep);
        self.model.weights = weights;
        self.model.n_columns = self.vectorizer.n_columns();
    }

    /// Serialises to the compact versioned format (weights quantised to 8 bits).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u8(FORMAT_VERSION);
        let f = self.vectorizer.config();
        w.u8(f.hash_bits);
        for (a, b) in [f.word_ngrams, f.cjk_char_ngrams, f.latin_char_ngrams] {
            w.u8(a);
            w.u8(b);
        }
        w.u8(u8::from(f.jieba_words));
        w.varint(u64::from(f.min_df));
        w.varint(self.labels.len() as u64);
        for l in &self.labels {
            w.varint(l.len() as u64);
            w.buf.extend_from_slice(l.as_bytes());
        }
        let buckets = self.vectorizer.buckets_sorted();
        w.varint(buckets.len() as u64);
        let mut prev = 0u32;
        for b in buckets {
            w.varint(u64::from(b - prev));
            prev = *b;
        }
        // IDF is in [1, ln(N+1)+1]; 8 bits over that range changes norms by < 0.5 %.
        let idf = self.vectorizer.idf();
        let lo = idf.iter().copied().fold(f32::INFINITY, f32::min).min(1.0);
        let hi = idf.iter().copied().fold(lo, f32::max);
        w.f32(lo);
        w.f32(hi);
        let step = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        for v in idf {
            w.u8(((v - lo) / step).round().clamp(0.0, 255.0) as u8);
        }
        w.varint(u64::from(self.vectorizer.dense_dim()));
        w.f32(self.vectorizer.dense_weight());
        w.f32(self.model.temperature);
        let n_out = self.model.bias.len();
        for b in &self.model.bias {
            w.f32(*b);
        }
        // One scale per output: weights of different one-vs-rest classifiers differ in range.
        let mut scales = vec![0f32; n_out];
        for (i, v) in self.model.weights.iter().enumerate() {
            scales[i % n_out] = scales[i % n_out].max(v.abs());
        }
        for s in scales.iter_mut() {
            *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
            w.f32(*s);
        }
        for (i, v) in self.model.weights.iter().enumerate() {
            w.u8(((v / scales[i % n_out]).round().clamp(-127.0, 127.0) as i8) as u8);
        }
        w.buf
    }

    /// Reads a model written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let hash_bits = r.u8()?;
        let mut pairs = [(0u8, 0u8); 3];
        for p in pairs.iter_mut() {
            *p = (r.u8()?, r.u8()?);
        }
        let features = FeatureConfig {
            hash_bits,
            word_ngrams: pairs[0],
            cjk_char_ngrams: pairs[1],
            latin_char_ngrams: pairs[2],
            jieba_words: r.u8()? != 0,
            min_df: r.varint()? as u32,
        };
        let n_labels = r.len(1 << 20)?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let n = r.len(1 << 16)?;
            let s = std::str::from_utf8(r.take(n)?).map_err(|_| FormatError::Corrupt("label"))?;
            labels.push(s.to_string());
        }
        if labels.len() < 2 || labels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(FormatError::Corrupt("labels"));
        }
        let n_buckets = r.len(bytes.len())?;
        let mut buckets = Vec::with_capacity(n_buckets);
        let mut prev = 0u64;
        for i in 0..n_buckets {
            let d = r.varint()?;
            if i > 0 && d == 0 {
                return Err(FormatError::Corrupt("bucket order"));
            }
            prev += d;
            if prev > u64::from(u32::MAX) {
                return Err(FormatError::Corrupt("bucket range"));
            }
            buckets.push(prev as u32);
        }
        let (lo, hi) = (r.f32()?, r.f32()?);
        let step = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let idf: Vec<f32> = r.take(n_buckets)?.iter().map(|q| lo + f32::from(*q) * step).collect();
        let dense_dim = r.len(1 << 20)? as u32;
        let dense_weight = r.f32()?;
        let temperature = r.f32()?;
        let n_classes = labels.len() as u32;
        let n_out = LinearModel::n_outputs(n_classes);
        let mut bias = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            bias.push(r.f32()?);
        }
        let mut scales = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            scales.push(r.f32()?);
        }
        let n_columns = n_buckets + dense_dim as usize;
        let raw = r.take(n_columns * n_out)?;
        let weights = raw.iter().enumerate().map(|(i, q)| f32::from(*q as i8) * scales[i % n_out]).collect();
        if r.pos != bytes.len() {
            return Err(FormatError::Corrupt("trailing bytes"));
        }
        let vectorizer = Vectorizer::from_parts(features, buckets, idf, dense_dim, dense_weight);
        let mut model = LinearModel { n_columns: n_columns as u32, n_classes, weights, bias, temperature: 1.0 };
        model.set_temperature(temperature);
        Ok(Self { vectorizer, model, labels })
    }
}

const MAGIC: &[u8; 4] = b"LXTC";
const FORMAT_VERSION: u8 = 1;

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(FormatError::Corrupt("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn f32(&mut self) -> Result<f32, FormatError> {
        let b = self.take(4)?;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(FormatError::Corrupt("non-finite float"))
        }
    }
    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FormatError::Corrupt("varint"))
    }
    /// A length that must not exceed `max` (guards allocations against corrupt input).
    fn len(&mut self, max: usize) -> Result<usize, FormatError> {
        let v = self.varint()?;
        if v > max as u64 {
            return Err(FormatError::Corrupt("length"));
        }
        Ok(v as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<&'static str>, Vec<&'static str>) {
        let data = [
            ("where is my package", "track"),
            ("track my parcel please", "track"),
            ("my order has not arrived", "track"),
            ("我的快递到哪了", "track"),
            ("i want a refund", "refund"),
            ("give me my money back", "refund"),
            ("refund my order", "refund"),
            ("我要退款", "refund"),
            ("hello there", "greet"),
            ("hi", "greet"),
            ("good morning", "greet"),
            ("你好", "greet"),
        ];
        data.iter().copied().unzip()
    }

    #[test]
    fn learns_a_toy_task_and_round_trips() {
        let (texts, labels) = toy();
        let clf = TextClassifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap();
        let top = |c: &TextClassifier, t: &str| c.labels()[c.predict(t).top().0 as usize].clone();
        assert_eq!(top(&clf, "where is my parcel"), "track");
        assert_eq!(top(&clf, "退款"), "refund");
        assert_eq!(top(&clf, "hello"), "greet");
        let bytes = clf.to_bytes();
        let back = TextClassifier::from_bytes(&bytes).unwrap();
        assert_eq!(back.labels(), clf.labels());
        for t in ["where is my parcel", "退款", "hello", ""] {
            assert_eq!(back.predict(t).top().0, clf.predict(t).top().0);
        }
        assert_eq!(back.to_bytes(), bytes, "serialisation is a fixed point");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            TextClassifier::train::<&str, &str>(&[], &[], &ClassifierConfig::default()).err(),
            Some(TrainError::Empty)
        );
        assert!(matches!(
            TextClassifier::train(&["a", "b"], &["x", "x"], &ClassifierConfig::default()),
            Err(TrainError::TooFewLabels(1))
        ));
        assert_eq!(TextClassifier::from_bytes(b"nope").err(), Some(FormatError::BadMagic));
        let (texts, labels) = toy();
        let bytes = TextClassifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap().to_bytes();
        for cut in [5, bytes.len() / 2, bytes.len() - 1] {
            assert!(TextClassifier::from_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn temperature_fit_is_sane() {
        let scores = vec![vec![1.0, -1.0], vec![-1.0, 1.0], vec![0.5, -0.5]];
        let t = fit_temperature(&scores, &[0, 1, 0]);
        assert!(t > 5.0, "perfectly separated data wants a sharp softmax, got {t}");
    }

    #[test]
    fn nb_scaling_reweights_features_and_keeps_the_artifact_plain() {
        let pos = ["great food fast", "great service", "tasty and great", "fast and tasty", "love it great"];
        let neg = ["slow food", "cold and slow", "bad service", "cold food bad", "never again slow"];
        let texts: Vec<&str> = pos.iter().chain(&neg).copied().collect();
        let labels: Vec<&str> = pos.iter().map(|_| "1").chain(neg.iter().map(|_| "0")).collect();
        let plain = TextClassifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap();
        let mut cfg = ClassifierConfig::default();
        cfg.train.nb_power = 1.0;
        let nb = TextClassifier::train(&texts, &labels, &cfg).unwrap();
        assert_ne!(plain.model.weights, nb.model.weights, "the power must change the model");
        // "food" and "service" occur on both sides: their NB weight is smaller relative to "great".
        let ratio = |m: &TextClassifier, a: &str, b: &str| {
            let s = |t: &str| m.scores(t, None)[1] - m.model.bias[0];
            s(a).abs() / s(b).abs().max(1e-6)
        };
        assert!(ratio(&nb, "food", "great") < ratio(&plain, "food", "great"));
        let top = |m: &TextClassifier, t: &str| m.labels()[m.predict(t).top().0 as usize].clone();
        assert_eq!(top(&nb, "great and tasty"), "1");
        assert_eq!(top(&nb, "slow and cold"), "0");
        // Folded into the weights: the artifact format is the plain one.
        let back = TextClassifier::from_bytes(&nb.to_bytes()).unwrap();
        assert_eq!(top(&back, "great and tasty"), "1");
        // More than two classes: the power is ignored.
        let (texts, labels) = toy();
        let a = TextClassifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap();
        let b = TextClassifier::train(&texts, &labels, &cfg).unwrap();
        assert_eq!(a.model.weights, b.model.weights);
    }
}
