//! Question matching (same meaning or not) with the retrieval analyser: pair features and a logistic model.

#![allow(clippy::needless_range_loop)] // fixed-size numeric loops read better indexed

use std::collections::{HashMap, HashSet};

use crate::text::{Analyzer, TermKind};

mod holdout;
mod net;
pub use holdout::held_out_by_topic;
pub use net::{NetConfig, NetFit, PairError, PairInput, PairNet};

/// Number of pair features.
pub const N_PAIR_FEATURES: usize = 12;

/// Document frequencies for idf-weighted overlap, fitted on any corpus of questions (no labels needed).
#[derive(Debug, Clone, Default)]
pub struct IdfTable {
    df: HashMap<String, u32>,
    n: u32,
}

impl IdfTable {
    /// Counts document frequencies of terms over `texts`.
    pub fn fit(analyzer: &Analyzer, texts: &[&str]) -> Self {
        let mut df: HashMap<String, u32> = HashMap::new();
        for t in texts {
            let set: HashSet<String> = analyzer.terms(t).into_iter().map(|(t, _)| t).collect();
            for t in set {
                *df.entry(t).or_default() += 1;
            }
        }
        IdfTable { df, n: texts.len() as u32 }
    }
    fn idf(&self, t: &str) -> f32 {
        let df = self.df.get(t).copied().unwrap_or(0) as f32;
        (1.0 + (self.n as f32 + 1.0) / (df + 1.0)).ln()
    }
}

fn jaccard<T: Eq + std::hash::Hash>(a: &HashSet<T>, b: &HashSet<T>) -> f32 {
    let u = a.union(b).count();
    if u == 0 {
        0.0
    } else {
        a.intersection(b).count() as f32 / u as f32
    }
}

/// Features of a pair: cosine, idf-weighted term overlap (both directions and min), word / bigram /
/// character Jaccard, length ratio, number mismatch, negation mismatch, exact match, cosine².
pub fn pair_features(
    analyzer: &Analyzer,
    idf: &IdfTable,
    a: &str,
    b: &str,
    cosine: Option<f32>,
) -> [f32; N_PAIR_FEATURES] {
    let ta = analyzer.terms(a);
    let tb = analyzer.terms(b);
    let set = |t: &[(String, TermKind)], k: &[TermKind]| -> HashSet<String> {
        t.iter().filter(|(_, kind)| k.contains(kind)).map(|(s, _)| s.clone()).collect()
    };
    let all_a: HashSet<String> = ta.iter().map(|x| x.0.clone()).collect();
    let all_b: HashSet<String> = tb.iter().map(|x| x.0.clone()).collect();
    let weigh = |s: &HashSet<String>| s.iter().map(|t| idf.idf(t)).sum::<f32>().max(1e-6);
    let shared: HashSet<String> = all_a.intersection(&all_b).cloned().collect();
    let ws = weigh(&shared);
    let (oa, ob) = (ws / weigh(&all_a), ws / weigh(&all_b));
    let words = [TermKind::Word, TermKind::Stem, TermKind::Number];
    let wj = jaccard(&set(&ta, &words), &set(&tb, &words));
    let bj = jaccard(&set(&ta, &[TermKind::Bigram]), &set(&tb, &[TermKind::Bigram, TermKind::Trigram]));
    let uj =
        jaccard(&set(&ta, &[TermKind::Unigram, TermKind::Trigram]), &set(&tb, &[TermKind::Unigram, TermKind::Trigram]));
    let (na, nb) = (analyzer.normalize(a), analyzer.normalize(b));
    let (la, lb) = (na.chars().count() as f32, nb.chars().count() as f32);
    let ratio = la.min(lb) / la.max(lb).max(1.0);
    let nums = |t: &[(String, TermKind)]| set(t, &[TermKind::Number]);
    let num_mismatch = if nums(&ta) != nums(&tb) { 1.0 } else { 0.0 };
    let neg =
        |s: &str| ["不", "没", "别", "无", "未", "not", "n't", "no "].iter().filter(|n| s.contains(*n)).count() % 2;
    let neg_mismatch = if neg(&na) != neg(&nb) { 1.0 } else { 0.0 };
    let c = cosine.unwrap_or(0.0);
    [c, oa, ob, oa.min(ob), wj, bj, uj, ratio, num_mismatch, neg_mismatch, if na == nb { 1.0 } else { 0.0 }, c * c]
}

/// A logistic model over pair features.
#[derive(Debug, Clone, PartialEq)]
pub struct PairModel {
    weights: [f32; N_PAIR_FEATURES],
    bias: f32,
    mean: [f32; N_PAIR_FEATURES],
    std: [f32; N_PAIR_FEATURES],
    /// Probability at or above which a pair is called a match.
    pub threshold: f32,
}

impl PairModel {
    /// Fits on labelled pairs (standardised features, full-batch gradient descent, L2 1e-4). Deterministic.
    pub fn fit(xs: &[[f32; N_PAIR_FEATURES]], ys: &[bool]) -> Self {
        let n = xs.len().max(1) as f32;
        let mut mean = [0f32; N_PAIR_FEATURES];
        let mut std = [0f32; N_PAIR_FEATURES];
        for x in xs {
            for k in 0..N_PAIR_FEATURES {
                mean[k] += x[k] / n;
            }
        }
        for x in xs {
            for k in 0..N_PAIR_FEATURES {
                std[k] += (x[k] - mean[k]).powi(2) / n;
            }
        }
        std.iter_mut().for_each(|s| *s = s.sqrt().max(1e-4));
        let mut m = PairModel { weights: [0.0; N_PAIR_FEATURES], bias: 0.0, mean, std, threshold: 0.5 };
        for _ in 0..800 {
            let mut g = [0f32; N_PAIR_FEATURES];
            let mut gb = 0f32;
            for (x, &y) in xs.iter().zip(ys) {
                let z = m.standard(x);
                let p = m.prob_z(&z);
                let e = p - if y { 1.0 } else { 0.0 };
                for k in 0..N_PAIR_FEATURES {
                    g[k] += e * z[k];
                }
                gb += e;
            }
            for k in 0..N_PAIR_FEATURES {
                m.weights[k] -= 0.5 * (g[k] / n + 1e-4 * m.weights[k]);
            }
            m.bias -= 0.5 * gb / n;
        }
        m
    }
    fn standard(&self, x: &[f32; N_PAIR_FEATURES]) -> [f32; N_PAIR_FEATURES] {
        let mut z = [0f32; N_PAIR_FEATURES];
        for k in 0..N_PAIR_FEATURES {
            z[k] = (x[k] - self.mean[k]) / self.std[k];
        }
        z
    }
    fn prob_z(&self, z: &[f32; N_PAIR_FEATURES]) -> f32 {
        let s: f32 = z.iter().zip(&self.weights).map(|(a, b)| a * b).sum::<f32>() + self.bias;
        1.0 / (1.0 + (-s).exp())
    }
    /// Probability that the pair means the same.
    pub fn probability(&self, x: &[f32; N_PAIR_FEATURES]) -> f32 {
        self.prob_z(&self.standard(x))
    }
    /// Chooses the threshold with the best accuracy on a tuning set and stores it; returns that accuracy.
    pub fn tune_threshold(&mut self, xs: &[[f32; N_PAIR_FEATURES]], ys: &[bool]) -> f32 {
        let probs: Vec<f32> = xs.iter().map(|x| self.probability(x)).collect();
        let (acc, t) = best_threshold(&probs, ys);
        self.threshold = t;
        acc
    }
    /// True when the pair is predicted to match.
    pub fn matches(&self, x: &[f32; N_PAIR_FEATURES]) -> bool {
        self.probability(x) >= self.threshold
    }
}

/// The best accuracy on labelled pairs over probability thresholds 0.01, 0.02, …, 0.99, and the lowest
/// threshold reaching it: `(accuracy, threshold)`; `(0.0, 0.5)` when there is nothing to count.
pub fn best_threshold(probs: &[f32], ys: &[bool]) -> (f32, f32) {
    let mut best = (0.0, 0.5);
    for i in 1..100 {
        let t = i as f32 / 100.0;
        let acc = probs.iter().zip(ys).filter(|(p, &y)| (**p >= t) == y).count() as f32 / ys.len().max(1) as f32;
        if acc > best.0 {
            best = (acc, t);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_finite_and_sensible_even_for_empty_text() {
        let an = Analyzer::default();
        let idf = IdfTable::fit(&an, &["花呗怎么还款", "借呗可以提前还吗", ""]);
        for (a, b) in [("", ""), ("", "花呗怎么还款"), ("花呗怎么还款", "")] {
            let f = pair_features(&an, &idf, a, b, None);
            assert!(f.iter().all(|v| v.is_finite()), "{a:?} {b:?}: {f:?}");
        }
        let same = pair_features(&an, &idf, "花呗怎么还款", "花呗怎么还款", Some(1.0));
        let other = pair_features(&an, &idf, "花呗怎么还款", "借呗可以提前还吗", Some(0.3));
        assert_eq!(same[10], 1.0, "exact match");
        assert!(same[3] > other[3], "idf overlap {} vs {}", same[3], other[3]);
        let negated = pair_features(&an, &idf, "花呗能还款", "花呗不能还款", None);
        assert_eq!(negated[9], 1.0, "negation mismatch");
        let numbers = pair_features(&an, &idf, "3天能到吗", "5天能到吗", None);
        assert_eq!(numbers[8], 1.0, "number mismatch");
    }

    #[test]
    fn best_threshold_separates_and_handles_nothing() {
        let (acc, t) = best_threshold(&[0.1, 0.2, 0.7, 0.9], &[false, false, true, true]);
        assert_eq!(acc, 1.0);
        assert!(t > 0.2 && t <= 0.7, "{t}");
        assert_eq!(best_threshold(&[], &[]), (0.0, 0.5));
        // NaN probabilities never count as a match
        let (acc, _) = best_threshold(&[f32::NAN, 0.9], &[false, true]);
        assert_eq!(acc, 1.0);
    }
}
