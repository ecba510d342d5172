//! The generic HTTP JSON connector: per tenant (by slug) and tool, a GET URL template with
//! `{arg}` placeholders, an optional auth header, a timeout, retries, and the result fields
//! picked from the JSON body by dotted path (`data.items.0.status`). Configured in lingxi.toml:
//!
//! ```toml
//! [tools.demo.order_status]
//! url = "https://erp.example.com/api/orders/{order_no}"
//! auth_header = "Authorization: Bearer s3cret"
//! timeout_ms = 3000
//! retries = 1
//! fields = { status = "data.status", item = "data.items.0.name" }
//! ```

use super::{Fields, ToolError, TOOLS};
use crate::config::ConfigError;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The file form of one tool's connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolFile {
    pub url: String,
    pub auth_header: Option<String>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub fields: BTreeMap<String, String>,
}

/// `[tools.<tenant slug>.<tool>]`.
pub type ToolsFile = BTreeMap<String, BTreeMap<String, HttpToolFile>>;

#[derive(Debug, Clone)]
pub struct HttpTool {
    /// The URL split at placeholders: literal, then (placeholder, literal) pairs.
    head: String,
    parts: Vec<(String, String)>,
    auth: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    timeout: Duration,
    retries: u32,
    fields: Vec<(String, Vec<String>)>,
}

/// Every tenant's HTTP connectors, parsed.
#[derive(Debug, Clone, Default)]
pub struct ToolsConfig {
    tenants: HashMap<String, HashMap<String, HttpTool>>,
}

impl ToolsConfig {
    pub fn tool(&self, slug: &str, tool: &str) -> Option<&HttpTool> {
        self.tenants.get(slug)?.get(tool)
    }

    /// Which tenants call which tools over HTTP, and where (auth headers left out).
    pub fn summary(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (slug, tools) in &self.tenants {
            let t: serde_json::Map<String, Value> = tools
                .iter()
                .map(|(name, tool)| {
                    let url = tool.parts.iter().fold(tool.head.clone(), |u, (p, rest)| format!("{u}{{{p}}}{rest}"));
                    (name.clone(), serde_json::json!({ "url": url, "auth": tool.auth.is_some(), "timeout_ms": tool.timeout.as_millis() as u64, "retries": tool.retries }))
                })
                .collect();
            out.insert(slug.clone(), Value::Object(t));
        }
        Value::Object(out)
    }

    pub fn has_tenant(&self, slug: &str) -> bool {
        self.tenants.contains_key(slug)
    }

    pub fn from_file(file: Option<ToolsFile>) -> Result<ToolsConfig, ConfigError> {
        let mut tenants = HashMap::new();
        for (slug, tools) in file.unwrap_or_default() {
            let mut parsed = HashMap::new();
            for (name, t) in tools {
                let key = format!("tools.{slug}.{name}");
                parsed.insert(name.clone(), HttpTool::parse(&key, &name, t)?);
            }
            tenants.insert(slug, parsed);
        }
        Ok(ToolsConfig { tenants })
    }
}

fn bad(key: &str, value: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Value { key: key.into(), value: value.into(), why: why.into() }
}

impl HttpTool {
    pub fn parse(key: &str, name: &str, f: HttpToolFile) -> Result<HttpTool, ConfigError> {
        if !TOOLS.iter().any(|(t, _)| *t == name) {
            let known: Vec<&str> = TOOLS.iter().map(|(t, _)| *t).collect();
            return Err(bad(key, name, format!("unknown tool; known: {}", known.join(", "))));
        }
        if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
            return Err(bad(&format!("{key}.url"), &f.url, "must be an http(s) URL"));
        }
        let mut pieces = f.url.split('{');
        let head = pieces.next().unwrap_or_default().to_owned();
        let mut parts = Vec::new();
        for p in pieces {
            let (name, rest) =
                p.split_once('}').ok_or_else(|| bad(&format!("{key}.url"), &f.url, "unclosed `{` placeholder"))?;
            if !["order_no", "tracking_no", "customer"].contains(&name) {
                return Err(bad(
                    &format!("{key}.url"),
                    &f.url,
                    format!("unknown placeholder `{{{name}}}`; use {{order_no}}, {{tracking_no}} or {{customer}}"),
                ));
            }
            parts.push((name.to_owned(), rest.to_owned()));
        }
        let auth = match &f.auth_header {
            None => None,
            Some(h) => {
                let (n, v) = h
                    .split_once(':')
                    .ok_or_else(|| bad(&format!("{key}.auth_header"), "…", "expected `Name: value`"))?;
                let n = reqwest::header::HeaderName::from_bytes(n.trim().as_bytes())
                    .map_err(|_| bad(&format!("{key}.auth_header"), n, "not a header name"))?;
                let mut v = reqwest::header::HeaderValue::from_str(v.trim())
                    .map_err(|_| bad(&format!("{key}.auth_header"), "…", "not a header value"))?;
                v.set_sensitive(true);
                Some((n, v))
            }
        };
        let timeout_ms = f.timeout_ms.unwrap_or(3000);
        if !(50..=60_000).contains(&timeout_ms) {
            return Err(bad(&format!("{key}.timeout_ms"), &timeout_ms.to_string(), "must be 50..=60000"));
        }
        let retries = f.retries.unwrap_or(1);
        if retries > 5 {
            return Err(bad(&format!("{key}.retries"), &retries.to_string(), "must be at most 5"));
        }
        if f.fields.is_empty() {
            return Err(bad(&format!("{key}.fields"), "{}", "map at least one result field to a JSON path"));
        }
        let mut fields = Vec::new();
        for (field, path) in f.fields {
            let segs: Vec<String> = path.split('.').map(str::to_owned).collect();
            if segs.iter().any(String::is_empty) {
                return Err(bad(&format!("{key}.fields.{field}"), &path, "a dotted path such as data.status"));
            }
            fields.push((field, segs));
        }
        Ok(HttpTool { head, parts, auth, timeout: Duration::from_millis(timeout_ms), retries, fields })
    }

    fn url(&self, args: &Fields) -> Result<String, ToolError> {
        let mut url = self.head.clone();
        for (name, rest) in &self.parts {
            let v = args
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ToolError::BadArgs(format!("`{name}` is required")))?;
            // Values come from customers: keep them inside their path segment.
            url.extend(v.bytes().map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            }));
            url.push_str(rest);
        }
        Ok(url)
    }

    /// One call, retried on timeouts, connection failures and 5xx; 404 is "not found".
    pub async fn call(&self, client: &reqwest::Client, args: &Fields) -> Result<Fields, ToolError> {
        let url = self.url(args)?;
        let mut last = ToolError::Timeout;
        for _ in 0..=self.retries {
            let mut req = client.get(&url).timeout(self.timeout);
            if let Some((n, v)) = &self.auth {
                req = req.header(n, v);
            }
            match req.send().await {
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Err(ToolError::NotFound),
                Ok(r) if r.status().is_server_error() => {
                    last = ToolError::Upstream(format!("HTTP {}", r.status().as_u16()))
                }
                Ok(r) if !r.status().is_success() => {
                    return Err(ToolError::Upstream(format!("HTTP {}", r.status().as_u16())))
                }
                Ok(r) => {
                    let body: Value = match r.json().await {
                        Ok(v) => v,
                        Err(e) if e.is_timeout() => {
                            last = ToolError::Timeout;
                            continue;
                        }
                        Err(_) => return Err(ToolError::Upstream("the response is not JSON".into())),
                    };
                    return self.pick(&body);
                }
                Err(e) if e.is_timeout() => last = ToolError::Timeout,
                Err(e) => {
                    last = ToolError::Upstream(if e.is_connect() {
                        "cannot connect".into()
                    } else {
                        "request failed".into()
                    })
                }
            }
        }
        Err(last)
    }

    fn pick(&self, body: &Value) -> Result<Fields, ToolError> {
        let mut out = Fields::new();
        for (field, path) in &self.fields {
            let mut v = body;
            for seg in path {
                v = match (v, seg.parse::<usize>()) {
                    (Value::Array(a), Ok(i)) => a.get(i).unwrap_or(&Value::Null),
                    (Value::Object(o), _) => o.get(seg).unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
            }
            match v {
                Value::Null => {}
                Value::String(s) => {
                    out.insert(field.clone(), s.clone());
                }
                other => {
                    out.insert(field.clone(), other.to_string());
                }
            }
        }
        if out.is_empty() {
            return Err(ToolError::Upstream("none of the mapped fields is in the response".into()));
        }
        Ok(out)
    }
}
