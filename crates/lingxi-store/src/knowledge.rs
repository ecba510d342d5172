//! The knowledge base's tables: FAQ entries with every version kept, articles, knowledge gaps
//! and customers' ratings of bot answers. The store keeps an entry as an opaque JSON document
//! (parsed and checked by the server with lingxi-knowledge) plus the columns lists filter on;
//! it knows nothing of the FAQ model, so the storage edge stays pointed at the domain only.

use crate::conversations::{RatedKind, ReplyAbout};
use crate::{get, new_id, Result, Store, StoreError};
use lingxi_domain::{ConversationId, GapId, MessageId, TenantId, Timestamp};
use sqlx::any::AnyRow;

/// An entry as written: the server has parsed `doc` and derived the other fields from it.
#[derive(Debug, Clone, PartialEq)]
pub struct KbEntryWrite {
    pub entry_id: String,
    pub lang: String,
    pub status: String,
    pub version: i64,
    pub question: String,
    /// The whole entry as JSON (status and version included).
    pub doc: String,
}

/// The current version of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KbEntryRow {
    pub entry_id: String,
    pub lang: String,
    pub status: String,
    pub version: i64,
    pub question: String,
    pub doc: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// One stored version of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KbVersionRow {
    pub version: i64,
    pub status: String,
    pub doc: String,
    pub created_at: Timestamp,
    pub created_by: String,
}

/// What the save expects to find: nothing (a new entry) or this version (compare-and-set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    New,
    Version(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct KbArticleRow {
    pub article_id: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub updated_at: Timestamp,
}

/// A message the knowledge base did not answer well.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGap {
    pub conversation_id: Option<ConversationId>,
    pub text: String,
    pub lang: String,
    /// `low_confidence`, `handoff` or `not_useful`.
    pub kind: String,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    pub id: GapId,
    pub conversation_id: Option<String>,
    pub text: String,
    pub lang: String,
    pub kind: String,
    pub confidence: f64,
    pub created_at: Timestamp,
}

fn entry_from(row: &AnyRow) -> Result<KbEntryRow> {
    Ok(KbEntryRow {
        entry_id: get(row, "entry_id")?,
        lang: get(row, "lang")?,
        status: get(row, "status")?,
        version: get(row, "version")?,
        question: get(row, "question")?,
        doc: get(row, "doc")?,
        updated_at: Timestamp::from_millis(get(row, "updated_at")?),
        updated_by: get(row, "updated_by")?,
    })
}

fn article_from(r: &AnyRow) -> Result<KbArticleRow> {
    Ok(KbArticleRow {
        article_id: get(r, "article_id")?,
        title: get(r, "title")?,
        body: get(r, "body")?,
        status: get(r, "status")?,
        updated_at: Timestamp::from_millis(get(r, "updated_at")?),
    })
}

fn gap_from(row: &AnyRow) -> Result<GapRow> {
    let id: String = get(row, "id")?;
    Ok(GapRow {
        id: GapId::parse(&id).map_err(|_| StoreError::Invalid(format!("stored gap id `{id}`")))?,
        conversation_id: get(row, "conversation_id")?,
        text: get(row, "text")?,
        lang: get(row, "lang")?,
        kind: get(row, "kind")?,
        confidence: get(row, "confidence")?,
        created_at: Timestamp::from_millis(get(row, "created_at")?),
    })
}

impl Store {
    /// Saves entries in one transaction, each with its expectation: all are written or none
    /// (a new entry that exists, or a version that moved, is a conflict naming the entry).
    /// Every write also appends the version to the entry's history.
    pub async fn kb_save_entries(
        &self,
        tenant: &TenantId,
        entries: &[(KbEntryWrite, Expect)],
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        save_entries_in(&mut tx, tenant, entries, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn kb_entry(&self, tenant: &TenantId, entry_id: &str) -> Result<KbEntryRow> {
        let row = sqlx::query("SELECT * FROM kb_entries WHERE tenant_id = $1 AND entry_id = $2")
            .bind(tenant.as_str())
            .bind(entry_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("knowledge entry"))?;
        entry_from(&row)
    }

    /// The tenant's entries (optionally of one status), by id.
    pub async fn kb_entries(&self, tenant: &TenantId, status: Option<&str>) -> Result<Vec<KbEntryRow>> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM kb_entries WHERE tenant_id = $1 AND status = $2 ORDER BY entry_id")
                    .bind(tenant.as_str())
                    .bind(s)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM kb_entries WHERE tenant_id = $1 ORDER BY entry_id")
                    .bind(tenant.as_str())
                    .fetch_all(&self.read)
                    .await?
            }
        };
        rows.iter().map(entry_from).collect()
    }

    pub async fn kb_count_entries(&self, tenant: &TenantId) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM kb_entries WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(&self.read)
            .await?;
        get(&row, "n")
    }

    /// Every version of an entry, newest first (NotFound when the entry does not exist).
    pub async fn kb_versions(&self, tenant: &TenantId, entry_id: &str) -> Result<Vec<KbVersionRow>> {
        let rows =
            sqlx::query("SELECT * FROM kb_entry_versions WHERE tenant_id = $1 AND entry_id = $2 ORDER BY version DESC")
                .bind(tenant.as_str())
                .bind(entry_id)
                .fetch_all(&self.read)
                .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound("knowledge entry"));
        }
        rows.iter()
            .map(|r| {
                Ok(KbVersionRow {
                    version: get(r, "version")?,
                    status: get(r, "status")?,
                    doc: get(r, "doc")?,
                    created_at: Timestamp::from_millis(get(r, "created_at")?),
                    created_by: get(r, "created_by")?,
                })
            })
            .collect()
    }

    /// Deletes an entry and its history.
    pub async fn kb_delete_entry(&self, tenant: &TenantId, entry_id: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("DELETE FROM kb_entries WHERE tenant_id = $1 AND entry_id = $2")
            .bind(tenant.as_str())
            .bind(entry_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("knowledge entry"));
        }
        sqlx::query("DELETE FROM kb_entry_versions WHERE tenant_id = $1 AND entry_id = $2")
            .bind(tenant.as_str())
            .bind(entry_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates or replaces an article.
    pub async fn kb_put_article(&self, tenant: &TenantId, a: &KbArticleRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO kb_articles (tenant_id, article_id, title, body, status, updated_at) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (tenant_id, article_id) DO UPDATE SET title = excluded.title, body = excluded.body, \
             status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(&a.article_id)
        .bind(&a.title)
        .bind(&a.body)
        .bind(&a.status)
        .bind(a.updated_at.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn kb_articles(&self, tenant: &TenantId) -> Result<Vec<KbArticleRow>> {
        let rows = sqlx::query("SELECT * FROM kb_articles WHERE tenant_id = $1 ORDER BY article_id")
            .bind(tenant.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(article_from).collect()
    }

    pub async fn kb_article(&self, tenant: &TenantId, article_id: &str) -> Result<KbArticleRow> {
        let row = sqlx::query("SELECT * FROM kb_articles WHERE tenant_id = $1 AND article_id = $2")
            .bind(tenant.as_str())
            .bind(article_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        article_from(&row)
    }

    pub async fn kb_delete_article(&self, tenant: &TenantId, article_id: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM kb_articles WHERE tenant_id = $1 AND article_id = $2")
            .bind(tenant.as_str())
            .bind(article_id)
            .execute(&self.write)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("article"));
        }
        Ok(())
    }

    /// Logs messages the knowledge base did not answer well (one statement per gap, one transaction).
    pub async fn kb_log_gaps(&self, tenant: &TenantId, gaps: &[NewGap], now: Timestamp) -> Result<Vec<GapId>> {
        let mut tx = self.write.begin().await?;
        let mut ids = Vec::with_capacity(gaps.len());
        for g in gaps {
            let id = new_id(GapId::from_random);
            sqlx::query(
                "INSERT INTO kb_gaps (id, tenant_id, conversation_id, text, lang, kind, confidence, drafted_entry_id, created_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,$8)",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(g.conversation_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(&g.text)
            .bind(&g.lang)
            .bind(&g.kind)
            .bind(g.confidence)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Open gaps (not yet drafted into an entry), newest first, at most `limit`.
    pub async fn kb_open_gaps(&self, tenant: &TenantId, limit: i64) -> Result<Vec<GapRow>> {
        let rows = sqlx::query(
            "SELECT * FROM kb_gaps WHERE tenant_id = $1 AND drafted_entry_id IS NULL ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(gap_from).collect()
    }

    /// Saves a draft entry made from gaps and closes those gaps, in one transaction; a gap
    /// closed meanwhile (someone drafted it first) makes the whole step a conflict.
    pub async fn kb_draft_from_gaps(
        &self,
        tenant: &TenantId,
        gaps: &[GapId],
        entry: &KbEntryWrite,
        actor: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for g in gaps {
            let n = sqlx::query(
                "UPDATE kb_gaps SET drafted_entry_id = $3 WHERE tenant_id = $1 AND id = $2 AND drafted_entry_id IS NULL",
            )
            .bind(tenant.as_str())
            .bind(g.as_str())
            .bind(&entry.entry_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::Conflict(format!("gap {g} was drafted already")));
            }
        }
        let res = sqlx::query(
            "INSERT INTO kb_entries (tenant_id, entry_id, lang, status, version, question, doc, updated_at, updated_by) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tenant_id, entry_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&entry.entry_id)
        .bind(&entry.lang)
        .bind(&entry.status)
        .bind(entry.version)
        .bind(&entry.question)
        .bind(&entry.doc)
        .bind(now.millis())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("entry `{}` exists already", entry.entry_id)));
        }
        insert_version(&mut tx, tenant, entry, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a bot message was, when it was rateable (an answer's entry, a tool's answer, a
    /// recommendation's rule): the bot reads back the entry it last answered with when the
    /// customer asks a follow-up. `None` for any other message, or another tenant's.
    pub async fn reply_about(&self, tenant: &TenantId, message: &MessageId) -> Result<Option<ReplyAbout>> {
        let row = sqlx::query(
            "SELECT kind, ref_id, question FROM bot_message_kinds WHERE tenant_id = $1 AND message_id = $2",
        )
        .bind(tenant.as_str())
        .bind(message.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(kind) = RatedKind::parse(&get::<String>(&row, "kind")?) else { return Ok(None) };
        Ok(Some(ReplyAbout { kind, ref_id: get(&row, "ref_id")?, question: get(&row, "question")? }))
    }

    /// Records a customer's rating of a bot message of this tenant (the latest rating wins),
    /// with what it rated. `NotFound` when the tenant has no such message; `NotRateable` (and
    /// nothing stored) for a customer's or agent's message, or a bot message that was not an
    /// answer, a tool's answer or a recommendation (including bot messages written before
    /// migration 0011, which recorded no kind).
    ///
    /// A rating that makes a knowledge-base answer not useful (a first rating, or a changed
    /// one) logs the question it answered as a `not_useful` gap, in the same transaction, once
    /// per conversation and question: `gap_of` gives the gap's text and language from the
    /// question. "Once" is a unique key (migration 0013), not a check before the insert, so
    /// simultaneous ratings log one gap between them; a rating equal to the stored one changes
    /// nothing and logs nothing.
    pub async fn kb_rate(
        &self,
        tenant: &TenantId,
        message: &MessageId,
        useful: bool,
        now: Timestamp,
        gap_of: impl FnOnce(&str) -> GapText,
    ) -> Result<Rating> {
        let row = sqlx::query(
            "SELECT m.conversation_id, m.sender_kind, k.kind, k.ref_id, k.question FROM messages m \
             LEFT JOIN bot_message_kinds k ON k.tenant_id = m.tenant_id AND k.message_id = m.id \
             WHERE m.tenant_id = $1 AND m.id = $2",
        )
        .bind(tenant.as_str())
        .bind(message.as_str())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound("message"))?;
        let sender: String = get(&row, "sender_kind")?;
        let kind = get::<Option<String>>(&row, "kind")?.as_deref().and_then(RatedKind::parse);
        let Some(kind) = kind.filter(|_| sender == "bot") else { return Ok(Rating::NotRateable) };
        let conv: String = get(&row, "conversation_id")?;
        let ref_id: Option<String> = get(&row, "ref_id")?;
        let question: Option<String> = get(&row, "question")?;
        let mut tx = self.write.begin().await?;
        // The update's WHERE makes an unchanged rating touch no row: "changed" comes from the
        // write itself (on PostgreSQL a second rating at once waits for the first's row and then
        // sees it), never from an earlier read.
        let changed = sqlx::query(
            "INSERT INTO kb_feedback (tenant_id, message_id, conversation_id, useful, created_at, kind, ref_id) \
             VALUES ($1,$2,$3,$4,$5,$6,$7) \
             ON CONFLICT (tenant_id, message_id) DO UPDATE SET useful = excluded.useful, created_at = excluded.created_at \
             WHERE kb_feedback.useful <> excluded.useful",
        )
        .bind(tenant.as_str())
        .bind(message.as_str())
        .bind(&conv)
        .bind(i64::from(useful))
        .bind(now.millis())
        .bind(kind.as_str())
        .bind(ref_id.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let mut gap = None;
        if let (true, false, RatedKind::Answer, Some(q)) = (changed, useful, kind, &question) {
            let GapText { text, lang } = gap_of(q);
            let id = new_id(GapId::from_random);
            let n = sqlx::query(
                "INSERT INTO kb_gaps (id, tenant_id, conversation_id, text, lang, kind, confidence, drafted_entry_id, created_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,0,NULL,$7) \
                 ON CONFLICT (tenant_id, conversation_id, text) WHERE kind = 'not_useful' DO NOTHING",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(&conv)
            .bind(&text)
            .bind(&lang)
            .bind(NOT_USEFUL)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            gap = (n == 1).then_some(id);
        }
        tx.commit().await?;
        let conversation_id = ConversationId::parse(&conv)
            .map_err(|_| StoreError::Invalid(format!("stored conversation id `{conv}`")))?;
        Ok(Rating::Rated(Rated { conversation_id, kind, ref_id, question, changed, gap }))
    }

    /// Ratings so far per kind and reference (entry, tool or rule; none for ratings made before
    /// kinds were recorded), most rated first.
    pub async fn kb_feedback_counts(&self, tenant: &TenantId) -> Result<Vec<FeedbackCount>> {
        let rows = sqlx::query(
            "SELECT kind, ref_id, COUNT(CASE WHEN useful = 1 THEN 1 END) AS yes, COUNT(CASE WHEN useful = 0 THEN 1 END) AS no \
             FROM kb_feedback WHERE tenant_id = $1 GROUP BY kind, ref_id ORDER BY COUNT(*) DESC, kind, ref_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = get(r, "kind")?;
                Ok(FeedbackCount {
                    kind: RatedKind::parse(&kind)
                        .ok_or_else(|| StoreError::Invalid(format!("stored feedback kind `{kind}`")))?,
                    ref_id: get(r, "ref_id")?,
                    useful: get(r, "yes")?,
                    not_useful: get(r, "no")?,
                })
            })
            .collect()
    }
}

/// What [`Store::kb_rate`] made of a rating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rating {
    /// Stored.
    Rated(Rated),
    /// The message exists but is not a rateable bot message; nothing was stored.
    NotRateable,
}

/// A stored rating: the rated message's conversation, what it was and the customer's words it
/// answered (an answer's question: what a "not useful" logs as a gap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    pub conversation_id: ConversationId,
    pub kind: RatedKind,
    pub ref_id: Option<String>,
    pub question: Option<String>,
    /// Whether the rating differs from the one stored before (or is the first).
    pub changed: bool,
    /// The gap this rating logged, if it logged one.
    pub gap: Option<GapId>,
}

/// The gap kind of a knowledge-base answer a customer rated not useful (the kind migration
/// 0013's unique key covers).
pub const NOT_USEFUL: &str = "not_useful";

/// What a "not useful" rating logs of the question its answer was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapText {
    pub text: String,
    pub lang: String,
}

/// Ratings of one kind and reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackCount {
    pub kind: RatedKind,
    pub ref_id: Option<String>,
    pub useful: i64,
    pub not_useful: i64,
}

/// One row of an entry's version history, inside the caller's transaction.
async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    e: &KbEntryWrite,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO kb_entry_versions (tenant_id, entry_id, version, status, doc, created_at, created_by) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(tenant.as_str())
    .bind(&e.entry_id)
    .bind(e.version)
    .bind(&e.status)
    .bind(&e.doc)
    .bind(now.millis())
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The body of [`Store::kb_save_entries`], inside a caller's transaction (accepting a candidate
/// saves its entry and closes the candidate together).
pub(crate) async fn save_entries_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    entries: &[(KbEntryWrite, Expect)],
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    for (e, expect) in entries {
        let res = match expect {
            Expect::New => sqlx::query(
                "INSERT INTO kb_entries (tenant_id, entry_id, lang, status, version, question, doc, updated_at, updated_by) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tenant_id, entry_id) DO NOTHING",
            ),
            Expect::Version(_) => sqlx::query(
                "UPDATE kb_entries SET lang = $3, status = $4, version = $5, question = $6, doc = $7, updated_at = $8, updated_by = $9 \
                 WHERE tenant_id = $1 AND entry_id = $2 AND version = $10",
            ),
        }
        .bind(tenant.as_str())
        .bind(&e.entry_id)
        .bind(&e.lang)
        .bind(&e.status)
        .bind(e.version)
        .bind(&e.question)
        .bind(&e.doc)
        .bind(now.millis())
        .bind(actor);
        let res = match expect {
            Expect::New => res,
            Expect::Version(v) => res.bind(*v),
        }
        .execute(&mut **tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(match expect {
                Expect::New => StoreError::Conflict(format!("entry `{}` exists already", e.entry_id)),
                Expect::Version(v) => {
                    StoreError::Conflict(format!("entry `{}` is no longer at version {v}", e.entry_id))
                }
            });
        }
        insert_version(tx, tenant, e, actor, now).await?;
    }
    Ok(())
}
