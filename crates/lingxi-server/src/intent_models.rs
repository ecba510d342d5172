//! Tenants' own intent models in the server: training data parsed and checked at the edge,
//! trained off the async runtime, kept as a numbered version in the store, and the version in
//! use cached per tenant. A node that trained swaps its cache at once; other nodes notice the
//! store's pointer within `RECHECK` (plus one message: the recheck runs in the background, so
//! no customer message waits for the store or for decoding a model). A tenant without a model
//! of its own gets the built-in after-sales intents (Chinese or English by the message).

use lingxi_domain::TenantId;
use lingxi_nlu::intent::{
    default_model, DefaultLanguage, IntentConfig, IntentModel, IntentTrainingData, TrainingReport,
};
use lingxi_store::{NewIntentModel, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node trusts its cached pointer before asking the store again.
const RECHECK: Duration = Duration::from_secs(5);

/// Limits of one training request: a tenant's data, not a dataset dump.
pub const MAX_INTENTS: usize = 1_000;
pub const MAX_EXAMPLES: usize = 50_000;
pub const MAX_EXAMPLE_CHARS: usize = 500;
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Clone)]
struct Cached {
    checked: Instant,
    version: Option<i64>,
    model: Option<Arc<IntentModel>>,
    /// A background recheck is under way (at most one per tenant).
    refreshing: bool,
}

impl Cached {
    fn served(&self) -> Option<(i64, Arc<IntentModel>)> {
        self.version.zip(self.model.clone())
    }
}

type Cache = Arc<Mutex<HashMap<String, Cached>>>;

#[derive(Default)]
pub struct IntentModels {
    cache: Cache,
}

impl IntentModels {
    /// The tenant's model in use and its version; `None` means the built-in defaults. Read from
    /// the store on first use (awaited); afterwards the cached answer is served and, once older
    /// than `RECHECK`, one background task asks the store again (and loads a new artifact if the
    /// pointer moved), so no customer message waits for that. A store that cannot be read keeps
    /// the cached answer (a bot turn is not failed for this).
    pub async fn active(&self, store: &Store, tenant: &TenantId) -> Option<(i64, Arc<IntentModel>)> {
        let stale = {
            let mut cache = lock(&self.cache);
            match cache.get_mut(tenant.as_str()) {
                Some(c) if c.checked.elapsed() < RECHECK => return c.served(),
                Some(c) => {
                    let start = !std::mem::replace(&mut c.refreshing, true);
                    Some((c.clone(), start))
                }
                None => None,
            }
        };
        match stale {
            Some((cached, start)) => {
                if start {
                    let (cache, store, tenant) = (self.cache.clone(), store.clone(), tenant.clone());
                    let out = cached.served();
                    tokio::spawn(async move {
                        let began = Instant::now();
                        let fresh = load(&store, &tenant, Some(&cached)).await;
                        let mut cache = lock(&cache);
                        let Some(entry) = cache.get_mut(tenant.as_str()) else { return };
                        // This node swapped the model meanwhile: its answer is newer than ours.
                        if entry.checked > began {
                            entry.refreshing = false;
                            return;
                        }
                        *entry = match fresh {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(error = %e, tenant = %tenant, "could not read the tenant's intent model pointer; keeping what was cached");
                                Cached { checked: Instant::now(), refreshing: false, ..cached }
                            }
                        };
                    });
                    return out;
                }
                cached.served()
            }
            None => {
                let fresh = match load(store, tenant, None).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, tenant = %tenant, "could not read the tenant's intent model pointer; using the defaults for now");
                        return None;
                    }
                };
                let out = fresh.served();
                lock(&self.cache).insert(tenant.as_str().to_owned(), fresh);
                out
            }
        }
    }

    /// This node changed the pointer: use `model` from now on (`None`: the defaults).
    pub fn swap(&self, tenant: &TenantId, model: Option<(i64, Arc<IntentModel>)>) {
        let entry = Cached {
            checked: Instant::now(),
            version: model.as_ref().map(|m| m.0),
            model: model.map(|m| m.1),
            refreshing: false,
        };
        lock(&self.cache).insert(tenant.as_str().to_owned(), entry);
    }

    /// This node moved the pointer in the store: read it (and decode the model it points at)
    /// now, in the request that moved it, rather than on the next customer's message.
    pub async fn reload(&self, store: &Store, tenant: &TenantId) -> Result<(), lingxi_store::StoreError> {
        let fresh = load(store, tenant, None).await?;
        lock(&self.cache).insert(tenant.as_str().to_owned(), fresh);
        Ok(())
    }
}

fn lock(cache: &Cache) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
    cache.lock().unwrap_or_else(|p| p.into_inner())
}

/// The store's pointer and, when it moved from `cached`, the model it points at.
async fn load(store: &Store, tenant: &TenantId, cached: Option<&Cached>) -> Result<Cached, lingxi_store::StoreError> {
    let version = store.intent_model_active_version(tenant).await?;
    let now = Instant::now();
    let fresh = match (cached.filter(|c| c.version == version), version) {
        // The pointer has not moved: keep the loaded model.
        (Some(same), _) => Cached { checked: now, refreshing: false, ..same.clone() },
        (None, None) => Cached { checked: now, version: None, model: None, refreshing: false },
        (None, Some(_)) => match store.intent_model_active_artifact(tenant).await? {
            Some((v, bytes)) => {
                // Decoding a large model takes tens of milliseconds: off the runtime's threads.
                let model = tokio::task::spawn_blocking(move || IntentModel::from_bytes(&bytes))
                    .await
                    .map_err(|e| lingxi_store::StoreError::Invalid(format!("intent model load failed: {e}")))?
                    .inspect_err(|e| {
                        tracing::warn!(tenant = %tenant, version = v, error = %e, "stored intent model unreadable; using the defaults")
                    })
                    .ok()
                    .map(Arc::new);
                Cached { checked: now, version: Some(v), model, refreshing: false }
            }
            None => Cached { checked: now, version: None, model: None, refreshing: false },
        },
    };
    Ok(fresh)
}

/// The model a message is classified with: the tenant's own, else the default for its language.
pub fn pick(own: &Option<(i64, Arc<IntentModel>)>, chinese: bool) -> Arc<IntentModel> {
    match own {
        Some((_, m)) => m.clone(),
        None => default_model(if chinese { DefaultLanguage::Chinese } else { DefaultLanguage::English }),
    }
}

/// Checks training data: every problem as (path, message), none when it can be trained.
pub fn check(data: &IntentTrainingData) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let intents = data.intents();
    if intents.len() < 2 {
        problems.push(("intents".into(), format!("at least 2 intents are needed, got {}", intents.len())));
    }
    if intents.len() > MAX_INTENTS {
        problems.push(("intents".into(), format!("at most {MAX_INTENTS} intents, got {}", intents.len())));
    }
    let total: usize = intents.iter().map(|(_, e)| e.len()).sum();
    if total > MAX_EXAMPLES {
        problems.push(("intents".into(), format!("at most {MAX_EXAMPLES} examples in all, got {total}")));
    }
    // The same sentence under two intents teaches the model nothing but confusion.
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (i, (name, examples)) in intents.iter().enumerate() {
        let at = format!("intents[{i}]");
        let valid_name = !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
        if !valid_name {
            problems.push((
                format!("{at}.intent"),
                format!(
                    "`{}`: 1–{MAX_NAME_CHARS} characters of a–z, A–Z, 0–9, _ - . /",
                    name.chars().take(80).collect::<String>()
                ),
            ));
        }
        if examples.len() < 2 {
            problems.push((
                format!("{at}.examples"),
                format!("`{name}` needs at least 2 examples, has {}", examples.len()),
            ));
        }
        for (j, e) in examples.iter().enumerate() {
            if e.chars().count() > MAX_EXAMPLE_CHARS {
                problems.push((format!("{at}.examples[{j}]"), format!("longer than {MAX_EXAMPLE_CHARS} characters")));
            }
            let key = e.trim().to_lowercase();
            match seen.get(&key) {
                Some(other) if *other != name.as_str() => problems.push((
                    format!("{at}.examples[{j}]"),
                    format!("`{}` is also an example of `{other}`", e.chars().take(80).collect::<String>()),
                )),
                _ => {
                    seen.insert(key, name);
                }
            }
        }
    }
    problems
}

/// A trained model ready to keep, with what the tenant is shown about it.
pub struct Trained {
    pub model: IntentModel,
    pub report: TrainingReport,
    pub training_ms: u64,
}

/// Trains (blocking: call from a blocking task). Data must have passed [`check`].
pub fn train(data: &IntentTrainingData) -> Result<Trained, String> {
    let t0 = Instant::now();
    let (model, report) = IntentModel::train_with_report(data, &IntentConfig::default()).map_err(|e| e.to_string())?;
    Ok(Trained { model, report, training_ms: t0.elapsed().as_millis() as u64 })
}

/// Training data as stored and exported: `{"intents": [{"intent", "examples"}]}`.
pub fn data_json(data: &IntentTrainingData) -> Value {
    json!({ "intents": data.intents().iter().map(|(n, e)| json!({ "intent": n, "examples": e })).collect::<Vec<_>>() })
}

pub fn report_json(t: &Trained) -> Value {
    json!({
        "holdout_examples": t.report.holdout_examples,
        "holdout_accuracy": (t.report.holdout_accuracy * 10_000.0).round() / 10_000.0,
        "weak_intents": t.report.weak_intents.iter()
            .map(|(n, r, k)| json!({ "intent": n, "recall": (r * 1000.0).round() / 1000.0, "held_out": k }))
            .collect::<Vec<_>>(),
        "oos_threshold": t.model.oos_threshold(),
        "training_ms": t.training_ms,
    })
}

pub fn to_store(data: &IntentTrainingData, t: &Trained, actor: &str) -> NewIntentModel {
    NewIntentModel {
        model_id: t.model.version().to_owned(),
        training_data: data_json(data).to_string(),
        model: t.model.to_bytes(),
        report: report_json(t).to_string(),
        n_intents: data.intents().len() as i64,
        n_examples: data.intents().iter().map(|(_, e)| e.len() as i64).sum(),
        created_by: actor.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &[&str])]) -> IntentTrainingData {
        let mut d = IntentTrainingData::new();
        for (n, ex) in pairs {
            d.add(n, ex.iter().copied());
        }
        d
    }

    #[test]
    fn problems_are_named_by_path() {
        let ok = data(&[("a", &["查订单", "订单在哪"]), ("b", &["开发票", "要发票"])]);
        assert!(check(&ok).is_empty());
        let one = data(&[("a", &["x", "y"])]);
        assert_eq!(check(&one)[0].0, "intents");
        let bad = data(&[("bad name!", &["x", "y"]), ("b", &["X ", "z"]), ("c", &["only"])]);
        let paths: Vec<String> = check(&bad).into_iter().map(|p| p.0).collect();
        assert_eq!(paths, ["intents[0].intent", "intents[1].examples[0]", "intents[2].examples"]);
        let long = "长".repeat(MAX_EXAMPLE_CHARS + 1);
        let too_long = data(&[("a", &[long.as_str(), "y"]), ("b", &["p", "q"])]);
        assert_eq!(check(&too_long)[0].0, "intents[0].examples[0]");
    }

    #[test]
    fn a_trained_model_round_trips_through_its_stored_form() {
        let d = lingxi_nlu::intent::default_training_data(DefaultLanguage::English);
        let t = train(&d).unwrap();
        let stored = to_store(&d, &t, "usr_1");
        let back = IntentModel::from_bytes(&stored.model).unwrap();
        assert_eq!(back.version(), t.model.version());
        let q = "where is my parcel";
        let (a, b) = (back.classify(q).top.unwrap(), t.model.classify(q).top.unwrap());
        // The artifact stores 8-bit weights: the same answer, a confidence within rounding.
        assert_eq!(a.intent, b.intent);
        assert!((a.confidence - b.confidence).abs() < 0.01, "{a:?} {b:?}");
        // Read back and written again, it is the same bytes: every node serves the same model.
        assert_eq!(back.to_bytes(), stored.model);
        assert!(report_json(&t)["holdout_accuracy"].as_f64().unwrap() > 0.5);
    }
}
