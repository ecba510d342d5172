//! Intent classification with a sentence embedding: the linear model over lexical features
//! plus the embedding (`TextClassifier::train_with_dense`), mixed with a nearest-neighbour vote
//! over the training embeddings. The linear model generalises over words; the neighbours catch
//! paraphrases that share no words with any class's vocabulary but sit next to one training
//! example. The mix weight and the neighbours' temperature are chosen on held-out data.

use crate::classifier::{softmax, TextClassifier};

/// Training embeddings by class, for the nearest-neighbour vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Row-major unit vectors, `dim` floats each.
    rows: Vec<f32>,
    classes: Vec<u32>,
    dim: usize,
    n_classes: usize,
}

impl Neighbours {
    /// Indexes `vectors` (one per example, same length, any norm) labelled by class index.
    /// Rows whose length differs from the first are skipped.
    pub fn new(vectors: &[&[f32]], classes: &[u32], n_classes: usize) -> Self {
        let dim = vectors.first().map_or(0, |v| v.len());
        let mut rows = Vec::with_capacity(vectors.len() * dim);
        let mut kept = Vec::with_capacity(vectors.len());
        for (v, c) in vectors.iter().zip(classes) {
            if v.len() != dim || (*c as usize) >= n_classes {
                continue;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            rows.extend(v.iter().map(|x| x / norm));
            kept.push(*c);
        }
        Self { rows, classes: kept, dim, n_classes }
    }

    /// Per class, the highest cosine between `query` and one of its examples (−1 for a class
    /// without examples, or for every class when the query has the wrong length).
    pub fn class_similarity(&self, query: &[f32]) -> Vec<f32> {
        let mut best = vec![-1.0f32; self.n_classes];
        if query.len() != self.dim || self.dim == 0 {
            return best;
        }
        let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        for (row, c) in self.rows.chunks_exact(self.dim).zip(&self.classes) {
            let dot: f32 = row.iter().zip(query).map(|(a, b)| a * b).sum::<f32>() / norm;
            let slot = &mut best[*c as usize];
            if dot > *slot {
                *slot = dot;
            }
        }
        best
    }
}

/// How the two halves are mixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// Weight of the neighbours' distribution (0 = linear model only).
    pub alpha: f32,
    /// Softmax temperature over the neighbours' cosines.
    pub tau: f32,
}

impl Default for Mix {
    fn default() -> Self {
        Self { alpha: 0.0, tau: 0.05 }
    }
}

/// The linear model and, when embeddings are given, the neighbours.
#[derive(Debug, Clone)]
pub struct FusedClassifier {
    /// The linear model (with the dense block when trained with embeddings).
    pub linear: TextClassifier,
    /// The neighbours over the training embeddings.
    pub neighbours: Option<Neighbours>,
    /// The mix in force.
    pub mix: Mix,
}

impl FusedClassifier {
    /// Class probabilities for a text and its embedding (the linear model's alone when either
    /// the embedding or the neighbours are missing).
    pub fn probabilities(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        let mut p = self.linear_probabilities(text, dense);
        match (&self.neighbours, dense) {
            (Some(nb), Some(q)) if self.mix.alpha > 0.0 => {
                let votes = softmax(&nb.class_similarity(q), self.mix.tau);
                mix_into(&mut p, &votes, self.mix.alpha);
                p
            }
            _ => p,
        }
    }

    /// The linear model's class probabilities alone, by class index.
    pub fn linear_probabilities(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        let linear = self.linear.predict_with_dense(text, dense);
        let mut p = vec![0.0f32; linear.scores.len()];
        for (k, prob) in &linear.ranked {
            p[*k as usize] = *prob;
        }
        p
    }

    /// Best class index and its probability.
    pub fn top(&self, text: &str, dense: Option<&[f32]>) -> (u32, f32) {
        top_of(&self.probabilities(text, dense))
    }
}

/// `p ← (1 − alpha)·p + alpha·votes`, in place.
pub fn mix_into(p: &mut [f32], votes: &[f32], alpha: f32) {
    for (a, b) in p.iter_mut().zip(votes) {
        *a = (1.0 - alpha) * *a + alpha * b;
    }
}

/// Index and value of the largest entry (first on ties; (0, 0) when empty).
pub fn top_of(p: &[f32]) -> (u32, f32) {
    let mut best: Option<(u32, f32)> = None;
    for (i, v) in p.iter().enumerate() {
        if best.is_none_or(|b| *v > b.1) {
            best = Some((i as u32, *v));
        }
    }
    best.unwrap_or((0, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_give_the_best_cosine_per_class() {
        let a = [1.0, 0.0];
        let b = [0.0, 2.0];
        let c = [0.6, 0.8];
        let nb = Neighbours::new(&[&a, &b, &c], &[0, 1, 1], 3);
        let s = nb.class_similarity(&[1.0, 0.0]);
        assert!((s[0] - 1.0).abs() < 1e-6);
        assert!((s[1] - 0.6).abs() < 1e-6, "{s:?}");
        assert_eq!(s[2], -1.0);
        assert_eq!(nb.class_similarity(&[1.0]), vec![-1.0; 3]);
    }

    #[test]
    fn mixing_moves_probability_towards_the_votes() {
        let mut p = vec![0.8, 0.2];
        mix_into(&mut p, &[0.0, 1.0], 0.5);
        assert_eq!(p, vec![0.4, 0.6]);
        assert_eq!(top_of(&p), (1, 0.6));
        assert_eq!(top_of(&[]), (0, 0.0));
    }
}
