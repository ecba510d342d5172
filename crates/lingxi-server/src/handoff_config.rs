//! The `[handoff]` section of the configuration: the hand-off policy's triggers, each
//! switchable, for every tenant and per tenant slug (`[handoff.tenants.<slug>]`, which
//! overrides only the keys it gives), parsed once into typed `HandoffPolicy` values.

use crate::config::ConfigError;
use lingxi_engine::handoff::{BusinessRule, HandoffPolicy};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct HandoffConfig {
    pub default: HandoffPolicy,
    pub tenants: HashMap<String, HandoffPolicy>,
}

impl HandoffConfig {
    pub fn for_slug(&self, slug: Option<&str>) -> &HandoffPolicy {
        slug.and_then(|s| self.tenants.get(s)).unwrap_or(&self.default)
    }

    pub fn from_file(file: Option<HandoffFile>) -> Result<Self, ConfigError> {
        let file = file.unwrap_or_default();
        let default = file.policy.apply(HandoffPolicy::default(), "handoff")?;
        let mut tenants = HashMap::new();
        for (slug, p) in file.tenants.unwrap_or_default() {
            let policy = p.apply(default.clone(), &format!("handoff.tenants.{slug}"))?;
            tenants.insert(slug, policy);
        }
        Ok(HandoffConfig { default, tenants })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffFile {
    #[serde(flatten)]
    pub policy: PolicyFile,
    pub tenants: Option<HashMap<String, PolicyFile>>,
}

/// Every key optional: what is given replaces the default (lists replace, not extend).
#[derive(Debug, Default, Deserialize)]
pub struct PolicyFile {
    pub on_customer_request: Option<bool>,
    pub human_request_phrases: Option<Vec<String>>,
    pub on_negative_sentiment: Option<bool>,
    pub on_anger_rising: Option<bool>,
    pub anger_threshold: Option<f32>,
    pub priority_intents: Option<Vec<String>>,
    pub risk_phrases: Option<Vec<String>>,
    /// Yuan (or dollars); 0 turns the large-amount trigger off.
    pub large_amount: Option<f64>,
    pub max_failures: Option<u32>,
    pub vip_to_people: Option<bool>,
    pub rules: Option<Vec<RuleFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub name: String,
    #[serde(default)]
    pub channels: Vec<String>,
    pub tag: Option<String>,
    /// `key=value`.
    pub attribute: Option<String>,
    pub outside_business_hours: Option<bool>,
}

fn bad(key: &str, v: impl ToString, why: &str) -> ConfigError {
    ConfigError::Value { key: key.into(), value: v.to_string(), why: why.into() }
}

fn phrases(list: Vec<String>, key: &str) -> Result<Vec<String>, ConfigError> {
    list.into_iter()
        .map(|p| {
            let p = p.trim().to_lowercase();
            if p.is_empty() {
                Err(bad(key, "", "phrases must not be empty"))
            } else {
                Ok(p)
            }
        })
        .collect()
}

impl PolicyFile {
    fn apply(self, mut p: HandoffPolicy, at: &str) -> Result<HandoffPolicy, ConfigError> {
        let key = |k: &str| format!("{at}.{k}");
        if let Some(v) = self.on_customer_request {
            p.on_customer_request = v;
        }
        if let Some(v) = self.human_request_phrases {
            p.human_request_phrases = phrases(v, &key("human_request_phrases"))?;
        }
        if let Some(v) = self.on_negative_sentiment {
            p.on_negative_sentiment = v;
        }
        if let Some(v) = self.on_anger_rising {
            p.on_anger_rising = v;
        }
        if let Some(v) = self.anger_threshold {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(&key("anger_threshold"), v, "0 to 1"));
            }
            p.anger_threshold = v;
        }
        if let Some(v) = self.priority_intents {
            p.priority_intents = v;
        }
        if let Some(v) = self.risk_phrases {
            p.risk_phrases = phrases(v, &key("risk_phrases"))?;
        }
        if let Some(v) = self.large_amount {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(&key("large_amount"), v, "0 (off) or a positive amount"));
            }
            p.large_amount_minor = (v > 0.0).then(|| (v * 100.0).round() as i64);
        }
        if let Some(v) = self.max_failures {
            p.max_failures = v;
        }
        if let Some(v) = self.vip_to_people {
            p.vip_to_people = v;
        }
        if let Some(rules) = self.rules {
            p.rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let k = key(&format!("rules[{i}]"));
                    if r.name.trim().is_empty() {
                        return Err(bad(&k, "", "a rule needs a name (it is the hand-off reason)"));
                    }
                    let attribute = match r.attribute {
                        Some(a) => match a.split_once('=') {
                            Some((k2, v)) if !k2.trim().is_empty() => Some((k2.trim().to_owned(), v.trim().to_owned())),
                            _ => return Err(bad(&k, a, "attribute is `key=value`")),
                        },
                        None => None,
                    };
                    for c in &r.channels {
                        if lingxi_domain::ChannelKind::parse(c).is_none() {
                            return Err(bad(&k, c, "not a channel kind"));
                        }
                    }
                    if r.channels.is_empty()
                        && r.tag.is_none()
                        && attribute.is_none()
                        && r.outside_business_hours.is_none()
                    {
                        return Err(bad(&k, &r.name, "a rule without conditions would hand over every message"));
                    }
                    Ok(BusinessRule {
                        name: r.name,
                        channels: r.channels,
                        tag: r.tag,
                        attribute,
                        outside_hours: r.outside_business_hours,
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<HandoffConfig, ConfigError> {
        let file: HandoffFile = toml::from_str(toml_text).expect("toml");
        HandoffConfig::from_file(Some(file))
    }

    #[test]
    fn tenants_override_only_what_they_give() {
        let c = parse(
            r#"
            vip_to_people = true
            large_amount = 1000
            [tenants.shop]
            on_negative_sentiment = false
            rules = [{ name = "gold e-mail", channels = ["email"], attribute = "tier=gold" }]
            "#,
        )
        .unwrap();
        assert!(c.default.vip_to_people && c.default.on_negative_sentiment);
        assert_eq!(c.default.large_amount_minor, Some(100_000));
        let shop = c.for_slug(Some("shop"));
        assert!(shop.vip_to_people && !shop.on_negative_sentiment, "inherits the global keys");
        assert_eq!(shop.rules[0].attribute, Some(("tier".into(), "gold".into())));
        assert!(c.for_slug(Some("other")).rules.is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("anger_threshold = 1.5", "handoff.anger_threshold"),
            ("large_amount = -1", "handoff.large_amount"),
            ("rules = [{ name = \"x\" }]", "handoff.rules[0]"),
            ("rules = [{ name = \"x\", channels = [\"fax\"] }]", "handoff.rules[0]"),
            ("[tenants.a]\nrules = [{ name = \"x\", attribute = \"novalue\" }]", "handoff.tenants.a.rules[0]"),
            ("risk_phrases = [\"  \"]", "handoff.risk_phrases"),
        ] {
            match parse(text) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
