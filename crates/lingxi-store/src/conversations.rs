//! Conversations and their messages: listing with team visibility, timelines across
//! channels, context for later stages, validated state transitions and outbound messages.

use crate::codec::{content_to_json, parse_json};
use crate::customers::record_audit;
use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::{
    ChannelId, ChannelKind, Content, ConversationId, ConversationState, CustomerId, MessageId, Sender, TeamId,
    TenantId, Timestamp, Transition, UserId,
};
use serde_json::Value;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub customer_id: CustomerId,
    pub channel_id: ChannelId,
    pub channel_kind: ChannelKind,
    pub team_id: Option<TeamId>,
    pub state: ConversationState,
    pub assignee_id: Option<UserId>,
    pub linked_conversation_id: Option<ConversationId>,
    pub last_intent: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_message_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Why the bot handed the conversation to people (a stable code), and the summary for them.
    pub handoff_reason: Option<String>,
    pub handoff_summary: Option<String>,
    /// Consecutive customer turns the bot did not understand.
    pub bot_failures: i64,
    pub last_sentiment: Option<f64>,
    /// The hand-off package in structured form (JSON text), alongside the readable summary.
    pub handoff_details: Option<String>,
    /// The customer's latest messages read as angry (or anger rising): agents see an alert.
    pub emotion_alert: bool,
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub channel_id: ChannelId,
    /// `customer`, `bot`, `agent` or `system`.
    pub sender_kind: String,
    pub sender_user_id: Option<UserId>,
    pub content_kind: String,
    pub content: Value,
    pub external_id: Option<String>,
    pub sent_at: Timestamp,
    pub received_at: Timestamp,
    /// A customer's message: the intent the bot read in it at its turn (`Some("")`: none);
    /// `None` when the bot never read it.
    pub intent: Option<String>,
}

/// Which conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub state: Option<ConversationState>,
    pub assignee: Option<UserId>,
    pub customer: Option<CustomerId>,
    /// `Some(teams)`: only conversations of these teams, or of no team (agents' visibility).
    pub visible_teams: Option<Vec<TeamId>>,
    /// `Some(teams)`: only conversations of exactly these teams (the "team" tab).
    pub teams: Option<Vec<TeamId>>,
    pub limit: i64,
}

/// An outbound (bot, agent or system) message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender: Sender,
    pub content: Content,
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

pub(crate) fn conversation_from(r: &AnyRow) -> Result<ConversationRow> {
    let kind: String = get(r, "channel_kind")?;
    let state: String = get(r, "state")?;
    Ok(ConversationRow {
        id: ConversationId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
        customer_id: CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(invalid)?,
        channel_id: ChannelId::parse(&get::<String>(r, "channel_id")?).map_err(invalid)?,
        channel_kind: ChannelKind::parse(&kind).ok_or_else(|| invalid(&kind))?,
        team_id: get::<Option<String>>(r, "team_id")?.and_then(|t| TeamId::parse(&t).ok()),
        state: ConversationState::parse(&state).ok_or_else(|| invalid(&state))?,
        assignee_id: get::<Option<String>>(r, "assignee_id")?.and_then(|t| UserId::parse(&t).ok()),
        linked_conversation_id: get::<Option<String>>(r, "linked_conversation_id")?
            .and_then(|t| ConversationId::parse(&t).ok()),
        last_intent: get(r, "last_intent")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
        updated_at: Timestamp::from_millis(get(r, "updated_at")?),
        last_message_at: Timestamp::from_millis(get(r, "last_message_at")?),
        resolved_at: get::<Option<i64>>(r, "resolved_at")?.map(Timestamp::from_millis),
        handoff_reason: get(r, "handoff_reason")?,
        handoff_summary: get(r, "handoff_summary")?,
        bot_failures: get(r, "bot_failures")?,
        last_sentiment: get(r, "last_sentiment")?,
        handoff_details: get(r, "handoff_details")?,
        emotion_alert: get::<i64>(r, "emotion_alert")? != 0,
    })
}

pub(crate) fn message_from(r: &AnyRow) -> Result<MessageRow> {
    Ok(MessageRow {
        id: MessageId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
        conversation_id: ConversationId::parse(&get::<String>(r, "conversation_id")?).map_err(invalid)?,
        customer_id: CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(invalid)?,
        channel_id: ChannelId::parse(&get::<String>(r, "channel_id")?).map_err(invalid)?,
        sender_kind: get(r, "sender_kind")?,
        sender_user_id: get::<Option<String>>(r, "sender_user_id")?.and_then(|t| UserId::parse(&t).ok()),
        content_kind: get(r, "content_kind")?,
        content: parse_json(&get::<String>(r, "content")?),
        external_id: get(r, "external_id")?,
        sent_at: Timestamp::from_millis(get(r, "sent_at")?),
        received_at: Timestamp::from_millis(get(r, "received_at")?),
        intent: get(r, "intent")?,
    })
}

impl Store {
    pub async fn list_conversations(&self, tenant: &TenantId, f: &ConversationFilter) -> Result<Vec<ConversationRow>> {
        let mut sql = String::from("SELECT * FROM conversations WHERE tenant_id = $1");
        let mut binds: Vec<String> = vec![tenant.as_str().to_owned()];
        fn push(sql: &mut String, binds: &mut Vec<String>, cond: &str, v: String) {
            binds.push(v);
            sql.push_str(&cond.replace("$?", &format!("${}", binds.len())));
        }
        if let Some(s) = f.state {
            push(&mut sql, &mut binds, " AND state = $?", s.as_str().to_owned());
        }
        if let Some(a) = &f.assignee {
            push(&mut sql, &mut binds, " AND assignee_id = $?", a.as_str().to_owned());
        }
        if let Some(c) = &f.customer {
            push(&mut sql, &mut binds, " AND customer_id = $?", c.as_str().to_owned());
        }
        if let Some(teams) = &f.visible_teams {
            sql.push_str(" AND (team_id IS NULL");
            for t in teams {
                push(&mut sql, &mut binds, " OR team_id = $?", t.as_str().to_owned());
            }
            sql.push(')');
        }
        if let Some(teams) = &f.teams {
            // No team matches nothing: `1 = 0` keeps the OR list well-formed.
            sql.push_str(" AND (1 = 0");
            for t in teams {
                push(&mut sql, &mut binds, " OR team_id = $?", t.as_str().to_owned());
            }
            sql.push(')');
        }
        sql.push_str(&format!(" ORDER BY last_message_at DESC, id LIMIT {}", f.limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter().map(conversation_from).collect()
    }

    pub async fn conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<ConversationRow> {
        let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        conversation_from(&row)
    }

    pub async fn messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = $1 AND tenant_id = $2 ORDER BY received_at DESC, id DESC LIMIT $3) t \
             ORDER BY received_at, id",
        )
        .bind(conversation.as_str())
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(message_from).collect()
    }

    /// Conversations the bot owns whose latest message is a customer's text received in
    /// `[from, until)`: the bot never answered them (the process stopped after the message was
    /// stored and acknowledged, before the bot's turn was). Oldest first, at most `limit`.
    pub async fn awaiting_bot(
        &self,
        from: Timestamp,
        until: Timestamp,
        limit: i64,
    ) -> Result<Vec<(TenantId, ConversationRow)>> {
        let rows = sqlx::query(
            "SELECT c.* FROM conversations c WHERE c.state = 'bot' AND c.last_message_at >= $1 AND EXISTS (                SELECT 1 FROM messages m WHERE m.id = (                  SELECT l.id FROM messages l WHERE l.conversation_id = c.id ORDER BY l.received_at DESC, l.id DESC LIMIT 1)                AND m.sender_kind = 'customer' AND m.content_kind = 'text' AND m.received_at >= $1 AND m.received_at < $2)              ORDER BY c.last_message_at, c.id LIMIT $3",
        )
        .bind(from.millis())
        .bind(until.millis())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((TenantId::parse(&get::<String>(r, "tenant_id")?).map_err(invalid)?, conversation_from(r)?)))
            .collect()
    }

    /// Every conversation and message of a customer across all channels, in time order.
    pub async fn timeline(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        limit: i64,
    ) -> Result<(Vec<ConversationRow>, Vec<MessageRow>)> {
        let convs = sqlx::query(
            "SELECT * FROM conversations WHERE customer_id = $1 AND tenant_id = $2 ORDER BY created_at, id",
        )
        .bind(customer.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.read)
        .await?;
        let msgs = sqlx::query(
            "SELECT * FROM (SELECT * FROM messages WHERE customer_id = $1 AND tenant_id = $2 ORDER BY sent_at DESC, id DESC LIMIT $3) t \
             ORDER BY sent_at, received_at, id",
        )
        .bind(customer.as_str())
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok((
            convs.iter().map(conversation_from).collect::<Result<_>>()?,
            msgs.iter().map(message_from).collect::<Result<_>>()?,
        ))
    }

    /// The customer's other recent conversations (any channel), newest first, with their last
    /// message: what a later stage or an agent reads so the customer never repeats themself.
    pub async fn context(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        n: i64,
    ) -> Result<Vec<(ConversationRow, Option<MessageRow>)>> {
        let conv = self.conversation(tenant, conversation).await?;
        let rows = sqlx::query(
            "SELECT * FROM conversations WHERE customer_id = $1 AND tenant_id = $2 AND id <> $3 ORDER BY last_message_at DESC, id LIMIT $4",
        )
        .bind(conv.customer_id.as_str())
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .bind(n)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let c = conversation_from(r)?;
            let last = sqlx::query(
                "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY received_at DESC, id DESC LIMIT 1",
            )
            .bind(c.id.as_str())
            .fetch_optional(&self.read)
            .await?;
            out.push((c, last.as_ref().map(message_from).transpose()?));
        }
        Ok(out)
    }

    /// Applies a validated state transition. `assignee` is required for `Assign`.
    pub async fn transition(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        transition: Transition,
        assignee: Option<&UserId>,
        reason: Option<&str>,
        actor: &str,
        now: Timestamp,
    ) -> Result<ConversationRow> {
        self.transition_expecting(tenant, id, transition, assignee, None, reason, actor, now).await
    }

    /// [`Store::transition`], refused with a conflict unless the conversation is in the
    /// `expect`ed state with the expected assignee: how routing decisions made from a possibly
    /// stale view (another node, a person) never take a conversation from its owner.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_expecting(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        transition: Transition,
        assignee: Option<&UserId>,
        expect: Option<(ConversationState, Option<&UserId>)>,
        reason: Option<&str>,
        actor: &str,
        now: Timestamp,
    ) -> Result<ConversationRow> {
        let mut tx = self.write.begin().await?;
        transition_in(&mut tx, tenant, id, transition, assignee, expect, reason, actor, now).await?;
        tx.commit().await?;
        self.conversation(tenant, id).await
    }

    /// Routing's assignments, many in one commit: each is compare-and-set against "queued,
    /// nobody assigned" (another node or a person may have moved it first).
    pub async fn assign_queued(
        &self,
        tenant: &TenantId,
        items: &[(ConversationId, UserId)],
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<Vec<Result<ConversationRow>>> {
        let batch: Vec<BatchTransition<'_>> = items
            .iter()
            .map(|(id, agent)| BatchTransition {
                id,
                transition: Transition::Assign,
                assignee: Some(agent),
                expect: Some((ConversationState::Queued, None)),
                reason: Some(reason),
                actor,
            })
            .collect();
        self.transitions(tenant, &batch, now).await
    }

    /// Many state changes in one commit (one fsync for a burst of hand-offs or assignments),
    /// each validated and compare-and-set in its own savepoint, so a refused one leaves the
    /// others standing. One result per item, in order; an error of the database itself fails
    /// the whole call.
    pub async fn transitions(
        &self,
        tenant: &TenantId,
        items: &[BatchTransition<'_>],
        now: Timestamp,
    ) -> Result<Vec<Result<ConversationRow>>> {
        let mut tx = self.write.begin().await?;
        let mut done = Vec::with_capacity(items.len());
        for t in items {
            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
            match transition_in(&mut sp, tenant, t.id, t.transition, t.assignee, t.expect, t.reason, t.actor, now).await
            {
                Ok(()) => {
                    sp.commit().await?;
                    done.push(Ok(()));
                }
                Err(e @ StoreError::Db(_)) => return Err(e),
                Err(e) => {
                    sp.rollback().await?;
                    done.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(items.len());
        for (r, t) in done.into_iter().zip(items) {
            out.push(match r {
                Ok(()) => self.conversation(tenant, t.id).await,
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }

    /// Stores an outbound message in a conversation.
    pub async fn add_message(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        msg: &NewMessage,
        now: Timestamp,
    ) -> Result<MessageRow> {
        let conv = self.conversation(tenant, conversation).await?;
        let id = new_id(MessageId::from_random);
        let user = match &msg.sender {
            Sender::Agent(u) => Some(u.as_str().to_owned()),
            _ => None,
        };
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO messages (id, tenant_id, conversation_id, customer_id, channel_id, sender_kind, sender_user_id, content_kind, \
             content, sent_at, received_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .bind(conv.customer_id.as_str())
        .bind(conv.channel_id.as_str())
        .bind(msg.sender.kind_str())
        .bind(user)
        .bind(msg.content.kind_str())
        .bind(content_to_json(&msg.content))
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE conversations SET last_message_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(conversation.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = sqlx::query("SELECT * FROM messages WHERE id = $1").bind(id.as_str()).fetch_one(&self.read).await?;
        message_from(&row)
    }

    /// Records what understanding concluded about a conversation (read back by context).
    pub async fn set_last_intent(&self, tenant: &TenantId, id: &ConversationId, intent: &str) -> Result<()> {
        sqlx::query("UPDATE conversations SET last_intent = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(intent)
            .bind(id.as_str())
            .bind(tenant.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn count_messages(&self, tenant: &TenantId) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(&self.read)
            .await?;
        get(&row, "n")
    }
}

/// What one bot turn writes: understanding for the conversation's context, the reply, and
/// (when the bot hands over) the hand-off package with its state transition.
#[derive(Debug, Clone)]
pub struct BotTurn {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub last_intent: Option<String>,
    pub sentiment: f64,
    pub failures: i64,
    pub reply: Option<Content>,
    /// (reason code, summary): hand the conversation to people.
    pub handoff: Option<(String, String)>,
    /// The same package in structured form (JSON text) for the agent's console.
    pub handoff_details: Option<String>,
    pub at: Timestamp,
    /// What the reply is, when a customer may rate it (an answer, a tool's answer, a
    /// recommendation); stored beside the message.
    pub about: Option<ReplyAbout>,
    /// The customer's message this turn answers and what the bot read in it: storing the
    /// turn claims that message for the turn's computation (see [`Understood`]).
    pub understood: Option<Understood>,
}

/// The customer's message a bot turn answers. Every reply of one computation of a turn carries
/// the same `turn` token; the first stored claims the message, and a reply with another token
/// for a claimed message is dropped (two nodes answering one message after a crash: the
/// customer hears the bot once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Understood {
    pub message: MessageId,
    /// The intent read in it (`""`: none), kept on the message for later hand-off summaries.
    pub intent: String,
    /// One random token per computation of the turn.
    pub turn: String,
}

impl Understood {
    pub fn new(message: MessageId, intent: String) -> Self {
        Understood { message, intent, turn: format!("{:016x}", rand::random::<u64>()) }
    }
}

/// The kinds of bot message a customer may rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatedKind {
    /// A knowledge-base answer (plain or phrased by the LLM): a "not useful" is a knowledge gap.
    Answer,
    /// A business-data tool's answer.
    ToolAnswer,
    /// The suggestion after an answer (`recommend.rs`).
    Recommendation,
}

impl RatedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RatedKind::Answer => "answer",
            RatedKind::ToolAnswer => "tool_answer",
            RatedKind::Recommendation => "recommendation",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "answer" => Some(RatedKind::Answer),
            "tool_answer" => Some(RatedKind::ToolAnswer),
            "recommendation" => Some(RatedKind::Recommendation),
            _ => None,
        }
    }
}

/// What a rateable bot reply was: its kind, what it came from (the entry, the tool, the rule)
/// and the customer's words it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAbout {
    pub kind: RatedKind,
    pub ref_id: Option<String>,
    pub question: Option<String>,
}

impl Store {
    /// Stores several bot turns in one transaction (one fsync for all of them). A turn whose
    /// conversation is no longer with the bot (a person took it meanwhile) is skipped: the bot
    /// never speaks once people own the conversation. So is a turn whose customer message
    /// another computation of the turn already claimed ([`Understood`]). Returns, per turn,
    /// the updated conversation and the stored reply, or `None` when skipped.
    pub async fn bot_turns(&self, turns: &[BotTurn]) -> Result<Vec<Option<(ConversationRow, Option<MessageRow>)>>> {
        let mut tx = self.write.begin().await?;
        let mut done = Vec::with_capacity(turns.len());
        // A flow's several replies share one claim: made once per transaction, not per reply.
        let mut claimed_here: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
        for t in turns {
            if let Some(u) =
                t.understood.as_ref().filter(|u| !claimed_here.contains(&(u.message.as_str(), u.turn.as_str())))
            {
                // The claim: in PostgreSQL a concurrent claimer waits on the row lock and then
                // re-reads `answered_by`, in SQLite writers are serial; either way one wins.
                let claimed = sqlx::query(
                    "UPDATE messages SET intent = $1, answered_by = $2 WHERE id = $3 AND tenant_id = $4 \
                     AND sender_kind = 'customer' AND (answered_by IS NULL OR answered_by = $2)",
                )
                .bind(u.intent.as_str())
                .bind(u.turn.as_str())
                .bind(u.message.as_str())
                .bind(t.tenant_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    done.push(None);
                    continue;
                }
                claimed_here.insert((u.message.as_str(), u.turn.as_str()));
            }
            let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND tenant_id = $2")
                .bind(t.conversation_id.as_str())
                .bind(t.tenant_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                done.push(None);
                continue;
            };
            let conv = conversation_from(&row)?;
            if conv.state != ConversationState::Bot {
                done.push(None);
                continue;
            }
            let mut reply_id = None;
            if let Some(content) = &t.reply {
                let id = new_id(MessageId::from_random);
                sqlx::query(
                    "INSERT INTO messages (id, tenant_id, conversation_id, customer_id, channel_id, sender_kind, content_kind, \
                     content, sent_at, received_at) VALUES ($1,$2,$3,$4,$5,'bot',$6,$7,$8,$8)",
                )
                .bind(id.as_str())
                .bind(t.tenant_id.as_str())
                .bind(conv.id.as_str())
                .bind(conv.customer_id.as_str())
                .bind(conv.channel_id.as_str())
                .bind(content.kind_str())
                .bind(content_to_json(content))
                .bind(t.at.millis())
                .execute(&mut *tx)
                .await?;
                if let Some(a) = &t.about {
                    sqlx::query(
                        "INSERT INTO bot_message_kinds (tenant_id, message_id, kind, ref_id, question) VALUES ($1,$2,$3,$4,$5)",
                    )
                    .bind(t.tenant_id.as_str())
                    .bind(id.as_str())
                    .bind(a.kind.as_str())
                    .bind(a.ref_id.clone())
                    .bind(a.question.clone())
                    .execute(&mut *tx)
                    .await?;
                }
                reply_id = Some(id);
            }
            let (state, reason, summary, details) = match &t.handoff {
                Some((reason, summary)) => {
                    let next =
                        conv.state.apply(Transition::HandOff).map_err(|e| StoreError::Conflict(e.to_string()))?;
                    (next, Some(reason.clone()), Some(summary.clone()), t.handoff_details.clone())
                }
                None => (
                    conv.state,
                    conv.handoff_reason.clone(),
                    conv.handoff_summary.clone(),
                    conv.handoff_details.clone(),
                ),
            };
            sqlx::query(
                "UPDATE conversations SET state = $1, last_intent = COALESCE($2, last_intent), last_sentiment = $3, bot_failures = $4, \
                 handoff_reason = $5, handoff_summary = $6, updated_at = $7, last_message_at = $7, handoff_details = $9, \
                 handoff_at = COALESCE($10, handoff_at) WHERE id = $8",
            )
            .bind(state.as_str())
            .bind(t.last_intent.clone())
            .bind(t.sentiment)
            .bind(t.failures)
            .bind(reason.clone())
            .bind(summary)
            .bind(t.at.millis())
            .bind(conv.id.as_str())
            .bind(details)
            // A hand-off starts the waiting clock in the same commit (routing and SLA read it).
            .bind(t.handoff.as_ref().map(|_| t.at.millis()))
            .execute(&mut *tx)
            .await?;
            if let Some(reason) = &reason {
                if t.handoff.is_some() {
                    let detail = serde_json::json!({ "from": "bot", "to": "queued", "reason": reason }).to_string();
                    record_audit(
                        &mut tx,
                        t.tenant_id.as_str(),
                        "bot",
                        "conversation.hand_off",
                        conv.id.as_str(),
                        &detail,
                        t.at.millis(),
                    )
                    .await?;
                }
            }
            done.push(Some((conv.id.clone(), reply_id)));
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(done.len());
        for (d, t) in done.into_iter().zip(turns) {
            match d {
                None => out.push(None),
                Some((conv, reply)) => {
                    let c = self.conversation(&t.tenant_id, &conv).await?;
                    let m = match reply {
                        Some(id) => {
                            let row = sqlx::query("SELECT * FROM messages WHERE id = $1")
                                .bind(id.as_str())
                                .fetch_one(&self.read)
                                .await?;
                            Some(message_from(&row)?)
                        }
                        None => None,
                    };
                    out.push(Some((c, m)));
                }
            }
        }
        Ok(out)
    }
}

/// One item of [`Store::transitions`].
#[derive(Debug, Clone, Copy)]
pub struct BatchTransition<'a> {
    pub id: &'a ConversationId,
    pub transition: Transition,
    pub assignee: Option<&'a UserId>,
    /// The state and owner the caller checked against; `None` takes whatever is there.
    pub expect: Option<(ConversationState, Option<&'a UserId>)>,
    pub reason: Option<&'a str>,
    pub actor: &'a str,
}

/// One validated, compare-and-set state change with its audit record, inside the caller's
/// transaction.
#[allow(clippy::too_many_arguments)]
async fn transition_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    id: &ConversationId,
    transition: Transition,
    assignee: Option<&UserId>,
    expect: Option<(ConversationState, Option<&UserId>)>,
    reason: Option<&str>,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND tenant_id = $2")
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("conversation"))?;
    let conv = conversation_from(&row)?;
    if let Some((state, owner)) = expect {
        if conv.state != state || conv.assignee_id.as_ref() != owner {
            return Err(StoreError::Conflict("the conversation changed concurrently; retry".into()));
        }
    }
    let next = conv.state.apply(transition).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let assignee = match (transition, assignee) {
        (Transition::Assign, Some(a)) => {
            let found = sqlx::query("SELECT id FROM users WHERE id = $1 AND tenant_id = $2")
                .bind(a.as_str())
                .bind(tenant.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            Some(a.as_str().to_owned())
        }
        (Transition::Assign, None) => return Err(StoreError::Invalid("assign needs an assignee".into())),
        (Transition::Resolve | Transition::Close, _) => conv.assignee_id.as_ref().map(|a| a.as_str().to_owned()),
        _ => None,
    };
    let resolved_at = match next {
        ConversationState::Resolved => Some(now.millis()),
        ConversationState::Closed => conv.resolved_at.map(|t| t.millis()),
        _ => None,
    };
    // The state we read is the state we change: a concurrent change makes this a conflict.
    let res = sqlx::query(
        "UPDATE conversations SET state = $1, assignee_id = $2, resolved_at = $3, updated_at = $4 WHERE id = $5 AND state = $6 \
         AND (assignee_id = $7 OR (assignee_id IS NULL AND $7 = ''))",
    )
    .bind(next.as_str())
    .bind(assignee)
    .bind(resolved_at)
    .bind(now.millis())
    .bind(id.as_str())
    .bind(conv.state.as_str())
    .bind(conv.assignee_id.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default())
    .execute(&mut **tx)
    .await?;
    if res.rows_affected() != 1 {
        return Err(StoreError::Conflict("the conversation changed concurrently; retry".into()));
    }
    if transition == Transition::HandOff {
        // SLA clocks start here; same transaction, so no extra commit on the hand-off path.
        sqlx::query("UPDATE conversations SET handoff_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    let detail = serde_json::json!({ "from": conv.state.as_str(), "to": next.as_str(), "reason": reason }).to_string();
    record_audit(
        tx,
        tenant.as_str(),
        actor,
        &format!("conversation.{}", transition.as_str()),
        id.as_str(),
        &detail,
        now.millis(),
    )
    .await?;
    Ok(())
}
