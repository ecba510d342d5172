//! Routing in the server: one `lingxi_engine::Router` per tenant, loaded lazily from the store,
//! fed by every event that can change an assignment (hand-off, resolve, hand back, an agent's
//! stream opening or closing, presence changes), with its decisions persisted through the
//! store's compare-and-set transitions and announced on the live hub.
//!
//! One node owns routing for the tenants it serves; on several nodes the store's
//! compare-and-set still guarantees one owner per conversation (the losing node's decision is
//! refused and logged), but fair spreading needs one router per tenant (future: leader per
//! tenant over NATS).

use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::{ChannelKind, ConversationId, ConversationState, Role, TeamId, TenantId, Transition, UserId};
use lingxi_engine::routing::{
    Action, AgentSpec, Capacity, CapacityKind, ConversationSpec, PriorityFlags, Router, RoutingPolicy, SkillSet,
};
use lingxi_store::{ConversationFilter, ConversationRow};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

type TenantRouter = Router<UserId, ConversationId, TeamId>;

#[derive(Default)]
pub struct Dispatch {
    tenants: Mutex<HashMap<TenantId, Arc<AsyncMutex<Option<TenantRouter>>>>>,
    /// Open live streams per agent: online while at least one is open.
    streams: Mutex<HashMap<UserId, u32>>,
}

fn kind_of(k: ChannelKind) -> CapacityKind {
    if k.is_live_chat() {
        CapacityKind::Chat
    } else {
        CapacityKind::Email
    }
}

fn spec(c: &ConversationRow, since_ms: i64) -> ConversationSpec<ConversationId, TeamId> {
    ConversationSpec {
        id: c.id.clone(),
        team: c.team_id.clone(),
        kind: kind_of(c.channel_kind),
        priority: RoutingPolicy::default().priority(PriorityFlags::default()),
        required_skills: SkillSet::default(),
        preferred_skills: SkillSet::default(),
        enqueued_at_ms: since_ms,
    }
}

impl Dispatch {
    fn slot(&self, tenant: &TenantId) -> Arc<AsyncMutex<Option<TenantRouter>>> {
        let mut map = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(tenant.clone()).or_default().clone()
    }

    /// Builds the tenant's router from the store: its agents (all offline until their stream
    /// opens), waiting conversations in their original order, and current assignments.
    async fn load(state: &AppState, tenant: &TenantId) -> anyhow::Result<TenantRouter> {
        let mut router = TenantRouter::new(RoutingPolicy::default());
        let now = state.clock.now().millis();
        for u in state.store.list_users(tenant).await? {
            if matches!(u.role, Role::Agent | Role::Supervisor) {
                router.upsert_agent(
                    AgentSpec {
                        id: u.id.clone(),
                        skills: SkillSet::default(),
                        capacity: Capacity::new(state.config.agent_chat_capacity, state.config.agent_email_capacity),
                        teams: u.team_ids.clone(),
                    },
                    now,
                );
            }
        }
        let list = |s| ConversationFilter { state: Some(s), limit: 1000, ..Default::default() };
        let mut assigned = state.store.list_conversations(tenant, &list(ConversationState::Assigned)).await?;
        assigned.sort_by_key(|c| c.updated_at);
        for c in assigned {
            if let Some(a) = &c.assignee_id {
                if router.agent(a).is_some() {
                    let _ = router.restore_assigned(spec(&c, c.updated_at.millis()), a, c.updated_at.millis(), true);
                }
            }
        }
        let mut queued = state.store.list_conversations(tenant, &list(ConversationState::Queued)).await?;
        queued.sort_by_key(|c| (c.updated_at, c.id.clone()));
        for c in queued {
            let _ = router.enqueue(spec(&c, c.updated_at.millis()), now);
        }
        Ok(router)
    }

    /// The tenant's router, loaded from the store on first use (left `None`, and logged, when
    /// the store cannot be read; the next call tries again).
    async fn loaded(&self, state: &AppState, tenant: &TenantId) -> tokio::sync::OwnedMutexGuard<Option<TenantRouter>> {
        let mut guard = self.slot(tenant).lock_owned().await;
        if guard.is_none() {
            match Self::load(state, tenant).await {
                Ok(r) => *guard = Some(r),
                Err(e) => tracing::error!(error = %e, tenant = %tenant, "cannot load routing state"),
            }
        }
        guard
    }

    /// Runs `f` on the tenant's router and persists the actions it returns, under the
    /// tenant's lock so that decisions are applied in the order they were made.
    async fn with_router<F>(&self, state: &AppState, tenant: &TenantId, f: F)
    where
        F: FnOnce(&mut TenantRouter, i64) -> Vec<Action<UserId, ConversationId>>,
    {
        let mut guard = self.loaded(state, tenant).await;
        let Some(router) = guard.as_mut() else { return };
        let actions = f(router, state.clock.now().millis());
        for action in actions {
            Self::persist(state, tenant, action).await;
        }
    }

    async fn persist(state: &AppState, tenant: &TenantId, action: Action<UserId, ConversationId>) {
        let (conv, transition, agent) = match action {
            Action::Assign(a) => (a.conversation, Transition::Assign, Some(a.agent)),
            Action::Queue { conversation } => (conversation, Transition::Requeue, None),
            Action::Unassign { .. } | Action::Release { .. } | Action::Presence { .. } => return,
        };
        let now = state.clock.now();
        // A requeue of a conversation that is already queued is a no-op.
        if transition == Transition::Requeue {
            match state.store.conversation(tenant, &conv).await {
                Ok(c) if c.state == ConversationState::Queued => return,
                _ => {}
            }
        }
        match state.store.transition(tenant, &conv, transition, agent.as_ref(), Some("routing"), "router", now).await {
            Ok(updated) => state.hub.publish(LiveEvent {
                tenant_id: tenant.clone(),
                team_id: updated.team_id.clone(),
                kind: "conversation.updated",
                data: json!({ "conversation": crate::api::views::conversation(&updated), "transition": transition.as_str(), "reason": "routing" }),
            }),
            Err(e) => tracing::warn!(error = %e, conversation = %conv, "routing decision refused by the store"),
        }
    }

    /// A conversation entered the queue.
    pub async fn enqueue(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow) {
        let c = conv.clone();
        self.with_router(state, tenant, move |r, now| r.enqueue(spec(&c, now), now).unwrap_or_default()).await;
    }

    /// A conversation left routing (resolved, closed, handed back): its agent is backfilled.
    pub async fn release(&self, state: &AppState, tenant: &TenantId, conv: &ConversationId) {
        let c = conv.clone();
        self.with_router(state, tenant, move |r, now| r.release(&c, now).unwrap_or_default()).await;
    }

    /// A person took (or was given) the conversation directly.
    pub async fn taken(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow, agent: &UserId) {
        let (c, a) = (conv.clone(), agent.clone());
        self.with_router(state, tenant, move |r, now| {
            // Release frees the previous owner (and backfills them); the conversation is then
            // recorded as the chosen person's without routing.
            let mut out = r.release(&c.id, now).unwrap_or_default();
            if r.agent(&a).is_some() {
                let _ = r.restore_assigned(spec(&c, now), &a, now, false);
            }
            out.retain(|x| !matches!(x, Action::Assign(asg) if asg.conversation == c.id));
            out
        })
        .await;
    }

    pub async fn requeue(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow) {
        let c = conv.clone();
        self.with_router(state, tenant, move |r, now| {
            let mut out = r.release(&c.id, now).unwrap_or_default();
            out.extend(r.enqueue(spec(&c, c.created_at.millis().min(now)), now).unwrap_or_default());
            out
        })
        .await;
    }

    /// Makes routing agree with the store about one conversation changed outside routing (a
    /// transfer). The store is read under the tenant's lock, so when changes race, the last
    /// sync sees the last committed change, whatever order the requests finish in.
    pub async fn sync(&self, state: &AppState, tenant: &TenantId, conv: &ConversationId) {
        let mut guard = self.loaded(state, tenant).await;
        let Some(router) = guard.as_mut() else { return };
        let Ok(c) = state.store.conversation(tenant, conv).await else { return };
        let now = state.clock.now().millis();
        let mut actions = router.release(&c.id, now).unwrap_or_default();
        match (c.state, &c.assignee_id) {
            (ConversationState::Assigned, Some(a)) => {
                if router.agent(a).is_some() {
                    let _ = router.restore_assigned(spec(&c, now), a, now, false);
                }
                actions.retain(|x| !matches!(x, Action::Assign(asg) if asg.conversation == c.id));
            }
            (ConversationState::Queued, _) => {
                actions.extend(router.enqueue(spec(&c, c.updated_at.millis().min(now)), now).unwrap_or_default())
            }
            _ => {}
        }
        for action in actions {
            Self::persist(state, tenant, action).await;
        }
    }

    /// An agent's live stream opened.
    pub async fn stream_opened(&self, state: &AppState, tenant: &TenantId, agent: &UserId) {
        let first = {
            let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            let n = s.entry(agent.clone()).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            self.set_presence(state, tenant, agent, "online").await;
        }
    }

    /// An agent's live stream closed; the last one closing takes the agent offline.
    pub async fn stream_closed(&self, state: &AppState, tenant: &TenantId, agent: &UserId) {
        let last = {
            let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            let n = s.entry(agent.clone()).or_default();
            *n = n.saturating_sub(1);
            *n == 0
        };
        if last {
            self.set_presence(state, tenant, agent, "offline").await;
        }
    }

    /// `online`, `away` or `offline`. Unknown agents (admins) are ignored.
    pub async fn set_presence(&self, state: &AppState, tenant: &TenantId, agent: &UserId, presence: &str) {
        let a = agent.clone();
        let p = presence.to_owned();
        self.with_router(state, tenant, move |r, now| {
            let res = match p.as_str() {
                "online" => r.agent_online(&a, now),
                "away" => r.agent_away(&a, now),
                _ => r.agent_offline(&a, now),
            };
            res.unwrap_or_default()
        })
        .await;
    }

    /// Agents online for the tenant (0 when its routing state cannot be loaded).
    pub async fn n_online(&self, state: &AppState, tenant: &TenantId) -> usize {
        let guard = self.loaded(state, tenant).await;
        guard
            .as_ref()
            .map_or(0, |r| r.agents().filter(|a| a.presence == lingxi_engine::routing::Presence::Online).count())
    }

    /// The tenant's queue and agent loads, for supervisors.
    pub async fn snapshot(&self, state: &AppState, tenant: &TenantId) -> serde_json::Value {
        let guard = self.loaded(state, tenant).await;
        let Some(r) = guard.as_ref() else { return json!({}) };
        let now = state.clock.now().millis();
        json!({
            "waiting": r.waiting().iter().map(|c| json!({ "conversation_id": c.as_str(), "effective_priority": r.effective_priority(c, now) })).collect::<Vec<_>>(),
            "agents": r.agents().map(|a| json!({
                "user_id": a.id.as_str(),
                "presence": format!("{:?}", a.presence).to_lowercase(),
                "chat_load": a.load(CapacityKind::Chat), "chat_capacity": a.capacity.get(CapacityKind::Chat),
                "email_load": a.load(CapacityKind::Email), "email_capacity": a.capacity.get(CapacityKind::Email),
                "conversations": r.agent_conversations(a.id).map(|cs| cs.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>()).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        })
    }
}
