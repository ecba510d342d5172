//! Candidate FAQ entries learnt from agents (`learn.rs`) over HTTP: list, accept (a draft entry
//! that goes through the usual review, or a new phrasing added to the entry it rephrases) and
//! dismiss. Admins and supervisors, like every other knowledge-base change.

use super::knowledge::{parse_entry, query, view, Q};
use super::{views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::knowledge::{from_row, to_write};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use lingxi_domain::{CandidateId, Permission};
use lingxi_knowledge::json::FaqDto;
use lingxi_knowledge::model::Status;
use lingxi_store::{CandidateRow, Expect};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

fn candidate_id(raw: &str) -> Result<CandidateId, ApiError> {
    CandidateId::parse(raw).map_err(|_| ApiError::NotFound("knowledge candidate"))
}

fn candidate_view(c: &CandidateRow) -> Value {
    json!({
        "id": c.id.as_str(),
        "kind": c.kind,
        "entry_id": c.entry_id,
        "question": c.question,
        "answer": c.answer,
        "lang": c.lang,
        "conversation_id": c.conversation_id,
        "occurrences": c.occurrences,
        "status": c.status,
        "drafted_entry_id": c.drafted_entry_id,
        "decided_by": c.decided_by,
        "created_at": views::time(c.created_at),
        "updated_at": views::time(c.updated_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// open (default), accepted, dismissed or all.
    pub status: Option<String>,
    /// new_entry or phrasing.
    pub kind: Option<String>,
    pub limit: Option<i64>,
}

/// Candidates, most often seen first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let q = query(q)?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "accepted" | "dismissed") => Some(s),
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "status: open, accepted, dismissed or all, not `{}`",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    if let Some(k) = q.kind.as_deref() {
        if !matches!(k, "new_entry" | "phrasing") {
            return Err(ApiError::InvalidRequest("kind: new_entry or phrasing".into()));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = state.store.kb_candidates(&who.tenant_id, status, limit).await?;
    let out: Vec<Value> =
        rows.iter().filter(|c| q.kind.as_deref().is_none_or(|k| k == c.kind)).map(candidate_view).collect();
    Ok(Json(json!({ "candidates": out })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The new entry's id (default: `agent-` and the candidate id's random part). New entries only.
    pub entry_id: Option<String>,
    /// The question as the reviewer wants it (default: the candidate's).
    pub question: Option<String>,
    /// The answer as the reviewer wants it (default: the candidate's). New entries only.
    pub answer: Option<String>,
}

/// Accepts a candidate: a new entry becomes a draft tagged `from-agent` (review and publish as
/// any draft); a phrasing is added to its entry's similar questions as a new version, status
/// unchanged.
pub async fn accept(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<AcceptBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = candidate_id(&id)?;
    let ApiJson(body) = body?;
    let c = state.store.kb_candidate(&who.tenant_id, &id).await?;
    if c.status != "open" {
        return Err(ApiError::Conflict(format!("the candidate is {} already", c.status)));
    }
    let question = body.question.unwrap_or_else(|| c.question.clone());
    let now = state.clock.now();
    let (entry, expect, published) = match c.entry_id.as_deref() {
        Some(entry_id) => {
            if body.entry_id.is_some() || body.answer.is_some() {
                return Err(ApiError::InvalidRequest(
                    "entry_id, answer: a phrasing is added to its entry; edit the entry itself for more".into(),
                ));
            }
            let row = state.store.kb_entry(&who.tenant_id, entry_id).await?;
            let mut dto = FaqDto::from(&from_row(&row)?);
            let q = question.split_whitespace().collect::<Vec<_>>().join(" ");
            if !dto.similar.iter().chain(std::iter::once(&dto.question)).any(|s| s.to_lowercase() == q.to_lowercase()) {
                dto.similar.push(q);
            }
            dto.version = Some(u32::try_from(row.version + 1).unwrap_or(u32::MAX));
            (parse_entry(&dto)?, Expect::Version(row.version), row.status == Status::Published.as_str())
        }
        None => {
            let dto = FaqDto {
                id: body.entry_id.unwrap_or_else(|| format!("agent-{}", id.as_str().trim_start_matches("kbc_"))),
                lang: c.lang.clone(),
                question,
                answer: body.answer.unwrap_or_else(|| c.answer.clone()),
                status: Some(Status::Draft.as_str().into()),
                version: Some(1),
                tags: vec!["from-agent".into()],
                ..Default::default()
            };
            (parse_entry(&dto)?, Expect::New, false)
        }
    };
    state.store.kb_accept_candidate(&who.tenant_id, &id, &to_write(&entry), expect, &who.actor(), now).await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "knowledge.candidate_accept",
            id.as_str(),
            &json!({ "entry_id": entry.id().as_str(), "kind": c.kind }),
            now,
        )
        .await?;
    if published {
        state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
    }
    let row = state.store.kb_entry(&who.tenant_id, entry.id().as_str()).await?;
    let c = state.store.kb_candidate(&who.tenant_id, &id).await?;
    Ok(Json(json!({ "candidate": candidate_view(&c), "entry": view(&row) })))
}

/// Dismisses a candidate; it stays (dismissed), so the same question is not proposed again.
pub async fn dismiss(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let id = candidate_id(&id)?;
    let now = state.clock.now();
    state.store.kb_dismiss_candidate(&who.tenant_id, &id, &who.actor(), now).await?;
    state
        .store
        .audit(&who.tenant_id, &who.actor(), "knowledge.candidate_dismiss", id.as_str(), &json!({}), now)
        .await?;
    let c = state.store.kb_candidate(&who.tenant_id, &id).await?;
    Ok(Json(json!({ "candidate": candidate_view(&c) })))
}
