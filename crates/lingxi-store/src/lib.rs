//! Storage adapter: one implementation over sqlx's `Any` driver that speaks both SQLite (the
//! embedded default) and PostgreSQL (the scale backend), with one schema and one set of queries.
//!
//! SQLite allows one writer at a time, so writes go through a pool of one connection
//! (no `SQLITE_BUSY` upgrades inside transactions) and reads through a separate pool.
//! PostgreSQL uses one pool for both.

mod admin;
mod codec;
mod conversations;
mod customers;
mod embeddings;
mod ingest;
mod ingest_fast;
mod knowledge;
mod learn;
mod migrate;
mod nlu;
mod routing;
mod tools;
mod widget;
mod workspace;

pub use admin::{ChannelRow, SessionRow, TeamRow, TenantRow, UserRow};
pub use codec::content_body;
pub use conversations::{
    BatchTransition, BotTurn, ConversationFilter, ConversationRow, MessageRow, NewMessage, RatedKind, ReplyAbout,
    Understood,
};
pub use customers::{AuditRow, CustomerView, IdentityRow, MergeRow};
pub use embeddings::TextDigest;
pub use ingest::{Inbound, IngestOutcome, TenantPolicy};
pub use knowledge::{
    Expect, FeedbackCount, GapRow, GapText, KbArticleRow, KbEntryRow, KbEntryWrite, KbVersionRow, NewGap, Rated,
    Rating, NOT_USEFUL,
};
pub use learn::{CandidateRow, NewCandidate};
pub use nlu::{IntentModelRow, NewIntentModel};
pub use routing::{RoutingProfile, SlaClockRow};
pub use tools::{BusinessRecord, FlowRow};
pub use widget::VisitorRow;
pub use workspace::{CannedRow, NoteRow, Transfer};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::sync::{Arc, Weak};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("unsupported database URL `{0}` (use sqlite://… or postgres://…)")]
    BadUrl(String),
}

impl StoreError {
    /// The database cannot be reached right now (as opposed to a query failing).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            )
        )
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    /// SQLite only: the background checkpointer's connection.
    checkpoint: Option<AnyPool>,
    /// Dropped with the last clone of the store, which stops the SQLite checkpointer.
    _alive: Arc<()>,
}

impl Store {
    /// Connects by URL: `sqlite://path/to/file.db` (created if missing) or `postgres://…`.
    /// For PostgreSQL, `schema` (if given) is created and used as the search path, which is
    /// how tests get a fresh database each.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Store> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
            let write = AnyPoolOptions::new().max_connections(1).after_connect(sqlite_writer).connect(&url).await?;
            let read = AnyPoolOptions::new().max_connections(4).after_connect(sqlite_pragmas).connect(&url).await?;
            let checkpoint =
                AnyPoolOptions::new().max_connections(1).after_connect(sqlite_pragmas).connect(&url).await?;
            let alive = Arc::new(());
            tokio::spawn(checkpointer(checkpoint.clone(), write.clone(), Arc::downgrade(&alive)));
            Ok(Store { write, read, backend: Backend::Sqlite, checkpoint: Some(checkpoint), _alive: alive })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            if let Some(schema) = schema {
                if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(StoreError::Invalid(format!("schema name `{schema}`")));
                }
                let pool = AnyPoolOptions::new().max_connections(1).connect(url).await?;
                pool.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str()).await?;
                pool.close().await;
            }
            let schema_owned = schema.map(str::to_owned);
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _| {
                    let schema = schema_owned.clone();
                    Box::pin(async move {
                        if let Some(schema) = schema {
                            conn.execute(format!("SET search_path TO {schema}").as_str()).await?;
                        }
                        Ok(())
                    })
                })
                .connect(url)
                .await?;
            Ok(Store {
                write: pool.clone(),
                read: pool,
                backend: Backend::Postgres,
                checkpoint: None,
                _alive: Arc::new(()),
            })
        } else {
            Err(StoreError::BadUrl(url.chars().take(60).collect()))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Store reachable and answering (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Waits for in-flight work and closes connections; SQLite checkpoints its WAL.
    pub async fn close(&self) {
        if let Some(pool) = &self.checkpoint {
            pool.close().await;
        }
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await;
        }
        self.write.close().await;
        self.read.close().await;
    }

    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(&self.write).await
    }
}

type ConnectHook<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

fn sqlite_pragmas(conn: &mut sqlx::AnyConnection, _: sqlx::pool::PoolConnectionMetadata) -> ConnectHook<'_> {
    Box::pin(async move {
        // WAL with FULL sync: a commit is on disk when it returns (durable ack).
        conn.execute("PRAGMA journal_mode=WAL").await?;
        conn.execute("PRAGMA synchronous=FULL").await?;
        conn.execute("PRAGMA busy_timeout=10000").await?;
        conn.execute("PRAGMA foreign_keys=ON").await?;
        // The WAL is reused after each complete checkpoint; cap what stays on disk after a burst.
        conn.execute("PRAGMA journal_size_limit=67108864").await?;
        Ok(())
    })
}

/// The writer connection: as every connection, plus no automatic checkpoint. An automatic
/// checkpoint runs inside the commit that crosses the WAL threshold, on the single writer, so
/// every thousandth page stalled a whole batch of acknowledgements (the p99 at moderate
/// load); the checkpointer task does that work on another connection and core instead.
fn sqlite_writer(conn: &mut sqlx::AnyConnection, meta: sqlx::pool::PoolConnectionMetadata) -> ConnectHook<'_> {
    Box::pin(async move {
        sqlite_pragmas(conn, meta).await?;
        conn.execute("PRAGMA wal_autocheckpoint=0").await?;
        // Index pages of the hot tables stay cached as the database grows (default is 2 MiB).
        conn.execute("PRAGMA cache_size=-16384").await?;
        Ok(())
    })
}

/// Copies committed WAL frames into the database file in the background (PASSIVE: never
/// blocks the writer or readers), so the writer can restart the WAL from its beginning.
/// Ends when the store is dropped or closed.
/// WAL frames (4 KiB pages) above which the checkpointer restarts the WAL: 64 MiB.
const WAL_RESTART_FRAMES: i64 = 16_384;

async fn checkpointer(pool: AnyPool, writer: AnyPool, alive: Weak<()>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() || pool.is_closed() {
            break;
        }
        // PASSIVE copies what it can without waiting; but under continuous writes the writer
        // never finds the WAL fully copied at the start of a transaction, so the WAL would only
        // grow (9 GB after a million messages). Past a bound, a RESTART checkpoint copies the
        // last few frames (PASSIVE kept up) and starts the WAL over; journal_size_limit trims
        // the file. It runs on the writer's own connection, queued between its transactions
        // like any write: from another connection it made concurrent writes fail as busy.
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_optional(&pool).await {
            Ok(Some(row)) => {
                let frames: i64 = row.try_get(1).unwrap_or(0);
                if frames > WAL_RESTART_FRAMES {
                    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&writer).await {
                        tracing::debug!(error = %e, "wal restart");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "wal checkpoint"),
        }
    }
    pool.close().await;
}

/// A fresh id of the given type: 41 bits of milliseconds, then 62 random bits. Time first,
/// so new rows append to the end of primary-key B-trees instead of landing on random pages
/// (random ids made every SQLite commit dirty many scattered pages); 62 random bits keep ids
/// unguessable enough and collision-free in practice.
pub(crate) fn new_id<T>(make: fn(u128) -> T) -> T {
    let millis = codec::now_millis().max(0) as u128 & ((1 << 41) - 1);
    make((millis << 62) | (rand::random::<u64>() as u128 & ((1 << 62) - 1)))
}

pub(crate) fn get<T>(row: &AnyRow, col: &str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    Ok(row.try_get::<T, _>(col)?)
}

impl Store {
    /// Runs one administrative statement (e.g. `CREATE DATABASE` for benchmarks and tests).
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        self.write.execute(sql).await?;
        Ok(())
    }
}
