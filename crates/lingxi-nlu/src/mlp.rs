//! A small trained non-linear head over a frozen sentence embedding: one hidden ReLU layer,
//! dropout, AdamW on softmax cross-entropy, early stopping on a tuning split, then a softmax
//! temperature fitted on that split. The linear model of [`crate::fused`] can only draw
//! hyperplanes through the embedding; a hidden layer can carve classes that are not linearly
//! separable in it, and its errors differ from the linear model's, so the evaluation may mix
//! its probabilities in ([`crate::fused::Mix::head`]).
//!
//! Pure Rust, single thread, deterministic for a seed: the loops are written so that the
//! compiler vectorises the dot products (eight partial sums) and the updates.

use crate::classifier::{fit_temperature, softmax, Rng};

/// Training settings of an [`MlpHead`].
#[derive(Debug, Clone, PartialEq)]
pub struct MlpConfig {
    /// Hidden units.
    pub hidden: usize,
    /// Most passes over the training data.
    pub max_epochs: usize,
    /// Epochs without a better tuning score before training stops (with a tuning split).
    pub patience: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Decoupled weight decay (AdamW), per step relative to the step size.
    pub weight_decay: f32,
    /// Examples per update.
    pub batch: usize,
    /// Probability of dropping a hidden unit while training.
    pub dropout: f32,
    /// Probability of dropping an input coordinate while training.
    pub input_dropout: f32,
    /// Seed of the initialisation, the shuffles and the dropout masks.
    pub seed: u64,
    /// Heads an [`MlpEnsemble`] trains (seeds `seed`, `seed + 1`, …) and averages.
    pub members: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: 512,
            max_epochs: 40,
            patience: 6,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch: 32,
            dropout: 0.3,
            input_dropout: 0.1,
            seed: 20_261_126,
            members: 1,
        }
    }
}

/// Why an [`MlpHead`] could not be trained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MlpError {
    /// No usable training row (empty, or every row of another length than the first).
    #[error("no training rows")]
    Empty,
    /// A label is not below the number of classes.
    #[error("label {0} out of range")]
    Label(u32),
    /// Bytes that are not an encoded head.
    #[error("not an MLP head ({0})")]
    Format(&'static str),
}

/// A trained head: standardisation, hidden layer, output layer, temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpHead {
    dim: usize,
    hidden: usize,
    n_classes: usize,
    /// Per-dimension shift and scale of the unit-length input (training statistics): the
    /// embedding's coordinates have very different spreads, and Adam trains faster on
    /// standardised inputs.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// `hidden × dim`, row-major (one row per hidden unit).
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// `n_classes × hidden`, row-major.
    w2: Vec<f32>,
    b2: Vec<f32>,
    temperature: f32,
    /// Epochs trained (the best epoch under early stopping).
    epochs: usize,
}

/// Training rows and their class indices.
pub struct Labelled<'a> {
    /// One vector per example (all of the first row's length).
    pub rows: &'a [&'a [f32]],
    /// Class index per row.
    pub classes: &'a [u32],
}

impl MlpHead {
    /// Trains on `train`. With a `tune` split, training stops after `patience` epochs without
    /// a better tuning accuracy (ties broken by log-loss), keeps the best epoch's weights and
    /// fits the temperature on `tune`; without one it runs `max_epochs` at temperature 1.
    pub fn train(
        train: &Labelled<'_>,
        n_classes: usize,
        tune: Option<&Labelled<'_>>,
        cfg: &MlpConfig,
    ) -> Result<Self, MlpError> {
        let dim = train.rows.first().map_or(0, |r| r.len());
        let usable: Vec<(Vec<f32>, u32)> = train
            .rows
            .iter()
            .zip(train.classes)
            .filter(|(r, _)| r.len() == dim && dim > 0)
            .map(|(r, c)| (unit(r), *c))
            .collect();
        if usable.is_empty() || n_classes == 0 {
            return Err(MlpError::Empty);
        }
        if let Some((_, c)) = usable.iter().find(|(_, c)| *c as usize >= n_classes) {
            return Err(MlpError::Label(*c));
        }
        let (mean, inv_std) = standardisation(usable.iter().map(|(r, _)| r.as_slice()), dim);
        let hidden = cfg.hidden.max(1);
        let mut rng = Rng::new(cfg.seed);
        // He initialisation for the ReLU layer, Glorot-like for the output.
        let w1 = gaussian(&mut rng, hidden * dim, (2.0 / dim as f32).sqrt());
        let w2 = gaussian(&mut rng, n_classes * hidden, (1.0 / hidden as f32).sqrt());
        let mut head = Self {
            dim,
            hidden,
            n_classes,
            mean,
            inv_std,
            w1,
            b1: vec![0.0; hidden],
            w2,
            b2: vec![0.0; n_classes],
            temperature: 1.0,
            epochs: 0,
        };
        let xs: Vec<Vec<f32>> = usable.iter().map(|(r, _)| head.standardise(r)).collect();
        let ys: Vec<u32> = usable.iter().map(|(_, c)| *c).collect();
        let tune_xs: Option<(Vec<Vec<f32>>, &[u32])> = tune.map(|t| {
            let rows = t.rows.iter().map(|r| head.prepare(r).unwrap_or_else(|| vec![0.0; dim])).collect();
            (rows, t.classes)
        });
        let mut opt = Adam::new(&head);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut best: Option<((usize, f64), Self)> = None;
        let mut since_best = 0;
        let mut grads = Grads::zeros(&head);
        let mut scratch = Scratch::new(hidden, n_classes, dim);
        for epoch in 1..=cfg.max_epochs.max(1) {
            rng.shuffle(&mut order);
            for batch in order.chunks(cfg.batch.max(1)) {
                grads.clear();
                for &i in batch {
                    head.accumulate(&xs[i], ys[i], cfg, &mut rng, &mut grads, &mut scratch);
                }
                opt.step(&mut head, &grads, batch.len(), cfg);
            }
            head.epochs = epoch;
            let Some((txs, tys)) = &tune_xs else { continue };
            let score = head.tune_score(txs, tys);
            if best.as_ref().is_none_or(|(b, _)| score.0 > b.0 || (score.0 == b.0 && score.1 < b.1)) {
                best = Some((score, head.clone()));
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= cfg.patience {
                    break;
                }
            }
        }
        if let Some((_, kept)) = best {
            head = kept;
        }
        if let Some((txs, tys)) = &tune_xs {
            let logits: Vec<Vec<f32>> = txs.iter().map(|x| head.logits(x)).collect();
            head.temperature = fit_temperature(&logits, tys);
        }
        Ok(head)
    }

    /// Class probabilities for an embedding (uniform for a vector of the wrong length or zero).
    pub fn probabilities(&self, v: &[f32]) -> Vec<f32> {
        match self.prepare(v) {
            Some(x) => softmax(&self.logits(&x), self.temperature),
            None => vec![1.0 / self.n_classes as f32; self.n_classes],
        }
    }

    /// Epochs trained (the kept epoch under early stopping): what a final model trained
    /// without a tuning split should run.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// The fitted softmax temperature.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Replaces the temperature (a final model trained without a tuning split reuses the
    /// probe's).
    pub fn set_temperature(&mut self, t: f32) {
        self.temperature = t;
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn prepare(&self, v: &[f32]) -> Option<Vec<f32>> {
        let u = unit(v);
        (v.len() == self.dim && u.iter().any(|x| *x != 0.0)).then(|| self.standardise(&u))
    }

    fn standardise(&self, unit: &[f32]) -> Vec<f32> {
        unit.iter().zip(&self.mean).zip(&self.inv_std).map(|((x, m), s)| (x - m) * s).collect()
    }

    fn hidden_of(&self, x: &[f32], h: &mut [f32]) {
        for (j, hj) in h.iter_mut().enumerate() {
            *hj = (dot(&self.w1[j * self.dim..(j + 1) * self.dim], x) + self.b1[j]).max(0.0);
        }
    }

    fn logits(&self, x: &[f32]) -> Vec<f32> {
        let mut h = vec![0.0; self.hidden];
        self.hidden_of(x, &mut h);
        (0..self.n_classes).map(|c| dot(&self.w2[c * self.hidden..(c + 1) * self.hidden], &h) + self.b2[c]).collect()
    }

    /// (accuracy, mean log-loss at temperature 1) on prepared rows.
    fn tune_score(&self, xs: &[Vec<f32>], ys: &[u32]) -> (usize, f64) {
        let (mut ok, mut loss) = (0, 0.0f64);
        for (x, y) in xs.iter().zip(ys) {
            let p = softmax(&self.logits(x), 1.0);
            let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
            ok += usize::from(best == *y as usize);
            loss -= f64::from(p.get(*y as usize).copied().unwrap_or(0.0).max(1e-12)).ln();
        }
        (ok, loss / xs.len().max(1) as f64)
    }

    /// Adds one example's cross-entropy gradient (with dropout) to `g`.
    fn accumulate(&self, x: &[f32], y: u32, cfg: &MlpConfig, rng: &mut Rng, g: &mut Grads, s: &mut Scratch) {
        let keep_in = 1.0 - cfg.input_dropout.clamp(0.0, 0.95);
        for (xi, v) in s.x.iter_mut().zip(x) {
            *xi = if cfg.input_dropout > 0.0 && !keeps(rng, keep_in) { 0.0 } else { v / keep_in };
        }
        self.hidden_of(&s.x, &mut s.h);
        let keep = 1.0 - cfg.dropout.clamp(0.0, 0.95);
        for hj in s.h.iter_mut() {
            // Inverted dropout: kept units are scaled up so prediction needs no rescaling.
            *hj = if cfg.dropout > 0.0 && !keeps(rng, keep) { 0.0 } else { *hj / keep };
        }
        for c in 0..self.n_classes {
            s.out[c] = dot(&self.w2[c * self.hidden..(c + 1) * self.hidden], &s.h) + self.b2[c];
        }
        let p = softmax(&s.out, 1.0);
        s.dh.iter_mut().for_each(|v| *v = 0.0);
        for (c, pc) in p.iter().enumerate() {
            let d = pc - f32::from(u8::from(c == y as usize));
            g.b2[c] += d;
            let row = c * self.hidden..(c + 1) * self.hidden;
            axpy(&mut g.w2[row.clone()], d, &s.h);
            axpy(&mut s.dh, d, &self.w2[row]);
        }
        for j in 0..self.hidden {
            // A dropped or inactive unit passes no gradient (its h is 0 after the ReLU/mask).
            if s.h[j] <= 0.0 {
                continue;
            }
            let d = s.dh[j] / keep;
            g.b1[j] += d;
            axpy(&mut g.w1[j * self.dim..(j + 1) * self.dim], d, &s.x);
        }
    }

    /// The head as bytes (little-endian; format version 1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 4 * (self.w1.len() + self.w2.len() + 2 * self.dim + 64));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        for n in [self.dim, self.hidden, self.n_classes, self.epochs] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        out.extend_from_slice(&self.temperature.to_le_bytes());
        for block in [&self.mean, &self.inv_std, &self.w1, &self.b1, &self.w2, &self.b2] {
            block.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        out
    }

    /// Decodes [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlpError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(MlpError::Format("magic"))?;
        let (&version, rest) = rest.split_first().ok_or(MlpError::Format("truncated"))?;
        if version != FORMAT_VERSION {
            return Err(MlpError::Format("unknown version"));
        }
        let mut words = rest.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]);
        if rest.len() % 4 != 0 {
            return Err(MlpError::Format("truncated"));
        }
        let mut int = || words.next().map(|w| u32::from_le_bytes(w) as usize).ok_or(MlpError::Format("truncated"));
        let (dim, hidden, n_classes, epochs) = (int()?, int()?, int()?, int()?);
        let floats: Vec<f32> =
            rest[16..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let sizes = [1, dim, dim, hidden * dim, hidden, n_classes * hidden, n_classes];
        if floats.len() != sizes.iter().sum::<usize>() || dim == 0 || hidden == 0 || n_classes == 0 {
            return Err(MlpError::Format("sizes"));
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let v = floats[at..at + n].to_vec();
            at += n;
            v
        };
        let temperature = take(1)[0];
        Ok(Self {
            dim,
            hidden,
            n_classes,
            mean: take(dim),
            inv_std: take(dim),
            w1: take(hidden * dim),
            b1: take(hidden),
            w2: take(n_classes * hidden),
            b2: take(n_classes),
            temperature,
            epochs,
        })
    }
}

/// Heads of different seeds whose probabilities are averaged: one head's accuracy varies with
/// its seed by several tenths of a point (benchmarks.md, round 4), the average much less.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpEnsemble {
    heads: Vec<MlpHead>,
}

impl MlpEnsemble {
    /// Trains `cfg.members` heads (at least one) with seeds `cfg.seed + k`.
    pub fn train(
        train: &Labelled<'_>,
        n_classes: usize,
        tune: Option<&Labelled<'_>>,
        cfg: &MlpConfig,
    ) -> Result<Self, MlpError> {
        let heads = (0..cfg.members.max(1) as u64)
            .map(|k| {
                MlpHead::train(train, n_classes, tune, &MlpConfig { seed: cfg.seed.wrapping_add(k), ..cfg.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { heads })
    }

    /// Trains like `probe` without a tuning split: member `k` with seed `cfg.seed + k` for the
    /// epochs `probe`'s member `k` kept, at its temperature (for a final model that has seen
    /// the probe's tuning data).
    pub fn retrain_like(
        probe: &Self,
        train: &Labelled<'_>,
        n_classes: usize,
        cfg: &MlpConfig,
    ) -> Result<Self, MlpError> {
        let heads = probe
            .heads
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let cfg = MlpConfig { seed: cfg.seed.wrapping_add(k as u64), max_epochs: p.epochs(), ..cfg.clone() };
                let mut head = MlpHead::train(train, n_classes, None, &cfg)?;
                head.set_temperature(p.temperature());
                Ok(head)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { heads })
    }

    /// The average of the members' class probabilities.
    pub fn probabilities(&self, v: &[f32]) -> Vec<f32> {
        let mut sum = vec![0.0f32; self.n_classes()];
        for h in &self.heads {
            sum.iter_mut().zip(h.probabilities(v)).for_each(|(s, p)| *s += p);
        }
        let n = self.heads.len().max(1) as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        sum
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.heads.first().map_or(0, MlpHead::n_classes)
    }

    /// The members.
    pub fn heads(&self) -> &[MlpHead] {
        &self.heads
    }

    /// The ensemble as bytes: `LXME`, version 1, the member count, then each member's
    /// [`MlpHead::to_bytes`] after its length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"LXME".to_vec();
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&(self.heads.len() as u32).to_le_bytes());
        for h in &self.heads {
            let bytes = h.to_bytes();
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Decodes [`Self::to_bytes`]; members must agree on their input length and classes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MlpError> {
        let rest = bytes.strip_prefix(b"LXME".as_slice()).ok_or(MlpError::Format("magic"))?;
        let (&version, rest) = rest.split_first().ok_or(MlpError::Format("truncated"))?;
        if version != FORMAT_VERSION {
            return Err(MlpError::Format("unknown version"));
        }
        let (count, mut rest) = rest.split_at_checked(4).ok_or(MlpError::Format("truncated"))?;
        let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
        let mut heads = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let (len, tail) = rest.split_at_checked(8).ok_or(MlpError::Format("truncated"))?;
            let len = u64::from_le_bytes(len.try_into().map_err(|_| MlpError::Format("truncated"))?) as usize;
            let (head, tail) = tail.split_at_checked(len).ok_or(MlpError::Format("truncated"))?;
            heads.push(MlpHead::from_bytes(head)?);
            rest = tail;
        }
        let first = heads.first().ok_or(MlpError::Format("no member"))?;
        if !rest.is_empty() || heads.iter().any(|h| h.dim != first.dim || h.n_classes != first.n_classes) {
            return Err(MlpError::Format("members"));
        }
        Ok(Self { heads })
    }
}

const MAGIC: &[u8; 4] = b"LXMH";
const FORMAT_VERSION: u8 = 1;

/// Per-example buffers reused across the training loop.
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    dh: Vec<f32>,
    out: Vec<f32>,
}

impl Scratch {
    fn new(hidden: usize, n_classes: usize, dim: usize) -> Self {
        Self { x: vec![0.0; dim], h: vec![0.0; hidden], dh: vec![0.0; hidden], out: vec![0.0; n_classes] }
    }
}

/// Gradients (or Adam moments) shaped like the head's parameters.
struct Grads {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl Grads {
    fn zeros(h: &MlpHead) -> Self {
        Self {
            w1: vec![0.0; h.w1.len()],
            b1: vec![0.0; h.b1.len()],
            w2: vec![0.0; h.w2.len()],
            b2: vec![0.0; h.b2.len()],
        }
    }

    fn clear(&mut self) {
        for v in [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// AdamW state.
struct Adam {
    m: Grads,
    v: Grads,
    t: i32,
}

impl Adam {
    fn new(h: &MlpHead) -> Self {
        Self { m: Grads::zeros(h), v: Grads::zeros(h), t: 0 }
    }

    fn step(&mut self, head: &mut MlpHead, g: &Grads, batch: usize, cfg: &MlpConfig) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let lr = cfg.learning_rate * (1.0 - B2.powi(self.t)).sqrt() / (1.0 - B1.powi(self.t));
        let scale = 1.0 / batch.max(1) as f32;
        let decay = 1.0 - cfg.learning_rate * cfg.weight_decay;
        let update = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], decayed: bool| {
            for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = g * scale;
                *m = B1 * *m + (1.0 - B1) * g;
                *v = B2 * *v + (1.0 - B2) * g * g;
                if decayed {
                    *w *= decay;
                }
                *w -= lr * *m / (v.sqrt() + 1e-8);
            }
        };
        update(&mut head.w1, &g.w1, &mut self.m.w1, &mut self.v.w1, true);
        update(&mut head.b1, &g.b1, &mut self.m.b1, &mut self.v.b1, false);
        update(&mut head.w2, &g.w2, &mut self.m.w2, &mut self.v.w2, true);
        update(&mut head.b2, &g.b2, &mut self.m.b2, &mut self.v.b2, false);
    }
}

fn keeps(rng: &mut Rng, p: f32) -> bool {
    ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) < p
}

/// Standard normal samples times `scale` (Box–Muller).
fn gaussian(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    let mut uniform = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32 * scale
        })
        .collect()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm.is_finite() && norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        vec![0.0; v.len()]
    }
}

fn standardisation<'a>(rows: impl Iterator<Item = &'a [f32]> + Clone, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut n = 0f64;
    let mut mean = vec![0f64; dim];
    for r in rows.clone() {
        n += 1.0;
        mean.iter_mut().zip(r).for_each(|(m, x)| *m += f64::from(*x));
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1.0));
    let mut var = vec![0f64; dim];
    for r in rows {
        var.iter_mut().zip(r).zip(&mean).for_each(|((v, x), m)| *v += (f64::from(*x) - m).powi(2));
    }
    // A floor keeps a constant coordinate from becoming the largest input.
    let inv_std = var.iter().map(|v| (1.0 / (v / n.max(1.0)).sqrt().max(1e-4)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), inv_std)
}

/// Dot product with eight partial sums, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y ← y + a·x`.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XOR-like data: class = sign(x0)·sign(x1) with noise dimensions; no hyperplane separates it.
    fn xor(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let mut u = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        (0..n)
            .map(|_| {
                let (a, b) = (u(), u());
                let v = vec![a, b, 0.1 * u(), 0.1 * u(), 1.0];
                (v, u32::from(a * b > 0.0))
            })
            .unzip()
    }

    fn train_xor(cfg: &MlpConfig) -> (MlpHead, f64) {
        let (x, y) = xor(600, 1);
        let (tx, ty) = xor(200, 2);
        let (sx, sy) = xor(400, 3);
        let rows: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
        let trows: Vec<&[f32]> = tx.iter().map(Vec::as_slice).collect();
        let tune = Labelled { rows: &trows, classes: &ty };
        let head = MlpHead::train(&Labelled { rows: &rows, classes: &y }, 2, Some(&tune), cfg).unwrap();
        let ok = sx.iter().zip(&sy).filter(|(v, c)| top(&head.probabilities(v)) == **c as usize).count();
        (head, ok as f64 / sx.len() as f64)
    }

    fn top(p: &[f32]) -> usize {
        p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
    }

    #[test]
    fn learns_xor_which_no_linear_model_can() {
        let cfg = MlpConfig { hidden: 32, max_epochs: 60, patience: 10, learning_rate: 0.01, ..MlpConfig::default() };
        let (head, acc) = train_xor(&cfg);
        assert!(acc > 0.9, "held-out accuracy {acc}");
        // The best linear rule on this data is near chance: every hyperplane through the
        // four quadrants gets at most ~half of two of them right. A linear model here is the
        // same head with one hidden unit that can only act as a ramp; it stays far below.
        let (_, linearish) = train_xor(&MlpConfig { hidden: 1, ..cfg.clone() });
        assert!(linearish < 0.8, "one unit should not solve XOR: {linearish}");
        assert!(head.epochs() >= 1 && head.temperature() > 0.0);
        let p = head.probabilities(&[0.5, 0.5, 0.0, 0.0, 1.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let cfg = MlpConfig { hidden: 16, max_epochs: 5, ..MlpConfig::default() };
        let (a, _) = train_xor(&cfg);
        let (b, _) = train_xor(&cfg);
        assert_eq!(a, b);
        let (c, _) = train_xor(&MlpConfig { seed: 7, ..cfg });
        assert_ne!(a, c, "another seed, other weights");
    }

    #[test]
    fn bytes_round_trip_and_bad_bytes_are_refused() {
        let (head, _) = train_xor(&MlpConfig { hidden: 8, max_epochs: 3, ..MlpConfig::default() });
        let bytes = head.to_bytes();
        assert_eq!(MlpHead::from_bytes(&bytes).unwrap(), head);
        assert_eq!(MlpHead::from_bytes(&bytes[..bytes.len() - 4]), Err(MlpError::Format("sizes")));
        assert_eq!(MlpHead::from_bytes(b"nope"), Err(MlpError::Format("magic")));
        let mut future = bytes.clone();
        future[4] = 2;
        assert_eq!(MlpHead::from_bytes(&future), Err(MlpError::Format("unknown version")));
    }

    #[test]
    fn an_ensemble_averages_heads_of_consecutive_seeds_and_round_trips() {
        let (x, y) = xor(300, 1);
        let rows: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
        let train = Labelled { rows: &rows, classes: &y };
        let cfg = MlpConfig { hidden: 8, max_epochs: 3, members: 3, ..MlpConfig::default() };
        let bag = MlpEnsemble::train(&train, 2, None, &cfg).unwrap();
        assert_eq!(bag.heads().len(), 3);
        let second = MlpHead::train(&train, 2, None, &MlpConfig { seed: cfg.seed + 1, ..cfg.clone() }).unwrap();
        assert_eq!(bag.heads()[1], second, "member k has seed + k");
        let v = [0.3, -0.2, 0.0, 0.0, 1.0];
        let mean: Vec<f32> =
            (0..2).map(|c| bag.heads().iter().map(|h| h.probabilities(&v)[c]).sum::<f32>() / 3.0).collect();
        assert_eq!(bag.probabilities(&v), mean);
        let bytes = bag.to_bytes();
        assert_eq!(MlpEnsemble::from_bytes(&bytes).unwrap(), bag);
        assert_eq!(MlpEnsemble::from_bytes(&bytes[..bytes.len() - 1]), Err(MlpError::Format("truncated")));
        let retrained = MlpEnsemble::retrain_like(&bag, &train, 2, &cfg).unwrap();
        assert_eq!(retrained, bag, "no tuning split: the same epochs and seeds give the same heads");
    }

    #[test]
    fn bad_inputs_are_errors_or_uniform() {
        let rows: Vec<&[f32]> = vec![&[1.0, 0.0]];
        assert_eq!(
            MlpHead::train(&Labelled { rows: &rows, classes: &[3] }, 2, None, &MlpConfig::default()),
            Err(MlpError::Label(3))
        );
        assert_eq!(
            MlpHead::train(&Labelled { rows: &[], classes: &[] }, 2, None, &MlpConfig::default()),
            Err(MlpError::Empty)
        );
        let cfg = MlpConfig { hidden: 4, max_epochs: 2, ..MlpConfig::default() };
        let head = MlpHead::train(&Labelled { rows: &rows, classes: &[1] }, 2, None, &cfg).unwrap();
        assert_eq!(head.epochs(), 2, "without a tuning split every epoch runs");
        assert_eq!(head.probabilities(&[1.0]), vec![0.5, 0.5], "wrong length");
        assert_eq!(head.probabilities(&[0.0, 0.0]), vec![0.5, 0.5], "zero vector");
    }
}
