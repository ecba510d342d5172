//! The hand-off policy: given what understanding made of a customer's message and of the
//! conversation so far, decide whether the bot may keep talking or a person must take over,
//! and why. Hand-off is an explicit decision with a reason, never inferred from generated text.

use crate::routing::PriorityFlags;
use lingxi_nlu::intent::IntentResult;
use lingxi_nlu::sentiment::SentimentTrend;
use lingxi_nlu::smalltalk::{small_talk, SmallTalk};

/// Why a conversation goes to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffReason {
    /// The customer asked for a person (转人工, "human", …).
    CustomerRequest,
    /// The last message is clearly angry, or several in a row are negative.
    NegativeSentiment,
    /// Anger rising across turns.
    AngerRising,
    /// A topic the tenant wants people to handle (complaint, refund dispute, …): the intent.
    PriorityTopic(String),
    /// Fraud, unusual-transfer or safety wording: the phrase that matched.
    Risk(String),
    /// An amount at or above the tenant's threshold was mentioned.
    LargeAmount,
    /// The bot was unsure or did not understand this many times in a row.
    RepeatedFailure(u32),
    /// The customer is a VIP and the tenant serves VIPs with people.
    Vip,
    /// A tenant's business rule (by channel, time, customer attribute or tag) matched: its name.
    BusinessRule(String),
}

impl HandoffReason {
    /// Stable machine name, stored with the conversation.
    pub fn code(&self) -> &'static str {
        match self {
            HandoffReason::CustomerRequest => "customer_request",
            HandoffReason::NegativeSentiment => "negative_sentiment",
            HandoffReason::AngerRising => "anger_rising",
            HandoffReason::PriorityTopic(_) => "priority_topic",
            HandoffReason::Risk(_) => "risk",
            HandoffReason::LargeAmount => "large_amount",
            HandoffReason::RepeatedFailure(_) => "repeated_failure",
            HandoffReason::Vip => "vip",
            HandoffReason::BusinessRule(_) => "business_rule",
        }
    }

    /// A short human explanation (Chinese, English).
    pub fn describe(&self) -> (String, String) {
        match self {
            HandoffReason::CustomerRequest => ("客户要求人工服务".into(), "The customer asked for a person".into()),
            HandoffReason::NegativeSentiment => ("客户情绪明显负面".into(), "The customer is clearly upset".into()),
            HandoffReason::AngerRising => ("客户怒气在上升".into(), "The customer's anger is rising".into()),
            HandoffReason::PriorityTopic(t) => (format!("需人工处理的话题：{t}"), format!("A topic for people: {t}")),
            HandoffReason::Risk(w) => (format!("风险信号：{w}"), format!("Risk signal: {w}")),
            HandoffReason::LargeAmount => ("涉及大额金额".into(), "A large amount is involved".into()),
            HandoffReason::RepeatedFailure(n) => {
                (format!("机器人连续 {n} 次未能理解"), format!("The bot failed {n} times in a row"))
            }
            HandoffReason::Vip => ("VIP 客户".into(), "VIP customer".into()),
            HandoffReason::BusinessRule(n) => (format!("业务规则：{n}"), format!("Business rule: {n}")),
        }
    }
}

/// Per-tenant settings; each trigger can be switched off.
#[derive(Debug, Clone)]
pub struct HandoffPolicy {
    pub on_customer_request: bool,
    /// Phrases (normalised, lower-case) that ask for a person, besides the `human_agent` intent.
    pub human_request_phrases: Vec<String>,
    pub on_negative_sentiment: bool,
    pub on_anger_rising: bool,
    /// Intents handled by people.
    pub priority_intents: Vec<String>,
    /// Risk phrases (normalised, lower-case).
    pub risk_phrases: Vec<String>,
    /// Amounts at or above this many minor units (fen, cents) go to people; `None`: off.
    pub large_amount_minor: Option<i64>,
    /// Consecutive not-understood turns before a hand-off; 0: off.
    pub max_failures: u32,
    pub vip_to_people: bool,
    /// The last message's anger (0–1) at which it counts as clearly angry.
    pub anger_threshold: f32,
    /// The tenant's own rules, checked after the built-in triggers.
    pub rules: Vec<BusinessRule>,
}

/// A tenant's rule: hand over every turn that matches all of the conditions given (an empty
/// condition matches anything; a rule with no condition at all is refused by the config parser).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BusinessRule {
    /// Shown as the hand-off reason.
    pub name: String,
    /// Channel kinds (`email`, `wechat_official`, …); empty: any.
    pub channels: Vec<String>,
    /// A customer tag that must be present.
    pub tag: Option<String>,
    /// A customer attribute that must have this value (compared as text).
    pub attribute: Option<(String, String)>,
    /// Only outside (`Some(true)`) or inside (`Some(false)`) business hours.
    pub outside_hours: Option<bool>,
}

impl BusinessRule {
    pub fn matches(&self, ctx: &RuleContext<'_>) -> bool {
        (self.channels.is_empty() || self.channels.iter().any(|c| c == ctx.channel))
            && self.tag.as_ref().is_none_or(|t| ctx.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            && self.attribute.as_ref().is_none_or(|(k, v)| ctx.attributes.iter().any(|(ak, av)| ak == k && av == v))
            && self.outside_hours.is_none_or(|o| o != ctx.in_business_hours)
    }
}

/// What a business rule can look at.
#[derive(Debug, Clone, Default)]
pub struct RuleContext<'a> {
    pub channel: &'a str,
    pub tags: &'a [String],
    /// Customer attributes as text.
    pub attributes: &'a [(String, String)],
    pub in_business_hours: bool,
}

impl Default for HandoffPolicy {
    fn default() -> Self {
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect();
        HandoffPolicy {
            on_customer_request: true,
            human_request_phrases: words(&[
                "转人工",
                "人工客服",
                "人工服务",
                "找客服",
                "找人工",
                "真人",
                "要人工",
                "人工",
                "接人工",
                "客服电话",
                "human",
                "real person",
                "live agent",
                "talk to an agent",
                "speak to an agent",
                "speak to someone",
                "representative",
                "operator",
            ]),
            on_negative_sentiment: true,
            on_anger_rising: true,
            priority_intents: words(&["complaint", "refund_dispute", "cancel_order", "legal", "safety"]),
            risk_phrases: words(&[
                "诈骗",
                "骗子",
                "被骗",
                "盗刷",
                "转账",
                "冒充",
                "洗钱",
                "报警",
                "律师",
                "起诉",
                "法院",
                "消协",
                "12315",
                "315",
                "工商",
                "起火",
                "冒烟",
                "爆炸",
                "触电",
                "受伤",
                "fraud",
                "scam",
                "stolen card",
                "unauthorized",
                "wire transfer",
                "lawyer",
                "lawsuit",
                "sue ",
                "police",
                "fire",
                "smoke",
                "explod",
                "injur",
            ]),
            large_amount_minor: Some(500_000),
            max_failures: 2,
            vip_to_people: false,
            anger_threshold: 0.7,
            rules: Vec::new(),
        }
    }
}

/// What the policy sees of one customer turn.
#[derive(Debug, Clone)]
pub struct Turn<'a> {
    /// The normalised (lower-case, simplified) text.
    pub text: &'a str,
    pub intent: &'a IntentResult,
    /// Over the conversation's customer messages, this one included.
    pub sentiment: &'a SentimentTrend,
    /// Amounts mentioned, in minor units.
    pub amounts_minor: &'a [i64],
    pub vip: bool,
    /// Consecutive not-understood turns before this one.
    pub failures_before: u32,
    /// Whether this turn was understood (an in-scope intent or a confident answer).
    pub understood: bool,
    /// For the tenant's business rules.
    pub context: RuleContext<'a>,
}

/// The bot's decision for a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotDecision {
    /// The bot answers (or asks to clarify); `failures` is the new consecutive-failure count.
    Continue { failures: u32 },
    /// A person takes over.
    HandOff { reason: HandoffReason, priority: PriorityFlags },
}

/// Applies the triggers in order of urgency: risk and explicit requests first.
pub fn decide(policy: &HandoffPolicy, turn: &Turn<'_>) -> BotDecision {
    let signals = turn.sentiment.signals();
    let intent = turn.intent.top.as_ref().map(|m| m.intent.as_str());
    let second = turn.intent.second.as_ref().map(|m| m.intent.as_str());
    let last_anger = turn.sentiment.last.as_ref().map_or(0.0, |r| r.emotions.anger);
    let clearly_angry = last_anger >= policy.anger_threshold;
    let angry = clearly_angry || signals.anger_rising;
    let priority = |topic: bool| PriorityFlags { vip: turn.vip, angry, priority_topic: topic };
    let hand = |reason: HandoffReason, topic: bool| BotDecision::HandOff { reason, priority: priority(topic) };

    if let Some(w) = policy.risk_phrases.iter().find(|w| turn.text.contains(w.as_str())) {
        return hand(HandoffReason::Risk(w.trim().to_owned()), true);
    }
    // "你是真人吗", "are you a real person?" ask what the bot is (small talk, answered with how
    // to reach a person), not for a person: the phrase 真人 / "real person" alone is no request.
    let asks_what_the_bot_is = small_talk(turn.text) == Some(SmallTalk::BotIdentity);
    if policy.on_customer_request
        && (intent == Some("human_agent")
            || second == Some("human_agent")
            || !asks_what_the_bot_is && policy.human_request_phrases.iter().any(|p| turn.text.contains(p.as_str())))
    {
        return hand(HandoffReason::CustomerRequest, false);
    }
    if let Some(t) = [intent, second].into_iter().flatten().find(|t| policy.priority_intents.iter().any(|p| p == t)) {
        return hand(HandoffReason::PriorityTopic(t.to_owned()), true);
    }
    if policy.on_anger_rising && signals.anger_rising {
        return hand(HandoffReason::AngerRising, false);
    }
    if policy.on_negative_sentiment && (clearly_angry || signals.persistently_negative) {
        return hand(HandoffReason::NegativeSentiment, false);
    }
    if let Some(limit) = policy.large_amount_minor {
        if turn.amounts_minor.iter().any(|a| *a >= limit) {
            return hand(HandoffReason::LargeAmount, true);
        }
    }
    if policy.vip_to_people && turn.vip {
        return hand(HandoffReason::Vip, false);
    }
    if let Some(rule) = policy.rules.iter().find(|r| r.matches(&turn.context)) {
        return hand(HandoffReason::BusinessRule(rule.name.clone()), false);
    }
    let failures = if turn.understood { 0 } else { turn.failures_before + 1 };
    if policy.max_failures > 0 && failures >= policy.max_failures {
        return hand(HandoffReason::RepeatedFailure(failures), false);
    }
    BotDecision::Continue { failures }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_nlu::intent::{default_model, DefaultLanguage};
    use lingxi_nlu::sentiment::{analyze, SentimentTrend};

    /// Runs a conversation's customer messages through the policy and returns the decision for
    /// the last one.
    fn check(messages: &[&str], lang: DefaultLanguage, expected: Option<&str>) {
        let model = default_model(lang);
        let policy = HandoffPolicy::default();
        let mut sentiments = Vec::new();
        let mut failures = 0;
        let mut last = None;
        for m in messages {
            let text = m.to_lowercase();
            let intent = model.classify(&text);
            sentiments.push(analyze(&text));
            let trend = SentimentTrend::from_results(&sentiments);
            let turn = Turn {
                text: &text,
                intent: &intent,
                sentiment: &trend,
                amounts_minor: &[],
                vip: false,
                failures_before: failures,
                understood: !intent.out_of_scope,
                context: RuleContext::default(),
            };
            let d = decide(&policy, &turn);
            if let BotDecision::Continue { failures: f } = d {
                failures = f;
            }
            last = Some(d);
        }
        let got = match last.unwrap() {
            BotDecision::Continue { .. } => None,
            BotDecision::HandOff { reason, .. } => Some(reason.code()),
        };
        assert_eq!(got, expected, "{messages:?}");
    }

    #[test]
    fn triggers() {
        use DefaultLanguage::{Chinese as Zh, English as En};
        check(&["我的快递到哪了"], Zh, None);
        check(&["转人工"], Zh, Some("customer_request"));
        check(&["我要找人工客服"], Zh, Some("customer_request"));
        check(&["I want to talk to a human"], En, Some("customer_request"));
        check(&["我要找真人"], Zh, Some("customer_request"));
        check(&["can I speak to a real person"], En, Some("customer_request"));
        check(&["这是诈骗吧，你们盗刷我的卡"], Zh, Some("risk"));
        check(&["my card was used for a fraud purchase"], En, Some("risk"));
        check(&["我要投诉你们的快递员态度太差"], Zh, Some("priority_topic"));
        check(&["垃圾服务！！气死我了！！！😡😡"], Zh, Some("priority_topic"));
        check(&["我的快递到哪了", "怎么还没到", "快递到底到哪了！！！气死我了😡😡😡"], Zh, Some("anger_rising"));
        check(&["快递到底到哪了！！！气死我了😡😡😡"], Zh, Some("negative_sentiment"));
        check(&["asdkjh qwpoeiu", "zxcmnb lkjhg"], En, Some("repeated_failure"));
    }

    #[test]
    fn amounts_and_vip() {
        let model = default_model(DefaultLanguage::Chinese);
        let intent = model.classify("我的快递到哪了");
        let trend = SentimentTrend::from_results(&[analyze("我的快递到哪了")]);
        let mut policy = HandoffPolicy::default();
        let turn = |amounts: &'static [i64], vip| Turn {
            text: "我的快递到哪了",
            intent: &intent,
            sentiment: &trend,
            amounts_minor: amounts,
            vip,
            failures_before: 0,
            understood: true,
            context: RuleContext::default(),
        };
        assert!(matches!(
            decide(&policy, &turn(&[600_000], false)),
            BotDecision::HandOff { reason: HandoffReason::LargeAmount, .. }
        ));
        assert!(matches!(decide(&policy, &turn(&[10_000], false)), BotDecision::Continue { .. }));
        policy.vip_to_people = true;
        match decide(&policy, &turn(&[], true)) {
            BotDecision::HandOff { reason, priority } => {
                assert_eq!(reason, HandoffReason::Vip);
                assert!(priority.vip);
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn the_anger_threshold_and_business_rules_are_the_tenants() {
        let model = default_model(DefaultLanguage::Chinese);
        let text = "快递到底到哪了！！！气死我了😡😡😡";
        let intent = model.classify(text);
        let trend = SentimentTrend::from_results(&[analyze(text)]);
        let attrs = vec![("tier".to_string(), "gold".to_string())];
        let tags = vec!["wholesale".to_string()];
        let turn = |channel: &'static str, in_hours: bool| Turn {
            text,
            intent: &intent,
            sentiment: &trend,
            amounts_minor: &[],
            vip: false,
            failures_before: 0,
            understood: true,
            context: RuleContext { channel, tags: &tags, attributes: &attrs, in_business_hours: in_hours },
        };
        let mut policy = HandoffPolicy { priority_intents: Vec::new(), on_anger_rising: false, ..Default::default() };
        let code = |p: &HandoffPolicy, t: &Turn<'_>| match decide(p, t) {
            BotDecision::HandOff { reason, .. } => Some(reason),
            BotDecision::Continue { .. } => None,
        };
        assert_eq!(code(&policy, &turn("web_chat", true)), Some(HandoffReason::NegativeSentiment));
        policy.anger_threshold = 1.01;
        assert_eq!(code(&policy, &turn("web_chat", true)), None, "a tenant that tolerates more anger");
        policy.rules = vec![
            BusinessRule {
                name: "gold e-mail".into(),
                channels: vec!["email".into()],
                attribute: Some(("tier".into(), "gold".into())),
                ..Default::default()
            },
            BusinessRule {
                name: "wholesale at night".into(),
                tag: Some("WHOLESALE".into()),
                outside_hours: Some(true),
                ..Default::default()
            },
        ];
        assert_eq!(code(&policy, &turn("email", true)), Some(HandoffReason::BusinessRule("gold e-mail".into())));
        assert_eq!(code(&policy, &turn("web_chat", true)), None, "wrong channel, and inside hours");
        assert_eq!(
            code(&policy, &turn("web_chat", false)),
            Some(HandoffReason::BusinessRule("wholesale at night".into()))
        );
    }
}
