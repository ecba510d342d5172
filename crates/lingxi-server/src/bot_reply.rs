//! The bot's knowledge-base replies as the customer's channel shows them (rendered by
//! `lingxi_engine::render`: buttons on web chat and the app, numbered lines elsewhere), and
//! the options it offered remembered for one message, so that a reply "2", "第二个" or a
//! button's payload picks that option on any channel.

use crate::knowledge::{self, KbDecision};
use crate::state::AppState;
use lingxi_domain::{ChannelKind, CustomerId, TenantId, Timestamp};
use lingxi_engine::render::Draft;
use lingxi_knowledge::model::{ChannelName, Lang};
use lingxi_store::{RatedKind, ReplyAbout, StoreError};
use serde::{Deserialize, Serialize};

/// How long offered options stay pickable.
const OFFER_TTL_SECS: i64 = 30 * 60;

/// One option the bot offered: what picking it sends, and the entry it answers with (a
/// suggested question) or none (an answer's own button, whose payload is asked instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub payload: String,
    pub entry_id: Option<String>,
}

/// Stored in the customer's `bot_pending` slot, beside bot_tools' flow runs and slot questions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Pending {
    Choices { options: Vec<Offer> },
}

/// What the knowledge base says to a message: a reply (an answer, or its best questions as
/// "did you mean"), or nothing when it does not know; how sure it was; the options offered.
pub struct KbReply {
    pub decision: KbDecision,
    pub confidence: f32,
    pub draft: Option<Draft>,
    pub offers: Vec<Offer>,
    /// The entries found, best first (the optional LLM phrases an answer from them).
    pub hits: Vec<knowledge::Suggestion>,
    /// What the reply is, for the customer's rating of it: an answer's entry and the words it
    /// answered (the message, or the option picked); none for "did you mean".
    pub about: Option<ReplyAbout>,
}

impl KbReply {
    /// The reply as "not understood": nothing offered, nothing to rate (the entries found stay,
    /// for the record).
    pub fn not_understood(self) -> Self {
        KbReply { decision: KbDecision::NotUnderstood, draft: None, offers: Vec::new(), about: None, ..self }
    }
}

/// An entry's answer as the bot sends it, and the answer's own buttons as options.
fn answer_of(h: &knowledge::Suggestion) -> (Draft, Vec<Offer>) {
    let d = Draft::answer(&h.reply);
    let offers = d.reply_payloads().into_iter().map(|payload| Offer { payload, entry_id: None }).collect();
    (d, offers)
}

/// "Did you mean" with these entries' questions as the options.
fn did_you_mean(hits: &[knowledge::Suggestion], chinese: bool) -> (Draft, Vec<Offer>) {
    let qs: Vec<String> = hits.iter().map(|h| h.question.clone()).collect();
    let intro = if chinese { "您是想问以下哪个问题？" } else { "Did you mean one of these?" };
    let offers =
        hits.iter().map(|h| Offer { payload: h.question.clone(), entry_id: Some(h.entry_id.clone()) }).collect();
    (Draft::choice(intro, &qs), offers)
}

fn answered(entry_id: &str, asked: &str) -> Option<ReplyAbout> {
    Some(ReplyAbout {
        kind: RatedKind::Answer,
        ref_id: Some(entry_id.to_owned()),
        question: Some(asked.chars().take(500).collect()),
    })
}

pub async fn knowledge_reply(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    vector: knowledge::QueryVector<'_>,
    chinese: bool,
    channel: ChannelKind,
) -> Result<KbReply, StoreError> {
    let lang = if chinese { Lang::Zh } else { Lang::En };
    let knowledge::Ranked { decision, confidence, suggestions: hits, .. } =
        knowledge::suggest_with(state, tenant, text, vector, Some(lang), Some(channel), 3).await?;
    let (draft, offers) = match decision {
        KbDecision::Answer => match hits.first() {
            Some(h) => {
                let (d, offers) = answer_of(h);
                (Some(d), offers)
            }
            None => (None, Vec::new()),
        },
        KbDecision::Suggest => {
            let (d, offers) = did_you_mean(&hits, chinese);
            (Some(d), offers)
        }
        KbDecision::NotUnderstood => (None, Vec::new()),
    };
    let about = match decision {
        KbDecision::Answer => hits.first().and_then(|h| answered(&h.entry_id, text)),
        _ => None,
    };
    Ok(KbReply { decision, confidence, draft, offers, hits, about })
}

/// How many entries each reading of a follow-up ranks: an entry near the top of one reading
/// and just below the top three of the other still gets both confidences.
const FOLLOW_UP_DEPTH: usize = 10;

/// The least score, as a share of the score of the entry that answered the previous message,
/// for another entry to answer a follow-up. "那过了保修期呢" after the warranty answer: the
/// out-of-warranty entry scores 0.83 (lexical) to 0.98 (hybrid) of the warranty entry; "那多久能
/// 收到" after the VAT-invoice answer, whose answer says when it is sent: the runner-up (repair
/// time) scores 0.46 of it in lexical retrieval.
const OTHER_ENTRY_MIN_SHARE: f32 = 0.7;

/// The customer's previous message, which a follow-up is read with, and the entry the bot
/// answered it with (none: a tool's answer, "did you mean", no reply).
pub struct Previous {
    pub text: String,
    pub answered_with: Option<String>,
}

/// A follow-up ("那运费谁出？" after "我要退货", "那过了保修期呢" after "保修多久", a short
/// question the knowledge base does not place alone: "有什么好处" after "怎么成为会员", or one
/// without a topic word: "要多久" after the VAT-invoice answer) read with the customer's
/// previous message (on any channel). Alone it names half a topic: the knowledge base either
/// does not place it or places it on the nearest whole topic (运费 → shipping fees; 保修期 → the
/// warranty answer just given).
///
/// A question without a topic word that asks what the answer just given says (how long, how
/// much, where) gets that part of it again ([`restated`]). Otherwise the entries found for the
/// message alone and for the two messages together are scored by the sum of their two
/// confidences (`FOLLOW_UP_DEPTH` deep each), the entry just given left out (repeating it
/// answers nothing), and the best is the answer when either reading was confident, both found
/// it and it scores at least `OTHER_ENTRY_MIN_SHARE` of the entry left out; failing that, the
/// part of the entry just given that answers the question, if any. A question without a topic
/// word is answered only with one of the three best entries of the two messages together
/// (and no surer alone), and failing everything its own confident guess is replaced by
/// "did you mean" over the entries the two together find ([`offered_instead`]). `None`: not a
/// follow-up, or nothing better than the message alone. Costs two more retrievals, on
/// follow-ups only.
#[allow(clippy::too_many_arguments)]
pub async fn follow_up(
    state: &AppState,
    tenant: &TenantId,
    previous: &Previous,
    text: &str,
    vector: Option<&[f32]>,
    alone: &KbReply,
    chinese: bool,
    channel: ChannelKind,
) -> Result<Option<KbReply>, StoreError> {
    use lingxi_nlu::followup::{is_elliptical, is_follow_up, is_topicless};
    // A short question ("有什么好处") is a follow-up only when it means nothing alone: "保修多久"
    // is as short. One without a topic word ("要多久") always is: alone it is a guess.
    let topicless = is_topicless(text);
    let follows = is_follow_up(text) || topicless || (is_elliptical(text) && alone.decision != KbDecision::Answer);
    if !follows || previous.text.trim().is_empty() {
        return Ok(None);
    }
    let lang = if chinese { Lang::Zh } else { Lang::En };
    let given = previous.answered_with.as_deref();
    let restate = || restated(state, tenant, given, text, lang, channel);
    if topicless {
        if let Some(reply) = restate().await? {
            return Ok(Some(reply));
        }
    }
    let depth = FOLLOW_UP_DEPTH;
    let together = format!("{} {text}", previous.text);
    let encode = knowledge::QueryVector::Encode;
    let together = knowledge::suggest_with(state, tenant, &together, encode, Some(lang), Some(channel), depth).await?;
    // Failing an answer, a topicless follow-up's own confident guess is no reply either: the
    // entries found for the two messages together are offered instead.
    let guessed = topicless && alone.decision == KbDecision::Answer;
    let fallback = |restated: Option<KbReply>| {
        Ok(restated.or_else(|| guessed.then(|| offered_instead(&together, given, chinese)).flatten()))
    };
    if alone.decision != KbDecision::Answer && together.decision != KbDecision::Answer {
        return fallback(restate().await?);
    }
    let own = knowledge::QueryVector::Given(vector);
    let deep = knowledge::suggest_with(state, tenant, text, own, Some(lang), Some(channel), depth).await?;
    let mut scored: Vec<(f32, &knowledge::Suggestion)> = Vec::new();
    let mut repeated = 0.0f32;
    for h in deep.suggestions.iter().chain(&together.suggestions) {
        if Some(h.entry_id.as_str()) == given {
            repeated += h.confidence;
            continue;
        }
        match scored.iter_mut().find(|(_, s)| s.entry_id == h.entry_id) {
            Some((score, _)) => *score += h.confidence,
            None => scored.push((h.confidence, h)),
        }
    }
    // Without a topic word the message alone is a guess ("how much is it?" alone: the shipping
    // fee), so the entry must be one of the three best of the two read together (after the
    // one given), and no surer alone than read with the message it follows: the shipping fee
    // is the guess's best, and read after the warranty answer it is less sure.
    let conf =
        |r: &knowledge::Ranked, id: &str| r.suggestions.iter().find(|h| h.entry_id == id).map_or(0.0, |h| h.confidence);
    let near: Vec<&str> = match topicless {
        true => together
            .suggestions
            .iter()
            .map(|h| h.entry_id.as_str())
            .filter(|id| Some(*id) != given)
            .take(3)
            .filter(|id| conf(&together, id) >= conf(&deep, id))
            .collect(),
        false => Vec::new(),
    };
    let chosen = scored
        .iter()
        .filter(|(_, s)| !topicless || near.contains(&s.entry_id.as_str()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(score, best)) = chosen else { return fallback(restate().await?) };
    // Far below the entry just given, the next one is no answer either: the follow-up asks what
    // that entry says, and the part of it that answers the question (if any) is the reply.
    if score < OTHER_ENTRY_MIN_SHARE * repeated {
        return fallback(restate().await?);
    }
    // Found by the two-message reading only, it answers the previous message's topic, not
    // this question; found by the message alone only, it ignores what the message follows.
    let found_by = |r: &knowledge::Ranked| r.suggestions.iter().any(|h| h.entry_id == best.entry_id);
    if !found_by(&deep) || !found_by(&together) {
        return fallback(restate().await?);
    }
    if alone.decision == KbDecision::Answer && alone.hits.first().is_some_and(|h| h.entry_id == best.entry_id) {
        return Ok(None);
    }
    let (d, offers) = answer_of(best);
    let hits: Vec<knowledge::Suggestion> = std::iter::once(best.clone())
        .chain(alone.hits.iter().filter(|h| h.entry_id != best.entry_id).cloned())
        .collect();
    Ok(Some(KbReply {
        decision: KbDecision::Answer,
        confidence: best.confidence,
        draft: Some(d),
        offers,
        about: answered(&best.entry_id, text),
        hits,
    }))
}

/// "Did you mean" over the entries found for a follow-up read with the message it follows,
/// the entry just given left out.
fn offered_instead(together: &knowledge::Ranked, given: Option<&str>, chinese: bool) -> Option<KbReply> {
    let hits: Vec<knowledge::Suggestion> =
        together.suggestions.iter().filter(|h| Some(h.entry_id.as_str()) != given).take(3).cloned().collect();
    let confidence = hits.first()?.confidence;
    let (d, offers) = did_you_mean(&hits, chinese);
    Some(KbReply { decision: KbDecision::Suggest, confidence, draft: Some(d), offers, about: None, hits })
}

/// The part of the entry just given (`given`) that answers a follow-up asking how long, how
/// much or where (`lingxi_nlu::restate`), named by its question: "要多久" after the
/// VAT-invoice answer gets "关于“可以开增值税专用发票吗？”：审核通过后 5 个工作日内寄出。".
/// `None` when the question asks none of these, the entry is gone, or its answer does not say
/// it (or says nothing else).
async fn restated(
    state: &AppState,
    tenant: &TenantId,
    given: Option<&str>,
    text: &str,
    lang: Lang,
    channel: ChannelKind,
) -> Result<Option<KbReply>, StoreError> {
    use lingxi_nlu::restate::{asks_for, clauses_answering};
    let (Some(id), Some(asked)) = (given, asks_for(text)) else { return Ok(None) };
    let index = state.knowledge.index(&state.store, &state.semantic, tenant).await?;
    let now = state.clock.now().millis();
    let Some(entry) = index.live_entry(id, now) else { return Ok(None) };
    let channel_name = ChannelName::parse(channel.as_str()).ok();
    let reply = entry.answer_for(channel_name.as_ref(), Some(lang)).clone();
    let Some(said) = clauses_answering(reply.text(), asked) else { return Ok(None) };
    // Named by its question: the answer may have been given on another channel, or a while ago.
    let question = entry.question().as_str().to_owned();
    let said = match lang {
        Lang::Zh => format!("关于“{question}”：{said}"),
        Lang::En => format!("About \"{question}\": {said}"),
    };
    let hit = knowledge::Suggestion {
        entry_id: id.to_owned(),
        question,
        answer: reply.text().to_owned(),
        reply,
        confidence: 1.0,
    };
    Ok(Some(KbReply {
        decision: KbDecision::Answer,
        confidence: 1.0,
        draft: Some(Draft::text(said)),
        offers: Vec::new(),
        about: answered(id, text),
        hits: vec![hit],
    }))
}

/// Remembers the options of a reply for the customer's next message (replacing nothing else:
/// the caller offers only when no flow or slot question is waiting).
pub async fn remember(
    state: &AppState,
    tenant: &TenantId,
    customer: &CustomerId,
    offers: Vec<Offer>,
    now: Timestamp,
) -> Result<(), StoreError> {
    if offers.is_empty() {
        return Ok(());
    }
    let p = serde_json::to_string(&Pending::Choices { options: offers }).unwrap_or_default();
    state.store.set_bot_pending(tenant, customer, Some(&p), now).await
}

/// The option a message picks: its number ("2", "2."), its ordinal ("第二个"), or its payload.
pub fn pick<'a>(text: &str, options: &'a [Offer]) -> Option<&'a Offer> {
    let t = text.trim().trim_end_matches(['.', '。', '、']).trim();
    if let Some(o) = options.iter().find(|o| o.payload.trim().eq_ignore_ascii_case(t)) {
        return Some(o);
    }
    const ORDINALS: [&str; 10] = ["第一", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九", "第十"];
    let n = t.parse::<usize>().ok().or_else(|| ORDINALS.iter().position(|o| t.starts_with(o)).map(|i| i + 1))?;
    options.get(n.checked_sub(1)?)
}

/// Reads (and clears: offers last one message) the options offered to this customer; when
/// the message picks one, the reply to it: the suggested entry's answer for this channel and
/// language, or what the knowledge base says to the picked button's payload.
pub async fn picked(
    state: &AppState,
    tenant: &TenantId,
    customer: &CustomerId,
    text: &str,
    chinese: bool,
    channel: ChannelKind,
    now: Timestamp,
) -> Result<Option<KbReply>, StoreError> {
    let Some((raw, at)) = state.store.bot_pending_at(tenant, customer).await? else { return Ok(None) };
    let Ok(Pending::Choices { options }) = serde_json::from_str::<Pending>(&raw) else { return Ok(None) };
    state.store.set_bot_pending(tenant, customer, None, now).await?;
    if now.since(at) > OFFER_TTL_SECS * 1000 {
        return Ok(None);
    }
    let Some(offer) = pick(text, &options) else { return Ok(None) };
    let Some(entry_id) = &offer.entry_id else {
        return knowledge_reply(state, tenant, &offer.payload, knowledge::QueryVector::Encode, chinese, channel)
            .await
            .map(Some);
    };
    let index = state.knowledge.index(&state.store, &state.semantic, tenant).await?;
    let lang = if chinese { Lang::Zh } else { Lang::En };
    let channel_name = ChannelName::parse(channel.as_str()).ok();
    let entry = index.live_entry(entry_id, now.millis());
    Ok(entry.map(|e| {
        let d = Draft::answer(e.answer_for(channel_name.as_ref(), Some(lang)));
        let offers = d.reply_payloads().into_iter().map(|payload| Offer { payload, entry_id: None }).collect();
        let about = answered(e.id().as_str(), &offer.payload);
        KbReply { decision: KbDecision::Answer, confidence: 1.0, draft: Some(d), offers, hits: Vec::new(), about }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_an_ordinal_or_the_payload_picks() {
        let offers: Vec<Offer> = ["退款多久到账？", "怎么开发票？", "How do I return an item?"]
            .iter()
            .map(|q| Offer { payload: (*q).into(), entry_id: Some((*q).into()) })
            .collect();
        assert_eq!(pick("2", &offers), Some(&offers[1]));
        assert_eq!(pick(" 3. ", &offers), Some(&offers[2]));
        assert_eq!(pick("第一个", &offers), Some(&offers[0]));
        assert_eq!(pick("怎么开发票？", &offers), Some(&offers[1]));
        assert_eq!(pick("how do i return an item?", &offers), Some(&offers[2]));
        assert_eq!(pick("4", &offers), None);
        assert_eq!(pick("0", &offers), None);
        assert_eq!(pick("我想问别的", &offers), None);
    }
}
