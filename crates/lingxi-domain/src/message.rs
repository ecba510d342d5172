//! Message content and senders. Media is carried as references with metadata: Lingxi stores
//! where the file is, never the bytes.

use crate::rich::RichContent;
use crate::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Customer,
    Bot,
    Agent(UserId),
    System,
}

impl Sender {
    pub fn kind_str(&self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Bot => "bot",
            Sender::Agent(_) => "agent",
            Sender::System => "system",
        }
    }
}

/// Maximum characters of a text message; longer inputs are rejected at the edge.
pub const MAX_TEXT_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        url: String,
        mime: Option<String>,
        size_bytes: Option<u64>,
        caption: Option<String>,
    },
    File {
        url: String,
        name: String,
        mime: Option<String>,
        size_bytes: Option<u64>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        label: Option<String>,
    },
    /// Text with buttons, links and images (see [`RichContent`]).
    Rich(RichContent),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("text must not be empty")]
    EmptyText,
    #[error("text is longer than {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    #[error("`{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error("latitude must be within [-90, 90] and longitude within [-180, 180]")]
    BadLocation,
    #[error("file name must be 1 to 255 characters")]
    BadFileName,
    #[error("at most {1} {0}")]
    TooMany(&'static str, usize),
    #[error("{0} must be 1 to 100 printable characters (payloads up to 500)")]
    BadLabel(&'static str),
}

pub(crate) fn check_url(url: &str) -> Result<(), ContentError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && url.len() > 8
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ContentError::BadUrl(url.chars().take(60).collect()))
    }
}

impl Content {
    pub fn text(raw: &str) -> Result<Self, ContentError> {
        let n = raw.chars().count();
        if raw.trim().is_empty() {
            return Err(ContentError::EmptyText);
        }
        if n > MAX_TEXT_CHARS {
            return Err(ContentError::TextTooLong);
        }
        Ok(Content::Text { text: raw.to_owned() })
    }

    pub fn image(
        url: &str,
        mime: Option<String>,
        size_bytes: Option<u64>,
        caption: Option<String>,
    ) -> Result<Self, ContentError> {
        check_url(url)?;
        Ok(Content::Image { url: url.to_owned(), mime, size_bytes, caption })
    }

    pub fn file(url: &str, name: &str, mime: Option<String>, size_bytes: Option<u64>) -> Result<Self, ContentError> {
        check_url(url)?;
        if name.is_empty() || name.chars().count() > 255 {
            return Err(ContentError::BadFileName);
        }
        Ok(Content::File { url: url.to_owned(), name: name.to_owned(), mime, size_bytes })
    }

    pub fn location(latitude: f64, longitude: f64, label: Option<String>) -> Result<Self, ContentError> {
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return Err(ContentError::BadLocation);
        }
        Ok(Content::Location { latitude, longitude, label })
    }

    pub fn kind_str(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::File { .. } => "file",
            Content::Location { .. } => "location",
            Content::Rich(_) => "rich",
        }
    }

    /// A one-line text rendering for previews, summaries and understanding.
    pub fn preview(&self) -> String {
        match self {
            Content::Text { text } => text.clone(),
            Content::Image { caption, .. } => {
                format!("[image]{}", caption.as_deref().map(|c| format!(" {c}")).unwrap_or_default())
            }
            Content::File { name, .. } => format!("[file] {name}"),
            Content::Location { label, latitude, longitude } => {
                format!("[location] {}", label.clone().unwrap_or_else(|| format!("{latitude:.5},{longitude:.5}")))
            }
            Content::Rich(r) => r.text().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_checked() {
        assert!(Content::text("  ").is_err());
        assert!(Content::text(&"字".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(Content::text("你好").is_ok());
        assert!(Content::image("ftp://x/y.png", None, None, None).is_err());
        assert!(Content::image("https://cdn.example.com/a.png", None, None, None).is_ok());
        assert!(Content::location(91.0, 0.0, None).is_err());
        assert!(Content::location(f64::NAN, 0.0, None).is_err());
        assert!(Content::file("https://x.example/a.pdf", "", None, None).is_err());
        assert_eq!(Content::file("https://x.example/a.pdf", "a.pdf", None, None).unwrap().preview(), "[file] a.pdf");
    }
}
