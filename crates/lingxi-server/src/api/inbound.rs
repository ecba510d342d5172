//! `POST /api/v1/inbound/messages`: a channel posts a customer message. The body is parsed
//! into domain values at the edge; the message is committed before the answer goes out, and
//! re-posting the same channel message id returns the first result without storing anything.

use super::views;
use super::ApiJson;
use crate::auth::{digest, CHANNEL_KEY_PREFIX};
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lingxi_domain::{
    Button, ButtonAction, Content, ConversationState, Identifier, IdentifierKind, Link, RichContent, RichImage,
    Timestamp,
};
use lingxi_store::{ChannelRow, Inbound, TenantPolicy};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub const MAX_IDENTIFIERS: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundBody {
    /// The channel's own id for this message (idempotency key).
    pub message_id: String,
    /// When the customer sent it (RFC 3339); defaults to the time of receipt.
    pub sent_at: Option<String>,
    pub customer: CustomerBody,
    pub content: ContentBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    pub identifiers: Vec<IdentifierBody>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierBody {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContentBody {
    Text {
        text: String,
    },
    Image {
        url: String,
        mime: Option<String>,
        size_bytes: Option<u64>,
        caption: Option<String>,
    },
    File {
        url: String,
        name: String,
        mime: Option<String>,
        size_bytes: Option<u64>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        label: Option<String>,
    },
    Rich {
        text: String,
        #[serde(default)]
        buttons: Vec<ButtonBody>,
        #[serde(default)]
        links: Vec<LinkBody>,
        #[serde(default)]
        images: Vec<ImageBody>,
    },
}

/// A button: `payload` (sent back as the customer's message) or `url` (opened), not both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonBody {
    pub label: String,
    pub payload: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBody {
    pub url: String,
    pub alt: Option<String>,
}

fn parse_rich(
    text: &str,
    buttons: Vec<ButtonBody>,
    links: Vec<LinkBody>,
    images: Vec<ImageBody>,
) -> Result<Content, ApiError> {
    let buttons = buttons
        .into_iter()
        .map(|b| match (b.payload, b.url) {
            (Some(p), None) => Ok(Button { label: b.label, action: ButtonAction::Reply(p) }),
            (None, Some(u)) => Ok(Button { label: b.label, action: ButtonAction::Open(u) }),
            _ => Err(ApiError::InvalidRequest("content: a button has either a payload or a url".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let links = links.into_iter().map(|l| Link { title: l.title, url: l.url }).collect();
    let images = images.into_iter().map(|i| RichImage { url: i.url, alt: i.alt }).collect();
    RichContent::new(text, buttons, links, images)
        .map(Content::Rich)
        .map_err(|e| ApiError::InvalidRequest(format!("content: {e}")))
}

impl ContentBody {
    pub fn parse(self) -> Result<Content, ApiError> {
        let r = match self {
            ContentBody::Text { text } => Content::text(&text),
            ContentBody::Image { url, mime, size_bytes, caption } => Content::image(&url, mime, size_bytes, caption),
            ContentBody::File { url, name, mime, size_bytes } => Content::file(&url, &name, mime, size_bytes),
            ContentBody::Location { latitude, longitude, label } => Content::location(latitude, longitude, label),
            ContentBody::Rich { text, buttons, links, images } => return parse_rich(&text, buttons, links, images),
        };
        r.map_err(|e| ApiError::InvalidRequest(format!("content: {e}")))
    }
}

pub fn parse_identifier(kind: &str, value: &str) -> Result<Identifier, ApiError> {
    let kind = IdentifierKind::parse(kind).map_err(|e| ApiError::InvalidIdentifier(e.to_string()))?;
    Identifier::parse(kind, value).map_err(|e| ApiError::InvalidIdentifier(e.to_string()))
}

pub fn parse_time(raw: &str) -> Result<Timestamp, ApiError> {
    let dt = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).map_err(|_| {
        ApiError::InvalidRequest(format!(
            "sent_at: `{}` is not an RFC 3339 time",
            raw.chars().take(40).collect::<String>()
        ))
    })?;
    Ok(Timestamp::from_millis((dt.unix_timestamp_nanos() / 1_000_000) as i64))
}

/// The parsed message, minus what the channel contributes.
pub struct ParsedInbound {
    pub identifiers: Vec<Identifier>,
    pub display_name: Option<String>,
    pub content: Content,
    pub external_id: String,
    pub sent_at: Option<Timestamp>,
}

pub fn parse_body(body: InboundBody) -> Result<ParsedInbound, ApiError> {
    let ext = body.message_id.trim();
    if ext.is_empty() || ext.chars().count() > 128 || ext.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest("message_id must be 1 to 128 printable characters".into()));
    }
    if body.customer.identifiers.is_empty() {
        return Err(ApiError::InvalidRequest("customer.identifiers must name at least one identifier".into()));
    }
    if body.customer.identifiers.len() > MAX_IDENTIFIERS {
        return Err(ApiError::InvalidRequest(format!("customer.identifiers: at most {MAX_IDENTIFIERS}")));
    }
    let mut identifiers = Vec::with_capacity(body.customer.identifiers.len());
    for i in &body.customer.identifiers {
        let parsed = parse_identifier(&i.kind, &i.value)?;
        if !identifiers.contains(&parsed) {
            identifiers.push(parsed);
        }
    }
    let display_name = match body.customer.display_name {
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => {
            return Err(ApiError::InvalidRequest("customer.display_name: at most 100 printable characters".into()))
        }
        Some(n) if n.trim().is_empty() => None,
        n => n.map(|n| n.trim().to_owned()),
    };
    Ok(ParsedInbound {
        identifiers,
        display_name,
        content: body.content.parse()?,
        external_id: ext.to_owned(),
        sent_at: body.sent_at.as_deref().map(parse_time).transpose()?,
    })
}

/// Authenticates a channel by its key (`Authorization: Bearer lxk_…` or `X-Lingxi-Channel-Key`).
pub async fn channel_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(ChannelRow, TenantPolicy), ApiError> {
    let key = headers
        .get("x-lingxi-channel-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
        .ok_or(ApiError::Unauthenticated("a channel key is required (Authorization: Bearer lxk_…)"))?;
    if !key.starts_with(CHANNEL_KEY_PREFIX) || key.len() > 200 {
        return Err(ApiError::Unauthenticated("the channel key is not valid"));
    }
    let d = digest(key.trim());
    if let Some(hit) = state.cached_channel(&d) {
        return Ok(hit);
    }
    let channel = match state.store.channel_by_key_hash(&d).await {
        Ok(c) => c,
        Err(lingxi_store::StoreError::NotFound(_)) => {
            return Err(ApiError::Unauthenticated("the channel key is not valid"))
        }
        Err(e) => return Err(e.into()),
    };
    let tenant = state.store.tenant(&channel.tenant_id).await?;
    let policy = TenantPolicy { merge_policy: tenant.merge_policy, reopen_window_secs: tenant.reopen_window_secs };
    state.cache_channel(d, channel.clone(), policy);
    Ok((channel, policy))
}

pub async fn post_message(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<ApiJson<InboundBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Authenticate before looking at the body: an unauthenticated caller learns nothing.
    let (channel, policy) = channel_from_headers(&state, &headers).await?;
    let ApiJson(body) = body?;
    let parsed = parse_body(body)?;
    let now = state.clock.now();
    let inbound = Inbound {
        tenant_id: channel.tenant_id.clone(),
        channel_id: channel.id.clone(),
        channel_kind: channel.kind,
        channel_team: channel.team_id.clone(),
        policy,
        identifiers: parsed.identifiers,
        display_name: parsed.display_name,
        content: parsed.content.clone(),
        external_id: parsed.external_id,
        sent_at: parsed.sent_at.unwrap_or(now),
        received_at: now,
    };
    let outcome = state.ingest.submit(inbound).await?;
    let body = json!({
        "message_id": outcome.message_id.as_str(),
        "conversation_id": outcome.conversation_id.as_str(),
        "customer_id": outcome.customer_id.as_str(),
        "conversation_state": outcome.conversation_state.as_str(),
        "duplicate": outcome.duplicate,
        "conversation_created": outcome.conversation_created,
        "reopened": outcome.reopened,
        "merged_customer_ids": outcome.merged.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "merge_suggested_customer_ids": outcome.merge_suggested.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "linked_conversation_id": outcome.linked_conversation_id.as_ref().map(|c| c.as_str()),
    });
    if outcome.duplicate {
        state.metrics.inbound_duplicates.fetch_add(1, Ordering::Relaxed);
        return Ok((StatusCode::OK, Json(body)));
    }
    announce(&state, &channel, &outcome, &parsed.content, now);
    Ok((StatusCode::CREATED, Json(body)))
}

/// After a new customer message is durable: count it, publish it on the live hub and let the
/// AI first line take its turn. Shared by channels and the web-chat widget, so a message is
/// handled the same whichever door it came through.
pub fn announce(
    state: &Arc<AppState>,
    channel: &ChannelRow,
    outcome: &lingxi_store::IngestOutcome,
    content: &Content,
    now: Timestamp,
) {
    state.metrics.inbound_messages.fetch_add(1, Ordering::Relaxed);
    state.metrics.customers_merged.fetch_add(outcome.merged.len() as u64, Ordering::Relaxed);
    let mut view = crate::api::views::message_content(content);
    if let Value::Object(m) = &mut view {
        m.insert("type".into(), content.kind_str().into());
    }
    let kind = if outcome.conversation_created { "conversation.created" } else { "message.created" };
    state.hub.publish(LiveEvent {
        tenant_id: channel.tenant_id.clone(),
        team_id: channel.team_id.clone(),
        kind,
        data: json!({
            "conversation_id": outcome.conversation_id.as_str(),
            "customer_id": outcome.customer_id.as_str(),
            "channel_kind": channel.kind.as_str(),
            "state": outcome.conversation_state.as_str(),
            "message": { "id": outcome.message_id.as_str(), "sender": { "kind": "customer" }, "content": view, "received_at": views::time(now) },
        }),
    });
    // The emotion alert follows every customer text while people own the conversation (in
    // the bot state the bot's own turn reads the mood and hands over on anger; skipping it
    // there keeps a store read and a sentiment pass off the hot ingest path).
    if let (Content::Text { text }, ConversationState::Queued | ConversationState::Assigned) =
        (content, outcome.conversation_state)
    {
        tokio::spawn(crate::api::workspace::watch_emotion(
            state.clone(),
            channel.tenant_id.clone(),
            outcome.conversation_id.clone(),
            Some(text.clone()),
        ));
    }
    // The AI first line takes its turn after the message is durable and acknowledged.
    if state.config.bot_enabled
        && outcome.conversation_state == ConversationState::Bot
        && matches!(content, Content::Text { .. })
    {
        tokio::spawn(crate::bot::on_customer_message(
            state.clone(),
            channel.tenant_id.clone(),
            outcome.conversation_id.clone(),
            channel.kind,
            state.bot.begin_turn(),
        ));
    }
}
