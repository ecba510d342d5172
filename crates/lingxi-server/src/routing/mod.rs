//! Routing in the server: one `lingxi_engine::Router` per tenant, loaded lazily from the store,
//! fed by every event that can change an assignment (hand-off, resolve, hand back, an agent's
//! stream opening or closing, presence changes, a skills or capacity change, the reply timer),
//! with its decisions persisted through the store's compare-and-set transitions and announced
//! on the live hub.
//!
//! Several nodes on one PostgreSQL: each node's router assigns only to agents whose streams
//! are open on that node. Every assignment is a compare-and-set from `queued` with no
//! assignee, so when two nodes pick the same conversation exactly one wins; the loser forgets
//! the conversation (freeing its agent, who is backfilled at once). Nodes learn of each
//! other's hand-offs and assignments by re-reading the queue from the store every `sync_ms`
//! (`tasks.rs`): simple, and correct because the store, not any node's memory, is the arbiter.

pub mod config;
mod handoff;
mod notice;
pub mod skills;
pub mod tasks;

use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::{ChannelKind, ConversationId, ConversationState, Role, TeamId, TenantId, Transition, UserId};
use lingxi_engine::routing::{
    Action, AgentSpec, AwayPolicy, Capacity, CapacityKind, ConversationSpec, PriorityFlags, Router, RoutingPolicy,
    SkillCatalog, SkillSet, UnassignReason,
};
use lingxi_store::{ConversationFilter, ConversationRow, RoutingProfile};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

type TenantRouter = Router<UserId, ConversationId, TeamId>;
type RoutingAction = Action<UserId, ConversationId>;

/// One tenant's routing state: the router and the skill names behind its bits.
pub struct TenantRouting {
    router: TenantRouter,
    catalog: SkillCatalog,
    slug: String,
}

type Slot = Arc<AsyncMutex<Option<TenantRouting>>>;

#[derive(Default)]
pub struct Dispatch {
    tenants: Mutex<HashMap<TenantId, Slot>>,
    /// Open live streams per agent: online while at least one is open.
    streams: Mutex<HashMap<UserId, u32>>,
    /// People's hand-offs waiting to be stored together (`handoff.rs`).
    pending: Mutex<HashMap<TenantId, Vec<handoff::PendingHandoff>>>,
}

fn kind_of(k: ChannelKind) -> CapacityKind {
    if k.is_live_chat() {
        CapacityKind::Chat
    } else {
        CapacityKind::Email
    }
}

/// The priority inputs a conversation carries: the hand-off reason and the customer's mood.
pub fn flags_of(reason: Option<&str>, last_sentiment: Option<f64>) -> PriorityFlags {
    PriorityFlags {
        vip: reason == Some("vip"),
        angry: matches!(reason, Some("negative_sentiment" | "anger_rising"))
            || last_sentiment.is_some_and(|s| s <= -0.5),
        priority_topic: matches!(reason, Some("priority_topic" | "risk" | "large_amount")),
    }
}

fn intern(catalog: &mut SkillCatalog, names: impl IntoIterator<Item = String>) -> SkillSet {
    let mut set = SkillSet::default();
    for n in names {
        match catalog.intern(&n) {
            Ok(s) => set = set.with(s),
            Err(e) => tracing::warn!(skill = %n, error = %e, "skill ignored"),
        }
    }
    set
}

fn policy(state: &AppState) -> RoutingPolicy {
    let on_away = if state.config.routing.requeue_on_away { AwayPolicy::Requeue } else { AwayPolicy::Keep };
    RoutingPolicy { on_away, ..RoutingPolicy::default() }
}

impl TenantRouting {
    /// What routing needs of a conversation: priority from its flags; the channel and intent
    /// as preferred skills; the skills its intent requires (by configuration) as hard ones.
    fn spec(
        &mut self,
        state: &AppState,
        c: &ConversationRow,
        since_ms: i64,
    ) -> ConversationSpec<ConversationId, TeamId> {
        let flags = flags_of(c.handoff_reason.as_deref(), c.last_sentiment);
        let required = c
            .last_intent
            .as_ref()
            .and_then(|i| state.config.routing.required_skills_by_intent.get(i))
            .cloned()
            .unwrap_or_default();
        let preferred = [format!("channel:{}", c.channel_kind.as_str())];
        ConversationSpec {
            id: c.id.clone(),
            team: c.team_id.clone(),
            kind: kind_of(c.channel_kind),
            priority: self.router.policy().priority(flags),
            required_skills: intern(&mut self.catalog, required),
            preferred_skills: intern(&mut self.catalog, preferred),
            enqueued_at_ms: since_ms,
        }
    }

    fn agent_spec(
        &mut self,
        state: &AppState,
        u: &lingxi_store::UserRow,
        p: &RoutingProfile,
    ) -> AgentSpec<UserId, TeamId> {
        let cap = |v: Option<i64>, d: u16| v.map_or(d, |n| n.clamp(0, 1000) as u16);
        AgentSpec {
            id: u.id.clone(),
            skills: intern(&mut self.catalog, p.skills.iter().cloned()),
            capacity: Capacity::new(
                cap(p.chat_capacity, state.config.agent_chat_capacity),
                cap(p.email_capacity, state.config.agent_email_capacity),
            ),
            teams: u.team_ids.clone(),
        }
    }

    pub fn router(&self) -> &TenantRouter {
        &self.router
    }
}

impl Dispatch {
    fn slot(&self, tenant: &TenantId) -> Slot {
        let mut map = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(tenant.clone()).or_default().clone()
    }

    /// The tenants whose routing state this node has loaded (what the timers walk).
    pub(crate) fn loaded_tenants(&self) -> Vec<TenantId> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// Builds the tenant's router from the store: its agents (all offline until their stream
    /// opens), waiting conversations in their original order, and current assignments.
    async fn load(state: &AppState, tenant: &TenantId) -> anyhow::Result<TenantRouting> {
        let slug = state.store.tenant(tenant).await?.slug;
        let mut tr = TenantRouting { router: TenantRouter::new(policy(state)), catalog: SkillCatalog::new(), slug };
        let now = state.clock.now().millis();
        let profiles = state.store.routing_profiles(tenant).await?;
        for u in state.store.list_users(tenant).await? {
            if matches!(u.role, Role::Agent | Role::Supervisor) {
                let spec = tr.agent_spec(state, &u, &profiles.get(&u.id).cloned().unwrap_or_default());
                tr.router.upsert_agent(spec, now);
            }
        }
        let list = |s| ConversationFilter { state: Some(s), limit: 1000, ..Default::default() };
        let mut assigned = state.store.list_conversations(tenant, &list(ConversationState::Assigned)).await?;
        assigned.sort_by_key(|c| c.updated_at);
        for c in assigned {
            if let Some(a) = &c.assignee_id {
                if tr.router.agent(a).is_some() {
                    let spec = tr.spec(state, &c, c.updated_at.millis());
                    let _ = tr.router.restore_assigned(spec, a, c.updated_at.millis(), true);
                }
            }
        }
        let mut queued = state.store.list_conversations(tenant, &list(ConversationState::Queued)).await?;
        queued.sort_by_key(|c| (c.updated_at, c.id.clone()));
        for c in queued {
            let spec = tr.spec(state, &c, c.updated_at.millis());
            let _ = tr.router.enqueue(spec, now);
        }
        Ok(tr)
    }

    /// The tenant's routing state, loaded from the store on first use (left `None`, and
    /// logged, when the store cannot be read; the next call tries again).
    pub(crate) async fn loaded(
        &self,
        state: &AppState,
        tenant: &TenantId,
    ) -> tokio::sync::OwnedMutexGuard<Option<TenantRouting>> {
        let mut guard = self.slot(tenant).lock_owned().await;
        if guard.is_none() {
            match Self::load(state, tenant).await {
                Ok(r) => *guard = Some(r),
                Err(e) => tracing::error!(error = %e, tenant = %tenant, "cannot load routing state"),
            }
        }
        guard
    }

    /// Runs `f` on the tenant's routing state and persists the actions it returns, under the
    /// tenant's lock so that decisions are applied in the order they were made.
    async fn with_router<F>(&self, state: &AppState, tenant: &TenantId, f: F)
    where
        F: FnOnce(&mut TenantRouting, i64) -> Vec<RoutingAction>,
    {
        let mut guard = self.loaded(state, tenant).await;
        let Some(tr) = guard.as_mut() else { return };
        let actions = f(tr, state.clock.now().millis());
        Self::apply(state, tenant, tr, actions).await;
    }

    /// Persists the router's decisions in order. An assignment the store refuses (another
    /// node or a person changed the conversation first) makes the router forget that
    /// conversation, which frees the agent and may yield more decisions, applied in turn.
    pub(crate) async fn apply(
        state: &AppState,
        tenant: &TenantId,
        tr: &mut TenantRouting,
        actions: Vec<RoutingAction>,
    ) {
        let mut todo: VecDeque<RoutingAction> = actions.into();
        let mut retried: HashSet<ConversationId> = HashSet::new();
        while let Some(action) = todo.pop_front() {
            let now = state.clock.now();
            match action {
                Action::Assign(first) => {
                    // Consecutive assignments (a burst of hand-offs, a backfill) share one commit.
                    let mut batch = vec![first];
                    while matches!(todo.front(), Some(Action::Assign(_))) {
                        if let Some(Action::Assign(a)) = todo.pop_front() {
                            batch.push(a);
                        }
                    }
                    let items: Vec<(ConversationId, UserId)> =
                        batch.iter().map(|a| (a.conversation.clone(), a.agent.clone())).collect();
                    let results = match state.store.assign_queued(tenant, &items, "routing", "router", now).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, n = items.len(), "assignments not stored");
                            items.iter().map(|_| Err(lingxi_store::StoreError::Conflict(e.to_string()))).collect()
                        }
                    };
                    for (a, res) in batch.iter().zip(results) {
                        match res {
                            Ok(updated) => {
                                state.metrics.routing_assignments.fetch_add(1, Ordering::Relaxed);
                                publish_update(state, tenant, &updated, Transition::Assign, "routing")
                            }
                            Err(e) => {
                                state.metrics.routing_conflicts.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(error = %e, conversation = %a.conversation, "assignment refused by the store");
                                let current = state.store.conversation(tenant, &a.conversation).await.ok();
                                todo.extend(tr.router.release(&a.conversation, now.millis()).unwrap_or_default());
                                // Still waiting (a transient failure): queue it again, once.
                                if let Some(c) = current.filter(|c| c.state == ConversationState::Queued) {
                                    if retried.insert(c.id.clone()) {
                                        let spec = tr.spec(state, &c, c.updated_at.millis());
                                        todo.extend(tr.router.enqueue(spec, now.millis()).unwrap_or_default());
                                    }
                                }
                            }
                        }
                    }
                }
                Action::Unassign { conversation, agent, reason } => {
                    let code = match reason {
                        UnassignReason::AgentAway => "agent_away",
                        UnassignReason::AgentOffline => "agent_offline",
                        UnassignReason::AgentRemoved => "agent_removed",
                        UnassignReason::Transferred => "transferred",
                        UnassignReason::Unanswered => "unanswered",
                    };
                    let res = state
                        .store
                        .transition_expecting(
                            tenant,
                            &conversation,
                            Transition::Requeue,
                            None,
                            Some((ConversationState::Assigned, Some(&agent))),
                            Some(code),
                            "router",
                            now,
                        )
                        .await;
                    match res {
                        Ok(updated) => {
                            if reason == UnassignReason::Unanswered {
                                state.metrics.routing_reassigned_unanswered.fetch_add(1, Ordering::Relaxed);
                            }
                            publish_update(state, tenant, &updated, Transition::Requeue, code)
                        }
                        // Someone else moved it meanwhile: the store's state wins.
                        Err(e) => {
                            state.metrics.routing_conflicts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(error = %e, conversation = %conversation, "requeue refused by the store");
                            todo.retain(|x| !matches!(x, Action::Assign(a) if a.conversation == conversation));
                            todo.extend(tr.router.release(&conversation, now.millis()).unwrap_or_default());
                        }
                    }
                }
                Action::Presence { agent, presence } => state.hub.publish(LiveEvent {
                    tenant_id: tenant.clone(),
                    team_id: None,
                    kind: "agent.presence",
                    data: json!({ "user_id": agent.as_str(), "presence": format!("{presence:?}").to_lowercase(), "reason": "unanswered" }),
                }),
                // Queue follows an Unassign (already persisted as a requeue); Release is the
                // router forgetting a conversation that already left routing in the store.
                Action::Queue { .. } | Action::Release { .. } => {}
            }
        }
    }

    /// Makes routing agree with the store about one conversation changed outside routing (a
    /// transfer). The store is read under the tenant's lock, so when changes race, the last
    /// sync sees the last committed change, whatever order the requests finish in.
    pub async fn sync(&self, state: &AppState, tenant: &TenantId, conv: &ConversationId) {
        let mut guard = self.loaded(state, tenant).await;
        let Some(tr) = guard.as_mut() else { return };
        let Ok(c) = state.store.conversation(tenant, conv).await else { return };
        let now = state.clock.now().millis();
        let mut actions = tr.router.release(&c.id, now).unwrap_or_default();
        match (c.state, &c.assignee_id) {
            (ConversationState::Assigned, Some(a)) => {
                if tr.router.agent(a).is_some() {
                    let spec = tr.spec(state, &c, now);
                    let _ = tr.router.restore_assigned(spec, a, now, false);
                }
                actions.retain(|x| !matches!(x, Action::Assign(asg) if asg.conversation == c.id));
            }
            (ConversationState::Queued, _) => {
                let spec = tr.spec(state, &c, c.updated_at.millis().min(now));
                actions.extend(tr.router.enqueue(spec, now).unwrap_or_default());
            }
            _ => {}
        }
        Self::apply(state, tenant, tr, actions).await;
    }

    /// A conversation entered the queue from the bot (or a person handed it off): it is
    /// routed at once, and if nobody takes it the customer is told honestly how long the wait is.
    pub async fn enqueue(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow) {
        self.enqueue_announcing(state, tenant, std::slice::from_ref(conv), true).await
    }

    /// The bot handed over (a batch of its turns): it already told each customer when nobody
    /// is online, so only the other reasons to wait (closed, busy with the expected wait) are
    /// announced. One lock and one commit for the whole batch's assignments.
    pub async fn enqueue_from_bot(&self, state: &AppState, tenant: &TenantId, convs: &[ConversationRow]) {
        self.enqueue_announcing(state, tenant, convs, false).await
    }

    async fn enqueue_announcing(
        &self,
        state: &AppState,
        tenant: &TenantId,
        convs: &[ConversationRow],
        from_person: bool,
    ) {
        // Both kinds of hand-off record their time in their own commit (the transition, or
        // the bot's batched turn), so nothing is written here before routing decides.
        let guard = self.loaded(state, tenant).await;
        Self::route_entered(state, tenant, guard, convs, from_person).await;
    }

    /// Under the tenant's lock (`guard`, released before the customers are told): routes
    /// conversations that just entered the queue, then tells those still waiting why. With
    /// `from_person` false (the bot's hand-off), "nobody online" is left to the bot's own reply.
    pub(super) async fn route_entered(
        state: &AppState,
        tenant: &TenantId,
        mut guard: tokio::sync::OwnedMutexGuard<Option<TenantRouting>>,
        convs: &[ConversationRow],
        from_person: bool,
    ) {
        let now = state.clock.now();
        let Some(tr) = guard.as_mut() else { return };
        let mut actions = Vec::new();
        for conv in convs {
            let spec = tr.spec(state, conv, now.millis());
            actions.extend(tr.router.enqueue(spec, now.millis()).unwrap_or_default());
        }
        Self::apply(state, tenant, tr, actions).await;
        let waiting = |c: &&ConversationRow| {
            tr.router.conversation_state(&c.id) == Some(lingxi_engine::routing::ConversationState::Waiting)
        };
        let notices: Vec<(&ConversationRow, notice::Notice)> =
            convs.iter().filter(waiting).map(|c| (c, notice::waiting_notice(state, tr, c, now.millis()))).collect();
        drop(guard);
        for (conv, notice) in notices {
            if from_person || !matches!(notice, notice::Notice::NobodyOnline { .. }) {
                notice::tell_customer(state, tenant, conv, notice).await;
            }
        }
    }

    /// A conversation left routing (resolved, closed, handed back): its agent is backfilled.
    pub async fn release(&self, state: &AppState, tenant: &TenantId, conv: &ConversationId) {
        let c = conv.clone();
        self.with_router(state, tenant, move |tr, now| tr.router.release(&c, now).unwrap_or_default()).await;
    }

    /// A person took (or was given) the conversation directly.
    pub async fn taken(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow, agent: &UserId) {
        let (c, a) = (conv.clone(), agent.clone());
        self.with_router(state, tenant, move |tr, now| {
            // Release frees the previous owner (and backfills them); the conversation is then
            // recorded as the chosen person's without routing.
            let mut out = tr.router.release(&c.id, now).unwrap_or_default();
            if tr.router.agent(&a).is_some() {
                let spec = tr.spec(state, &c, now);
                let _ = tr.router.restore_assigned(spec, &a, now, false);
            }
            out.retain(|x| !matches!(x, Action::Assign(asg) if asg.conversation == c.id));
            out
        })
        .await;
    }

    pub async fn requeue(&self, state: &AppState, tenant: &TenantId, conv: &ConversationRow) {
        let c = conv.clone();
        self.with_router(state, tenant, move |tr, now| {
            let mut out = tr.router.release(&c.id, now).unwrap_or_default();
            let spec = tr.spec(state, &c, c.created_at.millis().min(now));
            out.extend(tr.router.enqueue(spec, now).unwrap_or_default());
            out
        })
        .await;
    }

    /// The agent replied: the reply timer stops for this conversation.
    pub async fn answered(&self, state: &AppState, tenant: &TenantId, conv: &ConversationId) {
        let mut guard = self.loaded(state, tenant).await;
        if let Some(tr) = guard.as_mut() {
            let _ = tr.router.mark_answered(conv);
        }
    }

    /// An agent's skills or capacity changed: the router takes them at once (an agent who
    /// gained room or skills is filled from the queue).
    pub async fn agent_updated(
        &self,
        state: &AppState,
        tenant: &TenantId,
        user: &lingxi_store::UserRow,
        p: &RoutingProfile,
    ) {
        if !matches!(user.role, Role::Agent | Role::Supervisor) {
            return;
        }
        self.with_router(state, tenant, |tr, now| {
            let spec = tr.agent_spec(state, user, p);
            tr.router.upsert_agent(spec, now)
        })
        .await;
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
        // An agent created after the router was loaded joins it on first appearance.
        let known = self.loaded(state, tenant).await.as_ref().is_none_or(|tr| tr.router.agent(agent).is_some());
        if !known {
            if let (Ok(u), Ok(p)) =
                (state.store.user(tenant, agent).await, state.store.routing_profile(tenant, agent).await)
            {
                self.agent_updated(state, tenant, &u, &p).await;
            }
        }
        let a = agent.clone();
        let p = presence.to_owned();
        self.with_router(state, tenant, move |tr, now| {
            let r = &mut tr.router;
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
        guard.as_ref().map_or(0, |tr| {
            tr.router.agents().filter(|a| a.presence == lingxi_engine::routing::Presence::Online).count()
        })
    }

    /// The tenant's queue and agent loads, for supervisors.
    pub async fn snapshot(&self, state: &AppState, tenant: &TenantId) -> serde_json::Value {
        let guard = self.loaded(state, tenant).await;
        let Some(tr) = guard.as_ref() else { return json!({}) };
        let r = &tr.router;
        let now = state.clock.now().millis();
        let names = |s: SkillSet| s.iter().filter_map(|k| tr.catalog.name(k)).map(str::to_owned).collect::<Vec<_>>();
        json!({
            "waiting": r.waiting().iter().map(|c| json!({ "conversation_id": c.as_str(), "effective_priority": r.effective_priority(c, now) })).collect::<Vec<_>>(),
            "agents": r.agents().map(|a| json!({
                "user_id": a.id.as_str(),
                "presence": format!("{:?}", a.presence).to_lowercase(),
                "skills": names(a.skills),
                "chat_load": a.load(CapacityKind::Chat), "chat_capacity": a.capacity.get(CapacityKind::Chat),
                "email_load": a.load(CapacityKind::Email), "email_capacity": a.capacity.get(CapacityKind::Email),
                "conversations": r.agent_conversations(a.id).map(|cs| cs.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>()).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        })
    }
}

fn publish_update(state: &AppState, tenant: &TenantId, updated: &ConversationRow, t: Transition, reason: &str) {
    state.hub.publish(LiveEvent {
        tenant_id: tenant.clone(),
        team_id: updated.team_id.clone(),
        kind: "conversation.updated",
        data: json!({ "conversation": crate::api::views::conversation(updated), "transition": t.as_str(), "reason": reason }),
    });
}
