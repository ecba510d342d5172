//! Rich message content: text with buttons, links and images, for channels that can show them.
//! Built only through [`RichContent::new`], which enforces the limits below, so a stored or
//! rendered rich message is always within them. Every element carries text a plain channel can
//! print instead (labels, titles, URLs): nothing is lost where buttons cannot be shown.

use crate::message::{check_url, ContentError, MAX_TEXT_CHARS};

/// At most this many buttons, links and images in one message: more is a menu, not a reply.
pub const MAX_BUTTONS: usize = 10;
pub const MAX_LINKS: usize = 10;
pub const MAX_IMAGES: usize = 5;
/// Longest button label and link title or image description (characters).
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest button payload (characters): a suggested question is sent back whole.
pub const MAX_PAYLOAD_CHARS: usize = 500;

/// What pressing a button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    /// Sends the payload as the customer's message (a quick reply).
    Reply(String),
    /// Opens an http(s) URL.
    Open(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub action: ButtonAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichImage {
    pub url: String,
    /// What the image shows, for screen readers and plain channels.
    pub alt: Option<String>,
}

/// A checked rich message. Fields are private: every value went through [`RichContent::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichContent {
    text: String,
    buttons: Vec<Button>,
    links: Vec<Link>,
    images: Vec<RichImage>,
}

fn check_label(s: &str, max: usize, what: &'static str) -> Result<(), ContentError> {
    let n = s.chars().count();
    if s.trim().is_empty() || n > max || s.chars().any(char::is_control) {
        return Err(ContentError::BadLabel(what));
    }
    Ok(())
}

impl RichContent {
    /// Checks a rich message: non-empty text, at most [`MAX_BUTTONS`] buttons, [`MAX_LINKS`]
    /// links and [`MAX_IMAGES`] images, http(s) URLs only, labels 1 to [`MAX_LABEL_CHARS`]
    /// printable characters, payloads 1 to [`MAX_PAYLOAD_CHARS`].
    pub fn new(
        text: &str,
        buttons: Vec<Button>,
        links: Vec<Link>,
        images: Vec<RichImage>,
    ) -> Result<Self, ContentError> {
        if text.trim().is_empty() {
            return Err(ContentError::EmptyText);
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ContentError::TextTooLong);
        }
        if buttons.len() > MAX_BUTTONS {
            return Err(ContentError::TooMany("buttons", MAX_BUTTONS));
        }
        if links.len() > MAX_LINKS {
            return Err(ContentError::TooMany("links", MAX_LINKS));
        }
        if images.len() > MAX_IMAGES {
            return Err(ContentError::TooMany("images", MAX_IMAGES));
        }
        for b in &buttons {
            check_label(&b.label, MAX_LABEL_CHARS, "button label")?;
            match &b.action {
                ButtonAction::Reply(p) => check_label(p, MAX_PAYLOAD_CHARS, "button payload")?,
                ButtonAction::Open(url) => check_url(url)?,
            }
        }
        for l in &links {
            check_label(&l.title, MAX_LABEL_CHARS, "link title")?;
            check_url(&l.url)?;
        }
        for i in &images {
            check_url(&i.url)?;
            if let Some(alt) = &i.alt {
                check_label(alt, MAX_LABEL_CHARS, "image alt")?;
            }
        }
        Ok(RichContent { text: text.to_owned(), buttons, links, images })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn buttons(&self) -> &[Button] {
        &self.buttons
    }
    pub fn links(&self) -> &[Link] {
        &self.links
    }
    pub fn images(&self) -> &[RichImage] {
        &self.images
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(label: &str) -> Button {
        Button { label: label.into(), action: ButtonAction::Reply(label.into()) }
    }

    #[test]
    fn limits_and_urls_are_checked() {
        assert!(RichContent::new("hi", vec![reply("a")], vec![], vec![]).is_ok());
        assert_eq!(RichContent::new(" ", vec![], vec![], vec![]), Err(ContentError::EmptyText));
        let many = (0..=MAX_BUTTONS).map(|i| reply(&i.to_string())).collect();
        assert_eq!(RichContent::new("hi", many, vec![], vec![]), Err(ContentError::TooMany("buttons", MAX_BUTTONS)));
        let js = Link { title: "x".into(), url: "javascript:alert(1)".into() };
        assert!(matches!(RichContent::new("hi", vec![], vec![js], vec![]), Err(ContentError::BadUrl(_))));
        let open = Button { label: "go".into(), action: ButtonAction::Open("data:text/html,x".into()) };
        assert!(matches!(RichContent::new("hi", vec![open], vec![], vec![]), Err(ContentError::BadUrl(_))));
        let long = reply(&"字".repeat(MAX_LABEL_CHARS + 1));
        assert_eq!(RichContent::new("hi", vec![long], vec![], vec![]), Err(ContentError::BadLabel("button label")));
        let img = RichImage { url: "https://cdn.example.com/a.png".into(), alt: Some("\u{7}".into()) };
        assert_eq!(RichContent::new("hi", vec![], vec![], vec![img]), Err(ContentError::BadLabel("image alt")));
        let imgs = (0..=MAX_IMAGES).map(|_| RichImage { url: "https://cdn.example.com/a.png".into(), alt: None });
        assert_eq!(
            RichContent::new("hi", vec![], vec![], imgs.collect()),
            Err(ContentError::TooMany("images", MAX_IMAGES))
        );
    }
}
