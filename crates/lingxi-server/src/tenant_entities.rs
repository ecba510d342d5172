//! Each tenant's entity extractor: its own order-number patterns (`DD` + 12 digits, say) and
//! catalogue (its `products` business records' names plus names it adds), so "DD202611250001
//! 的扫地机 X1" yields the tenant's order number and product. Built on first use and rebuilt
//! when this node changes the settings, or at most `REFRESH` after a product import or a change
//! on another node. Without settings or products a tenant shares the default extractor.

use crate::error::Problem;
use lingxi_domain::TenantId;
use lingxi_nlu::entities::{EntityConfig, EntityExtractor, EntityKind, Now};
use lingxi_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const REFRESH: Duration = Duration::from_secs(30);
pub const MAX_PATTERNS: usize = 20;
pub const MAX_PATTERN_CHARS: usize = 200;
pub const MAX_NAMES: usize = 5_000;
pub const MAX_NAME_CHARS: usize = 100;
/// Product records read into the catalogue.
const MAX_PRODUCTS: i64 = 5_000;

/// What a tenant sets (`PUT /api/v1/nlu/settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySettings {
    /// Regular expressions of the tenant's order numbers (case-insensitive); empty: the default
    /// shape (10–24 digits, optionally after up to 4 letters).
    #[serde(default)]
    pub order_patterns: Vec<String>,
    /// Product and model names beyond the `products` records.
    #[serde(default)]
    pub catalogue: Vec<String>,
    /// One of the tenant's order numbers, shown when the bot asks for one ("例如 LX20261101001")
    /// or cannot find one; without it the bot names no format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_example: Option<String>,
}

impl EntitySettings {
    /// Every problem by path; none when the settings can be used.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.order_patterns.len() > MAX_PATTERNS {
            out.push(Problem::at("order_patterns", format!("at most {MAX_PATTERNS} patterns")));
        }
        for (i, p) in self.order_patterns.iter().enumerate() {
            let at = format!("order_patterns[{i}]");
            if p.trim().is_empty() || p.chars().count() > MAX_PATTERN_CHARS {
                out.push(Problem::at(at, format!("1–{MAX_PATTERN_CHARS} characters")));
                continue;
            }
            let one = EntityConfig { order_patterns: vec![p.clone()], catalogue: Vec::new() };
            if let Err(e) = EntityExtractor::new(&one) {
                out.push(Problem::at(at, e.to_string()));
            }
        }
        if self.catalogue.len() > MAX_NAMES {
            out.push(Problem::at("catalogue", format!("at most {MAX_NAMES} names")));
        }
        for (i, n) in self.catalogue.iter().enumerate() {
            if n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS {
                out.push(Problem::at(format!("catalogue[{i}]"), format!("1–{MAX_NAME_CHARS} characters")));
            }
        }
        if let Some(example) = &self.order_example {
            // The example must be what the bot would read as an order number, or it teaches
            // customers a shape the bot then does not recognise.
            let config = EntityConfig { order_patterns: self.order_patterns.clone(), catalogue: Vec::new() };
            let recognised = EntityExtractor::new(&config).is_ok_and(|e| {
                let normalized = crate::bot::normalizer().normalize(example);
                e.extract(&normalized.text, Now::china(0)).iter().any(|x| x.kind == EntityKind::OrderNumber)
            });
            if example.chars().count() > MAX_PATTERN_CHARS || !recognised {
                out.push(Problem::at("order_example", "not read as an order number by these settings"));
            }
        }
        out
    }
}

/// The extractor every tenant without settings or products uses.
pub fn default_extractor() -> Arc<EntityExtractor> {
    static E: OnceLock<Arc<EntityExtractor>> = OnceLock::new();
    E.get_or_init(|| Arc::new(EntityExtractor::new(&EntityConfig::default()).unwrap_or_default())).clone()
}

/// A tenant's extractor with the settings it was built from.
#[derive(Clone)]
pub struct Built {
    pub extractor: Arc<EntityExtractor>,
    pub order_example: Option<String>,
}

#[derive(Default)]
pub struct TenantEntities {
    cache: Mutex<HashMap<String, (Instant, Built)>>,
}

impl TenantEntities {
    /// The tenant's extractor. A store that cannot be read gives the cached or default one.
    pub async fn get(&self, store: &Store, tenant: &TenantId) -> Arc<EntityExtractor> {
        self.built(store, tenant).await.extractor
    }

    /// The tenant's example order number, if it set one.
    pub async fn order_example(&self, store: &Store, tenant: &TenantId) -> Option<String> {
        self.built(store, tenant).await.order_example
    }

    async fn built(&self, store: &Store, tenant: &TenantId) -> Built {
        if let Some((at, b)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(tenant.as_str()) {
            if at.elapsed() < REFRESH {
                return b.clone();
            }
        }
        let built = match build(store, tenant).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "entity settings unreadable; using the default extractor");
                Built { extractor: default_extractor(), order_example: None }
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.as_str().to_owned(), (Instant::now(), built.clone()));
        built
    }

    /// The settings changed on this node: rebuild on next use.
    pub fn forget(&self, tenant: &TenantId) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(tenant.as_str());
    }
}

/// The tenant's saved settings (default when none or unreadable JSON, which the API never writes).
pub async fn settings(store: &Store, tenant: &TenantId) -> Result<EntitySettings, lingxi_store::StoreError> {
    Ok(store.nlu_settings(tenant).await?.and_then(|(json, _)| serde_json::from_str(&json).ok()).unwrap_or_default())
}

/// Names of the tenant's `products` records.
pub async fn product_names(store: &Store, tenant: &TenantId) -> Result<Vec<String>, lingxi_store::StoreError> {
    let records = store.records_of_kind(tenant, "products", MAX_PRODUCTS).await?;
    Ok(records.into_iter().filter_map(|r| r.fields.get("name").filter(|n| !n.trim().is_empty()).cloned()).collect())
}

async fn build(store: &Store, tenant: &TenantId) -> Result<Built, lingxi_store::StoreError> {
    let s = settings(store, tenant).await?;
    let order_example = s.order_example;
    let mut catalogue = product_names(store, tenant).await?;
    catalogue.extend(s.catalogue);
    if s.order_patterns.is_empty() && catalogue.is_empty() {
        return Ok(Built { extractor: default_extractor(), order_example });
    }
    catalogue.sort();
    catalogue.dedup();
    // Patterns were checked when saved; one that no longer compiles falls back to the default shape.
    let config = EntityConfig { order_patterns: s.order_patterns, catalogue };
    let e = EntityExtractor::new(&config)
        .or_else(|_| EntityExtractor::new(&EntityConfig { order_patterns: Vec::new(), catalogue: config.catalogue }))
        .unwrap_or_default();
    Ok(Built { extractor: Arc::new(e), order_example })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_named_by_path() {
        let ok = EntitySettings {
            order_patterns: vec![r"DD\d{12}".into()],
            catalogue: vec!["扫地机 X1".into()],
            order_example: Some("DD202611250001".into()),
        };
        assert!(ok.check().is_empty(), "{:?}", ok.check());
        let bad = EntitySettings {
            order_patterns: vec![r"DD\d{12}".into(), "(".into(), " ".into()],
            catalogue: vec!["".into()],
            order_example: None,
        };
        let paths: Vec<String> = bad.check().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["order_patterns[1]", "order_patterns[2]", "catalogue[0]"]);
        // An example these settings would not read as an order number is refused.
        let odd = EntitySettings {
            order_patterns: vec![r"SO-\d{6}".into()],
            catalogue: vec![],
            order_example: Some("12345".into()),
        };
        assert_eq!(odd.check()[0].path, "order_example");
    }
}
