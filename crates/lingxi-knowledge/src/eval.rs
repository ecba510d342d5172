//! Evaluation helpers: labelled utterances as a FAQ knowledge base (entry = label), retrieval accuracy and
//! decision rates; matching accuracy. Timing is left to the caller (this crate reads no clock).

use std::collections::BTreeMap;

use crate::decision::{Calibrator, Decision, Thresholds};
use crate::index::{Filter, KnowledgeIndex, Ranking, RetrievalConfig};
use crate::model::{Answer, EntryId, FaqEntry, FaqParts, Lang, Question, Status, Validity};
use crate::text::Analyzer;

/// A knowledge base made from labelled utterances: one entry per label, every utterance a phrasing.
#[derive(Debug)]
pub struct LabelledKb {
    /// The index.
    pub index: KnowledgeIndex,
    /// Label of each entry.
    pub labels: Vec<String>,
    /// For each input utterance, its position in the index's phrasing order (None = dropped duplicate).
    pub order: Vec<usize>,
}

/// Builds an index from `(text, label)` pairs; `vectors[i]` belongs to `examples[i]`.
pub fn labelled_kb(
    examples: &[(String, String)],
    vectors: Option<&[Vec<f32>]>,
    lang: Lang,
    config: RetrievalConfig,
) -> LabelledKb {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, l)) in examples.iter().enumerate() {
        groups.entry(l.as_str()).or_default().push(i);
    }
    let mut entries = Vec::new();
    let mut labels = Vec::new();
    let mut picked = Vec::new();
    for (label, idxs) in groups {
        let mut seen = std::collections::HashSet::new();
        let mut qs = Vec::new();
        for &i in &idxs {
            if let Ok(q) = Question::parse(&examples[i].0) {
                if seen.insert(q.as_str().to_lowercase()) {
                    qs.push(q);
                    picked.push(i);
                }
            }
        }
        if qs.is_empty() {
            continue;
        }
        let question = qs.remove(0);
        let parts = FaqParts {
            id: EntryId::parse(&format!("e{}", entries.len())).unwrap_or_else(|_| unreachable!()),
            lang,
            question,
            similar: qs,
            answer: Answer::parse(label, vec![]).unwrap_or_else(|_| unreachable!()),
            variants: vec![],
            tags: vec![],
            products: vec![],
            channels: vec![],
            validity: Validity::ALWAYS,
            status: Status::Published,
            version: 1,
        };
        if let Ok(e) = FaqEntry::new(parts) {
            entries.push(e);
            labels.push(label.to_owned());
        }
    }
    let vecs: Option<Vec<Vec<f32>>> = vectors.map(|v| picked.iter().map(|&i| v[i].clone()).collect());
    let mut order = vec![usize::MAX; examples.len()];
    for (pos, &i) in picked.iter().enumerate() {
        order[i] = pos;
    }
    let index = KnowledgeIndex::build(entries, Analyzer::default(), vecs.as_deref(), config);
    LabelledKb { index, labels, order: order.into_iter().collect() }
}

impl LabelledKb {
    /// Phrasing vectors in index order (for [`KnowledgeIndex::train_classifier`]).
    pub fn vectors_in_order(&self, vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let mut out = vec![Vec::new(); self.index.n_phrasings()];
        for (i, &pos) in self.order.iter().enumerate() {
            if pos < out.len() {
                out[pos] = vectors[i].clone();
            }
        }
        out
    }
    /// Ranks all queries (top 3).
    pub fn rank_all(&self, queries: &[String], vectors: Option<&[Vec<f32>]>) -> Vec<Ranking> {
        let f = Filter::at(0);
        queries.iter().enumerate().map(|(i, q)| self.index.search(q, vectors.map(|v| v[i].as_slice()), &f, 3)).collect()
    }
}

/// Retrieval quality over a labelled query set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RetrievalReport {
    /// Queries scored.
    pub n: usize,
    /// Top-1 accuracy.
    pub top1: f32,
    /// Top-3 accuracy over distinct entries.
    pub top3: f32,
    /// Share answered.
    pub answer_rate: f32,
    /// Precision of the answers given.
    pub answer_precision: f32,
    /// Share given suggestions.
    pub suggest_rate: f32,
    /// Share of suggestions that contain the right entry.
    pub suggest_hit: f32,
    /// Share not understood.
    pub not_understood_rate: f32,
}

/// Scores rankings against gold labels and the decisions thresholds would take.
pub fn score(
    kb: &LabelledKb,
    rankings: &[Ranking],
    gold: &[String],
    calibrator: &Calibrator,
    thresholds: &Thresholds,
) -> RetrievalReport {
    let mut r = RetrievalReport { n: rankings.len(), ..Default::default() };
    let (mut answered_ok, mut suggested_ok) = (0usize, 0usize);
    let (mut n_answer, mut n_suggest, mut n_nu) = (0usize, 0usize, 0usize);
    for (rk, g) in rankings.iter().zip(gold) {
        let ok = |e: usize| kb.labels[e] == *g;
        if rk.hits.first().is_some_and(|h| ok(h.entry)) {
            r.top1 += 1.0;
        }
        if rk.hits.iter().take(3).any(|h| ok(h.entry)) {
            r.top3 += 1.0;
        }
        match thresholds.decide(rk, calibrator) {
            Decision::Answer { entry, .. } => {
                n_answer += 1;
                answered_ok += usize::from(ok(entry));
            }
            Decision::Suggest { entries, .. } => {
                n_suggest += 1;
                suggested_ok += usize::from(entries.iter().any(|&e| ok(e)));
            }
            Decision::NotUnderstood { .. } => n_nu += 1,
        }
    }
    let n = r.n.max(1) as f32;
    r.top1 /= n;
    r.top3 /= n;
    r.answer_rate = n_answer as f32 / n;
    r.suggest_rate = n_suggest as f32 / n;
    r.not_understood_rate = n_nu as f32 / n;
    r.answer_precision = answered_ok as f32 / n_answer.max(1) as f32;
    r.suggest_hit = suggested_ok as f32 / n_suggest.max(1) as f32;
    r
}

/// Whether each ranking's top hit is right (for [`Calibrator::fit`]).
pub fn top1_correct(kb: &LabelledKb, rankings: &[Ranking], gold: &[String]) -> Vec<bool> {
    rankings.iter().zip(gold).map(|(r, g)| r.hits.first().is_some_and(|h| kb.labels[h.entry] == *g)).collect()
}

/// Answer threshold: the lowest confidence at which answers on a tuning set reach `precision`.
pub fn answer_threshold_for_precision(confidences: &[f32], correct: &[bool], precision: f32) -> f32 {
    let mut pairs: Vec<(f32, bool)> = confidences.iter().copied().zip(correct.iter().copied()).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut ok, mut best) = (0usize, 1.0f32);
    for (i, (c, right)) in pairs.iter().enumerate() {
        ok += usize::from(*right);
        if ok as f32 / (i + 1) as f32 >= precision {
            best = *c;
        }
    }
    best
}
