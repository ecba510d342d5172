//! Two questions in one message ("我要退货，顺便问下发票怎么开"): the intent model reports the
//! second intent of another clause; here each clause is asked of the knowledge base on its own,
//! so that the bot turn answers both (docs/knowledge.md, "Two questions in one message").

use crate::bot_reply::{knowledge_reply, KbReply};
use crate::knowledge::{self, KbDecision};
use crate::state::AppState;
use lingxi_domain::{ChannelKind, TenantId};
use lingxi_store::StoreError;

/// A message's clauses with the intent each reads as on its own (read once per turn), and
/// what asking the knowledge base about one of them needs.
pub struct Clauses<'a> {
    state: &'a AppState,
    tenant: &'a TenantId,
    chinese: bool,
    channel: ChannelKind,
    clauses: Vec<(&'a str, Option<String>)>,
}

impl<'a> Clauses<'a> {
    /// `intent_of` reads one clause (the turn's intent model, lexically: cheap).
    pub fn new(
        state: &'a AppState,
        tenant: &'a TenantId,
        text: &'a str,
        intent_of: impl Fn(&str) -> Option<String>,
        chinese: bool,
        channel: ChannelKind,
    ) -> Self {
        let split = lingxi_nlu::intent::split_clauses(text);
        // One clause is the whole message: nothing to answer apart.
        let clauses = if split.len() < 2 { Vec::new() } else { split.into_iter().map(|c| (c, intent_of(c))).collect() };
        Clauses { state, tenant, chinese, channel, clauses }
    }

    /// The clause read as `intent`.
    fn of(&self, intent: &str) -> Option<&'a str> {
        self.clauses.iter().find(|(_, i)| i.as_deref() == Some(intent)).map(|(c, _)| *c)
    }

    async fn ask(&self, clause: &str) -> Result<KbReply, StoreError> {
        let vector = knowledge::QueryVector::Encode;
        knowledge_reply(self.state, self.tenant, clause, vector, self.chinese, self.channel).await
    }

    /// For a message read as two questions (`intents`: the top one, then the second) that the
    /// knowledge base could not answer as a whole ("我要退货，顺便问下发票怎么开" matches no one
    /// entry well): the reply to the first of their clauses it answers on its own, and which
    /// intent that was (0 or 1).
    pub async fn reply(&self, intents: [&str; 2]) -> Result<Option<(KbReply, usize)>, StoreError> {
        for (i, intent) in intents.into_iter().enumerate() {
            let Some(clause) = self.of(intent) else { continue };
            let reply = self.ask(clause).await?;
            if reply.decision == KbDecision::Answer {
                return Ok(Some((reply, i)));
            }
        }
        Ok(None)
    }

    /// The answer to the other question of a message that asks two ("我想换货，还有保修期多久"):
    /// the clauses of `intents`, in order, are asked on their own, and the first confident
    /// answer from another entry than `answered` (the main reply's) comes back as text,
    /// introduced by its clause so the customer sees which question it answers: "另外，关于…："
    /// after the main reply (`after`), "关于…：" before it. Plain text: the main reply keeps
    /// any buttons.
    pub async fn other_answer(
        &self,
        intents: &[&str],
        answered: Option<&str>,
        after: bool,
    ) -> Result<Option<String>, StoreError> {
        for clause in intents.iter().filter_map(|i| self.of(i)) {
            let reply = self.ask(clause).await?;
            let Some(hit) = reply.hits.first().filter(|_| reply.decision == KbDecision::Answer) else { continue };
            if answered == Some(hit.entry_id.as_str()) {
                continue;
            }
            let clause = clause.trim();
            return Ok(Some(match (self.chinese, after) {
                (true, true) => format!("另外，关于“{clause}”：{}", hit.answer),
                (true, false) => format!("关于“{clause}”：{}", hit.answer),
                (false, true) => format!("As for \"{clause}\": {}", hit.answer),
                (false, false) => format!("About \"{clause}\": {}", hit.answer),
            }));
        }
        Ok(None)
    }
}
