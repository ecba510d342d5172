//! Sessions and tenant administration: login/logout, users, teams, channels (keys shown
//! once, stored hashed) and the audit log.

use super::{path_id, views, ApiJson};
use crate::auth::{
    digest, hash_password, new_secret, session_token, verify_password, Principal, CHANNEL_KEY_PREFIX, SESSION_COOKIE,
    SESSION_PREFIX,
};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use lingxi_domain::{ChannelId, ChannelKind, Permission, Role, TeamId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    body: Result<ApiJson<LoginBody>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    let ApiJson(body) = body?;
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || body.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let user = match state.store.user_by_email(&email).await {
        Ok(u) => u,
        Err(lingxi_store::StoreError::NotFound(_)) => {
            // Spend the same time as a real check so timing does not reveal which e-mails exist.
            let password = body.password.clone();
            let _ = tokio::task::spawn_blocking(move || verify_password(&password, crate::auth::dummy_hash())).await;
            return Err(ApiError::InvalidCredentials);
        }
        Err(e) => return Err(e.into()),
    };
    let hash = user.password_hash.clone();
    let password = body.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false);
    if !ok {
        return Err(ApiError::InvalidCredentials);
    }
    let token = new_secret(SESSION_PREFIX);
    let ttl = state.config.session_ttl_secs;
    state.store.create_session(&digest(&token), &user, state.clock.now(), ttl).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}");
    let body = json!({ "token": token, "expires_in_secs": ttl, "user": views::user(&user) });
    Ok(([(SET_COOKIE, cookie)], Json(body)))
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    who: Principal,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = session_token(&headers, None) {
        let key = digest(&token);
        state.session_cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        state.store.delete_session(&key).await?;
    }
    let _ = who;
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(SET_COOKIE, cookie)], StatusCode::NO_CONTENT))
}

pub async fn me(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    let tenant = state.store.tenant(&who.tenant_id).await?;
    let user = state.store.user(&who.tenant_id, &who.user_id).await?;
    let permissions: Vec<&str> =
        Permission::ALL.iter().filter(|p| who.role.allows(**p)).map(|p| permission_name(*p)).collect();
    Ok(Json(json!({ "user": views::user(&user), "tenant": views::tenant(&tenant), "permissions": permissions })))
}

pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::ReadConversations => "read_conversations",
        Permission::ReplyConversations => "reply_conversations",
        Permission::ChangeConversationState => "change_conversation_state",
        Permission::ReadCustomers => "read_customers",
        Permission::EditCustomers => "edit_customers",
        Permission::MergeCustomers => "merge_customers",
        Permission::ReadAudit => "read_audit",
        Permission::SuperviseQueues => "supervise_queues",
        Permission::ManageCannedResponses => "manage_canned_responses",
        Permission::ManageUsers => "manage_users",
        Permission::ManageChannels => "manage_channels",
        Permission::ManageTenant => "manage_tenant",
        Permission::ReadKnowledge => "read_knowledge",
        Permission::EditKnowledge => "edit_knowledge",
    }
}

pub async fn list_users(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadAudit)?;
    let rows = state.store.list_users(&who.tenant_id).await?;
    Ok(Json(json!({ "users": rows.iter().map(views::user).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    pub email: String,
    pub name: String,
    pub role: String,
    pub password: String,
    #[serde(default)]
    pub team_ids: Vec<String>,
}

pub fn check_new_user(email: &str, name: &str, role: &str, password: &str) -> Result<(String, Role), ApiError> {
    let email = lingxi_domain::Identifier::parse(lingxi_domain::IdentifierKind::Email, email)
        .map_err(|e| ApiError::InvalidRequest(format!("email: {e}")))?
        .value()
        .to_owned();
    check_name(name)?;
    let role = Role::parse(role).ok_or_else(|| ApiError::InvalidRequest("role: admin, supervisor or agent".into()))?;
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ApiError::InvalidRequest("password: at least 8 characters".into()));
    }
    Ok((email, role))
}

pub async fn create_user(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<CreateUserBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ManageUsers)?;
    let ApiJson(body) = body?;
    let (email, role) = check_new_user(&body.email, &body.name, &body.role, &body.password)?;
    let teams = body
        .team_ids
        .iter()
        .map(|t| TeamId::parse(t).map_err(|e| ApiError::InvalidRequest(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let password = body.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let user = state
        .store
        .create_user(&who.tenant_id, &email, body.name.trim(), role, &hash, &teams, state.clock.now())
        .await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "user.create",
            user.id.as_str(),
            &json!({ "role": role.as_str() }),
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": views::user(&user) }))))
}

pub async fn list_teams(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let rows = state.store.list_teams(&who.tenant_id).await?;
    Ok(Json(json!({ "teams": rows.iter().map(views::team).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamBody {
    pub name: String,
}

pub async fn create_team(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<CreateTeamBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ManageUsers)?;
    let ApiJson(body) = body?;
    check_name(&body.name)?;
    let team = state.store.create_team(&who.tenant_id, body.name.trim(), state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "team": views::team(&team) }))))
}

pub async fn list_channels(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let rows = state.store.list_channels(&who.tenant_id).await?;
    Ok(Json(json!({ "channels": rows.iter().map(views::channel).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelBody {
    pub kind: String,
    pub name: String,
    pub team_id: Option<String>,
}

pub async fn create_channel(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<CreateChannelBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ManageChannels)?;
    let ApiJson(body) = body?;
    let kind = ChannelKind::parse(&body.kind).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "kind: one of {}",
            ChannelKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    check_name(&body.name)?;
    let team = body
        .team_id
        .as_deref()
        .map(|t| TeamId::parse(t).map_err(|e| ApiError::InvalidRequest(e.to_string())))
        .transpose()?;
    let key = new_secret(CHANNEL_KEY_PREFIX);
    let ch = state
        .store
        .create_channel(&who.tenant_id, kind, body.name.trim(), &digest(&key), team.as_ref(), state.clock.now())
        .await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "channel.create",
            ch.id.as_str(),
            &json!({ "kind": kind.as_str() }),
            state.clock.now(),
        )
        .await?;
    // The key is shown once; only its digest is kept.
    Ok((StatusCode::CREATED, Json(json!({ "channel": views::channel(&ch), "api_key": key }))))
}

pub async fn rotate_channel_key(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ManageChannels)?;
    let id = path_id(&id, ChannelId::parse, "channel")?;
    let key = new_secret(CHANNEL_KEY_PREFIX);
    state.store.rotate_channel_key(&who.tenant_id, &id, &digest(&key)).await?;
    state.forget_channels();
    state
        .store
        .audit(&who.tenant_id, &who.actor(), "channel.rotate_key", id.as_str(), &json!({}), state.clock.now())
        .await?;
    let ch = state.store.channel(&who.tenant_id, &id).await?;
    Ok(Json(json!({ "channel": views::channel(&ch), "api_key": key })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<i64>,
}

pub async fn audit(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadAudit)?;
    let Query(q) = q.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let rows = state.store.list_audit(&who.tenant_id, q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(json!({ "entries": rows.iter().map(views::audit).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// `online`, `away` or `offline`.
    pub presence: String,
}

/// The console's presence switch (an open live stream already counts as online).
pub async fn set_presence(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<PresenceBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let ApiJson(body) = body?;
    if !matches!(body.presence.as_str(), "online" | "away" | "offline") {
        return Err(ApiError::InvalidRequest("presence: online, away or offline".into()));
    }
    state.dispatch.set_presence(&state, &who.tenant_id, &who.user_id, &body.presence).await;
    Ok(Json(json!({ "presence": body.presence })))
}

/// Waiting conversations in service order and every agent's presence and load.
pub async fn queues(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadAudit)?;
    Ok(Json(state.dispatch.snapshot(&state, &who.tenant_id).await))
}

/// Names of users, teams and channels: 1 to 100 characters once trimmed.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(ApiError::InvalidRequest("name: 1 to 100 characters".into()));
    }
    Ok(())
}
