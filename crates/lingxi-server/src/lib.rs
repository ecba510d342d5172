//! The Lingxi server: HTTP and WebSocket API, authentication, configuration, telemetry and the
//! embedded console. `serve` is what the `lingxi` binary and the integration tests both run.

pub mod api;
pub mod auth;
pub mod bench;
pub mod bench_handoff;
pub mod bot;
pub mod bot_queue;
pub mod bot_reply;
pub mod bot_tools;
pub mod config;
pub mod dataset;
pub mod demo;
pub mod error;
pub mod flow_file;
pub mod handoff_config;
pub mod ingest;
pub mod intent_fused;
pub mod intent_models;
pub mod kb_eval;
pub mod knowledge;
pub mod knowledge_config;
pub mod learn;
pub mod live;
pub mod llm;
pub mod metrics;
pub mod recommend;
pub mod routing;
pub mod semantic;
pub mod state;
pub mod tenant_entities;
pub mod tools;
pub mod two_questions;

use config::Config;
use lingxi_store::Store;
use state::AppState;
use std::future::Future;
use std::sync::atomic::Ordering;
use tokio::net::TcpListener;

/// How long a stopping server waits for the bot's turns in progress.
const SHUTDOWN_BOT_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests and
/// closes the store (SQLite checkpoints its WAL).
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The model is read from disk once, before the first request (about a second).
    let knowledge = config.knowledge.clone();
    let vector_store = store.clone();
    let semantic =
        tokio::task::spawn_blocking(move || semantic::Semantic::start(&knowledge, Some(vector_store))).await?;
    let state = AppState::new(store.clone(), config, semantic);
    if state.config.bot_enabled {
        tokio::task::spawn_blocking(bot::warm_up);
        state.fused_intents.warm_defaults(&state.semantic);
        tokio::spawn(bot::answer_the_unanswered(state.clone()));
    }
    let app = api::router(state.clone());
    let drain_state = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            drain_state.shutting_down.store(true, Ordering::Relaxed);
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await?;
    // The bot finishes the turns it started (messages acknowledged just before the stop) and
    // its writer stores them; what does not make it in time the next start answers.
    if !state.bot.settle(SHUTDOWN_BOT_SETTLE).await {
        tracing::warn!(computing = state.bot.computing(), "stopping before every bot turn was stored");
    }
    store.close().await;
    tracing::info!("store flushed and closed");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opens the store named by the configuration and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.database_url, None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the store at {}: {e}", config::redact_url(&config.database_url)))?;
    store.migrate().await?;
    Ok(store)
}
