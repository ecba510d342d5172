//! The routing timer, one task per node: every `tick_ms` it reassigns conversations whose
//! agent did not reply in time, checks SLA clocks (warning and breach events, recorded once
//! across nodes), and every `sync_ms` re-reads the queue from the store so that this node
//! learns of hand-offs and assignments made by other nodes.

use super::{flags_of, Dispatch, TenantRouting};
use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::{ConversationId, ConversationState, TenantId, UserId};
use lingxi_engine::routing::{ConversationState as Place, RoutingPolicy};
use lingxi_engine::sla::{check, ConversationTimes, SlaLevel, SlaMarks, SlaMetric};
use lingxi_store::ConversationFilter;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Runs until the state is dropped (the server stopped).
pub async fn run(state: Weak<AppState>) {
    let (tick, sync) = match state.upgrade() {
        Some(s) => (Duration::from_millis(s.config.routing.tick_ms), Duration::from_millis(s.config.routing.sync_ms)),
        None => return,
    };
    let mut last_sync = Instant::now();
    // SLA events this node already saw recorded: no need to ask the store again.
    let mut sla_seen: HashSet<(ConversationId, SlaMetric, SlaLevel, i64)> = HashSet::new();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(state) = state.upgrade() else { return };
        let do_sync = !sync.is_zero() && last_sync.elapsed() >= sync;
        if do_sync {
            last_sync = Instant::now();
        }
        for tenant in state.dispatch.loaded_tenants() {
            if do_sync {
                sync_tenant(&state, &tenant).await;
            }
            reassign_unanswered(&state, &tenant).await;
            check_sla(&state, &tenant, &mut sla_seen).await;
        }
        if sla_seen.len() > 100_000 {
            sla_seen.clear();
        }
    }
}

async fn reassign_unanswered(state: &Arc<AppState>, tenant: &TenantId) {
    let timeout = state.config.routing.reply_timeout_ms;
    if timeout <= 0 {
        return;
    }
    let mut guard = state.dispatch.loaded(state, tenant).await;
    let Some(tr) = guard.as_mut() else { return };
    let actions = tr.router.reassign_unanswered(state.clock.now().millis(), timeout);
    if !actions.is_empty() {
        Dispatch::apply(state, tenant, tr, actions).await;
    }
}

/// Brings this node's view in line with the store: conversations queued elsewhere are
/// enqueued here; ones this node thinks waiting or owned that the store says otherwise are
/// forgotten (their agents backfilled).
pub(crate) async fn sync_tenant(state: &Arc<AppState>, tenant: &TenantId) {
    // Read under the tenant's lock: every decision this node made is persisted by then, so
    // the snapshot is never older than the router (an older one would make it forget an
    // assignment it just made, and overfill that agent).
    let mut guard = state.dispatch.loaded(state, tenant).await;
    let Some(tr) = guard.as_mut() else { return };
    let list = |s| ConversationFilter { state: Some(s), limit: 1000, ..Default::default() };
    let (fq, fa) = (list(ConversationState::Queued), list(ConversationState::Assigned));
    let (queued, assigned) = match tokio::try_join!(
        state.store.list_conversations(tenant, &fq),
        state.store.list_conversations(tenant, &fa),
    ) {
        Ok(v) => v,
        Err(e) => return tracing::warn!(error = %e, tenant = %tenant, "routing sync skipped"),
    };
    let owner: HashMap<&ConversationId, Option<&UserId>> =
        queued.iter().map(|c| (&c.id, None)).chain(assigned.iter().map(|c| (&c.id, c.assignee_id.as_ref()))).collect();
    let now = state.clock.now().millis();
    let mut actions = Vec::new();
    for c in stale(tr, &owner) {
        // Beyond the lists' limit a conversation may be absent yet unchanged: ask for it.
        if !owner.contains_key(&c) {
            if let Ok(row) = state.store.conversation(tenant, &c).await {
                let same = match (tr.router.conversation_state(&c), row.state) {
                    (Some(Place::Waiting), ConversationState::Queued) => true,
                    (Some(Place::Assigned { agent, .. }), ConversationState::Assigned) => {
                        row.assignee_id == Some(agent)
                    }
                    _ => false,
                };
                if same {
                    continue;
                }
            }
        }
        actions.extend(tr.router.release(&c, now).unwrap_or_default());
    }
    let mut fresh: Vec<_> = queued.iter().filter(|c| tr.router.conversation_state(&c.id).is_none()).collect();
    fresh.sort_by_key(|c| (c.updated_at, c.id.clone()));
    for c in fresh {
        let spec = tr.spec(state, c, c.updated_at.millis());
        actions.extend(tr.router.enqueue(spec, now).unwrap_or_default());
    }
    if !actions.is_empty() {
        Dispatch::apply(state, tenant, tr, actions).await;
    }
}

/// Conversations whose place in this router disagrees with the store.
fn stale(tr: &TenantRouting, owner: &HashMap<&ConversationId, Option<&UserId>>) -> Vec<ConversationId> {
    let r = tr.router();
    let mut known: Vec<ConversationId> = r.waiting().into_iter().cloned().collect();
    for a in r.agents() {
        known.extend(r.agent_conversations(a.id).unwrap_or_default().iter().cloned());
    }
    known
        .into_iter()
        .filter(|c| match (r.conversation_state(c), owner.get(c)) {
            (Some(Place::Waiting), Some(None)) => false,
            (Some(Place::Assigned { agent, .. }), Some(Some(o))) => &&agent != o,
            _ => true,
        })
        .collect()
}

fn metric_str(m: SlaMetric) -> &'static str {
    match m {
        SlaMetric::FirstResponse => "first_response",
        SlaMetric::NextResponse => "next_response",
        SlaMetric::Resolution => "resolution",
    }
}

/// Checks every open human conversation's SLA clocks and announces newly crossed warnings and
/// breaches (recorded once, whichever node sees them first).
async fn check_sla(
    state: &Arc<AppState>,
    tenant: &TenantId,
    seen: &mut HashSet<(ConversationId, SlaMetric, SlaLevel, i64)>,
) {
    let rows = match state.store.sla_clocks(tenant, 5000).await {
        Ok(r) => r,
        Err(e) => return tracing::warn!(error = %e, tenant = %tenant, "SLA check skipped"),
    };
    let now = state.clock.now();
    let policy = RoutingPolicy::default();
    for row in rows {
        let priority = policy.priority(flags_of(row.handoff_reason.as_deref(), row.last_sentiment));
        let targets = state.config.routing.sla.for_priority(priority);
        let times = ConversationTimes {
            opened_at_ms: row.handoff_at,
            first_response_at_ms: row.first_agent_reply_at,
            awaiting_reply_since_ms: row.awaiting_reply_since,
            resolved_at_ms: None,
        };
        let (events, _) = check(&targets, &times, SlaMarks::default(), now.millis());
        for e in events {
            let start = if e.metric == SlaMetric::NextResponse {
                row.awaiting_reply_since.unwrap_or(row.handoff_at)
            } else {
                row.handoff_at
            };
            let key = (row.conversation_id.clone(), e.metric, e.level, start);
            if seen.contains(&key) {
                continue;
            }
            let level = if e.level == SlaLevel::Warning { "warning" } else { "breach" };
            let metric = metric_str(e.metric);
            match state
                .store
                .record_sla_event(tenant, &row.conversation_id, metric, level, start, e.due_at_ms, now)
                .await
            {
                Ok(true) => {
                    state.metrics.sla_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let detail =
                        json!({ "metric": metric, "level": level, "priority": priority, "due_at_ms": e.due_at_ms });
                    let _ = state
                        .store
                        .audit(tenant, "sla", &format!("sla.{level}"), row.conversation_id.as_str(), &detail, now)
                        .await;
                    state.hub.publish(LiveEvent {
                        tenant_id: tenant.clone(),
                        team_id: row.team_id.clone(),
                        kind: if e.level == SlaLevel::Warning { "sla.warning" } else { "sla.breach" },
                        data: json!({ "conversation_id": row.conversation_id.as_str(), "metric": metric, "priority": priority, "due_at": crate::api::views::time(lingxi_domain::Timestamp::from_millis(e.due_at_ms)) }),
                    });
                    seen.insert(key);
                }
                Ok(false) => {
                    seen.insert(key);
                }
                Err(e) => tracing::warn!(error = %e, "SLA event not recorded"),
            }
        }
    }
}
