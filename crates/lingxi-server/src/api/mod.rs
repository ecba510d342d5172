//! The HTTP API: routes, the JSON body extractor that turns every malformed body into a
//! stable error, and the middleware that measures every request.

pub(crate) mod admin;
mod articles;
mod console;
mod conversations;
mod customers;
mod flows;
pub mod inbound;
pub mod knowledge;
mod knowledge_candidates;
mod knowledge_gaps;
mod nlu;
pub mod openapi;
mod routing_profile;
mod stream;
pub mod views;
pub mod widget;
mod widget_page;
pub mod workspace;

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/v1/auth/login", post(admin::login))
        .route("/api/v1/auth/logout", post(admin::logout))
        .route("/api/v1/me", get(admin::me))
        .route("/api/v1/me/presence", post(admin::set_presence))
        .route("/api/v1/queues", get(admin::queues))
        .route("/api/v1/queues/overview", get(workspace::queue_overview))
        .route("/api/v1/inbound/messages", post(inbound::post_message))
        .route("/api/v1/inbound/feedback", post(knowledge_gaps::feedback))
        .route("/api/v1/knowledge/faqs", get(knowledge::list).post(knowledge::create))
        .route("/api/v1/knowledge/faqs/{id}", get(knowledge::detail).put(knowledge::update).delete(knowledge::remove))
        .route("/api/v1/knowledge/faqs/{id}/status", post(knowledge::set_status))
        .route("/api/v1/knowledge/faqs/{id}/versions", get(knowledge::versions))
        .route("/api/v1/knowledge/articles", get(articles::list_articles).post(articles::create_article))
        .route(
            "/api/v1/knowledge/articles/{id}",
            get(articles::article).put(articles::put_article).delete(articles::delete_article),
        )
        .route("/api/v1/knowledge/import", post(knowledge::import))
        .route("/api/v1/knowledge/export", get(knowledge::export))
        .route("/api/v1/knowledge/search", get(knowledge::search))
        .route("/api/v1/knowledge/gaps", get(knowledge_gaps::gaps))
        .route("/api/v1/knowledge/gaps/{id}/draft", post(knowledge_gaps::draft))
        .route("/api/v1/knowledge/candidates", get(knowledge_candidates::list))
        .route("/api/v1/knowledge/candidates/{id}/accept", post(knowledge_candidates::accept))
        .route("/api/v1/knowledge/candidates/{id}/dismiss", post(knowledge_candidates::dismiss))
        .route("/api/v1/nlu/parse", post(nlu::parse))
        .route("/api/v1/nlu/intent-models", get(nlu::list).post(nlu::train))
        .route("/api/v1/nlu/intent-models/{version}", get(nlu::detail))
        .route("/api/v1/nlu/active-intent-model", put(nlu::set_active))
        .route("/api/v1/nlu/default-intents", get(nlu::defaults))
        .route("/api/v1/nlu/settings", get(nlu::get_settings).put(nlu::put_settings))
        .route("/api/v1/flows", get(flows::list).post(flows::create))
        .route("/api/v1/flows/{id}", get(flows::detail).put(flows::replace).delete(flows::remove))
        .route("/api/v1/conversations", get(conversations::list))
        .route("/api/v1/conversations/{id}", get(conversations::detail))
        .route("/api/v1/conversations/{id}/context", get(conversations::context))
        .route("/api/v1/conversations/{id}/messages", post(conversations::reply))
        .route("/api/v1/conversations/{id}/transitions", post(conversations::transition))
        .route("/api/v1/conversations/{id}/notes", get(workspace::list_notes).post(workspace::add_note))
        .route("/api/v1/conversations/{id}/transfer", post(workspace::transfer))
        .route("/api/v1/conversations/{id}/suggestions", get(workspace::suggestions))
        .route("/api/v1/canned-responses", get(workspace::list_canned).post(workspace::create_canned))
        .route("/api/v1/canned-responses/{id}", patch(workspace::update_canned).delete(workspace::delete_canned))
        .route("/api/v1/customers", get(customers::list))
        .route("/api/v1/customers/{id}", get(customers::detail).patch(customers::update))
        .route("/api/v1/customers/{id}/timeline", get(customers::timeline))
        .route("/api/v1/customers/{id}/identifiers", post(customers::add_identifier))
        .route("/api/v1/customers/{id}/identifiers/{kind}/{value}", delete(customers::remove_identifier))
        .route("/api/v1/customers/{id}/merge", post(customers::merge))
        .route("/api/v1/customers/{id}/merges", get(customers::merges))
        .route("/api/v1/merges/{id}/split", post(customers::split))
        .route("/api/v1/users", get(admin::list_users).post(admin::create_user))
        .route("/api/v1/users/{id}", patch(routing_profile::update_user))
        .route("/api/v1/teams", get(admin::list_teams).post(admin::create_team))
        .route("/api/v1/channels", get(admin::list_channels).post(admin::create_channel))
        .route("/api/v1/channels/{id}/rotate-key", post(admin::rotate_channel_key))
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/stream", get(stream::connect))
        .merge(widget_routes())
        .route("/widget.js", get(widget_page::script))
        .route("/demo", get(widget_page::demo))
        .route("/", get(console::index))
        .route("/console/{file}", get(console::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(widget::cors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// The widget's API (open to any origin: see `widget::cors`, layered on the whole router so
/// that it also answers preflights, which no route handles).
fn widget_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/widget/sessions", post(widget::create_session))
        .route("/api/v1/widget/messages", get(widget::history).post(widget::send))
        .route("/api/v1/widget/stream", get(widget::stream))
        .route("/api/v1/widget/feedback", post(widget::feedback))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Liveness, plus which retrieval mode the process runs in (hybrid needs the encoder file).
async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": "ok",
        "knowledge": { "mode": state.semantic.mode(), "encoder": state.semantic.status },
    }))
}

async fn ready(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    state.store.ping().await.map_err(|e| ApiError::Unavailable(format!("store: {e}")))?;
    Ok(axum::Json(serde_json::json!({ "status": "ready" })))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    text.push_str(&crate::semantic::render_metrics(&state.semantic));
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Counts and times every request under its route template (never the raw path, whose ids
/// would explode the label set).
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    state.metrics.observe_request(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

/// A JSON body parsed into `T`, with every failure mapped to the error table:
/// wrong content type 415, too large 413, malformed or wrong shape 400.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson(rej.body_text())
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = T::deserialize(&mut de).map_err(|e| ApiError::InvalidJson(json_error(&e)))?;
        de.end().map_err(|e| ApiError::InvalidJson(json_error(&e)))?;
        Ok(ApiJson(value))
    }
}

fn json_error(e: &serde_json::Error) -> String {
    format!("{e}")
}

/// Parses a path id, answering 404 (not 400) for ids of the wrong shape: to a client an
/// unparseable id and an unknown id are the same thing.
pub fn path_id<T>(
    raw: &str,
    parse: fn(&str) -> Result<T, lingxi_domain::ids::IdError>,
    what: &'static str,
) -> Result<T, ApiError> {
    parse(raw).map_err(|_| ApiError::NotFound(what))
}
pub use admin::check_new_user;
