//! Customer endpoints: profile, unified cross-channel timeline, identifiers, merge and split.

use super::inbound::parse_identifier;
use super::{path_id, views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::{CustomerId, Permission};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

fn customer_id(raw: &str) -> Result<CustomerId, ApiError> {
    path_id(raw, CustomerId::parse, "customer")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub q: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadCustomers)?;
    let Query(q) = q.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::InvalidRequest("q: at most 100 characters".into()));
    }
    let rows = state.store.list_customers(&who.tenant_id, search, q.limit.unwrap_or(50).clamp(1, 200)).await?;
    Ok(Json(json!({ "customers": rows.iter().map(views::customer).collect::<Vec<_>>() })))
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadCustomers)?;
    let c = state.store.customer(&who.tenant_id, &customer_id(&id)?).await?;
    Ok(Json(json!({ "customer": views::customer(&c) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    pub display_name: Option<String>,
    /// Merged key by key into the profile; a null value removes the key.
    pub attributes: Option<Map<String, Value>>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<UpdateBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditCustomers)?;
    let id = customer_id(&id)?;
    let ApiJson(body) = body?;
    if body.display_name.as_ref().is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100) {
        return Err(ApiError::InvalidRequest("display_name: 1 to 100 characters".into()));
    }
    if let Some(tags) = &body.tags {
        if tags.len() > 50 || tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 40) {
            return Err(ApiError::InvalidRequest("tags: at most 50 tags of 1 to 40 characters".into()));
        }
    }
    if body.attributes.as_ref().is_some_and(|a| a.len() > 100 || a.keys().any(|k| k.is_empty() || k.len() > 64)) {
        return Err(ApiError::InvalidRequest("attributes: at most 100 keys of 1 to 64 bytes".into()));
    }
    let c = state
        .store
        .update_customer(
            &who.tenant_id,
            &id,
            body.display_name.as_deref(),
            body.attributes.as_ref(),
            body.tags.as_deref(),
            &who.actor(),
            state.clock.now(),
        )
        .await?;
    Ok(Json(json!({ "customer": views::customer(&c) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    pub limit: Option<i64>,
}

/// Every conversation and message of the customer, on every channel, in time order.
pub async fn timeline(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadCustomers)?;
    let Query(q) = q.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let id = customer_id(&id)?;
    let customer = state.store.customer(&who.tenant_id, &id).await?;
    let (convs, msgs) = state.store.timeline(&who.tenant_id, &id, q.limit.unwrap_or(1000).clamp(1, 5000)).await?;
    let convs: Vec<_> = convs.into_iter().filter(|c| who.can_see_team(c.team_id.as_ref())).collect();
    let visible: HashSet<_> = convs.iter().map(|c| c.id.clone()).collect();
    let entries: Vec<Value> = msgs
        .iter()
        .filter(|m| visible.contains(&m.conversation_id))
        .map(|m| {
            let mut v = views::message(m);
            if let Some(c) = convs.iter().find(|c| c.id == m.conversation_id) {
                v["channel_kind"] = Value::from(c.channel_kind.as_str());
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "customer": views::customer(&customer),
        "conversations": convs.iter().map(views::conversation).collect::<Vec<_>>(),
        "messages": entries,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierBody {
    pub kind: String,
    pub value: String,
}

pub async fn add_identifier(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<IdentifierBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditCustomers)?;
    let id = customer_id(&id)?;
    let ApiJson(body) = body?;
    let ident = parse_identifier(&body.kind, &body.value)?;
    state.store.add_identifier(&who.tenant_id, &id, &ident, &who.actor(), state.clock.now()).await?;
    let c = state.store.customer(&who.tenant_id, &id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "customer": views::customer(&c) }))))
}

pub async fn remove_identifier(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((id, kind, value)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditCustomers)?;
    let id = customer_id(&id)?;
    let ident = parse_identifier(&kind, &value)?;
    state.store.remove_identifier(&who.tenant_id, &id, &ident, &who.actor(), state.clock.now()).await?;
    let c = state.store.customer(&who.tenant_id, &id).await?;
    Ok(Json(json!({ "customer": views::customer(&c) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The customer to absorb into the one in the path.
    pub customer_id: String,
    pub reason: Option<String>,
}

pub async fn merge(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<MergeBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::MergeCustomers)?;
    let survivor = customer_id(&id)?;
    let ApiJson(body) = body?;
    let absorbed = CustomerId::parse(&body.customer_id).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let reason = body.reason.unwrap_or_else(|| "merged by an agent".into());
    if reason.chars().count() > 500 {
        return Err(ApiError::InvalidRequest("reason: at most 500 characters".into()));
    }
    let m = state
        .store
        .merge_customers(&who.tenant_id, &survivor, &absorbed, &reason, &who.actor(), state.clock.now())
        .await?;
    state.hub.publish(LiveEvent {
        tenant_id: who.tenant_id.clone(),
        team_id: None,
        kind: "customer.merged",
        data: views::merge(&m),
    });
    Ok((StatusCode::CREATED, Json(json!({ "merge": views::merge(&m) }))))
}

pub async fn merges(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadCustomers)?;
    let id = customer_id(&id)?;
    state.store.customer(&who.tenant_id, &id).await?;
    let rows = state.store.list_merges(&who.tenant_id, Some(&id)).await?;
    Ok(Json(json!({ "merges": rows.iter().map(views::merge).collect::<Vec<_>>() })))
}

pub async fn split(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::MergeCustomers)?;
    if !id.starts_with("mrg_") || id.len() > 64 {
        return Err(ApiError::NotFound("merge"));
    }
    let m = state.store.split(&who.tenant_id, &id, &who.actor(), state.clock.now()).await?;
    Ok(Json(json!({ "merge": views::merge(&m) })))
}
