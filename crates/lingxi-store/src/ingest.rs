//! The inbound path: a customer message becomes durable together with everything it implies
//! (customer resolution, identifier links, merges, the conversation it belongs to), in one
//! transaction. Batches share one commit (one fsync), which is what lets SQLite take
//! thousands of durable messages per second.

use crate::codec::content_to_json;
use crate::customers::{merge_in_tx, record_audit};
use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::identity::resolve;
use lingxi_domain::{
    ChannelId, ChannelKind, Content, ConversationId, ConversationState, CustomerId, Identifier, MergePolicy, MessageId,
    Resolution, TeamId, TenantId, Timestamp,
};
use sqlx::{Any, Transaction};
use std::sync::atomic::{AtomicU64, Ordering};

static SET_BASED_MESSAGES: AtomicU64 = AtomicU64::new(0);
static FALLBACK_BATCHES: AtomicU64 = AtomicU64::new(0);

/// Tenant settings the inbound path needs.
#[derive(Debug, Clone, Copy)]
pub struct TenantPolicy {
    pub merge_policy: MergePolicy,
    pub reopen_window_secs: i64,
}

/// A parsed inbound customer message, ready to store.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub tenant_id: TenantId,
    pub channel_id: ChannelId,
    pub channel_kind: ChannelKind,
    pub channel_team: Option<TeamId>,
    pub policy: TenantPolicy,
    /// Never empty: the edge rejects a message that names no identifier.
    pub identifiers: Vec<Identifier>,
    pub display_name: Option<String>,
    pub content: Content,
    pub external_id: String,
    pub sent_at: Timestamp,
    pub received_at: Timestamp,
}

/// What storing an inbound message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The channel had sent this message id before; nothing was stored this time.
    pub duplicate: bool,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub conversation_state: ConversationState,
    pub conversation_created: bool,
    pub reopened: bool,
    /// Customers absorbed into `customer_id` by this message.
    pub merged: Vec<CustomerId>,
    /// Customers that matched too but were left for review.
    pub merge_suggested: Vec<CustomerId>,
    /// The customer's latest conversation on another channel, linked from a new conversation.
    pub linked_conversation_id: Option<ConversationId>,
}

impl Store {
    /// Stores one inbound message durably.
    pub async fn ingest(&self, msg: &Inbound) -> Result<IngestOutcome> {
        let mut out = self.ingest_batch(std::slice::from_ref(msg)).await;
        out.pop().unwrap_or(Err(StoreError::Invalid("empty batch".into())))
    }

    /// Stores a batch in one transaction; results come back in input order. If the shared
    /// transaction fails, each message is retried alone so one bad message cannot sink others.
    ///
    /// Batches of two or more take the set-based path (`ingest_fast`), a constant number of
    /// statements per batch; if it fails for any reason the per-message path below runs instead,
    /// which is also the reference the fast path is tested against.
    pub async fn ingest_batch(&self, batch: &[Inbound]) -> Vec<Result<IngestOutcome>> {
        if batch.len() > 1 {
            match self.try_fast(batch).await {
                Ok(outcomes) => {
                    SET_BASED_MESSAGES.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
                    return outcomes.into_iter().map(Ok).collect();
                }
                Err(e) => {
                    tracing::debug!(error = %e, n = batch.len(), "set-based ingest failed, using the per-message path")
                }
            }
            match self.try_batch(batch).await {
                Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
                Err(e) => tracing::debug!(error = %e, n = batch.len(), "batch ingest failed, retrying one by one"),
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for msg in batch {
            // A unique violation means a concurrent writer (another node) created the same
            // identifier or message first: run again and we will see its row.
            let mut attempt = self.try_batch(std::slice::from_ref(msg)).await;
            for _ in 0..3 {
                match &attempt {
                    Err(e) if e.is_unique_violation() => attempt = self.try_batch(std::slice::from_ref(msg)).await,
                    _ => break,
                }
            }
            results.push(attempt.map(|mut v| v.remove(0)));
        }
        results
    }

    async fn try_fast(&self, batch: &[Inbound]) -> Result<Vec<IngestOutcome>> {
        let mut tx = self.write.begin().await?;
        let out = crate::ingest_fast::ingest_set(&mut tx, batch).await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                FALLBACK_BATCHES.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        if let Err(e) = tx.commit().await {
            FALLBACK_BATCHES.fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
        Ok(out)
    }

    /// Process-wide counts of the inbound paths: messages stored by the set-based path
    /// (including the merges it delegates inside its transaction), and batches it handed back
    /// to the per-message path because of an error. For metrics, and for tests that must know
    /// the fast path really ran rather than silently falling back.
    pub fn ingest_path_counts() -> (u64, u64) {
        (SET_BASED_MESSAGES.load(Ordering::Relaxed), FALLBACK_BATCHES.load(Ordering::Relaxed))
    }

    async fn try_batch(&self, batch: &[Inbound]) -> Result<Vec<IngestOutcome>> {
        let mut tx = self.write.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for msg in batch {
            out.push(ingest_one(&mut tx, msg).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// The per-message reference implementation: ~8 statements per message.
pub(crate) async fn ingest_one(tx: &mut Transaction<'_, Any>, msg: &Inbound) -> Result<IngestOutcome> {
    let tenant = msg.tenant_id.as_str();
    let now = msg.received_at.millis();

    if let Some(row) = sqlx::query(
        "SELECT m.id, m.conversation_id, m.customer_id, c.state FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.channel_id = $1 AND m.external_id = $2",
    )
    .bind(msg.channel_id.as_str())
    .bind(&msg.external_id)
    .fetch_optional(&mut **tx)
    .await?
    {
        let state: String = get(&row, "state")?;
        return Ok(IngestOutcome {
            duplicate: true,
            message_id: MessageId::parse(&get::<String>(&row, "id")?).map_err(|e| StoreError::Invalid(e.to_string()))?,
            conversation_id: ConversationId::parse(&get::<String>(&row, "conversation_id")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
            customer_id: CustomerId::parse(&get::<String>(&row, "customer_id")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
            conversation_state: ConversationState::parse(&state).unwrap_or(ConversationState::Bot),
            conversation_created: false,
            reopened: false,
            merged: vec![],
            merge_suggested: vec![],
            linked_conversation_id: None,
        });
    }

    // Which customers own any of these identifiers, oldest first.
    let mut sql = String::from(
        "SELECT DISTINCT i.customer_id, c.created_at FROM identities i JOIN customers c ON c.id = i.customer_id \
         WHERE i.tenant_id = $1 AND (",
    );
    for n in 0..msg.identifiers.len() {
        if n > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!("(i.kind = ${} AND i.value = ${})", 2 + 2 * n, 3 + 2 * n));
    }
    sql.push_str(") ORDER BY c.created_at, i.customer_id");
    let mut q = sqlx::query(&sql).bind(tenant);
    for id in &msg.identifiers {
        q = q.bind(id.kind().as_str()).bind(id.value());
    }
    let rows = q.fetch_all(&mut **tx).await?;
    let mut matches: Vec<CustomerId> = Vec::new();
    for r in &rows {
        let c = CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if !matches.contains(&c) {
            matches.push(c);
        }
    }

    let mut merged = Vec::new();
    let mut merge_suggested = Vec::new();
    let customer = match resolve(&matches, msg.policy.merge_policy) {
        Resolution::New => {
            let id = new_id(CustomerId::from_random);
            sqlx::query(
                "INSERT INTO customers (id, tenant_id, display_name, attributes, tags, created_at, updated_at) \
                 VALUES ($1,$2,$3,'{}','[]',$4,$4)",
            )
            .bind(id.as_str())
            .bind(tenant)
            .bind(msg.display_name.clone())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            id
        }
        Resolution::Existing(id) => id,
        Resolution::Merge { survivor, absorbed } => {
            for other in &absorbed {
                merge_in_tx(
                    tx,
                    &msg.tenant_id,
                    &survivor,
                    other,
                    "shared identifier on inbound message",
                    "system",
                    now,
                )
                .await?;
            }
            merged = absorbed;
            survivor
        }
        Resolution::Review { chosen, others } => {
            for other in &others {
                let existing = sqlx::query(
                    "SELECT id FROM merges WHERE tenant_id = $1 AND survivor_id = $2 AND absorbed_id = $3 AND status = 'suggested'",
                )
                .bind(tenant)
                .bind(chosen.as_str())
                .bind(other.as_str())
                .fetch_optional(&mut **tx)
                .await?;
                if existing.is_none() {
                    sqlx::query(
                        "INSERT INTO merges (id, tenant_id, survivor_id, absorbed_id, status, moved_identities, moved_conversations, reason, actor, created_at) \
                         VALUES ($1,$2,$3,$4,'suggested','[]','[]',$5,'system',$6)",
                    )
                    .bind(new_id(|b| format!("mrg_{b:026x}")))
                    .bind(tenant)
                    .bind(chosen.as_str())
                    .bind(other.as_str())
                    .bind("shared identifier on inbound message")
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    record_audit(
                        tx,
                        tenant,
                        "system",
                        "merge.suggested",
                        chosen.as_str(),
                        &format!("{{\"other\":\"{other}\"}}"),
                        now,
                    )
                    .await?;
                }
            }
            merge_suggested = others;
            chosen
        }
    };

    for id in &msg.identifiers {
        sqlx::query(
            "INSERT INTO identities (tenant_id, kind, value, customer_id, source, created_at) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (tenant_id, kind, value) DO NOTHING",
        )
        .bind(tenant)
        .bind(id.kind().as_str())
        .bind(id.value())
        .bind(customer.as_str())
        .bind(msg.channel_kind.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE customers SET updated_at = $1, display_name = COALESCE(display_name, $2) WHERE id = $3")
        .bind(now)
        .bind(msg.display_name.clone())
        .bind(customer.as_str())
        .execute(&mut **tx)
        .await?;

    // The conversation: the open one on this channel, a resolved one reopened within the
    // window, or a new one linked to the customer's latest conversation elsewhere.
    let current = sqlx::query(
        "SELECT id, state, resolved_at FROM conversations WHERE customer_id = $1 AND channel_id = $2 AND state <> 'closed' \
         ORDER BY last_message_at DESC LIMIT 1",
    )
    .bind(customer.as_str())
    .bind(msg.channel_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let mut reopened = false;
    let mut existing: Option<(ConversationId, ConversationState)> = None;
    if let Some(row) = current {
        let id = ConversationId::parse(&get::<String>(&row, "id")?).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let state_raw: String = get(&row, "state")?;
        let state = ConversationState::parse(&state_raw).ok_or_else(|| StoreError::Invalid(state_raw.clone()))?;
        if state.is_open() {
            existing = Some((id, state));
        } else {
            let resolved_at: Option<i64> = get(&row, "resolved_at")?;
            let within = resolved_at.is_some_and(|r| now - r <= msg.policy.reopen_window_secs * 1000);
            if within {
                let next =
                    state.apply(lingxi_domain::Transition::Reopen).map_err(|e| StoreError::Invalid(e.to_string()))?;
                sqlx::query("UPDATE conversations SET state = $1, assignee_id = NULL, resolved_at = NULL, updated_at = $2 WHERE id = $3")
                    .bind(next.as_str())
                    .bind(now)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                record_audit(tx, tenant, "system", "conversation.reopen", id.as_str(), "{}", now).await?;
                reopened = true;
                existing = Some((id, next));
            } else {
                sqlx::query("UPDATE conversations SET state = 'closed', updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    let mut linked = None;
    let conversation_created = existing.is_none();
    let (conversation_id, conversation_state) = match existing {
        Some(found) => found,
        None => {
            let id = new_id(ConversationId::from_random);
            let prev = sqlx::query(
                "SELECT id FROM conversations WHERE customer_id = $1 AND channel_id <> $2 ORDER BY last_message_at DESC LIMIT 1",
            )
            .bind(customer.as_str())
            .bind(msg.channel_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(prev) = prev {
                linked = ConversationId::parse(&get::<String>(&prev, "id")?).ok();
            }
            sqlx::query(
                "INSERT INTO conversations (id, tenant_id, customer_id, channel_id, channel_kind, team_id, state, linked_conversation_id, \
                 created_at, updated_at, last_message_at) VALUES ($1,$2,$3,$4,$5,$6,'bot',$7,$8,$8,$8)",
            )
            .bind(id.as_str())
            .bind(tenant)
            .bind(customer.as_str())
            .bind(msg.channel_id.as_str())
            .bind(msg.channel_kind.as_str())
            .bind(msg.channel_team.as_ref().map(|t| t.as_str().to_owned()))
            .bind(linked.as_ref().map(|l: &ConversationId| l.as_str().to_owned()))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            (id, ConversationState::Bot)
        }
    };

    let message_id = new_id(MessageId::from_random);
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, conversation_id, customer_id, channel_id, sender_kind, content_kind, content, \
         external_id, sent_at, received_at) VALUES ($1,$2,$3,$4,$5,'customer',$6,$7,$8,$9,$10)",
    )
    .bind(message_id.as_str())
    .bind(tenant)
    .bind(conversation_id.as_str())
    .bind(customer.as_str())
    .bind(msg.channel_id.as_str())
    .bind(msg.content.kind_str())
    .bind(content_to_json(&msg.content))
    .bind(&msg.external_id)
    .bind(msg.sent_at.millis())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if !conversation_created {
        sqlx::query("UPDATE conversations SET last_message_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(conversation_id.as_str())
            .execute(&mut **tx)
            .await?;
    }

    Ok(IngestOutcome {
        duplicate: false,
        message_id,
        conversation_id,
        customer_id: customer,
        conversation_state,
        conversation_created,
        reopened,
        merged,
        merge_suggested,
        linked_conversation_id: linked,
    })
}
