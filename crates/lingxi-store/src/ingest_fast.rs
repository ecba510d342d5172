//! The set-based fast path of the inbound path: a whole batch with a constant number of
//! statements instead of ~8 per message, with results identical to `ingest::ingest_one`.
//!
//! Each statement through sqlx's `Any` driver is a cross-thread round trip, so the per-message
//! path is bound by statement count, not by the database. Here a batch costs three SELECTs
//! (stored duplicates, identifier owners, the customers' conversations), everything is
//! resolved in memory in input order exactly as the per-message path would, and the result is
//! written with one multi-row statement per table. A message the fast path does not model (its
//! identifiers match two or more customers: merge or merge suggestion; or it would move a
//! conversation's `last_message_at` backwards, which could change which conversation is
//! "latest") ends the segment: what came before is written, that message goes through the
//! per-message path in the same transaction, and the fast path resumes after it.
//!
//! Every multi-row statement is padded to a power-of-two number of rows (padding rows are
//! NULLs that match or insert nothing) so that only a handful of distinct SQL texts exist and
//! the per-connection prepared-statement cache keeps hitting.

use crate::codec::content_to_json;
use crate::ingest::{ingest_one, Inbound, IngestOutcome};
use crate::{get, new_id, Result, StoreError};
use lingxi_domain::{ConversationId, ConversationState, CustomerId, MessageId, Transition};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// Rows per multi-row statement: 256 rows of the widest table (11 columns) stay far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const MAX_ROWS: usize = 256;

/// Stores `batch` inside `tx`, in input order; outcomes as `ingest_one` would return them.
pub(crate) async fn ingest_set(tx: &mut Transaction<'_, Any>, batch: &[Inbound]) -> Result<Vec<IngestOutcome>> {
    let mut out = Vec::with_capacity(batch.len());
    let mut start = 0;
    while start < batch.len() {
        start += segment(tx, &batch[start..], &mut out).await?;
        if start < batch.len() {
            // The fast path stopped before this message: it is a case only the reference
            // implementation handles. It sees everything written so far in this transaction.
            out.push(ingest_one(tx, &batch[start]).await?);
            start += 1;
        }
    }
    Ok(out)
}

/// A bound value of a multi-row statement; padding rows bind typed NULLs of the same column.
#[derive(Clone)]
enum Val {
    Text(Option<String>),
    Int(Option<i64>),
}

fn text(s: &str) -> Val {
    Val::Text(Some(s.to_owned()))
}

fn int(v: i64) -> Val {
    Val::Int(Some(v))
}

impl Val {
    fn null_like(&self) -> Val {
        match self {
            Val::Text(_) => Val::Text(None),
            Val::Int(_) => Val::Int(None),
        }
    }
}

/// How a statement's parameters are written. PostgreSQL needs `$n`. SQLite takes `$n` too, but
/// sqlx binds each parameter after asking SQLite for its name, a linear search over the
/// statement's named parameters: quadratic, and it dominated a 2,560-parameter insert (half of
/// all CPU). Anonymous `?` parameters have no names to search.
#[derive(Clone, Copy)]
enum Placeholders {
    Numbered,
    Anonymous,
}

/// Builds `VALUES ($1,$2),($3,$4),…` for `rows` (each of `width` values), padded with NULL rows
/// to the next power of two, and returns it with the flattened bind values.
fn values(rows: &[Vec<Val>], placeholders: Placeholders) -> (String, Vec<Val>) {
    let width = rows[0].len();
    let padded = rows.len().next_power_of_two();
    let mut sql = String::with_capacity(padded * width * 5 + 8);
    sql.push_str("VALUES ");
    let mut binds = Vec::with_capacity(padded * width);
    let mut p = 1;
    for r in 0..padded {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            match placeholders {
                Placeholders::Numbered => {
                    sql.push('$');
                    sql.push_str(&p.to_string());
                    p += 1;
                }
                Placeholders::Anonymous => sql.push('?'),
            }
            binds.push(match rows.get(r) {
                Some(row) => row[c].clone(),
                None => rows[0][c].null_like(),
            });
        }
        sql.push(')');
    }
    (sql, binds)
}

fn bind_all<'q>(mut q: Query<'q, Any, AnyArguments<'q>>, binds: Vec<Val>) -> Query<'q, Any, AnyArguments<'q>> {
    for v in binds {
        q = match v {
            Val::Text(s) => q.bind(s),
            Val::Int(i) => q.bind(i),
        };
    }
    q
}

fn placeholders(tx: &Transaction<'_, Any>) -> Placeholders {
    if tx.backend_name() == "SQLite" {
        Placeholders::Anonymous
    } else {
        Placeholders::Numbered
    }
}

/// Runs `template` (with `{values}` standing for the VALUES list) once per chunk of rows.
async fn execute_rows(tx: &mut Transaction<'_, Any>, template: &str, rows: &[Vec<Val>]) -> Result<()> {
    for chunk in rows.chunks(MAX_ROWS) {
        let (list, binds) = values(chunk, placeholders(tx));
        let sql = template.replace("{values}", &list);
        bind_all(sqlx::query(&sql), binds).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn fetch_rows(
    tx: &mut Transaction<'_, Any>,
    template: &str,
    rows: &[Vec<Val>],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in rows.chunks(MAX_ROWS) {
        let (list, binds) = values(chunk, placeholders(tx));
        let sql = template.replace("{values}", &list);
        out.extend(bind_all(sqlx::query(&sql), binds).fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

/// A message already stored before this segment.
#[derive(Clone)]
struct Stored {
    message_id: MessageId,
    conversation_id: ConversationId,
    customer_id: CustomerId,
    state: ConversationState,
}

/// How a message of the segment was resolved before conversations are considered.
enum Resolved {
    /// The channel sent this message before this segment.
    Duplicate(Stored),
    /// Same as an earlier message of this segment (by index).
    DuplicateInBatch(usize),
    Customer(CustomerId),
}

/// A conversation as the batch sees it: loaded from the database or created in the batch,
/// with the changes to write.
struct Conv {
    id: ConversationId,
    customer: CustomerId,
    channel: String,
    state: ConversationState,
    resolved_at: Option<i64>,
    last_message_at: i64,
    /// Created by this batch (inserted with its final values) rather than loaded.
    created: Option<NewConv>,
    state_changed: bool,
    /// Reopened: assignee and resolved_at are cleared.
    reopened: bool,
    updated_at: Option<i64>,
    last_message_changed: bool,
}

struct NewConv {
    msg_idx: usize,
    linked: Option<ConversationId>,
    created_at: i64,
}

/// A customer touched by the batch: what `UPDATE customers SET updated_at, display_name =
/// COALESCE(display_name, …)` per message amounts to at the end.
struct Cust {
    /// `Some(index of the creating message)` for customers created in the batch.
    created_by: Option<usize>,
    updated_at: i64,
    /// The first display name the batch's messages offered.
    name: Option<String>,
}

/// Handles a prefix of `msgs` and returns its length (0 if the first message is not one for
/// the fast path).
async fn segment(tx: &mut Transaction<'_, Any>, msgs: &[Inbound], out: &mut Vec<IngestOutcome>) -> Result<usize> {
    // 1. Messages the channels sent before.
    let keys: Vec<Vec<Val>> = msgs.iter().map(|m| vec![text(m.channel_id.as_str()), text(&m.external_id)]).collect();
    let rows = fetch_rows(
        tx,
        "SELECT m.channel_id, m.external_id, m.id, m.conversation_id, m.customer_id, c.state \
         FROM ({values}) AS v JOIN messages m ON m.channel_id = v.column1 AND m.external_id = v.column2 \
         JOIN conversations c ON c.id = m.conversation_id",
        &keys,
    )
    .await?;
    let mut stored: HashMap<(String, String), Stored> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let state: String = get(r, "state")?;
        stored.insert(
            (get(r, "channel_id")?, get(r, "external_id")?),
            Stored {
                message_id: MessageId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
                conversation_id: ConversationId::parse(&get::<String>(r, "conversation_id")?).map_err(invalid)?,
                customer_id: CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(invalid)?,
                state: ConversationState::parse(&state).unwrap_or(ConversationState::Bot),
            },
        );
    }

    // 2. Who owns the batch's identifiers.
    let mut ident_keys: Vec<Vec<Val>> = Vec::new();
    for m in msgs {
        for id in &m.identifiers {
            ident_keys.push(vec![text(m.tenant_id.as_str()), text(id.kind().as_str()), text(id.value())]);
        }
    }
    let rows = fetch_rows(
        tx,
        "SELECT i.tenant_id, i.kind, i.value, i.customer_id FROM ({values}) AS v \
         JOIN identities i ON i.tenant_id = v.column1 AND i.kind = v.column2 AND i.value = v.column3",
        &ident_keys,
    )
    .await?;
    let mut owners: HashMap<(String, String, String), CustomerId> = HashMap::with_capacity(rows.len());
    for r in &rows {
        owners.insert(
            (get(r, "tenant_id")?, get(r, "kind")?, get(r, "value")?),
            CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(invalid)?,
        );
    }

    // 3. Resolve customers in input order; identifiers and customers created by earlier
    // messages of the batch are visible to later ones, as in the per-message path.
    let mut resolved: Vec<Resolved> = Vec::with_capacity(msgs.len());
    let mut first_seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(msgs.len());
    let mut new_identities: Vec<(usize, Vec<Val>)> = Vec::new();
    let mut new_customers: Vec<(usize, CustomerId)> = Vec::new();
    let mut existing_customers: Vec<CustomerId> = Vec::new();
    for (idx, m) in msgs.iter().enumerate() {
        let key = (m.channel_id.as_str(), m.external_id.as_str());
        if let Some(s) = stored.get(&(key.0.to_owned(), key.1.to_owned())) {
            resolved.push(Resolved::Duplicate(s.clone()));
            continue;
        }
        if let Some(&first) = first_seen.get(&key) {
            resolved.push(Resolved::DuplicateInBatch(first));
            continue;
        }
        let tenant = m.tenant_id.as_str();
        let mut matches: Vec<&CustomerId> = Vec::new();
        for id in &m.identifiers {
            if let Some(c) = owners.get(&(tenant.to_owned(), id.kind().as_str().to_owned(), id.value().to_owned())) {
                if !matches.contains(&c) {
                    matches.push(c);
                }
            }
        }
        let customer = match matches.as_slice() {
            [] => {
                let id = new_id(CustomerId::from_random);
                new_customers.push((idx, id.clone()));
                id
            }
            [one] => {
                let one = (*one).clone();
                if !existing_customers.contains(&one) && !new_customers.iter().any(|(_, c)| c == &one) {
                    existing_customers.push(one.clone());
                }
                one
            }
            // Merge or merge suggestion: the reference implementation's job.
            _ => break,
        };
        let now = m.received_at.millis();
        for id in &m.identifiers {
            let k = (tenant.to_owned(), id.kind().as_str().to_owned(), id.value().to_owned());
            if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry(k) {
                slot.insert(customer.clone());
                new_identities.push((
                    idx,
                    vec![
                        text(tenant),
                        text(id.kind().as_str()),
                        text(id.value()),
                        text(customer.as_str()),
                        text(m.channel_kind.as_str()),
                        int(now),
                    ],
                ));
            }
        }
        first_seen.insert(key, idx);
        resolved.push(Resolved::Customer(customer));
    }

    // 4. The existing customers' conversations: every one not closed (candidates to continue,
    // reopen or close) and the latest per channel (candidates to link a new conversation to).
    let mut convs: Vec<Conv> = Vec::new();
    let mut conv_by_id: HashMap<ConversationId, usize> = HashMap::new();
    let mut convs_of: HashMap<CustomerId, Vec<usize>> = HashMap::new();
    if !existing_customers.is_empty() {
        let ids: Vec<Vec<Val>> = existing_customers.iter().map(|c| vec![text(c.as_str())]).collect();
        let rows = fetch_rows(
            tx,
            "SELECT id, customer_id, channel_id, state, resolved_at, last_message_at FROM (\
             SELECT c.id, c.customer_id, c.channel_id, c.state, c.resolved_at, c.last_message_at, \
             ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.channel_id ORDER BY c.last_message_at DESC) AS rn \
             FROM ({values}) AS v JOIN conversations c ON c.customer_id = v.column1) AS t \
             WHERE rn = 1 OR state <> 'closed'",
            &ids,
        )
        .await?;
        for r in &rows {
            let state_raw: String = get(r, "state")?;
            let conv = Conv {
                id: ConversationId::parse(&get::<String>(r, "id")?).map_err(invalid)?,
                customer: CustomerId::parse(&get::<String>(r, "customer_id")?).map_err(invalid)?,
                channel: get(r, "channel_id")?,
                state: ConversationState::parse(&state_raw).ok_or_else(|| invalid(&state_raw))?,
                resolved_at: get(r, "resolved_at")?,
                last_message_at: get(r, "last_message_at")?,
                created: None,
                state_changed: false,
                reopened: false,
                updated_at: None,
                last_message_changed: false,
            };
            conv_by_id.insert(conv.id.clone(), convs.len());
            convs_of.entry(conv.customer.clone()).or_default().push(convs.len());
            convs.push(conv);
        }
    }

    // 5. Conversations and outcomes in input order.
    let mut customers: HashMap<CustomerId, Cust> = HashMap::new();
    for (idx, id) in &new_customers {
        customers.insert(id.clone(), Cust { created_by: Some(*idx), updated_at: 0, name: None });
    }
    let mut messages: Vec<Vec<Val>> = Vec::new();
    let mut audits: Vec<Vec<Val>> = Vec::new();
    let mut outcomes: Vec<IngestOutcome> = Vec::with_capacity(resolved.len());
    let mut end = resolved.len();
    for (idx, res) in resolved.iter().enumerate() {
        let m = &msgs[idx];
        let customer = match res {
            Resolved::Duplicate(s) => {
                // The conversation's state as of now: this batch may have reopened or closed it.
                let state = conv_by_id.get(&s.conversation_id).map_or(s.state, |&i| convs[i].state);
                outcomes.push(duplicate(s.message_id.clone(), s.conversation_id.clone(), s.customer_id.clone(), state));
                continue;
            }
            Resolved::DuplicateInBatch(first) => {
                let o = &outcomes[*first];
                let state = convs[conv_by_id[&o.conversation_id]].state;
                let d = duplicate(o.message_id.clone(), o.conversation_id.clone(), o.customer_id.clone(), state);
                outcomes.push(d);
                continue;
            }
            Resolved::Customer(c) => c,
        };
        let now = m.received_at.millis();
        let channel = m.channel_id.as_str();
        let mine: Vec<usize> = convs_of.get(customer).cloned().unwrap_or_default();

        // The open conversation on this channel (latest first), as the per-message query finds it.
        let current = latest(&convs, &mine, |c| c.channel == channel && c.state != ConversationState::Closed);
        let mut existing: Option<usize> = None;
        let mut reopen = false;
        if let Some(ci) = current {
            let c = &convs[ci];
            if c.state.is_open() {
                existing = Some(ci);
            } else if c.resolved_at.is_some_and(|r| now - r <= m.policy.reopen_window_secs * 1000) {
                existing = Some(ci);
                reopen = true;
            }
        }
        if let Some(ci) = existing {
            // Only the latest conversation per channel was loaded besides the open ones; moving a
            // loaded one backwards in time could make an unloaded one the latest.
            if convs[ci].created.is_none() && now < convs[ci].last_message_at {
                end = idx;
                break;
            }
        }
        let mut linked = None;
        let conversation_created = existing.is_none();
        let ci = match existing {
            Some(ci) => {
                let c = &mut convs[ci];
                if reopen {
                    c.state = c.state.apply(Transition::Reopen).map_err(invalid)?;
                    c.resolved_at = None;
                    c.state_changed = true;
                    c.reopened = true;
                    audits.push(vec![
                        text(&new_id(|b| format!("aud_{b:026x}"))),
                        text(m.tenant_id.as_str()),
                        text(c.id.as_str()),
                        int(now),
                    ]);
                }
                ci
            }
            None => {
                if let Some(old) = current {
                    // Resolved beyond the reopen window: closed, and a new conversation starts.
                    let c = &mut convs[old];
                    c.state = ConversationState::Closed;
                    c.state_changed = true;
                    c.updated_at = Some(now);
                }
                linked = latest(&convs, &mine, |c| c.channel != channel).map(|i| convs[i].id.clone());
                let conv = Conv {
                    id: new_id(ConversationId::from_random),
                    customer: customer.clone(),
                    channel: channel.to_owned(),
                    state: ConversationState::Bot,
                    resolved_at: None,
                    last_message_at: now,
                    created: Some(NewConv { msg_idx: idx, linked: linked.clone(), created_at: now }),
                    state_changed: false,
                    reopened: false,
                    updated_at: Some(now),
                    last_message_changed: false,
                };
                conv_by_id.insert(conv.id.clone(), convs.len());
                convs_of.entry(customer.clone()).or_default().push(convs.len());
                convs.push(conv);
                convs.len() - 1
            }
        };
        let c = &mut convs[ci];
        if !conversation_created {
            c.last_message_at = now;
            c.updated_at = Some(now);
            c.last_message_changed = true;
        }
        let cust = customers.entry(customer.clone()).or_insert(Cust { created_by: None, updated_at: now, name: None });
        cust.updated_at = now;
        if cust.name.is_none() {
            cust.name.clone_from(&m.display_name);
        }
        let message_id = new_id(MessageId::from_random);
        messages.push(vec![
            text(message_id.as_str()),
            text(m.tenant_id.as_str()),
            text(c.id.as_str()),
            text(customer.as_str()),
            text(channel),
            text(m.content.kind_str()),
            text(&content_to_json(&m.content)),
            text(&m.external_id),
            int(m.sent_at.millis()),
            int(now),
        ]);
        outcomes.push(IngestOutcome {
            duplicate: false,
            message_id,
            conversation_id: c.id.clone(),
            customer_id: customer.clone(),
            conversation_state: c.state,
            conversation_created,
            reopened: reopen,
            merged: vec![],
            merge_suggested: vec![],
            linked_conversation_id: linked,
        });
    }

    // 6. Write. Customers first: identities reference them.
    let new_rows: Vec<Vec<Val>> = new_customers
        .iter()
        .filter(|(idx, _)| *idx < end)
        .map(|(idx, id)| {
            let c = &customers[id];
            let m = &msgs[*idx];
            vec![
                text(id.as_str()),
                text(m.tenant_id.as_str()),
                Val::Text(c.name.clone()),
                int(m.received_at.millis()),
                int(c.updated_at),
            ]
        })
        .collect();
    if !new_rows.is_empty() {
        execute_rows(
            tx,
            "INSERT INTO customers (id, tenant_id, display_name, attributes, tags, created_at, updated_at) \
             SELECT column1, column2, column3, '{}', '[]', column4, column5 FROM ({values}) AS v WHERE column1 IS NOT NULL",
            &new_rows,
        )
        .await?;
    }
    let touched: Vec<Vec<Val>> = customers
        .iter()
        .filter(|(_, c)| c.created_by.is_none())
        .map(|(id, c)| vec![text(id.as_str()), int(c.updated_at), Val::Text(c.name.clone())])
        .collect();
    if !touched.is_empty() {
        execute_rows(
            tx,
            "UPDATE customers SET updated_at = v.column2, display_name = COALESCE(customers.display_name, v.column3) \
             FROM ({values}) AS v WHERE customers.id = v.column1",
            &touched,
        )
        .await?;
    }
    // Plain INSERT: an identifier a concurrent writer created first is a unique violation, and
    // the batch falls back to the per-message path, which resolves against that writer's row.
    let idents: Vec<Vec<Val>> = new_identities.into_iter().filter(|(idx, _)| *idx < end).map(|(_, r)| r).collect();
    if !idents.is_empty() {
        execute_rows(
            tx,
            "INSERT INTO identities (tenant_id, kind, value, customer_id, source, created_at) \
             SELECT column1, column2, column3, column4, column5, column6 FROM ({values}) AS v WHERE column1 IS NOT NULL",
            &idents,
        )
        .await?;
    }
    let mut conv_updates: Vec<Vec<Val>> = Vec::new();
    let mut conv_inserts: Vec<Vec<Val>> = Vec::new();
    for c in &convs {
        match &c.created {
            Some(n) => {
                let m = &msgs[n.msg_idx];
                conv_inserts.push(vec![
                    text(c.id.as_str()),
                    text(m.tenant_id.as_str()),
                    text(c.customer.as_str()),
                    text(&c.channel),
                    text(m.channel_kind.as_str()),
                    Val::Text(m.channel_team.as_ref().map(|t| t.as_str().to_owned())),
                    Val::Text(n.linked.as_ref().map(|l| l.as_str().to_owned())),
                    int(n.created_at),
                    int(c.updated_at.unwrap_or(n.created_at)),
                    int(c.last_message_at),
                ]);
            }
            None if c.updated_at.is_some() => conv_updates.push(vec![
                text(c.id.as_str()),
                Val::Text(c.state_changed.then(|| c.state.as_str().to_owned())),
                int(i64::from(c.reopened)),
                int(c.updated_at.unwrap_or_default()),
                Val::Int(c.last_message_changed.then_some(c.last_message_at)),
            ]),
            None => {}
        }
    }
    if !conv_updates.is_empty() {
        // Only what the per-message statements change: an untouched column keeps whatever a
        // concurrent writer (an agent's transition) put there.
        execute_rows(
            tx,
            "UPDATE conversations SET state = COALESCE(v.column2, conversations.state), \
             assignee_id = CASE WHEN v.column3 = 1 THEN NULL ELSE conversations.assignee_id END, \
             resolved_at = CASE WHEN v.column3 = 1 THEN NULL ELSE conversations.resolved_at END, \
             updated_at = v.column4, last_message_at = COALESCE(v.column5, conversations.last_message_at) \
             FROM ({values}) AS v WHERE conversations.id = v.column1",
            &conv_updates,
        )
        .await?;
    }
    if !conv_inserts.is_empty() {
        execute_rows(
            tx,
            "INSERT INTO conversations (id, tenant_id, customer_id, channel_id, channel_kind, team_id, state, \
             linked_conversation_id, created_at, updated_at, last_message_at) \
             SELECT column1, column2, column3, column4, column5, column6, 'bot', column7, column8, column9, column10 \
             FROM ({values}) AS v WHERE column1 IS NOT NULL",
            &conv_inserts,
        )
        .await?;
    }
    if !messages.is_empty() {
        execute_rows(
            tx,
            "INSERT INTO messages (id, tenant_id, conversation_id, customer_id, channel_id, sender_kind, content_kind, \
             content, external_id, sent_at, received_at) \
             SELECT column1, column2, column3, column4, column5, 'customer', column6, column7, column8, column9, column10 \
             FROM ({values}) AS v WHERE column1 IS NOT NULL",
            &messages,
        )
        .await?;
    }
    if !audits.is_empty() {
        execute_rows(
            tx,
            "INSERT INTO audit_log (id, tenant_id, actor, action, target, detail, at) \
             SELECT column1, column2, 'system', 'conversation.reopen', column3, '{}', column4 \
             FROM ({values}) AS v WHERE column1 IS NOT NULL",
            &audits,
        )
        .await?;
    }
    out.extend(outcomes);
    Ok(end)
}

fn duplicate(
    message_id: MessageId,
    conversation_id: ConversationId,
    customer_id: CustomerId,
    state: ConversationState,
) -> IngestOutcome {
    IngestOutcome {
        duplicate: true,
        message_id,
        conversation_id,
        customer_id,
        conversation_state: state,
        conversation_created: false,
        reopened: false,
        merged: vec![],
        merge_suggested: vec![],
        linked_conversation_id: None,
    }
}

/// The conversation with the greatest `last_message_at` among `candidates` matching `keep`.
fn latest(convs: &[Conv], candidates: &[usize], keep: impl Fn(&Conv) -> bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for &i in candidates {
        if keep(&convs[i]) && best.is_none_or(|b| convs[i].last_message_at > convs[b].last_message_at) {
            best = Some(i);
        }
    }
    best
}
