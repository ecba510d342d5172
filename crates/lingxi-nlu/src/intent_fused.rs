//! An intent model that also reads the message's sentence embedding: the lexical features plus
//! the embedding in one linear model, optionally mixed with a nearest-neighbour vote
//! ([`crate::fused`]), with out-of-scope decided on the blended confidence. The server builds
//! one from the same training data as the lexical [`IntentModel`] once the examples are encoded
//! and classifies with the vector it already computed for knowledge retrieval.
//!
//! Hyper-parameters are fixed (C and the block weight of the datasets in docs/benchmarks.md) so
//! that training stays two solver runs; only the mix and the threshold are chosen, on the
//! stratified held-out slice, which costs no retraining.

use std::sync::Arc;

use crate::classifier::{ClassifierConfig, Rng, TextClassifier, TrainConfig};
use crate::fused::{confidence, mixed, FusedClassifier, Mix, Neighbours};
use crate::intent::{IntentError, IntentMatch, IntentModel, IntentResult, IntentTrainingData, OUT_OF_SCOPE};

/// Training settings of a [`FusedIntentModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct FusedIntentConfig {
    /// The linear model (sparse features and solver).
    pub classifier: ClassifierConfig,
    /// Scale of the L2-normalised embedding block next to the sparse features.
    pub dense_weight: f32,
    /// Candidate mixes (neighbour weight, temperature, cosine in the OOS confidence), the best
    /// on the held-out slice is kept.
    pub mixes: Vec<Mix>,
    /// Fraction of each intent's examples held out for calibration, the mix and the threshold.
    pub holdout_fraction: f32,
    /// Share of in-scope held-out examples allowed below the chosen threshold (an upper bound:
    /// with held-out `out_of_scope` examples the lowest threshold that rejects them as well is
    /// kept).
    pub oos_false_reject_rate: f32,
}

impl Default for FusedIntentConfig {
    fn default() -> Self {
        // The confidence stays a probability (no cosine blended in, `oos_beta` 0): the bot's
        // other thresholds (small talk, the hand-off policy) read it as one, and a blended
        // scale let the held-out slice pick a threshold that refused real paraphrases.
        // τ 50: a nearly flat vote, which tempers the linear model's confidence (the value the
        // bot has always run with; it was written 0.02 when the softmax read it as a multiplier).
        let mixes = [0.0, 0.3, 0.5].into_iter().map(|alpha| Mix { alpha, tau: 50.0, ..Mix::default() }).collect();
        Self {
            // C 0.5 and w 3 were chosen on dev for banking77, smp2017 and cais (benchmarks.md).
            classifier: ClassifierConfig {
                train: TrainConfig { c: 0.5, ..TrainConfig::default() },
                ..Default::default()
            },
            dense_weight: 3.0,
            mixes,
            holdout_fraction: 0.2,
            oos_false_reject_rate: 0.05,
        }
    }
}

/// What training chose and how the probe model did on the held-out slice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FusedReport {
    /// Examples held out.
    pub holdout_examples: usize,
    /// Held-out in-scope examples answered right with the threshold applied.
    pub holdout_accuracy: f32,
    /// Held-out `out_of_scope` examples rejected (0 when the data has none).
    pub holdout_rejection: f32,
    /// The mix kept.
    pub mix: Mix,
    /// The out-of-scope threshold on the blended confidence.
    pub oos_threshold: f32,
}

/// The fused intent model. Immutable; share it as `Arc<FusedIntentModel>`.
#[derive(Debug, Clone)]
pub struct FusedIntentModel {
    fused: FusedClassifier,
    oos_class: Option<u32>,
    oos_threshold: f32,
    dim: usize,
    /// The lexical model of the same data: second intents by clause (there is no vector per
    /// clause) and messages that come without a vector.
    lexical: Arc<IntentModel>,
}

/// Stratified held-out mask (at least one example of each intent stays in training).
fn holdout_mask(data: &IntentTrainingData, fraction: f32, seed: u64) -> Vec<bool> {
    let mut rng = Rng::new(seed ^ 0xF5ED);
    let total = data.intents().iter().map(|(_, e)| e.len()).sum();
    let mut held = vec![false; total];
    let mut start = 0;
    for (_, ex) in data.intents() {
        let mut idx: Vec<usize> = (start..start + ex.len()).collect();
        rng.shuffle(&mut idx);
        let n = ((ex.len() as f32) * fraction).round() as usize;
        for i in idx.iter().take(n.min(ex.len().saturating_sub(1))) {
            held[*i] = true;
        }
        start += ex.len();
    }
    held
}

struct Part<'a> {
    texts: Vec<&'a str>,
    labels: Vec<&'a str>,
    vectors: Vec<Vec<f32>>,
}

fn fit(part: &Part<'_>, config: &FusedIntentConfig) -> Result<(TextClassifier, Neighbours), IntentError> {
    let linear = TextClassifier::train_with_dense(
        &part.texts,
        &part.vectors,
        &part.labels,
        &config.classifier,
        config.dense_weight,
    )?;
    let classes: Vec<u32> = part.labels.iter().map(|l| linear.label_index(l).unwrap_or(0)).collect();
    let rows: Vec<&[f32]> = part.vectors.iter().map(Vec::as_slice).collect();
    let neighbours = Neighbours::new(&rows, &classes, linear.labels().len());
    Ok((linear, neighbours))
}

impl FusedIntentModel {
    /// Trains from `data` with one embedding per example (`vectors`, in the order of
    /// `data.intents()` and their examples) next to `lexical`, the lexical model of the same data.
    pub fn train(
        data: &IntentTrainingData,
        vectors: &[Vec<f32>],
        lexical: Arc<IntentModel>,
        config: &FusedIntentConfig,
    ) -> Result<(Self, FusedReport), IntentError> {
        let (texts, labels): (Vec<&str>, Vec<&str>) =
            data.intents().iter().flat_map(|(n, ex)| ex.iter().map(move |e| (e.as_str(), n.as_str()))).unzip();
        if vectors.len() != texts.len() {
            return Err(
                crate::classifier::TrainError::LengthMismatch { texts: texts.len(), labels: vectors.len() }.into()
            );
        }
        let dim = vectors.first().map_or(0, Vec::len);
        let held = holdout_mask(data, config.holdout_fraction, config.classifier.train.seed);
        let split = |want: bool| Part {
            texts: texts.iter().zip(&held).filter(|(_, h)| **h == want).map(|(t, _)| *t).collect(),
            labels: labels.iter().zip(&held).filter(|(_, h)| **h == want).map(|(l, _)| *l).collect(),
            vectors: vectors.iter().zip(&held).filter(|(_, h)| **h == want).map(|(v, _)| v.clone()).collect(),
        };
        let (train_part, held_part) = (split(false), split(true));
        let mut report = FusedReport::default();
        let mut temperature = None;
        if !held_part.texts.is_empty() {
            let (mut probe, neighbours) = fit(&train_part, config)?;
            temperature =
                Some(probe.calibrate_with_dense(&held_part.texts, Some(&held_part.vectors), &held_part.labels));
            let probe = FusedClassifier {
                linear: probe,
                neighbours: Some(neighbours),
                mix: Mix::default(),
                lexical: None,
                dense_norm: None,
                head: None,
            };
            report = choose(&probe, &held_part, config);
        }
        let (mut linear, neighbours) = fit(&split_all(&texts, &labels, vectors), config)?;
        if let Some(t) = temperature {
            linear.set_temperature(t);
        }
        let oos_class = linear.label_index(OUT_OF_SCOPE);
        let fused = FusedClassifier {
            linear,
            neighbours: Some(neighbours),
            mix: report.mix,
            lexical: None,
            dense_norm: None,
            head: None,
        };
        Ok((Self { fused, oos_class, oos_threshold: report.oos_threshold, dim, lexical }, report))
    }

    /// The embedding length the model expects.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The out-of-scope threshold on the blended confidence.
    pub fn oos_threshold(&self) -> f32 {
        self.oos_threshold
    }

    /// The mix in force.
    pub fn mix(&self) -> Mix {
        self.fused.mix
    }

    /// The lexical model of the same data.
    pub fn lexical(&self) -> &Arc<IntentModel> {
        &self.lexical
    }

    /// Understands one message from its text and its embedding (a vector of another length:
    /// the lexical model answers).
    pub fn classify(&self, text: &str, vector: &[f32]) -> IntentResult {
        if vector.len() != self.dim || self.dim == 0 {
            return self.lexical.classify(text);
        }
        let mix = self.fused.mix;
        let linear = self.fused.linear_probabilities(text, Some(vector));
        let sim = self
            .fused
            .neighbours
            .as_ref()
            .filter(|_| mix.alpha > 0.0 || mix.oos_beta > 0.0)
            .map(|nb| nb.class_similarity(vector));
        let p = mixed(&linear, sim.as_deref(), mix);
        let (top, blended) = confidence(&p, sim.as_deref(), mix);
        let names = self.fused.linear.labels();
        let mut ranked: Vec<(u32, f32)> =
            p.iter().enumerate().map(|(k, v)| (k as u32, *v)).filter(|(k, _)| Some(*k) != self.oos_class).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let m = |(k, c): (u32, f32)| IntentMatch { intent: names[k as usize].clone(), confidence: c };
        let best_k = ranked.first().map_or(0, |r| r.0);
        // The reported confidence is the one the threshold is compared with.
        let best = m((best_k, if best_k == top { blended } else { p[best_k as usize] }));
        let out_of_scope = Some(top) == self.oos_class || blended < self.oos_threshold;
        let margin = match ranked.as_slice() {
            [a, b, ..] => a.1 - b.1,
            [a] => a.1,
            [] => 0.0,
        };
        let alternatives = ranked.iter().skip(1).take(5).map(|r| m(*r)).collect();
        let second =
            if out_of_scope { None } else { self.lexical.classify(text).second.filter(|s| s.intent != best.intent) };
        IntentResult {
            top: (!out_of_scope).then(|| best.clone()),
            best_guess: best,
            alternatives,
            margin,
            out_of_scope,
            second,
        }
    }
}

/// The highest threshold allowed: `rate` of the in-scope held-out confidences (sorted) below it.
pub(crate) fn false_reject_cap(sorted: &[f32], rate: f32) -> f32 {
    let k = ((sorted.len() as f32) * rate).floor() as usize;
    sorted.get(k.min(sorted.len().saturating_sub(1))).copied().unwrap_or(0.0).max(0.0)
}

/// Thresholds to try, ascending. With held-out `out_of_scope` examples: 0 and every in-scope
/// confidence up to `cap`, so the threshold rejects only as much as the negatives need (the
/// held-out slice is easier than real paraphrases, whose confidence is lower); without any:
/// `cap` alone (nothing tells how low it could go).
pub(crate) fn candidate_thresholds(sorted: &[f32], cap: f32, negatives: bool) -> Vec<f32> {
    if !negatives {
        return vec![cap];
    }
    let mut t: Vec<f32> = std::iter::once(0.0).chain(sorted.iter().copied().filter(|c| *c <= cap)).collect();
    t.dedup();
    t
}

fn split_all<'a>(texts: &[&'a str], labels: &[&'a str], vectors: &[Vec<f32>]) -> Part<'a> {
    Part { texts: texts.to_vec(), labels: labels.to_vec(), vectors: vectors.to_vec() }
}

/// The mix and threshold with the most held-out examples handled right: in-scope answered with
/// their intent, `out_of_scope` ones rejected, each example counting once; the threshold of each
/// mix lets at most `oos_false_reject_rate` of the in-scope held-out examples fall below it.
///
/// Each example counts once, not each class's rate: with a dozen held-out negatives against
/// ninety in-scope examples, a rate sum valued one more rejected negative like six lost
/// paraphrases, and the choice jumped between thresholds on a single example (0.32 with f32
/// vectors, 0.61 with int8 ones, the latter refusing three right answers of the probe set). The
/// held-out slice is easier than real paraphrases, so a threshold it pushes up costs more in use.
fn choose(probe: &FusedClassifier, held: &Part<'_>, config: &FusedIntentConfig) -> FusedReport {
    let oos_class = probe.linear.label_index(OUT_OF_SCOPE);
    let gold: Vec<u32> = held.labels.iter().map(|l| probe.linear.label_index(l).unwrap_or(0)).collect();
    let any_out = gold.iter().any(|g| Some(*g) == oos_class);
    // Both halves once per example; a mix only recombines them (the neighbour scan is the
    // costly part with a few thousand examples).
    let linear: Vec<Vec<f32>> =
        held.texts.iter().zip(&held.vectors).map(|(t, v)| probe.linear_probabilities(t, Some(v))).collect();
    let sims: Option<Vec<Vec<f32>>> =
        probe.neighbours.as_ref().map(|nb| held.vectors.iter().map(|v| nb.class_similarity(v)).collect());
    let mut best: Option<(f32, FusedReport)> = None;
    for mix in &config.mixes {
        let preds: Vec<(u32, f32)> = linear
            .iter()
            .enumerate()
            .map(|(i, lin)| {
                let sim = sims.as_ref().map(|s| s[i].as_slice());
                confidence(&mixed(lin, sim, *mix), sim, *mix)
            })
            .collect();
        let mut conf: Vec<f32> =
            preds.iter().zip(&gold).filter(|(_, g)| Some(**g) != oos_class).map(|(p, _)| p.1).collect();
        conf.sort_by(f32::total_cmp);
        let cap = false_reject_cap(&conf, config.oos_false_reject_rate);
        let candidates = candidate_thresholds(&conf, cap, any_out);
        if let Some(o) = best_threshold(&preds, &gold, oos_class, &candidates) {
            // Strictly better only: of equal scores the earlier mix.
            if best.as_ref().is_none_or(|b| o.score > b.0 + 1e-6) {
                let report = FusedReport {
                    holdout_examples: gold.len(),
                    holdout_accuracy: o.accuracy,
                    holdout_rejection: o.rejection,
                    mix: *mix,
                    oos_threshold: o.threshold,
                };
                best = Some((o.score, report));
            }
        }
    }
    best.map(|b| b.1).unwrap_or_default()
}

/// How one threshold does on the held-out slice.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    threshold: f32,
    /// Examples handled right over all held-out examples (what is maximised).
    score: f32,
    /// In-scope examples answered with their intent, over the in-scope ones.
    accuracy: f32,
    /// `out_of_scope` examples rejected, over those (0 without any).
    rejection: f32,
}

/// The best of `candidates` (ascending) for predictions `(class, confidence)` against `gold`: a
/// prediction is rejected when it is the out-of-scope class or below the threshold; each example
/// counts once (see [`choose`]), and of equal scores the lowest threshold is kept.
fn best_threshold(preds: &[(u32, f32)], gold: &[u32], oos_class: Option<u32>, candidates: &[f32]) -> Option<Outcome> {
    let n_in = gold.iter().filter(|g| Some(**g) != oos_class).count();
    let n_out = gold.len() - n_in;
    let mut best: Option<Outcome> = None;
    for &threshold in candidates {
        let rejected = |p: &(u32, f32)| Some(p.0) == oos_class || p.1 < threshold;
        let right_in =
            preds.iter().zip(gold).filter(|(p, g)| Some(**g) != oos_class && p.0 == **g && !rejected(p)).count();
        let right_out = preds.iter().zip(gold).filter(|(p, g)| Some(**g) == oos_class && rejected(p)).count();
        let o = Outcome {
            threshold,
            score: (right_in + right_out) as f32 / gold.len().max(1) as f32,
            accuracy: right_in as f32 / n_in.max(1) as f32,
            rejection: if n_out == 0 { 0.0 } else { right_out as f32 / n_out as f32 },
        };
        if best.is_none_or(|b| o.score > b.score + 1e-6) {
            best = Some(o);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::IntentConfig;

    #[test]
    fn one_more_rejected_negative_does_not_outweigh_a_lost_paraphrase() {
        // Ten in-scope examples of class 1 and two negatives (class 0 is `out_of_scope`, never
        // predicted here). At 0.31 one negative is rejected (11 of 12 right); at 0.53 both are,
        // but a paraphrase at 0.5 is lost (11 of 12 again): the lower threshold is kept. A sum
        // of class rates would take 0.53 (0.9 + 1.0 against 1.0 + 0.5).
        let mut preds = vec![(1u32, 0.9f32); 8];
        preds.extend([(1, 0.5), (1, 0.55), (1, 0.52), (1, 0.3)]);
        let gold = [vec![1u32; 10], vec![0, 0]].concat();
        let o = best_threshold(&preds, &gold, Some(0), &[0.0, 0.31, 0.53, 0.56]).unwrap();
        assert_eq!(o.threshold, 0.31, "{o:?}");
        assert_eq!((o.accuracy, o.rejection), (1.0, 0.5));
        assert!((o.score - 11.0 / 12.0).abs() < 1e-6);
        // Two more negatives at 0.52: now 0.53 gains more than it loses and wins.
        preds.extend([(1, 0.52), (1, 0.52)]);
        let gold = [gold, vec![0, 0]].concat();
        assert_eq!(best_threshold(&preds, &gold, Some(0), &[0.0, 0.31, 0.53, 0.56]).unwrap().threshold, 0.53);
        // Without negatives the score is the accuracy and the lowest threshold stays.
        let o = best_threshold(&preds[..10], &gold[..10], Some(0), &[0.0, 0.31]).unwrap();
        assert_eq!((o.threshold, o.rejection), (0.0, 0.0));
    }

    /// Toy embeddings: one axis per intent, plus an "elsewhere" axis for out-of-scope text.
    fn vec_of(axis: usize) -> Vec<f32> {
        let mut v = vec![0.05f32; 4];
        v[axis] = 1.0;
        v
    }

    #[test]
    fn the_embedding_answers_a_message_that_shares_no_word_with_its_intent() {
        let mut d = IntentTrainingData::new();
        d.add("refund", ["退款多久到账", "钱什么时候退", "退款进度", "退款还没到", "查退款", "退款状态"]);
        d.add("invoice", ["怎么开发票", "发票抬头", "电子发票", "开票信息", "补开发票", "要发票"]);
        d.add(OUT_OF_SCOPE, ["今天天气", "讲个笑话", "唱首歌", "几点了", "你几岁", "吃什么"]);
        let vectors: Vec<Vec<f32>> =
            d.intents().iter().enumerate().flat_map(|(i, (_, ex))| ex.iter().map(move |_| vec_of(i))).collect();
        let lexical = Arc::new(IntentModel::train(&d, &IntentConfig::default()).unwrap());
        let (m, report) = FusedIntentModel::train(&d, &vectors, lexical, &FusedIntentConfig::default()).unwrap();
        assert_eq!(report.holdout_examples, 3, "{report:?}");
        // "款项原路返还需要几日" shares no word with the refund examples; its vector is refund's.
        let r = m.classify("款项原路返还需要几日", &vec_of(0));
        assert_eq!(r.top.as_ref().map(|t| t.intent.as_str()), Some("refund"), "{r:?}");
        let r = m.classify("洗衣机烘干怎么用", &vec_of(2));
        assert!(r.out_of_scope && r.best_guess.intent != OUT_OF_SCOPE, "{r:?}");
        // Without a vector of the right length the lexical model answers.
        assert_eq!(m.classify("发票抬头", &[1.0]).top.map(|t| t.intent).as_deref(), Some("invoice"));
        assert!(FusedIntentModel::train(&d, &vectors[1..], m.lexical().clone(), &FusedIntentConfig::default()).is_err());
    }
}
