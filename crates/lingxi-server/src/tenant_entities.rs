//! Each tenant's language kit: its entity extractor, with its own order-number patterns (`DD` +
//! 12 digits, say) and catalogue (its `products` business records' names plus names it adds), so
//! "DD202611250001 的扫地机 X1" yields the tenant's order number and product; and its normaliser,
//! whose typo repair knows the tenant's vocabulary (catalogue names plus brand terms), so "集光扫地机"
//! becomes the tenant's "极光扫地机". The same vocabulary is the segmentation dictionary of the
//! tenant's knowledge index (`knowledge.rs`), so those names stay whole words.
//!
//! Built on first use and rebuilt at once when this node changes the settings. Otherwise an entry
//! older than `REFRESH` (a product import, a change on another node) is still served while one
//! background task rebuilds it, so no customer message waits for the rebuild. Without settings or
//! products a tenant shares the default kit.

use crate::error::Problem;
use lingxi_domain::TenantId;
use lingxi_nlu::entities::{EntityConfig, EntityExtractor, EntityKind, Now};
use lingxi_nlu::normalize::Normalizer;
use lingxi_nlu::segment::Segmenter;
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
    /// Brand and other terms of the tenant (not products): kept whole by segmentation and known
    /// to typo repair, like catalogue names, but not reported as product entities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// An order number in the tenant's format (best made up: every customer asked sees it),
    /// shown when the bot asks for one ("例如 LX20261101001") or cannot find one; without it the
    /// bot names no format.
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
        for (field, names) in [("catalogue", &self.catalogue), ("terms", &self.terms)] {
            if field == "terms" && names.len() > MAX_NAMES {
                out.push(Problem::at(field, format!("at most {MAX_NAMES} terms")));
            }
            for (i, n) in names.iter().enumerate() {
                if n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS {
                    out.push(Problem::at(format!("{field}[{i}]"), format!("1–{MAX_NAME_CHARS} characters")));
                }
            }
        }
        if let Some(example) = &self.order_example {
            // The example must be what the bot would read as an order number, or it teaches
            // customers a shape the bot then does not recognise.
            let config = EntityConfig { order_patterns: self.order_patterns.clone(), catalogue: Vec::new() };
            let recognised = EntityExtractor::new(&config).is_ok_and(|e| {
                let normalized = default_normalizer().normalize(example);
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

/// The normaliser of every tenant without a vocabulary of its own (built-in after-sales terms).
pub fn default_normalizer() -> &'static Arc<Normalizer> {
    static N: OnceLock<Arc<Normalizer>> = OnceLock::new();
    N.get_or_init(|| Arc::new(Normalizer::default()))
}

/// A tenant's extractor and normaliser with the settings they were built from.
#[derive(Clone)]
pub struct Built {
    pub extractor: Arc<EntityExtractor>,
    pub normalizer: Arc<Normalizer>,
    /// jieba plus the tenant's vocabulary kept whole.
    pub segmenter: Segmenter,
    /// [`vocabulary_digest`] of the vocabulary this kit was built from (the knowledge index
    /// compares it with its own to notice product imports and other nodes' changes).
    pub vocabulary_digest: u64,
    pub order_example: Option<String>,
}

impl Built {
    fn defaults() -> Self {
        Built {
            extractor: default_extractor(),
            normalizer: default_normalizer().clone(),
            segmenter: Segmenter::new(),
            vocabulary_digest: vocabulary_digest(&[]),
            order_example: None,
        }
    }
}

struct Entry {
    at: Instant,
    built: Built,
    /// A background rebuild is under way (at most one per tenant).
    refreshing: bool,
}

type Cache = Arc<Mutex<HashMap<String, Entry>>>;

#[derive(Default)]
pub struct TenantEntities {
    cache: Cache,
}

impl TenantEntities {
    /// The tenant's extractor. A store that cannot be read gives the cached or default one.
    pub async fn get(&self, store: &Store, tenant: &TenantId) -> Arc<EntityExtractor> {
        self.built(store, tenant).await.extractor
    }

    /// The tenant's normaliser (typo repair knows its vocabulary).
    pub async fn normalizer(&self, store: &Store, tenant: &TenantId) -> Arc<Normalizer> {
        self.built(store, tenant).await.normalizer
    }

    /// The tenant's example order number, if it set one.
    pub async fn order_example(&self, store: &Store, tenant: &TenantId) -> Option<String> {
        self.built(store, tenant).await.order_example
    }

    /// The tenant's whole kit: built on first use (awaited), afterwards served from the cache and
    /// refreshed in the background once it is older than `REFRESH`.
    pub async fn built(&self, store: &Store, tenant: &TenantId) -> Built {
        let stale = {
            let mut cache = lock(&self.cache);
            match cache.get_mut(tenant.as_str()) {
                Some(e) if e.at.elapsed() < REFRESH => return e.built.clone(),
                Some(e) => Some((e.built.clone(), !std::mem::replace(&mut e.refreshing, true))),
                None => None,
            }
        };
        match stale {
            Some((built, start_refresh)) => {
                if start_refresh {
                    let (cache, store, tenant) = (self.cache.clone(), store.clone(), tenant.clone());
                    tokio::spawn(async move {
                        let fresh = build(&store, &tenant).await;
                        let mut cache = lock(&cache);
                        match (fresh, cache.get_mut(tenant.as_str())) {
                            (Ok(b), _) => {
                                cache.insert(
                                    tenant.as_str().to_owned(),
                                    Entry { at: Instant::now(), built: b, refreshing: false },
                                );
                            }
                            // Keep serving what we had; try again after another `REFRESH`.
                            (Err(e), Some(entry)) => {
                                tracing::warn!(tenant = %tenant, error = %e, "entity settings unreadable; keeping the cached ones");
                                entry.at = Instant::now();
                                entry.refreshing = false;
                            }
                            (Err(_), None) => {}
                        }
                    });
                }
                built
            }
            None => {
                let built = build(store, tenant).await.unwrap_or_else(|e| {
                    tracing::warn!(tenant = %tenant, error = %e, "entity settings unreadable; using the defaults");
                    Built::defaults()
                });
                lock(&self.cache).insert(
                    tenant.as_str().to_owned(),
                    Entry { at: Instant::now(), built: built.clone(), refreshing: false },
                );
                built
            }
        }
    }

    /// The settings changed on this node: rebuild on next use.
    pub fn forget(&self, tenant: &TenantId) {
        lock(&self.cache).remove(tenant.as_str());
    }
}

fn lock(cache: &Cache) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
    cache.lock().unwrap_or_else(|p| p.into_inner())
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

/// The tenant's vocabulary: catalogue names (products records and added names) and brand terms,
/// sorted, without duplicates. Empty for a tenant that has none.
pub async fn vocabulary(store: &Store, tenant: &TenantId) -> Result<Vec<String>, lingxi_store::StoreError> {
    let s = settings(store, tenant).await?;
    let mut catalogue = product_names(store, tenant).await?;
    catalogue.extend(s.catalogue);
    Ok(words(&catalogue, &s.terms))
}

/// Catalogue names and terms as one sorted list without duplicates.
fn words(catalogue: &[String], terms: &[String]) -> Vec<String> {
    let mut words: Vec<String> = catalogue.iter().chain(terms).cloned().collect();
    words.sort();
    words.dedup();
    words
}

/// A fingerprint of a sorted vocabulary (equal lists, equal digests; within one process).
pub fn vocabulary_digest(words: &[String]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    words.hash(&mut h);
    h.finish()
}

async fn build(store: &Store, tenant: &TenantId) -> Result<Built, lingxi_store::StoreError> {
    let s = settings(store, tenant).await?;
    let order_example = s.order_example;
    let mut catalogue = product_names(store, tenant).await?;
    catalogue.extend(s.catalogue);
    catalogue.sort();
    catalogue.dedup();
    let words = words(&catalogue, &s.terms);
    let vocabulary_digest = vocabulary_digest(&words);
    let (normalizer, segmenter) = if words.is_empty() {
        (default_normalizer().clone(), Segmenter::new())
    } else {
        (Arc::new(Normalizer::new(&words)), Segmenter::with_user_words(&words))
    };
    if s.order_patterns.is_empty() && catalogue.is_empty() {
        return Ok(Built { extractor: default_extractor(), normalizer, segmenter, vocabulary_digest, order_example });
    }
    // Patterns were checked when saved; one that no longer compiles falls back to the default shape.
    let config = EntityConfig { order_patterns: s.order_patterns, catalogue };
    let e = EntityExtractor::new(&config)
        .or_else(|_| EntityExtractor::new(&EntityConfig { order_patterns: Vec::new(), catalogue: config.catalogue }))
        .unwrap_or_default();
    Ok(Built { extractor: Arc::new(e), normalizer, segmenter, vocabulary_digest, order_example })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_named_by_path() {
        let ok = EntitySettings {
            order_patterns: vec![r"DD\d{12}".into()],
            catalogue: vec!["扫地机 X1".into()],
            terms: vec!["极光".into()],
            order_example: Some("DD202611250001".into()),
        };
        assert!(ok.check().is_empty(), "{:?}", ok.check());
        let bad = EntitySettings {
            order_patterns: vec![r"DD\d{12}".into(), "(".into(), " ".into()],
            catalogue: vec!["".into()],
            terms: vec!["ok".into(), " ".into()],
            order_example: None,
        };
        let paths: Vec<String> = bad.check().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["order_patterns[1]", "order_patterns[2]", "catalogue[0]", "terms[1]"]);
        // An example these settings would not read as an order number is refused.
        let odd = EntitySettings {
            order_patterns: vec![r"SO-\d{6}".into()],
            catalogue: vec![],
            terms: vec![],
            order_example: Some("12345".into()),
        };
        assert_eq!(odd.check()[0].path, "order_example");
    }
}
