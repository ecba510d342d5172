//! Word segmentation of normalised text: jieba for Chinese, with per-tenant user dictionaries.
//!
//! The jieba dictionary is loaded once per process (a `OnceLock`) and shared read-only. A tenant's
//! words (product names, brands) live in the tenant's own [`Segmenter`] as an overlay: they are
//! matched first (leftmost-longest) and kept whole, and jieba cuts the text between them. Adding
//! words to one tenant's segmenter therefore never changes another tenant's tokens, and costs no
//! copy of the dictionary.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use jieba_rs::Jieba;

use crate::language::is_han;
use crate::normalize::{fold_chars, is_emoji};

/// The shared jieba instance with its default dictionary.
fn base_jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// True when `word` is in jieba's default dictionary (used to keep real words out of typo repair).
pub(crate) fn is_dictionary_word(word: &str) -> bool {
    base_jieba().has_word(word)
}

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Chinese word.
    Han,
    /// Latin-script word (lower-cased), possibly with digits (`iphone15`).
    Latin,
    /// Number (`350`, `3.5`).
    Number,
    /// Emoji.
    Emoji,
    /// Punctuation or symbol.
    Punct,
    /// Anything else (other scripts).
    Other,
}

/// One token of a segmented text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Token text (Latin lower-cased).
    pub text: String,
    /// Byte range in the segmented text.
    pub span: Range<usize>,
    /// What the token is made of.
    pub kind: TokenKind,
}

/// Words and character bigrams of one text, for lexical features downstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LexicalUnits {
    /// Word tokens (no whitespace, no punctuation), in order.
    pub words: Vec<String>,
    /// Han character bigrams within each Han run, in order (`退款申请` → `退款 款申 申请`).
    pub bigrams: Vec<String>,
}

/// A segmenter: the shared jieba dictionary plus one tenant's own words.
#[derive(Debug, Clone, Default)]
pub struct Segmenter {
    user: Option<UserWords>,
}

#[derive(Debug, Clone)]
struct UserWords {
    matcher: AhoCorasick,
}

impl Segmenter {
    /// A segmenter with the default dictionary only.
    pub fn new() -> Self {
        Segmenter { user: None }
    }

    /// A segmenter that keeps `words` (one tenant's product names, brands) whole. Words are folded
    /// like normalised text (lower-case, simplified); empty ones are ignored.
    pub fn with_user_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let words: Vec<String> = words.into_iter().map(|w| fold_chars(w.as_ref())).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Self::new();
        }
        let matcher = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&words).ok();
        Segmenter { user: matcher.map(|matcher| UserWords { matcher }) }
    }

    /// Loads the shared dictionary now rather than on the first message (about 0.1–0.3 s once).
    pub fn warm_up() {
        let _ = base_jieba();
    }

    /// Segments `text` (normalised text is expected) into tokens, whitespace dropped.
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut last = 0;
        if let Some(user) = &self.user {
            for m in user.matcher.find_iter(text) {
                let (start, end) = (m.start(), m.end());
                if !word_bounded(text, start, end) {
                    continue;
                }
                cut_into(&text[last..start], last, &mut tokens);
                push_token(&text[start..end], start, &mut tokens);
                last = end;
            }
        }
        cut_into(&text[last..], last, &mut tokens);
        tokens
    }

    /// Word tokens (no punctuation) and Han bigrams of `text`.
    pub fn lexical_units(&self, text: &str) -> LexicalUnits {
        let words = self.tokens(text).into_iter().filter(|t| t.kind != TokenKind::Punct).map(|t| t.text).collect();
        LexicalUnits { words, bigrams: char_bigrams(text) }
    }
}

/// An ASCII user word must not be glued to other ASCII letters or digits (`pro` in `product`).
fn word_bounded(text: &str, start: usize, end: usize) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric();
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued = |inner: Option<char>, outer: Option<char>| inner.is_some_and(is_word) && outer.is_some_and(is_word);
    !glued(first, before) && !glued(last, after)
}

fn cut_into(piece: &str, offset: usize, tokens: &mut Vec<Token>) {
    if piece.is_empty() {
        return;
    }
    for t in base_jieba().cut(piece, true) {
        push_token(t.word, offset + t.byte_start, tokens);
    }
}

fn push_token(word: &str, start: usize, tokens: &mut Vec<Token>) {
    // jieba keeps runs like "3.5" or "order" whole but may hand back "  " or mixed symbol runs.
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return;
    };
    if word.chars().all(char::is_whitespace) {
        return;
    }
    let kind = if is_han(first) {
        TokenKind::Han
    } else if word.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') && first.is_ascii_digit() {
        TokenKind::Number
    } else if first.is_alphanumeric() && (first.is_ascii() || first.is_alphabetic()) {
        if word.chars().any(|c| c.is_ascii_alphabetic()) || first.is_ascii_digit() {
            TokenKind::Latin
        } else {
            TokenKind::Other
        }
    } else if is_emoji(first) {
        TokenKind::Emoji
    } else {
        TokenKind::Punct
    };
    let text = if kind == TokenKind::Latin { word.to_lowercase() } else { word.to_owned() };
    tokens.push(Token { text, span: start..start + word.len(), kind });
}

/// Han character bigrams within each run of Han characters (a lone Han character yields itself).
pub fn char_bigrams(text: &str) -> Vec<String> {
    let mut bigrams = Vec::new();
    let mut prev: Option<char> = None;
    let mut run_len = 0usize;
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_han(c) {
            if let Some(p) = prev {
                let mut bigram = String::with_capacity(6);
                bigram.push(p);
                bigram.push(c);
                bigrams.push(bigram);
            }
            prev = Some(c);
            run_len += 1;
        } else {
            if run_len == 1 {
                if let Some(p) = prev {
                    bigrams.push(p.to_string());
                }
            }
            prev = None;
            run_len = 0;
        }
    }
    bigrams
}
