//! Knowledge articles over HTTP: Markdown documents whose published passages are searched
//! like FAQ answers.

use super::{views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::Permission;
use lingxi_knowledge::model::Status;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

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
        state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
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
    state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
    Ok(Json(json!({ "deleted": id })))
}
