//! The AI first line, after the message is durable: understand (normalise, language, intent,
//! entities, sentiment over the conversation), decide with the tenant's hand-off policy, then
//! answer or hand over with a summary. Turns are written in batches through one writer task,
//! like inbound messages, so the bot never costs an fsync per message.
//!
//! The bot speaks only while the conversation is in the bot state: the store re-checks that
//! inside the write, so a person taking over in the meantime silences it.

use crate::bot_reply::{self, KbReply};
use crate::knowledge::{self, KbDecision, QueryVector::Given};
use crate::state::AppState;
use lingxi_domain::{
    ChannelKind, Content, ConversationId, ConversationState, CustomerId, MessageId, TenantId, Timestamp,
};
use lingxi_engine::handoff::{decide, BotDecision, HandoffPolicy, HandoffReason, RuleContext, Turn};
use lingxi_engine::render::{render as render_for, Capabilities, Draft};
use lingxi_engine::summary::{parts as summary_parts, render, SummaryInput, TurnNote};
use lingxi_nlu::entities::{mask, EntityKind, EntityValue, Now};
use lingxi_nlu::intent::{default_model, DefaultLanguage};
use lingxi_nlu::language::Language;
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::sentiment::{analyze, SentimentTrend};
use lingxi_store::{BotTurn, NewGap, RatedKind, ReplyAbout, StoreError, Understood};
use serde_json::json;
use std::sync::Arc;

/// The default normaliser (tenants with a vocabulary of their own have theirs in `state.entities`).
pub(crate) fn normalizer() -> &'static Normalizer {
    crate::tenant_entities::default_normalizer()
}

/// Loads the models before the first customer arrives (training the default intents takes a
/// fraction of a second, but not on a customer's time).
pub fn warm_up() {
    let _ = normalizer().normalize("你好");
    let _ = crate::tenant_entities::default_extractor();
    let _ = default_model(DefaultLanguage::Chinese);
    let _ = default_model(DefaultLanguage::English);
    let _ = analyze("好");
    let _ = knowledge::build_index(Vec::new(), None);
}

pub(crate) fn is_chinese(lang: Language, text: &str) -> bool {
    match lang {
        Language::Chinese | Language::Mixed => true,
        Language::English => false,
        Language::Unknown => text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
    }
}

/// How far back a restarted server looks for customer messages the bot never answered (the
/// process stopped after storing and acknowledging them, before the bot's turn): older ones
/// were probably abandoned, and an answer hours late would confuse more than help.
const UNANSWERED_WINDOW_MS: i64 = 15 * 60 * 1000;
/// The wait before looking: a turn another node is taking right now has time to land.
const UNANSWERED_SETTLE: std::time::Duration = std::time::Duration::from_secs(3);
const UNANSWERED_MAX: i64 = 1000;

/// At start: takes the bot's turn for every conversation the bot owns whose last message is a
/// customer's text from the window before this process started (nothing is lost to a restart).
pub async fn answer_the_unanswered(state: Arc<AppState>) {
    let started = state.clock.now();
    tokio::time::sleep(UNANSWERED_SETTLE).await;
    if state.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let from = Timestamp::from_millis(started.millis() - UNANSWERED_WINDOW_MS);
    let waiting = match state.store.awaiting_bot(from, started, UNANSWERED_MAX).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for unanswered customer messages");
            return;
        }
    };
    if !waiting.is_empty() {
        tracing::info!(conversations = waiting.len(), "answering customer messages the last run left unanswered");
    }
    for (tenant, conv) in waiting {
        let turn = state.bot.begin_turn();
        on_customer_message(state.clone(), tenant, conv.id, conv.channel_kind, turn).await;
    }
}

/// Understands the customer's latest message in its conversation and queues the bot's turn.
/// `_computing` (from [`crate::bot_queue::BotQueue::begin_turn`], taken before the task is
/// spawned) lets a stopping server wait for the turn.
pub async fn on_customer_message(
    state: Arc<AppState>,
    tenant: TenantId,
    conversation: ConversationId,
    channel: ChannelKind,
    _computing: crate::bot_queue::TurnGuard,
) {
    if let Err(e) = turn(&state, &tenant, &conversation, channel).await {
        tracing::warn!(error = %e, conversation = %conversation, "bot turn failed");
    }
}

async fn turn(
    state: &AppState,
    tenant: &TenantId,
    conv_id: &ConversationId,
    channel: ChannelKind,
) -> Result<(), StoreError> {
    let conv = state.store.conversation(tenant, conv_id).await?;
    if conv.state != ConversationState::Bot {
        return Ok(());
    }
    let messages = state.store.messages(tenant, conv_id, 40).await?;
    let customer_msgs: Vec<_> =
        messages.iter().filter(|m| m.sender_kind == "customer" && m.content["text"].is_string()).collect();
    let customer_texts: Vec<String> =
        customer_msgs.iter().filter_map(|m| m.content["text"].as_str().map(str::to_owned)).collect();
    let bot_replies: Vec<String> = messages
        .iter()
        .filter(|m| m.sender_kind == "bot")
        .filter_map(|m| m.content["text"].as_str().map(str::to_owned))
        .collect();

    // Normalise every customer message once (typo repair knows the tenant's vocabulary);
    // sentiment, the summary and entities all read it.
    let kit = state.entities.built(&state.store, tenant).await;
    let normalized_all: Vec<_> = customer_texts.iter().map(|t| kit.normalizer.normalize(t)).collect();
    let Some(normalized) = normalized_all.last() else { return Ok(()) };
    // A bare order number or "2" says nothing about the language: keep the conversation's
    // (its latest customer message that had words).
    let bare =
        |t: &str| !t.trim().contains(char::is_whitespace) && !t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let chinese = match normalized_all.iter().rev().skip(1).find(|n| !bare(&n.text)) {
        Some(prev) if bare(&normalized.text) => is_chinese(prev.language, &prev.text),
        _ => is_chinese(normalized.language, &normalized.text),
    };
    // The tenant's own intent model when it trained one, else the defaults for the language.
    let own_model = state.intent_models.active(&state.store, tenant).await;
    let engine = state.fused_intents.engine(&state.semantic, &state.store, tenant, &own_model, chinese);
    // One vector per message, for the fused intent model and the hybrid knowledge index alike:
    // the message is never encoded twice. `None` (no encoder, busy or slow): lexical for both.
    let wants_vector =
        engine.fused.is_some() || state.knowledge.index(&state.store, &state.semantic, tenant).await?.has_vectors();
    let vector = if wants_vector { state.semantic.encode_query(&normalized.text).await } else { None };
    let (mut intent, _) = engine.classify(&normalized.text, vector.as_deref());
    // Small talk must be unmistakable (real greetings score ~1.0): "你们在招聘兼职客服吗" leans
    // to "greeting" only because it says 客服, and small talk is never logged as a gap.
    if intent
        .top
        .as_ref()
        .is_some_and(|t| is_small_talk(Some(t.intent.as_str())) && t.confidence < SMALL_TALK_MIN_CONFIDENCE)
    {
        intent.top = None;
        intent.out_of_scope = true;
    }
    // "好的", "客服在吗", "你是机器人吗": small talk by word list, whatever the model made of the
    // words; such a message asks nothing the knowledge base answers.
    let chat = lingxi_nlu::smalltalk::small_talk(&normalized.text);
    if let Some(kind) = chat {
        let read = lingxi_nlu::intent::IntentMatch { intent: kind.intent().into(), confidence: 1.0 };
        intent.best_guess = read.clone();
        intent.top = Some(read);
        intent.second = None;
        intent.out_of_scope = false;
    }
    // Kept on the message, so a later hand-off summary lists this turn as it was read now.
    let read_intent = intent.top.as_ref().map_or(String::new(), |t| t.intent.clone());
    let read_turn = customer_msgs.last().map(|m| Understood::new(m.id.clone(), read_intent.clone()));
    let mut turn_intents: Vec<Option<String>> = customer_msgs.iter().map(|m| m.intent.clone()).collect();
    if let Some(last) = turn_intents.last_mut() {
        *last = Some(read_intent);
    }
    let now = state.clock.now();
    // The customer's previous message, on any channel, when this one reads as a follow-up to it
    // ("那运费谁出？" after "我要退货", "有什么好处" after "怎么成为会员"): the tools and the
    // knowledge path read the two together.
    let may_follow = |t: &str| lingxi_nlu::followup::is_follow_up(t) || lingxi_nlu::followup::is_elliptical(t);
    let follows = match may_follow(&normalized.text) {
        true => previous_message(state, tenant, &conv.customer_id, customer_msgs.last().map(|m| &m.id), now)
            .await?
            .map(|p| bot_reply::Previous { text: kit.normalizer.normalize(&p.text).text, ..p }),
        false => None,
    };
    let tenant_extractor = kit.extractor;
    let entities = tenant_extractor.extract(&normalized.text, Now::china(now.millis() / 1000));
    let amounts: Vec<i64> = entities
        .iter()
        .filter_map(|e| match &e.value {
            EntityValue::Amount(m) => Some(m.minor_units),
            _ => None,
        })
        .collect();
    let sentiments: Vec<_> = normalized_all.iter().map(|n| feeling(&n.text)).collect();
    let trend = SentimentTrend::from_results(&sentiments);
    let customer = state.store.customer(tenant, &conv.customer_id).await?;
    let vip = customer.tags.iter().any(|t| t.eq_ignore_ascii_case("vip")) || customer.attributes["vip"] == json!(true);
    // Per-tenant settings are keyed by slug: read it only when some tenant has its own.
    let cfg = &state.config;
    let slug = if cfg.handoff.tenants.is_empty()
        && cfg.routing.tenant_business_hours.is_empty()
        && !cfg.llm.has_tenant_settings()
    {
        None
    } else {
        Some(state.store.tenant(tenant).await?.slug)
    };
    let policy: &HandoffPolicy = cfg.handoff.for_slug(slug.as_deref());
    let attributes: Vec<(String, String)> = match &customer.attributes {
        serde_json::Value::Object(m) => {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
        }
        _ => Vec::new(),
    };
    let in_business_hours =
        cfg.routing.hours_for(slug.as_deref().unwrap_or("")).is_none_or(|h| h.is_open(now.millis()));
    let rules =
        RuleContext { channel: channel.as_str(), tags: &customer.tags, attributes: &attributes, in_business_hours };
    // Flows and business-data tools come first, unless the hand-off policy already wants a
    // person (asked for one, angry, risky): that is never delayed by a flow.
    let policy_first = decide(
        policy,
        &Turn {
            text: &normalized.text,
            intent: &intent,
            sentiment: &trend,
            amounts_minor: &amounts,
            vip,
            failures_before: 0,
            understood: true,
            context: rules.clone(),
        },
    );
    // A topic or a "person" intent read from words alone (扫地机器人 looks like "not a robot")
    // lets a flow or a pending question go first; it still hands over if they pass.
    let explicit = policy.human_request_phrases.iter().any(|p| normalized.text.contains(p.as_str()));
    let soft = match &policy_first {
        BotDecision::Continue { .. } => Some(false),
        BotDecision::HandOff { reason: HandoffReason::CustomerRequest, .. } if !explicit => Some(true),
        BotDecision::HandOff { reason: HandoffReason::PriorityTopic(_), .. } => Some(true),
        BotDecision::HandOff { .. } => None,
    };
    // Options the bot offered last time ("did you mean", an answer's buttons) are picked by
    // number or payload before anything else reads the message; unpicked, they lapse.
    let caps = Capabilities::of(channel);
    let raw_text = customer_texts.last().map_or("", String::as_str);
    let picked = bot_reply::picked(state, tenant, &conv.customer_id, raw_text, chinese, channel, now).await?;
    if let (Some(_), Some(KbReply { draft: Some(draft), offers, about, .. })) = (soft, picked) {
        bot_reply::remember(state, tenant, &conv.customer_id, offers, now).await?;
        state
            .bot
            .submit(BotTurn {
                tenant_id: tenant.clone(),
                conversation_id: conv_id.clone(),
                last_intent: intent.top.as_ref().map(|m| m.intent.clone()),
                sentiment: trend.last.as_ref().map_or(0.0, |s| f64::from(s.score)),
                failures: 0,
                reply: render_for(&draft, caps, chinese),
                handoff: None,
                handoff_details: None,
                at: later(now),
                about,
                understood: read_turn.clone(),
            })
            .await;
        return Ok(());
    }
    // A message asking two things: its clauses read once, for whichever path answers it.
    let clauses = intent.second.as_ref().map(|_| {
        let intent_of = |c: &str| engine.classify(c, None).0.top.map(|m| m.intent);
        crate::two_questions::Clauses::new(state, tenant, &normalized.text, intent_of, chinese, channel)
    });
    // The knowledge base's reply to the whole message, computed once for whichever path asks
    // first (a tool's check, a lookup that found nothing, the knowledge path below).
    let kb_once = tokio::sync::OnceCell::new();
    let ask_kb =
        || bot_reply::knowledge_reply(state, tenant, &normalized.text, Given(vector.as_deref()), chinese, channel);
    if let Some(soft_handoff) = soft {
        let input = crate::bot_tools::TurnInput {
            tenant,
            customer: &customer,
            text: &normalized.text,
            intent: intent.top.as_ref().map(|m| m.intent.as_str()),
            entities: &entities,
            chinese,
            now,
            soft_handoff,
            vector: vector.as_deref(),
            channel,
            knowledge: &kb_once,
            follows: follows.as_ref().map(|p| p.text.as_str()),
        };
        let mut took = crate::bot_tools::handle(state, &input).await;
        // A lookup by the customer's identity that found nothing ("会员怎么升级" read as a
        // points lookup) is no answer; where the knowledge base answers the message with
        // confidence, its answer goes instead (the knowledge path below).
        if let Ok(Some(tt)) = &took {
            if lookup_found_nothing(tt, &entities)
                && kb_once.get_or_try_init(ask_kb).await?.decision == KbDecision::Answer
            {
                took = Ok(None);
            }
        }
        match took {
            Ok(Some(mut tt)) => {
                // A tool's answer may be phrased like a knowledge-base answer, with the tool's
                // result as the source; never a hand-off turn (soft ones included), a question
                // back, a failure or a flow.
                let llm = cfg.llm.for_slug(slug.as_deref()).filter(|_| !soft_handoff && tt.handoff.is_none());
                if let (Some(ep), Some(source), [_]) = (llm, tt.source.clone(), tt.replies.as_slice()) {
                    let names: Vec<String> = customer.display_name.iter().cloned().collect();
                    if let Some(text) =
                        crate::llm::tool_answer(state, tenant, ep, &normalized.text, &names, source, chinese).await
                    {
                        tt.replies = vec![Draft::text(text)];
                    }
                }
                // A tool's reply to one question of two: the other's answer goes with it when the
                // knowledge base knows it ("退款多久到账？另外会员积分怎么查"), after an answer,
                // before anything else (a question back stays the last thing said).
                if let (Some(second), Some(clauses), Some(_), None) =
                    (intent.second.as_ref(), &clauses, &tt.tool, &tt.handoff)
                {
                    let after = tt.answered;
                    let more = clauses.other_answer(&[second.intent.as_str()], None, after).await?;
                    match (more, after) {
                        (Some(more), true) => {
                            if let Some(last) = tt.replies.last_mut() {
                                last.text = format!("{}\n\n{more}", last.text);
                            }
                        }
                        (Some(more), false) => tt.replies.insert(0, Draft::text(more)),
                        (None, _) => {}
                    }
                }
                let ctx = HandoffContext {
                    state,
                    tenant,
                    conv_id,
                    channel,
                    customer: &customer,
                    customer_texts: &customer_texts,
                    turn_intents: &turn_intents,
                    understood: read_turn.clone(),
                    normalized_all: &normalized_all,
                    sentiments: &sentiments,
                    bot_replies,
                    chinese,
                    own_model: &own_model,
                    now,
                };
                return submit_tool_turn(&ctx, tt, &trend, intent.top.as_ref().map(|m| m.intent.clone())).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "flows and tools skipped this turn"),
        }
    }
    let mut kb_reply = match kb_once.into_inner() {
        Some(kb) => kb,
        None => ask_kb().await?,
    };
    // A follow-up ("那运费谁出？", "那过了保修期呢") read with the customer's previous message,
    // in this conversation or on another channel, when that was recent.
    if let (None, Some(previous)) = (chat, follows.as_ref()) {
        let text = &normalized.text;
        let v = vector.as_deref();
        if let Some(reply) = bot_reply::follow_up(state, tenant, previous, text, v, &kb_reply, chinese, channel).await?
        {
            kb_reply = reply;
        }
    }
    // Two questions in one message that no one entry answers as a whole: answer a clause (the
    // top intent's, else the second's); the other clause may follow it (below).
    // The intents whose clauses may still need an answer after the main one.
    let mut left: Vec<&str> = intent.top.iter().chain(&intent.second).map(|m| m.intent.as_str()).collect();
    if let (KbDecision::Suggest | KbDecision::NotUnderstood, Some(top), Some(second), Some(clauses)) =
        (&kb_reply.decision, intent.top.as_ref(), intent.second.as_ref(), &clauses)
    {
        if let Some((reply, which)) = clauses.reply([top.intent.as_str(), second.intent.as_str()]).await? {
            kb_reply = reply;
            // The clause answered and any before it are done.
            left.drain(..=which);
        }
    }
    // Small talk the model is sure of ("谢谢", "你好") gets its own reply: a knowledge base that
    // half matches the words offered unrelated questions ("谢谢" → 我要投诉, 发错货了) and
    // logged a gap that is none. A confident answer still wins after a greeting, which often
    // opens a question, but not after thanks with nothing else in it or small talk read by word
    // list (lexical retrieval answered "got it" with the entry for a parcel not received, and
    // "客服在吗" with the one for 转人工, which promises a transfer).
    let top_intent = intent.top.as_ref().map(|m| m.intent.as_str());
    let closing = chat.is_some() || (top_intent == Some("thanks") && intent.second.is_none());
    if is_small_talk(top_intent) && (kb_reply.decision == KbDecision::Suggest || closing) {
        kb_reply = kb_reply.not_understood();
    }
    let KbReply { decision: kb_decision, confidence: kb_confidence, draft: kb, offers, hits, mut about } = kb_reply;
    // A rating of the answer refers to the customer's own words (a gap shows them), not the
    // normalised text the knowledge base was asked.
    if let (Some(a), Some(raw)) = (about.as_mut(), customer_texts.last()) {
        a.question = Some(raw.chars().take(500).collect());
    }
    // Knowing the topic is not helping: without an answer only small talk and requests the bot
    // acts on count as understood, so unanswered questions lead to a person, not in circles.
    let understood = kb.is_some()
        || (!intent.out_of_scope && helps_without_knowledge(intent.top.as_ref().map(|m| m.intent.as_str())));
    let decision = decide(
        policy,
        &Turn {
            text: &normalized.text,
            intent: &intent,
            sentiment: &trend,
            amounts_minor: &amounts,
            vip,
            failures_before: conv.bot_failures.max(0) as u32,
            understood,
            context: rules,
        },
    );
    let last_intent = intent.top.as_ref().map(|m| m.intent.clone());
    let small_talk = is_small_talk(last_intent.as_deref());
    let sentiment = trend.last.as_ref().map_or(0.0, |s| f64::from(s.score));
    // Only a confident answer the policy lets the bot give may be phrased by the model: it
    // never sees a hand-off, a "did you mean" or a question nothing was found for (that is
    // its refusal: it is not asked at all).
    let kb = match (&decision, &kb_decision, cfg.llm.for_slug(slug.as_deref())) {
        (BotDecision::Continue { .. }, KbDecision::Answer, Some(ep)) => {
            let names: Vec<String> = customer.display_name.iter().cloned().collect();
            crate::llm::grounded_answer(state, tenant, ep, &normalized.text, &names, &hits, chinese)
                .await
                .map(Draft::text)
                .or(kb)
        }
        // A "did you mean" may get a friendlier intro where the tenant asked for it; the model
        // sees the questions offered (the buttons, unchanged) and never an answer.
        (BotDecision::Continue { .. }, KbDecision::Suggest, Some(_)) => {
            match (kb, cfg.llm.suggestions_for(slug.as_deref())) {
                (Some(mut d), Some(ep)) => {
                    let names: Vec<String> = customer.display_name.iter().cloned().collect();
                    let options = d.reply_payloads();
                    if let Some(intro) =
                        crate::llm::suggestion_intro(state, tenant, ep, &normalized.text, &names, &options, chinese)
                            .await
                    {
                        d.text = intro;
                    }
                    Some(d)
                }
                (kb, _) => kb,
            }
        }
        _ => kb,
    };
    // An answer to one question of two: the other follows it when the knowledge base knows it.
    let kb = match (kb, &decision, &kb_decision, &clauses) {
        (Some(mut d), BotDecision::Continue { .. }, KbDecision::Answer, Some(clauses)) => {
            let main = hits.first().map(|h| h.entry_id.as_str());
            let more = clauses.other_answer(&left, main, true).await?;
            if let Some(more) = more {
                d.text = format!("{}\n\n{more}", d.text);
            }
            Some(d)
        }
        (kb, ..) => kb,
    };
    let bot_turn = match decision {
        BotDecision::Continue { failures } => BotTurn {
            tenant_id: tenant.clone(),
            conversation_id: conv_id.clone(),
            last_intent: last_intent.clone(),
            sentiment,
            failures: i64::from(failures),
            reply: render_for(
                &kb.clone().unwrap_or_else(|| Draft::text(answer(last_intent.as_deref(), chinese))),
                caps,
                chinese,
            ),
            handoff: None,
            handoff_details: None,
            at: later(now),
            // Set only when the knowledge base answered (a "did you mean" or a fallback is not rateable).
            about: about.filter(|_| kb.is_some()),
            understood: read_turn.clone(),
        },
        BotDecision::HandOff { reason, .. } => {
            let ctx = HandoffContext {
                state,
                tenant,
                conv_id,
                channel,
                customer: &customer,
                customer_texts: &customer_texts,
                turn_intents: &turn_intents,
                understood: read_turn.clone(),
                normalized_all: &normalized_all,
                sentiments: &sentiments,
                bot_replies,
                chinese,
                own_model: &own_model,
                now,
            };
            let (summary, details) = handoff_package(&ctx, &reason, reason.code()).await;
            let online = state.dispatch.n_online(state, tenant).await;
            BotTurn {
                tenant_id: tenant.clone(),
                conversation_id: conv_id.clone(),
                last_intent,
                sentiment,
                failures: 0,
                reply: Content::text(&handoff_notice(&reason, chinese, online)).ok(),
                handoff: Some((reason.code().to_owned(), summary)),
                handoff_details: Some(details),
                at: later(now),
                about: None,
                understood: read_turn.clone(),
            }
        }
    };
    // A knowledge gap: the knowledge base only half knew or did not know (small talk aside), or
    // the bot gave up for lack of understanding. Requests for a person, anger and the like are
    // not gaps in knowledge; a tenant without any published entry has one big gap, not news.
    let gap_kind = match (&bot_turn.handoff, &kb_decision) {
        (Some((reason, _)), _) if reason == "repeated_failure" => Some("handoff"),
        (Some(_), _) => None,
        (None, KbDecision::Suggest) => Some("low_confidence"),
        (None, KbDecision::NotUnderstood) if !small_talk => Some("low_confidence"),
        _ => None,
    };
    let has_kb = match gap_kind {
        Some(_) => !state.knowledge.index(&state.store, &state.semantic, tenant).await?.entries().is_empty(),
        None => false,
    };
    if let (true, Some(kind), Some(text)) = (has_kb, gap_kind, customer_texts.last()) {
        let gap = NewGap {
            conversation_id: Some(conv_id.clone()),
            text: text.chars().take(500).collect(),
            lang: if chinese { "zh" } else { "en" }.into(),
            kind: kind.into(),
            confidence: f64::from(kb_confidence),
        };
        if let Err(e) = state.store.kb_log_gaps(tenant, &[gap], now).await {
            tracing::warn!(error = %e, "knowledge gap not logged");
        }
    }
    // A confident answer may be followed by one suggestion (recommend.rs decides whether).
    let answered = bot_turn.handoff.is_none() && kb_decision == KbDecision::Answer && !small_talk;
    let answered_at = bot_turn.at;
    let bot_turn_intent = bot_turn.last_intent.clone();
    if bot_turn.handoff.is_none() && kb.is_some() {
        bot_reply::remember(state, tenant, &conv.customer_id, offers, now).await?;
    }
    state.bot.submit(bot_turn).await;
    if answered {
        let a = crate::recommend::Answered {
            tenant,
            conversation: conv_id,
            customer: &customer,
            trend: &trend,
            chinese,
            last_intent: bot_turn_intent,
            text: &normalized.text,
            answered_at,
            understood: read_turn,
        };
        crate::recommend::after_answer(state, &a).await;
    }
    Ok(())
}

/// What the hand-off package is made of.
struct HandoffContext<'a> {
    state: &'a AppState,
    tenant: &'a TenantId,
    conv_id: &'a ConversationId,
    channel: ChannelKind,
    customer: &'a lingxi_store::CustomerView,
    customer_texts: &'a [String],
    /// Per customer text: the intent read at its turn (`""`: none), `None` if never read.
    turn_intents: &'a [Option<String>],
    /// This turn's message, intent and claim token, for the replies it stores.
    understood: Option<Understood>,
    normalized_all: &'a [lingxi_nlu::normalize::Normalized],
    sentiments: &'a [lingxi_nlu::sentiment::SentimentResult],
    bot_replies: Vec<String>,
    chinese: bool,
    own_model: &'a Option<(i64, std::sync::Arc<lingxi_nlu::intent::IntentModel>)>,
    now: Timestamp,
}

/// The package for the agent: what the customer wants, in one look (summary, details JSON).
async fn handoff_package(ctx: &HandoffContext<'_>, reason: &HandoffReason, code: &str) -> (String, String) {
    let HandoffContext {
        state,
        tenant,
        conv_id,
        channel,
        customer,
        customer_texts,
        turn_intents,
        normalized_all,
        sentiments,
        chinese,
        own_model,
        now,
        ..
    } = *ctx;
    let bot_replies = ctx.bot_replies.clone();
    let turns: Vec<TurnNote> = customer_texts
        .iter()
        .zip(normalized_all)
        .zip(sentiments)
        .enumerate()
        .map(|(i, ((t, n), s))| {
            // As read at the time (fused when it was encoded); a lexical re-read only for
            // messages the bot never read (before it kept what it read).
            let intent = match turn_intents.get(i).cloned().flatten() {
                Some(read) => Some(read).filter(|r| !r.is_empty()),
                None => {
                    let m = crate::intent_models::pick(own_model, is_chinese(n.language, &n.text));
                    m.classify(&n.text).top.map(|m| m.intent)
                }
            };
            TurnNote { text: t.clone(), intent, sentiment: s.score, anger: s.emotions.anger }
        })
        .collect();
    let tenant_extractor = state.entities.get(&state.store, tenant).await;
    let facts: Vec<String> = normalized_all
        .iter()
        .flat_map(|n| tenant_extractor.extract(&n.text, Now::china(now.millis() / 1000)))
        .filter(|e| {
            matches!(
                e.kind,
                EntityKind::OrderNumber
                    | EntityKind::TrackingNumber
                    | EntityKind::Amount
                    | EntityKind::Phone
                    | EntityKind::Product
            )
        })
        .map(|e| {
            let label = match (e.kind, chinese) {
                (EntityKind::OrderNumber, true) => "订单号",
                (EntityKind::TrackingNumber, true) => "快递单号",
                (EntityKind::Amount, true) => "金额",
                (EntityKind::Phone, true) => "电话",
                (EntityKind::Product, true) => "产品",
                (EntityKind::OrderNumber, false) => "order",
                (EntityKind::TrackingNumber, false) => "tracking",
                (EntityKind::Amount, false) => "amount",
                (EntityKind::Phone, false) => "phone",
                _ => "product",
            };
            // Identifiers keep the case the customer wrote (normalisation keeps it).
            let value = match e.kind {
                EntityKind::Phone => mask(e.kind, &e.raw),
                _ => e.raw.clone(),
            };
            format!("{label} {value}")
        })
        .collect::<Vec<_>>();
    let mut facts = facts;
    facts.dedup();
    let others = state
        .store
        .context(tenant, conv_id, 3)
        .await
        .map(|ctx| {
            ctx.into_iter()
                .map(|(c, last)| {
                    let what = c
                        .last_intent
                        .clone()
                        .or_else(|| last.and_then(|m| m.content["text"].as_str().map(str::to_owned)))
                        .unwrap_or_default();
                    (c.channel_kind.as_str().to_owned(), what)
                })
                .collect()
        })
        .unwrap_or_default();
    let parts = summary_parts(
        &SummaryInput {
            customer_name: customer.display_name.clone(),
            channel: channel.as_str().into(),
            turns,
            entities: facts,
            bot_replies,
            other_channels: others,
            chinese,
        },
        reason,
    );
    let details = crate::api::views::handoff_details(&parts, code).to_string();
    (render(&parts), details)
}

/// Queues a flow's or a tool's turn: one bot message per reply (a choice keeps its buttons),
/// the hand-off (if the flow asked for one) on the last, with the usual package.
async fn submit_tool_turn(
    ctx: &HandoffContext<'_>,
    tt: crate::bot_tools::ToolTurn,
    trend: &SentimentTrend,
    intent: Option<String>,
) -> Result<(), StoreError> {
    let sentiment = trend.last.as_ref().map_or(0.0, |s| f64::from(s.score));
    let last_intent = tt.tool.clone().or(intent);
    let mut replies = tt.replies;
    let handoff = match &tt.handoff {
        Some((code, why)) => {
            let (summary, details) = handoff_package(ctx, &HandoffReason::PriorityTopic(why.clone()), code).await;
            // The flow's own words say a colleague takes over; with nobody online the customer
            // also hears honestly that they wait in the queue.
            let online = ctx.state.dispatch.n_online(ctx.state, ctx.tenant).await;
            if replies.is_empty() || online == 0 {
                replies.push(Draft::text(handoff_notice(
                    &HandoffReason::PriorityTopic(why.clone()),
                    ctx.chinese,
                    online,
                )));
            }
            Some((code.clone(), summary, details))
        }
        None => None,
    };
    let n = replies.len();
    let caps = Capabilities::of(ctx.channel);
    // A tool that found what was asked answered with its last message; that one may be rated.
    let tool_answer = match (&tt.tool, tt.answered && handoff.is_none()) {
        (Some(tool), true) => Some(ReplyAbout {
            kind: RatedKind::ToolAnswer,
            ref_id: Some(tool.clone()),
            question: ctx.customer_texts.last().map(|t| t.chars().take(500).collect()),
        }),
        _ => None,
    };
    for (i, draft) in replies.iter().enumerate() {
        let last = i + 1 == n;
        let (h, d) = match (&handoff, last) {
            (Some((code, summary, details)), true) => (Some((code.clone(), summary.clone())), Some(details.clone())),
            _ => (None, None),
        };
        ctx.state
            .bot
            .submit(BotTurn {
                tenant_id: ctx.tenant.clone(),
                conversation_id: ctx.conv_id.clone(),
                last_intent: last_intent.clone(),
                sentiment,
                failures: 0,
                reply: render_for(draft, caps, ctx.chinese),
                handoff: h,
                handoff_details: d,
                at: Timestamp::from_millis(ctx.now.millis() + 1 + i as i64),
                about: tool_answer.clone().filter(|_| last),
                // Every reply carries the turn's claim: if another computation of this turn
                // claimed the message first, all of them are dropped, not just the first.
                understood: ctx.understood.clone(),
            })
            .await;
    }
    if tt.answered && handoff.is_none() {
        let a = crate::recommend::Answered {
            tenant: ctx.tenant,
            conversation: ctx.conv_id,
            customer: ctx.customer,
            trend,
            chinese: ctx.chinese,
            last_intent,
            text: ctx.normalized_all.last().map_or("", |n| n.text.as_str()),
            answered_at: Timestamp::from_millis(ctx.now.millis() + n as i64),
            understood: ctx.understood.clone(),
        };
        crate::recommend::after_answer(ctx.state, &a).await;
    }
    Ok(())
}

/// A tool call that found nothing for a message naming no order or parcel: the tool looked
/// the customer up by who they are (membership, their orders), and that came back empty.
fn lookup_found_nothing(tt: &crate::bot_tools::ToolTurn, entities: &[lingxi_nlu::entities::Entity]) -> bool {
    let named = entities.iter().any(|e| matches!(e.value, EntityValue::OrderNumber(_) | EntityValue::Tracking { .. }));
    tt.tool.is_some() && !tt.answered && tt.handoff.is_none() && !named
}

/// The bot's reply is stamped a millisecond after the customer's message so timelines keep
/// their order even when both land in the same millisecond.
fn later(t: Timestamp) -> Timestamp {
    Timestamp::from_millis(t.millis() + 1)
}

/// Tells the customer honestly what happens next.
fn handoff_notice(reason: &HandoffReason, chinese: bool, agents_online: usize) -> String {
    let sorry = matches!(
        reason,
        HandoffReason::NegativeSentiment | HandoffReason::AngerRising | HandoffReason::RepeatedFailure(_)
    );
    match (chinese, agents_online > 0) {
        (true, true) => format!("{}正在为您转接人工客服，请稍候，客服会看到您刚才说的所有内容，无需重复。", if sorry { "非常抱歉给您带来不便。" } else { "" }),
        (true, false) => "目前暂无在线客服。您的问题已记录并进入排队，客服上线后会第一时间在这里回复您，无需重复描述。".into(),
        (false, true) => format!("{}I'm connecting you with a person now. They will see everything you've told me, so there's no need to repeat it.", if sorry { "I'm sorry about this. " } else { "" }),
        (false, false) => "No agent is online right now. Your request is in the queue and a person will reply here as soon as one is available; you won't need to repeat anything.".into(),
    }
}

/// How recent the previous customer message must be for a follow-up to be read with it.
const FOLLOW_UP_WINDOW_MS: i64 = 2 * 3600 * 1000;

/// The customer's latest text message before `current`, on any channel, sent within
/// `FOLLOW_UP_WINDOW_MS` ("我要退货" on WeChat, then "那运费谁出" in the app means the
/// return), with the knowledge-base entry the bot answered it with, if it did (a tool's answer
/// or "did you mean" names none).
async fn previous_message(
    state: &AppState,
    tenant: &TenantId,
    customer: &CustomerId,
    current: Option<&MessageId>,
    now: Timestamp,
) -> Result<Option<bot_reply::Previous>, StoreError> {
    let (_, messages) = state.store.timeline(tenant, customer, 12).await?;
    let Some(at) = messages
        .iter()
        .rposition(|m| m.sender_kind == "customer" && Some(&m.id) != current && m.content["text"].as_str().is_some())
    else {
        return Ok(None);
    };
    let m = &messages[at];
    if now.since(m.sent_at) > FOLLOW_UP_WINDOW_MS {
        return Ok(None);
    }
    let text = m.content["text"].as_str().unwrap_or_default().to_owned();
    // The bot's replies to it: the first that was an answer names the entry (an answer may be
    // followed by a recommendation).
    let mut answered_with = None;
    for reply in messages[at + 1..].iter().filter(|r| r.sender_kind == "bot") {
        if let Some(about) = state.store.reply_about(tenant, &reply.id).await? {
            if about.kind == lingxi_store::RatedKind::Answer {
                answered_with = about.ref_id;
                break;
            }
        }
    }
    // A pick from "did you mean" ("2") names no topic; the question it picked does.
    let picked = text.trim().len() <= 2 && text.trim().chars().all(|c| c.is_ascii_digit());
    let text = match &answered_with {
        Some(id) if picked => {
            let index = state.knowledge.index(&state.store, &state.semantic, tenant).await?;
            index.live_entry(id, now.millis()).map_or(text, |e| e.question().as_str().to_owned())
        }
        _ => text,
    };
    Ok(Some(bot_reply::Previous { text, answered_with }))
}

/// A message's sentiment for the hand-off policy. A plain question about the bot ("are you a
/// real person?") says nothing of the customer's mood, though the English model reads it as
/// negative (-0.81), and two of them in a row handed the customer over for negative sentiment;
/// with an emoji or "!" it is read as usual.
fn feeling(text: &str) -> lingxi_nlu::sentiment::SentimentResult {
    use lingxi_nlu::smalltalk::{small_talk, SmallTalk};
    let plain = text.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "?？,，.。'’".contains(c));
    match small_talk(text) {
        Some(SmallTalk::BotIdentity) if plain => lingxi_nlu::sentiment::SentimentResult::neutral(),
        _ => analyze(text),
    }
}

/// Below this confidence small talk ("greeting", "thanks", "acknowledgement") is a question the
/// model could not place (acknowledgements are read by word list, not by a model).
const SMALL_TALK_MIN_CONFIDENCE: f32 = 0.8;

/// Greetings, thanks, acknowledgements ("好的", "got it") and "are you a bot?": answered by the
/// bot itself, never a knowledge gap or a failure to understand.
pub(crate) fn is_small_talk(intent: Option<&str>) -> bool {
    matches!(intent, Some("greeting" | "thanks" | "acknowledgement" | "bot_identity"))
}

/// Intents the bot can help with without an answer from the knowledge base: small talk, and
/// requests it acts on by asking for what it needs (the tools and flows take it from there).
fn helps_without_knowledge(intent: Option<&str>) -> bool {
    matches!(
        intent,
        Some(
            "greeting"
                | "thanks"
                | "acknowledgement"
                | "bot_identity"
                | "order_status"
                | "logistics"
                | "refund_status"
                | "product_troubleshooting"
                | "complaint"
                | "human_agent"
        )
    )
}

/// The reply when the knowledge base had no answer. It never states a policy of its own (how
/// long refunds take, what the warranty is): those are the tenant's facts and come only from
/// its knowledge base. A recognised topic is named, so the customer knows what was understood.
fn answer(intent: Option<&str>, chinese: bool) -> String {
    let asks = |zh: &str, en: &str| if chinese { zh.to_owned() } else { en.to_owned() };
    let topic = match intent {
        Some("greeting") => {
            return asks(
                "您好，我是灵犀智能客服，请问有什么可以帮您？",
                "Hello, I'm Lingxi's assistant. How can I help?",
            )
        }
        Some("thanks") => return asks("不客气，还有其他问题随时找我～", "You're welcome! Anything else, just ask."),
        Some("acknowledgement") => return asks("好的，还有其他问题随时找我～", "Alright. Anything else, just ask."),
        Some("bot_identity") => {
            return asks(
                "我是灵犀智能客服，一个自动回复的 AI 助手：订单、物流、退款和售后问题可以直接问我；需要真人时输入“转人工”。",
                "I'm Lingxi's assistant, an automated AI helper: ask me about orders, deliveries, refunds and after-sales; type \"human\" any time to reach a person.",
            )
        }
        Some("order_status") => {
            return asks(
                "请提供订单号，我帮您查询订单状态。",
                "Please share your order number and I'll check its status.",
            )
        }
        Some("logistics") => {
            return asks(
                "请提供订单号或快递单号，我帮您查询物流进度。",
                "Please share your order or tracking number and I'll look up the delivery.",
            )
        }
        Some("refund_status") => {
            return asks(
                "请提供订单号，我帮您查询退款进度。",
                "Please share your order number and I'll check the refund.",
            )
        }
        Some("product_troubleshooting") => {
            return asks(
                "请告诉我设备型号和具体现象，我一步步帮您排查。",
                "Tell me the device model and what happens, and I'll walk you through it.",
            )
        }
        Some("complaint") => {
            return asks(
                "很抱歉给您带来不好的体验。请具体说说发生了什么，我会记录下来帮您处理；也可以输入“转人工”。",
                "I'm sorry about this. Tell me what happened and I'll note it and help; you can also ask for a person.",
            )
        }
        Some("return_request") => ("退货", "returns"),
        Some("refund_dispute") => ("退款", "refunds"),
        Some("cancel_order") => ("取消订单", "cancelling an order"),
        Some("invoice") => ("发票", "invoices"),
        Some("change_address") => ("修改地址", "changing the address"),
        Some("membership_points") => ("会员积分", "membership points"),
        Some("warranty") => ("保修", "the warranty"),
        Some("installation") => ("安装", "installation"),
        Some("payment_issue") => ("支付", "payment"),
        Some("coupon") => ("优惠券", "coupons"),
        Some("account_login") => ("账号登录", "signing in"),
        Some("price_protection") => ("价格保护", "price protection"),
        _ => {
            return asks(
                "抱歉，我没有完全理解，能换个说法或补充一下细节吗？也可以输入“转人工”。",
                "Sorry, I didn't quite get that. Could you rephrase or add details? You can also ask for a person.",
            )
        }
    };
    asks(
        &format!("关于{}，我没有找到确切的答案。能换个说法或补充一下细节吗？也可以输入“转人工”。", topic.0),
        &format!("I couldn't find an exact answer about {}. Could you rephrase or add details? You can also ask for a person.", topic.1),
    )
}
