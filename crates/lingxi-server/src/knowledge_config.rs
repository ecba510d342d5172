//! The `[knowledge]` section of the configuration: whether the sentence encoder is used, and
//! the answer / suggest thresholds for every tenant and per tenant slug
//! (`[knowledge.tenants.<slug>]`, which overrides only the keys it gives).
//!
//! A threshold applies to the calibrated confidence (an estimate of "the top entry is right"),
//! so one configured value means the same in lexical and hybrid mode; what is not configured
//! comes from the default of the mode in use (`lingxi_knowledge::decision::faq_defaults`).

use crate::config::ConfigError;
use lingxi_encoder::QueryTokens;
use lingxi_knowledge::decision::{faq_defaults, Calibrator, Thresholds};
use serde::Deserialize;
use std::collections::HashMap;

/// Whether the server looks for the sentence encoder at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderSetting {
    /// Load it when the model file is found, else run on the lexical models (and say so).
    #[default]
    Auto,
    /// Never load it: lexical retrieval only.
    Off,
}

/// Configured thresholds; `None` = the default of the mode in use.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ThresholdSetting {
    pub answer: Option<f32>,
    pub suggest: Option<f32>,
}

impl ThresholdSetting {
    /// The thresholds in effect for a ranking made in this mode (`semantic`: hybrid). A value
    /// given alone is kept and the other follows it where the mode's default would cross it.
    pub fn effective(&self, semantic: bool) -> Thresholds {
        let (_, d) = faq_defaults(semantic);
        match (self.answer, self.suggest) {
            (Some(a), Some(s)) => Thresholds { answer: a, suggest: s },
            (Some(a), None) => Thresholds { answer: a, suggest: d.suggest.min(a) },
            (None, Some(s)) => Thresholds { answer: d.answer.max(s), suggest: s },
            (None, None) => d,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct KnowledgeConfig {
    pub encoder: EncoderSetting,
    /// Where `e5-small-q4.bin` is; unset: `$LINGXI_MODEL_DIR`, then `./models`.
    pub model_dir: Option<std::path::PathBuf>,
    /// Longest wait for a customer message's vector before answering lexically (ms).
    pub query_encode_timeout_ms: u64,
    /// The most tokens of a customer message the encoder reads (`None`: all of it); the
    /// lexical half of the ranking always reads the whole message.
    pub query_max_tokens: Option<QueryTokens>,
    pub default: ThresholdSetting,
    pub tenants: HashMap<String, ThresholdSetting>,
}

/// Default bound on encoding one customer message: a short message takes 10–40 ms on two
/// cores; past this the encoder is busy (an index build, a burst) and lexical answers now
/// beat hybrid answers later.
pub const DEFAULT_QUERY_ENCODE_TIMEOUT_MS: u64 = 250;

/// Default `query_max_tokens`: the encoder's cost grows with the tokens it reads, and long
/// messages set the answer path's p99. 32 (four 8-token matmul tiles) cuts 6.4 % of banking77's
/// test queries at −0.19 points of top-1 (docs/knowledge.md, "Query token budget").
pub const DEFAULT_QUERY_MAX_TOKENS: usize = 32;

impl KnowledgeConfig {
    pub fn for_slug(&self, slug: Option<&str>) -> &ThresholdSetting {
        slug.and_then(|s| self.tenants.get(s)).unwrap_or(&self.default)
    }

    /// The calibrator and thresholds that decide a ranking of this tenant made in this mode.
    pub fn decider(&self, slug: Option<&str>, semantic: bool) -> (Calibrator, Thresholds) {
        (faq_defaults(semantic).0, self.for_slug(slug).effective(semantic))
    }

    pub fn from_file(file: Option<KnowledgeFile>) -> Result<Self, ConfigError> {
        let file = file.unwrap_or_default();
        let encoder = match file.encoder.as_deref().map(str::trim) {
            None | Some("auto") => EncoderSetting::Auto,
            Some("off") => EncoderSetting::Off,
            Some(other) => return Err(bad("knowledge.encoder", other, "`auto` or `off`")),
        };
        let query_encode_timeout_ms = match file.query_encode_timeout_ms {
            None => DEFAULT_QUERY_ENCODE_TIMEOUT_MS,
            Some(v) if (1..=10_000).contains(&v) => v as u64,
            Some(v) => return Err(bad("knowledge.query_encode_timeout_ms", v, "1 to 10000")),
        };
        let query_max_tokens = match file.query_max_tokens {
            None => Some(QueryTokens::new(DEFAULT_QUERY_MAX_TOKENS).expect("a valid default")),
            Some(0) => None,
            Some(v) => Some(usize::try_from(v).ok().and_then(|n| QueryTokens::new(n).ok()).ok_or_else(|| {
                bad(
                    "knowledge.query_max_tokens",
                    v,
                    &format!("0 (no cap) or {} to {}", QueryTokens::MIN, QueryTokens::MAX),
                )
            })?),
        };
        let global =
            ThresholdFile { answer_threshold: file.answer_threshold, suggest_threshold: file.suggest_threshold };
        let default = global.apply(ThresholdSetting::default(), "knowledge")?;
        let mut tenants = HashMap::new();
        for (slug, t) in file.tenants.unwrap_or_default() {
            let setting = t.apply(default, &format!("knowledge.tenants.{slug}"))?;
            tenants.insert(slug, setting);
        }
        let model_dir = file.model_dir.filter(|d| !d.trim().is_empty()).map(std::path::PathBuf::from);
        Ok(KnowledgeConfig { encoder, model_dir, query_encode_timeout_ms, query_max_tokens, default, tenants })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeFile {
    pub encoder: Option<String>,
    pub model_dir: Option<String>,
    pub query_encode_timeout_ms: Option<i64>,
    pub query_max_tokens: Option<i64>,
    pub answer_threshold: Option<f64>,
    pub suggest_threshold: Option<f64>,
    pub tenants: Option<HashMap<String, ThresholdFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdFile {
    pub answer_threshold: Option<f64>,
    pub suggest_threshold: Option<f64>,
}

fn bad(key: &str, v: impl ToString, why: &str) -> ConfigError {
    ConfigError::Value { key: key.into(), value: v.to_string(), why: why.into() }
}

impl ThresholdFile {
    fn apply(self, inherited: ThresholdSetting, at: &str) -> Result<ThresholdSetting, ConfigError> {
        let unit = |k: &str, v: Option<f64>| -> Result<Option<f32>, ConfigError> {
            match v {
                Some(x) if !(0.0..=1.0).contains(&x) => {
                    Err(bad(&format!("{at}.{k}"), x, "a calibrated confidence from 0 to 1"))
                }
                other => Ok(other.map(|x| x as f32)),
            }
        };
        let answer = unit("answer_threshold", self.answer_threshold)?.or(inherited.answer);
        let suggest = unit("suggest_threshold", self.suggest_threshold)?.or(inherited.suggest);
        if let (Some(a), Some(s)) = (answer, suggest) {
            if s > a {
                return Err(bad(
                    &format!("{at}.suggest_threshold"),
                    s,
                    &format!("must not exceed answer_threshold ({a}): below it the bot suggests, above it answers"),
                ));
            }
        }
        Ok(ThresholdSetting { answer, suggest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<KnowledgeConfig, ConfigError> {
        let file: KnowledgeFile = toml::from_str(toml_text).expect("toml");
        KnowledgeConfig::from_file(Some(file))
    }

    #[test]
    fn defaults_are_auto_and_per_mode() {
        let c = KnowledgeConfig::from_file(None).unwrap();
        assert_eq!(c.encoder, EncoderSetting::Auto);
        assert_eq!(c.query_encode_timeout_ms, DEFAULT_QUERY_ENCODE_TIMEOUT_MS);
        assert_eq!(c.query_max_tokens.map(QueryTokens::get), Some(DEFAULT_QUERY_MAX_TOKENS));
        assert_eq!(c.decider(Some("any"), false).1, faq_defaults(false).1);
        assert_eq!(c.decider(None, true).1, faq_defaults(true).1);
    }

    #[test]
    fn tenants_override_only_what_they_give() {
        let c = parse(
            r#"
            encoder = "off"
            answer_threshold = 0.9
            [tenants.strict]
            answer_threshold = 0.99
            [tenants.loose]
            suggest_threshold = 0.2
            "#,
        )
        .unwrap();
        assert_eq!(c.encoder, EncoderSetting::Off);
        let strict = c.for_slug(Some("strict")).effective(false);
        assert_eq!(strict.answer, 0.99);
        assert_eq!(strict.suggest, faq_defaults(false).1.suggest);
        let loose = c.for_slug(Some("loose")).effective(true);
        assert_eq!((loose.answer, loose.suggest), (0.9, 0.2), "inherits the global answer threshold");
        assert_eq!(c.for_slug(Some("other")).effective(false).answer, 0.9);
        assert_eq!(c.for_slug(None).effective(true).answer, 0.9);
    }

    #[test]
    fn the_query_cap_is_read_and_zero_lifts_it() {
        assert_eq!(parse("query_max_tokens = 0").unwrap().query_max_tokens, None);
        assert_eq!(parse("query_max_tokens = 48").unwrap().query_max_tokens.map(QueryTokens::get), Some(48));
        assert_eq!(parse("query_max_tokens = 8").unwrap().query_max_tokens.map(QueryTokens::get), Some(8));
    }

    #[test]
    fn a_lone_value_pulls_the_default_of_the_other_along() {
        let low = ThresholdSetting { answer: Some(0.01), suggest: None }.effective(true);
        assert_eq!((low.answer, low.suggest), (0.01, 0.01));
        let high = ThresholdSetting { answer: None, suggest: Some(1.0) }.effective(false);
        assert_eq!((high.answer, high.suggest), (1.0, 1.0));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("encoder = \"gpu\"", "knowledge.encoder"),
            ("answer_threshold = 1.5", "knowledge.answer_threshold"),
            ("suggest_threshold = -0.1", "knowledge.suggest_threshold"),
            ("answer_threshold = 0.5\nsuggest_threshold = 0.6", "knowledge.suggest_threshold"),
            ("answer_threshold = 0.5\n[tenants.a]\nsuggest_threshold = 0.7", "knowledge.tenants.a.suggest_threshold"),
            ("query_encode_timeout_ms = 0", "knowledge.query_encode_timeout_ms"),
            ("query_max_tokens = 7", "knowledge.query_max_tokens"),
            ("query_max_tokens = 513", "knowledge.query_max_tokens"),
            ("query_max_tokens = -1", "knowledge.query_max_tokens"),
        ] {
            match parse(text) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(toml::from_str::<KnowledgeFile>("answer = 0.5").is_err(), "unknown keys are rejected");
        assert!(toml::from_str::<KnowledgeFile>("[tenants.a]\nanswer = 0.5").is_err());
    }
}
