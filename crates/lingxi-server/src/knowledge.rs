//! Each tenant's knowledge base in memory: an index over its published FAQ entries, built from the
//! store on first use and rebuilt off the request path whenever an entry changes, then swapped in
//! atomically (readers keep the `Arc` they hold; a query never sees a half-built index).
//!
//! With a sentence encoder loaded, a build is two-staged so the first customer never waits for
//! encoding: the lexical index is swapped in at once, then the hybrid index (same entries plus
//! phrasing vectors, encoded in a blocking task) replaces it when the vectors are ready, unless
//! a newer build came first. When every vector is cached the hybrid index is built directly;
//! vectors stored by an earlier run are read back before anything is encoded.
//!
//! Also the conversions between the FAQ model (lingxi-knowledge) and its stored form, the demo
//! seed, and [`suggest`]: the one accessor the bot and the agent workspace ask for answers.

use crate::semantic::Semantic;
use crate::state::AppState;
use lingxi_domain::{ChannelKind, TenantId, Timestamp};
use lingxi_knowledge::decision::{Calibrator, Decision, Thresholds};
use lingxi_knowledge::index::{Filter, KnowledgeIndex, RetrievalConfig};
use lingxi_knowledge::json::FaqDto;
use lingxi_knowledge::model::{ChannelName, FaqEntry, Label, Lang, Status};
use lingxi_knowledge::text::Analyzer;
use lingxi_store::{Expect, KbEntryRow, KbEntryWrite, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The stored form of an entry: its JSON document plus the columns lists filter on.
pub fn to_write(e: &FaqEntry) -> KbEntryWrite {
    KbEntryWrite {
        entry_id: e.id().to_string(),
        lang: e.lang().as_str().to_owned(),
        status: e.status().as_str().to_owned(),
        version: i64::from(e.version()),
        question: e.question().as_str().to_owned(),
        doc: serde_json::to_string(&FaqDto::from(e)).unwrap_or_default(),
    }
}

/// Parses a stored entry (the server wrote it, so a failure means the row was damaged).
pub fn from_row(row: &KbEntryRow) -> Result<FaqEntry, StoreError> {
    let bad = |m: String| StoreError::Invalid(format!("stored knowledge entry `{}`: {m}", row.entry_id));
    let dto: FaqDto = serde_json::from_str(&row.doc).map_err(|e| bad(e.to_string()))?;
    FaqEntry::try_from(&dto).map_err(|e| bad(e.to_string()))
}

/// The shared analyser (normaliser and segmenter load their tables once).
fn analyzer() -> Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| Analyzer::new(&[])).clone()
}

/// Longest passage of an article (characters): short enough to be an answer in a chat bubble.
pub const PASSAGE_CHARS: usize = 400;

/// An article's passages as published entries, so that retrieval searches them like FAQ answers:
/// id `a.<article>.<n>`, the heading path and text as the phrasing, the text as the answer.
pub fn article_entries(article_id: &str, markdown: &str) -> Vec<FaqEntry> {
    use lingxi_knowledge::model::{Answer, EntryId, FaqParts, Question, Validity};
    let Ok(article) = lingxi_knowledge::article::Article::parse(markdown, PASSAGE_CHARS) else { return Vec::new() };
    let han = markdown.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    let lang = if han * 4 > markdown.chars().filter(|c| !c.is_whitespace()).count() { Lang::Zh } else { Lang::En };
    article
        .passages()
        .iter()
        .filter_map(|p| {
            let phrasing: String = format!("{} {}", p.heading, p.text).chars().take(500).collect();
            FaqEntry::new(FaqParts {
                id: EntryId::parse(&format!("a.{article_id}.{}", p.idx)).ok()?,
                lang,
                question: Question::parse(&phrasing).ok()?,
                similar: vec![],
                answer: Answer::parse(&p.text, vec![]).ok()?,
                variants: vec![],
                tags: vec![],
                products: vec![],
                channels: vec![],
                validity: Validity::ALWAYS,
                status: Status::Published,
                version: 1,
            })
            .ok()
        })
        .collect()
}

/// Builds an index over the published entries (validity windows are checked per query);
/// `vectors`, when given, hold one vector per phrasing of the published entries in order.
pub fn build_index(entries: Vec<FaqEntry>, vectors: Option<&[Vec<f32>]>) -> KnowledgeIndex {
    KnowledgeIndex::build(published(entries), analyzer(), vectors, RetrievalConfig::faq())
}

fn published(entries: Vec<FaqEntry>) -> Vec<FaqEntry> {
    entries.into_iter().filter(|e| e.status() == Status::Published).collect()
}

/// Every phrasing of the entries, in the order [`KnowledgeIndex::build`] takes vectors.
fn phrasings(entries: &[FaqEntry]) -> Vec<&str> {
    entries.iter().flat_map(|e| e.phrasings().map(|q| q.as_str())).collect()
}

struct Slot {
    /// Bumped by every change; a build records the generation it started from.
    wanted: AtomicU64,
    built: Mutex<Option<(u64, Arc<KnowledgeIndex>)>>,
    /// Digest of the tenant vocabulary the latest build read (or was asked for).
    vocabulary: AtomicU64,
    /// Serialises builds of one tenant (a burst of edits costs at most one extra build).
    building: tokio::sync::Mutex<()>,
}

/// Every tenant's index.
#[derive(Default)]
pub struct KnowledgeBases {
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
}

impl KnowledgeBases {
    fn slot(&self, tenant: &TenantId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    wanted: AtomicU64::new(1),
                    built: Mutex::new(None),
                    vocabulary: AtomicU64::new(0),
                    building: Default::default(),
                })
            })
            .clone()
    }

    /// The tenant's current index; built (and awaited) on first use only. Later changes are
    /// picked up by [`KnowledgeBases::changed`] in the background.
    pub async fn index(
        &self,
        store: &Store,
        semantic: &Arc<Semantic>,
        tenant: &TenantId,
    ) -> Result<Arc<KnowledgeIndex>, StoreError> {
        let slot = self.slot(tenant);
        if let Some((_, idx)) = slot.built.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(idx.clone());
        }
        rebuild(store, semantic, tenant, &slot).await
    }

    /// Entries of the tenant changed: rebuild in the background and swap when done.
    pub fn changed(&self, store: &Store, semantic: &Arc<Semantic>, tenant: &TenantId) {
        let slot = self.slot(tenant);
        slot.wanted.fetch_add(1, Ordering::SeqCst);
        let (store, semantic, tenant) = (store.clone(), semantic.clone(), tenant.clone());
        tokio::spawn(async move {
            if let Err(e) = rebuild(&store, &semantic, &tenant, &slot).await {
                tracing::warn!(error = %e, tenant = %tenant, "knowledge index not rebuilt");
            }
        });
    }

    /// The tenant's vocabulary is now `digest` (its kit was rebuilt: a product import, settings
    /// saved on another node): rebuild the index if it was built from another one.
    pub fn vocabulary_seen(&self, store: &Store, semantic: &Arc<Semantic>, tenant: &TenantId, digest: u64) {
        let slot = self.slot(tenant);
        let built_yet = slot.built.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if built_yet && slot.vocabulary.swap(digest, Ordering::SeqCst) != digest {
            self.changed(store, semantic, tenant);
        }
    }

    /// Whether the tenant's index in use has phrasing vectors (None before the first build).
    pub fn hybrid(&self, tenant: &TenantId) -> Option<bool> {
        self.slot(tenant).built.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, i)| i.has_vectors())
    }

    /// The generation of the index in use (0 before the first build), for tests and metrics.
    pub fn generation(&self, tenant: &TenantId) -> u64 {
        self.slot(tenant).built.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |(g, _)| *g)
    }
}

async fn rebuild(
    store: &Store,
    semantic: &Arc<Semantic>,
    tenant: &TenantId,
    slot: &Arc<Slot>,
) -> Result<Arc<KnowledgeIndex>, StoreError> {
    let _one_at_a_time = slot.building.lock().await;
    let wanted = slot.wanted.load(Ordering::SeqCst);
    if let Some((g, idx)) = slot.built.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        if *g >= wanted {
            return Ok(idx.clone());
        }
    }
    let rows = store.kb_entries(tenant, Some(Status::Published.as_str())).await?;
    let mut entries = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    for a in store.kb_articles(tenant).await?.iter().filter(|a| a.status == Status::Published.as_str()) {
        entries.extend(article_entries(&a.article_id, &a.body));
    }
    let entries = published(entries);
    // The tenant's vocabulary (product names, brand terms) is the index's segmentation dictionary
    // and typo-repair list, so "极光扫地机" is one word in entries and in questions alike.
    let words = crate::tenant_entities::vocabulary(store, tenant).await?;
    slot.vocabulary.store(crate::tenant_entities::vocabulary_digest(&words), Ordering::SeqCst);
    let analyzer = if words.is_empty() { analyzer() } else { Analyzer::new(&words) };
    let sem = semantic.clone();
    let lexical_analyzer = analyzer.clone();
    let (index, entries) = tokio::task::spawn_blocking(move || {
        let cached = sem.all_cached(&phrasings(&entries));
        let index = KnowledgeIndex::build(entries.clone(), lexical_analyzer, cached.as_deref(), RetrievalConfig::faq());
        (index, entries)
    })
    .await
    .map_err(|e| StoreError::Invalid(format!("index build failed: {e}")))?;
    let index = Arc::new(index);
    *slot.built.lock().unwrap_or_else(|p| p.into_inner()) = Some((wanted, index.clone()));
    if semantic.available() && !index.has_vectors() && !entries.is_empty() {
        let (semantic, slot, tenant) = (semantic.clone(), slot.clone(), tenant.clone());
        let n = index.n_phrasings();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            // Vectors stored by an earlier run (or another node) need no encoding.
            let stored = semantic.load_stored(&phrasings(&entries)).await;
            let watch = slot.clone();
            let hybrid = tokio::task::spawn_blocking(move || {
                let current = || watch.wanted.load(Ordering::SeqCst) == wanted;
                let vectors = semantic.encode_all(&phrasings(&entries), &current)?;
                Some(KnowledgeIndex::build(entries, analyzer, Some(&vectors), RetrievalConfig::faq()))
            })
            .await;
            let Ok(Some(hybrid)) = hybrid else { return };
            let mut built = slot.built.lock().unwrap_or_else(|p| p.into_inner());
            // Swap only over the lexical index of the same build; a newer build supersedes this one.
            if built.as_ref().is_some_and(|(g, _)| *g == wanted) {
                *built = Some((wanted, Arc::new(hybrid)));
                tracing::info!(tenant = %tenant, phrasings = n, stored, secs = started.elapsed().as_secs_f32(), "hybrid knowledge index in use");
            }
        });
    }
    Ok(index)
}

/// One matching entry, as the bot or an agent would use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub entry_id: String,
    pub question: String,
    /// The answer's text for the channel and language asked for.
    pub answer: String,
    /// The same answer with its rich items (links, images, buttons).
    pub reply: lingxi_knowledge::model::Answer,
    /// Calibrated confidence that this is the right entry (the first suggestion's; the others
    /// carry their share of the ranking score relative to the first).
    pub confidence: f32,
}

/// What the knowledge base makes of a customer message.
#[derive(Debug, Clone, PartialEq)]
pub enum KbDecision {
    /// Confident: answer with the first suggestion.
    Answer,
    /// Middling: offer the suggestions' questions.
    Suggest,
    /// Nothing fits well enough.
    NotUnderstood,
}

/// What [`suggest`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub decision: KbDecision,
    /// Calibrated confidence of the first suggestion.
    pub confidence: f32,
    pub suggestions: Vec<Suggestion>,
    /// Whether the ranking used the encoder (false: lexical models only).
    pub hybrid: bool,
}

/// The accessor for answers: the best entries of the tenant's published knowledge base for a text,
/// in the given language (and channel, when known), with the decision the tenant's thresholds take.
/// Used by the bot turn; the agent workspace's suggested replies call it with the customer's
/// last message.
pub async fn suggest(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    lang: Option<Lang>,
    channel: Option<ChannelKind>,
    k: usize,
) -> Result<Ranked, StoreError> {
    suggest_with(state, tenant, text, QueryVector::Encode, lang, channel, k).await
}

/// The text's encoder vector for [`suggest_with`]: encode it here (when the index has vectors),
/// or the caller's, who already encoded the text for something else (the bot turn's intent
/// step); `Given(None)`: the encoder was busy or slow, rank lexically.
#[derive(Debug, Clone, Copy)]
pub enum QueryVector<'a> {
    Encode,
    Given(Option<&'a [f32]>),
}

/// [`suggest`] with the text's vector perhaps computed already.
pub async fn suggest_with(
    state: &AppState,
    tenant: &TenantId,
    text: &str,
    vector: QueryVector<'_>,
    lang: Option<Lang>,
    channel: Option<ChannelKind>,
    k: usize,
) -> Result<Ranked, StoreError> {
    let index = state.knowledge.index(&state.store, &state.semantic, tenant).await?;
    let vocabulary = state.entities.built(&state.store, tenant).await.vocabulary_digest;
    state.knowledge.vocabulary_seen(&state.store, &state.semantic, tenant, vocabulary);
    let vector = match vector {
        _ if !index.has_vectors() => None,
        QueryVector::Given(v) => v.map(<[f32]>::to_vec),
        QueryVector::Encode => state.semantic.encode_query(text).await,
    };
    let slug = if state.config.knowledge.tenants.is_empty() {
        None
    } else {
        crate::bot_tools::tenant_slug(state, tenant).await
    };
    let knowledge = &state.config.knowledge;
    let decider = |semantic: bool| knowledge.decider(slug.as_deref(), semantic);
    let now = state.clock.now().millis();
    let named = index.product_words().named(text);
    let topic = named.as_ref().map(|n| Topic { text: &n.topic, product: &n.product });
    let query = Query { text, vector: vector.as_deref(), lang, channel, now_ms: now, k, topic };
    Ok(rank(&index, &query, decider))
}

/// One question to the knowledge base.
pub struct Query<'a> {
    pub text: &'a str,
    /// The text's encoder vector (hybrid ranking when the index has vectors too).
    pub vector: Option<&'a [f32]>,
    pub lang: Option<Lang>,
    pub channel: Option<ChannelKind>,
    pub now_ms: i64,
    pub k: usize,
    /// The question without the product it names, when it names one
    /// (`lingxi_knowledge::products`).
    pub topic: Option<Topic<'a>>,
}

/// A question read without the product it names: "保修多久" of "空气净化器保修多久". It is
/// ranked lexically, so a turn stays one encoding (encoding it too broke that for no gain).
pub struct Topic<'a> {
    pub text: &'a str,
    pub product: &'a Label,
}

/// How many entries each reading of a question naming a product ranks before the two are
/// added up: an entry third in one reading and fifth in the other still gets both.
const PRODUCT_READING_DEPTH: usize = 10;

/// The pure half of [`suggest`]. `decider` gives the calibrator and thresholds for the mode the
/// ranking was made in (hybrid: true), whose score scales differ.
///
/// A question that names a product (`q.topic`) is read twice, as asked and without the
/// product's name, both times among the entries of that product and those of no product. Each
/// entry scores the sum of its two confidences, and the best is decided on the higher of its
/// two. Unless the first reading's best is an entry of no product (then the first reading
/// stands, with the surer of that entry's two decisions) or one of the product that
/// the second reading still ranks among its three best (then the first reading stands as it
/// is). Why: the product's name pulls a generic question towards that product's nearest entry
/// ("空气净化器保修多久" → the filter entry, before), and without it the question alone may
/// match an entry of another product ("耳机充不进电" → "充不进电" → the vacuum's charging).
pub fn rank(index: &KnowledgeIndex, q: &Query<'_>, decider: impl Fn(bool) -> (Calibrator, Thresholds)) -> Ranked {
    let channel = q.channel.and_then(|c| ChannelName::parse(c.as_str()).ok());
    let filter = Filter { lang: q.lang, channel: channel.as_ref(), ..Filter::at(q.now_ms) };
    let Some(topic) = &q.topic else {
        return rank_reading(index, q.text, q.vector, &filter, q.k, &decider).0;
    };
    let filter = Filter { product: Some(topic.product), ..filter };
    let depth = q.k.max(PRODUCT_READING_DEPTH);
    let (asked, asked_t, asked_scoped) = rank_reading(index, q.text, q.vector, &filter, depth, &decider);
    let (bare, bare_t, _) = rank_reading(index, topic.text, None, &filter, depth, &decider);
    let first = asked.suggestions.first().map(|s| s.entry_id.as_str());
    let in_bare = |n: usize| bare.suggestions.iter().take(n).find(|b| Some(b.entry_id.as_str()) == first);
    match asked_scoped.first() {
        // An entry of no product came first: the product's name pulled nothing, and the
        // reading without it may only be surer of that entry ("扫地机器人保修多久": the
        // warranty, between the vacuum's entries at 0.5; "保修多久" alone: 0.96). The surer
        // decision of the two stands.
        Some(false) => {
            // Each confidence against its own reading's thresholds (lexical and hybrid differ).
            let mut confidence = asked.confidence;
            let mut decision = decide(confidence, asked_t);
            if let Some(b) = in_bare(depth) {
                let bare_decision = decide(b.confidence, bare_t);
                if rank_of(&bare_decision) > rank_of(&decision) {
                    (confidence, decision) = (b.confidence, bare_decision);
                }
            }
            let mut suggestions: Vec<Suggestion> = asked.suggestions.into_iter().take(q.k).collect();
            if let Some(s) = suggestions.first_mut() {
                s.confidence = confidence;
            }
            return Ranked { decision, confidence, suggestions, hybrid: asked.hybrid };
        }
        // The product's own entry first, and among the first three without the product's
        // name: the question is about it ("门锁密码忘了": the lock's code entry; alone, "密码忘了"
        // is the app login's first and the lock's second).
        Some(true) if in_bare(3).is_some() => {
            return Ranked { suggestions: asked.suggestions.into_iter().take(q.k).collect(), ..asked };
        }
        _ => {}
    }
    // Per entry: summed confidence, and the higher single one with the thresholds of its reading.
    let mut scored: Vec<(f32, f32, Thresholds, &Suggestion)> = Vec::new();
    for (s, t) in asked.suggestions.iter().map(|s| (s, asked_t)).chain(bare.suggestions.iter().map(|s| (s, bare_t))) {
        match scored.iter_mut().find(|x| x.3.entry_id == s.entry_id) {
            Some(x) => {
                x.0 += s.confidence;
                if s.confidence > x.1 {
                    (x.1, x.2) = (s.confidence, t);
                }
            }
            None => scored.push((s.confidence, s.confidence, t, s)),
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let Some(&(top_sum, confidence, thresholds, _)) = scored.first() else { return asked };
    let decision = decide(confidence, thresholds);
    let suggestions = scored
        .iter()
        .take(q.k)
        .map(|&(sum, _, _, s)| Suggestion {
            confidence: confidence * (sum / top_sum.max(1e-6)).clamp(0.0, 1.0),
            ..s.clone()
        })
        .collect();
    Ranked { decision, confidence, suggestions, hybrid: asked.hybrid || bare.hybrid }
}

/// Answer above suggest above not understood.
fn rank_of(d: &KbDecision) -> u8 {
    match d {
        KbDecision::Answer => 2,
        KbDecision::Suggest => 1,
        KbDecision::NotUnderstood => 0,
    }
}

fn decide(confidence: f32, thresholds: Thresholds) -> KbDecision {
    if confidence >= thresholds.answer {
        KbDecision::Answer
    } else if confidence >= thresholds.suggest {
        KbDecision::Suggest
    } else {
        KbDecision::NotUnderstood
    }
}

/// One reading of a question, ranked and decided; also the thresholds it was decided by and,
/// per suggestion, whether its entry is scoped to products.
fn rank_reading(
    index: &KnowledgeIndex,
    text: &str,
    vector: Option<&[f32]>,
    filter: &Filter<'_>,
    k: usize,
    decider: &impl Fn(bool) -> (Calibrator, Thresholds),
) -> (Ranked, Thresholds, Vec<bool>) {
    let ranking = index.search(text, vector, filter, k.max(3));
    let (calibrator, thresholds) = decider(ranking.semantic_used);
    let decision = thresholds.decide(&ranking, &calibrator);
    let (kind, confidence) = match decision {
        Decision::Answer { confidence, .. } => (KbDecision::Answer, confidence),
        Decision::Suggest { confidence, .. } => (KbDecision::Suggest, confidence),
        Decision::NotUnderstood { confidence } => (KbDecision::NotUnderstood, confidence),
    };
    let top = ranking.hits.first().map_or(1.0, |h| h.score.max(1e-6));
    let suggestions = ranking
        .hits
        .iter()
        .take(k)
        .map(|h| {
            let e = &index.entries()[h.entry];
            let reply = e.answer_for(filter.channel, filter.lang).clone();
            Suggestion {
                entry_id: e.id().to_string(),
                question: e.question().as_str().to_owned(),
                answer: reply.text().to_owned(),
                reply,
                confidence: confidence * (h.score / top).clamp(0.0, 1.0),
            }
        })
        .collect();
    let scoped = ranking.hits.iter().take(k).map(|h| !index.entries()[h.entry].products().is_empty()).collect();
    (Ranked { decision: kind, confidence, suggestions, hybrid: ranking.semantic_used }, thresholds, scoped)
}

/// Seeds the demo tenant with the shipped FAQ when it has no entries yet (idempotent: a second
/// start, or a tenant whose admins edited the seed, is left alone). Returns how many were stored.
pub async fn seed_demo(store: &Store, tenant: &TenantId, now: Timestamp) -> Result<usize, StoreError> {
    if store.kb_count_entries(tenant).await? > 0 {
        return Ok(0);
    }
    let report = lingxi_knowledge::demo::demo_entries();
    let writes: Vec<(KbEntryWrite, Expect)> = report.entries.iter().map(|e| (to_write(e), Expect::New)).collect();
    match store.kb_save_entries(tenant, &writes, "system:demo", now).await {
        Ok(()) => Ok(writes.len()),
        // Another node seeded it at the same moment.
        Err(StoreError::Conflict(_)) => Ok(0),
        Err(e) => Err(e),
    }
}
