//! A tenant's own guided flows: create, replace, read, delete. A definition is checked whole
//! by `Flow::compile` before it is stored, and every problem comes back with its path under
//! the stable code `invalid_flow`. Reading needs the knowledge permission, changing the
//! knowledge-editing one (flows are bot content, like FAQ entries).

use super::ApiJson;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::Permission;
use lingxi_engine::flow::{Flow, FlowSpec};
use lingxi_store::FlowRow;
use serde_json::{json, Value};
use std::sync::Arc;

fn view(row: &FlowRow) -> Value {
    let spec: Value = serde_json::from_str(&row.spec).unwrap_or(Value::Null);
    json!({ "id": row.id, "title": spec["title"], "definition": spec, "updated_at": super::views::time(row.updated_at) })
}

/// Parses and compiles a definition: the typed flow, or every problem by path.
fn check(body: &Value, path_id: Option<&str>) -> Result<String, ApiError> {
    let spec: FlowSpec = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::InvalidFlow(vec![(String::new(), e.to_string())]))?;
    if let Some(id) = path_id {
        if spec.id != id {
            return Err(ApiError::InvalidFlow(vec![(
                "id".into(),
                format!("`{}` differs from the path's `{id}`", spec.id),
            )]));
        }
    }
    Flow::compile(&spec)
        .map_err(|errs| ApiError::InvalidFlow(errs.into_iter().map(|e| (e.path, e.message)).collect()))?;
    Ok(spec.id)
}

pub async fn list(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let rows = state.store.flows(&who.tenant_id).await?;
    Ok(Json(json!({ "flows": rows.iter().map(view).collect::<Vec<_>>() })))
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    Ok(Json(json!({ "flow": view(&state.store.flow(&who.tenant_id, &id).await?) })))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<Value>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(body) = body?;
    let id = check(&body, None)?;
    let row = state.store.create_flow(&who.tenant_id, &id, &body.to_string(), state.clock.now()).await?;
    crate::bot_tools::forget_flows(&state, &who.tenant_id);
    Ok((StatusCode::CREATED, Json(json!({ "flow": view(&row) }))))
}

/// Replaces a flow the tenant has (404 otherwise: create with POST). Runs in progress keep
/// their step names, so a step that still exists carries on.
pub async fn replace(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<Value>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    state.store.flow(&who.tenant_id, &id).await?;
    let ApiJson(body) = body?;
    check(&body, Some(&id))?;
    let row = state.store.replace_flow(&who.tenant_id, &id, &body.to_string(), state.clock.now()).await?;
    crate::bot_tools::forget_flows(&state, &who.tenant_id);
    Ok(Json(json!({ "flow": view(&row) })))
}

pub async fn remove(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::EditKnowledge)?;
    state.store.delete_flow(&who.tenant_id, &id).await?;
    crate::bot_tools::forget_flows(&state, &who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}
