//! Per-message language guess (Chinese, English, mixed or unknown) from script ratios.
//!
//! A Han character and a Latin word weigh about the same (one unit of meaning each), so
//! `我的iPhone坏了` counts 4 Han units against 1 Latin unit and is Chinese, while
//! `这个order怎么cancel` (5 against 2) is mixed. Digits, punctuation and emoji carry no
//! language; other scripts (kana, hangul, Cyrillic…) count as "other".

/// The language of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Mostly Han characters.
    Chinese,
    /// Mostly Latin words.
    English,
    /// A real share of both.
    Mixed,
    /// Nothing to judge by (digits, emoji, punctuation only) or mostly another script.
    Unknown,
}

/// Script counts behind a [`Language`] decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptCounts {
    /// Han (CJK ideograph) characters.
    pub n_han: usize,
    /// Runs of Latin letters (words).
    pub n_latin_words: usize,
    /// Letters of any other script.
    pub n_other: usize,
}

/// Share of Han units at or above which a message is Chinese (and at or below one minus it, English).
const DOMINANT_SHARE: f64 = 0.75;

/// True for CJK unified ideographs (basic block and extensions A–G, compatibility ideographs).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x323AF | 0xF900..=0xFAFF | 0x3007)
}

/// Counts Han characters, Latin words and letters of other scripts.
pub fn script_counts(text: &str) -> ScriptCounts {
    let mut counts = ScriptCounts::default();
    let mut in_latin = false;
    for c in text.chars() {
        let latin =
            c.is_ascii_alphabetic() || (c.is_alphabetic() && matches!(c as u32, 0xC0..=0x24F | 0x1E00..=0x1EFF));
        if latin {
            if !in_latin {
                counts.n_latin_words += 1;
            }
            in_latin = true;
            continue;
        }
        // Digits and apostrophes inside a word keep it one word ("iphone15", "don't").
        if in_latin && (c.is_ascii_digit() || c == '\'') {
            continue;
        }
        in_latin = false;
        if is_han(c) {
            counts.n_han += 1;
        } else if c.is_alphabetic() {
            counts.n_other += 1;
        }
    }
    counts
}

/// Guesses the language of one message.
pub fn detect(text: &str) -> Language {
    let counts = script_counts(text);
    let known = counts.n_han + counts.n_latin_words;
    if known == 0 || counts.n_other > known {
        return Language::Unknown;
    }
    let han_share = counts.n_han as f64 / known as f64;
    if han_share >= DOMINANT_SHARE {
        Language::Chinese
    } else if han_share <= 1.0 - DOMINANT_SHARE {
        Language::English
    } else {
        Language::Mixed
    }
}
