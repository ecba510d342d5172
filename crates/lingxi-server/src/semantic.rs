//! The sentence encoder in the server: loaded once at start when the model file is found (or
//! not at all, and the start log says so), vectors for published phrasings cached by text
//! digest (a rebuild after an edit or on another tenant with the same texts encodes only what
//! is new), and a customer's message encoded within a time bound, else answered lexically.

use crate::knowledge_config::{EncoderSetting, KnowledgeConfig};
use lingxi_encoder::{Encoder, EncoderError, QUERY_PREFIX};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Vectors kept in memory (384 floats, 1.5 KB each: about 75 MB at the cap; past it the
/// cache starts over rather than tracking recency).
const CACHE_CAP: usize = 50_000;
/// Phrasings encoded per forward pass while building (short enough that a customer's message
/// waiting for the encoder's worker thread is not held up long).
const BUILD_CHUNK: usize = 16;
/// Customer messages encoded at once; one more answers lexically rather than queueing.
const QUERY_SLOTS: usize = 2;

pub struct Semantic {
    encoder: Option<Arc<Encoder>>,
    /// What start found, as logged: for health and the admin settings.
    pub status: String,
    cache: Mutex<HashMap<[u8; 32], Arc<Vec<f32>>>>,
    query_slots: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    /// Customer messages answered lexically although the index had vectors (encoder busy or slow).
    pub query_fallbacks: AtomicU64,
    /// Texts encoded (phrasings and messages), cache misses only.
    pub encoded: AtomicU64,
}

/// One loaded encoder per model file and process: several servers in one process (the
/// integration tests) share it instead of holding 80 MB each.
fn load_shared(path: &PathBuf) -> Result<Arc<Encoder>, EncoderError> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Encoder>>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = loaded.get(path) {
        return Ok(e.clone());
    }
    let e = Arc::new(Encoder::load(path)?);
    loaded.insert(path.clone(), e.clone());
    Ok(e)
}

fn key(text: &str) -> [u8; 32] {
    // The prefix is part of what was encoded.
    Sha256::new().chain_update(QUERY_PREFIX).chain_update(text).finalize().into()
}

impl Semantic {
    /// No encoder: every ranking is lexical.
    pub fn off(status: &str) -> Semantic {
        Self::with(None, status.to_owned(), Duration::from_millis(1))
    }

    fn with(encoder: Option<Arc<Encoder>>, status: String, timeout: Duration) -> Semantic {
        Semantic {
            encoder,
            status,
            cache: Mutex::default(),
            query_slots: Arc::new(tokio::sync::Semaphore::new(QUERY_SLOTS)),
            timeout,
            query_fallbacks: AtomicU64::new(0),
            encoded: AtomicU64::new(0),
        }
    }

    /// Loads the encoder as configured and logs which mode the server runs in. Blocking (the
    /// model is read from disk): call from a blocking task.
    pub fn start(config: &KnowledgeConfig) -> Semantic {
        let timeout = Duration::from_millis(config.query_encode_timeout_ms);
        if config.encoder == EncoderSetting::Off {
            let status = "sentence encoder off (knowledge.encoder = \"off\"): running on lexical models";
            tracing::info!("{status}");
            return Self::off(status);
        }
        let searched = match &config.model_dir {
            Some(dir) => vec![dir.join(lingxi_encoder::MODEL_FILE_NAME)],
            None => Encoder::default_paths(),
        };
        let found = searched.iter().find(|p| p.is_file());
        let loaded = match found {
            Some(path) => load_shared(path).map(|e| (e, path.clone())),
            None => Err(EncoderError::NotFound { searched: searched.clone() }),
        };
        match loaded {
            Ok((encoder, path)) => {
                let status = format!("sentence encoder loaded ({}), hybrid retrieval", path.display());
                tracing::info!("{status}");
                Self::with(Some(encoder), status, timeout)
            }
            Err(EncoderError::NotFound { searched }) => {
                let list: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                let status = format!(
                    "sentence encoder not found (searched {}; run scripts/fetch-model.sh): running on lexical models",
                    list.join(", ")
                );
                tracing::warn!("{status}");
                Self::off(&status)
            }
            Err(e) => {
                let status = format!("sentence encoder could not be loaded ({e}): running on lexical models");
                tracing::warn!("{status}");
                Self::off(&status)
            }
        }
    }

    pub fn available(&self) -> bool {
        self.encoder.is_some()
    }

    /// "hybrid" when an encoder is loaded, else "lexical".
    pub fn mode(&self) -> &'static str {
        if self.available() {
            "hybrid"
        } else {
            "lexical"
        }
    }

    fn cached(&self, text: &str) -> Option<Arc<Vec<f32>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key(text)).cloned()
    }

    fn remember(&self, text: &str, v: Arc<Vec<f32>>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key(text), v);
    }

    /// Vectors for every text when all are cached (no encoding: cheap enough for any path).
    pub fn all_cached(&self, texts: &[&str]) -> Option<Vec<Vec<f32>>> {
        self.encoder.as_ref()?;
        texts.iter().map(|t| self.cached(t).map(|v| v.as_ref().clone())).collect()
    }

    /// Vectors for every text, encoding the ones not cached. Blocking; `keep_going` is asked
    /// between chunks and a false answer abandons the work (the texts were superseded).
    pub fn encode_all(&self, texts: &[&str], keep_going: &dyn Fn() -> bool) -> Option<Vec<Vec<f32>>> {
        let encoder = self.encoder.as_ref()?;
        let missing: Vec<&str> = texts.iter().copied().filter(|t| self.cached(t).is_none()).collect();
        for chunk in missing.chunks(BUILD_CHUNK) {
            if !keep_going() {
                return None;
            }
            for (t, v) in chunk.iter().zip(encoder.encode_batch_with_prefix(QUERY_PREFIX, chunk)) {
                self.remember(t, Arc::new(v));
            }
            self.encoded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        // A cache reset in between (past the cap) only costs encoding those again.
        texts
            .iter()
            .map(|t| {
                self.cached(t).map(|v| v.as_ref().clone()).or_else(|| {
                    let v = encoder.encode_query(t);
                    self.remember(t, Arc::new(v.clone()));
                    Some(v)
                })
            })
            .collect()
    }

    /// A customer message's vector, or `None` (answer lexically) when there is no encoder,
    /// both query slots are taken or encoding takes longer than the configured bound.
    pub async fn encode_query(&self, text: &str) -> Option<Vec<f32>> {
        let encoder = self.encoder.clone()?;
        if let Some(v) = self.cached(text) {
            return Some(v.as_ref().clone());
        }
        let fallback = || {
            self.query_fallbacks.fetch_add(1, Ordering::Relaxed);
            None
        };
        // The slot is held by the encoding itself, so one that outlives its wait still counts.
        let Ok(slot) = self.query_slots.clone().try_acquire_owned() else { return fallback() };
        let owned = text.to_owned();
        let job = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            encoder.encode_query(&owned)
        });
        match tokio::time::timeout(self.timeout, job).await {
            Ok(Ok(v)) => {
                self.encoded.fetch_add(1, Ordering::Relaxed);
                let v = Arc::new(v);
                self.remember(text, v.clone());
                Some(v.as_ref().clone())
            }
            // A late vector is dropped; the blocking task finishes on its own.
            _ => fallback(),
        }
    }
}

/// The encoder's Prometheus lines (appended to the server's metrics).
pub fn render_metrics(s: &Semantic) -> String {
    format!(
        "# HELP lingxi_encoder_loaded 1 when the sentence encoder is loaded (hybrid retrieval), 0 when lexical only.\n\
         # TYPE lingxi_encoder_loaded gauge\nlingxi_encoder_loaded {}\n\
         # HELP lingxi_encoder_texts_total Texts encoded (cache misses: phrasings and customer messages).\n\
         # TYPE lingxi_encoder_texts_total counter\nlingxi_encoder_texts_total {}\n\
         # HELP lingxi_kb_lexical_fallbacks_total Messages answered lexically because the encoder was busy or slow.\n\
         # TYPE lingxi_kb_lexical_fallbacks_total counter\nlingxi_kb_lexical_fallbacks_total {}\n",
        u8::from(s.available()),
        s.encoded.load(Ordering::Relaxed),
        s.query_fallbacks.load(Ordering::Relaxed),
    )
}
