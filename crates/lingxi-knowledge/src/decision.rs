//! From a ranking to a decision: calibrated confidence, then answer / suggest / not understood by thresholds.

#![allow(clippy::needless_range_loop)] // fixed-size numeric loops read better indexed

use crate::index::{Hit, Ranking};

/// Logistic calibration of the top hit's features into P(top entry is right), one weight set for lexical-only
/// rankings and one for hybrid rankings (their score scales differ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibrator {
    /// Weights for [score, margin to second entry, lexical, semantic, 1] of lexical-only rankings.
    pub lexical: [f32; 5],
    /// The same for rankings that used semantic similarity.
    pub hybrid: [f32; 5],
}

impl Default for Calibrator {
    /// Fitted on held-out slices (lexical: cais; hybrid: banking77) by `examples/kb_eval.rs`, see
    /// docs/knowledge.md; refit per tenant with [`Calibrator::fit`] when labelled traffic exists.
    fn default() -> Self {
        Calibrator { lexical: DEFAULT_LEXICAL, hybrid: DEFAULT_HYBRID }
    }
}

const DEFAULT_LEXICAL: [f32; 5] = [2.829, 3.053, 2.733, 0.0, 0.819];
const DEFAULT_HYBRID: [f32; 5] = [1.982, 2.942, 1.772, 0.218, -0.478];

fn features(r: &Ranking) -> Option<[f32; 5]> {
    let top: &Hit = r.hits.first()?;
    let second = r.hits.get(1).map_or(0.0, |h| h.score);
    Some([top.score, top.score - second, top.lexical, top.semantic, 1.0])
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Calibrator {
    /// Confidence in [0, 1] that the top hit is right (0 when there is no hit).
    pub fn confidence(&self, r: &Ranking) -> f32 {
        let w = if r.semantic_used { &self.hybrid } else { &self.lexical };
        features(r).map_or(0.0, |x| sigmoid(x.iter().zip(w).map(|(a, b)| a * b).sum()))
    }

    /// Fits the weights by gradient descent on log-loss (L2 1e-3) from rankings and whether each top hit was
    /// right, starting from `self`; the lexical or the hybrid set is refitted depending on the rankings.
    /// Deterministic.
    pub fn fit(self, rankings: &[Ranking], correct: &[bool]) -> Self {
        let data: Vec<([f32; 5], f32)> = rankings
            .iter()
            .zip(correct)
            .filter_map(|(r, &c)| features(r).map(|x| (x, if c { 1.0 } else { 0.0 })))
            .collect();
        if data.is_empty() {
            return self;
        }
        // Gradient descent on standardised features: raw fused scores grow with the fusion
        // weights (w_sem 8 puts the score near 8), and a fixed step then oscillates instead of
        // converging. The weights are mapped back to raw features at the end.
        let n = data.len() as f32;
        let (mut mean, mut sd) = ([0f32; 5], [1f32; 5]);
        for k in 0..4 {
            mean[k] = data.iter().map(|(x, _)| x[k]).sum::<f32>() / n;
            let var = data.iter().map(|(x, _)| (x[k] - mean[k]).powi(2)).sum::<f32>() / n;
            sd[k] = if var > 1e-12 { var.sqrt() } else { 1.0 };
        }
        let data: Vec<([f32; 5], f32)> = data
            .into_iter()
            .map(|(x, y)| {
                let mut z = x;
                for k in 0..4 {
                    z[k] = (x[k] - mean[k]) / sd[k];
                }
                (z, y)
            })
            .collect();
        let mut w = [0f32; 5];
        let lr = 0.5;
        for _ in 0..2000 {
            let mut g = [0f32; 5];
            for (x, y) in &data {
                let p = sigmoid(x.iter().zip(&w).map(|(a, b)| a * b).sum());
                for k in 0..5 {
                    g[k] += (p - y) * x[k];
                }
            }
            for k in 0..5 {
                w[k] -= lr * (g[k] / n + 1e-3 * w[k]);
            }
        }
        for k in 0..4 {
            w[k] /= sd[k];
            w[4] -= w[k] * mean[k];
        }
        if rankings.iter().any(|r| r.semantic_used) {
            Calibrator { hybrid: w, ..self }
        } else {
            Calibrator { lexical: w, ..self }
        }
    }
}

/// Per-tenant confidence thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// At or above: answer with the top entry.
    pub answer: f32,
    /// At or above (and below `answer`): suggest the top three questions.
    pub suggest: f32,
}

impl Default for Thresholds {
    /// Chosen on held-out data: answer where calibrated precision ≥ 0.9, suggest down to where the right
    /// entry is still in the top three for most queries (see docs/knowledge.md).
    fn default() -> Self {
        Thresholds { answer: 0.85, suggest: 0.8 }
    }
}

/// Calibrator and thresholds for FAQ knowledge bases indexed the way the server does it
/// ([`crate::RetrievalConfig::faq`], no entry classifier), for lexical (`semantic` false) or
/// hybrid rankings. The calibrator holds both weight sets; the thresholds differ per mode.
/// Fitted by `examples/faq_calibrate.rs` (docs/knowledge.md, "Server defaults").
pub fn faq_defaults(semantic: bool) -> (Calibrator, Thresholds) {
    let calibrator = Calibrator { lexical: FAQ_LEXICAL, hybrid: FAQ_HYBRID };
    if semantic {
        (calibrator, FAQ_HYBRID_THRESHOLDS)
    } else {
        (calibrator, FAQ_LEXICAL_THRESHOLDS)
    }
}

// Lexical: the clinc150-dev fit above (the demo scenarios are tuned against it; the demo
// held-out run would answer almost nothing lexically, see docs/knowledge.md).
const FAQ_LEXICAL: [f32; 5] = DEFAULT_LEXICAL;
const FAQ_LEXICAL_THRESHOLDS: Thresholds = Thresholds { answer: 0.85, suggest: 0.8 };
// Hybrid: fitted on the demo knowledge base's held-out phrasings plus out-of-scope dev
// messages, for the fusion of `RetrievalConfig::faq` (w_sem 20). Answer threshold: the one that
// maximises right answers − 2 · wrong answers (out-of-scope answers count as wrong); suggest:
// the lowest confidence at which the right entry is among the three offered ≥ 75 % of the time.
const FAQ_HYBRID: [f32; 5] = [0.821, 2.248, -0.945, 17.220, -31.728];
const FAQ_HYBRID_THRESHOLDS: Thresholds = Thresholds { answer: 0.614, suggest: 0.225 };

/// What the bot should do with a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer with this entry.
    Answer {
        /// Entry index.
        entry: usize,
        /// Calibrated confidence.
        confidence: f32,
    },
    /// Offer these (up to three) distinct entries as "did you mean".
    Suggest {
        /// Entry indices, best first.
        entries: Vec<usize>,
        /// Calibrated confidence of the first.
        confidence: f32,
    },
    /// Nothing fits.
    NotUnderstood {
        /// Calibrated confidence of the best hit (0 without hits).
        confidence: f32,
    },
}

impl Thresholds {
    /// Builds thresholds, keeping `0 <= suggest <= answer <= 1`.
    pub fn new(answer: f32, suggest: f32) -> Self {
        let answer = answer.clamp(0.0, 1.0);
        Thresholds { answer, suggest: suggest.clamp(0.0, answer) }
    }

    /// The decision for a ranking.
    pub fn decide(&self, ranking: &Ranking, calibrator: &Calibrator) -> Decision {
        let confidence = calibrator.confidence(ranking);
        match ranking.hits.first() {
            Some(top) if confidence >= self.answer => Decision::Answer { entry: top.entry, confidence },
            Some(_) if confidence >= self.suggest => {
                Decision::Suggest { entries: ranking.hits.iter().take(3).map(|h| h.entry).collect(), confidence }
            }
            _ => Decision::NotUnderstood { confidence },
        }
    }
}
