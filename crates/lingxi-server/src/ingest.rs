//! Group commit for inbound messages: handlers hand their parsed message to one writer task,
//! which stores whatever has queued up in one transaction (one fsync) and answers each
//! handler only after the commit. Durability per message, throughput per batch.

use lingxi_store::{Inbound, IngestOutcome, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Upper bound of one batch: large enough to amortise the fsync, small enough to keep the
/// transaction short.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<(Inbound, Reply)>,
}

impl IngestQueue {
    pub fn start(store: Store) -> IngestQueue {
        let (tx, mut rx) = mpsc::channel::<(Inbound, Reply)>(4096);
        tokio::spawn(async move {
            let mut batch: Vec<(Inbound, Reply)> = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                // Drain what is queued, let handlers that are mid-parse enqueue too (one yield),
                // drain again: bigger batches cost less per message, at no measurable latency.
                for round in 0..2 {
                    if round == 1 && batch.len() < MAX_BATCH {
                        tokio::task::yield_now().await;
                    }
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                }
                let (msgs, replies): (Vec<Inbound>, Vec<Reply>) = batch.drain(..).unzip();
                let results = store.ingest_batch(&msgs).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
        });
        IngestQueue { tx }
    }

    /// Stores a message; returns once it is committed.
    pub async fn submit(&self, msg: Inbound) -> Result<IngestOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((msg, reply)).await.map_err(|_| StoreError::Conflict("the server is shutting down".into()))?;
        rx.await.map_err(|_| StoreError::Conflict("the ingest writer stopped".into()))?
    }
}
