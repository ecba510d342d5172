//! Recommendations in the bot turn: right after a confident answer (the knowledge base's, or a
//! business-data tool's), at most one suggestion per conversation chosen by the tenant's rules
//! (`lingxi_engine::recommend`) over its product catalogue (`products` records) and the
//! customer's orders and membership. Never to an unhappy customer, nor one who raised a return,
//! refund, complaint, cancellation or payment problem in the last day, nor the same suggestion
//! twice in a week on any channel; never when the tenant turned it off (`[recommendations]`,
//! per tenant slug in `[recommendations.tenants.<slug>]`).

use crate::config::ConfigError;
use crate::state::AppState;
use lingxi_domain::{Content, ConversationId, TenantId, Timestamp};
use lingxi_engine::recommend::{day_of, recommend, Customer, Membership, Product, Purchase, RuleSpec, Rules};
use lingxi_nlu::sentiment::SentimentTrend;
use lingxi_store::{BotTurn, CustomerView, RatedKind, ReplyAbout, StoreError, Understood};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The `[recommendations]` section, parsed: on or off for every tenant and per slug, and the
/// rules (the shipped demo set unless a rules file replaces it, for all or for one tenant).
#[derive(Debug, Clone)]
pub struct RecommendConfig {
    pub enabled: bool,
    pub rules: Arc<Rules>,
    pub tenants: HashMap<String, TenantRecommend>,
}

#[derive(Debug, Clone)]
pub struct TenantRecommend {
    pub enabled: bool,
    pub rules: Arc<Rules>,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig { enabled: true, rules: Arc::new(demo_rules()), tenants: HashMap::new() }
    }
}

/// The shipped rules; they are checked by the engine's tests, so a failure here is a bug and
/// leaves the bot without recommendations rather than without a start.
fn demo_rules() -> Rules {
    serde_json::from_str::<Vec<RuleSpec>>(lingxi_engine::recommend::DEMO_RULES)
        .ok()
        .and_then(|s| Rules::compile(s).ok())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendFile {
    pub enabled: Option<bool>,
    /// A JSON file of rules (see docs/knowledge.md) replacing the shipped ones.
    pub rules_file: Option<String>,
    pub tenants: Option<HashMap<String, TenantFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    pub enabled: Option<bool>,
    pub rules_file: Option<String>,
}

fn load_rules(path: &str, key: &str) -> Result<Rules, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.to_owned(), source: e })?;
    let specs: Vec<RuleSpec> = serde_json::from_str(&text)
        .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
    Rules::compile(specs).map_err(|problems| ConfigError::Value {
        key: key.to_owned(),
        value: path.to_owned(),
        why: problems.join("; "),
    })
}

impl RecommendConfig {
    pub fn from_file(file: Option<RecommendFile>) -> Result<Self, ConfigError> {
        let file = file.unwrap_or_default();
        let rules = match &file.rules_file {
            Some(p) => Arc::new(load_rules(p, "recommendations.rules_file")?),
            None => Arc::new(demo_rules()),
        };
        let enabled = file.enabled.unwrap_or(true);
        let mut tenants = HashMap::new();
        for (slug, t) in file.tenants.unwrap_or_default() {
            let rules = match &t.rules_file {
                Some(p) => Arc::new(load_rules(p, &format!("recommendations.tenants.{slug}.rules_file"))?),
                None => rules.clone(),
            };
            tenants.insert(slug, TenantRecommend { enabled: t.enabled.unwrap_or(enabled), rules });
        }
        Ok(RecommendConfig { enabled, rules, tenants })
    }

    /// The tenant's rules, or `None` when recommendations are off for it.
    pub fn for_slug(&self, slug: &str) -> Option<&Rules> {
        match self.tenants.get(slug) {
            Some(t) => t.enabled.then_some(&*t.rules),
            None => self.enabled.then_some(&*self.rules),
        }
    }

    /// Off everywhere: the bot need not even look up the tenant.
    fn off_everywhere(&self) -> bool {
        !self.enabled && self.tenants.values().all(|t| !t.enabled)
    }
}

/// A customer who is unhappy now, or was angry earlier in the conversation, is not sold to.
/// Mildly negative scores are left out: the sentiment model reads plain questions such as
/// "我的会员积分还有多少？" as slightly negative (-0.38).
pub fn unhappy(trend: &SentimentTrend) -> bool {
    let last_bad = trend.last.as_ref().is_some_and(|s| {
        s.score <= -0.5 || s.emotions.anger >= 0.3 || s.emotions.disappointment >= 0.5 || s.emotions.anxiety >= 0.6
    });
    last_bad || trend.anger_rising || trend.negative_streak >= 2 || trend.max_anger >= 0.5
}

/// Intents of something gone wrong for the customer. A suggestion right after one reads as
/// deaf ("我要退货", then an accessory pitch: seen in the demo), so a customer who raised one in
/// the last day, on any channel, gets none.
const TROUBLE_INTENTS: &[&str] = &[
    "return_request",
    "refund_status",
    "refund_dispute",
    "complaint",
    "cancel_order",
    "payment_issue",
    "product_troubleshooting",
];
const QUIET_AFTER_TROUBLE_MS: i64 = 24 * 3600 * 1000;

/// The same suggestion is not made to a customer twice within a week, on any channel (the
/// one-per-conversation claim alone let WeChat and then the app repeat it within a minute).
const SAME_OFFER_GAP_MS: i64 = 7 * 24 * 3600 * 1000;

fn trouble(intent: Option<&str>) -> bool {
    intent.is_some_and(|i| TROUBLE_INTENTS.contains(&i))
}

/// The answer the suggestion follows.
pub struct Answered<'a> {
    pub tenant: &'a TenantId,
    pub conversation: &'a ConversationId,
    pub customer: &'a CustomerView,
    pub trend: &'a SentimentTrend,
    pub chinese: bool,
    pub last_intent: Option<String>,
    /// The customer's message answered (normalised): a parcel reported missing, or a device
    /// reported broken, is trouble whatever intent it was read as (logistics, warranty).
    pub text: &'a str,
    /// When the answer is stamped: the suggestion comes right after it.
    pub answered_at: Timestamp,
    /// The answer's claim on the customer message: a computation of the turn that lost the
    /// claim (another node answered) loses its suggestion with its answer.
    pub understood: Option<Understood>,
}

/// Queues one suggestion after the answer, if the tenant's rules find one and the conversation
/// has had none. Failures are logged: a missing suggestion is no loss to the customer.
pub async fn after_answer(state: &AppState, a: &Answered<'_>) {
    if let Err(e) = suggest(state, a).await {
        tracing::warn!(error = %e, conversation = %a.conversation, "no recommendation this turn");
    }
}

async fn suggest(state: &AppState, a: &Answered<'_>) -> Result<(), StoreError> {
    let cfg = &state.config.recommendations;
    use lingxi_nlu::subject::{reports_fault, reports_missing_delivery};
    let problem = reports_missing_delivery(a.text) || reports_fault(a.text);
    if cfg.off_everywhere() || unhappy(a.trend) || trouble(a.last_intent.as_deref()) || problem {
        return Ok(());
    }
    let Some(slug) = crate::bot_tools::tenant_slug(state, a.tenant).await else { return Ok(()) };
    let Some(rules) = cfg.for_slug(&slug) else { return Ok(()) };
    if rules.is_empty() || state.store.recommendation(a.tenant, a.conversation).await?.is_some() {
        return Ok(());
    }
    let catalogue: Vec<Product> =
        state.store.records_of_kind(a.tenant, "products", 5000).await?.into_iter().map(product).collect();
    if catalogue.is_empty() {
        return Ok(());
    }
    // Business systems keep mainland phones without the country code.
    let owners: Vec<String> =
        a.customer.identities.iter().map(|i| i.value.trim_start_matches("+86").to_owned()).collect();
    let purchases: Vec<Purchase> = state
        .store
        .records_owned(a.tenant, "orders", &owners)
        .await?
        .into_iter()
        // Returned, refunded or unpaid orders are not things the customer has.
        .filter(|o| {
            !matches!(
                o.fields.get("status").map(String::as_str),
                Some("cancelled" | "returning" | "refunded" | "pending_payment")
            )
        })
        .filter_map(|o| {
            let sku = o.fields.get("sku")?.to_uppercase();
            let day = day_of(o.fields.get("placed_at")?)?;
            Some(Purchase { sku, day })
        })
        .collect();
    let membership = state.store.records_owned(a.tenant, "members", &owners).await?.into_iter().find_map(|m| {
        Some(Membership { level: m.fields.get("level")?.clone(), expires_day: day_of(m.fields.get("expires_at")?)? })
    });
    // Days are counted in China's time zone, as the shop's dates are written.
    let today = (a.answered_at.millis() / 1000 + 8 * 3600).div_euclid(86_400);
    let customer = Customer { purchases: &purchases, membership: membership.as_ref() };
    let Some(offer) = recommend(rules, &catalogue, customer, today, a.chinese) else { return Ok(()) };
    let (_, timeline) = state.store.timeline(a.tenant, &a.customer.id, 200).await?;
    let within = |m: &lingxi_store::MessageRow, ms: i64| m.sent_at.millis() >= a.answered_at.millis() - ms;
    let troubled = timeline
        .iter()
        .any(|m| m.sender_kind == "customer" && within(m, QUIET_AFTER_TROUBLE_MS) && trouble(m.intent.as_deref()));
    let made = timeline.iter().any(|m| {
        m.sender_kind == "bot"
            && within(m, SAME_OFFER_GAP_MS)
            && m.content["text"].as_str() == Some(offer.text.as_str())
    });
    if troubled || made {
        return Ok(());
    }
    // The claim keeps it to one per conversation, however many turns race for it.
    if !state.store.claim_recommendation(a.tenant, a.conversation, &offer.rule_id, &offer.sku, a.answered_at).await? {
        return Ok(());
    }
    tracing::info!(conversation = %a.conversation, rule = %offer.rule_id, sku = %offer.sku, "recommendation");
    state
        .bot
        .submit(BotTurn {
            tenant_id: a.tenant.clone(),
            conversation_id: a.conversation.clone(),
            last_intent: a.last_intent.clone(),
            sentiment: a.trend.last.as_ref().map_or(0.0, |s| f64::from(s.score)),
            failures: 0,
            reply: Content::text(&offer.text).ok(),
            handoff: None,
            handoff_details: None,
            at: Timestamp::from_millis(a.answered_at.millis() + 1),
            // Rated on its own: a "not useful" here is about the suggestion, not a knowledge gap.
            about: Some(ReplyAbout {
                kind: RatedKind::Recommendation,
                ref_id: Some(offer.rule_id.clone()),
                question: None,
            }),
            understood: a.understood.clone(),
        })
        .await;
    Ok(())
}

fn product(r: lingxi_store::BusinessRecord) -> Product {
    let f = |k: &str| r.fields.get(k).cloned().unwrap_or_default();
    Product {
        name: f("name"),
        category: f("category"),
        price: f("price"),
        accessories: f("accessories").split(['|', ' ', ';']).filter(|s| !s.is_empty()).map(str::to_uppercase).collect(),
        warranty_months: f("warranty_months").parse().unwrap_or(0),
        sku: r.key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<RecommendConfig, ConfigError> {
        RecommendConfig::from_file(Some(toml::from_str(toml_text).expect("toml")))
    }

    #[test]
    fn on_by_default_and_off_per_tenant_or_everywhere() {
        let d = RecommendConfig::default();
        assert!(d.for_slug("demo").is_some_and(|r| !r.is_empty()), "the shipped rules are on");
        let c = parse("[tenants.acme]\nenabled = false").unwrap();
        assert!(c.for_slug("acme").is_none());
        assert!(c.for_slug("demo").is_some());
        let c = parse("enabled = false\n[tenants.demo]\nenabled = true").unwrap();
        assert!(c.for_slug("other").is_none() && c.for_slug("demo").is_some() && !c.off_everywhere());
        assert!(parse("enabled = false").unwrap().off_everywhere());
        assert!(toml::from_str::<RecommendFile>("enabled = true\ncolour = 1").is_err(), "unknown keys are refused");
    }

    #[test]
    fn a_tenants_rules_file_is_checked_at_start_and_named_in_errors() {
        let dir = std::env::temp_dir().join(format!("lingxi-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"[{ "id": "r", "when": { "membership_expiring": { "days": 7 } }, "zh": "续费", "en": "renew" }]"#,
        )
        .unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            r#"[{ "id": "r", "when": { "membership_expiring": { "days": 0 } }, "zh": "{x}", "en": "e" }]"#,
        )
        .unwrap();
        let c = parse(&format!("[tenants.acme]\nrules_file = {:?}", good.display().to_string())).unwrap();
        assert!(c.for_slug("acme").is_some_and(|r| r != &*c.rules));
        let e = parse(&format!("[tenants.acme]\nrules_file = {:?}", bad.display().to_string())).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("recommendations.tenants.acme.rules_file") && text.contains("days"), "{text}");
        assert!(parse("rules_file = \"/nonexistent/rules.json\"").is_err());
    }
}
