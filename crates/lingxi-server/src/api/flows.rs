//! A tenant's own guided flows: create, replace, read, delete. A definition is checked whole
//! by `Flow::compile` before it is stored, and every problem comes back with its path under
//! the stable code `invalid_flow`. Reading needs the knowledge permission, changing the
//! knowledge-editing one (flows are bot content, like FAQ entries).
//!
//! Definitions come as JSON or as YAML (by `Content-Type`); YAML goes through the same parser
//! as `lingxi flows check` (`flow_file`), so its problems carry their line and step. Either is
//! stored as JSON; `GET …/{id}` answers YAML to `Accept: application/yaml`.

use super::ApiJson;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::flow_file::{self, Format};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// The YAML media types a flow may be sent and read as.
const YAML_TYPES: [&str; 3] = ["application/yaml", "text/yaml", "application/x-yaml"];

/// The media type without parameters (`application/yaml; charset=utf-8` → `application/yaml`).
fn essence(v: &str) -> String {
    v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn is_yaml(media: &str) -> bool {
    YAML_TYPES.contains(&media)
}

/// A definition as sent: a JSON body as every other endpoint takes it, or a YAML text.
pub enum Definition {
    Json(Value),
    Yaml(String),
}

impl<S: Send + Sync> FromRequest<S> for Definition {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(essence).unwrap_or_default();
        if !is_yaml(&media) {
            if media != "application/json" {
                return Err(ApiError::UnsupportedMediaTypeOf(
                    "a flow as JSON (application/json) or YAML (application/yaml)",
                ));
            }
            let ApiJson(v) = ApiJson::<Value>::from_request(req, state).await?;
            return Ok(Definition::Json(v));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidFlow(vec![Problem::at("", rej.body_text())])
            }
        })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::InvalidFlow(vec![Problem::at("", "the YAML body is not UTF-8 text")]))?;
        Ok(Definition::Yaml(text))
    }
}

impl Definition {
    /// The definition as stored (JSON), after the checks: YAML through `flow_file` (problems
    /// with line and step, as `lingxi flows check` prints them), then both as before.
    fn checked(self, path_id: Option<&str>) -> Result<(String, Value), ApiError> {
        let body = match self {
            Definition::Json(v) => v,
            Definition::Yaml(text) => {
                flow_file::parse("body", Format::Yaml, &text)
                    .map_err(|errs| ApiError::InvalidFlow(errs.into_iter().map(yaml_problem).collect()))?;
                serde_norway::from_str(&text)
                    .map_err(|e| ApiError::InvalidFlow(vec![Problem::at("", e.to_string())]))?
            }
        };
        Ok((check(&body, path_id)?, body))
    }
}

/// A `flow_file` problem as the API reports it: `steps.<step>` as the path when a step is
/// named, and the line both on its own and in the message.
fn yaml_problem(e: flow_file::FlowFileError) -> Problem {
    let path = e.step.as_ref().map_or_else(String::new, |s| format!("steps.{s}"));
    let mut place = Vec::new();
    if let Some(line) = e.line {
        place.push(format!("line {line}"));
    }
    if let Some(step) = &e.step {
        place.push(format!("step `{step}`"));
    }
    let message = if place.is_empty() { e.message } else { format!("{}: {}", place.join(", "), e.message) };
    Problem { path, message, line: e.line }
}

/// Parses and compiles a definition: the typed flow, or every problem by path.
fn check(body: &Value, path_id: Option<&str>) -> Result<String, ApiError> {
    let spec: FlowSpec = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::InvalidFlow(vec![Problem::at("", e.to_string())]))?;
    if let Some(id) = path_id {
        if spec.id != id {
            return Err(ApiError::InvalidFlow(vec![Problem::at(
                "id",
                format!("`{}` differs from the path's `{id}`", spec.id),
            )]));
        }
    }
    Flow::compile(&spec)
        .map_err(|errs| ApiError::InvalidFlow(errs.into_iter().map(|e| Problem::at(e.path, e.message)).collect()))?;
    Ok(spec.id)
}

/// Whether the client asked for YAML: the first media type of `Accept` this endpoint serves
/// decides (quality values are not weighed); JSON otherwise.
fn wants_yaml(headers: &HeaderMap) -> bool {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept
        .split(',')
        .map(essence)
        .find(|m| is_yaml(m) || m == "application/json" || m == "*/*" || m == "application/*")
        .is_some_and(|m| is_yaml(&m))
}

pub async fn list(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let rows = state.store.flows(&who.tenant_id).await?;
    Ok(Json(json!({ "flows": rows.iter().map(view).collect::<Vec<_>>() })))
}

/// The flow as JSON (`{flow: {id, title, definition, updated_at}}`), or its definition alone
/// as YAML for `Accept: application/yaml` (ready to edit and PUT back).
pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let row = state.store.flow(&who.tenant_id, &id).await?;
    if !wants_yaml(&headers) {
        return Ok(Json(json!({ "flow": view(&row) })).into_response());
    }
    let spec: Value = serde_json::from_str(&row.spec).unwrap_or(Value::Null);
    let yaml = serde_norway::to_string(&spec).map_err(|e| ApiError::Internal(format!("flow as YAML: {e}")))?;
    Ok(([(CONTENT_TYPE, "application/yaml; charset=utf-8")], yaml).into_response())
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<Definition, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let (id, body) = body?.checked(None)?;
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
    body: Result<Definition, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    state.store.flow(&who.tenant_id, &id).await?;
    let (_, body) = body?.checked(Some(&id))?;
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
