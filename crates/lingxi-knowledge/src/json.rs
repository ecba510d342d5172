//! Wire DTOs for JSON import/export: `serde` derives live here only; the server does the `serde_json` call.

use serde::{Deserialize, Serialize};

use crate::io::{ImportPolicy, ImportReport, RawEntry, RawVariant, Rejection};
use crate::model::FaqEntry;

/// One answer variant on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerVariantDto {
    /// Channel slug, absent = any.
    #[serde(default)]
    pub channel: Option<String>,
    /// Language code, absent = any.
    #[serde(default)]
    pub lang: Option<String>,
    /// Answer text.
    pub answer: String,
    /// This variant's rich items (`link:Title=url`, `image:url`, `button:Title=payload`); the
    /// default answer's are not inherited.
    #[serde(default)]
    pub rich: Vec<String>,
}

/// One FAQ entry on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqDto {
    /// Id.
    pub id: String,
    /// Language code.
    pub lang: String,
    /// Standard question.
    pub question: String,
    /// Similar phrasings.
    #[serde(default)]
    pub similar: Vec<String>,
    /// Answer text.
    pub answer: String,
    /// Rich items: `link:Title=url`, `image:url`, `button:Title=payload`.
    #[serde(default)]
    pub rich: Vec<String>,
    /// Answer variants.
    #[serde(default)]
    pub answer_variants: Vec<AnswerVariantDto>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Products.
    #[serde(default)]
    pub products: Vec<String>,
    /// Channels.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Validity start (unix millis).
    #[serde(default)]
    pub valid_from_ms: Option<i64>,
    /// Validity end (unix millis).
    #[serde(default)]
    pub valid_to_ms: Option<i64>,
    /// Status word; absent = published.
    #[serde(default)]
    pub status: Option<String>,
    /// Version; absent = 1.
    #[serde(default)]
    pub version: Option<u32>,
}

impl FaqDto {
    fn raw(&self) -> RawEntry {
        let mut questions = vec![self.question.clone()];
        questions.extend(self.similar.iter().cloned());
        RawEntry {
            id: self.id.clone(),
            lang: self.lang.clone(),
            questions,
            answer: self.answer.clone(),
            rich: self.rich.clone(),
            answer_variants: self
                .answer_variants
                .iter()
                .map(|v| RawVariant {
                    channel: v.channel.clone().unwrap_or_default(),
                    lang: v.lang.clone().unwrap_or_default(),
                    text: v.answer.clone(),
                    rich: v.rich.clone(),
                })
                .collect(),
            tags: self.tags.clone(),
            products: self.products.clone(),
            channels: self.channels.clone(),
            valid_from_ms: self.valid_from_ms,
            valid_to_ms: self.valid_to_ms,
            status: self.status.clone().unwrap_or_default(),
            version: self.version,
        }
    }
}

impl TryFrom<&FaqDto> for FaqEntry {
    type Error = crate::io::RowError;
    fn try_from(dto: &FaqDto) -> Result<Self, Self::Error> {
        dto.raw().parse()
    }
}

impl From<&FaqEntry> for FaqDto {
    fn from(e: &FaqEntry) -> Self {
        let r = RawEntry::from_entry(e);
        FaqDto {
            id: r.id,
            lang: r.lang,
            question: r.questions[0].clone(),
            similar: r.questions[1..].to_vec(),
            answer: r.answer,
            rich: r.rich,
            answer_variants: r
                .answer_variants
                .into_iter()
                .map(|v| AnswerVariantDto {
                    channel: (!v.channel.is_empty()).then_some(v.channel),
                    lang: (!v.lang.is_empty()).then_some(v.lang),
                    answer: v.text,
                    rich: v.rich,
                })
                .collect(),
            tags: r.tags,
            products: r.products,
            channels: r.channels,
            valid_from_ms: r.valid_from_ms,
            valid_to_ms: r.valid_to_ms,
            status: Some(r.status),
            version: r.version,
        }
    }
}

/// Imports already-deserialised DTOs (row numbers are 1-based array positions).
pub fn import_dtos(dtos: &[FaqDto], policy: ImportPolicy) -> ImportReport {
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for (i, dto) in dtos.iter().enumerate() {
        match FaqEntry::try_from(dto) {
            Ok(e) => entries.push((i + 1, e)),
            Err(reason) => rejected.push(Rejection { row: i + 1, reason }),
        }
    }
    ImportReport::finish_public(entries, rejected, dtos.len(), policy)
}
