//! The knowledge-base model: FAQ entries with variants, rich answers, scopes, validity and status; parsed, never re-checked.

use std::fmt;

use thiserror::Error;

/// Longest accepted question (characters).
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest accepted answer (characters).
pub const MAX_ANSWER_CHARS: usize = 5000;

/// Why a field of a knowledge-base record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// An entry id must be 1–64 characters of ASCII letters, digits, `-`, `_` or `.`.
    #[error("invalid entry id {0:?}: use 1-64 characters of a-z, 0-9, '-', '_', '.'")]
    InvalidId(String),
    /// A question is empty or too long.
    #[error("question is empty or longer than {MAX_QUESTION_CHARS} characters")]
    InvalidQuestion,
    /// An answer is empty or too long.
    #[error("answer is empty or longer than {MAX_ANSWER_CHARS} characters")]
    InvalidAnswer,
    /// Unknown status word.
    #[error("unknown status {0:?} (draft, in_review, published, archived)")]
    InvalidStatus(String),
    /// Unknown language code.
    #[error("unknown language {0:?} (zh, en)")]
    InvalidLanguage(String),
    /// Channel names are lower-case slugs.
    #[error("invalid channel {0:?}: use 1-32 characters of a-z, 0-9, '_'")]
    InvalidChannel(String),
    /// Tags and products are 1–40 characters without `|`, `,` or control characters.
    #[error("invalid tag or product {0:?}")]
    InvalidLabel(String),
    /// Validity window ends before it starts.
    #[error("validity window ends ({to}) before it starts ({from})")]
    InvalidWindow {
        /// Start, unix millis.
        from: i64,
        /// End, unix millis.
        to: i64,
    },
    /// A number did not parse.
    #[error("invalid number {0:?}")]
    InvalidNumber(String),
    /// A link, image or button is malformed.
    #[error("invalid rich content {0:?}: expected link:Title=https://..., image:https://... or button:Title=payload")]
    InvalidRich(String),
    /// The same phrasing appears twice in one entry.
    #[error("duplicate phrasing {0:?}")]
    DuplicatePhrasing(String),
    /// Two answer variants of one entry have the same channel and language (`channel@lang`).
    #[error("two answer variants for {0:?}")]
    DuplicateVariant(String),
}

/// Identifier of a FAQ entry, unique within a tenant's knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(String);

impl EntryId {
    /// Parses an id: 1–64 characters of ASCII letters, digits, `-`, `_`, `.`.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let raw = raw.trim();
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(EntryId(raw.to_owned()))
        } else {
            Err(ModelError::InvalidId(raw.to_owned()))
        }
    }
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A question phrasing: trimmed, 1–500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question(String);

impl Question {
    /// Parses a phrasing (whitespace runs collapsed).
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = text.chars().count();
        if n == 0 || n > MAX_QUESTION_CHARS {
            return Err(ModelError::InvalidQuestion);
        }
        Ok(Question(text))
    }
    /// The phrasing.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Language of a question or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Chinese (simplified or traditional).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Parses `zh`, `zh-CN`, `zh-TW`, `en`, `en-US` (case-insensitive).
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let lower = raw.trim().to_ascii_lowercase();
        match lower.split(['-', '_']).next().unwrap_or("") {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            _ => Err(ModelError::InvalidLanguage(raw.to_owned())),
        }
    }
    /// `zh` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// A channel name (`web_chat`, `wechat_official`, `email`…): a lower-case slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

impl ChannelName {
    /// Parses a slug of 1–32 characters `a-z0-9_`.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let s = raw.trim().to_ascii_lowercase();
        if !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Ok(ChannelName(s))
        } else {
            Err(ModelError::InvalidChannel(raw.to_owned()))
        }
    }
    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag or a product name (1–40 characters, no `|`, `,` or control characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

impl Label {
    /// Parses a label (trimmed, lower-cased).
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let s = raw.trim().to_lowercase();
        let n = s.chars().count();
        if n == 0 || n > 40 || s.chars().any(|c| c.is_control() || c == '|' || c == ',') {
            return Err(ModelError::InvalidLabel(raw.to_owned()));
        }
        Ok(Label(s))
    }
    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lifecycle of an entry. Only `Published` entries answer customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Being written.
    Draft,
    /// Waiting for a reviewer.
    InReview,
    /// Live.
    Published,
    /// Retired.
    Archived,
}

impl Status {
    /// Parses `draft`, `in_review`, `published`, `archived`.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "draft" => Ok(Status::Draft),
            "in_review" | "review" => Ok(Status::InReview),
            "published" => Ok(Status::Published),
            "archived" => Ok(Status::Archived),
            _ => Err(ModelError::InvalidStatus(raw.to_owned())),
        }
    }
    /// The review workflow: draft → in review → published → archived; a reviewer may send an
    /// entry back to draft, a published or archived entry may be reopened as a draft for rework,
    /// and an entry nobody wants may be archived from any state.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Draft, InReview)
                | (InReview, Published | Draft)
                | (Published, Draft)
                | (Archived, Draft)
                | (Draft | InReview | Published, Archived)
        )
    }
    /// The canonical word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }
}

/// When an entry may answer: `[from, to)` in unix milliseconds, either side open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validity {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

impl Validity {
    /// Always valid.
    pub const ALWAYS: Validity = Validity { from_ms: None, to_ms: None };

    /// A window; fails when `to <= from`.
    pub fn new(from_ms: Option<i64>, to_ms: Option<i64>) -> Result<Self, ModelError> {
        if let (Some(from), Some(to)) = (from_ms, to_ms) {
            if to <= from {
                return Err(ModelError::InvalidWindow { from, to });
            }
        }
        Ok(Validity { from_ms, to_ms })
    }
    /// Start (inclusive).
    pub fn from_ms(&self) -> Option<i64> {
        self.from_ms
    }
    /// End (exclusive).
    pub fn to_ms(&self) -> Option<i64> {
        self.to_ms
    }
    /// True when `now_ms` is inside the window.
    pub fn contains(&self, now_ms: i64) -> bool {
        self.from_ms.is_none_or(|f| now_ms >= f) && self.to_ms.is_none_or(|t| now_ms < t)
    }
}

/// A piece of rich content attached to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rich {
    /// A hyperlink.
    Link {
        /// Text shown.
        title: String,
        /// `http(s)://` URL.
        url: String,
    },
    /// An image by URL.
    Image {
        /// `http(s)://` URL.
        url: String,
    },
    /// A quick-reply button.
    Button {
        /// Text shown.
        title: String,
        /// What the button sends back.
        payload: String,
    },
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > 8 && !s.contains(char::is_whitespace)
}

impl Rich {
    /// Parses `link:Title=https://…`, `image:https://…` or `button:Title=payload`.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::InvalidRich(raw.to_owned());
        let (kind, rest) = raw.trim().split_once(':').ok_or_else(bad)?;
        match kind.trim() {
            "image" if is_url(rest.trim()) => Ok(Rich::Image { url: rest.trim().to_owned() }),
            "link" => {
                let (title, url) = rest.split_once('=').ok_or_else(bad)?;
                if title.trim().is_empty() || !is_url(url.trim()) {
                    return Err(bad());
                }
                Ok(Rich::Link { title: title.trim().to_owned(), url: url.trim().to_owned() })
            }
            "button" => {
                let (title, payload) = rest.split_once('=').ok_or_else(bad)?;
                if title.trim().is_empty() || payload.trim().is_empty() {
                    return Err(bad());
                }
                Ok(Rich::Button { title: title.trim().to_owned(), payload: payload.trim().to_owned() })
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Rich {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rich::Link { title, url } => write!(f, "link:{title}={url}"),
            Rich::Image { url } => write!(f, "image:{url}"),
            Rich::Button { title, payload } => write!(f, "button:{title}={payload}"),
        }
    }
}

/// An answer: plain text plus rich content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    text: String,
    rich: Vec<Rich>,
}

impl Answer {
    /// Parses an answer text (1–5000 characters after trimming) with its rich content.
    pub fn parse(text: &str, rich: Vec<Rich>) -> Result<Self, ModelError> {
        let text = text.trim();
        let n = text.chars().count();
        if n == 0 || n > MAX_ANSWER_CHARS {
            return Err(ModelError::InvalidAnswer);
        }
        Ok(Answer { text: text.to_owned(), rich })
    }
    /// Plain text.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Links, images, buttons.
    pub fn rich(&self) -> &[Rich] {
        &self.rich
    }
}

/// An answer that replaces the default one on a channel and/or in a language, with its own
/// rich items (the default answer's are not inherited: a channel's variant says all it shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerVariant {
    /// Channel it applies to (`None` = any).
    pub channel: Option<ChannelName>,
    /// Language it applies to (`None` = any).
    pub lang: Option<Lang>,
    /// The answer.
    pub answer: Answer,
}

impl AnswerVariant {
    /// `channel@lang` with either side empty for "any" (how CSV and Markdown name a variant).
    pub fn scope(&self) -> String {
        format!("{}@{}", self.channel.as_ref().map_or("", |c| c.as_str()), self.lang.map_or("", |l| l.as_str()))
    }
}

/// One FAQ entry. Built through [`FaqEntry::new`], which checks the invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqEntry {
    id: EntryId,
    lang: Lang,
    question: Question,
    similar: Vec<Question>,
    answer: Answer,
    variants: Vec<AnswerVariant>,
    tags: Vec<Label>,
    products: Vec<Label>,
    channels: Vec<ChannelName>,
    validity: Validity,
    status: Status,
    version: u32,
}

/// The parts of a [`FaqEntry`], for construction.
#[derive(Debug, Clone)]
pub struct FaqParts {
    /// Id.
    pub id: EntryId,
    /// Language of the questions.
    pub lang: Lang,
    /// Standard question.
    pub question: Question,
    /// Similar phrasings.
    pub similar: Vec<Question>,
    /// Default answer.
    pub answer: Answer,
    /// Per-channel / per-language answers.
    pub variants: Vec<AnswerVariant>,
    /// Tags.
    pub tags: Vec<Label>,
    /// Products the entry is about (empty = all).
    pub products: Vec<Label>,
    /// Channels the entry answers on (empty = all).
    pub channels: Vec<ChannelName>,
    /// Validity window.
    pub validity: Validity,
    /// Lifecycle.
    pub status: Status,
    /// Version number (starts at 1).
    pub version: u32,
}

impl FaqEntry {
    /// Builds an entry; rejects a phrasing repeated (case-insensitively) within the entry, and
    /// two answer variants for the same channel and language (which one would answer?).
    pub fn new(parts: FaqParts) -> Result<Self, ModelError> {
        let mut seen = std::collections::HashSet::new();
        for q in std::iter::once(&parts.question).chain(&parts.similar) {
            if !seen.insert(q.as_str().to_lowercase()) {
                return Err(ModelError::DuplicatePhrasing(q.as_str().to_owned()));
            }
        }
        let mut scopes = std::collections::HashSet::new();
        for v in &parts.variants {
            if !scopes.insert((&v.channel, v.lang)) {
                return Err(ModelError::DuplicateVariant(v.scope()));
            }
        }
        Ok(FaqEntry {
            id: parts.id,
            lang: parts.lang,
            question: parts.question,
            similar: parts.similar,
            answer: parts.answer,
            variants: parts.variants,
            tags: parts.tags,
            products: parts.products,
            channels: parts.channels,
            validity: parts.validity,
            status: parts.status,
            version: parts.version.max(1),
        })
    }
    /// Id.
    pub fn id(&self) -> &EntryId {
        &self.id
    }
    /// Language.
    pub fn lang(&self) -> Lang {
        self.lang
    }
    /// Standard question.
    pub fn question(&self) -> &Question {
        &self.question
    }
    /// Similar phrasings.
    pub fn similar(&self) -> &[Question] {
        &self.similar
    }
    /// Standard question then similar phrasings.
    pub fn phrasings(&self) -> impl Iterator<Item = &Question> {
        std::iter::once(&self.question).chain(&self.similar)
    }
    /// Default answer.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }
    /// Answer variants.
    pub fn answer_variants(&self) -> &[AnswerVariant] {
        &self.variants
    }
    /// The most specific answer for a channel and language: channel+language, then channel, then language,
    /// then the default.
    pub fn answer_for(&self, channel: Option<&ChannelName>, lang: Option<Lang>) -> &Answer {
        let score = |v: &AnswerVariant| -> Option<u8> {
            let ch = match (&v.channel, channel) {
                (None, _) => 0,
                (Some(a), Some(b)) if a == b => 2,
                _ => return None,
            };
            let lg = match (v.lang, lang) {
                (None, _) => 0,
                (Some(a), Some(b)) if a == b => 1,
                _ => return None,
            };
            Some(ch + lg)
        };
        self.variants
            .iter()
            .filter_map(|v| score(v).map(|s| (s, v)))
            .max_by_key(|(s, _)| *s)
            .map_or(&self.answer, |(_, v)| &v.answer)
    }
    /// Tags.
    pub fn tags(&self) -> &[Label] {
        &self.tags
    }
    /// Products (empty = all).
    pub fn products(&self) -> &[Label] {
        &self.products
    }
    /// Channels (empty = all).
    pub fn channels(&self) -> &[ChannelName] {
        &self.channels
    }
    /// Validity window.
    pub fn validity(&self) -> Validity {
        self.validity
    }
    /// Status.
    pub fn status(&self) -> Status {
        self.status
    }
    /// Version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// A copy with another status and the version bumped (what an edit workflow stores).
    pub fn with_status(&self, status: Status) -> Self {
        FaqEntry { status, version: self.version + 1, ..self.clone() }
    }
    /// True when this entry may answer at `now_ms`: published and inside its validity window.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.status == Status::Published && self.validity.contains(now_ms)
    }
}
