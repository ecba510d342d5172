//! Semantic retrieval in the running server and per-tenant answer thresholds (issue 5): the real
//! server on port 0 with the demo knowledge base imported through the API.

mod common;

use common::*;
use lingxi_server::knowledge_config::{EncoderSetting, ThresholdSetting};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Shares no word with any phrasing of `zh-return-refund-time` (退款多久到账 / 钱什么时候退回来 /
/// 退款怎么还没到 / 退款几天能到); lexically it ranks that entry third at best.
const PARAPHRASE: &str = "款项原路返还需要几日";
const PARAPHRASE_ENTRY: &str = "zh-return-refund-time";

/// The model directory: `$LINGXI_MODEL_DIR`, else the workspace's `models/`.
/// The model's directory, or `None` after printing that the test is skipped.
fn model_dir() -> Option<PathBuf> {
    let dirs = [
        std::env::var_os("LINGXI_MODEL_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")),
    ];
    let found = dirs.into_iter().flatten().find(|d| d.join(lingxi_encoder::MODEL_FILE_NAME).is_file());
    if found.is_none() {
        println!("SKIPPED: {} not found (run scripts/fetch-model.sh)", lingxi_encoder::MODEL_FILE_NAME);
    }
    found
}

/// Hybrid retrieval with the model in `dir` (and room in the body limit for the demo import).
fn encoder_on(c: &mut lingxi_server::config::Config, dir: &Path) {
    c.max_body_bytes = 1 << 20;
    c.knowledge.encoder = EncoderSetting::Auto;
    c.knowledge.model_dir = Some(dir.to_path_buf());
}

async fn import_demo(app: &TestApp, admin: &str) {
    for content in [lingxi_knowledge::demo::FAQ_ZH, lingxi_knowledge::demo::FAQ_EN] {
        let (s, v) = app
            .send("POST", admin, "/api/v1/knowledge/import", Some(json!({ "format": "md", "content": content })))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

fn q(text: &str) -> String {
    let enc: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("/api/v1/knowledge/search?lang=zh&limit=3&q={enc}")
}

/// Searches until the tenant's index answers in `mode` (the hybrid index follows the lexical
/// one once the phrasings are encoded).
async fn search_in_mode(app: &TestApp, token: &str, text: &str, mode: &str) -> Value {
    for _ in 0..600 {
        let (s, v) = app.get(token, &q(text)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["mode"] == mode {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the index never answered in {mode} mode within 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_encoder_a_paraphrase_without_shared_words_is_answered_from_the_right_entry() {
    let Some(dir) = model_dir() else { return };
    let app = spawn_app_with(Backend::Sqlite, |c| {
        encoder_on(c, &dir);
        // Alpha answers from a lower confidence: the default hybrid thresholds (0.614 / 0.225)
        // leave a zero-overlap paraphrase below "answer" (see docs/knowledge.md).
        c.knowledge.tenants.insert("alpha".into(), ThresholdSetting { answer: Some(0.2), suggest: Some(0.1) });
    })
    .await;
    let (s, health) = app.get("", "/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(health["knowledge"]["mode"], "hybrid", "{health}");
    assert!(health["knowledge"]["encoder"].as_str().unwrap().starts_with("sentence encoder loaded ("), "{health}");

    let admin = app.login(&app.a.admin).await;
    import_demo(&app, &admin).await;
    let v = search_in_mode(&app, &admin, PARAPHRASE, "hybrid").await;
    assert_eq!(v["hits"][0]["entry_id"], PARAPHRASE_ENTRY, "{v}");
    assert_eq!(v["decision"], "answer", "{v}");
    assert!(v["hits"][0]["answer"].as_str().unwrap().contains("原路"), "{v}");

    // Beta keeps the data-chosen defaults: the right entry is still first, offered, not answered.
    let beta = app.login(&app.b.admin).await;
    import_demo(&app, &beta).await;
    let v = search_in_mode(&app, &beta, PARAPHRASE, "hybrid").await;
    assert_eq!(v["hits"][0]["entry_id"], PARAPHRASE_ENTRY, "{v}");
    assert_ne!(v["decision"], "answer", "{v}");

    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lingxi_encoder_loaded 1"), "{metrics}");
    let encoded: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lingxi_encoder_texts_total "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Beta's identical phrasings came from the cache: one tenant's worth of encoding (624
    // phrasings) plus the query, not two.
    assert!((600..1000).contains(&encoded), "{encoded} texts encoded");
}

/// The question first, then details well past a budget of 12 tokens (`<s>`, the 3 of the
/// prefix and `</s>` take 5): the vector is of the question, BM25 reads every word.
const LONG: &str = "怎么开发票？我上周在你们店里买了一台扫地机器人，公司报销要用，抬头写公司名称，麻烦尽快告诉我";
const INVOICE_ENTRY: &str = "zh-order-invoice-request";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_is_encoded_from_its_first_tokens_and_ranked_on_all_its_words() {
    let Some(dir) = model_dir() else { return };
    let app = spawn_app_with(Backend::Sqlite, |c| {
        encoder_on(c, &dir);
        c.knowledge.query_encode_timeout_ms = 10_000;
        c.knowledge.query_max_tokens = Some(lingxi_encoder::QueryTokens::new(12).unwrap());
    })
    .await;
    let admin = app.login(&app.a.admin).await;
    import_demo(&app, &admin).await;
    search_in_mode(&app, &admin, "发票", "hybrid").await;
    let (cut, encoded) =
        (metric(&app, "lingxi_kb_queries_cut_total").await, metric(&app, "lingxi_encoder_texts_total").await);
    let v = search_in_mode(&app, &admin, LONG, "hybrid").await;
    assert_eq!(v["hits"][0]["entry_id"], INVOICE_ENTRY, "{v}");
    assert_eq!(metric(&app, "lingxi_kb_queries_cut_total").await, cut + 1);
    // A cut vector is not the text's own, so it is not cached under the text: asked again, the
    // message is encoded again.
    search_in_mode(&app, &admin, LONG, "hybrid").await;
    assert_eq!(metric(&app, "lingxi_kb_queries_cut_total").await, cut + 2);
    assert_eq!(metric(&app, "lingxi_encoder_texts_total").await, encoded + 2);
    assert_eq!(metric(&app, "lingxi_kb_lexical_fallbacks_total").await, 0, "both were ranked with a vector");
}

/// One value of the server's Prometheus metrics (`name` with its labels, as printed).
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

const ENCODED: &str = "lingxi_kb_phrasing_vectors_total{source=\"encoded\"}";
const FROM_STORE: &str = "lingxi_kb_phrasing_vectors_total{source=\"store\"}";
const SAVED: &str = "lingxi_kb_phrasing_vectors_saved_total";

/// The distinct phrasing texts of the demo knowledge base (what a full build encodes once).
fn demo_phrasings() -> u64 {
    let entries = lingxi_knowledge::demo::demo_entries().entries;
    let texts: std::collections::HashSet<&str> =
        entries.iter().flat_map(|e| e.phrasings().map(|q| q.as_str())).collect();
    texts.len() as u64
}

/// What the comparison after a restart looks at: entries, decision and confidence.
async fn answers(app: &TestApp, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for text in [PARAPHRASE, "发票怎么开", "扫地机器人不充电怎么办", "会员积分怎么用"] {
        let v = search_in_mode(app, token, text, "hybrid").await;
        let ids: Vec<&Value> = v["hits"].as_array().unwrap().iter().map(|h| &h["entry_id"]).collect();
        out.push(json!({ "q": text, "ids": ids, "decision": v["decision"], "confidence": v["confidence"] }));
    }
    out
}

async fn a_restart_reads_phrasing_vectors_from_the_store_instead_of_encoding(backend: Backend) {
    let Some(dir) = model_dir() else { return };
    let tweak = |c: &mut lingxi_server::config::Config| {
        encoder_on(c, &dir);
    };
    let app = spawn_app_with(backend, tweak).await;
    let admin = app.login(&app.a.admin).await;
    import_demo(&app, &admin).await;
    let n = demo_phrasings();
    // Both imports built, every phrasing encoded (a few twice when the second import's build
    // overlapped the first's last chunk, or read back when it did not) and everything encoded
    // written back.
    let started = std::time::Instant::now();
    let mut encoded = 0;
    for _ in 0..600 {
        encoded = metric(&app, ENCODED).await;
        if encoded >= n && metric(&app, SAVED).await >= encoded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(encoded >= n, "{encoded} of {n} phrasings encoded");
    assert_eq!(metric(&app, SAVED).await, encoded, "every encoded phrasing stored");
    // The database started empty, so whatever a build read from it an earlier build of this
    // run encoded and saved: the second import's build reads back the vectors the first one
    // has stored by the time it starts (none when the builds overlap; 16 in one CI run once
    // encoding got faster).
    let from_store = metric(&app, FROM_STORE).await;
    assert!(from_store <= encoded, "{from_store} vectors read back, only {encoded} encoded in this run");
    let before = answers(&app, &admin).await;
    println!("{backend:?}: {n} phrasings encoded and stored in {:.1} s", started.elapsed().as_secs_f32());

    let app = app.restart(tweak).await;
    let restarted = std::time::Instant::now();
    let admin = app.login(&app.a.admin).await;
    let after = answers(&app, &admin).await;
    println!("{backend:?}: after the restart, hybrid in {:.2} s", restarted.elapsed().as_secs_f32());
    assert_eq!(metric(&app, ENCODED).await, 0, "no phrasing encoded again");
    assert_eq!(metric(&app, FROM_STORE).await, n, "every phrasing read from the store");
    // Customer messages (the questions above) are encoded but never stored.
    assert_eq!(metric(&app, SAVED).await, 0);
    assert_eq!(after, before, "same vectors, same answers");
}

async fn thresholds_are_per_tenant(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.max_body_bytes = 1 << 20;
        c.knowledge.tenants.insert("alpha".into(), ThresholdSetting { answer: Some(0.99), suggest: None });
    })
    .await;
    let (_, health) = app.get("", "/healthz").await;
    assert_eq!(health["knowledge"]["mode"], "lexical", "{health}");
    assert!(health["knowledge"]["encoder"].as_str().unwrap().contains("lexical models"), "{health}");
    let alpha = app.login(&app.a.admin).await;
    let beta = app.login(&app.b.admin).await;
    import_demo(&app, &alpha).await;
    import_demo(&app, &beta).await;
    let question = "发票怎么开";
    // Each import rebuilds in the background: ask until both tenants' indexes hold both files.
    let (a, b) = {
        let mut last = None;
        for _ in 0..100 {
            let (_, a) = app.get(&alpha, &q(question)).await;
            let (_, b) = app.get(&beta, &q(question)).await;
            let same = a["confidence"] == b["confidence"];
            last = Some((a, b));
            if same {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last.unwrap()
    };
    assert_eq!(a["confidence"], b["confidence"], "same entries, same ranking");
    assert_eq!((b["decision"].as_str(), b["mode"].as_str()), (Some("answer"), Some("lexical")), "{b}");
    assert_eq!(a["decision"], "suggest", "same ranking, stricter tenant: {a}");
    assert_eq!(a["hits"][0]["entry_id"], b["hits"][0]["entry_id"]);
    // Lexically the paraphrase does not find its entry first: what the encoder is for.
    let (_, p) = app.get(&beta, &q(PARAPHRASE)).await;
    assert_ne!(p["hits"][0]["entry_id"], PARAPHRASE_ENTRY, "{p}");
}

mod on_sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thresholds_are_per_tenant() {
        super::thresholds_are_per_tenant(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_reads_phrasing_vectors_from_the_store_instead_of_encoding() {
        super::a_restart_reads_phrasing_vectors_from_the_store_instead_of_encoding(super::Backend::Sqlite).await
    }
}
mod on_postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thresholds_are_per_tenant() {
        super::thresholds_are_per_tenant(super::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_reads_phrasing_vectors_from_the_store_instead_of_encoding() {
        super::a_restart_reads_phrasing_vectors_from_the_store_instead_of_encoding(super::Backend::Postgres).await
    }
}

/// The held-out probe set of the default intents (crates/lingxi-nlu/tests/data), never trained on.
fn probe_items() -> Vec<lingxi_nlu::probe::ProbeItem> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lingxi-nlu/tests/data/intent_probe.tsv");
    lingxi_nlu::probe::parse(&std::fs::read_to_string(path).unwrap())
}

/// The fused defaults against the lexical ones on the probe set, classified as the bot does
/// (normalised text, its vector), and the fused step's cost once the vector exists.
#[test]
fn the_fused_default_intents_do_at_least_as_well_as_the_lexical_ones_on_the_probe_set() {
    use lingxi_nlu::intent::{default_model, default_training_data, DefaultLanguage};
    use lingxi_nlu::intent_fused::{FusedIntentConfig, FusedIntentModel};
    use lingxi_nlu::probe::ProbeScore;
    let Some(dir) = model_dir() else { return };
    let encoder = lingxi_encoder::Encoder::load(dir.join(lingxi_encoder::MODEL_FILE_NAME)).unwrap();
    let normalizer = lingxi_nlu::normalize::Normalizer::default();
    let items = probe_items();
    let mut cost_ns: Vec<u128> = Vec::new();
    for lang in [DefaultLanguage::Chinese, DefaultLanguage::English] {
        let data = default_training_data(lang);
        let texts: Vec<&str> = data.intents().iter().flat_map(|(_, ex)| ex.iter().map(String::as_str)).collect();
        let vectors = encoder.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, &texts);
        let started = std::time::Instant::now();
        let (fused, report) =
            FusedIntentModel::train(&data, &vectors, default_model(lang), &FusedIntentConfig::default()).unwrap();
        println!("{lang:?}: fused trained on {} examples in {:?}: {report:?}", texts.len(), started.elapsed());
        let (mut lexical, mut both) = (ProbeScore::default(), ProbeScore::default());
        for item in items.iter().filter(|i| i.lang == lang) {
            let text = normalizer.normalize(&item.text).text;
            let v = encoder.encode_query(&text);
            lexical.add(item, &fused.lexical().classify(&text));
            both.add(item, &fused.classify(&text, &v));
            for _ in 0..20 {
                let t = std::time::Instant::now();
                std::hint::black_box(fused.classify(&text, &v));
                cost_ns.push(t.elapsed().as_nanos());
            }
        }
        println!("{lang:?} lexical: {}", lexical.summary());
        println!("{lang:?} fused:   {}", both.summary());
        for (text, want, got) in &both.misses {
            println!("  fused miss: {text} | want {want} | got {got}");
        }
        // At least as many in-domain best guesses right (ranking), and at least as many messages
        // right in all (in-domain answered right plus out-of-domain rejected): where the two
        // thresholds trade an in-domain answer for rejections, the total decides.
        assert!(both.in_domain_best_guess_right >= lexical.in_domain_best_guess_right, "{lang:?}");
        let right = |s: &ProbeScore| s.in_domain_right + s.out_of_domain_rejected;
        assert!(right(&both) >= right(&lexical), "{lang:?}");
    }
    cost_ns.sort_unstable();
    let at = |q: f64| cost_ns[((cost_ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!("fused classification once the vector exists: p50 {:.1} µs, p99 {:.1} µs", at(0.5), at(0.99));
}

/// A paraphrase the lexical default model reads as another intent ("the left earbud is silent"
/// as price protection), and a question from outside the shop it reads as a greeting.
const FUSED_PARAPHRASE: (&str, &str) = ("买的耳机左边没有声音", "product_troubleshooting");
const ELSEWHERE: &str = "你们公司在招聘吗";

async fn parse_text(app: &TestApp, token: &str, text: &str) -> Value {
    let (s, v) = app.send("post", token, "/api/v1/nlu/parse", Some(json!({ "text": text }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Asks `/nlu/parse` until the fused model answers (it is built in the background).
async fn parse_fused(app: &TestApp, token: &str, text: &str) -> Value {
    for _ in 0..600 {
        let v = parse_text(app, token, text).await;
        if v["intent"]["model"]["kind"] == "fused" {
            return v;
        }
        assert_eq!(v["intent"]["model"]["kind"], "lexical", "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the fused intent model was not in use within 120 s");
}

const EXAMPLES_ENCODED: &str = "lingxi_intent_example_vectors_total{source=\"encoded\"}";
const EXAMPLES_FROM_STORE: &str = "lingxi_intent_example_vectors_total{source=\"store\"}";

async fn queries_encoded(app: &TestApp) -> u64 {
    metric(app, "lingxi_encoder_texts_total").await - metric(app, ENCODED).await - metric(app, EXAMPLES_ENCODED).await
}

async fn with_the_encoder_the_bot_classifies_intents_with_the_fused_model(backend: Backend) {
    let Some(dir) = model_dir() else { return };
    let tweak = |c: &mut lingxi_server::config::Config| {
        encoder_on(c, &dir);
        c.bot_enabled = true;
        c.knowledge.query_encode_timeout_ms = 10_000;
        // Short texts fit; the bot's long message below is cut, and a cut vector is never
        // cached, so a second encoding of it would show in the counters.
        c.knowledge.query_max_tokens = Some(lingxi_encoder::QueryTokens::new(24).unwrap());
    };
    let app = spawn_app_with(backend, tweak).await;
    let admin = app.login(&app.a.admin).await;
    let (text, want) = FUSED_PARAPHRASE;
    let normalized = lingxi_nlu::normalize::Normalizer::default().normalize(text).text;
    let lexical = lingxi_nlu::intent::default_model(lingxi_nlu::intent::DefaultLanguage::Chinese).classify(&normalized);
    assert_ne!(lexical.top.map(|t| t.intent).as_deref(), Some(want), "the lexical model must get it wrong");

    let v = parse_fused(&app, &admin, text).await;
    assert_eq!(v["intent"]["model"], json!({ "source": "default", "language": "zh", "kind": "fused" }), "{v}");
    assert_eq!(v["intent"]["top"]["intent"], want, "{v}");
    let v = parse_text(&app, &admin, ELSEWHERE).await;
    assert_eq!((v["intent"]["out_of_scope"].as_bool(), &v["intent"]["top"]), (Some(true), &Value::Null), "{v}");
    let encoded = metric(&app, EXAMPLES_ENCODED).await;
    assert!(encoded > 300, "the default Chinese examples were encoded: {encoded}");

    // The bot's turn: the message is encoded once, for the intent and for retrieval alike, and
    // the conversation's last intent is the fused model's.
    import_demo(&app, &admin).await;
    search_in_mode(&app, &admin, "发票", "hybrid").await;
    // Messages encoded: every text encoded, less phrasings and intent examples (builds may
    // still be running for the second import).
    let (texts, cut) = (queries_encoded(&app).await, metric(&app, "lingxi_kb_queries_cut_total").await);
    let bot_text =
        "左边耳机突然没声音了，右边的还是好的，已经充满电也重新配对过好几次了，还是没有用，请问应该怎么处理比较好";
    let ident = json!([{ "kind": "device_id", "value": format!("fused-{}", rand_hex()) }]);
    let (s, m) = app.inbound(&app.a.app_key, msg(&format!("fused-{}", rand_hex()), ident, bot_text)).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let seen = last_intent(&app, &admin, &conv).await;
    println!("bot turn on {bot_text}: last intent {seen}");
    assert_eq!(queries_encoded(&app).await, texts + 1, "one encoding for the turn");
    assert_eq!(metric(&app, "lingxi_kb_queries_cut_total").await, cut + 1, "the one encoding was cut");
    assert_eq!(metric(&app, "lingxi_kb_lexical_fallbacks_total").await, 0);

    // Out of scope is "no intent" in the bot: no topic named in the reply (the lexical model
    // reads a greeting in it), and the knowledge base's miss is still logged as a gap.
    let ident = json!([{ "kind": "device_id", "value": format!("fused-{}", rand_hex()) }]);
    let (s, m) = app.inbound(&app.a.app_key, msg(&format!("fused-{}", rand_hex()), ident, ELSEWHERE)).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let reply = eventually(|| async {
        let (_, v) = app.get(&admin, &format!("/api/v1/conversations/{conv}")).await;
        let bot = v["messages"].as_array()?.iter().find(|m| m["sender"]["kind"] == "bot")?.clone();
        Some(json!({ "text": bot["content"]["text"], "intent": v["conversation"]["last_intent"] }))
    })
    .await;
    assert_eq!(reply["intent"], Value::Null, "{reply}");
    assert!(!reply["text"].as_str().unwrap().contains("您好"), "{reply}");
    eventually(|| async {
        let (_, v) = app.get(&admin, "/api/v1/knowledge/gaps").await;
        v["clusters"].as_array()?.iter().any(|c| c["question"] == ELSEWHERE).then_some(Value::Null)
    })
    .await;

    // A tenant's own model gets its fused twin too (its examples encoded in the background).
    let plants = json!({ "intents": [
        { "intent": "plant_care", "examples": ["我的绿萝叶子发黄了", "多肉浇水太多烂根了怎么办", "盆栽长虫子了", "花叶子打蔫了", "发财树掉叶子"] },
        { "intent": "delivery_time", "examples": ["花什么时候能送到", "配送要几天", "今天下单明天能到吗", "鲜花几点送达", "送花需要多久"] },
    ]});
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(plants)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let v = parse_fused(&app, &admin, "我家的绿萝叶子黄了怎么办").await;
    assert_eq!(v["intent"]["model"], json!({ "source": "tenant", "version": 1, "kind": "fused" }), "{v}");
    assert_eq!(v["intent"]["top"]["intent"], "plant_care", "{v}");
    let (s, _) = app.send("put", &admin, "/api/v1/nlu/active-intent-model", Some(json!({ "version": null }))).await;
    assert_eq!(s, StatusCode::OK);

    // A restart reads the examples' vectors back instead of encoding them again.
    let app = app.restart(tweak).await;
    let admin = app.login(&app.a.admin).await;
    parse_fused(&app, &admin, text).await;
    assert_eq!(metric(&app, EXAMPLES_ENCODED).await, 0, "nothing encoded after the restart");
    assert!(metric(&app, EXAMPLES_FROM_STORE).await >= encoded, "every example vector read back");
}

mod fused_on_sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_the_encoder_the_bot_classifies_intents_with_the_fused_model() {
        super::with_the_encoder_the_bot_classifies_intents_with_the_fused_model(super::Backend::Sqlite).await
    }
}
mod fused_on_postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_the_encoder_the_bot_classifies_intents_with_the_fused_model() {
        super::with_the_encoder_the_bot_classifies_intents_with_the_fused_model(super::Backend::Postgres).await
    }
}

/// What a tenant's fused twin costs to build (not run by default: it encodes a few thousand
/// banking77 training texts): `LX_TENANT_SET=/work/shared/data/banking77/train.jsonl
/// cargo test -p lingxi-server --test semantic fused_training_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn fused_training_time_for_a_tenant_sized_set() {
    use lingxi_nlu::intent::{IntentConfig, IntentModel, IntentTrainingData};
    use lingxi_nlu::intent_fused::{FusedIntentConfig, FusedIntentModel};
    let Some(dir) = model_dir() else { return };
    let Some(path) = std::env::var_os("LX_TENANT_SET") else {
        println!("SKIPPED: set LX_TENANT_SET to a JSON Lines file of {{text, label}}");
        return;
    };
    let n: usize = std::env::var("LX_TENANT_N").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let mut data = IntentTrainingData::new();
    for line in std::fs::read_to_string(path).unwrap().lines().take(n) {
        let v: Value = serde_json::from_str(line).unwrap();
        let label = v["label"].as_str().map_or_else(|| v["label"].to_string(), str::to_owned);
        data.add(&label, [v["text"].as_str().unwrap()]);
    }
    let texts: Vec<&str> = data.intents().iter().flat_map(|(_, ex)| ex.iter().map(String::as_str)).collect();
    let encoder = lingxi_encoder::Encoder::load(dir.join(lingxi_encoder::MODEL_FILE_NAME)).unwrap();
    let t0 = std::time::Instant::now();
    // LX_VECTOR_CACHE=FILE keeps the vectors (384 little-endian f32 each) for a second run.
    let cache = std::env::var_os("LX_VECTOR_CACHE").map(PathBuf::from);
    let cached: Option<Vec<Vec<f32>>> = cache.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| {
        b.chunks_exact(encoder.dim() * 4)
            .map(|r| r.chunks_exact(4).map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect())
            .collect()
    });
    let vectors: Vec<Vec<f32>> = match cached.filter(|v| v.len() == texts.len()) {
        Some(v) => v,
        None => {
            let v: Vec<Vec<f32>> = texts
                .chunks(16)
                .flat_map(|c| encoder.encode_batch_with_prefix(lingxi_encoder::QUERY_PREFIX, c))
                .collect();
            if let Some(p) = &cache {
                std::fs::write(p, v.iter().flatten().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
            }
            v
        }
    };
    let encode = t0.elapsed();
    let t1 = std::time::Instant::now();
    let lexical = std::sync::Arc::new(IntentModel::train(&data, &IntentConfig::default()).unwrap());
    let lexical_time = t1.elapsed();
    let t2 = std::time::Instant::now();
    let (_, report) = FusedIntentModel::train(&data, &vectors, lexical, &FusedIntentConfig::default()).unwrap();
    println!(
        "{} examples, {} intents: encoding (or reading the cache) {:.1} s, lexical training {:.2} s, \
         fused training {:.2} s; {report:?}",
        texts.len(),
        data.intents().len(),
        encode.as_secs_f64(),
        lexical_time.as_secs_f64(),
        t2.elapsed().as_secs_f64()
    );
}
