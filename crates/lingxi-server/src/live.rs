//! Live updates: an in-process hub that fans events out to WebSocket subscribers, each of
//! which filters by tenant and by what its user may see. On several nodes the same events
//! would be relayed through NATS JetStream; the hub is the seam where that plugs in.

use lingxi_domain::{TeamId, TenantId};
use serde_json::Value;
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub tenant_id: TenantId,
    /// The team of the conversation concerned (agents see only their teams').
    pub team_id: Option<TeamId>,
    /// `message.created`, `conversation.created`, `conversation.updated`, `customer.merged`.
    pub kind: &'static str,
    pub data: Value,
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<LiveEvent>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(4096);
        Hub { tx }
    }

    pub fn publish(&self, event: LiveEvent) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}
