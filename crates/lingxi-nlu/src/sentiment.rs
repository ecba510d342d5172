//! Sentiment and service emotions per message and over a conversation: a learned polarity
//! model (shipped artifacts, embedded in the binary) combined with a lexicon/rule layer for
//! anger, anxiety/urgency, disappointment and satisfaction, plus a [`SentimentTrend`] whose
//! [`HandoffSignals`] the hand-off policy can act on.
//!
//! The models were trained on review and tweet corpora; the lexicon covers what those miss
//! in service chats (投诉, 转人工 anger, "asap" urgency, emoji, repeated ！！).

use std::sync::OnceLock;

use crate::classifier::{FormatError, TextClassifier};
use crate::features::{fold_char, is_cjk};

/// Shipped Chinese polarity model (binary: "0" negative, "1" positive); empty until built.
const ZH_MODEL: &[u8] = include_bytes!("../models/sentiment-zh.bin");
/// Shipped English polarity model ("negative" / "neutral" / "positive"); empty until built.
const EN_MODEL: &[u8] = include_bytes!("../models/sentiment-en.bin");
/// Shipped Chinese subjectivity gate ("neutral" / "opinion"): whether a message carries any
/// sentiment at all, which the review-trained polarity model cannot tell.
const ZH_SUBJECTIVITY: &[u8] = include_bytes!("../models/subjectivity-zh.bin");

/// Overall polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Pleased, thankful.
    Positive,
    /// Matter-of-fact.
    Neutral,
    /// Unhappy.
    Negative,
}

/// Service emotions, each in 0..=1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Emotions {
    /// Anger, hostility, threats to complain.
    pub anger: f32,
    /// Anxiety and urgency ("赶紧", "asap").
    pub anxiety: f32,
    /// Disappointment, resignation.
    pub disappointment: f32,
    /// Satisfaction, gratitude.
    pub satisfaction: f32,
}

/// The sentiment of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentResult {
    /// Polarity.
    pub polarity: Polarity,
    /// Signed score in -1..=1 (negative to positive).
    pub score: f32,
    /// Strength of the feeling in 0..=1, whatever its sign.
    pub intensity: f32,
    /// Service emotions.
    pub emotions: Emotions,
}

impl SentimentResult {
    /// A neutral result (empty or unreadable text).
    pub fn neutral() -> Self {
        Self { polarity: Polarity::Neutral, score: 0.0, intensity: 0.0, emotions: Emotions::default() }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Emo {
    Anger,
    Anxiety,
    Disappointment,
    Satisfaction,
}

/// (cue, emotion, weight). Cues are matched on folded (lower-cased, half-width) text.
const LEXICON: &[(&str, Emo, f32)] = &[
    // Anger.
    ("😡", Emo::Anger, 1.2),
    ("🤬", Emo::Anger, 1.5),
    ("😠", Emo::Anger, 1.0),
    ("💢", Emo::Anger, 1.0),
    ("怒", Emo::Anger, 0.8),
    ("气死", Emo::Anger, 1.2),
    ("生气", Emo::Anger, 0.9),
    ("火大", Emo::Anger, 1.0),
    ("投诉", Emo::Anger, 1.0),
    ("垃圾", Emo::Anger, 1.2),
    ("骗子", Emo::Anger, 1.4),
    ("骗人", Emo::Anger, 1.2),
    ("坑人", Emo::Anger, 1.1),
    ("坑爹", Emo::Anger, 1.0),
    ("黑心", Emo::Anger, 1.1),
    ("无良", Emo::Anger, 1.1),
    ("什么破", Emo::Anger, 1.0),
    ("破玩意", Emo::Anger, 1.1),
    ("妈的", Emo::Anger, 1.3),
    ("tmd", Emo::Anger, 1.3),
    ("滚", Emo::Anger, 0.8),
    ("忍无可忍", Emo::Anger, 1.4),
    ("过分", Emo::Anger, 0.9),
    ("恶心", Emo::Anger, 1.0),
    ("差评", Emo::Anger, 0.8),
    ("曝光", Emo::Anger, 1.0),
    ("12315", Emo::Anger, 1.2),
    ("消协", Emo::Anger, 1.1),
    ("起诉", Emo::Anger, 1.1),
    ("报警", Emo::Anger, 1.1),
    ("态度差", Emo::Anger, 1.0),
    ("太差", Emo::Anger, 0.8),
    ("angry", Emo::Anger, 1.0),
    ("furious", Emo::Anger, 1.4),
    ("ridiculous", Emo::Anger, 1.0),
    ("unacceptable", Emo::Anger, 1.1),
    ("outrageous", Emo::Anger, 1.2),
    ("scam", Emo::Anger, 1.3),
    ("fraud", Emo::Anger, 1.2),
    ("terrible", Emo::Anger, 0.9),
    ("worst", Emo::Anger, 1.0),
    ("pathetic", Emo::Anger, 1.1),
    ("disgusting", Emo::Anger, 1.1),
    ("rude", Emo::Anger, 0.9),
    ("wtf", Emo::Anger, 1.2),
    ("hate", Emo::Anger, 0.9),
    ("sue you", Emo::Anger, 1.3),
    ("lawyer", Emo::Anger, 1.0),
    ("rip-off", Emo::Anger, 1.1),
    ("ripoff", Emo::Anger, 1.1),
    ("bullshit", Emo::Anger, 1.3),
    ("complaint", Emo::Anger, 0.7),
    ("useless", Emo::Anger, 0.9),
    // Anxiety / urgency.
    ("急", Emo::Anxiety, 0.8),
    ("赶紧", Emo::Anxiety, 1.0),
    ("尽快", Emo::Anxiety, 0.8),
    ("马上", Emo::Anxiety, 0.7),
    ("立刻", Emo::Anxiety, 0.9),
    ("快点", Emo::Anxiety, 0.9),
    ("等不了", Emo::Anxiety, 1.1),
    ("怎么还没", Emo::Anxiety, 0.9),
    ("还没到", Emo::Anxiety, 0.7),
    ("催", Emo::Anxiety, 0.7),
    ("担心", Emo::Anxiety, 0.8),
    ("今天必须", Emo::Anxiety, 1.0),
    ("😰", Emo::Anxiety, 1.0),
    ("😟", Emo::Anxiety, 0.8),
    ("😱", Emo::Anxiety, 1.0),
    ("⏰", Emo::Anxiety, 0.6),
    ("asap", Emo::Anxiety, 1.1),
    ("urgent", Emo::Anxiety, 1.1),
    ("immediately", Emo::Anxiety, 0.9),
    ("right now", Emo::Anxiety, 0.8),
    ("hurry", Emo::Anxiety, 0.9),
    ("emergency", Emo::Anxiety, 1.1),
    ("still waiting", Emo::Anxiety, 0.9),
    ("been waiting", Emo::Anxiety, 0.9),
    ("as soon as possible", Emo::Anxiety, 1.0),
    ("worried", Emo::Anxiety, 0.9),
    // Disappointment.
    ("失望", Emo::Disappointment, 1.2),
    ("遗憾", Emo::Disappointment, 0.8),
    ("心寒", Emo::Disappointment, 1.1),
    ("无语", Emo::Disappointment, 0.9),
    ("郁闷", Emo::Disappointment, 0.8),
    ("难过", Emo::Disappointment, 0.8),
    ("伤心", Emo::Disappointment, 0.9),
    ("后悔", Emo::Disappointment, 1.0),
    ("不会再买", Emo::Disappointment, 1.2),
    ("再也不", Emo::Disappointment, 1.0),
    ("白等", Emo::Disappointment, 0.9),
    ("唉", Emo::Disappointment, 0.6),
    ("😞", Emo::Disappointment, 1.0),
    ("😔", Emo::Disappointment, 0.9),
    ("😢", Emo::Disappointment, 0.9),
    ("😭", Emo::Disappointment, 1.0),
    ("💔", Emo::Disappointment, 0.9),
    ("🙁", Emo::Disappointment, 0.8),
    ("☹", Emo::Disappointment, 0.8),
    ("disappointed", Emo::Disappointment, 1.2),
    ("disappointing", Emo::Disappointment, 1.1),
    ("let down", Emo::Disappointment, 1.0),
    ("unfortunately", Emo::Disappointment, 0.5),
    ("never again", Emo::Disappointment, 1.1),
    ("regret", Emo::Disappointment, 0.9),
    ("expected better", Emo::Disappointment, 1.0),
    ("sad", Emo::Disappointment, 0.7),
    // Satisfaction.
    ("满意", Emo::Satisfaction, 1.0),
    ("谢谢", Emo::Satisfaction, 0.8),
    ("感谢", Emo::Satisfaction, 0.9),
    ("好评", Emo::Satisfaction, 1.0),
    ("太好了", Emo::Satisfaction, 1.0),
    ("不错", Emo::Satisfaction, 0.8),
    ("给力", Emo::Satisfaction, 1.0),
    ("赞", Emo::Satisfaction, 0.8),
    ("棒", Emo::Satisfaction, 0.8),
    ("完美", Emo::Satisfaction, 1.0),
    ("喜欢", Emo::Satisfaction, 0.8),
    ("辛苦了", Emo::Satisfaction, 0.8),
    ("👍", Emo::Satisfaction, 1.0),
    ("😊", Emo::Satisfaction, 0.9),
    ("😀", Emo::Satisfaction, 0.8),
    ("😄", Emo::Satisfaction, 0.9),
    ("❤", Emo::Satisfaction, 0.9),
    ("🙏", Emo::Satisfaction, 0.6),
    ("😍", Emo::Satisfaction, 1.0),
    ("🎉", Emo::Satisfaction, 0.8),
    ("thank", Emo::Satisfaction, 0.8),
    ("thx", Emo::Satisfaction, 0.7),
    ("great", Emo::Satisfaction, 0.8),
    ("awesome", Emo::Satisfaction, 1.0),
    ("excellent", Emo::Satisfaction, 1.0),
    ("love", Emo::Satisfaction, 0.8),
    ("perfect", Emo::Satisfaction, 1.0),
    ("amazing", Emo::Satisfaction, 1.0),
    ("appreciate", Emo::Satisfaction, 0.9),
    ("satisfied", Emo::Satisfaction, 1.0),
    ("happy", Emo::Satisfaction, 0.8),
    ("helpful", Emo::Satisfaction, 0.8),
];

const ZH_NEGATORS: &[char] = &['不', '没', '别'];
const EN_NEGATORS: &[&str] = &["not ", "n't ", "never ", "no ", "dont ", "didnt ", "isnt ", "wasnt "];

/// One automaton over all cues: a single pass over the text instead of one per cue.
fn lexicon_matcher() -> &'static aho_corasick::AhoCorasick {
    static AC: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        aho_corasick::AhoCorasick::new(LEXICON.iter().map(|(cue, _, _)| cue)).expect("the cue list is small and valid")
    })
}

fn saturate(x: f32) -> f32 {
    1.0 - (-x.max(0.0)).exp()
}

/// Lexicon/rule emotions of `folded` (already folded) text and the raw `text`.
pub fn emotions(text: &str) -> Emotions {
    let folded: String = text.chars().map(fold_char).collect();
    let mut acc = [0f32; 4];
    for m in lexicon_matcher().find_overlapping_iter(&folded) {
        let (cue, emo, w) = LEXICON[m.pattern().as_usize()];
        let (at, end) = (m.start(), m.end());
        let ascii = cue.is_ascii() && cue.chars().next().is_some_and(char::is_alphanumeric);
        if ascii {
            // Whole words only: "sad" must not fire inside "crusade".
            let b = folded.as_bytes();
            let before = at == 0 || !b[at - 1].is_ascii_alphabetic();
            let after = end >= b.len() || !b[end].is_ascii_alphabetic() || cue == "thank";
            if !(before && after) {
                continue;
            }
        }
        let head = &folded[..at];
        let negated = if ascii {
            let tail_start = head.char_indices().rev().nth(7).map_or(0, |(i, _)| i);
            EN_NEGATORS.iter().any(|n| head[tail_start..].ends_with(n))
        } else {
            head.chars().rev().take(2).any(|c| ZH_NEGATORS.contains(&c))
        };
        let slot = match (emo, negated) {
            // "不满意", "not happy": unmet expectations.
            (Emo::Satisfaction, true) => 2,
            (_, true) => continue,
            (Emo::Anger, false) => 0,
            (Emo::Anxiety, false) => 1,
            (Emo::Disappointment, false) => 2,
            (Emo::Satisfaction, false) => 3,
        };
        acc[slot] += w;
    }
    // Repeated exclamation / question marks and shouting amplify what is there.
    let bangs = max_run(&folded, |c| c == '!');
    let questions = max_run(&folded, |c| c == '?');
    if bangs >= 2 {
        acc[0] += 0.3 * (bangs.min(5) as f32 - 1.0);
        acc[1] += 0.2 * (bangs.min(5) as f32 - 1.0);
    }
    if questions >= 2 {
        acc[1] += 0.3 * (questions.min(5) as f32 - 1.0);
        acc[0] += 0.15 * (questions.min(5) as f32 - 1.0);
    }
    let shouted = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase()))
        .count();
    if shouted >= 2 {
        acc[0] += 0.4;
    }
    Emotions {
        anger: saturate(acc[0]),
        anxiety: saturate(acc[1]),
        disappointment: saturate(acc[2]),
        satisfaction: saturate(acc[3]),
    }
}

fn max_run(s: &str, pred: impl Fn(char) -> bool) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if pred(c) {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Polarity models plus the lexicon layer.
#[derive(Debug, Clone)]
pub struct SentimentModel {
    zh: Option<TextClassifier>,
    en: Option<TextClassifier>,
    /// Scales the Chinese model's polarity by the chance the message is an opinion at all.
    zh_gate: Option<TextClassifier>,
    neutral_band: f32,
}

impl SentimentModel {
    /// A model from serialised polarity classifiers (either may be absent: the lexicon
    /// layer still works).
    pub fn from_bytes(zh: Option<&[u8]>, en: Option<&[u8]>) -> Result<Self, FormatError> {
        Ok(Self {
            zh: zh.map(TextClassifier::from_bytes).transpose()?,
            en: en.map(TextClassifier::from_bytes).transpose()?,
            zh_gate: None,
            neutral_band: 0.35,
        })
    }

    /// From already trained classifiers. Chinese: labels "0"/"1"; English: labels
    /// "negative"/"neutral"/"positive" (or "0"/"1").
    pub fn from_classifiers(zh: Option<TextClassifier>, en: Option<TextClassifier>) -> Self {
        Self { zh, en, zh_gate: None, neutral_band: 0.35 }
    }

    /// With a Chinese subjectivity gate (labels "neutral" / "opinion"): the learned polarity
    /// of a Chinese message counts in proportion to the gate's "opinion" probability.
    pub fn with_subjectivity_gate(mut self, zh_gate: Option<TextClassifier>) -> Self {
        self.zh_gate = zh_gate;
        self
    }

    /// Lexicon only (no learned polarity).
    pub fn lexicon_only() -> Self {
        Self::from_classifiers(None, None)
    }

    /// Whether learned polarity is available for (Chinese, English).
    pub fn has_models(&self) -> (bool, bool) {
        (self.zh.is_some(), self.en.is_some())
    }

    /// Signed polarity in -1..=1 from the learned model for the text's script, if any.
    fn model_score(&self, text: &str) -> Option<f32> {
        let (mut cjk, mut latin) = (0usize, 0usize);
        for c in text.chars() {
            if is_cjk(c) {
                cjk += 1;
            } else if c.is_ascii_alphabetic() {
                latin += 1;
            }
        }
        if cjk == 0 && latin == 0 {
            return None;
        }
        // One Chinese character carries about as much as a short English word.
        let chinese = cjk * 4 >= latin;
        let clf = if chinese { self.zh.as_ref() } else { self.en.as_ref() }?;
        let p = clf.predict(text);
        if p.n_known_features == 0 {
            return None;
        }
        let prob = |name: &str| clf.label_index(name).map_or(0.0, |i| prob_of(&p, i));
        let pos = prob("positive").max(prob("1"));
        let neg = prob("negative").max(prob("0"));
        let opinion = match self.zh_gate.as_ref().filter(|_| chinese) {
            Some(gate) => {
                let g = gate.predict(text);
                gate.label_index("opinion").map_or(1.0, |i| prob_of(&g, i))
            }
            None => 1.0,
        };
        Some((pos - neg) * opinion)
    }

    /// Sentiment of one message.
    pub fn analyze(&self, text: &str) -> SentimentResult {
        if text.trim().is_empty() {
            return SentimentResult::neutral();
        }
        let emotions = emotions(text);
        let negative_cue = emotions.anger.max(emotions.disappointment).max(emotions.anxiety * 0.5);
        let lexicon = emotions.satisfaction - negative_cue;
        let cue_strength = emotions.satisfaction.max(negative_cue);
        let score = match self.model_score(text) {
            // Strong cues dominate review-trained models on service chat; weak cues nudge.
            Some(m) => (m * (1.0 - 0.6 * cue_strength) + lexicon * (0.6 * cue_strength + 0.2)).clamp(-1.0, 1.0),
            None => lexicon.clamp(-1.0, 1.0),
        };
        let polarity = if score >= self.neutral_band {
            Polarity::Positive
        } else if score <= -self.neutral_band {
            Polarity::Negative
        } else {
            Polarity::Neutral
        };
        let intensity = score.abs().max(emotions.anger).max(emotions.disappointment).clamp(0.0, 1.0);
        SentimentResult { polarity, score, intensity, emotions }
    }
}

fn prob_of(p: &crate::classifier::Prediction, class: u32) -> f32 {
    p.ranked.iter().find(|(k, _)| *k == class).map_or(0.0, |(_, v)| *v)
}

/// The shipped sentiment model (artifacts embedded at build time), loaded once.
pub fn default_model() -> &'static SentimentModel {
    static MODEL: OnceLock<SentimentModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let load = |b: &[u8]| TextClassifier::from_bytes(b).ok();
        SentimentModel::from_classifiers(load(ZH_MODEL), load(EN_MODEL)).with_subjectivity_gate(load(ZH_SUBJECTIVITY))
    })
}

/// Sentiment of one message with the shipped model.
pub fn analyze(text: &str) -> SentimentResult {
    default_model().analyze(text)
}

/// How sentiment moves over a conversation's customer messages.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentTrend {
    /// Messages seen.
    pub n_messages: usize,
    /// Mean signed score.
    pub average_score: f32,
    /// The last message's result.
    pub last: Option<SentimentResult>,
    /// Highest anger seen.
    pub max_anger: f32,
    /// Least-squares slope of anger per message over the last five messages.
    pub anger_slope: f32,
    /// Anger has gone up over recent messages and is now noticeable.
    pub anger_rising: bool,
    /// Consecutive negative messages at the end of the conversation.
    pub negative_streak: usize,
}

/// Conditions a hand-off policy can act on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandoffSignals {
    /// The last message is clearly angry.
    pub angry: bool,
    /// Anger is rising across messages.
    pub anger_rising: bool,
    /// The customer is pressing for speed.
    pub urgent: bool,
    /// Several negative messages in a row.
    pub persistently_negative: bool,
}

impl HandoffSignals {
    /// True when any signal is raised.
    pub fn any(&self) -> bool {
        self.angry || self.anger_rising || self.urgent || self.persistently_negative
    }
}

impl SentimentTrend {
    /// Summarises per-message results in conversation order.
    pub fn from_results(results: &[SentimentResult]) -> Self {
        let n = results.len();
        let average_score = if n == 0 { 0.0 } else { results.iter().map(|r| r.score).sum::<f32>() / n as f32 };
        let max_anger = results.iter().map(|r| r.emotions.anger).fold(0.0, f32::max);
        let recent = &results[n.saturating_sub(5)..];
        let anger_slope = slope(&recent.iter().map(|r| r.emotions.anger).collect::<Vec<_>>());
        let last_anger = results.last().map_or(0.0, |r| r.emotions.anger);
        let negative_streak = results.iter().rev().take_while(|r| r.polarity == Polarity::Negative).count();
        Self {
            n_messages: n,
            average_score,
            last: results.last().cloned(),
            max_anger,
            anger_slope,
            anger_rising: recent.len() >= 2 && anger_slope > 0.1 && last_anger >= 0.4,
            negative_streak,
        }
    }

    /// Hand-off signals derived from the trend.
    pub fn signals(&self) -> HandoffSignals {
        let last = self.last.as_ref();
        HandoffSignals {
            angry: last.is_some_and(|r| r.emotions.anger >= 0.7),
            anger_rising: self.anger_rising,
            urgent: last.is_some_and(|r| r.emotions.anxiety >= 0.6),
            persistently_negative: self.negative_streak >= 3,
        }
    }
}

fn slope(ys: &[f32]) -> f32 {
    let n = ys.len() as f32;
    if ys.len() < 2 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = ys.iter().sum::<f32>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f32 - mx;
        num += dx * (y - my);
        den += dx * dx;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_QUESTIONS: [&str; 6] = [
        "发票怎么开",
        "退款多久到账？",
        "我的快递到哪了",
        "怎么修改收货地址",
        "会员积分怎么用",
        "扫地机器人不充电怎么办",
    ];

    #[test]
    fn plain_service_questions_are_neutral_and_three_of_them_are_no_reason_to_hand_over() {
        let results: Vec<SentimentResult> = PLAIN_QUESTIONS.iter().map(|q| analyze(q)).collect();
        for (q, r) in PLAIN_QUESTIONS.iter().zip(&results) {
            assert_eq!(r.polarity, Polarity::Neutral, "{q}: {r:?}");
        }
        assert!(!SentimentTrend::from_results(&results).signals().persistently_negative);
        // Opinions still count, both ways.
        for q in ["东西质量太差了，用了两天就坏", "等了一个星期还没到，太慢了", "什么破快递，气死我了"]
        {
            assert_eq!(analyze(q).polarity, Polarity::Negative, "{q}");
        }
        for q in ["客服态度很好，很满意", "这个耳机音质不错"] {
            assert_eq!(analyze(q).polarity, Polarity::Positive, "{q}");
        }
    }

    #[test]
    fn without_the_subjectivity_gate_the_review_model_reads_questions_as_complaints() {
        // Why the gate exists: the polarity model alone, trained on reviews only.
        let ungated = SentimentModel::from_classifiers(TextClassifier::from_bytes(ZH_MODEL).ok(), None);
        let negative = PLAIN_QUESTIONS.iter().filter(|q| ungated.analyze(q).polarity == Polarity::Negative).count();
        assert!(negative >= 4, "{negative} of {} read as negative", PLAIN_QUESTIONS.len());
    }

    #[test]
    fn lexicon_finds_service_emotions() {
        let e = emotions("气死我了！！垃圾客服，我要投诉😡");
        assert!(e.anger > 0.9, "{e:?}");
        let e = emotions("请赶紧处理，急用 asap");
        assert!(e.anxiety > 0.8, "{e:?}");
        let e = emotions("不满意，太失望了");
        assert!(e.disappointment > 0.8 && e.satisfaction < 0.1, "{e:?}");
        let e = emotions("Thanks, that was really helpful 👍");
        assert!(e.satisfaction > 0.8, "{e:?}");
        assert_eq!(emotions("the crusade"), Emotions::default());
    }

    #[test]
    fn trend_detects_rising_anger() {
        let m = SentimentModel::lexicon_only();
        let msgs = ["我的快递到哪了", "怎么还没到？？", "太过分了！！", "气死了，垃圾，我要投诉😡"];
        let results: Vec<_> = msgs.iter().map(|t| m.analyze(t)).collect();
        let trend = SentimentTrend::from_results(&results);
        assert!(trend.anger_rising, "{trend:?}");
        assert!(trend.signals().angry);
        assert!(trend.signals().any());
        assert_eq!(SentimentTrend::from_results(&[]).signals(), HandoffSignals::default());
    }
}
