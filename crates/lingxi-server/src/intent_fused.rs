//! Fused intent models in the server: when the sentence encoder is loaded, each intent model in
//! use (the built-in defaults, a tenant's own version) gets a fused twin that also reads the
//! message's embedding (`lingxi_nlu::intent_fused`). The twin is built off the request path:
//! the training examples' vectors come from the same cache as the knowledge base's phrasings
//! (memory, then `kb_embeddings` in the store, then the encoder, in the blocking pool), then two
//! solver runs. Until it is ready the lexical model answers, like the lexical knowledge index
//! before its hybrid one. The turn classifies with the vector it computes for retrieval: a
//! message is encoded once.

use crate::semantic::Semantic;
use lingxi_domain::TenantId;
use lingxi_nlu::intent::IntentTrainingData;
use lingxi_nlu::intent::{default_model, default_training_data, DefaultLanguage, IntentModel, IntentResult};
use lingxi_nlu::intent_fused::{FusedIntentConfig, FusedIntentModel};
use lingxi_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fused models kept per node (a model is keyed by its lexical twin's content version, so a
/// tenant rolling back and forth reuses what was built); past the cap the map starts over.
const MAX_MODELS: usize = 256;

/// The wait before a failed build is tried again, doubled per failure up to [`RETRY_MAX`]: a
/// store or encoder hiccup heals by itself, a model that cannot be built costs one try an hour.
const RETRY_FIRST: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(3600);

enum Slot {
    /// Being built; `failures` earlier tries failed.
    Building {
        failures: u32,
    },
    Ready(Arc<FusedIntentModel>),
    /// Training or encoding failed (logged); a message after `retry_at` starts another try.
    Failed {
        failures: u32,
        retry_at: Instant,
    },
}

fn retry_delay(failures: u32) -> Duration {
    RETRY_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(RETRY_MAX)
}

/// Every fused intent model of this node, by the lexical model's version.
#[derive(Clone, Default)]
pub struct FusedIntents {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

/// The model or models a message is classified with.
pub struct IntentEngine {
    pub lexical: Arc<IntentModel>,
    pub fused: Option<Arc<FusedIntentModel>>,
}

impl IntentEngine {
    /// The understanding of `text` and which model gave it (`fused` needs the fused model and
    /// the text's vector; anything else is `lexical`).
    pub fn classify(&self, text: &str, vector: Option<&[f32]>) -> (IntentResult, &'static str) {
        match (&self.fused, vector) {
            (Some(f), Some(v)) if v.len() == f.dim() => (f.classify(text, v), "fused"),
            _ => (self.lexical.classify(text), "lexical"),
        }
    }
}

/// Where a model's training data comes from.
enum Source {
    Default(DefaultLanguage),
    Tenant { store: Store, tenant: TenantId, version: i64, lexical: Arc<IntentModel> },
}

impl FusedIntents {
    fn ready(&self, key: &str) -> Option<Arc<FusedIntentModel>> {
        match self.slots.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            Some(Slot::Ready(m)) => Some(m.clone()),
            _ => None,
        }
    }

    /// True for the one caller that should start building `key` (first, or again once a
    /// failed build's wait is over).
    fn claim(&self, key: &str, now: Instant) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let failures = match slots.get(key) {
            None => 0,
            Some(Slot::Failed { failures, retry_at }) if now >= *retry_at => *failures,
            Some(_) => return false,
        };
        if failures == 0 && slots.len() >= MAX_MODELS {
            slots.clear();
        }
        slots.insert(key.to_owned(), Slot::Building { failures });
        true
    }

    /// Records how a claimed build ended.
    fn finish(&self, key: &str, built: Result<FusedIntentModel, String>, now: Instant) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let before = match slots.get(key) {
            Some(Slot::Building { failures }) => *failures,
            _ => 0,
        };
        let slot = match built {
            Ok(model) => Slot::Ready(Arc::new(model)),
            Err(e) => {
                let failures = before + 1;
                let wait = retry_delay(failures);
                tracing::warn!(model = %key, error = %e, failures, retry_in_s = wait.as_secs(), "fused intent model not built; the lexical model answers");
                Slot::Failed { failures, retry_at: now + wait }
            }
        };
        slots.insert(key.to_owned(), slot);
    }

    /// The engine for a message: the tenant's own model (`own`) or the default for the
    /// language, with its fused twin when ready. Starts building the twin when the encoder is
    /// loaded and nobody has yet.
    pub fn engine(
        &self,
        semantic: &Arc<Semantic>,
        store: &Store,
        tenant: &TenantId,
        own: &Option<(i64, Arc<IntentModel>)>,
        chinese: bool,
    ) -> IntentEngine {
        let lexical = crate::intent_models::pick(own, chinese);
        if !semantic.available() {
            return IntentEngine { lexical, fused: None };
        }
        let key = lexical.version().to_owned();
        if let Some(fused) = self.ready(&key) {
            return IntentEngine { lexical, fused: Some(fused) };
        }
        if self.claim(&key, Instant::now()) {
            let source = match own {
                None => Source::Default(language(chinese)),
                Some((version, m)) => Source::Tenant {
                    store: store.clone(),
                    tenant: tenant.clone(),
                    version: *version,
                    lexical: m.clone(),
                },
            };
            self.spawn_build(semantic.clone(), key, source);
        }
        IntentEngine { lexical, fused: None }
    }

    /// Builds the default models' twins now (at start, so the first customers get them).
    pub fn warm_defaults(&self, semantic: &Arc<Semantic>) {
        if !semantic.available() {
            return;
        }
        for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
            let (this, semantic) = (self.clone(), semantic.clone());
            tokio::spawn(async move {
                let Ok(lexical) = tokio::task::spawn_blocking(move || default_model(lang)).await else { return };
                let key = lexical.version().to_owned();
                if this.claim(&key, Instant::now()) {
                    this.spawn_build(semantic, key, Source::Default(lang));
                }
            });
        }
    }

    fn spawn_build(&self, semantic: Arc<Semantic>, key: String, source: Source) {
        let this = self.clone();
        tokio::spawn(async move {
            let built = build(&semantic, source).await;
            this.finish(&key, built, Instant::now());
        });
    }
}

fn language(chinese: bool) -> DefaultLanguage {
    if chinese {
        DefaultLanguage::Chinese
    } else {
        DefaultLanguage::English
    }
}

/// A tenant's stored training data (`{"intents": [{"intent", "examples"}]}`, as saved).
fn parse_data(json: &str) -> Result<IntentTrainingData, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut data = IntentTrainingData::new();
    for i in v["intents"].as_array().ok_or("no `intents` in the stored training data")? {
        let examples = i["examples"].as_array().map(|a| a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>());
        data.add(i["intent"].as_str().unwrap_or_default(), examples.unwrap_or_default());
    }
    Ok(data)
}

async fn build(semantic: &Arc<Semantic>, source: Source) -> Result<FusedIntentModel, String> {
    let started = Instant::now();
    let (data, lexical, what) = match source {
        Source::Default(lang) => {
            let pair = tokio::task::spawn_blocking(move || (default_training_data(lang), default_model(lang)))
                .await
                .map_err(|e| e.to_string())?;
            (pair.0, pair.1, format!("default {lang:?}"))
        }
        Source::Tenant { store, tenant, version, lexical } => {
            let (_, json) = store.intent_model(&tenant, version).await.map_err(|e| e.to_string())?;
            (parse_data(&json)?, lexical, format!("tenant {tenant} version {version}"))
        }
    };
    let texts: Vec<String> = data.intents().iter().flat_map(|(_, ex)| ex.iter().cloned()).collect();
    let n_examples = texts.len();
    let stored = semantic.load_stored_examples(&texts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let sem = semantic.clone();
    let (model, report, encode_ms, train_ms) = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t0 = Instant::now();
        let vectors = sem.encode_examples(&refs).ok_or("the encoder is not loaded")?;
        let encode_ms = t0.elapsed().as_millis();
        let t1 = Instant::now();
        let (model, report) = FusedIntentModel::train(&data, &vectors, lexical, &FusedIntentConfig::default())
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((model, report, encode_ms, t1.elapsed().as_millis()))
    })
    .await
    .map_err(|e| e.to_string())??;
    tracing::info!(
        model = %what,
        examples = n_examples,
        vectors_from_store = stored,
        encode_ms,
        train_ms,
        total_ms = started.elapsed().as_millis(),
        holdout_accuracy = report.holdout_accuracy,
        holdout_rejection = report.holdout_rejection,
        oos_threshold = report.oos_threshold,
        "fused intent model in use"
    );
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_training_data_reads_back() {
        let d = default_training_data(DefaultLanguage::English);
        let back = parse_data(&crate::intent_models::data_json(&d).to_string()).unwrap();
        assert_eq!(back, d);
        assert!(parse_data("{}").is_err());
    }

    #[test]
    fn a_failed_build_is_tried_again_after_a_growing_wait() {
        let fused = FusedIntents::default();
        let t0 = Instant::now();
        assert!(fused.claim("v1", t0));
        assert!(!fused.claim("v1", t0), "one builder at a time");
        fused.finish("v1", Err("store unavailable".into()), t0);
        assert!(!fused.claim("v1", t0 + RETRY_FIRST - Duration::from_secs(1)), "not before the wait");
        assert!(fused.claim("v1", t0 + RETRY_FIRST), "tried again after it");
        let t1 = t0 + RETRY_FIRST;
        fused.finish("v1", Err("again".into()), t1);
        assert!(!fused.claim("v1", t1 + RETRY_FIRST), "the second wait is longer");
        assert!(fused.claim("v1", t1 + 2 * RETRY_FIRST));
        assert_eq!(retry_delay(40), RETRY_MAX);
        assert!(fused.ready("v1").is_none());
    }
}
