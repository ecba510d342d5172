//! Markdown articles split into bounded passages (by headings, then paragraphs) for retrieval.

use thiserror::Error;

/// Why an article was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArticleError {
    /// No text at all.
    #[error("article is empty")]
    Empty,
}

/// One retrievable passage of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// Position within the article.
    pub idx: usize,
    /// Heading path (`Install > Wi-Fi`).
    pub heading: String,
    /// Passage text (at most `max_chars` characters).
    pub text: String,
}

/// A Markdown article with its passages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    title: String,
    passages: Vec<Passage>,
}

impl Article {
    /// Parses Markdown: the first `#` heading is the title; `#`..`###` headings start sections;
    /// paragraphs (blank-line separated) are packed into passages of at most `max_chars` characters,
    /// a longer paragraph is cut at sentence ends (`。！？.!?`) or hard at `max_chars`.
    pub fn parse(markdown: &str, max_chars: usize) -> Result<Self, ArticleError> {
        let max_chars = max_chars.max(20);
        let mut title = String::new();
        let mut path: Vec<String> = Vec::new();
        let mut passages = Vec::new();
        let mut para = String::new();
        let mut current = String::new();
        let flush_para = |para: &mut String, current: &mut String, passages: &mut Vec<Passage>, heading: &str| {
            let p = para.trim().to_owned();
            para.clear();
            for piece in cut(&p, max_chars) {
                if current.chars().count() + piece.chars().count() + 1 > max_chars && !current.is_empty() {
                    passages.push(Passage { idx: passages.len(), heading: heading.to_owned(), text: current.clone() });
                    current.clear();
                }
                if !current.is_empty() {
                    current.push('\n');
                }
                current.push_str(&piece);
            }
        };
        for line in markdown.lines() {
            let t = line.trim();
            let level = t.chars().take_while(|&c| c == '#').count();
            if level > 0 && t[level..].starts_with(' ') {
                let heading_text = t[level..].trim().to_owned();
                let heading = path.join(" > ");
                flush_para(&mut para, &mut current, &mut passages, &heading);
                if !current.is_empty() {
                    passages.push(Passage { idx: passages.len(), heading, text: std::mem::take(&mut current) });
                }
                if level == 1 && title.is_empty() {
                    title = heading_text.clone();
                }
                path.truncate(level.saturating_sub(1));
                path.push(heading_text);
            } else if t.is_empty() {
                flush_para(&mut para, &mut current, &mut passages, &path.join(" > "));
            } else {
                if !para.is_empty() {
                    para.push(' ');
                }
                para.push_str(t);
            }
        }
        let heading = path.join(" > ");
        flush_para(&mut para, &mut current, &mut passages, &heading);
        if !current.is_empty() {
            passages.push(Passage { idx: passages.len(), heading, text: current });
        }
        if passages.is_empty() && title.is_empty() {
            return Err(ArticleError::Empty);
        }
        Ok(Article { title, passages })
    }
    /// Title (first `#` heading, may be empty).
    pub fn title(&self) -> &str {
        &self.title
    }
    /// Passages in order.
    pub fn passages(&self) -> &[Passage] {
        &self.passages
    }
}

/// Cuts `text` into pieces of at most `max` characters, preferring sentence ends.
fn cut(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut n = 0;
    for c in text.chars() {
        cur.push(c);
        n += 1;
        let end = matches!(c, '。' | '！' | '？' | '.' | '!' | '?' | '；' | ';');
        if n >= max || (end && n * 2 >= max) {
            out.push(std::mem::take(&mut cur).trim().to_owned());
            n = 0;
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out.retain(|s| !s.is_empty());
    out
}
