//! Web-chat widget visitors: anonymous browsers identified by a token digest, and the
//! conversations their own messages went into. A visitor reads only those conversations,
//! whatever identity resolution later does to the customer behind them.

use crate::admin::{channel_from, ChannelRow};
use crate::conversations::message_from;
use crate::{get, MessageRow, RatedKind, Result, Store, StoreError};
use lingxi_domain::{ChannelId, ConversationId, MessageId, TenantId, Timestamp};
use sqlx::any::AnyRow;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct VisitorRow {
    /// `vis_…`: never shown to agents as a customer id; the device id is.
    pub id: String,
    pub tenant_id: TenantId,
    pub channel_id: ChannelId,
    /// The `device_id` identifier the visitor's messages carry (chosen by the server, so that
    /// no page can claim another visitor's device).
    pub device_id: String,
    pub display_name: Option<String>,
    pub created_at: Timestamp,
}

fn visitor_from(r: &AnyRow) -> Result<VisitorRow> {
    let tenant: String = get(r, "tenant_id")?;
    let channel: String = get(r, "channel_id")?;
    Ok(VisitorRow {
        id: get(r, "id")?,
        tenant_id: TenantId::parse(&tenant).map_err(|e| StoreError::Invalid(e.to_string()))?,
        channel_id: ChannelId::parse(&channel).map_err(|e| StoreError::Invalid(e.to_string()))?,
        device_id: get(r, "device_id")?,
        display_name: get(r, "display_name")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
    })
}

impl Store {
    /// A channel by its id alone: a web-chat channel's id is its public widget id.
    pub async fn channel_by_id(&self, id: &ChannelId) -> Result<ChannelRow> {
        let row = sqlx::query("SELECT * FROM channels WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        channel_from(&row)
    }

    pub async fn create_visitor(
        &self,
        channel: &ChannelRow,
        token_hash: &str,
        device_id: &str,
        display_name: Option<&str>,
        now: Timestamp,
    ) -> Result<VisitorRow> {
        let id = format!("vis_{:026x}", rand::random::<u128>() & ((1u128 << 104) - 1));
        sqlx::query(
            "INSERT INTO widget_visitors (id, tenant_id, channel_id, token_hash, device_id, display_name, created_at, last_seen_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$7)",
        )
        .bind(&id)
        .bind(channel.tenant_id.as_str())
        .bind(channel.id.as_str())
        .bind(token_hash)
        .bind(device_id)
        .bind(display_name)
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(VisitorRow {
            id,
            tenant_id: channel.tenant_id.clone(),
            channel_id: channel.id.clone(),
            device_id: device_id.to_owned(),
            display_name: display_name.map(str::to_owned),
            created_at: now,
        })
    }

    pub async fn visitor_by_token(&self, token_hash: &str) -> Result<VisitorRow> {
        let row = sqlx::query("SELECT * FROM widget_visitors WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("visitor"))?;
        visitor_from(&row)
    }

    /// Records that the visitor's message went into this conversation (idempotent).
    pub async fn link_visitor_conversation(
        &self,
        visitor: &VisitorRow,
        conversation: &ConversationId,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO widget_conversations (visitor_id, conversation_id, tenant_id, created_at) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (visitor_id, conversation_id) DO NOTHING",
        )
        .bind(&visitor.id)
        .bind(conversation.as_str())
        .bind(visitor.tenant_id.as_str())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn visitor_conversations(&self, visitor: &VisitorRow) -> Result<Vec<ConversationId>> {
        let rows = sqlx::query(
            "SELECT conversation_id FROM widget_conversations WHERE visitor_id = $1 AND tenant_id = $2 ORDER BY created_at",
        )
        .bind(&visitor.id)
        .bind(visitor.tenant_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                ConversationId::parse(&get::<String>(r, "conversation_id")?)
                    .map_err(|e| StoreError::Invalid(e.to_string()))
            })
            .collect()
    }

    /// The visitor's messages in time order: received at or after `since` (catch-up after a
    /// reconnect; the client drops the ones it has), or else the latest `limit`.
    pub async fn visitor_messages(
        &self,
        visitor: &VisitorRow,
        since: Option<Timestamp>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let inner = "SELECT m.* FROM messages m JOIN widget_conversations w ON w.conversation_id = m.conversation_id \
                     WHERE w.visitor_id = $1 AND w.tenant_id = $2 AND m.tenant_id = $2";
        let rows = match since {
            Some(t) => {
                sqlx::query(&format!("{inner} AND m.received_at >= $3 ORDER BY m.received_at, m.id LIMIT $4"))
                    .bind(&visitor.id)
                    .bind(visitor.tenant_id.as_str())
                    .bind(t.millis())
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT * FROM ({inner} ORDER BY m.received_at DESC, m.id DESC LIMIT $3) t ORDER BY received_at, id"
                ))
                .bind(&visitor.id)
                .bind(visitor.tenant_id.as_str())
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.iter().map(message_from).collect()
    }

    /// Whether the message is one the visitor can see: a customer's, the bot's or an agent's
    /// message in one of the visitor's own conversations (what it may rate, at most).
    pub async fn visitor_sees_message(&self, visitor: &VisitorRow, message: &MessageId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT m.id FROM messages m JOIN widget_conversations w ON w.conversation_id = m.conversation_id \
             WHERE w.visitor_id = $1 AND w.tenant_id = $2 AND m.tenant_id = $2 AND m.id = $3 \
             AND m.sender_kind IN ('customer', 'bot', 'agent')",
        )
        .bind(&visitor.id)
        .bind(visitor.tenant_id.as_str())
        .bind(message.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// Of these messages, the rateable ones: what each was and its rating so far (`None`: not
    /// rated yet). Messages without a recorded kind are left out.
    pub async fn rateable_messages(
        &self,
        tenant: &TenantId,
        ids: &[&str],
    ) -> Result<HashMap<String, (RatedKind, Option<bool>)>> {
        let mut out = HashMap::new();
        // In chunks: a history page is at most 500 messages, and no backend likes huge IN lists.
        for chunk in ids.chunks(100) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT k.message_id, k.kind, f.useful FROM bot_message_kinds k \
                 LEFT JOIN kb_feedback f ON f.tenant_id = k.tenant_id AND f.message_id = k.message_id \
                 WHERE k.tenant_id = $1 AND k.message_id IN ({})",
                marks.join(",")
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.read).await? {
                let kind: String = get(&r, "kind")?;
                let Some(kind) = RatedKind::parse(&kind) else { continue };
                let useful: Option<i64> = get(&r, "useful")?;
                out.insert(get(&r, "message_id")?, (kind, useful.map(|u| u != 0)));
            }
        }
        Ok(out)
    }
}
