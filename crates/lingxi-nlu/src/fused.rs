//! Intent classification with a sentence embedding: the linear model over lexical features
//! plus the embedding (`TextClassifier::train_with_dense`), mixed with a nearest-neighbour vote
//! over the training embeddings. The linear model generalises over words; the neighbours catch
//! paraphrases that share no words with any class's vocabulary but sit next to one training
//! example. A text-only model may be mixed into the linear distribution (the fused model leans
//! on the embedding, so a words-only model errs differently), embeddings may be centred or
//! standardised first, and the out-of-scope confidence may include the best class's nearest
//! cosine. Every weight, temperature and preparation is chosen on held-out data.

use crate::classifier::{softmax, TextClassifier};
use crate::mlp::MlpEnsemble;

/// Training embeddings by class, for the nearest-neighbour vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Row-major unit vectors, `dim` floats each.
    rows: Vec<f32>,
    classes: Vec<u32>,
    dim: usize,
    n_classes: usize,
    /// Applied to the rows before indexing and to every query.
    norm: Option<DenseNorm>,
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
        Self { rows, classes: kept, dim, n_classes, norm: None }
    }

    /// Like [`Self::new`], with the vectors first prepared by a [`DenseNorm`] of `kind`
    /// fitted on them; queries are prepared the same way.
    pub fn fitted(vectors: &[&[f32]], classes: &[u32], n_classes: usize, kind: DenseNormKind) -> Self {
        let Some(norm) = DenseNorm::fit(vectors, kind) else { return Self::new(vectors, classes, n_classes) };
        let prepared: Vec<Vec<f32>> = vectors.iter().map(|v| norm.apply(v)).collect();
        let rows: Vec<&[f32]> = prepared.iter().map(Vec::as_slice).collect();
        Self { norm: Some(norm), ..Self::new(&rows, classes, n_classes) }
    }

    /// Per class, the highest cosine between `query` and one of its examples (−1 for a class
    /// without examples, or for every class when the query has the wrong length).
    pub fn class_similarity(&self, query: &[f32]) -> Vec<f32> {
        let prepared = self.norm.as_ref().map(|n| n.apply(query));
        let query = prepared.as_deref().unwrap_or(query);
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

/// How an embedding is prepared before it enters the linear model and the neighbours.
/// Sentence embeddings are anisotropic (every pair of e5 vectors has a cosine near 0.8), so
/// centring on the training mean, and optionally scaling each dimension to unit variance,
/// spreads them out before the block is L2-normalised again inside the vectoriser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseNormKind {
    /// Unit length only (the vectoriser's own normalisation).
    Unit,
    /// Unit length, then minus the training mean.
    Centered,
    /// Unit length, minus the training mean, divided by the training standard deviation.
    Standardized,
}

/// A fitted [`DenseNormKind`]: per-dimension shift and scale from training embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseNorm {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl DenseNorm {
    /// Fits on training rows (rows of another length than the first, or with a non-finite
    /// value, are skipped); `None` for [`DenseNormKind::Unit`] or when no row is usable.
    pub fn fit(rows: &[&[f32]], kind: DenseNormKind) -> Option<Self> {
        if kind == DenseNormKind::Unit {
            return None;
        }
        let dim = rows.first().map_or(0, |r| r.len());
        let unit: Vec<Vec<f32>> = rows
            .iter()
            .filter(|r| r.len() == dim && dim > 0 && r.iter().all(|x| x.is_finite()))
            .filter_map(|r| unit_length(r))
            .collect();
        if unit.is_empty() {
            return None;
        }
        let n = unit.len() as f64;
        let mut mean = vec![0f64; dim];
        for r in &unit {
            mean.iter_mut().zip(r).for_each(|(m, x)| *m += f64::from(*x) / n);
        }
        let inv_std = match kind {
            DenseNormKind::Standardized => {
                let mut var = vec![0f64; dim];
                for r in &unit {
                    var.iter_mut().zip(r).zip(&mean).for_each(|((v, x), m)| *v += (f64::from(*x) - m).powi(2) / n);
                }
                // A floor keeps a constant dimension from exploding into the largest feature.
                var.iter().map(|v| (1.0 / v.sqrt().max(1e-4)) as f32).collect()
            }
            _ => vec![1.0; dim],
        };
        Some(Self { mean: mean.into_iter().map(|m| m as f32).collect(), inv_std })
    }

    /// The prepared vector; a vector of the wrong length, with a non-finite value or of zero
    /// length comes back unchanged (the linear model then ignores or filters it).
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        if v.len() != self.mean.len() {
            return v.to_vec();
        }
        match unit_length(v) {
            Some(u) => u.iter().zip(&self.mean).zip(&self.inv_std).map(|((x, m), s)| (x - m) * s).collect(),
            None => v.to_vec(),
        }
    }
}

/// Which of the encoder's pooled views of a text make its dense block (for the linear model
/// and the neighbours): the embedding alone, or the embedding with earlier layers' means or
/// the first token's state (`lingxi_encoder::Encoder::encode_batch_features`, same forward
/// pass). A frozen encoder's last layer is one view; a linear model often gains from more.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseView {
    /// Name for reports (e.g. `e+L11`).
    pub name: String,
    /// The blocks used: 0 is the embedding, `k ≥ 1` the `k`-th extra view of the text.
    pub blocks: Vec<usize>,
    /// Average the unit-length blocks instead of concatenating them.
    pub average: bool,
}

impl DenseView {
    /// The embedding alone, as given (the default).
    pub fn embedding() -> Self {
        Self { name: "e".into(), blocks: vec![0], average: false }
    }

    /// The dense block of a text from its embedding and its extra views: each block at unit
    /// length, then concatenated (or averaged). The embedding alone is returned unchanged.
    /// `None` when a block is missing, empty, of another length than the embedding, or zero.
    pub fn compose(&self, embedding: &[f32], extra: &[Vec<f32>]) -> Option<Vec<f32>> {
        if self.blocks == [0] && !self.average {
            return Some(embedding.to_vec());
        }
        let blocks: Vec<Vec<f32>> = self
            .blocks
            .iter()
            .map(|b| match b {
                0 => Some(embedding),
                k => extra.get(k - 1).map(Vec::as_slice),
            })
            .map(|v| v.filter(|v| !v.is_empty() && v.len() == embedding.len()).and_then(unit_length))
            .collect::<Option<_>>()?;
        if blocks.is_empty() {
            return None;
        }
        if self.average {
            let n = blocks.len() as f32;
            let mut sum = vec![0f32; embedding.len()];
            for b in &blocks {
                sum.iter_mut().zip(b).for_each(|(s, x)| *s += x / n);
            }
            Some(sum)
        } else {
            Some(blocks.concat())
        }
    }
}

/// `v / |v|`, or `None` for a zero or non-finite vector.
fn unit_length(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// How the two halves are mixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// Weight of the neighbours' distribution (0 = linear model only).
    pub alpha: f32,
    /// Softmax temperature over the neighbours' cosines; 0 mixes the cosines in as they are
    /// (`(1 − alpha)·p + alpha·cos`, the knowledge index's fusion: a score, not a distribution).
    pub tau: f32,
    /// Confidence used for out-of-scope decisions: `(1 − beta)·p(best) + beta·cos(best)`,
    /// where `cos(best)` is the best class's nearest-neighbour cosine. A query far from every
    /// training example of its best class is suspect even when the linear model is sure.
    pub oos_beta: f32,
    /// Weight of the lexical-only member in the linear distribution (0 = fused model alone):
    /// the fused model leans on the embedding, a text-only model on words, and their errors
    /// differ.
    pub lexical: f32,
    /// Weight of the trained non-linear head ([`MlpEnsemble`]) in the linear distribution, mixed
    /// in after the text-only member (0 = no head).
    pub head: f32,
}

impl Default for Mix {
    fn default() -> Self {
        Self { alpha: 0.0, tau: 20.0, oos_beta: 0.0, lexical: 0.0, head: 0.0 }
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
    /// A text-only model over the same labels, mixed in with weight `mix.lexical`.
    pub lexical: Option<TextClassifier>,
    /// How embeddings are prepared for the linear model (`None`: used as given; the
    /// neighbours carry their own).
    pub dense_norm: Option<DenseNorm>,
    /// A non-linear head (heads of several seeds) over the embedding, mixed in with weight
    /// `mix.head`.
    pub head: Option<MlpEnsemble>,
}

impl FusedClassifier {
    /// Class probabilities for a text and its embedding (the linear model's alone when either
    /// the embedding or the neighbours are missing).
    pub fn probabilities(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        self.probabilities_and_similarity(text, dense).0
    }

    fn probabilities_and_similarity(&self, text: &str, dense: Option<&[f32]>) -> (Vec<f32>, Option<Vec<f32>>) {
        let linear = self.linear_probabilities(text, dense);
        // The neighbours prepare the raw embedding their own way.
        let needed = self.mix.alpha > 0.0 || self.mix.oos_beta > 0.0;
        let similarity = match (&self.neighbours, dense) {
            (Some(nb), Some(q)) if needed => Some(nb.class_similarity(q)),
            _ => None,
        };
        (mixed(&linear, similarity.as_deref(), self.mix), similarity)
    }

    /// The embedding as the linear model sees it.
    pub fn prepare(&self, dense: Option<&[f32]>) -> Option<Vec<f32>> {
        dense.map(|d| self.dense_norm.as_ref().map_or_else(|| d.to_vec(), |n| n.apply(d)))
    }

    /// The linear model's class probabilities by class index, with the text-only member and
    /// the head mixed in (everything but the neighbours).
    pub fn linear_probabilities(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        let mut p = self.linear_of_prepared(text, self.prepare(dense).as_deref());
        // The head prepares the raw embedding its own way.
        let head = self.head.as_ref().filter(|h| self.mix.head > 0.0 && h.n_classes() == p.len());
        if let (Some(head), Some(d)) = (head, dense) {
            mix_into(&mut p, &head.probabilities(d), self.mix.head);
        }
        p
    }

    fn linear_of_prepared(&self, text: &str, dense: Option<&[f32]>) -> Vec<f32> {
        let mut p = by_class(&self.linear.predict_with_dense(text, dense));
        if let Some(lex) =
            self.lexical.as_ref().filter(|l| self.mix.lexical > 0.0 && l.labels() == self.linear.labels())
        {
            mix_into(&mut p, &by_class(&lex.predict(text)), self.mix.lexical);
        }
        p
    }

    /// Best class index and its confidence (its probability, blended with its neighbours'
    /// cosine when `mix.oos_beta` > 0).
    pub fn top(&self, text: &str, dense: Option<&[f32]>) -> (u32, f32) {
        let (p, similarity) = self.probabilities_and_similarity(text, dense);
        confidence(&p, similarity.as_deref(), self.mix)
    }
}

/// Probabilities of a prediction by class index.
pub fn by_class(prediction: &crate::classifier::Prediction) -> Vec<f32> {
    let mut p = vec![0.0f32; prediction.scores.len()];
    for (k, prob) in &prediction.ranked {
        p[*k as usize] = *prob;
    }
    p
}

/// The linear distribution mixed with the neighbours' vote (unchanged without similarities).
pub fn mixed(linear: &[f32], similarity: Option<&[f32]>, mix: Mix) -> Vec<f32> {
    let mut p = linear.to_vec();
    if let Some(sim) = similarity.filter(|_| mix.alpha > 0.0) {
        if mix.tau > 0.0 {
            mix_into(&mut p, &softmax(sim, 1.0 / mix.tau), mix.alpha);
        } else {
            // A softmax this sharp or this flat would only rescale the cosines' differences;
            // added as they are, a cosine gap counts as much as a probability gap.
            mix_into(&mut p, sim, mix.alpha);
        }
    }
    p
}

/// Best class of the mixed distribution `p` and its confidence under `mix.oos_beta`.
pub fn confidence(p: &[f32], similarity: Option<&[f32]>, mix: Mix) -> (u32, f32) {
    let (k, prob) = top_of(p);
    match similarity.and_then(|s| s.get(k as usize)) {
        Some(cos) if mix.oos_beta > 0.0 => (k, (1.0 - mix.oos_beta) * prob + mix.oos_beta * cos),
        _ => (k, prob),
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

    #[test]
    fn temperature_zero_adds_the_cosines_and_a_softmax_flattens_them() {
        // Class 0 leads the linear model by 0.1; class 1 is nearer by a cosine gap of 0.2.
        let (p, sim) = ([0.55, 0.45], [0.7, 0.9]);
        let added = mixed(&p, Some(&sim), Mix { alpha: 0.5, tau: 0.0, ..Mix::default() });
        assert!((added[0] - 0.625).abs() < 1e-6 && (added[1] - 0.675).abs() < 1e-6, "{added:?}");
        assert_eq!(top_of(&added).0, 1);
        // A flat softmax (τ 2) turns the same gap into 0.475 : 0.525 and the linear model wins.
        let soft = mixed(&p, Some(&sim), Mix { alpha: 0.5, tau: 2.0, ..Mix::default() });
        assert_eq!(top_of(&soft).0, 0);
        // A sharp one (τ 0.01: the gap is 20 nats) gives the nearer class nearly all the vote.
        let sharp = mixed(&p, Some(&sim), Mix { alpha: 0.5, tau: 0.01, ..Mix::default() });
        assert!((sharp[1] - 0.725).abs() < 1e-4, "{sharp:?}");
        // No weight: the linear model untouched, whatever the temperature.
        assert_eq!(mixed(&p, Some(&sim), Mix { alpha: 0.0, tau: 0.0, ..Mix::default() }), p.to_vec());
    }

    #[test]
    fn centring_and_standardising_use_the_training_statistics() {
        // Unit vectors at 0° and 60° to the x axis: mean of the unit rows is (0.75, 0.433).
        let rows: [&[f32]; 2] = [&[2.0, 0.0], &[0.5, 0.866_025_4]];
        assert_eq!(DenseNorm::fit(&rows, DenseNormKind::Unit), None);
        let c = DenseNorm::fit(&rows, DenseNormKind::Centered).unwrap();
        let a = c.apply(rows[0]);
        let b = c.apply(rows[1]);
        assert!((a[0] - 0.25).abs() < 1e-5 && (a[1] + 0.433).abs() < 1e-3, "{a:?}");
        assert!((a[0] + b[0]).abs() < 1e-5 && (a[1] + b[1]).abs() < 1e-5, "centred rows sum to zero");
        let s = DenseNorm::fit(&rows, DenseNormKind::Standardized).unwrap();
        let a = s.apply(rows[0]);
        // Two rows symmetric about the mean: each standardised coordinate is ±1.
        assert!(a.iter().all(|x| (x.abs() - 1.0).abs() < 1e-3), "{a:?}");
    }

    #[test]
    fn prepared_neighbours_compare_centred_vectors() {
        // Raw cosines all near 1 (anisotropic); after centring the classes point apart.
        let rows: [&[f32]; 4] = [&[1.0, 0.1], &[1.0, 0.12], &[1.0, -0.1], &[1.0, -0.12]];
        let nb = Neighbours::fitted(&rows, &[0, 0, 1, 1], 2, DenseNormKind::Centered);
        let s = nb.class_similarity(&[1.0, 0.11]);
        assert!(s[0] > 0.99 && s[1] < -0.99, "{s:?}");
        let raw = Neighbours::new(&rows, &[0, 0, 1, 1], 2).class_similarity(&[1.0, 0.11]);
        assert!(raw[1] > 0.9, "{raw:?}");
    }

    #[test]
    fn dense_views_concatenate_or_average_unit_blocks() {
        let e = [3.0, 4.0];
        let extra = vec![vec![0.0, 2.0], vec![1.0]];
        assert_eq!(DenseView::embedding().compose(&e, &extra), Some(vec![3.0, 4.0]), "the embedding as given");
        let cat = DenseView { name: "e+1".into(), blocks: vec![0, 1], average: false };
        assert_eq!(cat.compose(&e, &extra), Some(vec![0.6, 0.8, 0.0, 1.0]));
        let avg = DenseView { average: true, ..cat.clone() };
        let v = avg.compose(&e, &extra).unwrap();
        assert!((v[0] - 0.3).abs() < 1e-6 && (v[1] - 0.9).abs() < 1e-6, "{v:?}");
        let wrong_len = DenseView { name: "e+2".into(), blocks: vec![0, 2], average: false };
        assert_eq!(wrong_len.compose(&e, &extra), None);
        let missing = DenseView { name: "3".into(), blocks: vec![3], average: false };
        assert_eq!(missing.compose(&e, &extra), None);
    }

    #[test]
    fn oos_confidence_blends_the_best_class_cosine() {
        let p = [0.9, 0.1];
        let sim = [0.2, 0.95];
        let mix = Mix { oos_beta: 0.5, ..Mix::default() };
        let (k, c) = confidence(&p, Some(&sim), mix);
        assert_eq!(k, 0);
        assert!((c - 0.55).abs() < 1e-6, "{c}");
        assert_eq!(confidence(&p, None, mix), (0, 0.9));
        assert_eq!(confidence(&p, Some(&sim), Mix::default()), (0, 0.9));
    }
}
