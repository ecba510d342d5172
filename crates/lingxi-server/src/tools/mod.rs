//! Business-data tools the bot calls (order status, logistics, refunds, membership,
//! invoices): one port with two adapters. The built-in one reads the tenant's business
//! records in Lingxi's own store (imported from CSV); the HTTP one calls the tenant's own
//! systems as configured in lingxi.toml. Results are flat string fields; failures are typed
//! and never end a bot turn.

pub mod csv;
pub mod http;

use crate::state::AppState;
use lingxi_domain::TenantId;
use lingxi_store::{BusinessRecord, StoreError};
use std::collections::BTreeMap;

pub type Fields = BTreeMap<String, String>;

/// The tools and the argument each needs.
pub const TOOLS: &[(&str, &str)] = &[
    ("order_status", "order_no"),
    ("logistics", "order_no"),
    ("refund_status", "order_no"),
    ("membership", "customer"),
    ("invoice", "order_no"),
];

/// Record kinds of the built-in store and the column that keys each.
pub const KINDS: &[(&str, &str)] = &[
    ("orders", "order_no"),
    ("shipments", "tracking_no"),
    ("refunds", "order_no"),
    ("members", "phone"),
    ("invoices", "order_no"),
    ("products", "sku"),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("no such record")]
    NotFound,
    #[error("the business system did not answer in time")]
    Timeout,
    #[error("the business system failed: {0}")]
    Upstream(String),
    #[error("bad arguments: {0}")]
    BadArgs(String),
}

impl ToolError {
    /// Stable machine name (flows see it as the tool's error).
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::NotFound => "not_found",
            ToolError::Timeout => "timeout",
            ToolError::Upstream(_) => "upstream_error",
            ToolError::BadArgs(_) => "bad_args",
        }
    }
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        ToolError::Upstream(e.to_string())
    }
}

/// Calls a tool for a tenant: over HTTP when the tenant configured that tool, else built in.
/// `owners` are the customer's identifier values (phones, …), for `membership`.
pub async fn call(
    state: &AppState,
    tenant: &TenantId,
    tool: &str,
    args: &Fields,
    owners: &[String],
) -> Result<Fields, ToolError> {
    if let Some(slug) = crate::bot_tools::tenant_slug(state, tenant).await {
        if let Some(http) = state.config.tools.tool(&slug, tool) {
            let mut args = args.clone();
            if let Some(first) = owners.first() {
                args.entry("customer".into()).or_insert_with(|| first.clone());
            }
            return http.call(&state.http_client, &args).await;
        }
    }
    builtin(state, tenant, tool, args, owners).await
}

/// Whether the tenant has any tool source: business records, or an HTTP connector.
pub async fn enabled(state: &AppState, tenant: &TenantId) -> bool {
    if let Some(slug) = crate::bot_tools::tenant_slug(state, tenant).await {
        if state.config.tools.has_tenant(&slug) {
            return true;
        }
    }
    let fresh = std::time::Duration::from_secs(60);
    if let Some((at, on)) = state.records_seen.lock().ok().and_then(|m| m.get(tenant.as_str()).copied()) {
        if at.elapsed() < fresh {
            return on;
        }
    }
    // Asked on every bot turn: a cached answer keeps tenants without tools at no extra query.
    let on = state.store.has_records(tenant).await.unwrap_or(false);
    if let Ok(mut m) = state.records_seen.lock() {
        m.insert(tenant.as_str().to_owned(), (std::time::Instant::now(), on));
    }
    on
}

fn arg<'a>(args: &'a Fields, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ToolError::BadArgs(format!("`{name}` is required")))
}

fn with_key(r: BusinessRecord, key_name: &str) -> Fields {
    let mut f = r.fields;
    f.insert(key_name.into(), r.key);
    f
}

async fn builtin(
    state: &AppState,
    tenant: &TenantId,
    tool: &str,
    args: &Fields,
    owners: &[String],
) -> Result<Fields, ToolError> {
    let store = &state.store;
    let by_order = |kind: &'static str| async move {
        let no = arg(args, "order_no")?.to_uppercase();
        store.record(tenant, kind, &no).await?.map(|r| with_key(r, "order_no")).ok_or(ToolError::NotFound)
    };
    match tool {
        "order_status" => by_order("orders").await,
        "refund_status" => by_order("refunds").await,
        "invoice" => by_order("invoices").await,
        "logistics" => {
            let tracking = match args.get("tracking_no").filter(|t| !t.is_empty()) {
                Some(t) => t.to_uppercase(),
                None => {
                    let order = by_order("orders").await?;
                    match order.get("tracking_no").filter(|t| !t.is_empty()) {
                        Some(t) => t.clone(),
                        // Not shipped yet: the order's own status is the answer.
                        None => return Ok(order),
                    }
                }
            };
            let r = store.record(tenant, "shipments", &tracking).await?.ok_or(ToolError::NotFound)?;
            Ok(with_key(r, "tracking_no"))
        }
        "membership" => {
            let mut owners = owners.to_vec();
            if let Some(c) = args.get("customer") {
                owners.insert(0, c.clone());
            }
            let r = store.records_owned(tenant, "members", &owners).await?;
            r.into_iter().next().map(|r| with_key(r, "phone")).ok_or(ToolError::NotFound)
        }
        other => Err(ToolError::BadArgs(format!("unknown tool `{other}`"))),
    }
}
