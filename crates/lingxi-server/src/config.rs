//! Configuration, layered: defaults, then `lingxi.toml`, then `LINGXI_*` environment
//! variables, then command-line flags, each overriding the last. Parsed into typed values
//! once; `lingxi check-config` runs exactly this and reports the first problem.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub demo: bool,
    pub max_body_bytes: usize,
    pub session_ttl_secs: i64,
    pub reopen_window_secs: i64,
    pub log_filter: String,
    /// Concurrent live chats per agent, and asynchronous (e-mail-like) conversations.
    pub agent_chat_capacity: u16,
    pub agent_email_capacity: u16,
    /// The AI first line answers and hands over; off, every conversation waits for people.
    pub bot_enabled: bool,
    /// Queue and routing: reassignment, SLA, business hours (`[routing]`).
    pub routing: crate::routing::config::RoutingConfig,
    /// The hand-off policy, for every tenant and per tenant slug (`[handoff]`).
    pub handoff: crate::handoff_config::HandoffConfig,
    /// Per-tenant HTTP connectors for the bot's business-data tools (`[tools.<slug>.<tool>]`).
    pub tools: crate::tools::http::ToolsConfig,
    /// The bot's one suggestion after an answer, on or off per tenant slug (`[recommendations]`).
    pub recommendations: crate::recommend::RecommendConfig,
    /// The sentence encoder and the answer / suggest thresholds (`[knowledge]`).
    pub knowledge: crate::knowledge_config::KnowledgeConfig,
    /// The optional LLM that phrases grounded answers (`[llm]`, off by default).
    pub llm: crate::llm::config::LlmConfig,
}

/// The file form: every field optional, unknown keys rejected (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub demo: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub session_ttl_secs: Option<i64>,
    pub reopen_window_secs: Option<i64>,
    pub log: Option<String>,
    pub agent_chat_capacity: Option<i64>,
    pub agent_email_capacity: Option<i64>,
    pub bot: Option<bool>,
    pub routing: Option<crate::routing::config::RoutingFile>,
    pub handoff: Option<crate::handoff_config::HandoffFile>,
    pub tools: Option<crate::tools::http::ToolsFile>,
    pub recommendations: Option<crate::recommend::RecommendFile>,
    pub knowledge: Option<crate::knowledge_config::KnowledgeFile>,
    pub llm: Option<crate::llm::config::LlmFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: `{value}` is not valid ({why})")]
    Value { key: String, value: String, why: String },
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub demo: bool,
}

impl Config {
    pub fn load(flags: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(flags, |k| std::env::var(k).ok())
    }

    pub fn load_from(flags: &Overrides, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let path = flags.config_path.clone().or_else(|| env("LINGXI_CONFIG").map(PathBuf::from));
        let file = match path {
            Some(p) => read_file(&p)?,
            None if Path::new("lingxi.toml").exists() => read_file(Path::new("lingxi.toml"))?,
            None => ConfigFile::default(),
        };
        let pick = |flag: &Option<String>, key: &str, file_v: &Option<String>, default: &str| -> String {
            flag.clone().or_else(|| env(key)).or_else(|| file_v.clone()).unwrap_or_else(|| default.to_owned())
        };
        let listen_raw = pick(&flags.listen, "LINGXI_LISTEN", &file.listen, "127.0.0.1:8080");
        let listen = listen_raw.parse().map_err(|_| ConfigError::Value {
            key: "listen".into(),
            value: listen_raw.clone(),
            why: "expected host:port such as 127.0.0.1:8080".into(),
        })?;
        let data_dir = PathBuf::from(pick(&flags.data_dir, "LINGXI_DATA_DIR", &file.data_dir, "lingxi-data"));
        let default_url = format!("sqlite://{}", data_dir.join("lingxi.db").display());
        let database_url = pick(&flags.database_url, "LINGXI_DATABASE_URL", &file.database_url, &default_url);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Value {
                key: "database_url".into(),
                value: redact_url(&database_url),
                why: "use sqlite://path or postgres://…".into(),
            });
        }
        let num = |key: &str, env_key: &str, file_v: Option<i64>, default: i64, min: i64| -> Result<i64, ConfigError> {
            let v = match env(env_key) {
                Some(raw) => raw.parse::<i64>().map_err(|_| ConfigError::Value {
                    key: key.into(),
                    value: raw.clone(),
                    why: "expected an integer".into(),
                })?,
                None => file_v.unwrap_or(default),
            };
            if v < min {
                return Err(ConfigError::Value {
                    key: key.into(),
                    value: v.to_string(),
                    why: format!("must be at least {min}"),
                });
            }
            Ok(v)
        };
        let demo =
            flags.demo || env("LINGXI_DEMO").is_some_and(|v| v == "1" || v == "true") || file.demo.unwrap_or(false);
        let bot_enabled = match env("LINGXI_BOT").as_deref() {
            Some("0" | "false" | "off") => false,
            Some(_) => true,
            None => file.bot.unwrap_or(true),
        };
        let routing = crate::routing::config::RoutingConfig::from_file(file.routing, &env)?;
        let handoff = crate::handoff_config::HandoffConfig::from_file(file.handoff)?;
        let tools = crate::tools::http::ToolsConfig::from_file(file.tools)?;
        let recommendations = crate::recommend::RecommendConfig::from_file(file.recommendations)?;
        let knowledge = crate::knowledge_config::KnowledgeConfig::from_file(file.knowledge)?;
        let llm = crate::llm::config::LlmConfig::from_file(file.llm, &env)?;
        Ok(Config {
            knowledge,
            tools,
            recommendations,
            llm,
            routing,
            handoff,
            bot_enabled,
            listen,
            data_dir,
            database_url,
            demo,
            max_body_bytes: num(
                "max_body_bytes",
                "LINGXI_MAX_BODY_BYTES",
                file.max_body_bytes.map(|v| v as i64),
                1 << 20,
                1024,
            )? as usize,
            session_ttl_secs: num(
                "session_ttl_secs",
                "LINGXI_SESSION_TTL_SECS",
                file.session_ttl_secs,
                7 * 86_400,
                60,
            )?,
            reopen_window_secs: num(
                "reopen_window_secs",
                "LINGXI_REOPEN_WINDOW_SECS",
                file.reopen_window_secs,
                86_400,
                0,
            )?,
            log_filter: env("LINGXI_LOG").or(file.log).unwrap_or_else(|| "info".into()),
            agent_chat_capacity: num(
                "agent_chat_capacity",
                "LINGXI_AGENT_CHAT_CAPACITY",
                file.agent_chat_capacity,
                5,
                1,
            )?
            .min(1000) as u16,
            agent_email_capacity: num(
                "agent_email_capacity",
                "LINGXI_AGENT_EMAIL_CAPACITY",
                file.agent_email_capacity,
                20,
                1,
            )?
            .min(1000) as u16,
        })
    }
}

fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
}

/// Hides a password in a database URL before it is printed or logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(flags: Overrides, env: &[(&str, &str)], file: Option<&str>) -> Result<Config, ConfigError> {
        let mut flags = flags;
        if let Some(text) = file {
            let p = std::env::temp_dir().join(format!("lingxi-cfg-{}.toml", rand::random::<u64>()));
            std::fs::write(&p, text).unwrap();
            flags.config_path = Some(p);
        }
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_from(&flags, |k| env.get(k).cloned())
    }

    #[test]
    fn layers_override_in_order() {
        let c = load(Overrides::default(), &[], None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite://lingxi-data"));
        let c =
            load(Overrides::default(), &[], Some("listen = \"127.0.0.1:9000\"\nreopen_window_secs = 60\n")).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.reopen_window_secs, 60);
        let c = load(Overrides::default(), &[("LINGXI_LISTEN", "127.0.0.1:9100")], Some("listen = \"127.0.0.1:9000\""))
            .unwrap();
        assert_eq!(c.listen.port(), 9100);
        let flags = Overrides { listen: Some("127.0.0.1:9200".into()), ..Default::default() };
        let c = load(flags, &[("LINGXI_LISTEN", "127.0.0.1:9100")], Some("listen = \"127.0.0.1:9000\"")).unwrap();
        assert_eq!(c.listen.port(), 9200);
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(matches!(load(Overrides::default(), &[], Some("lisen = 1")), Err(ConfigError::Parse { .. })));
        assert!(matches!(
            load(Overrides::default(), &[("LINGXI_LISTEN", "nope")], None),
            Err(ConfigError::Value { .. })
        ));
        assert!(matches!(
            load(Overrides::default(), &[("LINGXI_DATABASE_URL", "mysql://x")], None),
            Err(ConfigError::Value { .. })
        ));
        assert!(matches!(
            load(Overrides::default(), &[("LINGXI_SESSION_TTL_SECS", "5")], None),
            Err(ConfigError::Value { .. })
        ));
    }

    #[test]
    fn the_knowledge_section_is_read_and_checked() {
        let c = load(Overrides::default(), &[], None).unwrap();
        assert_eq!(c.knowledge.encoder, crate::knowledge_config::EncoderSetting::Auto);
        let text = "[knowledge]\nencoder = \"off\"\n[knowledge.tenants.shop]\nanswer_threshold = 0.95\n";
        let c = load(Overrides::default(), &[], Some(text)).unwrap();
        assert_eq!(c.knowledge.encoder, crate::knowledge_config::EncoderSetting::Off);
        assert_eq!(c.knowledge.for_slug(Some("shop")).answer, Some(0.95));
        let bad = "[knowledge.tenants.shop]\nanswer_threshold = 0.3\nsuggest_threshold = 0.4\n";
        match load(Overrides::default(), &[], Some(bad)) {
            Err(ConfigError::Value { key, .. }) => assert_eq!(key, "knowledge.tenants.shop.suggest_threshold"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
