//! The knowledge base over HTTP: FAQ entries (CRUD, review workflow, version history), import and
//! export, search, knowledge gaps (clusters, one-step drafts) and customers' ratings of answers.
//! Admins and supervisors edit; agents read. Every change re-indexes the tenant in the background.

use super::{views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::knowledge::{from_row, to_write, KbDecision};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lingxi_domain::{ChannelKind, GapId, MessageId, Permission};
use lingxi_knowledge::gaps::{cluster, DEFAULT_SIMILARITY};
use lingxi_knowledge::io::{export_csv, export_markdown, import_csv, import_markdown, ImportPolicy, ImportReport};
use lingxi_knowledge::json::{import_dtos, FaqDto};
use lingxi_knowledge::model::{EntryId, FaqEntry, Lang, Status};
use lingxi_knowledge::text::Analyzer;
use lingxi_store::{Expect, KbEntryRow, NewGap};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: Q<T>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::InvalidRequest(e.body_text()))
}

fn entry_id(raw: &str) -> Result<EntryId, ApiError> {
    EntryId::parse(raw).map_err(|_| ApiError::NotFound("knowledge entry"))
}

fn view(row: &KbEntryRow) -> Value {
    let mut v: Value = serde_json::from_str(&row.doc).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("updated_at".into(), views::time(row.updated_at));
        m.insert("updated_by".into(), row.updated_by.clone().into());
    }
    v
}

/// The entry with another version number (the only field the model does not let us set).
fn at_version(e: &FaqEntry, version: u32) -> Result<FaqEntry, ApiError> {
    let mut dto = FaqDto::from(e);
    dto.version = Some(version);
    FaqEntry::try_from(&dto).map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

fn parse_entry(dto: &FaqDto) -> Result<FaqEntry, ApiError> {
    FaqEntry::try_from(dto).map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub q: Option<String>,
    pub limit: Option<usize>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let q = query(q)?;
    let status =
        q.status.as_deref().map(Status::parse).transpose().map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let needle = q.q.as_deref().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    if needle.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::InvalidRequest("q: at most 100 characters".into()));
    }
    let rows = state.store.kb_entries(&who.tenant_id, status.map(Status::as_str)).await?;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let entries: Vec<Value> = rows
        .iter()
        .filter(|r| needle.as_ref().is_none_or(|n| r.doc.to_lowercase().contains(n.as_str())))
        .take(limit)
        .map(view)
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<FaqDto>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(mut dto) = body?;
    // New entries start as drafts at version 1 and go through review to be published.
    if dto.status.as_deref().is_some_and(|s| Status::parse(s) != Ok(Status::Draft)) {
        return Err(ApiError::InvalidRequest("status: new entries are drafts (publish through review)".into()));
    }
    dto.status = Some(Status::Draft.as_str().into());
    dto.version = Some(1);
    let entry = parse_entry(&dto)?;
    let now = state.clock.now();
    state.store.kb_save_entries(&who.tenant_id, &[(to_write(&entry), Expect::New)], &who.actor(), now).await?;
    state.store.audit(&who.tenant_id, &who.actor(), "knowledge.create", entry.id().as_str(), &json!({}), now).await?;
    let row = state.store.kb_entry(&who.tenant_id, entry.id().as_str()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entry": view(&row) }))))
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let id = entry_id(&id)?;
    let row = state.store.kb_entry(&who.tenant_id, id.as_str()).await?;
    Ok(Json(json!({ "entry": view(&row) })))
}

/// Replaces an entry's content. `version` must be the version being edited (compare-and-set:
/// a concurrent edit makes this a conflict); the status stays as it is.
pub async fn update(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<FaqDto>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = entry_id(&id)?;
    let ApiJson(mut dto) = body?;
    let current = state.store.kb_entry(&who.tenant_id, id.as_str()).await?;
    if dto.id.trim() != id.as_str() {
        return Err(ApiError::InvalidRequest("id: the body's id must be the path's (ids do not change)".into()));
    }
    let base = dto.version.ok_or_else(|| ApiError::InvalidRequest("version: the version you edited".into()))?;
    if dto.status.as_deref().is_some_and(|s| Status::parse(s).map(Status::as_str) != Ok(current.status.as_str())) {
        return Err(ApiError::InvalidRequest("status: change it with POST …/status".into()));
    }
    dto.status = Some(current.status.clone());
    dto.version = Some(base.saturating_add(1));
    let entry = parse_entry(&dto)?;
    let now = state.clock.now();
    state
        .store
        .kb_save_entries(&who.tenant_id, &[(to_write(&entry), Expect::Version(i64::from(base)))], &who.actor(), now)
        .await?;
    state
        .store
        .audit(&who.tenant_id, &who.actor(), "knowledge.update", id.as_str(), &json!({ "version": base + 1 }), now)
        .await?;
    if current.status == Status::Published.as_str() {
        state.knowledge.changed(&state.store, &who.tenant_id);
    }
    let row = state.store.kb_entry(&who.tenant_id, id.as_str()).await?;
    Ok(Json(json!({ "entry": view(&row) })))
}

pub async fn remove(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = entry_id(&id)?;
    state.store.kb_delete_entry(&who.tenant_id, id.as_str()).await?;
    let now = state.clock.now();
    state.store.audit(&who.tenant_id, &who.actor(), "knowledge.delete", id.as_str(), &json!({}), now).await?;
    state.knowledge.changed(&state.store, &who.tenant_id);
    Ok(Json(json!({ "deleted": id.as_str() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
}

/// Moves an entry through review: draft → in_review → published → archived (and back to draft).
pub async fn set_status(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<StatusBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = entry_id(&id)?;
    let ApiJson(body) = body?;
    let next = Status::parse(&body.status).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let row = state.store.kb_entry(&who.tenant_id, id.as_str()).await?;
    let entry = from_row(&row)?;
    if !entry.status().can_become(next) {
        return Err(ApiError::InvalidStatusChange(format!(
            "an entry in {} cannot become {}",
            entry.status().as_str(),
            next.as_str()
        )));
    }
    let changed = entry.with_status(next);
    let now = state.clock.now();
    state
        .store
        .kb_save_entries(&who.tenant_id, &[(to_write(&changed), Expect::Version(row.version))], &who.actor(), now)
        .await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "knowledge.status",
            id.as_str(),
            &json!({ "from": entry.status().as_str(), "to": next.as_str() }),
            now,
        )
        .await?;
    if entry.status() == Status::Published || next == Status::Published {
        state.knowledge.changed(&state.store, &who.tenant_id);
    }
    let row = state.store.kb_entry(&who.tenant_id, id.as_str()).await?;
    Ok(Json(json!({ "entry": view(&row) })))
}

pub async fn versions(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let id = entry_id(&id)?;
    let rows = state.store.kb_versions(&who.tenant_id, id.as_str()).await?;
    let versions: Vec<Value> = rows
        .iter()
        .map(|v| {
            json!({ "version": v.version, "status": v.status, "created_at": views::time(v.created_at), "created_by": v.created_by,
                    "entry": serde_json::from_str::<Value>(&v.doc).unwrap_or(Value::Null) })
        })
        .collect();
    Ok(Json(json!({ "versions": versions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// csv, json or md.
    pub format: String,
    /// The file's text.
    pub content: String,
    #[serde(default)]
    pub keep_valid: bool,
}

/// Parses an import file: CSV, Markdown or a JSON array of entries.
pub fn parse_import(format: &str, content: &str, policy: ImportPolicy) -> Result<ImportReport, String> {
    match format {
        "csv" => Ok(import_csv(content, policy)),
        "md" | "markdown" => Ok(import_markdown(content, policy)),
        "json" => {
            let dtos: Vec<FaqDto> =
                serde_json::from_str(content).map_err(|e| format!("content is not a JSON array of entries: {e}"))?;
            Ok(import_dtos(&dtos, policy))
        }
        other => Err(format!("format must be csv, json or md, not `{other}`")),
    }
}

/// Stores imported entries in one transaction: new ids are created, existing ones get a new
/// version (the imported status is kept: an import is how a reviewed knowledge base arrives).
pub async fn store_import(
    store: &lingxi_store::Store,
    tenant: &lingxi_domain::TenantId,
    entries: &[FaqEntry],
    actor: &str,
    now: lingxi_domain::Timestamp,
) -> Result<(usize, usize), ApiError> {
    let existing: HashMap<String, i64> =
        store.kb_entries(tenant, None).await?.into_iter().map(|r| (r.entry_id, r.version)).collect();
    let mut writes = Vec::with_capacity(entries.len());
    let (mut created, mut updated) = (0, 0);
    for e in entries {
        match existing.get(e.id().as_str()) {
            Some(&v) => {
                let next = u32::try_from(v + 1).unwrap_or(u32::MAX);
                writes.push((to_write(&at_version(e, next)?), Expect::Version(v)));
                updated += 1;
            }
            None => {
                writes.push((to_write(&at_version(e, 1)?), Expect::New));
                created += 1;
            }
        }
    }
    store.kb_save_entries(tenant, &writes, actor, now).await?;
    Ok((created, updated))
}

pub async fn import(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<ImportBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(body) = body?;
    let policy = if body.keep_valid { ImportPolicy::KeepValid } else { ImportPolicy::AllOrNothing };
    let (content, format) = (body.content, body.format.trim().to_ascii_lowercase());
    let report = tokio::task::spawn_blocking(move || parse_import(&format, &content, policy))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::InvalidRequest)?;
    let rejected: Vec<(usize, String)> = report.rejected.iter().map(|r| (r.row, r.reason.to_string())).collect();
    if !rejected.is_empty() && !body.keep_valid {
        return Err(ApiError::ImportRejected(rejected));
    }
    let now = state.clock.now();
    let (created, updated) = store_import(&state.store, &who.tenant_id, &report.entries, &who.actor(), now).await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "knowledge.import",
            "",
            &json!({ "created": created, "updated": updated, "rejected": rejected.len() }),
            now,
        )
        .await?;
    state.knowledge.changed(&state.store, &who.tenant_id);
    Ok(Json(json!({
        "n_rows": report.n_rows, "created": created, "updated": updated,
        "rejected": rejected.iter().map(|(row, reason)| json!({ "row": row, "reason": reason })).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub format: Option<String>,
}

/// Renders entries as a file: csv, md or json (an array of entries, the import's JSON format).
pub fn render_export(format: &str, entries: &[FaqEntry]) -> Result<(&'static str, String), String> {
    match format {
        "csv" => Ok(("text/csv; charset=utf-8", export_csv(entries))),
        "md" | "markdown" => Ok(("text/markdown; charset=utf-8", export_markdown(entries))),
        "json" => {
            let dtos: Vec<FaqDto> = entries.iter().map(FaqDto::from).collect();
            Ok(("application/json", serde_json::to_string_pretty(&dtos).unwrap_or_default()))
        }
        other => Err(format!("format must be csv, json or md, not `{other}`")),
    }
}

pub async fn export(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<ExportQuery>,
) -> Result<Response, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let q = query(q)?;
    let format = q.format.unwrap_or_else(|| "json".into()).to_ascii_lowercase();
    let rows = state.store.kb_entries(&who.tenant_id, None).await?;
    let entries = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let (mime, text) = render_export(&format, &entries).map_err(ApiError::InvalidRequest)?;
    Ok(([(CONTENT_TYPE, mime)], text).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub q: String,
    pub lang: Option<String>,
    pub channel: Option<String>,
    pub limit: Option<usize>,
}

/// What the bot would make of a text: the decision and the best published entries.
pub async fn search(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let q = query(q)?;
    let text = q.q.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(ApiError::InvalidRequest("q: 1 to 500 characters".into()));
    }
    let lang = q.lang.as_deref().map(Lang::parse).transpose().map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let channel = q
        .channel
        .as_deref()
        .map(|c| ChannelKind::parse(c).ok_or_else(|| ApiError::InvalidRequest(format!("channel: unknown kind `{c}`"))))
        .transpose()?;
    let k = q.limit.unwrap_or(3).clamp(1, 10);
    let (decision, confidence, hits) =
        crate::knowledge::suggest(&state, &who.tenant_id, text, lang, channel, k).await?;
    let decision = match decision {
        KbDecision::Answer => "answer",
        KbDecision::Suggest => "suggest",
        KbDecision::NotUnderstood => "not_understood",
    };
    let hits: Vec<Value> = hits
        .iter()
        .map(|h| json!({ "entry_id": h.entry_id, "question": h.question, "answer": h.answer, "confidence": h.confidence }))
        .collect();
    Ok(Json(json!({ "decision": decision, "confidence": confidence, "hits": hits })))
}

/// How many open gaps are clustered (the newest); older ones wait until these are handled.
const GAP_WINDOW: i64 = 2000;

struct GapCluster {
    members: Vec<lingxi_store::GapRow>,
}

async fn clusters(state: &AppState, tenant: &lingxi_domain::TenantId) -> Result<Vec<GapCluster>, ApiError> {
    let mut rows = state.store.kb_open_gaps(tenant, GAP_WINDOW).await?;
    // Oldest first, so a cluster's id (its first gap) stays put as new messages join it.
    rows.reverse();
    tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let groups = cluster(&Analyzer::default(), &texts, DEFAULT_SIMILARITY);
        let mut slots: Vec<Option<lingxi_store::GapRow>> = rows.into_iter().map(Some).collect();
        groups
            .into_iter()
            .map(|g| GapCluster { members: g.into_iter().filter_map(|i| slots[i].take()).collect() })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsQuery {
    pub limit: Option<usize>,
}

/// Open knowledge gaps grouped into clusters of similar messages, largest first.
pub async fn gaps(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<GapsQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let q = query(q)?;
    let all = clusters(&state, &who.tenant_id).await?;
    let (useful, not_useful) = state.store.kb_feedback_counts(&who.tenant_id).await?;
    let out: Vec<Value> = all
        .iter()
        .take(q.limit.unwrap_or(50).clamp(1, 500))
        .map(|c| {
            let mut kinds: HashMap<&str, usize> = HashMap::new();
            for m in &c.members {
                *kinds.entry(m.kind.as_str()).or_default() += 1;
            }
            let mut examples: Vec<&str> = Vec::new();
            for m in &c.members {
                if examples.len() < 5 && !examples.contains(&m.text.as_str()) {
                    examples.push(&m.text);
                }
            }
            json!({
                "id": c.members[0].id.as_str(),
                "size": c.members.len(),
                "question": c.members[0].text,
                "lang": c.members[0].lang,
                "examples": examples,
                "kinds": kinds,
                "last_seen_at": views::time(c.members.iter().map(|m| m.created_at).max().unwrap_or(c.members[0].created_at)),
            })
        })
        .collect();
    Ok(Json(json!({ "clusters": out, "feedback": { "useful": useful, "not_useful": not_useful } })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// The new entry's id (default: `gap-` and the cluster id's random part).
    pub entry_id: Option<String>,
    /// The answer, when the admin already knows it (default: a placeholder to fill in review).
    pub answer: Option<String>,
}

/// Turns a gap cluster into a draft FAQ entry in one step: the first message becomes the standard
/// question, the other distinct messages similar phrasings; the cluster's gaps are closed.
pub async fn draft(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<DraftBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let gap = GapId::parse(&id).map_err(|_| ApiError::NotFound("knowledge gap"))?;
    let ApiJson(body) = body?;
    let all = clusters(&state, &who.tenant_id).await?;
    let c = all.into_iter().find(|c| c.members[0].id == gap).ok_or(ApiError::NotFound("knowledge gap"))?;
    let lang = c.members[0].lang.clone();
    let mut questions: Vec<String> = Vec::new();
    for m in &c.members {
        let t: String = m.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() && questions.len() < 50 && !questions.iter().any(|q| q.to_lowercase() == t.to_lowercase()) {
            questions.push(t);
        }
    }
    let placeholder = if lang == "zh" { "（待补充答案）" } else { "(answer to be written)" };
    let entry_id = body.entry_id.unwrap_or_else(|| format!("gap-{}", gap.as_str().trim_start_matches("gap_")));
    let dto = FaqDto {
        id: entry_id,
        lang,
        question: questions.first().cloned().unwrap_or_default(),
        similar: questions.iter().skip(1).cloned().collect(),
        answer: body.answer.unwrap_or_else(|| placeholder.into()),
        status: Some(Status::Draft.as_str().into()),
        version: Some(1),
        tags: vec!["from-gaps".into()],
        ..Default::default()
    };
    let entry = parse_entry(&dto)?;
    let ids: Vec<GapId> = c.members.iter().map(|m| m.id.clone()).collect();
    let now = state.clock.now();
    state.store.kb_draft_from_gaps(&who.tenant_id, &ids, &to_write(&entry), &who.actor(), now).await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "knowledge.draft_from_gaps",
            entry.id().as_str(),
            &json!({ "gaps": ids.len() }),
            now,
        )
        .await?;
    let row = state.store.kb_entry(&who.tenant_id, entry.id().as_str()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entry": view(&row), "closed_gaps": ids.len() }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// The bot message being rated (`msg_…`, as pushed to the channel).
    pub message_id: String,
    pub useful: bool,
}

/// A customer rates a bot answer through the channel (the web-chat widget's thumbs). A "not
/// useful" rating logs the question it answered as a knowledge gap.
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<ApiJson<FeedbackBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let (channel, _) = super::inbound::channel_from_headers(&state, &headers).await?;
    let ApiJson(body) = body?;
    let message = MessageId::parse(body.message_id.trim()).map_err(|_| ApiError::NotFound("bot message"))?;
    let now = state.clock.now();
    let (conversation, question) = state.store.kb_rate_answer(&channel.tenant_id, &message, body.useful, now).await?;
    let mut gap_logged = false;
    if let (false, Some(text)) = (body.useful, question) {
        let lang = if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) { "zh" } else { "en" };
        let gap = NewGap {
            conversation_id: Some(conversation),
            text: text.chars().take(500).collect(),
            lang: lang.into(),
            kind: "not_useful".into(),
            confidence: 0.0,
        };
        state.store.kb_log_gaps(&channel.tenant_id, &[gap], now).await?;
        gap_logged = true;
    }
    Ok(Json(json!({ "message_id": message.as_str(), "useful": body.useful, "gap_logged": gap_logged })))
}

fn article_id(raw: &str) -> Result<String, ApiError> {
    // Article ids become part of passage entry ids (`a.<id>.<n>`, at most 64 characters).
    let ok = !raw.is_empty()
        && raw.len() <= 48
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::NotFound("article"))
    }
}

fn article_view(a: &lingxi_store::KbArticleRow, with_body: bool) -> Value {
    let passages = lingxi_knowledge::article::Article::parse(&a.body, crate::knowledge::PASSAGE_CHARS)
        .map(|x| x.passages().to_vec())
        .unwrap_or_default();
    let mut v = json!({ "id": a.article_id, "title": a.title, "status": a.status, "n_passages": passages.len(), "updated_at": views::time(a.updated_at) });
    if with_body {
        v["markdown"] = a.body.clone().into();
        v["passages"] =
            passages.iter().map(|p| json!({ "idx": p.idx, "heading": p.heading, "text": p.text })).collect();
    }
    v
}

pub async fn list_articles(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let rows = state.store.kb_articles(&who.tenant_id).await?;
    Ok(Json(json!({ "articles": rows.iter().map(|a| article_view(a, false)).collect::<Vec<_>>() })))
}

pub async fn article(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let row = state.store.kb_article(&who.tenant_id, &article_id(&id)?).await?;
    Ok(Json(json!({ "article": article_view(&row, true) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// Only when creating (POST): 1-48 characters of a-z, A-Z, 0-9, '-', '_'.
    pub id: Option<String>,
    pub markdown: String,
    /// draft (default) or published; published articles' passages answer customers.
    pub status: Option<String>,
}

/// Creates an article (Markdown; the first `#` heading is its title).
pub async fn create_article(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<ArticleBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(body) = body?;
    let id = body
        .id
        .as_deref()
        .map(article_id)
        .transpose()
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::InvalidRequest("id: 1-48 characters of a-z, A-Z, 0-9, '-', '_'".into()))?;
    match state.store.kb_article(&who.tenant_id, &id).await {
        Ok(_) => return Err(ApiError::Conflict(format!("article `{id}` exists already"))),
        Err(lingxi_store::StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let v = save_article(&state, &who, id, body, false).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Replaces an article's Markdown and status.
pub async fn put_article(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<ArticleBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = article_id(&id)?;
    let ApiJson(body) = body?;
    let current = state.store.kb_article(&who.tenant_id, &id).await?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::InvalidRequest("id: the body's id must be the path's".into()));
    }
    Ok(Json(save_article(&state, &who, id, body, current.status == Status::Published.as_str()).await?))
}

async fn save_article(
    state: &AppState,
    who: &Principal,
    id: String,
    body: ArticleBody,
    was_published: bool,
) -> Result<Value, ApiError> {
    if body.markdown.chars().count() > 200_000 {
        return Err(ApiError::InvalidRequest("markdown: at most 200,000 characters".into()));
    }
    let parsed = lingxi_knowledge::article::Article::parse(&body.markdown, crate::knowledge::PASSAGE_CHARS)
        .map_err(|e| ApiError::InvalidRequest(format!("markdown: {e}")))?;
    let status = match body.status.as_deref().map(Status::parse).transpose() {
        Ok(None | Some(Status::Draft)) => Status::Draft,
        Ok(Some(Status::Published)) => Status::Published,
        _ => return Err(ApiError::InvalidRequest("status: draft or published".into())),
    };
    let now = state.clock.now();
    let title = if parsed.title().is_empty() { id.clone() } else { parsed.title().to_owned() };
    let row = lingxi_store::KbArticleRow {
        article_id: id.clone(),
        title,
        body: body.markdown,
        status: status.as_str().into(),
        updated_at: now,
    };
    state.store.kb_put_article(&who.tenant_id, &row).await?;
    state
        .store
        .audit(&who.tenant_id, &who.actor(), "knowledge.article", &id, &json!({ "status": status.as_str() }), now)
        .await?;
    if was_published || status == Status::Published {
        state.knowledge.changed(&state.store, &who.tenant_id);
    }
    Ok(json!({ "article": article_view(&row, true) }))
}

pub async fn delete_article(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = article_id(&id)?;
    state.store.kb_delete_article(&who.tenant_id, &id).await?;
    let now = state.clock.now();
    state.store.audit(&who.tenant_id, &who.actor(), "knowledge.article_delete", &id, &json!({}), now).await?;
    state.knowledge.changed(&state.store, &who.tenant_id);
    Ok(Json(json!({ "deleted": id })))
}
