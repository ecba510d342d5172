//! The built-in demo knowledge base: an after-sales brand's FAQ in Chinese and English (data/faq-*.md).

use crate::io::{import_markdown, ImportPolicy, ImportReport};

/// Chinese demo FAQ (Markdown FAQ format of [`crate::io`]).
pub const FAQ_ZH: &str = include_str!("../data/faq-zh.md");
/// English demo FAQ.
pub const FAQ_EN: &str = include_str!("../data/faq-en.md");

/// Parses both demo files (all-or-nothing; a test keeps them clean).
pub fn demo_entries() -> ImportReport {
    let mut text = String::with_capacity(FAQ_ZH.len() + FAQ_EN.len() + 1);
    text.push_str(FAQ_ZH);
    text.push('\n');
    text.push_str(FAQ_EN);
    import_markdown(&text, ImportPolicy::AllOrNothing)
}
