//! Tenant intent models: trained from Rasa-style examples (intent → utterances), returning
//! the top intent with a calibrated confidence, ranked alternatives, out-of-scope detection
//! and a second intent when a message asks two things ("我要退货，顺便问下发票怎么开").
//!
//! An [`IntentModel`] is an immutable value with a content-derived version id, so a server
//! can build a new one off the hot path and swap it in atomically behind an `Arc`.

use std::sync::{Arc, OnceLock};

use crate::classifier::{ClassifierConfig, FormatError, Rng, TextClassifier, TrainError};

/// The reserved intent of messages outside what the model knows (Rasa's convention): its
/// examples teach the model what is not in scope, and a message classified as it is reported
/// as out of scope (`top` empty, the best in-scope intent as `best_guess`).
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Labelled examples per intent, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentTrainingData {
    intents: Vec<(String, Vec<String>)>,
}

/// Why training data could not be parsed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    /// A line of the markdown training format could not be understood.
    #[error("line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The classifier could not be trained (e.g. fewer than two intents).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A serialised model could not be read.
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl IntentTrainingData {
    /// Empty data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds examples to `intent` (created if new); blank examples are skipped.
    pub fn add<I, S>(&mut self, intent: &str, examples: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let examples = examples.into_iter().map(Into::into).filter(|e: &String| !e.trim().is_empty());
        match self.intents.iter_mut().find(|(n, _)| n == intent) {
            Some((_, v)) => v.extend(examples),
            None => self.intents.push((intent.to_string(), examples.collect())),
        }
    }

    /// Parses the Rasa-markdown-like format: `## intent:NAME` (or `## NAME`) headings, each
    /// followed by `- example` lines; `#`-comments and blank lines are ignored.
    pub fn parse_markdown(text: &str) -> Result<Self, IntentError> {
        let mut data = Self::new();
        let mut current: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(h) = line.strip_prefix("##") {
                let name = h.trim();
                let name = name.strip_prefix("intent:").unwrap_or(name).trim();
                if name.is_empty() {
                    return Err(IntentError::Parse { line: i + 1, reason: "empty intent name" });
                }
                current = Some(name.to_string());
            } else if let Some(ex) = line.strip_prefix("- ").or_else(|| line.strip_prefix('-')) {
                let Some(intent) = &current else {
                    return Err(IntentError::Parse { line: i + 1, reason: "example before any intent heading" });
                };
                data.add(intent, [ex.trim()]);
            } else if line.starts_with('#') {
                continue;
            } else {
                return Err(IntentError::Parse { line: i + 1, reason: "expected `## intent:NAME` or `- example`" });
            }
        }
        Ok(data)
    }

    /// (intent, examples) pairs.
    pub fn intents(&self) -> &[(String, Vec<String>)] {
        &self.intents
    }

    fn flat(&self) -> (Vec<&str>, Vec<&str>) {
        self.intents.iter().flat_map(|(n, ex)| ex.iter().map(move |e| (e.as_str(), n.as_str()))).unzip()
    }
}

/// Training settings of an intent model.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentConfig {
    /// The underlying text classifier.
    pub classifier: ClassifierConfig,
    /// Fixed out-of-scope confidence threshold; `None` chooses one on a held-out slice.
    pub oos_threshold: Option<f32>,
    /// Share of in-scope held-out examples allowed below the chosen threshold.
    pub oos_false_reject_rate: f32,
    /// Fraction of examples held out for calibration and the threshold.
    pub holdout_fraction: f32,
    /// A clause's intent is reported as a second intent from this confidence on.
    pub second_intent_threshold: f32,
    /// Intents never reported as the second intent (small talk riding along).
    pub minor_intents: Vec<String>,
    /// How many ranked alternatives to return.
    pub n_alternatives: usize,
}

impl Default for IntentConfig {
    fn default() -> Self {
        Self {
            classifier: ClassifierConfig::default(),
            oos_threshold: None,
            oos_false_reject_rate: 0.05,
            holdout_fraction: 0.2,
            second_intent_threshold: 0.5,
            minor_intents: vec!["greeting".into(), "thanks".into()],
            n_alternatives: 5,
        }
    }
}

/// An intent with its calibrated confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentMatch {
    /// Intent name.
    pub intent: String,
    /// Calibrated probability in 0..=1.
    pub confidence: f32,
}

/// The understanding of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentResult {
    /// The recognised intent, `None` when out of scope.
    pub top: Option<IntentMatch>,
    /// The model's best guess even when out of scope (useful for suggestions).
    pub best_guess: IntentMatch,
    /// Ranked alternatives after the best guess.
    pub alternatives: Vec<IntentMatch>,
    /// Probability gap between the best and second intent.
    pub margin: f32,
    /// True when the message is outside the intents the model knows.
    pub out_of_scope: bool,
    /// A second, different intent asked in another clause of the same message.
    pub second: Option<IntentMatch>,
}

/// How well a model did on the stratified slice held out while training (the probe model,
/// trained without it, is what was scored): what a tenant sees after retraining.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingReport {
    /// Examples held out.
    pub holdout_examples: usize,
    /// Share of held-out examples whose best intent was right (out-of-scope not applied).
    pub holdout_accuracy: f32,
    /// Intents whose held-out recall was below 0.8, worst first: (intent, recall, held out).
    pub weak_intents: Vec<(String, f32, usize)>,
}

/// A trained intent model. Immutable; share it as `Arc<IntentModel>`.
#[derive(Debug, Clone)]
pub struct IntentModel {
    version: String,
    classifier: TextClassifier,
    oos_threshold: f32,
    second_intent_threshold: f32,
    minor_intents: Vec<String>,
    n_alternatives: usize,
}

/// FNV-1a over the training data and settings: the same inputs give the same version.
fn content_version(data: &IntentTrainingData, config: &IntentConfig) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        h ^= 0xFF;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    };
    for (n, ex) in &data.intents {
        eat(n.as_bytes());
        for e in ex {
            eat(e.as_bytes());
        }
    }
    eat(format!("{config:?}").as_bytes());
    format!("intent-{h:016x}")
}

impl IntentModel {
    /// Trains a model. Calibration and (unless fixed) the out-of-scope threshold come from a
    /// probe model trained without a stratified held-out slice; the returned model is trained
    /// on all examples.
    pub fn train(data: &IntentTrainingData, config: &IntentConfig) -> Result<Self, IntentError> {
        Self::train_with_report(data, config).map(|(m, _)| m)
    }

    /// [`Self::train`], also returning how the probe model did on the held-out slice.
    pub fn train_with_report(
        data: &IntentTrainingData,
        config: &IntentConfig,
    ) -> Result<(Self, TrainingReport), IntentError> {
        let (texts, labels) = data.flat();
        let mut classifier = TextClassifier::train(&texts, &labels, &config.classifier)?;
        // Hold out a stratified slice, at least one example per intent kept for training.
        let mut rng = Rng::new(config.classifier.train.seed ^ 0x1D);
        let mut held = vec![false; texts.len()];
        let mut start = 0;
        for (_, ex) in &data.intents {
            let mut idx: Vec<usize> = (start..start + ex.len()).collect();
            rng.shuffle(&mut idx);
            let n = ((ex.len() as f32) * config.holdout_fraction).round() as usize;
            for i in idx.iter().take(n.min(ex.len().saturating_sub(1))) {
                held[*i] = true;
            }
            start += ex.len();
        }
        let pick = |want: bool| -> (Vec<&str>, Vec<&str>) {
            texts.iter().zip(&labels).zip(&held).filter(|(_, h)| **h == want).map(|((t, l), _)| (*t, *l)).unzip()
        };
        let (pt, pl) = pick(false);
        let (ht, hl) = pick(true);
        let mut threshold = config.oos_threshold.unwrap_or(0.0);
        let mut report = TrainingReport::default();
        if !ht.is_empty() {
            if let Ok(mut probe) = TextClassifier::train(&pt, &pl, &config.classifier) {
                report = holdout_report(&probe, &ht, &hl);
                let t = probe.calibrate(&ht, &hl);
                classifier.set_temperature(t);
                if config.oos_threshold.is_none() {
                    threshold = choose_threshold(&probe, (&pt, &pl), (&ht, &hl), config);
                }
            }
        }
        let model = Self {
            version: content_version(data, config),
            classifier,
            oos_threshold: threshold,
            second_intent_threshold: config.second_intent_threshold,
            minor_intents: config.minor_intents.clone(),
            n_alternatives: config.n_alternatives,
        };
        Ok((model, report))
    }

    /// Content-derived version id (`intent-<hex>`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Intent names the model knows, sorted.
    pub fn intents(&self) -> &[String] {
        self.classifier.labels()
    }

    /// The out-of-scope confidence threshold in force.
    pub fn oos_threshold(&self) -> f32 {
        self.oos_threshold
    }

    /// The same model with another out-of-scope threshold (e.g. chosen on a tenant's dev set).
    pub fn with_oos_threshold(mut self, threshold: f32) -> Self {
        self.oos_threshold = threshold.clamp(0.0, 1.0);
        self
    }

    /// The underlying classifier.
    pub fn classifier(&self) -> &TextClassifier {
        &self.classifier
    }

    fn single(&self, text: &str) -> (IntentMatch, Vec<IntentMatch>, f32, bool) {
        let p = self.classifier.predict(text);
        let names = self.classifier.labels();
        let m = |(k, c): (u32, f32)| IntentMatch { intent: names[k as usize].clone(), confidence: c };
        let oos_class = self.classifier.label_index(OUT_OF_SCOPE);
        // The out-of-scope class is a verdict, never an intent to report; intents' confidences
        // are among the in-scope intents, as the threshold was chosen (`choose_threshold`).
        let oos_p = oos_class.and_then(|k| p.ranked.iter().find(|r| r.0 == k)).map_or(0.0, |r| r.1);
        let share = (1.0 - oos_p).max(1e-6);
        let mut ranked = p.ranked.iter().filter(|(k, _)| Some(*k) != oos_class).map(|(k, c)| (*k, c / share));
        let best = m(ranked.next().unwrap_or((0, 0.0)));
        let alternatives = ranked.take(self.n_alternatives).map(m).collect();
        let oos = p.n_known_features == 0
            || oos_class.is_some_and(|k| p.top().0 == k)
            || best.confidence < self.oos_threshold;
        (best, alternatives, p.margin(), oos)
    }

    /// Understands one message.
    pub fn classify(&self, text: &str) -> IntentResult {
        let (best, alternatives, margin, out_of_scope) = self.single(text);
        let clauses = split_clauses(text);
        let mut second: Option<IntentMatch> = None;
        if clauses.len() > 1 {
            for clause in clauses {
                let (m, _, _, oos) = self.single(clause);
                let differs = out_of_scope || m.intent != best.intent;
                if !oos
                    && differs
                    && m.confidence >= self.second_intent_threshold
                    && !self.minor_intents.contains(&m.intent)
                    && second.as_ref().is_none_or(|s| m.confidence > s.confidence)
                {
                    second = Some(m);
                }
            }
        }
        // When the whole message is unsure but one clause is confident, that clause leads.
        let (top, second) = match (out_of_scope, second) {
            (true, Some(s)) => (Some(s), None),
            (true, None) => (None, None),
            (false, s) => (Some(best.clone()), s),
        };
        IntentResult { out_of_scope: top.is_none(), top, best_guess: best, alternatives, margin, second }
    }

    /// Serialises the model (classifier artifact + settings).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"LXIM\x01".to_vec();
        let push_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        push_str(&mut out, &self.version);
        out.extend_from_slice(&self.oos_threshold.to_le_bytes());
        out.extend_from_slice(&self.second_intent_threshold.to_le_bytes());
        out.extend_from_slice(&(self.n_alternatives as u32).to_le_bytes());
        out.extend_from_slice(&(self.minor_intents.len() as u32).to_le_bytes());
        for m in &self.minor_intents {
            push_str(&mut out, m);
        }
        out.extend_from_slice(&self.classifier.to_bytes());
        out
    }

    /// Reads a model written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IntentError> {
        let mut c = Cursor { bytes, pos: 0 };
        if c.take(5)? != b"LXIM\x01" {
            return Err(FormatError::BadMagic.into());
        }
        let version = c.string()?;
        let oos_threshold = f32::from_bits(c.u32()?);
        let second = f32::from_bits(c.u32()?);
        let n_alternatives = c.u32()? as usize;
        let n_minor = c.u32()? as usize;
        let mut minor_intents = Vec::new();
        for _ in 0..n_minor {
            minor_intents.push(c.string()?);
        }
        let classifier = TextClassifier::from_bytes(&bytes[c.pos..])?;
        Ok(Self {
            version,
            classifier,
            oos_threshold: if oos_threshold.is_finite() { oos_threshold.clamp(0.0, 1.0) } else { 0.0 },
            second_intent_threshold: if second.is_finite() { second } else { 1.0 },
            minor_intents,
            n_alternatives: n_alternatives.min(1024),
        })
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IntentError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(IntentError::Format(FormatError::Corrupt("intent header")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, IntentError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, IntentError> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map(str::to_string)
            .map_err(|_| IntentError::Format(FormatError::Corrupt("intent header")))
    }
}

/// Connectives that start a new request inside one message.
const CONNECTIVES: &[&str] = &[
    "顺便问下",
    "顺便问一下",
    "顺便",
    "还有就是",
    "还有",
    "另外",
    "对了",
    "此外",
    "再问一下",
    "再问下",
    "以及",
    "同时",
    "并且",
    "而且",
];
const EN_CONNECTIVES: &[&str] =
    &["by the way", "btw", "also", "and", "plus", "besides", "additionally", "another thing"];

/// Splits a message into clauses at sentence punctuation and connectives. Clauses keep
/// their text without the connective; empty pieces are dropped.
pub fn split_clauses(text: &str) -> Vec<&str> {
    let mut cuts: Vec<(usize, usize)> = Vec::new(); // (start of separator, end of separator)
    for (i, c) in text.char_indices() {
        if matches!(c, '。' | '！' | '？' | '!' | '?' | ';' | '；' | '\n' | '，' | ',' | '~' | '～') {
            cuts.push((i, i + c.len_utf8()));
        }
    }
    for con in CONNECTIVES {
        let mut from = 0;
        while let Some(off) = text[from..].find(con) {
            let s = from + off;
            cuts.push((s, s + con.len()));
            from = s + con.len();
        }
    }
    let lower = text.to_ascii_lowercase();
    for con in EN_CONNECTIVES {
        let mut from = 0;
        while let Some(off) = lower[from..].find(con) {
            let s = from + off;
            let e = s + con.len();
            let before_ok = s == 0 || !lower.as_bytes()[s - 1].is_ascii_alphanumeric();
            let after_ok = e >= lower.len() || !lower.as_bytes()[e].is_ascii_alphanumeric();
            if before_ok && after_ok {
                cuts.push((s, e));
            }
            from = e;
        }
    }
    cuts.sort_unstable();
    let mut clauses = Vec::new();
    let mut pos = 0;
    for (s, e) in cuts {
        if s >= pos {
            clauses.push(&text[pos..s]);
            pos = e;
        } else if e > pos {
            pos = e;
        }
    }
    clauses.push(&text[pos..]);
    clauses.into_iter().map(str::trim).filter(|c| c.chars().filter(|ch| ch.is_alphanumeric()).count() >= 2).collect()
}

/// The out-of-scope threshold from the held-out slice: `oos_false_reject_rate` of its in-scope
/// examples have a lower confidence (at most). With an `out_of_scope` class the in-scope
/// confidences are diluted by it, which would drag the threshold down to its floor and let
/// gibberish through; so the threshold is then chosen on a probe trained without that class and
/// compared with the confidence among the in-scope intents (see `IntentModel::single`).
fn choose_threshold(
    probe: &TextClassifier,
    train: (&[&str], &[&str]),
    held: (&[&str], &[&str]),
    config: &IntentConfig,
) -> f32 {
    fn in_scope<'a>((t, l): (&[&'a str], &[&'a str])) -> (Vec<&'a str>, Vec<&'a str>) {
        t.iter().zip(l).filter(|(_, l)| **l != OUT_OF_SCOPE).map(|(t, l)| (*t, *l)).unzip()
    }
    let (ht, hl) = in_scope(held);
    let plain = if probe.label_index(OUT_OF_SCOPE).is_some() {
        let (pt, pl) = in_scope(train);
        TextClassifier::train(&pt, &pl, &config.classifier).ok().map(|mut c| {
            c.calibrate(&ht, &hl);
            c
        })
    } else {
        None
    };
    let scorer = plain.as_ref().unwrap_or(probe);
    let mut conf: Vec<f32> = ht.iter().map(|t| scorer.predict(t).top().1).collect();
    conf.sort_by(f32::total_cmp);
    let uniform = 1.0 / scorer.labels().len() as f32;
    // Never below "clearly better than uniform", never so high that ordinary messages are rejected.
    crate::intent_fused::false_reject_cap(&conf, config.oos_false_reject_rate).clamp((2.0 * uniform).min(0.3), 0.5)
}

fn holdout_report(probe: &TextClassifier, texts: &[&str], labels: &[&str]) -> TrainingReport {
    let names = probe.labels();
    let oos_class = probe.label_index(OUT_OF_SCOPE);
    // (right, seen) per intent, in first-seen order.
    let mut per: Vec<(&str, usize, usize)> = Vec::new();
    let mut right = 0;
    for (t, l) in texts.iter().zip(labels) {
        let p = probe.predict(t);
        // Out-of-scope not applied: an in-scope example's best in-scope intent; an
        // `out_of_scope` example is right when that class comes first.
        let best = if *l == OUT_OF_SCOPE {
            p.top().0
        } else {
            p.ranked.iter().map(|r| r.0).find(|k| Some(*k) != oos_class).unwrap_or(0)
        };
        let ok = names.get(best as usize).is_some_and(|n| n == l);
        right += usize::from(ok);
        match per.iter_mut().find(|p| p.0 == *l) {
            Some(p) => {
                p.1 += usize::from(ok);
                p.2 += 1;
            }
            None => per.push((l, usize::from(ok), 1)),
        }
    }
    let mut weak: Vec<(String, f32, usize)> = per
        .into_iter()
        .map(|(l, r, n)| (l.to_string(), r as f32 / n as f32, n))
        .filter(|(_, recall, _)| *recall < 0.8)
        .collect();
    weak.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    TrainingReport {
        holdout_examples: texts.len(),
        holdout_accuracy: if texts.is_empty() { 0.0 } else { right as f32 / texts.len() as f32 },
        weak_intents: weak,
    }
}

/// Language of a shipped default intent set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultLanguage {
    /// Simplified Chinese.
    Chinese,
    /// English.
    English,
}

/// The after-sales intents shipped for the demo tenant, as training data.
pub fn default_training_data(lang: DefaultLanguage) -> IntentTrainingData {
    let text = match lang {
        DefaultLanguage::Chinese => include_str!("../models/intents-zh.md"),
        DefaultLanguage::English => include_str!("../models/intents-en.md"),
    };
    // The shipped files are checked by tests; a parse failure is a build-time bug.
    IntentTrainingData::parse_markdown(text).unwrap_or_default()
}

/// The default after-sales intent model for `lang`, trained once at first use (well under a
/// second) and shared.
pub fn default_model(lang: DefaultLanguage) -> Arc<IntentModel> {
    static ZH: OnceLock<Arc<IntentModel>> = OnceLock::new();
    static EN: OnceLock<Arc<IntentModel>> = OnceLock::new();
    let cell = match lang {
        DefaultLanguage::Chinese => &ZH,
        DefaultLanguage::English => &EN,
    };
    cell.get_or_init(|| {
        let data = default_training_data(lang);
        let model =
            IntentModel::train(&data, &IntentConfig::default()).expect("the shipped intent data has many intents");
        Arc::new(model)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_at_connectives_and_punctuation() {
        assert_eq!(split_clauses("我要退货，顺便问下发票怎么开"), vec!["我要退货", "发票怎么开"]);
        assert_eq!(
            split_clauses("Where is my order? Also I need an invoice"),
            vec!["Where is my order", "I need an invoice"]
        );
        assert_eq!(split_clauses("android"), vec!["android"]);
        assert!(split_clauses("").is_empty());
    }

    #[test]
    fn markdown_parses_and_reports_errors() {
        let d = IntentTrainingData::parse_markdown("## intent:a\n- x\n- y\n## b\n-z\n").unwrap();
        assert_eq!(d.intents().len(), 2);
        assert_eq!(d.intents()[1].1, vec!["z".to_string()]);
        assert!(matches!(IntentTrainingData::parse_markdown("- orphan"), Err(IntentError::Parse { line: 1, .. })));
    }

    #[test]
    fn the_training_report_scores_the_held_out_slice_and_names_weak_intents() {
        let (_, report) =
            IntentModel::train_with_report(&default_training_data(DefaultLanguage::Chinese), &IntentConfig::default())
                .unwrap();
        assert!(report.holdout_examples > 20, "{report:?}");
        assert!(report.holdout_accuracy > 0.8, "{report:?}");
        // Two intents trained on the same sentences cannot be told apart: both are weak.
        let mut d = IntentTrainingData::new();
        let same = ["查一下订单", "订单在哪", "看看我的订单", "订单状态", "订单到哪了"];
        d.add("a", same);
        d.add("b", same);
        d.add("c", ["开发票", "发票怎么开", "要发票", "电子发票", "发票抬头"]);
        let (_, r) = IntentModel::train_with_report(&d, &IntentConfig::default()).unwrap();
        assert_eq!(r.holdout_examples, 3);
        let weak: Vec<&str> = r.weak_intents.iter().map(|w| w.0.as_str()).collect();
        assert!(!weak.contains(&"c"), "{r:?}");
        assert!(!weak.is_empty() && weak.iter().all(|w| *w == "a" || *w == "b"), "{r:?}");
    }
}
