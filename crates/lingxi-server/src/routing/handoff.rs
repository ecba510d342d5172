//! People's hand-offs, combined: concurrent `hand_off` requests of a tenant are stored
//! together (one commit for the transitions, one for the assignments routing makes of them)
//! by whichever request holds the tenant's routing lock, instead of two commits each in turn.
//! On SQLite, whose single writer makes every commit wait for the disk, this is what lets
//! hundreds of hand-offs a second reach agents in milliseconds.

use super::Dispatch;
use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::{ConversationId, TenantId, Transition};
use lingxi_store::{BatchTransition, ConversationRow, StoreError};
use serde_json::json;
use tokio::sync::oneshot;

pub(super) struct PendingHandoff {
    conversation: ConversationId,
    reason: Option<String>,
    actor: String,
    reply: oneshot::Sender<Result<ConversationRow, StoreError>>,
}

impl Dispatch {
    /// Hands a conversation to people (an explicit transition with its reason), routes it at
    /// once and returns it as stored after the hand-off. Live events go out in order: the
    /// hand-off, then routing's assignment.
    pub async fn hand_off(
        &self,
        state: &AppState,
        tenant: &TenantId,
        conversation: &ConversationId,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<ConversationRow, StoreError> {
        let (reply, answer) = oneshot::channel();
        let item = PendingHandoff {
            conversation: conversation.clone(),
            reason: reason.map(str::to_owned),
            actor: actor.to_owned(),
            reply,
        };
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).entry(tenant.clone()).or_default().push(item);
        self.combine(state, tenant).await;
        answer.await.map_err(|_| StoreError::Conflict("the hand-off was not processed".into()))?
    }

    /// Under the tenant's lock, takes every hand-off waiting (ours, unless an earlier holder
    /// already took it) and carries them out together.
    async fn combine(&self, state: &AppState, tenant: &TenantId) {
        let guard = self.loaded(state, tenant).await;
        let batch =
            std::mem::take(self.pending.lock().unwrap_or_else(|p| p.into_inner()).entry(tenant.clone()).or_default());
        if batch.is_empty() {
            return;
        }
        let now = state.clock.now();
        let items: Vec<BatchTransition<'_>> = batch
            .iter()
            .map(|p| BatchTransition {
                id: &p.conversation,
                transition: Transition::HandOff,
                assignee: None,
                expect: None,
                reason: p.reason.as_deref(),
                actor: &p.actor,
            })
            .collect();
        let results = match state.store.transitions(tenant, &items, now).await {
            Ok(r) => r,
            Err(e) => {
                // The batch failed as a whole (the database, not a conflict): each on its own,
                // so every caller gets its own error (or success) with its own code.
                tracing::warn!(error = %e, n = items.len(), "hand-off batch failed; one by one");
                let mut one_by_one = Vec::with_capacity(batch.len());
                for p in &batch {
                    let r = state
                        .store
                        .transition(
                            tenant,
                            &p.conversation,
                            Transition::HandOff,
                            None,
                            p.reason.as_deref(),
                            &p.actor,
                            now,
                        )
                        .await;
                    one_by_one.push(r);
                }
                one_by_one
            }
        };
        let mut handed = Vec::new();
        for (p, r) in batch.into_iter().zip(results) {
            if let Ok(c) = &r {
                state.hub.publish(LiveEvent {
                    tenant_id: tenant.clone(),
                    team_id: c.team_id.clone(),
                    kind: "conversation.updated",
                    data: json!({ "conversation": crate::api::views::conversation(c), "transition": "hand_off", "reason": p.reason }),
                });
                handed.push(c.clone());
            }
            let _ = p.reply.send(r);
        }
        Self::route_entered(state, tenant, guard, &handed, true).await;
    }
}
