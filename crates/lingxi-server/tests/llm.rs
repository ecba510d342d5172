//! The optional LLM port against a chat-completions server started in the test (axum on port
//! 0, the OpenAI protocol): it records every request and answers from a script. The bot's
//! confident knowledge-base answers are phrased by it with their sources; personal data never
//! reaches it; a question nothing was found for never reaches it; a reply without a citation,
//! a 500 and a slow answer all end in the plain knowledge-base answer; it is off by default.
//! Business-data tools' answers are phrased the same way from the tool's result.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use lingxi_domain::{ConversationId, ConversationState, Timestamp};
use lingxi_server::llm::config::{LlmConfig, LlmFile};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The plain demo answer to "退款多久到账".
const REFUND_ANSWER: &str = "仓库签收退货后 1–3 个工作日内退款";

#[derive(Clone)]
enum Script {
    Reply(String),
    Status(u16),
    Slow(Duration, String),
}

struct FakeLlm {
    /// (Authorization header, body) of every request.
    requests: Mutex<Vec<(Option<String>, Value)>>,
    script: Mutex<Script>,
}

impl FakeLlm {
    fn n(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn answer(&self, s: Script) {
        *self.script.lock().unwrap() = s;
    }
}

fn completion(text: &str) -> Value {
    json!({ "id": "cmpl-1", "object": "chat.completion", "model": "test-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 } })
}

async fn completions(
    State(llm): State<Arc<FakeLlm>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    llm.requests.lock().unwrap().push((auth, body));
    let script = llm.script.lock().unwrap().clone();
    match script {
        Script::Reply(t) => (StatusCode::OK, Json(completion(&t))),
        Script::Status(s) => (StatusCode::from_u16(s).unwrap(), Json(json!({ "error": { "message": "boom" } }))),
        Script::Slow(d, t) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, Json(completion(&t)))
        }
    }
}

async fn start_llm() -> (Arc<FakeLlm>, String) {
    let llm = Arc::new(FakeLlm { requests: Mutex::default(), script: Mutex::new(Script::Status(500)) });
    let router = Router::new().route("/v1/chat/completions", post(completions)).with_state(llm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (llm, base)
}

fn llm_config(toml_text: &str) -> LlmConfig {
    let file: LlmFile = toml::from_str(toml_text).unwrap();
    LlmConfig::from_file(Some(file), &|k: &str| (k == "LLM_TEST_KEY").then(|| "sk-test".to_owned())).unwrap()
}

/// A server whose tenants alpha and beta both have the demo knowledge base.
async fn app_with(backend: Backend, llm: LlmConfig) -> TestApp {
    let app = spawn_app_with(backend, |c| {
        c.bot_enabled = true;
        c.llm = llm;
    })
    .await;
    let now = Timestamp::from_millis(1_760_000_000_000);
    for slug in ["alpha", "beta"] {
        let t = app.store.tenant_by_slug(slug).await.unwrap().id;
        assert!(lingxi_server::knowledge::seed_demo(&app.store, &t, now).await.unwrap() > 0);
    }
    app
}

/// A new conversation with one customer message; the bot's reply and how long it took.
async fn bot_says(app: &TestApp, slug: &str, id: &str, text: &str) -> (String, Duration) {
    let key = if slug == "alpha" { app.a.app_key.clone() } else { app.b.app_key.clone() };
    let started = Instant::now();
    let (s, m) = app.inbound(&key, msg(id, json!([{ "kind": "device_id", "value": id }]), text)).await;
    assert!(s.is_success(), "{m}");
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let tenant = app.store.tenant_by_slug(slug).await.unwrap().id;
    let reply = eventually(|| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        async move {
            let msgs = store.messages(&tenant, &conv, 10).await.unwrap();
            msgs.iter().find(|m| m.sender_kind == "bot").map(|m| m.content["text"].clone())
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(app.store.conversation(&tenant, &conv).await.unwrap().state, ConversationState::Bot);
    (reply.as_str().unwrap().to_owned(), elapsed)
}

async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grounded_answers_cite_sources_mask_personal_data_and_fall_back() {
    let (llm, base) = start_llm().await;
    let app = app_with(
        Backend::Sqlite,
        llm_config(&format!(
            "enabled = true\nbase_url = \"{base}\"\nmodel = \"test-model\"\napi_key_env = \"LLM_TEST_KEY\"\n\
             timeout_ms = 800\nmax_tokens = 300\n[tenants.beta]\nenabled = false"
        )),
    )
    .await;

    // (1) A question the knowledge base answers: the model's phrasing, its source named.
    llm.answer(Script::Reply("您好，退货到仓库签收后 1–3 个工作日内退款，原路退回【1】。".into()));
    // (Noise words such as 电话 or 邮箱 lower the knowledge base's confidence below "answer".)
    let question = "李雷：退款多久到账？13812345678 11010519491231002X lilei@example.com";
    let (text, _) = bot_says(&app, "alpha", "l1", question).await;
    assert!(text.starts_with("您好，退货到仓库签收后 1–3 个工作日内退款，原路退回[1]。"), "{text}");
    assert!(text.ends_with("来源：[1] 退款多久到账"), "{text}");
    assert_eq!(llm.n(), 1);

    // (2) What left the process: the passage, the question with placeholders, no personal data.
    let (auth, body) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert_eq!((body["model"].as_str(), body["max_tokens"].as_u64()), (Some("test-model"), Some(300)));
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(body["messages"][0]["content"].as_str().unwrap().contains(REFUND_ANSWER), "{body}");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert_eq!(user, "[NAME]:退款多久到账?[PHONE] [ID_CARD] [EMAIL]");
    let sent = body.to_string().to_lowercase();
    for secret in ["13812345678", "11010519491231002", "lilei@example.com", "李雷"] {
        assert!(!sent.contains(secret), "{secret} left the process: {sent}");
    }

    // (3) Nothing relevant retrieved: the model is not asked and the bot invents nothing.
    llm.answer(Script::Reply("火星今天晴 [1]".into()));
    let (text, _) = bot_says(&app, "alpha", "l2", "火星上今天的天气怎么样").await;
    assert!(text.contains("没有完全理解"), "{text}");
    assert_eq!(llm.n(), 1, "not asked");

    // (4) Ungrounded, failing or slow: the plain knowledge-base answer, no sources line.
    for (i, (script, calls)) in [
        (Script::Reply("退款很快就会到账，请耐心等待。".into()), 1),
        (Script::Reply("退款 7 个工作日内到账 [1]".into()), 1),
        (Script::Reply("请提供 [PHONE] 以便查询 [1]".into()), 1),
        (Script::Status(500), 2),
        (Script::Slow(Duration::from_millis(3000), "太慢了 [1]".into()), 1),
    ]
    .into_iter()
    .enumerate()
    {
        let before = llm.n();
        llm.answer(script);
        let (text, took) = bot_says(&app, "alpha", &format!("f{i}"), "退款多久到账？").await;
        assert!(text.starts_with(REFUND_ANSWER) && !text.contains("来源"), "case {i}: {text}");
        assert_eq!(llm.n() - before, calls, "case {i}: one retry on a 5xx only");
        assert!(took < Duration::from_millis(2500), "case {i}: the customer waited {took:?}");
    }
    assert_eq!(metric(&app, "lingxi_llm_answers_total").await, 1);
    assert_eq!(metric(&app, "lingxi_llm_fallbacks_total").await, 5);

    // A tenant with the model switched off: the plain answer, no request.
    let before = llm.n();
    llm.answer(Script::Reply("退货签收后 1–3 个工作日内退款 [1]".into()));
    let (text, _) = bot_says(&app, "beta", "b1", "退款多久到账？").await;
    assert!(text.starts_with(REFUND_ANSWER), "{text}");
    assert_eq!(llm.n(), before);

    // English: the English prompt and sources line.
    llm.answer(Script::Reply("Open the order and choose Return [1].".into()));
    let (text, _) = bot_says(&app, "alpha", "e1", "How do I return an item?").await;
    assert!(text.starts_with("Open the order and choose Return [1].\n\nSources: [1] "), "{text}");
    let body = llm.requests.lock().unwrap().last().unwrap().1.clone();
    assert!(body["messages"][0]["content"].as_str().unwrap().contains("only from the numbered sources"));
}

/// The templated answer of the refund tool for the demo order LX20261105004.
const REFUND_TOOL_ANSWER: &str = "订单 LX20261105004 的退款（¥399.00）";

/// (7) A business-data tool's answer goes through the same path, the tool's result the one
/// source: phrased and cited when grounded; an invented number, no citation or a slow model
/// leave the templated answer; order numbers never leave the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_answers_are_phrased_from_the_tool_result_and_checked() {
    let (llm, base) = start_llm().await;
    let app = app_with(
        Backend::Sqlite,
        llm_config(&format!("enabled = true\nbase_url = \"{base}\"\nmodel = \"test-model\"\ntimeout_ms = 800")),
    )
    .await;
    let alpha = app.store.tenant_by_slug("alpha").await.unwrap().id;
    lingxi_server::demo::seed_business(&app.store, &alpha, Timestamp::from_millis(1_760_000_000_000)).await.unwrap();
    let question = "订单 LX20261105004 的退款什么时候到账";

    llm.answer(Script::Reply("您的退款 ¥399.00 正在处理，将原路退回微信支付，预计 2026-11-27 前到账【1】。".into()));
    let (text, _) = bot_says(&app, "alpha", "tl1", question).await;
    assert_eq!(
        text,
        "您的退款 ¥399.00 正在处理，将原路退回微信支付，预计 2026-11-27 前到账[1]。\n\n来源：[1] 退款进度查询"
    );
    assert_eq!(llm.n(), 1);
    // What left the process: the tool's result (masked) as source [1], the question masked.
    let body = llm.requests.lock().unwrap()[0].1.clone();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("[1] 退款进度查询\n订单 [ORDER_NO] 的退款（¥399.00）处理中") && system.contains("2026-11-27"),
        "{system}"
    );
    assert_eq!(body["messages"][1]["content"], "订单 [ORDER_NO] 的退款什么时候到账");
    assert!(!body.to_string().contains("LX20261105004"), "{body}");

    // A number the tool result does not have, no citation, a model too slow: the templated answer.
    for (i, script) in [
        Script::Reply("您的退款 ¥399.00 预计 2026-11-30 前到账 [1]".into()),
        Script::Reply("您的退款正在处理，请耐心等待。".into()),
        Script::Slow(Duration::from_millis(3000), "退款处理中 [1]".into()),
    ]
    .into_iter()
    .enumerate()
    {
        llm.answer(script);
        let before = llm.n();
        let (text, took) = bot_says(&app, "alpha", &format!("tf{i}"), question).await;
        assert!(
            text.starts_with(REFUND_TOOL_ANSWER) && text.contains("2026-11-27") && !text.contains("来源"),
            "case {i}: {text}"
        );
        assert_eq!(llm.n() - before, 1, "case {i}");
        assert!(took < Duration::from_millis(2500), "case {i}: the customer waited {took:?}");
    }
    assert_eq!(metric(&app, "lingxi_llm_answers_total").await, 1);
    assert_eq!(metric(&app, "lingxi_llm_fallbacks_total").await, 3);

    // A tool that found nothing is not phrased: the templated "no record" answer, no request.
    let before = llm.n();
    let (text, _) = bot_says(&app, "alpha", "tn1", "订单 LX20990101999 的退款什么时候到账").await;
    assert!(text.contains("没有查到订单 LX20990101999"), "{text}");
    assert_eq!(llm.n(), before);
}

/// (6) An endpoint in the file but not enabled: the bot answers as always and never calls it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default() {
    let (llm, base) = start_llm().await;
    llm.answer(Script::Reply("退货签收后 1–3 个工作日内退款 [1]".into()));
    let app = app_with(Backend::Postgres, llm_config(&format!("base_url = \"{base}\"\nmodel = \"test-model\""))).await;
    let (text, _) = bot_says(&app, "alpha", "d1", "退款多久到账？").await;
    assert!(text.starts_with(REFUND_ANSWER), "{text}");
    assert_eq!(llm.n(), 0);
    assert_eq!(metric(&app, "lingxi_llm_fallbacks_total").await, 0);
}

/// (5) Enabled without an endpoint: `lingxi check-config` (and so `serve`) refuses to start,
/// naming the key.
#[test]
fn enabled_without_base_url_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("lingxi-llm-cfg-{}", rand_hex()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("lingxi.toml");
    let check = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_lingxi"))
            .args(["--config", cfg.to_str().unwrap(), "check-config"])
            .env_remove("LINGXI_LLM")
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = check("[llm]\nenabled = true\nmodel = \"deepseek-chat\"\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("llm.base_url") && err.contains("required when the LLM is enabled"), "{err}");
    let out = check("[llm]\nenabled = true\nbase_url = \"https://api.deepseek.com/v1\"\nmodel = \"deepseek-chat\"\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["llm"]["url"], "https://api.deepseek.com/v1/chat/completions");
}

/// Entries among which "发票怎么弄" gets a "did you mean" rather than an answer (the KB of
/// the rendering tests).
const INVOICE_KB: &str = r#"[
  { "id": "returns", "lang": "zh", "question": "怎么退货", "similar": ["退货流程是什么"], "answer": "签收 7 天内可退货。" },
  { "id": "refund", "lang": "zh", "question": "退款多久到账", "answer": "退款 1–3 个工作日到账。" },
  { "id": "invoice-apply", "lang": "zh", "question": "怎么申请电子发票", "similar": ["发票在哪里开"], "answer": "在订单详情申请。" },
  { "id": "invoice-title", "lang": "zh", "question": "发票抬头怎么修改", "similar": ["发票开错了能改吗"], "answer": "联系客服重开。" }
]"#;

/// A new conversation with one customer message; the bot's first reply as stored (rich or text).
async fn bot_content(app: &TestApp, key: &str, slug: &str, id: &str, text: &str) -> (Value, Duration) {
    let started = Instant::now();
    let (s, m) = app.inbound(key, msg(id, json!([{ "kind": "device_id", "value": id }]), text)).await;
    assert!(s.is_success(), "{m}");
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let tenant = app.store.tenant_by_slug(slug).await.unwrap().id;
    let reply = eventually(|| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        async move {
            let msgs = store.messages(&tenant, &conv, 10).await.unwrap();
            msgs.iter().find(|m| m.sender_kind == "bot").map(|m| m.content.clone())
        }
    })
    .await;
    (reply, started.elapsed())
}

/// (8) Where a tenant asks for it, the "did you mean" intro is the model's line, written from
/// the candidate questions only (no answer is sent, the message masked) with the buttons
/// unchanged; a line with a figure, a 500 and a slow model leave the plain intro; a tenant
/// that did not ask (the model on for its answers) is never called for a "did you mean".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_you_mean_intros_are_phrased_from_the_questions_only_and_fall_back() {
    let (llm, base) = start_llm().await;
    let llm_cfg = llm_config(&format!(
        "enabled = true\nbase_url = \"{base}\"\nmodel = \"test-model\"\ntimeout_ms = 800\nphrase_suggestions = true\n\
         [tenants.beta]\nphrase_suggestions = false"
    ));
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.bot_enabled = true;
        c.llm = llm_cfg;
        // A wide "did you mean" band, so the message below is offered questions, not answered.
        for slug in ["alpha", "beta"] {
            let band = lingxi_server::knowledge_config::ThresholdSetting { answer: Some(0.95), suggest: Some(0.5) };
            c.knowledge.tenants.insert(slug.into(), band);
        }
    })
    .await;
    for who in [&app.a.admin, &app.b.admin] {
        let admin = app.login(who).await;
        let import = json!({ "format": "json", "content": INVOICE_KB });
        let (s, v) = app.send("post", &admin, "/api/v1/knowledge/import", Some(import)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let question = "发票怎么弄，我手机13800138000";
    let admin = app.login(&app.a.admin).await;
    let (_, v) = app.get(&admin, &format!("/api/v1/knowledge/search?q={question}")).await;
    assert_eq!(v["decision"], "suggest", "{v}");
    let buttons = json!([
        { "label": "怎么申请电子发票", "payload": "怎么申请电子发票" },
        { "label": "发票抬头怎么修改", "payload": "发票抬头怎么修改" },
        { "label": "怎么退货", "payload": "怎么退货" }
    ]);

    llm.answer(Script::Reply("“关于发票，您想问的是下面哪一个？”".into()));
    let (r, _) = bot_content(&app, &app.a.app_key, "alpha", "s1", question).await;
    assert_eq!(r["text"], "关于发票，您想问的是下面哪一个？", "{r}");
    assert_eq!(r["buttons"], buttons, "the options stay the questions, word for word");
    assert_eq!(llm.n(), 1);
    let body = llm.requests.lock().unwrap()[0].1.clone();
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("1. 怎么申请电子发票\n2. 发票抬头怎么修改\n3. 怎么退货"), "{system}");
    for answer in ["订单详情", "联系客服重开", "签收 7 天"] {
        assert!(!system.contains(answer), "no answer leaves: {system}");
    }
    assert_eq!(body["messages"][1]["content"], "发票怎么弄,我手机[PHONE]", "the message as understood, masked");
    assert!(!body.to_string().contains("13800138000"), "{body}");

    // A line stating a figure, a server error (retried once), a model slower than timeout_ms.
    for (i, script) in [
        Script::Reply("电子发票 24 小时内开出，您想问哪个？".into()),
        Script::Status(500),
        Script::Slow(Duration::from_millis(3000), "您想问哪一个？".into()),
    ]
    .into_iter()
    .enumerate()
    {
        llm.answer(script);
        let before = llm.n();
        let (r, took) = bot_content(&app, &app.a.app_key, "alpha", &format!("sf{i}"), question).await;
        assert_eq!(r["text"], "您是想问以下哪个问题？", "case {i}: {r}");
        assert_eq!(r["buttons"], buttons, "case {i}");
        assert!(llm.n() > before, "case {i}: asked");
        assert!(took < Duration::from_millis(2500), "case {i}: the customer waited {took:?}");
    }
    assert_eq!(metric(&app, "lingxi_llm_intros_total").await, 1);
    assert_eq!(metric(&app, "lingxi_llm_intro_fallbacks_total").await, 3);
    assert_eq!(metric(&app, "lingxi_llm_answers_total").await, 0, "intros are counted apart");

    // Beta has the model on for answers but did not ask for intros: the plain intro, no call.
    llm.answer(Script::Reply("您想问哪一个？".into()));
    let before = llm.n();
    let (r, _) = bot_content(&app, &app.b.app_key, "beta", "b1", question).await;
    assert_eq!(r["text"], "您是想问以下哪个问题？", "{r}");
    assert_eq!(llm.n(), before);
}
