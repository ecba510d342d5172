//! Hybrid retrieval over FAQ phrasings: BM25 over weighted lexical terms, cosine over (8-bit quantised)
//! encoder vectors, an optional linear entry classifier; fused by a weighted sum, grouped per entry.

#![allow(clippy::needless_range_loop)] // fixed-size numeric loops read better indexed

use std::collections::HashMap;

use lingxi_nlu::classifier::{ClassifierConfig, TextClassifier};

use crate::model::{ChannelName, FaqEntry, Label, Lang, Question};
use crate::products::ProductWords;
use crate::text::{Analyzer, Term, TermKind};

/// Fusion weights and BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalConfig {
    /// BM25 k1.
    pub k1: f32,
    /// BM25 b.
    pub b: f32,
    /// Weight of the normalised BM25 score (0..1) of a phrasing.
    pub w_lexical: f32,
    /// Weight of the cosine of a phrasing (used only when both sides have vectors).
    pub w_semantic: f32,
    /// Weight of the entry classifier's probability (used only when a classifier was trained).
    pub w_classifier: f32,
}

impl Default for RetrievalConfig {
    /// Defaults chosen on held-out slices of banking77 train and cais dev (see docs/knowledge.md).
    fn default() -> Self {
        RetrievalConfig { k1: 1.2, b: 0.75, w_lexical: 0.35, w_semantic: 1.0, w_classifier: 0.5 }
    }
}

impl RetrievalConfig {
    /// Fusion for FAQ knowledge bases (few phrasings per entry, no entry classifier), as the
    /// server indexes them: chosen on the demo knowledge base's held-out phrasings by
    /// `examples/faq_calibrate.rs` (docs/knowledge.md). The lexical weight is the default's,
    /// so lexical-only scores (and the lexical calibrator) are unchanged; encoder similarity
    /// decides the ranking and BM25 mostly breaks near-ties (e5 cosines of a knowledge base
    /// span about 0.2, the normalised BM25 the whole 0..1).
    pub fn faq() -> Self {
        RetrievalConfig { w_semantic: 20.0, w_classifier: 0.0, ..RetrievalConfig::default() }
    }
}

/// What a query may see: live entries only, optionally narrowed to one channel, language and product.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    /// Current time, unix millis (entries outside their validity window are skipped).
    pub now_ms: i64,
    /// Channel the customer writes on.
    pub channel: Option<&'a ChannelName>,
    /// Language of the entries to consider.
    pub lang: Option<Lang>,
    /// Product the conversation is about (entries scoped to other products are skipped).
    pub product: Option<&'a Label>,
}

impl Filter<'_> {
    /// Live entries at `now_ms`, any channel, language and product.
    pub fn at(now_ms: i64) -> Filter<'static> {
        Filter { now_ms, channel: None, lang: None, product: None }
    }
    fn admits(&self, e: &FaqEntry) -> bool {
        e.is_live(self.now_ms)
            && self.lang.is_none_or(|l| e.lang() == l)
            && self.channel.is_none_or(|c| e.channels().is_empty() || e.channels().contains(c))
            && self.product.is_none_or(|p| e.products().is_empty() || e.products().contains(p))
    }
}

/// One retrieved entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the entry in [`KnowledgeIndex::entries`].
    pub entry: usize,
    /// Fused score (uncalibrated).
    pub score: f32,
    /// Index of the best-matching phrasing within the entry (0 = the standard question).
    pub phrasing: usize,
    /// Normalised BM25 (0..1) of the best phrasing.
    pub lexical: f32,
    /// Cosine of the best phrasing (0 when no vectors).
    pub semantic: f32,
}

/// A search result: the top entries, best first, plus what the calibrator needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranking {
    /// Distinct entries, best first.
    pub hits: Vec<Hit>,
    /// True when semantic similarity took part (model present, vectors supplied).
    pub semantic_used: bool,
}

/// Per-phrasing document.
#[derive(Debug, Clone)]
struct Doc {
    entry: u32,
    phrasing: u32,
}

/// An immutable index over a set of FAQ entries. Rebuild on change (building 10,000 phrasings takes well
/// under a second without the classifier).
#[derive(Debug)]
pub struct KnowledgeIndex {
    entries: Vec<FaqEntry>,
    analyzer: Analyzer,
    config: RetrievalConfig,
    docs: Vec<Doc>,
    vocab: HashMap<Term, u32>,
    /// Per term: idf and postings (doc, precomputed BM25 term weight).
    postings: Vec<(f32, Vec<(u32, f32)>)>,
    max_idf: f32,
    /// Vectors quantised to 8-bit levels (±127, stored as i16), `dim` per doc, one scale per doc; empty when none.
    vectors: Vec<i16>,
    scales: Vec<f32>,
    dim: usize,
    /// Per entry: mean phrasing vector (normalised, f32) for candidate pruning; empty when no vectors.
    centroids: Vec<f32>,
    /// Per entry: its range of docs (phrasings are indexed entry after entry).
    entry_docs: Vec<std::ops::Range<usize>>,
    classifier: Option<TextClassifier>,
    /// classifier label index → entry index.
    class_entry: Vec<u32>,
    /// The words that name each product of these entries.
    products: ProductWords,
}

/// Above this many phrasings (and with more than twice [`PRUNE_KEEP`] entries) exact cosines are computed
/// only for candidate entries.
const PRUNE_MIN_DOCS: usize = 3000;
/// Entries kept per candidate source (centroid cosine, lexical, classifier).
const PRUNE_KEEP: usize = 8;

fn quantize(v: &[f32], out: &mut Vec<i16>) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let s = 127.0 / max;
    out.extend(v.iter().map(|x| (x * s).round().clamp(-127.0, 127.0) as i16));
    1.0 / s
}

/// Integer dot product of 8-bit levels held in i16 lanes: a plain widening i16→i32 reduction, which LLVM
/// vectorises on baseline x86-64 (`pmaddwd`) and 16 lanes wide in [`cosines`]' AVX2 instance.
/// i8 storage did not vectorise on the baseline (31 % slower); with AVX2 it does (`vpmovsxbw`),
/// halves the memory, but was still 4–10 % slower per query (docs/benchmarks.md, eighth session).
#[inline(always)]
fn dot_q(a: &[i16], b: &[i16]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

/// `out[i] = (rows[i] · q) × scales[i] × q_scale` for the 8-bit rows of `rows` (`q.len()` wide),
/// compiled also for AVX2, where [`dot_q`]'s `pmaddwd` is twice as wide as the baseline's
/// (chosen at run time; the integer sums are the same, so the result is too).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn cosines(rows: &[i16], scales: &[f32], q: &[i16], q_scale: f32, out: &mut [f32]) {
    for ((v, s), o) in rows.chunks_exact(q.len().max(1)).zip(scales).zip(out) {
        *o = dot_q(v, q) as f32 * s * q_scale;
    }
}

impl KnowledgeIndex {
    /// Indexes every phrasing of every entry. `vectors`, when given, holds one encoder vector per
    /// phrasing in [`FaqEntry::phrasings`] order, entry after entry (any other length is ignored and
    /// the index is lexical only).
    pub fn build(
        entries: Vec<FaqEntry>,
        analyzer: Analyzer,
        vectors: Option<&[Vec<f32>]>,
        config: RetrievalConfig,
    ) -> Self {
        let mut docs = Vec::new();
        let mut vocab: HashMap<Term, u32> = HashMap::new();
        let mut doc_terms: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut lens = Vec::new();
        for (ei, e) in entries.iter().enumerate() {
            for (pi, q) in e.phrasings().enumerate() {
                docs.push(Doc { entry: ei as u32, phrasing: pi as u32 });
                let mut tf: HashMap<u32, f32> = HashMap::new();
                let mut len = 0f32;
                for (t, kind) in analyzer.terms(q.as_str()) {
                    let n = vocab.len() as u32;
                    let id = *vocab.entry(t).or_insert(n);
                    *tf.entry(id).or_default() += 1.0;
                    len += kind.weight();
                }
                let mut tf: Vec<(u32, f32)> = tf.into_iter().collect();
                tf.sort_by_key(|x| x.0);
                doc_terms.push(tf);
                lens.push(len);
            }
        }
        let n_docs = docs.len().max(1) as f32;
        let avg = (lens.iter().sum::<f32>() / n_docs).max(1e-6);
        let mut postings: Vec<(f32, Vec<(u32, f32)>)> = vec![(0.0, Vec::new()); vocab.len()];
        for (d, terms) in doc_terms.iter().enumerate() {
            for &(t, f) in terms {
                postings[t as usize].1.push((d as u32, f));
            }
        }
        let (k1, b) = (config.k1, config.b);
        for (idf, list) in &mut postings {
            let df = list.len() as f32;
            *idf = (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln();
            for (d, w) in list.iter_mut() {
                let tf = *w;
                *w = *idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * lens[*d as usize] / avg));
            }
        }
        let max_idf = (1.0 + (n_docs + 0.5) / 0.5).ln();
        let (mut qv, mut scales, mut dim) = (Vec::new(), Vec::new(), 0);
        if let Some(vs) = vectors.filter(|vs| vs.len() == docs.len() && !vs.is_empty()) {
            dim = vs[0].len();
            if vs.iter().all(|v| v.len() == dim) {
                for v in vs {
                    scales.push(quantize(v, &mut qv));
                }
            } else {
                dim = 0;
            }
        }
        let mut entry_docs = vec![0..0; entries.len()];
        for (d, doc) in docs.iter().enumerate() {
            let r = &mut entry_docs[doc.entry as usize];
            if r.start == r.end {
                *r = d..d + 1;
            } else {
                r.end = d + 1;
            }
        }
        let mut centroids = Vec::new();
        if dim > 0 {
            if let Some(vs) = vectors {
                for r in &entry_docs {
                    let mut c = vec![0f32; dim];
                    for v in &vs[r.clone()] {
                        c.iter_mut().zip(v).for_each(|(a, b)| *a += b);
                    }
                    let n = c.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    centroids.extend(c.iter().map(|x| x / n));
                }
            }
        }
        KnowledgeIndex {
            products: ProductWords::learn(&entries),
            centroids,
            entry_docs,
            entries,
            analyzer,
            config,
            docs,
            vocab,
            postings,
            max_idf,
            vectors: qv,
            scales,
            dim,
            classifier: None,
            class_entry: Vec::new(),
        }
    }

    /// Trains a linear classifier over entries from their phrasings (TF-IDF features, plus the phrasing
    /// vectors when the index has them). Worth it when entries have many phrasings (≥ 10 each);
    /// returns false when there are fewer than two entries.
    pub fn train_classifier(&mut self, vectors: Option<&[Vec<f32>]>) -> bool {
        let texts: Vec<&str> = self
            .docs
            .iter()
            .map(|d| self.entries[d.entry as usize].phrasings().nth(d.phrasing as usize).map_or("", Question::as_str))
            .collect();
        let labels: Vec<String> = self.docs.iter().map(|d| format!("{:08}", d.entry)).collect();
        let config = ClassifierConfig::default();
        let model = match vectors.filter(|v| v.len() == texts.len() && self.dim > 0) {
            Some(v) => TextClassifier::train_with_dense(&texts, v, &labels, &config, 1.0),
            None => TextClassifier::train(&texts, &labels, &config),
        };
        match model {
            Ok(m) => {
                self.class_entry = m.labels().iter().map(|l| l.parse().unwrap_or(0)).collect();
                self.classifier = Some(m);
                true
            }
            Err(_) => false,
        }
    }

    /// The indexed entries.
    pub fn entries(&self) -> &[FaqEntry] {
        &self.entries
    }
    /// The entry with this id, if it is live at `now_ms`.
    pub fn live_entry(&self, id: &str, now_ms: i64) -> Option<&FaqEntry> {
        self.entries.iter().find(|e| e.id().as_str() == id && e.is_live(now_ms))
    }
    /// The words that name each product of the entries ([`ProductWords`]).
    pub fn product_words(&self) -> &ProductWords {
        &self.products
    }
    /// Number of indexed phrasings.
    pub fn n_phrasings(&self) -> usize {
        self.docs.len()
    }
    /// True when phrasing vectors are indexed.
    pub fn has_vectors(&self) -> bool {
        self.dim > 0
    }
    /// The analyser (to normalise text the same way elsewhere).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }
    /// Fusion weights in use.
    pub fn config(&self) -> RetrievalConfig {
        self.config
    }
    /// Replaces the fusion weights (BM25 k1/b stay as built).
    pub fn set_weights(&mut self, w_lexical: f32, w_semantic: f32, w_classifier: f32) {
        self.config.w_lexical = w_lexical;
        self.config.w_semantic = w_semantic;
        self.config.w_classifier = w_classifier;
    }

    /// Top `k` distinct live entries for `text` (and its query vector, if encoded) under `filter`.
    pub fn search(&self, text: &str, query_vector: Option<&[f32]>, filter: &Filter<'_>, k: usize) -> Ranking {
        let n = self.docs.len();
        let mut lex = vec![0f32; n];
        let mut denom = 0f32;
        let mut qtf: HashMap<Term, (f32, TermKind)> = HashMap::new();
        for (t, kind) in self.analyzer.terms(text) {
            qtf.entry(t).or_insert((0.0, kind)).0 += 1.0;
        }
        for (t, (count, kind)) in &qtf {
            let w = kind.weight() * count.min(2.0);
            match self.vocab.get(t) {
                Some(&id) => {
                    let (idf, list) = &self.postings[id as usize];
                    denom += w * idf * (self.config.k1 + 1.0);
                    for &(d, s) in list {
                        lex[d as usize] += w * s;
                    }
                }
                None => denom += w * self.max_idf * (self.config.k1 + 1.0) * 0.5,
            }
        }
        let inv = if denom > 0.0 { 1.0 / denom } else { 0.0 };
        let c = self.config;
        let mut clf_p: Vec<f32> = Vec::new();
        let q_ok = query_vector.filter(|q| self.dim > 0 && q.len() == self.dim);
        if let (Some(m), true) = (&self.classifier, c.w_classifier > 0.0) {
            let p = m.predict_with_dense(text, q_ok);
            clf_p = vec![0.0; self.entries.len()];
            for (cls, prob) in p.ranked {
                if let Some(&e) = self.class_entry.get(cls as usize) {
                    clf_p[e as usize] = prob;
                }
            }
        }
        // Candidate entries: all, unless the index is large; then the best by centroid cosine, by lexical
        // score and by classifier probability (exact phrasing cosines are computed for candidates only).
        let n_entries = self.entries.len();
        let mut candidate = vec![true; n_entries];
        if let (Some(q), true) = (q_ok, n > PRUNE_MIN_DOCS && n_entries > 2 * PRUNE_KEEP) {
            candidate.iter_mut().for_each(|x| *x = false);
            let mut mark = |scores: &[f32]| {
                let mut idx: Vec<usize> = (0..scores.len()).collect();
                idx.select_nth_unstable_by(PRUNE_KEEP, |a, b| scores[*b].total_cmp(&scores[*a]));
                idx[..PRUNE_KEEP].iter().for_each(|&e| candidate[e] = true);
            };
            let cent: Vec<f32> =
                self.centroids.chunks_exact(self.dim).map(|c| c.iter().zip(q).map(|(a, b)| a * b).sum()).collect();
            mark(&cent);
            let lex_max: Vec<f32> =
                self.entry_docs.iter().map(|r| lex[r.clone()].iter().fold(0f32, |m, x| m.max(*x))).collect();
            mark(&lex_max);
            if !clf_p.is_empty() {
                mark(&clf_p);
            }
        }
        let mut sem = Vec::new();
        let semantic_used = match q_ok {
            Some(q) => {
                let mut qq = Vec::with_capacity(self.dim);
                let qs = quantize(q, &mut qq);
                sem = vec![0f32; n];
                for (e, r) in self.entry_docs.iter().enumerate() {
                    if candidate[e] {
                        let vectors = &self.vectors[r.start * self.dim..r.end * self.dim];
                        cosines(vectors, &self.scales[r.clone()], &qq, qs, &mut sem[r.clone()]);
                    }
                }
                true
            }
            None => false,
        };
        // best phrasing per entry
        let mut best: Vec<Option<Hit>> = vec![None; self.entries.len()];
        let mut admitted: Vec<Option<bool>> = vec![None; self.entries.len()];
        for (d, doc) in self.docs.iter().enumerate() {
            let e = doc.entry as usize;
            if !candidate[e] {
                continue;
            }
            let l = (lex[d] * inv).min(1.0);
            let s = if semantic_used { sem[d] } else { 0.0 };
            let score = c.w_lexical * l + c.w_semantic * s;
            if best[e].as_ref().is_some_and(|h| h.score >= score) {
                continue;
            }
            if !*admitted[e].get_or_insert_with(|| filter.admits(&self.entries[e])) {
                continue;
            }
            best[e] = Some(Hit { entry: e, score, phrasing: doc.phrasing as usize, lexical: l, semantic: s });
        }
        let mut hits: Vec<Hit> = best.into_iter().flatten().collect();
        if !clf_p.is_empty() {
            for h in &mut hits {
                h.score += c.w_classifier * clf_p[h.entry];
            }
        }
        let k = k.min(hits.len());
        if k > 0 {
            hits.select_nth_unstable_by(k - 1, |a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
            hits.truncate(k);
            hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
        } else {
            hits.clear();
        }
        Ranking { hits, semantic_used }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic unit vectors of `dim` values.
    fn unit_vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = 0x9E37_79B9u32;
        (0..n)
            .map(|_| {
                let v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        (state as f32 / u32::MAX as f32) - 0.5
                    })
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect()
    }

    #[test]
    fn eight_bit_cosines_match_the_exact_ones_and_the_scalar_sum() {
        let dim = 384;
        let vs = unit_vectors(40, dim);
        let (mut rows, mut scales) = (Vec::new(), Vec::new());
        for v in &vs {
            scales.push(quantize(v, &mut rows));
        }
        let q = &vs[7];
        let mut qq = Vec::new();
        let qs = quantize(q, &mut qq);
        let mut out = vec![0f32; vs.len()];
        cosines(&rows, &scales, &qq, qs, &mut out);
        for (i, v) in vs.iter().enumerate() {
            let exact: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            assert!((out[i] - exact).abs() < 0.01, "row {i}: {} vs {exact}", out[i]);
            // Whatever instance ran, the integer sum is the plain one.
            let scalar: i32 =
                rows[i * dim..(i + 1) * dim].iter().zip(&qq).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum();
            assert_eq!(out[i], scalar as f32 * scales[i] * qs);
        }
        assert!((out[7] - 1.0).abs() < 0.01, "a vector with itself: {}", out[7]);
    }
}
