//! The sentence encoder in the server: loaded once at start when the model file is found (or
//! not at all, and the start log says so), vectors for published phrasings cached by text
//! digest (a rebuild after an edit or on another tenant with the same texts encodes only what
//! is new), and a customer's message encoded within a time bound, else answered lexically.
//!
//! Phrasing vectors are also kept in the store under the model's identity, so a restart reads
//! them back instead of encoding the knowledge base again; customer messages are not stored.

use crate::knowledge_config::{EncoderSetting, KnowledgeConfig};
use lingxi_encoder::{Encoder, EncoderError, QueryTokens, QUERY_PREFIX};
use lingxi_store::{Store, TextDigest};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
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
/// Newly encoded phrasing vectors written to the store per transaction (a 10,000-phrasing
/// knowledge base is saved as it goes, so a restart midway keeps what was done).
const SAVE_BATCH: usize = 256;
/// Part of every model id: bump when the same model file would give other vectors (pooling,
/// normalisation, the prefix), so stored vectors of the old computation are not reused.
const VECTORS_VERSION: u32 = 1;

pub struct Semantic {
    encoder: Option<Arc<Encoder>>,
    /// What stored vectors are filed under (see [`model_id`]).
    model_id: String,
    /// Where phrasing vectors persist; `None`: memory only.
    store: Option<Store>,
    /// What start found, as logged: for health and the admin settings.
    pub status: String,
    cache: Mutex<HashMap<[u8; 32], Arc<Vec<f32>>>>,
    query_slots: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    /// The most tokens of a customer message the encoder reads (`None`: all).
    query_budget: Option<QueryTokens>,
    /// Customer messages longer than the budget, encoded from their first tokens.
    pub queries_cut: AtomicU64,
    /// Customer messages answered lexically although the index had vectors (encoder busy or slow).
    pub query_fallbacks: AtomicU64,
    /// Texts encoded (phrasings and messages), cache misses only.
    pub encoded: AtomicU64,
    /// Phrasings encoded (misses of the memory cache and of the store).
    pub phrasings_encoded: AtomicU64,
    /// Phrasing vectors read back from the store.
    pub phrasings_loaded: AtomicU64,
    /// Phrasing vectors written to the store (shared with the tasks that write them).
    pub phrasings_saved: Arc<AtomicU64>,
    /// Intent training examples encoded (for fused intent models; misses of both caches).
    pub examples_encoded: AtomicU64,
    /// Intent training example vectors read back from the store.
    pub examples_loaded: AtomicU64,
}

/// One loaded encoder per model file and process: several servers in one process (the
/// integration tests) share it instead of holding 80 MB each. With it, the model's id.
fn load_shared(path: &PathBuf) -> Result<(Arc<Encoder>, String), EncoderError> {
    type Loaded = HashMap<PathBuf, (Arc<Encoder>, String)>;
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = loaded.get(path) {
        return Ok(e.clone());
    }
    let id = model_id(path).map_err(|source| EncoderError::Io { path: path.clone(), source })?;
    let encoder = Encoder::load(path)?;
    let id = vectors_id(&id, encoder.arithmetic());
    let e = (Arc::new(encoder), id);
    loaded.insert(path.clone(), e.clone());
    Ok(e)
}

/// The model file's identity: its size and the SHA-256 of its first MiB (header, vocabulary,
/// start of the weights), so another model file (or another quantisation of the same model)
/// never reuses vectors stored for this one; read once at load, not the whole 70 MB.
pub fn model_id(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(1 << 20);
    (&mut file).take(1 << 20).read_to_end(&mut head)?;
    let digest = Sha256::new().chain_update(size.to_le_bytes()).chain_update(&head).finalize();
    Ok(format!("e5s-v{VECTORS_VERSION}-{size}-{}", hex::encode(&digest[..16])))
}

/// The identity of the vectors an encoder computes: the model's, plus the arithmetic's tag when
/// it has one (`Arithmetic::vectors_tag`: int8 vectors must not be served from an f32 store).
fn vectors_id(model_id: &str, arithmetic: lingxi_encoder::Arithmetic) -> String {
    match arithmetic.vectors_tag() {
        None => model_id.to_owned(),
        Some(tag) => format!("{model_id}-{tag}"),
    }
}

/// The texts without repeats (two entries may share a phrasing), first occurrences in order.
fn distinct<'a>(texts: &[&'a str]) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    texts.iter().copied().filter(|t| seen.insert(*t)).collect()
}

fn key(text: &str) -> TextDigest {
    // The prefix is part of what was encoded.
    Sha256::new().chain_update(QUERY_PREFIX).chain_update(text).finalize().into()
}

impl Semantic {
    /// No encoder: every ranking is lexical.
    pub fn off(status: &str) -> Semantic {
        Self::with(None, String::new(), None, status.to_owned(), Duration::from_millis(1), None)
    }

    fn with(
        encoder: Option<Arc<Encoder>>,
        model_id: String,
        store: Option<Store>,
        status: String,
        timeout: Duration,
        query_budget: Option<QueryTokens>,
    ) -> Semantic {
        Semantic {
            encoder,
            model_id,
            store,
            status,
            cache: Mutex::default(),
            query_slots: Arc::new(tokio::sync::Semaphore::new(QUERY_SLOTS)),
            timeout,
            query_budget,
            queries_cut: AtomicU64::new(0),
            query_fallbacks: AtomicU64::new(0),
            encoded: AtomicU64::new(0),
            phrasings_encoded: AtomicU64::new(0),
            phrasings_loaded: AtomicU64::new(0),
            phrasings_saved: Arc::new(AtomicU64::new(0)),
            examples_encoded: AtomicU64::new(0),
            examples_loaded: AtomicU64::new(0),
        }
    }

    /// Loads the encoder as configured and logs which mode the server runs in; phrasing vectors
    /// persist in `store` when given. Blocking (the model is read from disk): call from a
    /// blocking task.
    pub fn start(config: &KnowledgeConfig, store: Option<Store>) -> Semantic {
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
            Ok(((encoder, id), path)) => {
                let kernel = encoder.int8_kernel().map(|k| format!(", {} kernel", k.as_str())).unwrap_or_default();
                let status = format!(
                    "sentence encoder loaded ({}, {} arithmetic{kernel}), hybrid retrieval",
                    path.display(),
                    encoder.arithmetic().as_str()
                );
                tracing::info!(model_id = %id, "{status}");
                Self::with(Some(encoder), id, store, status, timeout, config.query_max_tokens)
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

    /// Puts the stored vectors of the texts not in memory into the memory cache (one read per
    /// 256 texts), so that [`Semantic::encode_all`] encodes only what was never stored. Returns
    /// how many were found; a store error is logged and costs only the encoding.
    pub async fn load_stored(&self, texts: &[&str]) -> usize {
        self.load_stored_counted(texts, &self.phrasings_loaded).await
    }

    /// [`Semantic::load_stored`] for intent training examples (counted apart from phrasings).
    pub async fn load_stored_examples(&self, texts: &[&str]) -> usize {
        self.load_stored_counted(texts, &self.examples_loaded).await
    }

    async fn load_stored_counted(&self, texts: &[&str], loaded: &AtomicU64) -> usize {
        let (Some(encoder), Some(store)) = (&self.encoder, &self.store) else { return 0 };
        let missing: Vec<(TextDigest, &str)> =
            distinct(texts).into_iter().filter(|t| self.cached(t).is_none()).map(|t| (key(t), t)).collect();
        if missing.is_empty() {
            return 0;
        }
        let digests: Vec<TextDigest> = missing.iter().map(|(k, _)| *k).collect();
        let stored = match store.embeddings(&self.model_id, &digests).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "stored phrasing vectors not read: encoding them");
                return 0;
            }
        };
        let mut n = 0;
        for (k, t) in &missing {
            // A vector of another length cannot be this model's: encode that text again.
            if let Some(v) = stored.get(k).filter(|v| v.len() == encoder.dim()) {
                self.remember(t, Arc::new(v.clone()));
                n += 1;
            }
        }
        loaded.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Writes newly encoded phrasing vectors to the store in a task of their own: the caller
    /// (a build in the blocking pool) goes on encoding. A failed write is logged; those texts
    /// are encoded again after the next restart.
    fn save(&self, batch: Vec<(TextDigest, Vec<f32>)>) {
        let Some(store) = self.store.clone() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if batch.is_empty() {
            return;
        }
        let (model, saved) = (self.model_id.clone(), self.phrasings_saved.clone());
        runtime.spawn(async move {
            match store.put_embeddings(&model, &batch).await {
                Ok(()) => {
                    saved.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, n = batch.len(), "phrasing vectors not stored"),
            }
        });
    }

    /// Vectors for every text, encoding the ones not cached (call [`Semantic::load_stored`]
    /// first) and saving those to the store. Blocking; `keep_going` is asked between chunks
    /// and a false answer abandons the work (the texts were superseded).
    pub fn encode_all(&self, texts: &[&str], keep_going: &dyn Fn() -> bool) -> Option<Vec<Vec<f32>>> {
        self.encode_counted(texts, keep_going, &self.phrasings_encoded)
    }

    /// [`Semantic::encode_all`] for intent training examples (counted apart from phrasings;
    /// the vectors are the same computation, so both share the caches).
    pub fn encode_examples(&self, texts: &[&str]) -> Option<Vec<Vec<f32>>> {
        self.encode_counted(texts, &|| true, &self.examples_encoded)
    }

    fn encode_counted(
        &self,
        texts: &[&str],
        keep_going: &dyn Fn() -> bool,
        counter: &AtomicU64,
    ) -> Option<Vec<Vec<f32>>> {
        let encoder = self.encoder.as_ref()?;
        let missing: Vec<&str> = distinct(texts).into_iter().filter(|t| self.cached(t).is_none()).collect();
        let mut unsaved = Vec::new();
        for chunk in missing.chunks(BUILD_CHUNK) {
            if !keep_going() {
                self.save(unsaved);
                return None;
            }
            for (t, v) in chunk.iter().zip(encoder.encode_batch_with_prefix(QUERY_PREFIX, chunk)) {
                unsaved.push((key(t), v.clone()));
                self.remember(t, Arc::new(v));
            }
            self.encoded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if unsaved.len() >= SAVE_BATCH {
                self.save(std::mem::take(&mut unsaved));
            }
        }
        self.save(unsaved);
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
    /// both query slots are taken or encoding takes longer than the configured bound. Past the
    /// token budget only the message's first tokens are encoded.
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
        let (owned, budget) = (text.to_owned(), self.query_budget);
        let job = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            match budget {
                Some(b) => encoder.encode_query_within(&owned, b),
                None => lingxi_encoder::QueryVector { vector: encoder.encode_query(&owned), cut: false },
            }
        });
        match tokio::time::timeout(self.timeout, job).await {
            Ok(Ok(q)) => {
                self.encoded.fetch_add(1, Ordering::Relaxed);
                if q.cut {
                    // Not the text's own vector: cached under the text, a phrasing with the same
                    // words would get it.
                    self.queries_cut.fetch_add(1, Ordering::Relaxed);
                    return Some(q.vector);
                }
                self.remember(text, Arc::new(q.vector.clone()));
                Some(q.vector)
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
         # HELP lingxi_kb_queries_cut_total Messages longer than knowledge.query_max_tokens, encoded from their first tokens.\n\
         # TYPE lingxi_kb_queries_cut_total counter\nlingxi_kb_queries_cut_total {}\n\
         # HELP lingxi_kb_lexical_fallbacks_total Messages answered lexically because the encoder was busy or slow.\n\
         # TYPE lingxi_kb_lexical_fallbacks_total counter\nlingxi_kb_lexical_fallbacks_total {}\n\
         # HELP lingxi_kb_phrasing_vectors_total Phrasing vectors obtained for index builds, by source (memory-cache misses).\n\
         # TYPE lingxi_kb_phrasing_vectors_total counter\n\
         lingxi_kb_phrasing_vectors_total{{source=\"encoded\"}} {}\n\
         lingxi_kb_phrasing_vectors_total{{source=\"store\"}} {}\n\
         # HELP lingxi_kb_phrasing_vectors_saved_total Newly encoded phrasing vectors written to the store.\n\
         # TYPE lingxi_kb_phrasing_vectors_saved_total counter\nlingxi_kb_phrasing_vectors_saved_total {}\n\
         # HELP lingxi_intent_example_vectors_total Intent training example vectors obtained for fused intent models, by source.\n\
         # TYPE lingxi_intent_example_vectors_total counter\n\
         lingxi_intent_example_vectors_total{{source=\"encoded\"}} {}\n\
         lingxi_intent_example_vectors_total{{source=\"store\"}} {}\n",
        u8::from(s.available()),
        s.encoded.load(Ordering::Relaxed),
        s.queries_cut.load(Ordering::Relaxed),
        s.query_fallbacks.load(Ordering::Relaxed),
        s.phrasings_encoded.load(Ordering::Relaxed),
        s.phrasings_loaded.load(Ordering::Relaxed),
        s.phrasings_saved.load(Ordering::Relaxed),
        s.examples_encoded.load(Ordering::Relaxed),
        s.examples_loaded.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_vectors_have_their_own_id_and_f32_ones_keep_the_model_id() {
        use lingxi_encoder::Arithmetic;
        assert_eq!(vectors_id("e5s-v1-9-ab", Arithmetic::F32), "e5s-v1-9-ab");
        assert_eq!(vectors_id("e5s-v1-9-ab", Arithmetic::Int8), "e5s-v1-9-ab-int8o2");
        assert_eq!(vectors_id("e5s-v1-9-ab", Arithmetic::Q4x8), "e5s-v1-9-ab-q4x8o2");
    }

    #[test]
    fn the_model_id_follows_the_file_size_and_head() {
        let dir = std::env::temp_dir().join(format!("lingxi-model-id-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            model_id(&p).unwrap()
        };
        let base = vec![7u8; (1 << 20) + 10];
        let a = write("a.bin", &base);
        assert_eq!(write("b.bin", &base), a, "same bytes, same id, whatever the path");
        assert!(a.starts_with(&format!("e5s-v{VECTORS_VERSION}-{}-", base.len())), "{a}");
        let mut head = base.clone();
        head[100] = 8;
        assert_ne!(write("c.bin", &head), a, "another header or vocabulary");
        let mut longer = base.clone();
        longer.push(0);
        assert_ne!(write("d.bin", &longer), a, "another size");
        // Past the first MiB only the size is read: a change there with the same size keeps the id.
        let mut tail = base;
        tail[(1 << 20) + 5] = 9;
        assert_eq!(write("e.bin", &tail), a);
    }
}
