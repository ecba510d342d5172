//! Routing data: agents' skills and capacities, the hand-off time that starts SLA clocks, the
//! timestamps SLA clocks run on, and SLA events recorded once each.

use crate::{get, Result, Store, StoreError};
use lingxi_domain::{ConversationId, TeamId, TenantId, Timestamp, UserId};
use std::collections::HashMap;

/// What routing knows about an agent beyond the user row. A `None` capacity means "the
/// server's default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingProfile {
    pub skills: Vec<String>,
    pub chat_capacity: Option<i64>,
    pub email_capacity: Option<i64>,
}

/// The timestamps (Unix milliseconds) an open human conversation's SLA clocks run on.
#[derive(Debug, Clone)]
pub struct SlaClockRow {
    pub conversation_id: ConversationId,
    pub team_id: Option<TeamId>,
    pub handoff_at: i64,
    /// The first agent reply since the hand-off.
    pub first_agent_reply_at: Option<i64>,
    /// The oldest customer message after the latest agent reply (only once an agent replied).
    pub awaiting_reply_since: Option<i64>,
    pub handoff_reason: Option<String>,
    pub last_sentiment: Option<f64>,
}

fn decode_skills(raw: &str) -> Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|e| StoreError::Invalid(format!("stored skills: {e}")))
}

impl Store {
    /// Every user's routing profile in the tenant (users never given one have the default).
    pub async fn routing_profiles(&self, tenant: &TenantId) -> Result<HashMap<UserId, RoutingProfile>> {
        let rows = sqlx::query("SELECT id, skills, chat_capacity, email_capacity FROM users WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let id: String = get(r, "id")?;
            let Ok(id) = UserId::parse(&id) else { continue };
            out.insert(
                id,
                RoutingProfile {
                    skills: decode_skills(&get::<String>(r, "skills")?)?,
                    chat_capacity: get(r, "chat_capacity")?,
                    email_capacity: get(r, "email_capacity")?,
                },
            );
        }
        Ok(out)
    }

    pub async fn routing_profile(&self, tenant: &TenantId, user: &UserId) -> Result<RoutingProfile> {
        let r = sqlx::query("SELECT skills, chat_capacity, email_capacity FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(user.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        Ok(RoutingProfile {
            skills: decode_skills(&get::<String>(&r, "skills")?)?,
            chat_capacity: get(&r, "chat_capacity")?,
            email_capacity: get(&r, "email_capacity")?,
        })
    }

    /// Replaces a user's routing profile (the caller has parsed and checked it).
    pub async fn set_routing_profile(&self, tenant: &TenantId, user: &UserId, p: &RoutingProfile) -> Result<()> {
        let skills = serde_json::to_string(&p.skills).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let res = sqlx::query(
            "UPDATE users SET skills = $1, chat_capacity = $2, email_capacity = $3 WHERE id = $4 AND tenant_id = $5",
        )
        .bind(skills)
        .bind(p.chat_capacity)
        .bind(p.email_capacity)
        .bind(user.as_str())
        .bind(tenant.as_str())
        .execute(&self.write)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// SLA timestamps of the tenant's conversations waiting for or owned by people, in one
    /// query (the messages index on `(conversation_id, received_at)` serves the subqueries).
    pub async fn sla_clocks(&self, tenant: &TenantId, limit: i64) -> Result<Vec<SlaClockRow>> {
        let rows = sqlx::query(
            "SELECT c.id, c.team_id, COALESCE(c.handoff_at, c.updated_at) AS started, c.handoff_reason, c.last_sentiment, \
               (SELECT MIN(m.received_at) FROM messages m WHERE m.conversation_id = c.id AND m.sender_kind = 'agent' \
                  AND m.received_at >= COALESCE(c.handoff_at, c.updated_at)) AS first_reply, \
               (SELECT MIN(m.received_at) FROM messages m WHERE m.conversation_id = c.id AND m.sender_kind = 'customer' \
                  AND m.received_at > (SELECT MAX(a.received_at) FROM messages a WHERE a.conversation_id = c.id \
                     AND a.sender_kind = 'agent' AND a.received_at >= COALESCE(c.handoff_at, c.updated_at))) AS awaiting \
             FROM conversations c WHERE c.tenant_id = $1 AND c.state IN ('queued', 'assigned') \
             ORDER BY c.id LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = get(r, "id")?;
            let Ok(conversation_id) = ConversationId::parse(&id) else { continue };
            out.push(SlaClockRow {
                conversation_id,
                team_id: get::<Option<String>>(r, "team_id")?.and_then(|t| TeamId::parse(&t).ok()),
                handoff_at: get(r, "started")?,
                first_agent_reply_at: get(r, "first_reply")?,
                awaiting_reply_since: get(r, "awaiting")?,
                handoff_reason: get(r, "handoff_reason")?,
                last_sentiment: get(r, "last_sentiment")?,
            });
        }
        Ok(out)
    }

    /// Records an SLA event unless it was recorded before (by this node or another); returns
    /// whether this call recorded it, so exactly one caller announces it.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_sla_event(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        metric: &str,
        level: &str,
        clock_start: i64,
        due_at: i64,
        now: Timestamp,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO sla_events (tenant_id, conversation_id, metric, level, clock_start, due_at, recorded_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .bind(metric)
        .bind(level)
        .bind(clock_start)
        .bind(due_at)
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// The SLA events recorded for a conversation, oldest first: (metric, level, due_at).
    pub async fn sla_events(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT metric, level, due_at FROM sla_events WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY due_at, metric, level",
        )
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok((get(r, "metric")?, get(r, "level")?, get(r, "due_at")?))).collect()
    }
}
