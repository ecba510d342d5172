//! The `[llm]` section: an OpenAI-compatible chat endpoint the bot may use to phrase grounded
//! answers. Off unless enabled, for every tenant or per tenant slug (`[llm.tenants.<slug>]`).
//! The API key is never in the file: `api_key_env` names the environment variable holding it,
//! read once at start.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    pub enabled: Option<bool>,
    /// Up to the API version, e.g. `https://api.deepseek.com/v1`; `/chat/completions` is appended.
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// The longest phrased answer used (characters, citations not counted).
    pub max_reply_chars: Option<usize>,
    /// Let the model phrase the "did you mean" intro too (default false; only where the model
    /// is on): one more call on turns where the bot is unsure, for a friendlier sentence.
    pub phrase_suggestions: Option<bool>,
    pub tenants: Option<BTreeMap<String, TenantLlmFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLlmFile {
    pub enabled: Option<bool>,
    pub phrase_suggestions: Option<bool>,
}

/// A secret that never prints.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Where and how to call the model.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full `…/chat/completions` URL.
    pub url: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub api_key_env: Option<String>,
    /// The most the whole exchange (a retry included) may add to a bot turn.
    pub timeout: Duration,
    pub max_tokens: u32,
    pub temperature: f32,
    pub max_reply_chars: usize,
}

#[derive(Debug, Clone, Default)]
pub struct LlmConfig {
    /// Present when some tenant has the model on.
    endpoint: Option<Endpoint>,
    default_on: bool,
    tenants: HashMap<String, bool>,
    suggestions_default: bool,
    suggestions: HashMap<String, bool>,
}

fn bad(key: &str, value: impl ToString, why: impl Into<String>) -> ConfigError {
    ConfigError::Value { key: key.into(), value: value.to_string(), why: why.into() }
}

impl LlmConfig {
    /// The endpoint, when the model is on for this tenant.
    pub fn for_slug(&self, slug: Option<&str>) -> Option<&Endpoint> {
        let on = slug.and_then(|s| self.tenants.get(s)).copied().unwrap_or(self.default_on);
        self.endpoint.as_ref().filter(|_| on)
    }

    /// The endpoint, when the model is on for this tenant and may phrase "did you mean" too.
    pub fn suggestions_for(&self, slug: Option<&str>) -> Option<&Endpoint> {
        let on = slug.and_then(|s| self.suggestions.get(s)).copied().unwrap_or(self.suggestions_default);
        self.for_slug(slug).filter(|_| on)
    }

    /// Whether any tenant has its own setting (then the bot must know the tenant's slug).
    pub fn has_tenant_settings(&self) -> bool {
        !self.tenants.is_empty() || !self.suggestions.is_empty()
    }

    /// For `lingxi check-config`: where the model is, never the key.
    pub fn summary(&self) -> serde_json::Value {
        match &self.endpoint {
            None => serde_json::json!({ "enabled": false }),
            Some(e) => serde_json::json!({
                "enabled": self.default_on, "url": e.url, "model": e.model, "api_key_env": e.api_key_env,
                "timeout_ms": e.timeout.as_millis() as u64, "tenants": self.tenants,
                "phrase_suggestions": self.suggestions_default, "phrase_suggestions_tenants": self.suggestions,
            }),
        }
    }

    /// `env` reads the `LINGXI_LLM` switch (on/off over the file's `enabled`) and the key.
    pub fn from_file(file: Option<LlmFile>, env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let f = file.unwrap_or_default();
        let default_on = match env("LINGXI_LLM").as_deref() {
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(other) => return Err(bad("LINGXI_LLM", other, "use on or off")),
            None => f.enabled.unwrap_or(false),
        };
        let per_tenant = f.tenants.unwrap_or_default();
        let tenants: HashMap<String, bool> =
            per_tenant.iter().filter_map(|(slug, t)| Some((slug.clone(), t.enabled?))).collect();
        let suggestions: HashMap<String, bool> =
            per_tenant.iter().filter_map(|(slug, t)| Some((slug.clone(), t.phrase_suggestions?))).collect();
        let suggestions_default = f.phrase_suggestions.unwrap_or(false);
        let timeout_ms = f.timeout_ms.unwrap_or(3000);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(bad("llm.timeout_ms", timeout_ms, "must be 100..=60000"));
        }
        let max_tokens = f.max_tokens.unwrap_or(400);
        if !(16..=8192).contains(&max_tokens) {
            return Err(bad("llm.max_tokens", max_tokens, "must be 16..=8192"));
        }
        let temperature = f.temperature.unwrap_or(0.2);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(bad("llm.temperature", temperature, "must be 0..=2"));
        }
        let max_reply_chars = f.max_reply_chars.unwrap_or(500);
        if !(20..=4000).contains(&max_reply_chars) {
            return Err(bad("llm.max_reply_chars", max_reply_chars, "must be 20..=4000"));
        }
        let base = match f.base_url.as_deref().map(str::trim) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').trim_end_matches("/chat/completions").to_owned())
            }
            Some(u) => {
                return Err(bad("llm.base_url", u, "must be an http(s) URL such as https://api.deepseek.com/v1"))
            }
            None => None,
        };
        if !(default_on || tenants.values().any(|on| *on)) {
            return Ok(LlmConfig { endpoint: None, default_on, tenants, suggestions_default, suggestions });
        }
        // On for someone: everything needed to call must be there now, not at the first customer.
        let base = base.ok_or_else(|| {
            bad("llm.base_url", "", "required when the LLM is enabled (e.g. https://api.deepseek.com/v1)")
        })?;
        let model = f
            .model
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("llm.model", "", "required when the LLM is enabled (e.g. deepseek-chat)"))?;
        let api_key = match &f.api_key_env {
            None => None,
            Some(var) => match env(var) {
                Some(k) if !k.trim().is_empty() => Some(ApiKey(k.trim().to_owned())),
                _ => return Err(bad("llm.api_key_env", var, "this environment variable is not set")),
            },
        };
        let endpoint = Endpoint {
            url: format!("{base}/chat/completions"),
            model,
            api_key,
            api_key_env: f.api_key_env,
            timeout: Duration::from_millis(timeout_ms),
            max_tokens,
            temperature,
            max_reply_chars,
        };
        Ok(LlmConfig { endpoint: Some(endpoint), default_on, tenants, suggestions_default, suggestions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<LlmConfig, ConfigError> {
        let file: LlmFile = toml::from_str(text).expect("toml");
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LlmConfig::from_file(Some(file), &|k: &str| env.get(k).cloned())
    }

    #[test]
    fn off_by_default_and_per_tenant() {
        let c = LlmConfig::from_file(None, &|_: &str| None).unwrap();
        assert!(c.for_slug(None).is_none() && c.for_slug(Some("demo")).is_none());
        let c = parse(
            "base_url = \"http://127.0.0.1:11434/v1/\"\nmodel = \"qwen2.5\"\n[tenants.shop]\nenabled = true",
            &[],
        )
        .unwrap();
        assert_eq!(c.for_slug(Some("shop")).unwrap().url, "http://127.0.0.1:11434/v1/chat/completions");
        assert!(c.for_slug(Some("other")).is_none() && c.for_slug(None).is_none());
        let c = parse(
            "enabled = true\nbase_url = \"https://api.deepseek.com\"\nmodel = \"deepseek-chat\"\napi_key_env = \"DS_KEY\"\n[tenants.quiet]\nenabled = false",
            &[("DS_KEY", "sk-123")],
        )
        .unwrap();
        let e = c.for_slug(Some("shop")).unwrap();
        assert_eq!(e.api_key.as_ref().unwrap().expose(), "sk-123");
        assert!(!format!("{e:?}").contains("sk-123"), "the key never prints");
        assert!(!c.summary().to_string().contains("sk-123"));
        assert!(c.for_slug(Some("quiet")).is_none());
        let off = parse("enabled = true\nbase_url = \"http://x/v1\"\nmodel = \"m\"", &[("LINGXI_LLM", "off")]).unwrap();
        assert!(off.for_slug(None).is_none(), "the environment switch wins");
    }

    #[test]
    fn suggestions_are_phrased_only_when_asked_and_only_where_the_model_is_on() {
        let base = "base_url = \"http://x/v1\"\nmodel = \"m\"\n";
        let c = parse(&format!("enabled = true\n{base}"), &[]).unwrap();
        assert!(c.for_slug(Some("a")).is_some() && c.suggestions_for(Some("a")).is_none(), "off by default");
        let c = parse(
            &format!("enabled = true\nphrase_suggestions = true\n{base}[tenants.plain]\nphrase_suggestions = false\n[tenants.quiet]\nenabled = false"),
            &[],
        )
        .unwrap();
        assert!(c.suggestions_for(Some("a")).is_some());
        assert!(c.suggestions_for(Some("plain")).is_none() && c.for_slug(Some("plain")).is_some());
        assert!(c.suggestions_for(Some("quiet")).is_none(), "never where the model is off");
        let c = parse(&format!("phrase_suggestions = true\n{base}"), &[]).unwrap();
        assert!(c.suggestions_for(None).is_none(), "the switch alone turns nothing on");
        let c = parse(&format!("{base}[tenants.shop]\nenabled = true\nphrase_suggestions = true"), &[]).unwrap();
        assert!(c.suggestions_for(Some("shop")).is_some() && c.suggestions_for(Some("other")).is_none());
    }

    #[test]
    fn enabled_without_what_it_needs_is_refused_naming_the_key() {
        for (text, env, key) in [
            ("enabled = true\nmodel = \"m\"", vec![], "llm.base_url"),
            ("enabled = true\nbase_url = \"http://x/v1\"", vec![], "llm.model"),
            ("model = \"m\"\n[tenants.a]\nenabled = true", vec![], "llm.base_url"),
            (
                "enabled = true\nbase_url = \"http://x/v1\"\nmodel = \"m\"\napi_key_env = \"NOPE\"",
                vec![],
                "llm.api_key_env",
            ),
            ("base_url = \"ftp://x\"", vec![], "llm.base_url"),
            ("timeout_ms = 5", vec![], "llm.timeout_ms"),
            ("temperature = 3.0", vec![], "llm.temperature"),
            ("enabled = false", vec![("LINGXI_LLM", "maybe")], "LINGXI_LLM"),
        ] {
            match parse(text, &env) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(toml::from_str::<LlmFile>("api_key = \"sk-in-the-file\"").is_err(), "no key in the file");
    }
}
