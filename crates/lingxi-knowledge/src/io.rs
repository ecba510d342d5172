//! Import and export of FAQ entries as CSV and Markdown, with a per-row rejection report.
//!
//! CSV columns (header required, order free, unknown columns ignored): `id, lang, question, similar,
//! answer, rich, answer_variants, answer_variants_rich, tags, products, channels, valid_from_ms,
//! valid_to_ms, status, version`. List cells use ` | ` between items; `answer_variants` items are
//! `channel@lang: text` with either side optional (`@en: …`, `email@: …`), separated by ` || `;
//! `answer_variants_rich` gives a variant its links, images and buttons by the same scope:
//! `wechat_official@: link:Title=https://… | button:Label=payload || @en: image:https://…`.
//! Inside an item of a list cell (a phrasing, a rich item, a variant's text) `\|` is a `|` and
//! `\\` a backslash (`io/cell.rs`); single-value cells (`question`, `answer`) are taken as they are.
//!
//! Markdown: one block per entry:
//! ```text
//! ## order-cancel zh
//! tags: orders | products: | status: published
//! ? 怎么取消订单
//! ? 订单不想要了能取消吗
//! > 未发货的订单可在"我的订单"中直接取消……
//! ```
//! `?` lines are phrasings (the first is the standard question), `>` lines the answer, `@ link:…` rich content,
//! `~ channel@lang: text` answer variants; lines starting with a single `#` are comments. `@` lines belong
//! to the answer above them: before any `~` line the default answer's, after one that variant's;
//! `~| text` continues the variant above on a new line.

mod cell;

use std::collections::HashSet;

use thiserror::Error;

use crate::model::{
    Answer, AnswerVariant, ChannelName, EntryId, FaqEntry, FaqParts, Label, Lang, ModelError, Question, Rich, Status,
    Validity,
};

/// Why one imported row was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowError {
    /// A field is invalid.
    #[error("column {column}: {source}")]
    Field {
        /// Column or key name.
        column: &'static str,
        /// The cause.
        source: ModelError,
    },
    /// A required column is empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// Another row already has this id.
    #[error("duplicate id {0}")]
    DuplicateId(String),
    /// The row is not well-formed (CSV quoting, Markdown structure).
    #[error("malformed: {0}")]
    Malformed(String),
}

/// A rejected row: 1-based line or record number (the CSV header is row 1) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Row number (CSV: record number counting the header as 1; Markdown: line of the `##` heading).
    pub row: usize,
    /// Why.
    pub reason: RowError,
}

/// What to do with valid rows when some rows are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Store nothing unless every row is valid.
    AllOrNothing,
    /// Store the valid rows, report the rest.
    KeepValid,
}

/// Result of an import: what the caller should persist, and every rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries to store (empty under [`ImportPolicy::AllOrNothing`] when anything was rejected).
    pub entries: Vec<FaqEntry>,
    /// Number of rows read.
    pub n_rows: usize,
    /// Every rejected row.
    pub rejected: Vec<Rejection>,
}

impl ImportReport {
    fn finish(
        mut entries: Vec<(usize, FaqEntry)>,
        mut rejected: Vec<Rejection>,
        n_rows: usize,
        policy: ImportPolicy,
    ) -> Self {
        let mut seen = HashSet::new();
        entries.retain(|(row, e)| {
            if seen.insert(e.id().clone()) {
                true
            } else {
                rejected.push(Rejection { row: *row, reason: RowError::DuplicateId(e.id().to_string()) });
                false
            }
        });
        rejected.sort_by_key(|r| r.row);
        let entries = if policy == ImportPolicy::AllOrNothing && !rejected.is_empty() {
            Vec::new()
        } else {
            entries.into_iter().map(|(_, e)| e).collect()
        };
        ImportReport { entries, n_rows, rejected }
    }
    /// Builds a report from parsed rows (used by the JSON importer).
    pub(crate) fn finish_public(
        entries: Vec<(usize, FaqEntry)>,
        rejected: Vec<Rejection>,
        n_rows: usize,
        policy: ImportPolicy,
    ) -> Self {
        Self::finish(entries, rejected, n_rows, policy)
    }
    /// True when nothing was rejected.
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty()
    }
}

fn field<T>(column: &'static str, r: Result<T, ModelError>) -> Result<T, RowError> {
    r.map_err(|source| RowError::Field { column, source })
}

/// The items of a ` | ` list cell, unescaped.
fn split_list(cell: &str) -> Vec<String> {
    cell::items(cell)
}

fn parse_opt_i64(column: &'static str, cell: &str) -> Result<Option<i64>, RowError> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    cell.parse().map(Some).map_err(|_| RowError::Field { column, source: ModelError::InvalidNumber(cell.to_owned()) })
}

/// Raw text fields of one entry, before parsing (shared by CSV, Markdown and JSON DTOs).
#[derive(Debug, Clone, Default)]
pub struct RawEntry {
    /// Id.
    pub id: String,
    /// Language code.
    pub lang: String,
    /// Phrasings, the first is the standard question.
    pub questions: Vec<String>,
    /// Answer text.
    pub answer: String,
    /// Rich items (`link:T=url`, `image:url`, `button:T=payload`).
    pub rich: Vec<String>,
    /// Answer variants.
    pub answer_variants: Vec<RawVariant>,
    /// Tags.
    pub tags: Vec<String>,
    /// Products.
    pub products: Vec<String>,
    /// Channels.
    pub channels: Vec<String>,
    /// Validity start, unix millis.
    pub valid_from_ms: Option<i64>,
    /// Validity end, unix millis.
    pub valid_to_ms: Option<i64>,
    /// Status word (empty = published).
    pub status: String,
    /// Version (None = 1).
    pub version: Option<u32>,
}

/// Raw text fields of one answer variant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawVariant {
    /// Channel slug, empty = any.
    pub channel: String,
    /// Language code, empty = any.
    pub lang: String,
    /// Answer text.
    pub text: String,
    /// Rich items, as for the default answer.
    pub rich: Vec<String>,
}

impl RawVariant {
    fn scope(&self) -> String {
        format!("{}@{}", self.channel.trim(), self.lang.trim())
    }
    fn parse(&self) -> Result<AnswerVariant, RowError> {
        let col = "answer_variants";
        let channel =
            if self.channel.trim().is_empty() { None } else { Some(field(col, ChannelName::parse(&self.channel))?) };
        let lang = if self.lang.trim().is_empty() { None } else { Some(field(col, Lang::parse(&self.lang))?) };
        let rich =
            self.rich.iter().map(|r| field("answer_variants.rich", Rich::parse(r))).collect::<Result<Vec<_>, _>>()?;
        Ok(AnswerVariant { channel, lang, answer: field(col, Answer::parse(&self.text, rich))? })
    }
}

impl RawEntry {
    /// Parses the raw fields into an entry.
    pub fn parse(&self) -> Result<FaqEntry, RowError> {
        if self.id.trim().is_empty() {
            return Err(RowError::Missing("id"));
        }
        let id = field("id", EntryId::parse(&self.id))?;
        let lang = field("lang", Lang::parse(&self.lang))?;
        let mut qs = self.questions.iter().filter(|q| !q.trim().is_empty());
        let question = field("question", Question::parse(qs.next().ok_or(RowError::Missing("question"))?))?;
        let similar = qs.map(|q| field("similar", Question::parse(q))).collect::<Result<Vec<_>, _>>()?;
        let rich = self.rich.iter().map(|r| field("rich", Rich::parse(r))).collect::<Result<Vec<_>, _>>()?;
        if self.answer.trim().is_empty() {
            return Err(RowError::Missing("answer"));
        }
        let answer = field("answer", Answer::parse(&self.answer, rich))?;
        let variants = self.answer_variants.iter().map(RawVariant::parse).collect::<Result<Vec<_>, _>>()?;
        let labels =
            |column, xs: &[String]| xs.iter().map(|x| field(column, Label::parse(x))).collect::<Result<Vec<_>, _>>();
        let status = if self.status.trim().is_empty() {
            Status::Published
        } else {
            field("status", Status::parse(&self.status))?
        };
        let entry = FaqEntry::new(FaqParts {
            id,
            lang,
            question,
            similar,
            answer,
            variants,
            tags: labels("tags", &self.tags)?,
            products: labels("products", &self.products)?,
            channels: self
                .channels
                .iter()
                .map(|c| field("channels", ChannelName::parse(c)))
                .collect::<Result<_, _>>()?,
            validity: field("valid_to_ms", Validity::new(self.valid_from_ms, self.valid_to_ms))?,
            status,
            version: self.version.unwrap_or(1),
        });
        entry.map_err(|e| {
            let column = if matches!(e, ModelError::DuplicateVariant(_)) { "answer_variants" } else { "similar" };
            RowError::Field { column, source: e }
        })
    }

    /// The raw fields of an entry (inverse of [`RawEntry::parse`]).
    pub fn from_entry(e: &FaqEntry) -> Self {
        RawEntry {
            id: e.id().to_string(),
            lang: e.lang().as_str().to_owned(),
            questions: e.phrasings().map(|q| q.as_str().to_owned()).collect(),
            answer: e.answer().text().to_owned(),
            rich: e.answer().rich().iter().map(ToString::to_string).collect(),
            answer_variants: e
                .answer_variants()
                .iter()
                .map(|v| RawVariant {
                    channel: v.channel.as_ref().map_or(String::new(), |c| c.as_str().to_owned()),
                    lang: v.lang.map_or(String::new(), |l| l.as_str().to_owned()),
                    text: v.answer.text().to_owned(),
                    rich: v.answer.rich().iter().map(ToString::to_string).collect(),
                })
                .collect(),
            tags: e.tags().iter().map(|t| t.as_str().to_owned()).collect(),
            products: e.products().iter().map(|t| t.as_str().to_owned()).collect(),
            channels: e.channels().iter().map(|t| t.as_str().to_owned()).collect(),
            valid_from_ms: e.validity().from_ms(),
            valid_to_ms: e.validity().to_ms(),
            status: e.status().as_str().to_owned(),
            version: Some(e.version()),
        }
    }
}

const CSV_COLUMNS: [&str; 15] = [
    "id",
    "lang",
    "question",
    "similar",
    "answer",
    "rich",
    "answer_variants",
    "answer_variants_rich",
    "tags",
    "products",
    "channels",
    "valid_from_ms",
    "valid_to_ms",
    "status",
    "version",
];

/// `channel@lang: rest` items separated by unescaped `||`, as (channel, lang, rest); `rest`
/// keeps its escapes (a variant's text is unescaped whole, a rich list split first).
fn scoped_items<'a>(
    cell: &'a str,
    what: &'a str,
) -> impl Iterator<Item = Result<(&'a str, &'a str, &'a str), RowError>> {
    cell::split(cell, "||").into_iter().map(move |item| {
        let (scope, rest) =
            item.split_once(':').ok_or_else(|| RowError::Malformed(format!("{what} {item:?} lacks ':'")))?;
        let (ch, lg) = scope.split_once('@').unwrap_or((scope, ""));
        Ok((ch.trim(), lg.trim(), rest.trim()))
    })
}

fn parse_variant_cell(cell: &str) -> Result<Vec<RawVariant>, RowError> {
    scoped_items(cell, "answer variant")
        .map(|r| {
            r.map(|(ch, lg, text)| RawVariant {
                channel: ch.to_owned(),
                lang: lg.to_owned(),
                text: cell::unescape(text),
                rich: Vec::new(),
            })
        })
        .collect()
}

/// Gives each variant the rich items the `answer_variants_rich` cell lists under its scope; a
/// scope without a variant, or listed twice, rejects the row (the items would be lost).
fn attach_variant_rich(variants: &mut [RawVariant], cell: &str) -> Result<(), RowError> {
    let mut done = HashSet::new();
    for item in scoped_items(cell, "answer_variants_rich item") {
        let (ch, lg, items) = item?;
        let scope = format!("{ch}@{lg}");
        let v = variants
            .iter_mut()
            .find(|v| v.scope() == scope)
            .ok_or_else(|| RowError::Malformed(format!("answer_variants_rich: no answer variant for {scope:?}")))?;
        if !done.insert(scope.clone()) {
            return Err(RowError::Malformed(format!("answer_variants_rich: {scope:?} listed twice")));
        }
        v.rich = split_list(items);
    }
    Ok(())
}

/// Imports FAQ entries from CSV text.
pub fn import_csv(text: &str, policy: ImportPolicy) -> ImportReport {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            let rejected = vec![Rejection { row: 1, reason: RowError::Malformed(e.to_string()) }];
            return ImportReport::finish(Vec::new(), rejected, 0, policy);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let idx: Vec<Option<usize>> = CSV_COLUMNS.iter().map(|c| col(c)).collect();
    let (mut entries, mut rejected, mut n_rows) = (Vec::new(), Vec::new(), 0);
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        n_rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rejected.push(Rejection { row, reason: RowError::Malformed(e.to_string()) });
                continue;
            }
        };
        let get = |k: usize| idx[k].and_then(|j| record.get(j)).unwrap_or("");
        let parsed = (|| {
            let mut questions = vec![get(2).to_owned()];
            questions.extend(split_list(get(3)));
            let raw = RawEntry {
                id: get(0).to_owned(),
                lang: get(1).to_owned(),
                questions,
                answer: get(4).to_owned(),
                rich: split_list(get(5)),
                answer_variants: {
                    let mut vs = parse_variant_cell(get(6))?;
                    attach_variant_rich(&mut vs, get(7))?;
                    vs
                },
                tags: split_list(get(8)),
                products: split_list(get(9)),
                channels: split_list(get(10)),
                valid_from_ms: parse_opt_i64("valid_from_ms", get(11))?,
                valid_to_ms: parse_opt_i64("valid_to_ms", get(12))?,
                status: get(13).to_owned(),
                version: match get(14).trim() {
                    "" => None,
                    v => Some(v.parse().map_err(|_| RowError::Field {
                        column: "version",
                        source: ModelError::InvalidNumber(v.to_owned()),
                    })?),
                },
            };
            raw.parse()
        })();
        match parsed {
            Ok(e) => entries.push((row, e)),
            Err(reason) => rejected.push(Rejection { row, reason }),
        }
    }
    ImportReport::finish(entries, rejected, n_rows, policy)
}

/// Exports entries as CSV (re-importable with [`import_csv`]).
pub fn export_csv(entries: &[FaqEntry]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail; errors would only come from I/O.
    let _ = w.write_record(CSV_COLUMNS);
    for e in entries {
        let r = RawEntry::from_entry(e);
        let variants: Vec<String> =
            r.answer_variants.iter().map(|v| format!("{}: {}", v.scope(), cell::escape(&v.text))).collect();
        let variant_rich: Vec<String> = r
            .answer_variants
            .iter()
            .filter(|v| !v.rich.is_empty())
            .map(|v| format!("{}: {}", v.scope(), cell::join(&v.rich)))
            .collect();
        let opt = |x: Option<i64>| x.map_or(String::new(), |v| v.to_string());
        let _ = w.write_record([
            r.id.as_str(),
            r.lang.as_str(),
            r.questions[0].as_str(),
            cell::join(&r.questions[1..]).as_str(),
            r.answer.as_str(),
            cell::join(&r.rich).as_str(),
            variants.join(" || ").as_str(),
            variant_rich.join(" || ").as_str(),
            cell::join(&r.tags).as_str(),
            cell::join(&r.products).as_str(),
            cell::join(&r.channels).as_str(),
            opt(r.valid_from_ms).as_str(),
            opt(r.valid_to_ms).as_str(),
            r.status.as_str(),
            r.version.unwrap_or(1).to_string().as_str(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Imports FAQ entries from the Markdown format described in the module docs.
pub fn import_markdown(text: &str, policy: ImportPolicy) -> ImportReport {
    let mut blocks: Vec<(usize, Vec<&str>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("## ") {
            blocks.push((i + 1, vec![rest]));
        } else if let Some((_, lines)) = blocks.last_mut() {
            lines.push(line);
        }
    }
    let (mut entries, mut rejected) = (Vec::new(), Vec::new());
    let n_rows = blocks.len();
    for (row, lines) in blocks {
        match parse_md_block(&lines) {
            Ok(e) => entries.push((row, e)),
            Err(reason) => rejected.push(Rejection { row, reason }),
        }
    }
    ImportReport::finish(entries, rejected, n_rows, policy)
}

fn parse_md_block(lines: &[&str]) -> Result<FaqEntry, RowError> {
    let mut head = lines[0].split_whitespace();
    let mut raw = RawEntry {
        id: head.next().unwrap_or("").to_owned(),
        lang: head.next().ok_or(RowError::Missing("lang"))?.to_owned(),
        ..RawEntry::default()
    };
    let mut answer_lines: Vec<&str> = Vec::new();
    for line in &lines[1..] {
        let t = line.trim();
        if let Some(q) = t.strip_prefix('?') {
            raw.questions.push(q.trim().to_owned());
        } else if let Some(a) = t.strip_prefix('>') {
            answer_lines.push(a.trim());
        } else if let Some(r) = t.strip_prefix('@') {
            // After a `~` line, rich items are that variant's.
            match raw.answer_variants.last_mut() {
                Some(v) => v.rich.push(r.trim().to_owned()),
                None => raw.rich.push(r.trim().to_owned()),
            }
        } else if let Some(more) = t.strip_prefix("~|") {
            // A further line of the variant above (variant texts may span lines, like `>`).
            let v = raw
                .answer_variants
                .last_mut()
                .ok_or_else(|| RowError::Malformed("a `~|` line with no `~` variant above it".into()))?;
            v.text.push('\n');
            v.text.push_str(more.trim());
        } else if let Some(v) = t.strip_prefix('~') {
            raw.answer_variants.extend(parse_variant_cell(v)?);
        } else if !t.is_empty() && !t.starts_with('#') {
            for kv in t.split(" | ") {
                let (k, v) = kv
                    .split_once(':')
                    .ok_or_else(|| RowError::Malformed(format!("expected key: value, got {kv:?}")))?;
                let list = || v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                match k.trim() {
                    "tags" => raw.tags = list(),
                    "products" => raw.products = list(),
                    "channels" => raw.channels = list(),
                    "status" => raw.status = v.trim().to_owned(),
                    "version" => raw.version = v.trim().parse().ok(),
                    "valid_from_ms" => raw.valid_from_ms = parse_opt_i64("valid_from_ms", v)?,
                    "valid_to_ms" => raw.valid_to_ms = parse_opt_i64("valid_to_ms", v)?,
                    other => return Err(RowError::Malformed(format!("unknown key {other:?}"))),
                }
            }
        }
    }
    raw.answer = answer_lines.join("\n");
    raw.parse()
}

/// Exports entries as Markdown (re-importable with [`import_markdown`]).
pub fn export_markdown(entries: &[FaqEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let r = RawEntry::from_entry(e);
        out.push_str(&format!("## {} {}\n", r.id, r.lang));
        let mut meta = vec![
            format!("tags: {}", r.tags.join(", ")),
            format!("products: {}", r.products.join(", ")),
            format!("status: {}", r.status),
            format!("version: {}", r.version.unwrap_or(1)),
        ];
        if !r.channels.is_empty() {
            meta.push(format!("channels: {}", r.channels.join(", ")));
        }
        if let Some(f) = r.valid_from_ms {
            meta.push(format!("valid_from_ms: {f}"));
        }
        if let Some(t) = r.valid_to_ms {
            meta.push(format!("valid_to_ms: {t}"));
        }
        out.push_str(&meta.join(" | "));
        out.push('\n');
        for q in &r.questions {
            out.push_str(&format!("? {q}\n"));
        }
        for line in r.answer.lines() {
            out.push_str(&format!("> {line}\n"));
        }
        for x in &r.rich {
            out.push_str(&format!("@ {x}\n"));
        }
        for v in &r.answer_variants {
            let mut lines = v.text.lines();
            out.push_str(&format!("~ {}: {}\n", v.scope(), lines.next().unwrap_or("")));
            for more in lines {
                out.push_str(&format!("~| {more}\n"));
            }
            for x in &v.rich {
                out.push_str(&format!("@ {x}\n"));
            }
        }
        out.push('\n');
    }
    out
}
