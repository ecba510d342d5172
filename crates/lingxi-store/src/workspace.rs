//! The agent workspace's storage: internal notes on conversations (kept apart from messages,
//! so nothing here can ever reach a customer's channel), transfers between people and teams
//! (compare-and-set, like every state change), the tenant's canned responses and the
//! emotion alert flag.

use crate::conversations::{conversation_from, ConversationRow};
use crate::customers::record_audit;
use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::{
    CannedId, ConversationId, ConversationState, NoteId, Role, TeamId, TenantId, Timestamp, Transition, UserId,
};
use sqlx::any::AnyRow;

/// A colleague-only note. `kind` is `note`, or `transfer` for the note a transfer leaves
/// (then `target` names the team or person it went to).
#[derive(Debug, Clone)]
pub struct NoteRow {
    pub id: NoteId,
    pub conversation_id: ConversationId,
    pub author_id: UserId,
    pub kind: String,
    pub text: String,
    pub target: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct CannedRow {
    pub id: CannedId,
    pub title: String,
    pub text: String,
    /// `zh` or `en`.
    pub lang: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a conversation goes: to a team's queue, to a person, or to a person in another team.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub to_team: Option<TeamId>,
    pub to_agent: Option<UserId>,
    pub note: String,
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

fn note_from(r: &AnyRow) -> Result<NoteRow> {
    Ok(NoteRow {
        id: NoteId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
        conversation_id: ConversationId::parse(&get::<String>(r, "conversation_id")?).map_err(invalid)?,
        author_id: UserId::parse(&get::<String>(r, "author_id")?).map_err(invalid)?,
        kind: get(r, "kind")?,
        text: get(r, "text")?,
        target: get(r, "target")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
    })
}

fn canned_from(r: &AnyRow) -> Result<CannedRow> {
    Ok(CannedRow {
        id: CannedId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
        title: get(r, "title")?,
        text: get(r, "text")?,
        lang: get(r, "lang")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
        updated_at: Timestamp::from_millis(get(r, "updated_at")?),
    })
}

async fn insert_note(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    conversation: &ConversationId,
    author: &UserId,
    kind: &str,
    text: &str,
    target: Option<&str>,
    now: Timestamp,
) -> Result<NoteId> {
    let id = new_id(NoteId::from_random);
    sqlx::query(
        "INSERT INTO conversation_notes (id, tenant_id, conversation_id, author_id, kind, text, target, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(id.as_str())
    .bind(tenant.as_str())
    .bind(conversation.as_str())
    .bind(author.as_str())
    .bind(kind)
    .bind(text)
    .bind(target)
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

impl Store {
    pub async fn add_note(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        author: &UserId,
        text: &str,
        now: Timestamp,
    ) -> Result<NoteRow> {
        self.conversation(tenant, conversation).await?;
        let mut tx = self.write.begin().await?;
        let id = insert_note(&mut tx, tenant, conversation, author, "note", text, None, now).await?;
        tx.commit().await?;
        self.note(&id).await
    }

    async fn note(&self, id: &NoteId) -> Result<NoteRow> {
        let row = sqlx::query("SELECT * FROM conversation_notes WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&self.read)
            .await?;
        note_from(&row)
    }

    /// A conversation's notes, oldest first.
    pub async fn notes(&self, tenant: &TenantId, conversation: &ConversationId) -> Result<Vec<NoteRow>> {
        let rows = sqlx::query(
            "SELECT * FROM conversation_notes WHERE conversation_id = $1 AND tenant_id = $2 ORDER BY created_at, id",
        )
        .bind(conversation.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(note_from).collect()
    }

    /// Moves a conversation to a team's queue and/or to a person, leaving a transfer note, in
    /// one transaction. `expected_*` are the state and owner the caller checked its right to
    /// transfer against: if either changed meanwhile the transfer is a conflict, so two
    /// concurrent transfers (or a transfer racing routing) can never leave two owners.
    #[allow(clippy::too_many_arguments)]
    pub async fn transfer(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        expected_state: ConversationState,
        expected_assignee: Option<&UserId>,
        t: &Transfer,
        actor: &UserId,
        now: Timestamp,
    ) -> Result<(ConversationRow, NoteRow)> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("conversation"))?;
        let conv = conversation_from(&row)?;
        if conv.state != expected_state || conv.assignee_id.as_ref() != expected_assignee {
            return Err(StoreError::Conflict("the conversation changed concurrently; retry".into()));
        }
        if !matches!(conv.state, ConversationState::Queued | ConversationState::Assigned) {
            return Err(StoreError::Conflict(format!("a {} conversation cannot be transferred", conv.state.as_str())));
        }
        let team = match &t.to_team {
            Some(team) => {
                let found = sqlx::query("SELECT id FROM teams WHERE id = $1 AND tenant_id = $2")
                    .bind(team.as_str())
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("team"));
                }
                Some(team.clone())
            }
            None => conv.team_id.clone(),
        };
        let (next, assignee) = match &t.to_agent {
            Some(agent) => {
                let user = sqlx::query("SELECT role FROM users WHERE id = $1 AND tenant_id = $2")
                    .bind(agent.as_str())
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound("user"))?;
                let role: String = get(&user, "role")?;
                // An agent must be able to see the conversation they are given.
                if let (Some(team), Some(Role::Agent)) = (&team, Role::parse(&role)) {
                    let member = sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1 AND user_id = $2")
                        .bind(team.as_str())
                        .bind(agent.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if member.is_none() {
                        return Err(StoreError::Invalid(
                            "agent_id: that agent is not in the conversation's team".into(),
                        ));
                    }
                }
                let next = conv.state.apply(Transition::Assign).map_err(|e| StoreError::Conflict(e.to_string()))?;
                (next, Some(agent.as_str().to_owned()))
            }
            None if conv.state == ConversationState::Assigned => {
                (conv.state.apply(Transition::Requeue).map_err(|e| StoreError::Conflict(e.to_string()))?, None)
            }
            None => (ConversationState::Queued, None),
        };
        let res = sqlx::query(
            "UPDATE conversations SET state = $1, assignee_id = $2, team_id = $3, updated_at = $4 WHERE id = $5 AND state = $6 \
             AND (assignee_id = $7 OR (assignee_id IS NULL AND $7 = ''))",
        )
        .bind(next.as_str())
        .bind(assignee.clone())
        .bind(team.as_ref().map(|t| t.as_str().to_owned()))
        .bind(now.millis())
        .bind(id.as_str())
        .bind(conv.state.as_str())
        .bind(conv.assignee_id.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict("the conversation changed concurrently; retry".into()));
        }
        let target = assignee.clone().or_else(|| team.as_ref().map(|t| t.as_str().to_owned()));
        let note = insert_note(&mut tx, tenant, id, actor, "transfer", &t.note, target.as_deref(), now).await?;
        let detail = serde_json::json!({
            "from_state": conv.state.as_str(), "to_state": next.as_str(),
            "from_assignee": conv.assignee_id.as_ref().map(|a| a.as_str()), "to_assignee": assignee,
            "from_team": conv.team_id.as_ref().map(|t| t.as_str()), "to_team": team.as_ref().map(|t| t.as_str()),
        })
        .to_string();
        record_audit(
            &mut tx,
            tenant.as_str(),
            actor.as_str(),
            "conversation.transfer",
            id.as_str(),
            &detail,
            now.millis(),
        )
        .await?;
        tx.commit().await?;
        Ok((self.conversation(tenant, id).await?, self.note(&note).await?))
    }

    /// Sets the emotion alert; true when it changed (only changes are worth announcing).
    pub async fn set_emotion_alert(&self, tenant: &TenantId, id: &ConversationId, alert: bool) -> Result<bool> {
        let flag = i64::from(alert);
        let res = sqlx::query(
            "UPDATE conversations SET emotion_alert = $1 WHERE id = $2 AND tenant_id = $3 AND emotion_alert <> $1",
        )
        .bind(flag)
        .bind(id.as_str())
        .bind(tenant.as_str())
        .execute(&self.write)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn canned_responses(&self, tenant: &TenantId) -> Result<Vec<CannedRow>> {
        let rows = sqlx::query("SELECT * FROM canned_responses WHERE tenant_id = $1 ORDER BY title, id")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(canned_from).collect()
    }

    pub async fn canned_response(&self, tenant: &TenantId, id: &CannedId) -> Result<CannedRow> {
        let row = sqlx::query("SELECT * FROM canned_responses WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("canned response"))?;
        canned_from(&row)
    }

    pub async fn create_canned_response(
        &self,
        tenant: &TenantId,
        title: &str,
        text: &str,
        lang: &str,
        now: Timestamp,
    ) -> Result<CannedRow> {
        let id = new_id(CannedId::from_random);
        sqlx::query(
            "INSERT INTO canned_responses (id, tenant_id, title, text, lang, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(title)
        .bind(text)
        .bind(lang)
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        self.canned_response(tenant, &id).await
    }

    /// Replaces the given fields (`None` keeps the stored value).
    pub async fn update_canned_response(
        &self,
        tenant: &TenantId,
        id: &CannedId,
        title: Option<&str>,
        text: Option<&str>,
        lang: Option<&str>,
        now: Timestamp,
    ) -> Result<CannedRow> {
        let res = sqlx::query(
            "UPDATE canned_responses SET title = COALESCE($1, title), text = COALESCE($2, text), lang = COALESCE($3, lang), \
             updated_at = $4 WHERE id = $5 AND tenant_id = $6",
        )
        .bind(title)
        .bind(text)
        .bind(lang)
        .bind(now.millis())
        .bind(id.as_str())
        .bind(tenant.as_str())
        .execute(&self.write)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::NotFound("canned response"));
        }
        self.canned_response(tenant, id).await
    }

    pub async fn delete_canned_response(&self, tenant: &TenantId, id: &CannedId) -> Result<()> {
        let res = sqlx::query("DELETE FROM canned_responses WHERE id = $1 AND tenant_id = $2")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .execute(&self.write)
            .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::NotFound("canned response"));
        }
        Ok(())
    }
}
