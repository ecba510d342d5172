//! What the bot learns from people: candidate FAQ entries proposed when agents resolve
//! conversations (with the conversations each was seen in), and the one recommendation the bot
//! may make per conversation.

use crate::knowledge::save_entries_in;
use crate::{get, new_id, Expect, KbEntryWrite, Result, Store, StoreError};
use lingxi_domain::{CandidateId, ConversationId, TenantId, Timestamp};
use sqlx::any::AnyRow;

/// A candidate as proposed (the server removed personal data and deduplicated it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCandidate {
    /// `new_entry` or `phrasing`.
    pub kind: String,
    /// For a phrasing: the published entry it rephrases.
    pub entry_id: Option<String>,
    pub question: String,
    pub answer: String,
    pub lang: String,
    pub conversation_id: ConversationId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow {
    pub id: CandidateId,
    pub kind: String,
    pub entry_id: Option<String>,
    pub question: String,
    pub answer: String,
    pub lang: String,
    /// The conversation it was first seen in.
    pub conversation_id: String,
    pub occurrences: i64,
    /// `open`, `accepted` or `dismissed`.
    pub status: String,
    pub drafted_entry_id: Option<String>,
    pub decided_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn candidate_from(r: &AnyRow) -> Result<CandidateRow> {
    let id: String = get(r, "id")?;
    Ok(CandidateRow {
        id: CandidateId::parse(&id).map_err(|e| StoreError::Invalid(e.to_string()))?,
        kind: get(r, "kind")?,
        entry_id: get(r, "entry_id")?,
        question: get(r, "question")?,
        answer: get(r, "answer")?,
        lang: get(r, "lang")?,
        conversation_id: get(r, "conversation_id")?,
        occurrences: get(r, "occurrences")?,
        status: get(r, "status")?,
        drafted_entry_id: get(r, "drafted_entry_id")?,
        decided_by: get(r, "decided_by")?,
        created_at: Timestamp::from_millis(get(r, "created_at")?),
        updated_at: Timestamp::from_millis(get(r, "updated_at")?),
    })
}

impl Store {
    /// Stores a new open candidate seen once, in `c.conversation_id`.
    pub async fn kb_add_candidate(&self, tenant: &TenantId, c: &NewCandidate, now: Timestamp) -> Result<CandidateId> {
        let id = new_id(CandidateId::from_random);
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO kb_candidates (id, tenant_id, kind, entry_id, question, answer, lang, conversation_id, occurrences, status, \
             drafted_entry_id, decided_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,1,'open',NULL,NULL,$9,$9)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(&c.kind)
        .bind(c.entry_id.clone())
        .bind(&c.question)
        .bind(&c.answer)
        .bind(&c.lang)
        .bind(c.conversation_id.as_str())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        add_source(&mut tx, tenant, &id, &c.conversation_id, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The candidate's question came up again in `conversation`: one more occurrence, unless
    /// that conversation was counted already or the candidate is no longer open. Returns
    /// whether it counted.
    pub async fn kb_candidate_seen(
        &self,
        tenant: &TenantId,
        id: &CandidateId,
        conversation: &ConversationId,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        if !add_source(&mut tx, tenant, id, conversation, now).await? {
            return Ok(false);
        }
        let n = sqlx::query(
            "UPDATE kb_candidates SET occurrences = occurrences + 1, updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether this conversation already fed some candidate (its resolution was learnt from).
    pub async fn kb_candidate_source_exists(&self, tenant: &TenantId, conversation: &ConversationId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM kb_candidate_sources WHERE tenant_id = $1 AND conversation_id = $2 LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// Candidates with this status (all when `None`), most often seen first, then newest.
    pub async fn kb_candidates(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CandidateRow>> {
        let rows = sqlx::query(
            "SELECT * FROM kb_candidates WHERE tenant_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY occurrences DESC, updated_at DESC, id DESC LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(candidate_from).collect()
    }

    pub async fn kb_candidate(&self, tenant: &TenantId, id: &CandidateId) -> Result<CandidateRow> {
        let row = sqlx::query("SELECT * FROM kb_candidates WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("knowledge candidate"))?;
        candidate_from(&row)
    }

    /// Accepts an open candidate: saves its entry (a new draft, or a new version of the entry
    /// it rephrases) and closes the candidate, in one transaction. A candidate decided
    /// meanwhile, or an entry that moved, is a conflict and stores nothing.
    pub async fn kb_accept_candidate(
        &self,
        tenant: &TenantId,
        id: &CandidateId,
        entry: &KbEntryWrite,
        expect: Expect,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        close(&mut tx, tenant, id, "accepted", Some(&entry.entry_id), actor, now).await?;
        save_entries_in(&mut tx, tenant, &[(entry.clone(), expect)], actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Dismisses an open candidate (it stays, so the same question is not proposed again).
    pub async fn kb_dismiss_candidate(
        &self,
        tenant: &TenantId,
        id: &CandidateId,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        close(&mut tx, tenant, id, "dismissed", None, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims the conversation's one recommendation; false if it already had one.
    pub async fn claim_recommendation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rule_id: &str,
        sku: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO bot_recommendations (tenant_id, conversation_id, rule_id, sku, created_at) VALUES ($1,$2,$3,$4,$5) \
             ON CONFLICT (tenant_id, conversation_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(conversation.as_str())
        .bind(rule_id)
        .bind(sku)
        .bind(now.millis())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The recommendation made in a conversation, if any: (rule id, sku).
    pub async fn recommendation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT rule_id, sku FROM bot_recommendations WHERE tenant_id = $1 AND conversation_id = $2")
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .fetch_optional(&self.read)
                .await?;
        row.as_ref().map(|r| Ok((get(r, "rule_id")?, get(r, "sku")?))).transpose()
    }
}

async fn add_source(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    id: &CandidateId,
    conversation: &ConversationId,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO kb_candidate_sources (tenant_id, candidate_id, conversation_id, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (tenant_id, candidate_id, conversation_id) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(id.as_str())
    .bind(conversation.as_str())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

async fn close(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    id: &CandidateId,
    status: &str,
    entry: Option<&str>,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE kb_candidates SET status = $3, drafted_entry_id = $4, decided_by = $5, updated_at = $6 \
         WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
    )
    .bind(tenant.as_str())
    .bind(id.as_str())
    .bind(status)
    .bind(entry.map(str::to_owned))
    .bind(actor)
    .bind(now.millis())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 1 {
        return Ok(());
    }
    let exists = sqlx::query("SELECT status FROM kb_candidates WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    match exists {
        Some(r) => Err(StoreError::Conflict(format!("candidate {id} is {} already", get::<String>(&r, "status")?))),
        None => Err(StoreError::NotFound("knowledge candidate")),
    }
}
