//! The bot's turns on their way to the store: one writer task stores queued turns together
//! (one transaction, one fsync for a batch), then announces them and routes hand-offs.
//!
//! At shutdown the server waits for the bot to finish what it started ([`BotQueue::settle`]):
//! turns still being computed, then every queued turn stored, before the store closes. A
//! customer whose message was acknowledged just before a deploy still gets the bot's answer.

use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::TenantId;
use lingxi_store::BotTurn;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

const MAX_BATCH: usize = 128;

/// What the writer receives: a turn to store, or a request to say when all before it are stored.
pub enum Queued {
    Turn(Box<BotTurn>),
    Flush(oneshot::Sender<()>),
}

/// Batches bot turns into shared transactions, and counts the turns being computed.
#[derive(Clone)]
pub struct BotQueue {
    tx: mpsc::Sender<Queued>,
    computing: Arc<Computing>,
}

#[derive(Default)]
struct Computing {
    n: AtomicUsize,
    idle: Notify,
}

/// Held while a turn is computed (from the moment it is decided that the bot will take it, so
/// a spawned turn that has not started yet is counted too); dropping it ends the count.
pub struct TurnGuard(Arc<Computing>);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl BotQueue {
    pub fn new() -> (BotQueue, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel::<Queued>(8192);
        (BotQueue { tx, computing: Arc::default() }, rx)
    }

    pub async fn submit(&self, turn: BotTurn) {
        let _ = self.tx.send(Queued::Turn(Box::new(turn))).await;
    }

    /// Counts a turn as being computed until the guard is dropped.
    pub fn begin_turn(&self) -> TurnGuard {
        self.computing.n.fetch_add(1, Ordering::AcqRel);
        TurnGuard(self.computing.clone())
    }

    /// Turns being computed right now.
    pub fn computing(&self) -> usize {
        self.computing.n.load(Ordering::Acquire)
    }

    /// Waits until no turn is being computed and every turn queued by then is stored, for at
    /// most `limit`. Returns whether it got there (false: gave up, or the writer is gone).
    pub async fn settle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let idle = self.computing.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a guard dropped in between still wakes us.
            idle.as_mut().enable();
            if self.computing() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return false;
            }
        }
        let (done, stored) = oneshot::channel();
        if tokio::time::timeout_at(deadline, self.tx.send(Queued::Flush(done))).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout_at(deadline, stored).await, Ok(Ok(())))
    }
}

/// The writer: stores queued turns together, then announces them and routes hand-offs.
pub async fn run_writer(state: Weak<AppState>, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(t) => batch.push(t),
                Err(_) => break,
            }
        }
        let mut turns: Vec<BotTurn> = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        for q in batch.drain(..) {
            match q {
                Queued::Turn(t) => turns.push(*t),
                Queued::Flush(done) => flushes.push(done),
            }
        }
        let Some(state) = state.upgrade() else { return };
        if !turns.is_empty() {
            store_and_announce(&state, &turns).await;
        }
        // Everything queued before a flush request was in this batch or an earlier one.
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn store_and_announce(state: &Arc<AppState>, turns: &[BotTurn]) {
    let results = match state.store.bot_turns(turns).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, n = turns.len(), "bot turns not stored");
            return;
        }
    };
    let mut handed: Vec<(TenantId, lingxi_store::ConversationRow)> = Vec::new();
    for (turn, result) in turns.iter().zip(results) {
        let Some((conv, reply)) = result else { continue };
        if let Some(m) = &reply {
            state.hub.publish(LiveEvent {
                tenant_id: turn.tenant_id.clone(),
                team_id: conv.team_id.clone(),
                kind: "message.created",
                data: json!({
                    "conversation_id": conv.id.as_str(), "customer_id": conv.customer_id.as_str(), "state": conv.state.as_str(),
                    "message": crate::api::views::message(m),
                    // What the reply was, when a customer may rate it (the widget shows thumbs).
                    "rateable": turn.about.as_ref().map(|a| a.kind.as_str()),
                }),
            });
        }
        if turn.handoff.is_some() {
            state.hub.publish(LiveEvent {
                tenant_id: turn.tenant_id.clone(),
                team_id: conv.team_id.clone(),
                kind: "conversation.updated",
                data: json!({ "conversation": crate::api::views::conversation(&conv), "transition": "hand_off", "reason": conv.handoff_reason }),
            });
            handed.push((turn.tenant_id.clone(), conv.clone()));
            // Whoever takes it over sees the customer's mood at once, whatever the reason given
            // for the hand-off (an angry complaint is handed over as a complaint); the check
            // reads the recent messages and raises the alert only when they warrant it.
            tokio::spawn(crate::api::workspace::watch_emotion(
                state.clone(),
                turn.tenant_id.clone(),
                conv.id.clone(),
                None,
            ));
        }
    }
    // Hand-offs of this batch enter routing together, tenant by tenant: one routing lock
    // and one commit for their assignments instead of one per conversation.
    handed.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for group in handed.chunk_by(|a, b| a.0 == b.0) {
        let convs: Vec<lingxi_store::ConversationRow> = group.iter().map(|(_, c)| c.clone()).collect();
        state.dispatch.enqueue_from_bot(state, &group[0].0, &convs).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settle_waits_for_turns_being_computed_then_for_the_writer() {
        let (q, mut rx) = BotQueue::new();
        let guard = q.begin_turn();
        assert_eq!(q.computing(), 1);
        // A turn in progress: settle gives up at its limit.
        assert!(!q.settle(Duration::from_millis(50)).await);
        // The turn ends, and a writer answers the flush: settled.
        drop(guard);
        assert_eq!(q.computing(), 0);
        let writer = tokio::spawn(async move {
            let mut seen = 0;
            while let Some(item) = rx.recv().await {
                match item {
                    Queued::Turn(_) => seen += 1,
                    Queued::Flush(done) => {
                        let _ = done.send(());
                        return seen;
                    }
                }
            }
            seen
        });
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.settle(Duration::from_secs(5)).await });
        assert!(waiter.await.unwrap(), "settled once idle and flushed");
        assert_eq!(writer.await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_guard_dropped_while_settling_wakes_the_waiter() {
        let (q, mut rx) = BotQueue::new();
        let guard = q.begin_turn();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.settle(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while a turn is computed");
        drop(guard);
        match rx.recv().await {
            Some(Queued::Flush(done)) => done.send(()).unwrap(),
            _ => panic!("the flush comes once the turn is done"),
        }
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn without_a_writer_settle_reports_failure() {
        let (q, rx) = BotQueue::new();
        drop(rx);
        assert!(!q.settle(Duration::from_millis(100)).await);
    }
}
