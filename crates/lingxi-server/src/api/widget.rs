//! The customer chat widget's API: a web-chat visitor talks to a `web_chat` channel without
//! the channel's secret key.
//!
//! - A web-chat channel's id is its public widget id. `POST /api/v1/widget/sessions` creates
//!   (or resumes) a visitor and hands out an opaque token (`lxv_…`, stored as SHA-256). The
//!   visitor's messages carry a `device_id` identifier the server chose, so no page can claim
//!   another visitor's device; a name the page passes becomes the display name.
//! - A visitor reads only the conversations its own messages went into (recorded per visitor),
//!   never "everything of the customer": identity resolution may later merge the customer
//!   with others, and what a browser holding a token may read must not grow with that.
//! - Messages go through the same ingest path as channels (durable before acknowledged,
//!   idempotent on the client's message id, namespaced per visitor), then the same
//!   announcement (live hub, bot turn).
//! - `GET /api/v1/widget/stream?token=…` pushes the messages of the visitor's conversations
//!   (customer, bot and agent only: notes and system rows never leave the building).
//! - Bot messages say whether they can be rated (`rateable`: what they were) and how the
//!   visitor rated them; `POST /api/v1/widget/feedback` rates one of the visitor's own, through
//!   the same logic as the channels' `POST /api/v1/inbound/feedback`.

use super::{inbound, knowledge_gaps, views, ApiJson};
use crate::auth::{digest, new_secret};
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lingxi_domain::{ChannelId, ChannelKind, Identifier, IdentifierKind, Timestamp};
use lingxi_store::{Inbound, MessageRow, StoreError, TenantPolicy, VisitorRow};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub const VISITOR_TOKEN_PREFIX: &str = "lxv_";
/// The live event that tells a visitor's open streams about a conversation it just joined.
/// Internal: the console stream never forwards it.
pub const JOINED: &str = "widget.joined";
/// Who a visitor may hear: never internal notes or system rows.
const VISIBLE_SENDERS: &[&str] = &["customer", "bot", "agent"];

/// The widget runs on other sites' pages: its API answers any origin. It needs no cookies
/// (the token travels in a header), so this opens no cross-site request forgery. Every other
/// path passes through untouched.
pub async fn cors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/v1/widget/") {
        return next.run(req).await;
    }
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    res
}

/// A visitor, authenticated by `Authorization: Bearer lxv_…` or (for the WebSocket, which
/// cannot set headers in a browser) `?token=lxv_…`.
pub struct Visitor(pub VisitorRow);

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
            .or_else(|| {
                parts.uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=").map(str::to_owned)))
            })
            .ok_or(ApiError::Unauthenticated("a visitor token is required (POST /api/v1/widget/sessions)"))?;
        if !token.starts_with(VISITOR_TOKEN_PREFIX) || token.len() > 200 {
            return Err(ApiError::Unauthenticated("the visitor token is not valid"));
        }
        match state.store.visitor_by_token(&digest(&token)).await {
            Ok(v) => Ok(Visitor(v)),
            Err(StoreError::NotFound(_)) => Err(ApiError::Unauthenticated("the visitor token is not valid")),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// The web-chat channel's id (its public widget id).
    pub channel_id: String,
    /// A token from an earlier session, to resume it.
    pub token: Option<String>,
    /// The visitor's name, if the page knows it.
    pub name: Option<String>,
}

fn parse_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => {
            Err(ApiError::InvalidRequest("name: at most 100 printable characters".into()))
        }
        Some(n) if n.trim().is_empty() => Ok(None),
        n => Ok(n.map(|n| n.trim().to_owned())),
    }
}

pub async fn create_session(
    State(state): State<Arc<AppState>>,
    body: Result<ApiJson<SessionBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ApiJson(body) = body?;
    let channel_id = ChannelId::parse(body.channel_id.trim())
        .map_err(|_| ApiError::InvalidRequest("channel_id: not a channel id (chn_…)".into()))?;
    let name = parse_name(body.name)?;
    // Only web-chat channels have a widget; any other id is as unknown as a made-up one.
    let channel = match state.store.channel_by_id(&channel_id).await {
        Ok(c) if c.kind == ChannelKind::WebChat => c,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::NotFound("web-chat channel")),
        Err(e) => return Err(e.into()),
    };
    if let Some(token) = body.token.filter(|t| t.starts_with(VISITOR_TOKEN_PREFIX) && t.len() <= 200) {
        match state.store.visitor_by_token(&digest(&token)).await {
            Ok(v) if v.channel_id == channel.id => {
                return Ok((StatusCode::OK, Json(json!({ "visitor_id": v.id, "token": token, "resumed": true }))));
            }
            // A token of another channel, or one the store forgot: start afresh.
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let token = new_secret(VISITOR_TOKEN_PREFIX);
    let device = format!("web-{}", hex::encode(rand::random::<[u8; 12]>()));
    let v = state.store.create_visitor(&channel, &digest(&token), &device, name.as_deref(), state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "visitor_id": v.id, "token": token, "resumed": false }))))
}

/// A message as a visitor sees it: no customer, channel or user ids, no external ids.
pub fn visitor_message(m: &MessageRow) -> Value {
    let mut content = m.content.clone();
    if let Value::Object(map) = &mut content {
        map.insert("type".into(), Value::from(m.content_kind.clone()));
    }
    json!({
        "id": m.id.as_str(), "conversation_id": m.conversation_id.as_str(), "sender": m.sender_kind,
        "content": content, "received_at": views::time(m.received_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Unix milliseconds: messages received at or after it (catch-up after a reconnect).
    pub since: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn history(
    State(state): State<Arc<AppState>>,
    Visitor(v): Visitor,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::InvalidRequest("since: Unix milliseconds, not negative".into()));
    }
    let limit = q.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidRequest("limit: 1 to 500".into()));
    }
    let msgs = state.store.visitor_messages(&v, q.since.map(Timestamp::from_millis), limit).await?;
    let msgs: Vec<&MessageRow> = msgs.iter().filter(|m| VISIBLE_SENDERS.contains(&m.sender_kind.as_str())).collect();
    let bot: Vec<&str> = msgs.iter().filter(|m| m.sender_kind == "bot").map(|m| m.id.as_str()).collect();
    let rateable = state.store.rateable_messages(&v.tenant_id, &bot).await?;
    let visible: Vec<Value> = msgs
        .iter()
        .map(|m| {
            let mut out = visitor_message(m);
            if let Some((kind, rating)) = rateable.get(m.id.as_str()) {
                out["rateable"] = kind.as_str().into();
                out["rating"] = rating.map(rating_str).into();
            }
            out
        })
        .collect();
    Ok(Json(json!({ "messages": visible })))
}

fn rating_str(useful: bool) -> &'static str {
    if useful {
        "useful"
    } else {
        "not_useful"
    }
}

/// The visitor rates a bot message of its own conversations (the widget's thumbs). Anyone
/// else's message, or one the visitor cannot see, is as unknown as a made-up id; the rest is
/// the channels' rating logic (latest wins, counted once; a gap only for a knowledge-base
/// answer rated not useful).
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    Visitor(v): Visitor,
    body: Result<ApiJson<super::knowledge_gaps::FeedbackBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let ApiJson(body) = body?;
    let message = knowledge_gaps::parse_message_id(&body.message_id)?;
    if !state.store.visitor_sees_message(&v, &message).await? {
        return Err(ApiError::UnknownMessage(message.as_str().to_owned()));
    }
    let mut out = knowledge_gaps::rate(&state, &v.tenant_id, &message, body.useful).await?;
    out["rating"] = rating_str(body.useful).into();
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The widget's own id for this message: re-sending it stores nothing and answers the
    /// first result (a retry after a lost answer never duplicates).
    pub client_message_id: String,
    pub content: inbound::ContentBody,
}

pub async fn send(
    State(state): State<Arc<AppState>>,
    Visitor(v): Visitor,
    body: Result<ApiJson<SendBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ApiJson(body) = body?;
    let client_id = body.client_message_id.trim();
    if client_id.is_empty() || client_id.chars().count() > 64 || client_id.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest("client_message_id must be 1 to 64 printable characters".into()));
    }
    let content = body.content.parse()?;
    let device = Identifier::parse(IdentifierKind::DeviceId, &v.device_id)
        .map_err(|e| ApiError::Internal(format!("stored device id: {e}")))?;
    let channel = state.store.channel(&v.tenant_id, &v.channel_id).await?;
    let tenant = state.store.tenant(&v.tenant_id).await?;
    let now = state.clock.now();
    let outcome = state
        .ingest
        .submit(Inbound {
            tenant_id: v.tenant_id.clone(),
            channel_id: channel.id.clone(),
            channel_kind: channel.kind,
            channel_team: channel.team_id.clone(),
            policy: TenantPolicy { merge_policy: tenant.merge_policy, reopen_window_secs: tenant.reopen_window_secs },
            identifiers: vec![device],
            display_name: v.display_name.clone(),
            content: content.clone(),
            // Namespaced per visitor: one visitor's ids can never collide with another's.
            external_id: format!("{}:{client_id}", v.id),
            sent_at: now,
            received_at: now,
        })
        .await?;
    // Linked before anything is announced, so the visitor's stream knows the conversation
    // before the bot's reply to it arrives. A crash in between is healed by the client's
    // retry (the duplicate path links too).
    let known = state.store.visitor_conversations(&v).await?;
    if !known.contains(&outcome.conversation_id) {
        state.store.link_visitor_conversation(&v, &outcome.conversation_id, now).await?;
        state.hub.publish(LiveEvent {
            tenant_id: v.tenant_id.clone(),
            team_id: channel.team_id.clone(),
            kind: JOINED,
            data: json!({ "visitor_id": v.id, "conversation_id": outcome.conversation_id.as_str() }),
        });
    }
    let answer = |status: StatusCode| {
        let mut c = views::message_content(&content);
        c["type"] = content.kind_str().into();
        (
            status,
            Json(json!({
                "message": { "id": outcome.message_id.as_str(), "conversation_id": outcome.conversation_id.as_str(), "sender": "customer", "content": c, "received_at": views::time(now) },
                "duplicate": outcome.duplicate,
            })),
        )
    };
    if outcome.duplicate {
        state.metrics.inbound_duplicates.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::OK));
    }
    inbound::announce(&state, &channel, &outcome, &content, now);
    Ok(answer(StatusCode::CREATED))
}

pub async fn stream(
    State(state): State<Arc<AppState>>,
    Visitor(v): Visitor,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    Ok(ws.on_upgrade(move |socket| serve(socket, state, v)))
}

/// What a hub event means to this visitor, if anything.
fn for_visitor(e: &LiveEvent, v: &VisitorRow, convs: &mut HashSet<String>) -> Option<Value> {
    if e.tenant_id != v.tenant_id {
        return None;
    }
    let d = &e.data;
    match e.kind {
        JOINED => {
            if d["visitor_id"] == v.id.as_str() {
                convs.insert(d["conversation_id"].as_str()?.to_owned());
            }
            None
        }
        "message.created" | "conversation.created" => {
            let conv = d["conversation_id"].as_str()?;
            let m = &d["message"];
            let sender = m["sender"]["kind"].as_str()?;
            if !convs.contains(conv) || !VISIBLE_SENDERS.contains(&sender) {
                return None;
            }
            let mut out = json!({
                "id": m["id"], "conversation_id": conv, "sender": sender, "content": m["content"], "received_at": m["received_at"],
            });
            // A bot turn's event says what its reply was; a new message has no rating yet.
            if let (Some(kind), "bot") = (d["rateable"].as_str(), sender) {
                out["rateable"] = kind.into();
                out["rating"] = Value::Null;
            }
            Some(json!({ "type": "message", "message": out }))
        }
        "conversation.updated" => {
            let c = &d["conversation"];
            if !convs.contains(c["id"].as_str()?) {
                return None;
            }
            Some(json!({ "type": "conversation", "conversation": { "id": c["id"], "state": c["state"] } }))
        }
        _ => None,
    }
}

async fn serve(mut socket: WebSocket, state: Arc<AppState>, v: VisitorRow) {
    // Subscribe before reading the visitor's conversations: nothing falls in between.
    let mut rx = state.hub.subscribe();
    let mut convs: HashSet<String> = match state.store.visitor_conversations(&v).await {
        Ok(c) => c.iter().map(|c| c.as_str().to_owned()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "widget stream: cannot read the visitor's conversations");
            return;
        }
    };
    state.metrics.ws_connections.fetch_add(1, Ordering::Relaxed);
    let hello = json!({ "type": "hello", "visitor_id": v.id });
    if socket.send(Message::Text(hello.to_string().into())).await.is_ok() {
        loop {
            tokio::select! {
                event = rx.recv() => {
                    let out = match event {
                        Ok(e) => match for_visitor(&e, &v, &mut convs) {
                            Some(out) => out,
                            None => continue,
                        },
                        // Missed events: the widget catches up over HTTP (`since`).
                        Err(RecvError::Lagged(n)) => json!({ "type": "resync", "missed": n }),
                        Err(RecvError::Closed) => break,
                    };
                    if socket.send(Message::Text(out.to_string().into())).await.is_err() {
                        break;
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Ping(p))) => { let _ = socket.send(Message::Pong(p)).await; }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    state.metrics.ws_connections.fetch_sub(1, Ordering::Relaxed);
}
