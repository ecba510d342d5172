//! Shared server state: the store, the clock, the live hub, metrics, the ingest batcher and a
//! short-lived cache of channel keys (the inbound hot path must not hit the database to
//! authenticate every message).

use crate::auth::Clock;
use crate::bot_queue::BotQueue;
use crate::config::Config;
use crate::ingest::IngestQueue;
use crate::knowledge::KnowledgeBases;
use crate::live::Hub;
use crate::metrics::Metrics;
use crate::routing::Dispatch;
use lingxi_store::{ChannelRow, Store, TenantPolicy};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a channel key stays cached; rotation on this node invalidates at once, on other
/// nodes within this time.
const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(5);

pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub clock: Clock,
    pub hub: Hub,
    pub metrics: Metrics,
    pub ingest: IngestQueue,
    pub dispatch: Dispatch,
    pub bot: BotQueue,
    /// Each tenant's knowledge-base index.
    pub knowledge: KnowledgeBases,
    /// Each tenant's own intent model in use (none: the built-in defaults).
    pub intent_models: crate::intent_models::IntentModels,
    /// Fused twins of the intent models in use (when the sentence encoder is loaded).
    pub fused_intents: crate::intent_fused::FusedIntents,
    /// Each tenant's entity extractor (its order-number patterns and catalogue).
    pub entities: crate::tenant_entities::TenantEntities,
    /// The sentence encoder, when loaded, and its vector cache.
    pub semantic: Arc<crate::semantic::Semantic>,
    pub shutting_down: AtomicBool,
    /// The client the HTTP tool connectors share (connection reuse across turns).
    pub http_client: reqwest::Client,
    /// Tenant slugs by id: per-tenant tool configuration and demo flows are keyed by slug.
    pub tenant_slugs: Mutex<HashMap<String, String>>,
    /// Each tenant's runnable flows (shipped demo flows and its own), until one changes.
    pub flow_cache: Mutex<HashMap<String, Arc<Vec<lingxi_engine::flow::Flow>>>>,
    /// Whether a tenant has business records, re-read after a minute (imports run elsewhere).
    pub records_seen: Mutex<HashMap<String, (Instant, bool)>>,
    channel_cache: Mutex<HashMap<String, (Instant, ChannelRow, TenantPolicy)>>,
    /// Resolved sessions by token digest, for a few seconds (`auth.rs`): two store reads
    /// saved on every request of a busy console. Logout removes the entry on this node.
    pub session_cache: Mutex<HashMap<String, (Instant, lingxi_domain::Timestamp, crate::auth::Principal)>>,
}

impl AppState {
    /// Builds the state and starts its background tasks (inbound batches, bot turns, the routing timer).
    pub fn new(store: Store, config: Config, semantic: crate::semantic::Semantic) -> Arc<AppState> {
        let ingest = IngestQueue::start(store.clone());
        let (bot, bot_rx) = BotQueue::new();
        let state = Arc::new(AppState {
            store,
            config,
            clock: Clock,
            hub: Hub::new(),
            metrics: Metrics::default(),
            ingest,
            dispatch: Dispatch::default(),
            bot,
            knowledge: KnowledgeBases::default(),
            intent_models: Default::default(),
            fused_intents: Default::default(),
            entities: Default::default(),
            semantic: Arc::new(semantic),
            shutting_down: AtomicBool::new(false),
            http_client: reqwest::Client::new(),
            tenant_slugs: Mutex::default(),
            session_cache: Mutex::default(),
            flow_cache: Mutex::default(),
            records_seen: Mutex::default(),
            channel_cache: Mutex::new(HashMap::new()),
        });
        tokio::spawn(crate::bot_queue::run_writer(Arc::downgrade(&state), bot_rx));
        tokio::spawn(crate::routing::tasks::run(Arc::downgrade(&state)));
        state
    }

    pub fn cached_channel(&self, key_digest: &str) -> Option<(ChannelRow, TenantPolicy)> {
        let cache = self.channel_cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key_digest).filter(|(at, _, _)| at.elapsed() < CHANNEL_CACHE_TTL).map(|(_, c, p)| (c.clone(), *p))
    }

    pub fn cache_channel(&self, key_digest: String, channel: ChannelRow, policy: TenantPolicy) {
        let mut cache = self.channel_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key_digest, (Instant::now(), channel, policy));
    }

    pub fn forget_channels(&self) {
        self.channel_cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
