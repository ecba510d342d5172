//! Text analysis for retrieval: normalised text cut into weighted lexical terms of several kinds.
//!
//! Kinds (and the default weight each contributes to BM25): jieba words (1.0), Han character bigrams
//! (0.6) and unigrams (0.2) so that unsegmented text and one-character typos still match, English
//! words lower-cased and lightly stemmed (1.0), English in-word character trigrams (0.15) for typos,
//! numbers (0.5).

use lingxi_nlu::language::is_han;
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::{Segmenter, TokenKind};

/// Kind of a lexical term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TermKind {
    /// Chinese word from jieba.
    Word,
    /// Han character bigram.
    Bigram,
    /// Han character.
    Unigram,
    /// English word stem.
    Stem,
    /// English character trigram.
    Trigram,
    /// Number.
    Number,
}

impl TermKind {
    /// Default weight in the BM25 sum.
    pub fn weight(self) -> f32 {
        match self {
            TermKind::Word | TermKind::Stem => 1.0,
            TermKind::Bigram => 0.6,
            TermKind::Unigram => 0.2,
            TermKind::Trigram => 0.15,
            TermKind::Number => 0.5,
        }
    }
    fn tag(self) -> char {
        match self {
            TermKind::Word => 'w',
            TermKind::Bigram => 'b',
            TermKind::Unigram => 'u',
            TermKind::Stem => 's',
            TermKind::Trigram => 't',
            TermKind::Number => 'n',
        }
    }
}

/// A term: kind tag + text, e.g. `w退款`.
pub type Term = String;

/// Normaliser + segmenter of one tenant.
#[derive(Debug, Clone, Default)]
pub struct Analyzer {
    normalizer: Normalizer,
    segmenter: Segmenter,
}

const STOP: &[&str] =
    &["a", "an", "the", "i", "my", "me", "to", "is", "it", "do", "of", "for", "can", "be", "on", "in"];

/// Light English stemmer: drops common inflection suffixes from words longer than four letters.
pub fn stem(word: &str) -> &str {
    if word.len() <= 4 || !word.is_ascii() {
        return word;
    }
    for suffix in ["ational", "ations", "ation", "ings", "ing", "ied", "ies", "ed", "es", "ly", "s"] {
        if let Some(s) = word.strip_suffix(suffix) {
            if s.len() >= 3 {
                return s;
            }
        }
    }
    word
}

impl Analyzer {
    /// An analyser with the tenant's extra words (product names, brands) for typo repair and segmentation.
    pub fn new(extra_words: &[String]) -> Self {
        Analyzer { normalizer: Normalizer::new(extra_words), segmenter: Segmenter::with_user_words(extra_words) }
    }

    /// Normalised text (traditional → simplified, typos and colloquialisms repaired, lower-case).
    pub fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text).text
    }

    /// Terms of `text` with their kinds (repeats kept: they are term frequencies).
    pub fn terms(&self, text: &str) -> Vec<(Term, TermKind)> {
        let norm = self.normalize(text);
        let mut out = Vec::new();
        let mut push = |kind: TermKind, s: &str| {
            let mut t = String::with_capacity(s.len() + 1);
            t.push(kind.tag());
            t.push_str(s);
            out.push((t, kind));
        };
        for tok in self.segmenter.tokens(&norm) {
            match tok.kind {
                TokenKind::Han => push(TermKind::Word, &tok.text),
                TokenKind::Number => push(TermKind::Number, &tok.text),
                TokenKind::Latin => {
                    let w = tok.text.as_str();
                    if !STOP.contains(&w) {
                        push(TermKind::Stem, stem(w));
                    }
                    let padded: Vec<char> = std::iter::once('^').chain(w.chars()).chain(std::iter::once('$')).collect();
                    if padded.len() >= 5 {
                        for win in padded.windows(3) {
                            push(TermKind::Trigram, &win.iter().collect::<String>());
                        }
                    }
                }
                _ => {}
            }
        }
        let chars: Vec<char> = norm.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if is_han(c) {
                push(TermKind::Unigram, c.encode_utf8(&mut [0; 4]));
                if let Some(&d) = chars.get(i + 1).filter(|d| is_han(**d)) {
                    let mut s = String::new();
                    s.push(c);
                    s.push(d);
                    push(TermKind::Bigram, &s);
                }
            }
        }
        out
    }
}
