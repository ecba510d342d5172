//! A one-hidden-layer network (or, with no hidden units, a logistic model) over two sentence embeddings
//! and the lexical pair features.
//!
//! A frozen encoder's cosine weighs every dimension alike; which dimensions must agree for two
//! questions to mean the same is learnt here from labelled pairs through the interaction features
//! u⊙v and |u−v| (as in Sentence-BERT's classifier head), next to the lexical features of
//! [`super::pair_features`] (which carry the cosine). Pure: training and inference, no I/O.

#![allow(clippy::needless_range_loop)] // dense numeric loops read better indexed

use thiserror::Error;

use super::{best_threshold, N_PAIR_FEATURES};

/// Why a pair or a training set was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PairError {
    #[error("an embedding is empty")]
    EmptyEmbedding,
    #[error("the two embeddings differ in length ({0} and {1})")]
    DimensionMismatch(usize, usize),
    #[error("a feature or embedding value is not a finite number")]
    NonFinite,
    #[error("the pair has {got} inputs, the model expects {expected}")]
    WrongWidth { expected: usize, got: usize },
    #[error("{pairs} pairs but {labels} labels")]
    LabelCount { pairs: usize, labels: usize },
    #[error("training needs pairs of both labels and a non-empty held-out set")]
    NotEnoughData,
}

/// The network's input for one pair: [u⊙v, |u−v|, lexical features], all finite, checked once here.
#[derive(Debug, Clone, PartialEq)]
pub struct PairInput(Vec<f32>);

impl PairInput {
    /// Builds the input from the lexical features and the two texts' embeddings (same length).
    pub fn new(lexical: &[f32; N_PAIR_FEATURES], a: &[f32], b: &[f32]) -> Result<Self, PairError> {
        if a.is_empty() || b.is_empty() {
            return Err(PairError::EmptyEmbedding);
        }
        if a.len() != b.len() {
            return Err(PairError::DimensionMismatch(a.len(), b.len()));
        }
        let mut x = Vec::with_capacity(2 * a.len() + N_PAIR_FEATURES);
        x.extend(a.iter().zip(b).map(|(u, v)| u * v));
        x.extend(a.iter().zip(b).map(|(u, v)| (u - v).abs()));
        x.extend_from_slice(lexical);
        if x.iter().any(|v| !v.is_finite()) {
            return Err(PairError::NonFinite);
        }
        Ok(PairInput(x))
    }

    /// Appends the embedding of the two questions read together as one text (`"A B"`): a frozen
    /// encoder's attention then sees both, which the two separate embeddings cannot show.
    pub fn with_cross(mut self, cross: &[f32]) -> Result<Self, PairError> {
        if cross.is_empty() {
            return Err(PairError::EmptyEmbedding);
        }
        if cross.iter().any(|v| !v.is_finite()) {
            return Err(PairError::NonFinite);
        }
        self.0.extend_from_slice(cross);
        Ok(self)
    }

    /// Number of inputs (2 × embedding width + the lexical features, + the cross embedding).
    pub fn width(&self) -> usize {
        self.0.len()
    }
}

/// Training settings. The defaults were chosen on held-out slices of the fit splits (lcqmc dev,
/// afqmc train), never on a scored split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    /// Hidden ReLU units; 0 makes the model logistic (one weight per input).
    pub hidden: usize,
    /// Passes over the fit set; the epoch with the best held-out accuracy is kept.
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    /// L2 penalty on the weights (not the biases).
    pub l2: f32,
    pub seed: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { hidden: 64, epochs: 20, batch: 64, learning_rate: 1e-3, l2: 1e-4, seed: 7 }
    }
}

/// The trained network with its decision threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PairNet {
    width: usize,
    hidden: usize,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// hidden × width, row-major (empty when logistic).
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// Output weights: one per hidden unit, or one per input when logistic.
    w2: Vec<f32>,
    b2: f32,
    /// Probability at or above which a pair is called a match (chosen on the held-out set).
    pub threshold: f32,
}

/// What training found.
#[derive(Debug, Clone, PartialEq)]
pub struct NetFit {
    pub net: PairNet,
    /// The kept epoch (1-based).
    pub epoch: usize,
    pub held_out_accuracy: f32,
}

/// splitmix64: a tiny deterministic generator for initialisation and shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// Adam moments for one parameter block.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam { m: vec![0.0; n], v: vec![0.0; n] }
    }
    fn step(&mut self, w: &mut [f32], g: &[f32], lr: f32, t: i32) {
        let (b1, b2) = (0.9f32, 0.999f32);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for i in 0..w.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            w[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

fn sigmoid(s: f32) -> f32 {
    1.0 / (1.0 + (-s).exp())
}

impl PairNet {
    /// Trains on `fit`, keeping the epoch (and threshold) with the best accuracy on `hold`.
    /// Deterministic for a given config.
    pub fn train(
        fit: &[PairInput],
        fit_y: &[bool],
        hold: &[PairInput],
        hold_y: &[bool],
        cfg: &NetConfig,
    ) -> Result<NetFit, PairError> {
        for (xs, ys) in [(fit, fit_y), (hold, hold_y)] {
            if xs.len() != ys.len() {
                return Err(PairError::LabelCount { pairs: xs.len(), labels: ys.len() });
            }
        }
        let both = fit_y.iter().any(|&y| y) && fit_y.iter().any(|&y| !y);
        if !both || hold.is_empty() || cfg.batch == 0 {
            return Err(PairError::NotEnoughData);
        }
        let width = fit[0].width();
        if let Some(bad) = fit.iter().chain(hold).find(|x| x.width() != width) {
            return Err(PairError::WrongWidth { expected: width, got: bad.width() });
        }
        let mut net = PairNet::init(fit, cfg);
        let z: Vec<Vec<f32>> = fit.iter().map(|x| net.standard(&x.0)).collect();
        let (h, wd) = (cfg.hidden, width);
        let n2 = net.w2.len();
        let (mut a1, mut ab1, mut a2, mut ab2) = (Adam::new(h * wd), Adam::new(h), Adam::new(n2), Adam::new(1));
        let (mut g1, mut gb1, mut g2) = (vec![0f32; h * wd], vec![0f32; h], vec![0f32; n2]);
        let (mut pre, mut act) = (vec![0f32; h], vec![0f32; h]);
        let mut rng = Rng(cfg.seed ^ 0x5eed);
        let mut order: Vec<usize> = (0..z.len()).collect();
        let mut best: Option<NetFit> = None;
        let mut t = 0;
        for epoch in 1..=cfg.epochs.max(1) {
            rng.shuffle(&mut order);
            for batch in order.chunks(cfg.batch) {
                g1.iter_mut().for_each(|g| *g = 0.0);
                gb1.iter_mut().for_each(|g| *g = 0.0);
                g2.iter_mut().for_each(|g| *g = 0.0);
                let mut gb2 = 0f32;
                for &i in batch {
                    let p = net.forward(&z[i], &mut pre, &mut act);
                    let e = p - if fit_y[i] { 1.0 } else { 0.0 };
                    gb2 += e;
                    if h == 0 {
                        for (g, x) in g2.iter_mut().zip(&z[i]) {
                            *g += e * x;
                        }
                    }
                    for j in 0..h {
                        g2[j] += e * act[j];
                        if pre[j] > 0.0 {
                            let d = e * net.w2[j];
                            gb1[j] += d;
                            let row = &mut g1[j * wd..(j + 1) * wd];
                            for (g, x) in row.iter_mut().zip(&z[i]) {
                                *g += d * x;
                            }
                        }
                    }
                }
                let n = batch.len() as f32;
                for (g, w) in g1.iter_mut().zip(&net.w1) {
                    *g = *g / n + cfg.l2 * w;
                }
                for (g, w) in g2.iter_mut().zip(&net.w2) {
                    *g = *g / n + cfg.l2 * w;
                }
                gb1.iter_mut().for_each(|g| *g /= n);
                t += 1;
                a1.step(&mut net.w1, &g1, cfg.learning_rate, t);
                ab1.step(&mut net.b1, &gb1, cfg.learning_rate, t);
                a2.step(&mut net.w2, &g2, cfg.learning_rate, t);
                ab2.step(std::slice::from_mut(&mut net.b2), &[gb2 / n], cfg.learning_rate, t);
            }
            let probs: Vec<f32> = hold.iter().map(|x| net.prob_checked(&x.0)).collect();
            let (acc, threshold) = best_threshold(&probs, hold_y);
            if best.as_ref().is_none_or(|b| acc > b.held_out_accuracy) {
                net.threshold = threshold;
                best = Some(NetFit { net: net.clone(), epoch, held_out_accuracy: acc });
            }
        }
        best.ok_or(PairError::NotEnoughData)
    }

    fn init(fit: &[PairInput], cfg: &NetConfig) -> Self {
        let width = fit[0].width();
        let n = fit.len() as f64;
        let mut mean = vec![0f64; width];
        let mut var = vec![0f64; width];
        for x in fit {
            for k in 0..width {
                mean[k] += x.0[k] as f64 / n;
            }
        }
        for x in fit {
            for k in 0..width {
                var[k] += (x.0[k] as f64 - mean[k]).powi(2) / n;
            }
        }
        let mut rng = Rng(cfg.seed);
        // Glorot-uniform limits keep the first activations in a sane range after standardisation.
        let l1 = (6.0 / (width + cfg.hidden) as f32).sqrt();
        let l2 = (6.0 / (cfg.hidden + 1) as f32).sqrt();
        PairNet {
            width,
            hidden: cfg.hidden,
            mean: mean.iter().map(|&m| m as f32).collect(),
            inv_std: var.iter().map(|&v| 1.0 / (v.sqrt() as f32).max(1e-4)).collect(),
            w1: (0..cfg.hidden * width).map(|_| l1 * rng.symmetric()).collect(),
            b1: vec![0.0; cfg.hidden],
            // a logistic model is convex: it starts from zero
            w2: if cfg.hidden == 0 {
                vec![0.0; width]
            } else {
                (0..cfg.hidden).map(|_| l2 * rng.symmetric()).collect()
            },
            b2: 0.0,
            threshold: 0.5,
        }
    }

    fn standard(&self, x: &[f32]) -> Vec<f32> {
        x.iter().zip(&self.mean).zip(&self.inv_std).map(|((x, m), s)| (x - m) * s).collect()
    }

    fn forward(&self, z: &[f32], pre: &mut [f32], act: &mut [f32]) -> f32 {
        if self.hidden == 0 {
            return sigmoid(self.b2 + self.w2.iter().zip(z).map(|(w, x)| w * x).sum::<f32>());
        }
        let mut s = self.b2;
        for j in 0..self.hidden {
            let row = &self.w1[j * self.width..(j + 1) * self.width];
            pre[j] = self.b1[j] + row.iter().zip(z).map(|(w, x)| w * x).sum::<f32>();
            act[j] = pre[j].max(0.0);
            s += self.w2[j] * act[j];
        }
        sigmoid(s)
    }

    /// For inputs already known to have the model's width.
    fn prob_checked(&self, x: &[f32]) -> f32 {
        let (mut pre, mut act) = (vec![0f32; self.hidden], vec![0f32; self.hidden]);
        self.forward(&self.standard(x), &mut pre, &mut act)
    }

    /// Number of inputs the network expects.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Probability that the two questions mean the same.
    pub fn probability(&self, x: &PairInput) -> Result<f32, PairError> {
        if x.width() != self.width {
            return Err(PairError::WrongWidth { expected: self.width, got: x.width() });
        }
        Ok(self.prob_checked(&x.0))
    }

    /// True when the pair is predicted to mean the same.
    pub fn matches(&self, x: &PairInput) -> Result<bool, PairError> {
        Ok(self.probability(x)? >= self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEX: [f32; N_PAIR_FEATURES] = [0.5; N_PAIR_FEATURES];

    /// Random 8-d pairs that "mean the same" when their first two coordinates agree in sign: a rule the
    /// cosine of the whole vectors does not see but u⊙v does.
    fn toy(n: usize, seed: u64) -> (Vec<PairInput>, Vec<bool>) {
        let mut rng = Rng(seed);
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for _ in 0..n {
            let a: Vec<f32> = (0..8).map(|_| rng.symmetric()).collect();
            let b: Vec<f32> = (0..8).map(|_| rng.symmetric()).collect();
            ys.push(a[0] * b[0] > 0.0 && a[1] * b[1] > 0.0);
            xs.push(PairInput::new(&LEX, &a, &b).unwrap());
        }
        (xs, ys)
    }

    fn accuracy(net: &PairNet, xs: &[PairInput], ys: &[bool]) -> f32 {
        xs.iter().zip(ys).filter(|(x, &y)| net.matches(x) == Ok(y)).count() as f32 / ys.len() as f32
    }

    #[test]
    fn learns_an_interaction_the_cosine_misses_and_is_deterministic() {
        let (fx, fy) = toy(1500, 1);
        let (hx, hy) = toy(300, 2);
        let (tx, ty) = toy(500, 3);
        let cfg = NetConfig { hidden: 16, epochs: 40, batch: 32, learning_rate: 3e-3, ..NetConfig::default() };
        let fit = PairNet::train(&fx, &fy, &hx, &hy, &cfg).unwrap();
        let acc = accuracy(&fit.net, &tx, &ty);
        // the majority class is about 75 %; the rule needs the products of two coordinates
        assert!(acc > 0.9, "accuracy on fresh pairs {acc}, held out {}", fit.held_out_accuracy);
        assert!(fit.epoch >= 1 && fit.epoch <= 40);
        assert_eq!(PairNet::train(&fx, &fy, &hx, &hy, &cfg).unwrap(), fit);
    }

    #[test]
    fn with_no_hidden_units_it_is_a_logistic_model_over_the_interactions() {
        // "same meaning" when the first coordinates agree in sign: linear in u⊙v only with the sign of
        // the product, so the logistic model gets most but not all of it
        let mut rng = Rng(9);
        let mut make = |n: usize| -> (Vec<PairInput>, Vec<bool>) {
            (0..n)
                .map(|_| {
                    let a: Vec<f32> = (0..8).map(|_| rng.symmetric()).collect();
                    let b: Vec<f32> = (0..8).map(|_| rng.symmetric()).collect();
                    (PairInput::new(&LEX, &a, &b).unwrap(), a[0] * b[0] > 0.0)
                })
                .unzip()
        };
        let (fx, fy) = make(1500);
        let (hx, hy) = make(300);
        let (tx, ty) = make(500);
        let cfg = NetConfig { hidden: 0, epochs: 30, learning_rate: 1e-2, ..NetConfig::default() };
        let fit = PairNet::train(&fx, &fy, &hx, &hy, &cfg).unwrap();
        assert_eq!(fit.net.w1.len(), 0);
        let acc = accuracy(&fit.net, &tx, &ty);
        assert!(acc > 0.75, "accuracy on fresh pairs {acc}");
    }

    #[test]
    fn refuses_bad_embeddings_and_features() {
        assert_eq!(PairInput::new(&LEX, &[], &[]), Err(PairError::EmptyEmbedding));
        assert_eq!(PairInput::new(&LEX, &[1.0, 0.0], &[1.0]), Err(PairError::DimensionMismatch(2, 1)));
        assert_eq!(PairInput::new(&LEX, &[f32::NAN, 0.0], &[1.0, 0.0]), Err(PairError::NonFinite));
        assert_eq!(PairInput::new(&LEX, &[f32::INFINITY, 0.0], &[1.0, 0.0]), Err(PairError::NonFinite));
        let mut lex = LEX;
        lex[3] = f32::NAN;
        assert_eq!(PairInput::new(&lex, &[1.0, 0.0], &[1.0, 0.0]), Err(PairError::NonFinite));
        let x = PairInput::new(&LEX, &[1.0, 0.0], &[0.0, 1.0]).unwrap();
        assert_eq!(x.width(), 4 + N_PAIR_FEATURES);
        assert_eq!(x.clone().with_cross(&[]), Err(PairError::EmptyEmbedding));
        assert_eq!(x.clone().with_cross(&[0.5, f32::NAN]), Err(PairError::NonFinite));
        assert_eq!(x.with_cross(&[0.5, 0.5, 0.1]).unwrap().width(), 4 + N_PAIR_FEATURES + 3);
    }

    #[test]
    fn refuses_bad_training_sets_and_inputs_of_the_wrong_width() {
        let (fx, fy) = toy(200, 4);
        let (hx, hy) = toy(50, 5);
        let cfg = NetConfig { hidden: 4, epochs: 2, ..NetConfig::default() };
        assert_eq!(
            PairNet::train(&fx, &fy[..10], &hx, &hy, &cfg),
            Err(PairError::LabelCount { pairs: 200, labels: 10 })
        );
        assert_eq!(PairNet::train(&fx, &[true; 200], &hx, &hy, &cfg), Err(PairError::NotEnoughData));
        assert_eq!(PairNet::train(&fx, &fy, &[], &[], &cfg), Err(PairError::NotEnoughData));
        assert_eq!(PairNet::train(&[], &[], &hx, &hy, &cfg), Err(PairError::NotEnoughData));
        let narrow = PairInput::new(&LEX, &[1.0], &[1.0]).unwrap();
        let mut mixed = hx.clone();
        mixed[7] = narrow.clone();
        let wrong = PairError::WrongWidth { expected: 16 + N_PAIR_FEATURES, got: 2 + N_PAIR_FEATURES };
        assert_eq!(PairNet::train(&fx, &fy, &mixed, &hy, &cfg), Err(wrong.clone()));
        let net = PairNet::train(&fx, &fy, &hx, &hy, &cfg).unwrap().net;
        assert_eq!(net.probability(&narrow), Err(wrong.clone()));
        assert_eq!(net.matches(&narrow), Err(wrong));
        let p = net.probability(&hx[0]).unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
}
