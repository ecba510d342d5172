//! `PATCH /api/v1/users/{id}`: an admin sets an agent's routing profile (skills and capacity
//! per channel kind), which the tenant's router takes at once.

use super::{path_id, views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routing::skills::parse_skills;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use lingxi_domain::{Permission, UserId};
use lingxi_store::RoutingProfile;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityBody {
    pub chat: Option<i64>,
    pub email: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoutingBody {
    /// Replaces the skills when given.
    pub skills: Option<Vec<String>>,
    /// Sets the kinds given; the others keep their value.
    pub capacity: Option<CapacityBody>,
}

pub const MAX_CAPACITY: i64 = 1000;

fn capacity(kind: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if !(0..=MAX_CAPACITY).contains(&n) => {
            Err(ApiError::InvalidRequest(format!("capacity.{kind}: 0 to {MAX_CAPACITY}")))
        }
        v => Ok(v),
    }
}

pub fn profile_view(p: &RoutingProfile, state: &AppState) -> Value {
    json!({
        "skills": p.skills,
        "capacity": {
            "chat": p.chat_capacity.unwrap_or(i64::from(state.config.agent_chat_capacity)),
            "email": p.email_capacity.unwrap_or(i64::from(state.config.agent_email_capacity)),
        },
    })
}

pub async fn update_user(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<UserRoutingBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ManageUsers)?;
    let id = path_id(&id, UserId::parse, "user")?;
    let user = state.store.user(&who.tenant_id, &id).await?;
    let ApiJson(body) = body?;
    let mut profile = state.store.routing_profile(&who.tenant_id, &id).await?;
    if let Some(raw) = &body.skills {
        let skills = parse_skills(raw).map_err(|e| ApiError::InvalidRequest(format!("skills: {e}")))?;
        profile.skills = skills.iter().map(|s| s.as_str().to_owned()).collect();
    }
    if let Some(c) = &body.capacity {
        if let Some(n) = capacity("chat", c.chat)? {
            profile.chat_capacity = Some(n);
        }
        if let Some(n) = capacity("email", c.email)? {
            profile.email_capacity = Some(n);
        }
    }
    state.store.set_routing_profile(&who.tenant_id, &id, &profile).await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "user.routing",
            id.as_str(),
            &json!({ "skills": profile.skills, "chat_capacity": profile.chat_capacity, "email_capacity": profile.email_capacity }),
            state.clock.now(),
        )
        .await?;
    state.dispatch.agent_updated(&state, &who.tenant_id, &user, &profile).await;
    Ok(Json(json!({ "user": views::user(&user), "routing": profile_view(&profile, &state) })))
}
