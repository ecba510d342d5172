//! Two questions in one message ("我要退货，顺便问下发票怎么开"): the intent model reports the
//! second intent of another clause; here each clause is asked of the knowledge base on its own,
//! so that the bot turn answers both (docs/knowledge.md, "Two questions in one message").

use crate::bot_reply::{knowledge_reply, KbReply};
use crate::knowledge::{self, KbDecision};
use crate::state::AppState;
use lingxi_domain::{ChannelKind, TenantId};
use lingxi_store::StoreError;

/// The clause of a message that asks several things which `intent_of` reads as `intent`.
fn clause_of<'t>(text: &'t str, intent: &str, intent_of: &impl Fn(&str) -> Option<String>) -> Option<&'t str> {
    let clauses = lingxi_nlu::intent::split_clauses(text);
    if clauses.len() < 2 {
        return None;
    }
    clauses.into_iter().find(|c| intent_of(c).as_deref() == Some(intent))
}

/// For a message read as two questions (`intents`: the top one, then the second) that the
/// knowledge base could not answer as a whole ("我要退货，顺便问下发票怎么开" matches no one
/// entry well): the reply to the first of their clauses it answers on its own, and which
/// intent that was (0 or 1).
pub async fn clause_reply(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    intents: [&str; 2],
    intent_of: impl Fn(&str) -> Option<String>,
    chinese: bool,
    channel: ChannelKind,
) -> Result<Option<(KbReply, usize)>, StoreError> {
    for (i, intent) in intents.into_iter().enumerate() {
        let Some(clause) = clause_of(text, intent, &intent_of) else { continue };
        let reply = knowledge_reply(state, tenant, clause, knowledge::QueryVector::Encode, chinese, channel).await?;
        if reply.decision == KbDecision::Answer {
            return Ok(Some((reply, i)));
        }
    }
    Ok(None)
}

/// The answer to the other question of a message that asks two ("我想换货，还有保修期多久"):
/// the clauses `intents` were read in (`intent_of` reads one clause), in order, are asked of
/// the knowledge base on their own, and the first confident answer from another entry than
/// `answered` (the main reply's) comes back as text, introduced by its clause so the customer
/// sees which question it answers: "另外，关于…：" after the main reply (`after`), "关于…："
/// before it. Plain text: the main reply keeps any buttons.
#[allow(clippy::too_many_arguments)]
pub async fn second_answer(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    intents: &[&str],
    intent_of: impl Fn(&str) -> Option<String>,
    answered: Option<&str>,
    after: bool,
    chinese: bool,
    channel: ChannelKind,
) -> Result<Option<String>, StoreError> {
    for intent in intents {
        let Some(clause) = clause_of(text, intent, &intent_of) else { continue };
        if let Some(more) = clause_answer(state, tenant, clause, answered, after, chinese, channel).await? {
            return Ok(Some(more));
        }
    }
    Ok(None)
}

async fn clause_answer(
    state: &AppState,
    tenant: &TenantId,
    clause: &str,
    answered: Option<&str>,
    after: bool,
    chinese: bool,
    channel: ChannelKind,
) -> Result<Option<String>, StoreError> {
    let reply = knowledge_reply(state, tenant, clause, knowledge::QueryVector::Encode, chinese, channel).await?;
    let Some(hit) = reply.hits.first().filter(|_| reply.decision == KbDecision::Answer) else {
        return Ok(None);
    };
    if answered == Some(hit.entry_id.as_str()) {
        return Ok(None);
    }
    let clause = clause.trim();
    Ok(Some(match (chinese, after) {
        (true, true) => format!("另外，关于“{clause}”：{}", hit.answer),
        (true, false) => format!("关于“{clause}”：{}", hit.answer),
        (false, true) => format!("As for \"{clause}\": {}", hit.answer),
        (false, false) => format!("About \"{clause}\": {}", hit.answer),
    }))
}
