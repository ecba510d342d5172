//! The bot's business-data side: guided flows and tool calls with slot filling. Runs before
//! the knowledge base on each turn; when a flow or a tool takes the message it decides the
//! replies (and a hand-off, if the flow asks for one). What the bot waits for from a customer
//! (a flow's run, or which order they mean) is stored per customer, not per conversation, so
//! the answer may come on another channel.

use crate::state::AppState;
use crate::tools::{self, Fields, ToolError};
use lingxi_domain::{ChannelKind, CustomerId, TenantId, Timestamp};
use lingxi_engine::flow::{Flow, FlowInput, FlowRun, FlowSpec, Next, Outcome, Reply};
use lingxi_engine::render::Draft;
use lingxi_knowledge::grounding::Source;
use lingxi_nlu::entities::{Entity, EntityValue, Now};
use lingxi_store::{CustomerView, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// What the bot waits for from a customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Pending {
    Flow {
        run: FlowRun,
    },
    /// A tool call missing its order number: the candidates offered (may be empty), tries so far.
    Slot {
        tool: String,
        options: Vec<String>,
        tries: u32,
    },
}

const FLOW_TTL_SECS: i64 = 3 * 24 * 3600;
const SLOT_TTL_SECS: i64 = 30 * 60;

/// What the bot does this turn instead of the knowledge base.
#[derive(Debug, Clone)]
pub struct ToolTurn {
    /// One bot message each (a choice's buttons render only as its own message), rendered
    /// for the customer's channel by the caller.
    pub replies: Vec<Draft>,
    /// A flow's hand-off: (reason code, why, in words).
    pub handoff: Option<(String, String)>,
    /// Which tool answered, if one did (for the turn's intent).
    pub tool: Option<String>,
    /// A tool found what was asked (not a question back, not a failure).
    pub answered: bool,
    /// For an answered tool call: its result as a source the optional LLM may phrase the
    /// reply from (`tool:<name>`, the tool's name, the templated answer).
    pub source: Option<Source>,
}

/// The demo tenant's flows, compiled once. A shipped flow that does not compile is a bug the
/// engine's tests catch; here it is skipped rather than taking the bot down.
fn demo_flows() -> &'static [Flow] {
    static F: OnceLock<Vec<Flow>> = OnceLock::new();
    F.get_or_init(|| {
        lingxi_engine::flow::DEMO_FLOWS
            .iter()
            .filter_map(|(file, text)| {
                let format = crate::flow_file::Format::of(file)?;
                crate::flow_file::parse(file, format, text).ok()
            })
            .collect()
    })
}

pub async fn tenant_slug(state: &AppState, tenant: &TenantId) -> Option<String> {
    if let Some(s) = state.tenant_slugs.lock().ok()?.get(tenant.as_str()) {
        return Some(s.clone());
    }
    let slug = state.store.tenant(tenant).await.ok()?.slug;
    state.tenant_slugs.lock().ok()?.insert(tenant.as_str().to_owned(), slug.clone());
    Some(slug)
}

/// The flows that run for a tenant: the demo tenant's shipped ones, then the tenant's own
/// (an own flow with a shipped flow's id replaces it). Stored definitions were checked when
/// written; one that no longer compiles (an engine change) is skipped and logged.
async fn flows_for(state: &AppState, tenant: &TenantId) -> Result<Arc<Vec<Flow>>, StoreError> {
    if let Some(f) = state.flow_cache.lock().ok().and_then(|c| c.get(tenant.as_str()).cloned()) {
        return Ok(f);
    }
    let mut flows: Vec<Flow> = match tenant_slug(state, tenant).await.as_deref() {
        Some(crate::demo::DEMO_SLUG) => demo_flows().to_vec(),
        _ => Vec::new(),
    };
    for row in state.store.flows(tenant).await? {
        match serde_json::from_str::<FlowSpec>(&row.spec).map_err(|e| e.to_string()).and_then(|s| {
            Flow::compile(&s).map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        }) {
            Ok(f) => {
                flows.retain(|x| x.id != f.id);
                flows.push(f);
            }
            Err(e) => tracing::warn!(flow = %row.id, error = %e, "stored flow skipped"),
        }
    }
    let flows = Arc::new(flows);
    if let Ok(mut c) = state.flow_cache.lock() {
        c.insert(tenant.as_str().to_owned(), flows.clone());
    }
    Ok(flows)
}

/// A tenant's flows changed: the next turn reloads them.
pub fn forget_flows(state: &AppState, tenant: &TenantId) {
    if let Ok(mut c) = state.flow_cache.lock() {
        c.remove(tenant.as_str());
    }
}

/// The tool an intent asks for.
fn tool_for(intent: Option<&str>) -> Option<&'static str> {
    match intent? {
        "order_status" => Some("order_status"),
        "logistics" => Some("logistics"),
        "refund_status" => Some("refund_status"),
        "invoice" => Some("invoice"),
        "membership_points" => Some("membership"),
        _ => None,
    }
}

/// What the bot is waiting for: an answer to a flow's step, or an order number for a tool.
#[derive(Clone, Copy)]
enum Waiting<'a> {
    /// `asks_value`: the step asks for a value ("请提供购买订单号").
    Flow {
        current: &'a Flow,
        asks_value: bool,
    },
    Slot {
        tool: &'a str,
    },
}

/// Whether a message the waiting question cannot take starts something else: another flow's
/// trigger, a business-data tool's question, or a question the knowledge base answers with
/// confidence (asked only in this case, so ordinary turns cost nothing more). Only another
/// flow counts at a flow's question for a value, and a slot keeps a message about the number
/// itself: "我的订单号忘了" reads as an order question, yet it answers the one asked, and the
/// hint is the reply it needs. A slot also keeps small talk, and a question of its own tool's
/// family (order status and logistics are one question to a customer, and the lexical model
/// reads "稍等，我找一下" as an order question).
async fn starts_elsewhere(
    state: &AppState,
    t: &TurnInput<'_>,
    waiting: Waiting<'_>,
    flows: &[Flow],
    tools_on: bool,
) -> Result<bool, StoreError> {
    let current = match waiting {
        Waiting::Flow { current, .. } => Some(&current.id),
        // A slot keeps a message about the number whatever it triggers.
        Waiting::Slot { .. } if mentions_number(t.text) => return Ok(false),
        Waiting::Slot { .. } => None,
    };
    if flows.iter().any(|f| Some(&f.id) != current && f.triggered_by(t.intent, t.text)) {
        return Ok(true);
    }
    let asked = tool_for(t.intent).filter(|_| tools_on);
    match waiting {
        Waiting::Flow { asks_value: true, .. } => return Ok(false),
        Waiting::Flow { .. } if asked.is_some() => return Ok(true),
        Waiting::Flow { .. } => {}
        Waiting::Slot { .. } if crate::bot::is_small_talk(t.intent) => return Ok(false),
        Waiting::Slot { tool } => {
            if let Some(other) = asked {
                return Ok(family(other) != family(tool));
            }
        }
    }
    knowledge_answers(state, t).await
}

/// Whether the knowledge base answers the message with confidence (its reply kept for the
/// turn's knowledge path, which then does not ask again).
async fn knowledge_answers(state: &AppState, t: &TurnInput<'_>) -> Result<bool, StoreError> {
    let vector = crate::knowledge::QueryVector::Given(t.vector);
    let ask = || crate::bot_reply::knowledge_reply(state, t.tenant, t.text, vector, t.chinese, t.channel);
    Ok(t.knowledge.get_or_try_init(ask).await?.decision == crate::knowledge::KbDecision::Answer)
}

/// Whether the knowledge base answers a follow-up read with the message it follows.
async fn follow_up_answered(state: &AppState, t: &TurnInput<'_>) -> Result<bool, StoreError> {
    let Some(previous) = t.follows else { return Ok(false) };
    let together = format!("{previous} {}", t.text);
    let vector = crate::knowledge::QueryVector::Encode;
    let r = crate::bot_reply::knowledge_reply(state, t.tenant, &together, vector, t.chinese, t.channel).await?;
    Ok(r.decision == crate::knowledge::KbDecision::Answer)
}

/// "你们发什么快递", "能不能发顺丰", "do you ship internationally?": a question about the shop's
/// practice, which the intent models read as an order or logistics question like any other.
/// Asking such a customer for an order number answers nothing. A question that names neither
/// the customer's order nor the shop counts only when no order of theirs is in sight: with one,
/// "几天能发货" most likely means that order.
fn asks_the_shop(text: &str, orders_in_sight: bool) -> bool {
    use lingxi_nlu::subject::{is_question, subject_of, Subject};
    is_question(text)
        && match subject_of(text) {
            Subject::Own => false,
            Subject::Shop => true,
            Subject::Unsaid => !orders_in_sight,
        }
}

/// A tool as the customer's question: order status and logistics are one.
fn family(tool: &str) -> &str {
    if tool == "logistics" {
        "order_status"
    } else {
        tool
    }
}

/// Whether the message talks about an order or tracking number ("我的订单号忘了").
fn mentions_number(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["订单号", "单号", "order number", "tracking number"].iter().any(|w| lower.contains(w))
}

/// Entities as flows name them.
fn slots_of(entities: &[Entity]) -> Vec<(String, String)> {
    entities
        .iter()
        .filter_map(|e| match &e.value {
            EntityValue::OrderNumber(n) => Some(("order_no".into(), n.to_uppercase())),
            EntityValue::Tracking { number, .. } => Some(("tracking_no".into(), number.clone())),
            EntityValue::Phone(p) => Some(("phone".into(), p.national.clone())),
            EntityValue::Email(m) => Some(("email".into(), m.clone())),
            _ => None,
        })
        .collect()
}

fn slot<'a>(slots: &'a [(String, String)], name: &str) -> Option<&'a String> {
    slots.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

pub struct TurnInput<'a> {
    pub tenant: &'a TenantId,
    pub customer: &'a CustomerView,
    pub text: &'a str,
    pub intent: Option<&'a str>,
    pub entities: &'a [Entity],
    pub chinese: bool,
    pub now: Timestamp,
    /// The hand-off policy would hand over for the message's intent alone (a topic for people,
    /// or a "person" intent without the words): flows may go on, but nothing new starts.
    pub soft_handoff: bool,
    /// The message's sentence vector when it was encoded (for the knowledge base's check of a
    /// message that leaves a flow), and the channel it came on.
    pub vector: Option<&'a [f32]>,
    pub channel: ChannelKind,
    /// The knowledge base's reply to this message, asked at most once per turn.
    pub knowledge: &'a tokio::sync::OnceCell<crate::bot_reply::KbReply>,
    /// The customer's previous message when this one reads as a follow-up to it.
    pub follows: Option<&'a str>,
}

/// Takes the message if a flow or a tool should; `None` leaves it to the knowledge base.
pub async fn handle(state: &AppState, t: &TurnInput<'_>) -> Result<Option<ToolTurn>, StoreError> {
    let flows = flows_for(state, t.tenant).await?;
    let tools_on = tools::enabled(state, t.tenant).await;
    if flows.is_empty() && !tools_on {
        return Ok(None);
    }
    let slots = slots_of(t.entities);
    // Business systems keep mainland phones without the country code.
    let owners: Vec<String> = t
        .customer
        .identities
        .iter()
        .filter(|i| i.kind == "phone")
        .map(|i| i.value.trim_start_matches("+86").to_owned())
        .chain(t.customer.identities.iter().filter(|i| i.kind != "phone").map(|i| i.value.clone()))
        .collect();
    let pending = state.store.bot_pending_at(t.tenant, &t.customer.id).await?.and_then(|(s, at)| {
        // A question about an order lapses after half an hour; a flow waits three days for
        // the customer to come back (on any channel).
        let p = serde_json::from_str::<Pending>(&s).ok()?;
        let ttl_secs = match p {
            Pending::Flow { .. } => FLOW_TTL_SECS,
            Pending::Slot { .. } => SLOT_TTL_SECS,
        };
        (t.now.since(at) <= ttl_secs * 1000).then_some(p)
    });
    let set = |p: Option<Pending>| async move {
        let s = p.map(|p| serde_json::to_string(&p).unwrap_or_default());
        state.store.set_bot_pending(t.tenant, &t.customer.id, s.as_deref(), t.now).await
    };
    match pending {
        Some(Pending::Flow { mut run }) => {
            if let Some(flow) = flows.iter().find(|f| f.id == run.flow) {
                // A message the waiting step cannot take that starts something else (another
                // flow, a business-data question, a question the knowledge base answers)
                // leaves the flow and is read afresh below: the customer moved on, and
                // insisting would end, after the retries, in a hand-off nobody needed.
                let moved_on = !flow.takes(&run, t.text, &slots, t.chinese)
                    && starts_elsewhere(
                        state,
                        t,
                        Waiting::Flow { current: flow, asks_value: flow.waits_for_value(&run) },
                        &flows,
                        tools_on,
                    )
                    .await?;
                if !moved_on {
                    if let Ok(out) =
                        flow.advance(&mut run, FlowInput::Message { text: t.text, entities: &slots }, t.chinese)
                    {
                        return drive(state, t, flow, run, out, &owners).await.map(Some);
                    }
                }
            }
            set(None).await?;
        }
        Some(Pending::Slot { tool, options, tries }) => {
            if let Some(turn) = by_tracking(state, t, &tool, &slots, &owners).await {
                set(None).await?;
                return Ok(Some(turn));
            }
            let picked = match slot(&slots, "order_no").cloned().or_else(|| pick_option(t.text, &options)) {
                Some(no) => Some(no),
                None => order_named(t.text, &items_of(state, t.tenant, &options).await?),
            };
            match picked {
                Some(no) => {
                    set(None).await?;
                    return Ok(Some(tool_answer(state, t, &tool, &no, &owners).await));
                }
                // The customer moved on: the question lapses and the message is read afresh
                // below (before, "能开发票吗" got "没有识别到订单号…查询物流进度").
                None if starts_elsewhere(state, t, Waiting::Slot { tool: &tool }, &flows, tools_on).await? => {
                    set(None).await?
                }
                // Thanks or "好的" while the bot waits: the small-talk reply, not the question
                // again; the question stays open for the number.
                None if crate::bot::is_small_talk(t.intent) => return Ok(None),
                // Asked again once; then (or for a topic people should take) the question lapses.
                None if tries < 1 && !t.soft_handoff => {
                    set(Some(Pending::Slot { tool: tool.clone(), options: options.clone(), tries: tries + 1 })).await?;
                    return Ok(Some(ToolTurn {
                        replies: vec![ask(
                            &tool,
                            &labels_of(state, t, &options).await?,
                            t.chinese,
                            true,
                            example(state, t).await.as_deref(),
                        )],
                        handoff: None,
                        tool: None,
                        answered: false,
                        source: None,
                    }));
                }
                None => set(None).await?,
            }
        }
        None => {}
    }
    if t.soft_handoff && flows.iter().all(|f| !f.triggered_by(t.intent, t.text)) {
        return Ok(None);
    }
    if let Some(flow) = flows.iter().find(|f| f.triggered_by(t.intent, t.text)) {
        // What is known before the first step: the message's entities, and the customer's
        // attributes and tags for conditions (`customer.level`, `customer.tags`).
        let mut known: BTreeMap<String, String> = slots.iter().cloned().collect();
        if let Some(attrs) = t.customer.attributes.as_object() {
            for (k, v) in attrs {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null | serde_json::Value::Object(_) | serde_json::Value::Array(_) => continue,
                    other => other.to_string(),
                };
                known.insert(format!("customer.{k}"), v);
            }
        }
        known.insert("customer.tags".into(), t.customer.tags.join(","));
        let mut run = FlowRun::new(flow, known);
        if let Ok(out) = flow.advance(&mut run, FlowInput::Start, t.chinese) {
            return drive(state, t, flow, run, out, &owners).await.map(Some);
        }
    }
    let Some(tool) = tool_for(t.intent).filter(|_| tools_on) else { return Ok(None) };
    if tool == "membership" {
        return Ok(Some(tool_answer(state, t, tool, "", &owners).await));
    }
    if let Some(turn) = by_tracking(state, t, tool, &slots, &owners).await {
        return Ok(Some(turn));
    }
    if let Some(no) = slot(&slots, "order_no") {
        return Ok(Some(tool_answer(state, t, tool, no, &owners).await));
    }
    // Slot filling: the orders this customer wrote about on any channel, newest first, else
    // the ones they own; narrowed to those the tool has a record for.
    let mut candidates = mentioned_orders(state, t.tenant, &t.customer.id, t.now).await?;
    let owned: Vec<String> =
        state.store.records_owned(t.tenant, "orders", &owners).await?.into_iter().map(|r| r.key).collect();
    // "我的净化器什么时候发货", "那耳机呢": the order of the item named, among all the customer's
    // (the one talked about last may be another).
    let all: Vec<String> = candidates.iter().chain(owned.iter().filter(|o| !candidates.contains(o))).cloned().collect();
    if all.len() > 1 {
        if let Some(no) = order_named(t.text, &items_of(state, t.tenant, &all).await?) {
            candidates = vec![no];
        }
    }
    if candidates.is_empty() {
        candidates = owned;
    }
    let kind = match tool {
        "refund_status" => "refunds",
        "invoice" => "invoices",
        _ => "orders",
    };
    let mut relevant = Vec::new();
    for c in &candidates {
        if state.store.record(t.tenant, kind, c).await?.is_some() {
            relevant.push(c.clone());
        }
    }
    // A refund or invoice question about orders that have no refund or invoice is a policy
    // question too ("how long do refunds take?" from someone who bought things).
    if !relevant.is_empty() || matches!(tool, "refund_status" | "invoice") {
        candidates = relevant;
    }
    candidates.truncate(5);
    // "How long do refunds take?" from someone with no order in sight is a policy question:
    // the knowledge base answers it better than a request for an order number.
    if candidates.is_empty() && matches!(tool, "refund_status" | "invoice") {
        return Ok(None);
    }
    // "显示已签收但我没收到": a problem with a delivery, which its status (delivered) does not
    // answer; the knowledge base's guidance does, after the order's record when one order is in
    // sight (with none, or several, the guidance alone: which order it was changes nothing).
    if matches!(tool, "order_status" | "logistics")
        && lingxi_nlu::subject::reports_missing_delivery(t.text)
        && knowledge_answers(state, t).await?
    {
        let Some(guidance) = t.knowledge.get().and_then(|k| k.draft.clone()) else { return Ok(None) };
        let [only] = candidates.as_slice() else { return Ok(None) };
        let mut turn = tool_answer(state, t, tool, only, &owners).await;
        if turn.answered {
            turn.replies.push(guidance);
            return Ok(Some(turn));
        }
        return Ok(None);
    }
    // The same for a question about the shop's shipping that the knowledge base answers, alone
    // or read with the message it follows ("那多久能收到" after "怎么开专票" asks about the invoice).
    if matches!(tool, "order_status" | "logistics")
        && asks_the_shop(t.text, !candidates.is_empty())
        && (knowledge_answers(state, t).await? || follow_up_answered(state, t).await?)
    {
        return Ok(None);
    }
    if let [only] = candidates.as_slice() {
        return Ok(Some(tool_answer(state, t, tool, only, &owners).await));
    }
    set(Some(Pending::Slot { tool: tool.into(), options: candidates.clone(), tries: 0 })).await?;
    let labels = labels_of(state, t, &candidates).await?;
    Ok(Some(ToolTurn {
        replies: vec![ask(tool, &labels, t.chinese, false, example(state, t).await.as_deref())],
        handoff: None,
        tool: None,
        answered: false,
        source: None,
    }))
}

/// A tracking number answers "where is my parcel" whichever of the two intents it came with.
async fn by_tracking(
    state: &AppState,
    t: &TurnInput<'_>,
    tool: &str,
    slots: &[(String, String)],
    owners: &[String],
) -> Option<ToolTurn> {
    let tn = slot(slots, "tracking_no").filter(|_| matches!(tool, "logistics" | "order_status"))?;
    let args = Fields::from([("tracking_no".to_owned(), tn.clone())]);
    let r = tools::call(state, t.tenant, "logistics", &args, owners).await;
    Some(answered_turn("logistics", tn, r, t.chinese, None))
}

/// Order numbers in the customer's timeline (every channel), newest first, each once.
async fn mentioned_orders(
    state: &AppState,
    tenant: &TenantId,
    customer: &CustomerId,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let (_, msgs) = state.store.timeline(tenant, customer, 200).await?;
    let kit = state.entities.built(&state.store, tenant).await;
    let mut out: Vec<String> = Vec::new();
    // The customer's words, and the bot's answers about one order: a customer who picked "2"
    // from the offered orders and then asks "那什么时候能到" means that order. Not the bot's
    // questions, which carry an example number or several options.
    for m in msgs.iter().rev() {
        let Some(text) = m.content["text"].as_str() else { continue };
        let text = match m.sender_kind.as_str() {
            "customer" => text,
            "bot" => match answered_order(text) {
                Some(no) => no,
                None => continue,
            },
            _ => continue,
        };
        let norm = kit.normalizer.normalize(text);
        for (k, v) in slots_of(&kit.extractor.extract(&norm.text, Now::china(now.millis() / 1000))) {
            if k == "order_no" && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// The order a tool's answer is about: its templates (below) start with it ("订单 LX… 当前状态",
/// "Order LX… is shipped", "The refund for order LX…"); a failure ("没有查到订单 …") does not.
fn answered_order(text: &str) -> Option<&str> {
    let english_thing = || {
        let rest = text.strip_prefix("The ")?;
        let (thing, rest) = rest.split_once(" for order ")?;
        (!thing.contains(' ')).then_some(rest)
    };
    let rest = text.strip_prefix("订单 ").or_else(|| text.strip_prefix("Order ")).or_else(english_thing)?;
    let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '（' | '(' | '，' | ',')).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|no| !no.is_empty())
}

/// The offered orders as the customer sees them: buttons read better with what was bought; a
/// click sends the label, whose number counts.
async fn labels_of(state: &AppState, t: &TurnInput<'_>, orders: &[String]) -> Result<Vec<String>, StoreError> {
    let labels = items_of(state, t.tenant, orders).await?.into_iter().map(|(c, item)| match item {
        Some(item) if t.chinese => format!("{c}（{item}）"),
        Some(item) => format!("{c} ({item})"),
        None => c,
    });
    Ok(labels.collect())
}

/// Each order with what was bought in it (its record's `item`, when it has one).
async fn items_of(
    state: &AppState,
    tenant: &TenantId,
    orders: &[String],
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut out = Vec::with_capacity(orders.len());
    for no in orders {
        let item = state.store.record(tenant, "orders", no).await?.and_then(|r| r.fields.get("item").cloned());
        out.push((no.clone(), item));
    }
    Ok(out)
}

/// The one order whose item the message names best: the longest run of Chinese characters it
/// shares with the item ("净化器" in "空气净化器 P3", at least two), plus two for a model code
/// it names ("P3", "E5"), when no other order's item scores as much. `None` when no item
/// scores two or several score the most.
fn order_named(text: &str, items: &[(String, Option<String>)]) -> Option<String> {
    let text = text.to_uppercase();
    let shared = |item: &str| -> usize {
        let item = item.to_uppercase();
        let codes = item
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 2 && w.chars().any(|c| c.is_ascii_digit()) && text.contains(*w))
            .map(|_| 2)
            .max()
            .unwrap_or(0);
        let chars: Vec<char> = item.chars().collect();
        let mut run = 0;
        for i in 0..chars.len() {
            for j in i + 2..=chars.len() {
                let piece: String = chars[i..j].iter().collect();
                if !piece.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) || !text.contains(&piece) {
                    break;
                }
                run = run.max(j - i);
            }
        }
        run + codes
    };
    let scores: Vec<(usize, &String)> =
        items.iter().map(|(no, item)| (item.as_deref().map_or(0, shared), no)).collect();
    let best = scores.iter().map(|(s, _)| *s).max().filter(|s| *s >= 2)?;
    match scores.iter().filter(|(s, _)| *s == best).collect::<Vec<_>>().as_slice() {
        [(_, no)] => Some((*no).clone()),
        _ => None,
    }
}

/// A reply naming one of the offered orders: its number, its position ("2", "第二个").
fn pick_option(text: &str, options: &[String]) -> Option<String> {
    let t = text.trim().to_uppercase();
    if let Some(o) = options.iter().find(|o| t.contains(o.as_str())) {
        return Some(o.clone());
    }
    let ordinals = [("1", "第一"), ("2", "第二"), ("3", "第三"), ("4", "第四"), ("5", "第五")];
    ordinals
        .iter()
        .zip(options)
        .find(|((d, zh), _)| t == *d || t.starts_with(zh) || t == format!("{d}."))
        .map(|(_, o)| o.clone())
}

fn ask(tool: &str, options: &[String], chinese: bool, again: bool, example: Option<&str>) -> Draft {
    let what = match (tool, chinese) {
        ("refund_status", true) => "退款",
        ("invoice", true) => "发票",
        ("logistics", true) => "物流",
        (_, true) => "订单",
        ("refund_status", false) => "refund",
        ("invoice", false) => "invoice",
        ("logistics", false) => "delivery",
        _ => "order",
    };
    if options.is_empty() {
        let hint = if again {
            if chinese {
                "没有识别到订单号。"
            } else {
                "I couldn't find an order number there. "
            }
        } else {
            ""
        };
        return Draft::text(match (chinese, example) {
            (true, Some(e)) => format!("{hint}请提供订单号（例如 {e}），我帮您查询{what}进度。"),
            (true, None) => format!("{hint}请提供订单号，我帮您查询{what}进度。"),
            (false, Some(e)) => format!("{hint}Please give me the order number (e.g. {e}) and I'll check the {what}."),
            (false, None) => format!("{hint}Please give me the order number and I'll check the {what}."),
        });
    }
    // Buttons where the channel has them, numbered lines elsewhere (`pick_option` reads both).
    let question = match (chinese, what) {
        (true, "订单") => "您想查询哪个订单？".to_owned(),
        (true, _) => format!("您想查询哪个订单的{what}？"),
        (false, "order") => "Which order would you like me to check?".to_owned(),
        (false, _) => format!("Which order's {what} would you like me to check?"),
    };
    Draft::choice(question, options)
}

async fn tool_answer(state: &AppState, t: &TurnInput<'_>, tool: &str, order_no: &str, owners: &[String]) -> ToolTurn {
    let args = Fields::from([("order_no".to_owned(), order_no.to_owned())]);
    let r = tools::call(state, t.tenant, tool, &args, owners).await;
    if let Err(e) = &r {
        tracing::info!(tool, error = %e, "tool call failed");
    }
    answered_turn(tool, order_no, r, t.chinese, example(state, t).await.as_deref())
}

/// The tenant's example order number for the bot's questions and "not found" replies.
async fn example(state: &AppState, t: &TurnInput<'_>) -> Option<String> {
    state.entities.order_example(&state.store, t.tenant).await
}

/// A tool call's turn: the templated answer (or why there is none), and when the call found
/// something, that answer as the source the optional LLM may phrase from.
fn answered_turn(tool: &str, key: &str, r: Result<Fields, ToolError>, zh: bool, example: Option<&str>) -> ToolTurn {
    let answered = r.is_ok();
    let text = render(tool, key, r, zh, example);
    let source =
        answered.then(|| Source { id: format!("tool:{tool}"), title: tool_title(tool, zh), text: text.clone() });
    ToolTurn { answered, replies: vec![Draft::text(text)], handoff: None, tool: Some(tool.into()), source }
}

/// What the customer sees as a tool's name under a phrased answer (`来源：[1] 物流查询`).
fn tool_title(tool: &str, zh: bool) -> String {
    let (cn, en) = match tool {
        "order_status" => ("订单状态查询", "Order status"),
        "logistics" => ("物流查询", "Shipment tracking"),
        "refund_status" => ("退款进度查询", "Refund status"),
        "membership" => ("会员信息查询", "Membership"),
        "invoice" => ("发票查询", "Invoice"),
        other => (other, other),
    };
    if zh { cn } else { en }.to_owned()
}

/// Walks a flow through its tool calls until it waits, hands over or ends; stores the run.
async fn drive(
    state: &AppState,
    t: &TurnInput<'_>,
    flow: &Flow,
    mut run: FlowRun,
    mut out: Outcome,
    owners: &[String],
) -> Result<ToolTurn, StoreError> {
    let mut replies: Vec<Draft> = Vec::new();
    let handoff = loop {
        replies.extend(out.replies.iter().map(show));
        match out.next.clone() {
            Next::CallTool { tool, args } => {
                let args: Fields = args.into_iter().collect();
                let r = tools::call(state, t.tenant, &tool, &args, owners).await;
                let err = r.as_ref().err().map(ToolError::code);
                let next = match &r {
                    Ok(f) => flow.advance(&mut run, FlowInput::ToolDone(Ok(f)), t.chinese),
                    Err(_) => flow.advance(&mut run, FlowInput::ToolDone(Err(err.unwrap_or("error"))), t.chinese),
                };
                match next {
                    Ok(o) => out = o,
                    Err(e) => {
                        tracing::warn!(error = %e, "flow run stale");
                        break Some(("troubleshooting_failed".to_owned(), flow_title(flow, t.chinese)));
                    }
                }
            }
            Next::AwaitCustomer => {
                let p = serde_json::to_string(&Pending::Flow { run: run.clone() }).unwrap_or_default();
                state.store.set_bot_pending(t.tenant, &t.customer.id, Some(&p), t.now).await?;
                return Ok(ToolTurn { replies, handoff: None, tool: None, answered: false, source: None });
            }
            Next::Handoff { reason } => break Some((reason, flow_title(flow, t.chinese))),
            Next::Finished { .. } => break None,
        }
    };
    state.store.set_bot_pending(t.tenant, &t.customer.id, None, t.now).await?;
    Ok(ToolTurn { replies, handoff, tool: None, answered: false, source: None })
}

fn flow_title(flow: &Flow, chinese: bool) -> String {
    if chinese {
        format!("引导排查未解决：{}", flow.title.get(true))
    } else {
        format!("Guided troubleshooting needs a person: {}", flow.title.get(false))
    }
}

fn show(r: &Reply) -> Draft {
    Draft::choice(r.text.clone(), &r.buttons)
}

fn label(code: &str, chinese: bool) -> String {
    let (zh, en) = match code {
        "pending_payment" => ("待付款", "awaiting payment"),
        "paid" => ("已付款，待发货", "paid, not shipped yet"),
        "shipped" => ("已发货", "shipped"),
        "in_transit" => ("运输中", "in transit"),
        "out_for_delivery" => ("派送中", "out for delivery"),
        "delivered" => ("已签收", "delivered"),
        "completed" => ("已完成", "completed"),
        "cancelled" => ("已取消", "cancelled"),
        "returning" => ("退货中", "being returned"),
        "processing" => ("处理中", "being processed"),
        "refunded" => ("已退款", "refunded"),
        "issued" => ("已开具", "issued"),
        "pending" => ("开具中", "being issued"),
        other => (other, other),
    };
    if chinese { zh } else { en }.to_owned()
}

/// The live answer from a tool's fields (or why there is none).
fn render(tool: &str, key: &str, r: Result<Fields, ToolError>, zh: bool, example: Option<&str>) -> String {
    let f = match r {
        Ok(f) => f,
        Err(ToolError::NotFound) if tool == "membership" => {
            return if zh {
                "没有查到您的会员信息，请确认下单时使用的手机号。".into()
            } else {
                "I couldn't find a membership for you; please check the phone number you shop with.".into()
            }
        }
        Err(ToolError::NotFound | ToolError::BadArgs(_)) => {
            return match (zh, example) {
                (true, Some(e)) => format!("没有查到订单 {key} 的相关记录，请核对订单号是否正确（例如 {e}）。"),
                (true, None) => format!("没有查到订单 {key} 的相关记录，请核对订单号是否正确。"),
                (false, Some(e)) => {
                    format!("I couldn't find any record for order {key}; please check the number (e.g. {e}).")
                }
                (false, None) => format!("I couldn't find any record for order {key}; please check the number."),
            }
        }
        Err(_) => {
            return if zh {
                "查询系统暂时繁忙，请稍后再试；如需帮助可以输入“转人工”。".into()
            } else {
                "Our order system is busy right now; please try again shortly, or ask for a person.".into()
            }
        }
    };
    let g = |k: &str| f.get(k).cloned().unwrap_or_default();
    let status = label(&g("status"), zh);
    let no = f.get("order_no").cloned().unwrap_or_else(|| key.to_owned());
    match (tool, zh) {
        ("order_status", true) => {
            let ship = if g("tracking_no").is_empty() {
                String::new()
            } else {
                format!("，{} 运单号 {}", g("carrier"), g("tracking_no"))
            };
            format!("订单 {no}（{}）当前状态：{status}{ship}。", g("item"))
        }
        ("order_status", false) => {
            let ship = if g("tracking_no").is_empty() {
                String::new()
            } else {
                format!(", {} tracking {}", g("carrier"), g("tracking_no"))
            };
            format!("Order {no} ({}) is {status}{ship}.", g("item"))
        }
        ("logistics", _) if g("location").is_empty() => {
            if zh {
                format!("订单 {no} 还没有物流信息，当前状态：{status}。")
            } else {
                format!("Order {no} has no shipment yet; it is {status}.")
            }
        }
        ("logistics", true) => {
            let eta = if g("eta").is_empty() { String::new() } else { format!("，预计 {} 送达", g("eta")) };
            format!(
                "订单 {no} 的包裹（{} {}）{status}，最新：{}（{}）{eta}。",
                g("carrier"),
                g("tracking_no"),
                g("location"),
                g("updated_at")
            )
        }
        ("logistics", false) => {
            let eta = if g("eta").is_empty() { String::new() } else { format!(", expected {}", g("eta")) };
            format!(
                "The parcel for order {no} ({} {}) is {status}: {} ({}){eta}.",
                g("carrier"),
                g("tracking_no"),
                g("location"),
                g("updated_at")
            )
        }
        ("refund_status", true) if g("status") == "refunded" => {
            format!("订单 {no} 的退款 ¥{} 已{}，于 {} 到账。", g("amount"), g("method"), g("eta"))
        }
        ("refund_status", true) => format!(
            "订单 {no} 的退款（¥{}）{status}，将{}，预计 {} 前到账；银行卡入账可能再晚 1–5 个工作日。",
            g("amount"),
            g("method"),
            g("eta")
        ),
        ("refund_status", false) => format!(
            "The refund for order {no} (¥{}) is {status}, back to {} by {}.",
            g("amount"),
            g("method"),
            g("eta")
        ),
        ("membership", true) => {
            format!("您是{}，当前积分 {}，有效期至 {}；100 积分可抵 1 元。", g("level"), g("points"), g("expires_at"))
        }
        ("membership", false) => format!(
            "You are {} with {} points, valid until {}; 100 points = ¥1.",
            g("level"),
            g("points"),
            g("expires_at")
        ),
        ("invoice", true) if g("status") == "issued" => {
            format!("订单 {no} 的电子发票已开具（抬头：{}），下载：{}", g("title"), g("download"))
        }
        ("invoice", true) => format!("订单 {no} 的电子发票{status}，通常 24 小时内开好，届时可在“我的订单-发票”下载。"),
        ("invoice", false) if g("status") == "issued" => {
            format!("The e-invoice for order {no} is issued (title: {}): {}", g("title"), g("download"))
        }
        ("invoice", false) => format!("The e-invoice for order {no} is {status}; it is usually ready within 24 hours."),
        _ => f.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::{answered_order, ask, asks_the_shop, order_named, render};

    #[test]
    fn an_order_is_named_by_what_was_bought_in_it() {
        let items: Vec<(String, Option<String>)> =
            [("LX1", "空气净化器 P3"), ("LX2", "蓝牙耳机 E5"), ("LX3", "智能摄像头 C2 (2K)"), ("LX9", "")]
                .iter()
                .map(|(n, i)| ((*n).into(), Some((*i).to_owned()).filter(|i| !i.is_empty())))
                .collect();
        assert_eq!(order_named("我的净化器什么时候发货", &items).as_deref(), Some("LX1"));
        assert_eq!(order_named("耳机那个", &items).as_deref(), Some("LX2"));
        assert_eq!(order_named("where is my e5", &items).as_deref(), Some("LX2"));
        assert_eq!(order_named("摄像头的物流", &items).as_deref(), Some("LX3"));
        assert_eq!(order_named("我的快递到哪了", &items), None);
        assert_eq!(order_named("气", &items), None, "one character names nothing");
        let two_cameras: Vec<(String, Option<String>)> = [("LX4", "智能摄像头 C2"), ("LX5", "智能摄像头 C3")]
            .iter()
            .map(|(n, i)| ((*n).into(), Some((*i).into())))
            .collect();
        assert_eq!(order_named("摄像头到哪了", &two_cameras), None, "both orders are cameras");
        assert_eq!(order_named("C3 摄像头到哪了", &two_cameras).as_deref(), Some("LX5"));
    }

    #[test]
    fn the_order_question_names_what_it_checks_once() {
        let options = ["LX1".to_owned(), "LX2".to_owned()];
        assert_eq!(ask("order_status", &options, true, false, None).text, "您想查询哪个订单？");
        assert_eq!(ask("logistics", &options, true, false, None).text, "您想查询哪个订单的物流？");
        assert_eq!(ask("order_status", &options, false, false, None).text, "Which order would you like me to check?");
    }
    use crate::tools::{Fields, ToolError};

    /// The slot filler reads an order back from the bot's answers by their templates: every
    /// tool's answer about an order must start with it, and a failure must not.
    #[test]
    fn every_answer_about_an_order_names_it_first_and_a_failure_does_not() {
        let fields = |pairs: &[(&str, &str)]| -> Fields {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let order = fields(&[("order_no", "LX20261118002"), ("status", "shipped"), ("item", "Cam")]);
        let shipped = fields(&[
            ("order_no", "LX20261118002"),
            ("status", "shipped"),
            ("tracking_no", "SF1"),
            ("carrier", "SF"),
            ("item", "Cam"),
        ]);
        let refund = fields(&[("order_no", "LX20261118002"), ("amount", "9"), ("method", "x"), ("eta", "y")]);
        let invoice = fields(&[("order_no", "LX20261118002"), ("title", "t"), ("download", "d")]);
        for zh in [true, false] {
            for (tool, f) in [
                ("order_status", &order),
                ("order_status", &shipped),
                ("logistics", &order),
                ("refund_status", &refund),
                ("invoice", &invoice),
            ] {
                let text = render(tool, "LX20261118002", Ok(f.clone()), zh, None);
                assert_eq!(answered_order(&text), Some("LX20261118002"), "{tool} {zh}: {text}");
            }
            let failed = render("order_status", "LX20261118002", Err(ToolError::NotFound), zh, Some("LX1"));
            assert_eq!(answered_order(&failed), None, "{failed}");
        }
    }

    #[test]
    fn shop_questions_go_to_the_knowledge_base_and_own_orders_do_not() {
        assert!(asks_the_shop("你们发什么快递", true));
        assert!(asks_the_shop("能不能发顺丰", false));
        assert!(!asks_the_shop("能不能发顺丰", true), "with an order in sight it means that order");
        assert!(!asks_the_shop("我的快递到哪了", false));
        assert!(!asks_the_shop("物流", false), "not a question");
    }
}
