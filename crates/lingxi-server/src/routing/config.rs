//! The `[routing]` section of the configuration: reassignment, SLA policies, business hours,
//! skill rules and the multi-node sync period, parsed once into typed values.

use crate::config::ConfigError;
use lingxi_engine::hours::BusinessHours;
use lingxi_engine::sla::{SlaPolicies, SlaTargets, SlaThreshold};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// An assigned agent who has not replied within this time loses the conversation (and is
    /// set away); 0 turns reassignment off.
    pub reply_timeout_ms: i64,
    /// An agent going away gives their conversations back to the queue (otherwise they keep
    /// them and only stop receiving new ones). Going offline always gives them back.
    pub requeue_on_away: bool,
    /// How often the routing timer runs (reassignment, SLA checks).
    pub tick_ms: u64,
    /// How often each node re-reads the queue from the store to learn of other nodes'
    /// hand-offs and assignments; 0 turns it off (one node).
    pub sync_ms: u64,
    pub sla: SlaPolicies,
    /// Business hours by tenant slug, and for every other tenant (`None`: always open).
    pub business_hours: Option<BusinessHours>,
    pub tenant_business_hours: HashMap<String, BusinessHours>,
    /// The average time an agent spends on a conversation, for expected-wait estimates.
    pub expected_handle_secs: i64,
    /// Skills a conversation requires, by its last intent (e.g. refund_dispute → product:billing).
    pub required_skills_by_intent: HashMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    pub reply_timeout_secs: Option<i64>,
    pub requeue_on_away: Option<bool>,
    pub tick_ms: Option<u64>,
    pub sync_ms: Option<u64>,
    pub sla: Option<Vec<SlaFile>>,
    pub business_hours: Option<String>,
    pub utc_offset_minutes: Option<i64>,
    pub tenant_business_hours: Option<HashMap<String, String>>,
    pub expected_handle_secs: Option<i64>,
    pub required_skills_by_intent: Option<HashMap<String, Vec<String>>>,
}

/// One SLA policy: targets for conversations of at least this priority; warnings fire at
/// `warning_percent` of each target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaFile {
    pub priority: i32,
    pub first_response_secs: Option<i64>,
    pub next_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
    pub warning_percent: Option<i64>,
}

fn value(key: &str, v: impl ToString, why: impl ToString) -> ConfigError {
    ConfigError::Value { key: key.into(), value: v.to_string(), why: why.to_string() }
}

/// Targets from breach times in milliseconds, warning at `pct` percent of each.
pub fn targets(first_ms: Option<i64>, next_ms: Option<i64>, resolution_ms: Option<i64>, pct: i64) -> SlaTargets {
    let t = |ms: Option<i64>| ms.and_then(|b| SlaThreshold::new(b * pct / 100, b).ok());
    SlaTargets { first_response: t(first_ms), next_response: t(next_ms), resolution: t(resolution_ms) }
}

/// Defaults: everyone gets an answer within 5 minutes and a resolution within 8 hours; the
/// highest priorities (VIP, priority 2 and up) within 1 minute and 2 hours.
pub fn default_sla() -> SlaPolicies {
    const MIN: i64 = 60_000;
    SlaPolicies::new()
        .with(0, targets(Some(5 * MIN), Some(10 * MIN), Some(8 * 60 * MIN), 80))
        .with(1, targets(Some(3 * MIN), Some(5 * MIN), Some(4 * 60 * MIN), 80))
        .with(2, targets(Some(MIN), Some(3 * MIN), Some(2 * 60 * MIN), 80))
}

impl RoutingConfig {
    pub fn from_file(file: Option<RoutingFile>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let f = file.unwrap_or_default();
        let reply_timeout_secs = match env("LINGXI_REPLY_TIMEOUT_SECS") {
            Some(raw) => raw.parse::<i64>().map_err(|_| value("routing.reply_timeout_secs", &raw, "an integer"))?,
            None => f.reply_timeout_secs.unwrap_or(180),
        };
        if reply_timeout_secs < 0 {
            return Err(value("routing.reply_timeout_secs", reply_timeout_secs, "0 (off) or more"));
        }
        let tick_ms = f.tick_ms.unwrap_or(1000);
        if !(10..=60_000).contains(&tick_ms) {
            return Err(value("routing.tick_ms", tick_ms, "10 to 60000"));
        }
        // Off by default: one node needs no polling, and the read holds the routing lock. Several
        // nodes on one PostgreSQL set it (docs/routing.md).
        let sync_ms = f.sync_ms.unwrap_or(0);
        let sla = match f.sla {
            None => default_sla(),
            Some(list) => {
                let mut p = SlaPolicies::new();
                for s in list {
                    let pct = s.warning_percent.unwrap_or(80);
                    if !(1..=100).contains(&pct) {
                        return Err(value("routing.sla.warning_percent", pct, "1 to 100"));
                    }
                    for v in [s.first_response_secs, s.next_response_secs, s.resolution_secs].into_iter().flatten() {
                        if v <= 0 {
                            return Err(value("routing.sla", v, "targets are positive seconds"));
                        }
                    }
                    let ms = |v: Option<i64>| v.map(|s| s * 1000);
                    p = p.with(
                        s.priority,
                        targets(ms(s.first_response_secs), ms(s.next_response_secs), ms(s.resolution_secs), pct),
                    );
                }
                p
            }
        };
        let offset = f.utc_offset_minutes.unwrap_or(480);
        let hours =
            |spec: &str| BusinessHours::parse(spec, offset).map_err(|e| value("routing.business_hours", spec, e));
        let business_hours = f.business_hours.as_deref().map(hours).transpose()?;
        let mut tenant_business_hours = HashMap::new();
        for (slug, spec) in f.tenant_business_hours.unwrap_or_default() {
            tenant_business_hours.insert(slug, hours(&spec)?);
        }
        let expected_handle_secs = f.expected_handle_secs.unwrap_or(300);
        if expected_handle_secs < 1 {
            return Err(value("routing.expected_handle_secs", expected_handle_secs, "at least 1"));
        }
        let required_skills_by_intent = f.required_skills_by_intent.unwrap_or_default();
        for skills in required_skills_by_intent.values() {
            for s in skills {
                super::skills::parse_skill(s).map_err(|e| value("routing.required_skills_by_intent", s, e))?;
            }
        }
        Ok(RoutingConfig {
            reply_timeout_ms: reply_timeout_secs * 1000,
            requeue_on_away: f.requeue_on_away.unwrap_or(true),
            tick_ms,
            sync_ms,
            sla,
            business_hours,
            tenant_business_hours,
            expected_handle_secs,
            required_skills_by_intent,
        })
    }

    pub fn hours_for(&self, tenant_slug: &str) -> Option<&BusinessHours> {
        self.tenant_business_hours.get(tenant_slug).or(self.business_hours.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<RoutingConfig, ConfigError> {
        #[derive(Deserialize)]
        struct F {
            routing: Option<RoutingFile>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| value("routing", "", e))?;
        RoutingConfig::from_file(f.routing, &|_| None)
    }

    #[test]
    fn defaults_are_sane_and_sections_parse() {
        let d = parse("").unwrap();
        assert_eq!((d.reply_timeout_ms, d.requeue_on_away, d.tick_ms, d.sync_ms), (180_000, true, 1000, 0));
        assert!(d.business_hours.is_none());
        let fr = d.sla.for_priority(0).first_response.unwrap();
        assert_eq!((fr.warning_ms(), fr.breach_ms()), (240_000, 300_000));
        assert_eq!(d.sla.for_priority(3).first_response.unwrap().breach_ms(), 60_000);
        let c = parse(
            "[routing]\nreply_timeout_secs = 30\nbusiness_hours = \"mon-fri 09:00-18:00\"\n\
             tenant_business_hours = { acme = \"sat-sun 10:00-16:00\" }\n\
             required_skills_by_intent = { refund_dispute = [\"product:billing\"] }\n\
             [[routing.sla]]\npriority = 0\nfirst_response_secs = 120\nwarning_percent = 50\n",
        )
        .unwrap();
        assert_eq!(c.reply_timeout_ms, 30_000);
        assert_eq!(c.hours_for("acme").unwrap().text(), "sat-sun 10:00-16:00");
        assert_eq!(c.hours_for("other").unwrap().text(), "mon-fri 09:00-18:00");
        let fr = c.sla.for_priority(5).first_response.unwrap();
        assert_eq!((fr.warning_ms(), fr.breach_ms()), (60_000, 120_000));
        assert!(c.sla.for_priority(0).resolution.is_none());
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for bad in [
            "[routing]\nreply_timeout_secs = -1",
            "[routing]\ntick_ms = 0",
            "[routing]\nbusiness_hours = \"someday\"",
            "[routing]\nrequired_skills_by_intent = { x = [\"color:red\"] }",
            "[routing]\nexpected_handle_secs = 0",
            "[[routing.sla]]\npriority = 0\nwarning_percent = 0",
            "[[routing.sla]]\npriority = 0\nfirst_response_secs = 0",
            "[routing]\nreply_timeout = 3",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
