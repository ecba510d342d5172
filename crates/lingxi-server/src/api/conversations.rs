//! Conversation endpoints for people: lists (with team visibility), detail with messages,
//! cross-channel context, agent replies and explicit state transitions.

use super::{path_id, views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::{ConversationId, ConversationState, Permission, Sender, Transition, UserId};
use lingxi_store::{ConversationFilter, ConversationRow, NewMessage};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<String>,
    /// A user id, or `me`.
    pub assignee: Option<String>,
    pub customer_id: Option<String>,
    /// `mine`: only conversations of the caller's own teams (the "team" tab).
    pub team: Option<String>,
    pub limit: Option<i64>,
}

fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::InvalidRequest(e.body_text()))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let q = query(q)?;
    let filter = ConversationFilter {
        state: q
            .state
            .as_deref()
            .map(|s| {
                ConversationState::parse(s)
                    .ok_or_else(|| ApiError::InvalidRequest(format!("state: `{s}` is not a state")))
            })
            .transpose()?,
        assignee: match q.assignee.as_deref() {
            None => None,
            Some("me") => Some(who.user_id.clone()),
            Some(raw) => Some(UserId::parse(raw).map_err(|e| ApiError::InvalidRequest(e.to_string()))?),
        },
        customer: q
            .customer_id
            .as_deref()
            .map(|c| lingxi_domain::CustomerId::parse(c).map_err(|e| ApiError::InvalidRequest(e.to_string())))
            .transpose()?,
        visible_teams: who.visible_teams(),
        teams: match q.team.as_deref() {
            None => None,
            Some("mine") => Some(who.team_ids.clone()),
            Some(_) => return Err(ApiError::InvalidRequest("team: only `mine`".into())),
        },
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    };
    let rows = state.store.list_conversations(&who.tenant_id, &filter).await?;
    Ok(Json(json!({ "conversations": rows.iter().map(views::conversation).collect::<Vec<_>>() })))
}

/// Loads a conversation the principal may see; invisible ones are reported as not found.
pub async fn visible(state: &AppState, who: &Principal, raw_id: &str) -> Result<ConversationRow, ApiError> {
    let id = path_id(raw_id, ConversationId::parse, "conversation")?;
    let conv = state.store.conversation(&who.tenant_id, &id).await?;
    if !who.can_see_team(conv.team_id.as_ref()) {
        return Err(ApiError::NotFound("conversation"));
    }
    Ok(conv)
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let msgs = state.store.messages(&who.tenant_id, &conv.id, 500).await?;
    let customer = state.store.customer(&who.tenant_id, &conv.customer_id).await?;
    Ok(Json(json!({
        "conversation": views::conversation(&conv),
        "customer": views::customer(&customer),
        "messages": msgs.iter().map(views::message).collect::<Vec<_>>(),
    })))
}

pub async fn context(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let ctx = state.store.context(&who.tenant_id, &conv.id, 10).await?;
    let items: Vec<Value> = ctx
        .iter()
        .filter(|(c, _)| who.can_see_team(c.team_id.as_ref()))
        .map(|(c, last)| {
            json!({
                "conversation": views::conversation(c),
                "open": c.state.is_open(),
                "last_intent": c.last_intent,
                "last_message": last.as_ref().map(views::message),
            })
        })
        .collect();
    Ok(Json(json!({
        "conversation": views::conversation(&conv),
        "customer_id": conv.customer_id.as_str(),
        "linked_conversation_id": conv.linked_conversation_id.as_ref().map(|l| l.as_str()),
        "recent_conversations": items,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub content: super::inbound::ContentBody,
}

pub async fn reply(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<ReplyBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ReplyConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let ApiJson(body) = body?;
    let content = body.content.parse()?;
    if conv.state == ConversationState::Closed {
        return Err(ApiError::InvalidTransition("a closed conversation cannot receive replies".into()));
    }
    let msg = state
        .store
        .add_message(
            &who.tenant_id,
            &conv.id,
            &NewMessage { sender: Sender::Agent(who.user_id.clone()), content },
            state.clock.now(),
        )
        .await?;
    if conv.assignee_id.as_ref() == Some(&who.user_id) {
        state.dispatch.answered(&state, &who.tenant_id, &conv.id).await;
    }
    let view = views::message(&msg);
    state.hub.publish(LiveEvent {
        tenant_id: who.tenant_id.clone(),
        team_id: conv.team_id.clone(),
        kind: "message.created",
        data: json!({ "conversation_id": conv.id.as_str(), "customer_id": conv.customer_id.as_str(), "state": conv.state.as_str(), "message": view }),
    });
    Ok((StatusCode::CREATED, Json(json!({ "message": view }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// `hand_off`, `assign`, `requeue`, `hand_back`, `resolve`, `reopen`, `close`.
    pub transition: String,
    pub assignee_id: Option<String>,
    pub reason: Option<String>,
}

pub async fn transition(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<TransitionBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ChangeConversationState)?;
    let conv = visible(&state, &who, &id).await?;
    let ApiJson(body) = body?;
    let t = Transition::parse(&body.transition).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "transition: `{}` is not a transition",
            body.transition.chars().take(40).collect::<String>()
        ))
    })?;
    let assignee = match (&body.assignee_id, t) {
        (Some(raw), Transition::Assign) => {
            Some(UserId::parse(raw).map_err(|e| ApiError::InvalidRequest(e.to_string()))?)
        }
        // An agent taking a conversation without naming anyone takes it themself.
        (None, Transition::Assign) => Some(who.user_id.clone()),
        (Some(_), _) => return Err(ApiError::InvalidRequest("assignee_id is only valid with `assign`".into())),
        (None, _) => None,
    };
    // Agents may take conversations for themselves; giving them to others is a supervisor's job.
    if let Some(a) = &assignee {
        if a != &who.user_id && !who.role.sees_all_teams() {
            return Err(ApiError::Forbidden(who.role.as_str()));
        }
    }
    if let Some(r) = &body.reason {
        if r.chars().count() > 500 {
            return Err(ApiError::InvalidRequest("reason: at most 500 characters".into()));
        }
    }
    let d = &state.dispatch;
    if t == Transition::HandOff {
        // Stored together with concurrent hand-offs, announced and routed (routing/handoff.rs).
        let updated = d.hand_off(&state, &who.tenant_id, &conv.id, body.reason.as_deref(), &who.actor()).await?;
        let current = state.store.conversation(&who.tenant_id, &updated.id).await?;
        return Ok(Json(json!({ "conversation": views::conversation(&current) })));
    }
    let updated = state
        .store
        .transition(
            &who.tenant_id,
            &conv.id,
            t,
            assignee.as_ref(),
            body.reason.as_deref(),
            &who.actor(),
            state.clock.now(),
        )
        .await?;
    let view = views::conversation(&updated);
    state.hub.publish(LiveEvent {
        tenant_id: who.tenant_id.clone(),
        team_id: updated.team_id.clone(),
        kind: "conversation.updated",
        data: json!({ "conversation": view, "transition": t.as_str(), "reason": body.reason }),
    });
    // Routing hears of every change that can alter an assignment.
    match t {
        Transition::HandOff => {}
        Transition::Requeue => d.requeue(&state, &who.tenant_id, &updated).await,
        Transition::Assign => {
            if let Some(a) = &updated.assignee_id {
                d.taken(&state, &who.tenant_id, &updated, a).await
            }
        }
        Transition::Resolve | Transition::Close | Transition::HandBack => {
            if matches!(conv.state, ConversationState::Queued | ConversationState::Assigned) {
                d.release(&state, &who.tenant_id, &updated.id).await
            }
        }
        Transition::Reopen => {}
    }
    // A person resolved it: what they answered may teach the knowledge base (off the request).
    if t == Transition::Resolve {
        tokio::spawn(crate::learn::on_resolved(state.clone(), who.tenant_id.clone(), updated.id.clone()));
    }
    // Routing may have assigned it in the meantime: answer with the current state.
    let current = state.store.conversation(&who.tenant_id, &updated.id).await?;
    Ok(Json(json!({ "conversation": views::conversation(&current) })))
}
