//! The knowledge base over HTTP: FAQ entries (CRUD, review workflow, version history), import and
//! export, search. Gaps and ratings are in `knowledge_gaps.rs`, articles in `articles.rs`.
//! Admins and supervisors edit; agents read. Every change that can alter answers re-indexes the
//! tenant in the background.

use super::{views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::knowledge::{from_row, to_write, KbDecision};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lingxi_domain::{ChannelKind, Permission};
use lingxi_knowledge::io::{export_csv, export_markdown, import_csv, import_markdown, ImportPolicy, ImportReport};
use lingxi_knowledge::json::{import_dtos, FaqDto};
use lingxi_knowledge::model::{EntryId, FaqEntry, Lang, Status};
use lingxi_store::{Expect, KbEntryRow};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(super) fn query<T>(q: Q<T>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::InvalidRequest(e.body_text()))
}

fn entry_id(raw: &str) -> Result<EntryId, ApiError> {
    EntryId::parse(raw).map_err(|_| ApiError::NotFound("knowledge entry"))
}

pub(super) fn view(row: &KbEntryRow) -> Value {
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

pub(super) fn parse_entry(dto: &FaqDto) -> Result<FaqEntry, ApiError> {
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
        state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
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
    state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
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
        state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
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
    state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
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
    let ranked = crate::knowledge::suggest(&state, &who.tenant_id, text, lang, channel, k).await?;
    let decision = match ranked.decision {
        KbDecision::Answer => "answer",
        KbDecision::Suggest => "suggest",
        KbDecision::NotUnderstood => "not_understood",
    };
    let hits: Vec<Value> = ranked
        .suggestions
        .iter()
        .map(|h| json!({ "entry_id": h.entry_id, "question": h.question, "answer": h.answer, "confidence": h.confidence }))
        .collect();
    let mode = if ranked.hybrid { "hybrid" } else { "lexical" };
    Ok(Json(json!({ "decision": decision, "confidence": ranked.confidence, "mode": mode, "hits": hits })))
}
