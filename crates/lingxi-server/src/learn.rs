//! The knowledge base learns from agents: when a person resolves a conversation, its question
//! and the agent's answer (personal data removed, by `lingxi_knowledge::candidate`) become a
//! candidate FAQ entry for admins to review, unless the knowledge base already answers it (then,
//! at most, a new phrasing of that entry) or an open candidate asks the same (then one more
//! occurrence of that one). Runs in the background after the transition was answered.

use crate::state::AppState;
use lingxi_domain::{ConversationId, TenantId};
use lingxi_knowledge::candidate::{from_conversation, Candidate, Said, Speaker};
use lingxi_knowledge::gaps::{similarity, DEFAULT_SIMILARITY};
use lingxi_knowledge::text::Analyzer;
use lingxi_store::{NewCandidate, StoreError};
use std::sync::{Arc, OnceLock};

/// A question this close to an entry's question or one of its phrasings is already known
/// word for word: not even a new phrasing.
const SAME_PHRASING: f32 = 0.85;
/// Earlier candidates compared with each new one (the most frequent and newest).
const OPEN_WINDOW: i64 = 500;

/// What became of a resolved conversation (logged; returned for tests of the pure parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learnt {
    /// Nothing to learn: no agent answer, a thin exchange, learnt from already, or a question
    /// reviewers accepted or dismissed before.
    Nothing,
    /// The knowledge base answers it with this entry, in these words or nearly.
    Known(String),
    /// A new candidate (`new_entry` or `phrasing`).
    Proposed(String),
    /// One more occurrence of this open candidate.
    SeenAgain(String),
}

/// Learns from a conversation a person just resolved; failures are logged, never surfaced.
pub async fn on_resolved(state: Arc<AppState>, tenant: TenantId, conversation: ConversationId) {
    match learn(&state, &tenant, &conversation).await {
        Ok(outcome) => tracing::debug!(conversation = %conversation, ?outcome, "learnt from a resolved conversation"),
        Err(e) => tracing::warn!(error = %e, conversation = %conversation, "no candidate from a resolved conversation"),
    }
}

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(Analyzer::default)
}

/// One proposal at a time in this process, so two conversations asking the same question at
/// once make one candidate with two occurrences rather than two candidates.
fn one_at_a_time() -> &'static tokio::sync::Mutex<()> {
    static L: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    L.get_or_init(Default::default)
}

async fn learn(state: &AppState, tenant: &TenantId, conv_id: &ConversationId) -> Result<Learnt, StoreError> {
    let conv = state.store.conversation(tenant, conv_id).await?;
    let messages = state.store.messages(tenant, conv_id, 200).await?;
    if !messages.iter().any(|m| m.sender_kind == "agent") {
        return Ok(Learnt::Nothing);
    }
    let customer = state.store.customer(tenant, &conv.customer_id).await?;
    let mut names: Vec<String> = customer.display_name.iter().cloned().collect();
    if let Some(n) = customer.attributes["name"].as_str() {
        names.push(n.to_owned());
    }
    let said: Vec<Said<'_>> = messages
        .iter()
        .filter_map(|m| {
            let speaker = match m.sender_kind.as_str() {
                "customer" => Speaker::Customer,
                "agent" => Speaker::Agent,
                "bot" => Speaker::Bot,
                _ => return None,
            };
            Some(Said { speaker, text: m.content["text"].as_str()? })
        })
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Some(candidate) = from_conversation(&said, &name_refs, &*state.entities.get(&state.store, tenant).await) else {
        return Ok(Learnt::Nothing);
    };
    let _one = one_at_a_time().lock().await;
    // Resolved, reopened and resolved again: the first resolution taught it already.
    if state.store.kb_candidate_source_exists(tenant, conv_id).await? {
        return Ok(Learnt::Nothing);
    }
    let ranked = crate::knowledge::suggest(state, tenant, &candidate.question, Some(candidate.lang), None, 1).await?;
    let now = state.clock.now();
    let known = match (ranked.decision, ranked.suggestions.first()) {
        (crate::knowledge::KbDecision::Answer, Some(hit)) => Some(hit.entry_id.clone()),
        _ => None,
    };
    if let Some(entry_id) = &known {
        if phrased_already(state, tenant, entry_id, &candidate.question).await? {
            return Ok(Learnt::Known(entry_id.clone()));
        }
    }
    let kind = if known.is_some() { "phrasing" } else { "new_entry" };
    // Accepted and dismissed candidates count too: a question decided once is not proposed again.
    let seen = state.store.kb_candidates(tenant, None, OPEN_WINDOW).await?;
    let same = seen
        .iter()
        .filter(|c| c.kind == kind && c.lang == candidate.lang.as_str() && c.entry_id == known)
        .map(|c| (c, similarity(analyzer(), &c.question, &candidate.question)))
        .filter(|(_, s)| *s >= DEFAULT_SIMILARITY)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match same {
        Some((c, _)) if c.status == "open" => {
            state.store.kb_candidate_seen(tenant, &c.id, conv_id, now).await?;
            return Ok(Learnt::SeenAgain(c.id.to_string()));
        }
        Some(_) => return Ok(Learnt::Nothing),
        None => {}
    }
    let Candidate { question, answer, lang } = candidate;
    let new = NewCandidate {
        kind: kind.into(),
        entry_id: known,
        question,
        answer,
        lang: lang.as_str().into(),
        conversation_id: conv_id.clone(),
    };
    let id = state.store.kb_add_candidate(tenant, &new, now).await?;
    Ok(Learnt::Proposed(id.to_string()))
}

/// Whether the entry already has this question (as its question or a phrasing), near enough.
async fn phrased_already(
    state: &AppState,
    tenant: &TenantId,
    entry_id: &str,
    question: &str,
) -> Result<bool, StoreError> {
    // Article passages are indexed as entries but have no FAQ row: nothing to add them to.
    let row = match state.store.kb_entry(tenant, entry_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Ok(true),
        Err(e) => return Err(e),
    };
    let entry = crate::knowledge::from_row(&row)?;
    Ok(std::iter::once(entry.question())
        .chain(entry.similar())
        .any(|q| similarity(analyzer(), q.as_str(), question) >= SAME_PHRASING))
}
