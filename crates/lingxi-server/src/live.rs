//! Live updates: an in-process hub that fans events out to WebSocket subscribers, each of
//! which filters by tenant and by what its user may see. On several nodes the same events
//! would be relayed through NATS JetStream; the hub is the seam where that plugs in.

use lingxi_domain::{TeamId, TenantId};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
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

/// An event as subscribers receive it: shared, not copied per subscriber (the channel clones
/// what it hands out, and a deep copy of the JSON per open console was most of the cost of a
/// busy stream), with its wire form built once by whichever subscriber sends it first.
#[derive(Debug)]
pub struct Published {
    event: LiveEvent,
    frame: OnceLock<Arc<str>>,
}

impl std::ops::Deref for Published {
    type Target = LiveEvent;
    fn deref(&self) -> &LiveEvent {
        &self.event
    }
}

impl Published {
    /// `{"type": kind, "data": data}` as text, serialised once for all subscribers.
    pub fn frame(&self) -> Arc<str> {
        self.frame
            .get_or_init(|| {
                let mut out = String::with_capacity(256);
                out.push_str("{\"type\":");
                out.push_str(&serde_json::Value::from(self.event.kind).to_string());
                out.push_str(",\"data\":");
                out.push_str(&self.event.data.to_string());
                out.push('}');
                out.into()
            })
            .clone()
    }
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Published>>,
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
        let _ = self.tx.send(Arc::new(Published { event, frame: OnceLock::new() }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }
}
