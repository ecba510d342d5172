//! The HTTP JSON connector against a business system started in the test (axum on port 0):
//! URL template, auth header, field mapping, 404 as not found, retries on 5xx, timeouts; the
//! bot answers with the live status and a failing system never breaks a turn. And a tenant's
//! own flows through the API, into the bot. Both backends.

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use lingxi_domain::{ConversationId, ConversationState};
use lingxi_server::tools::http::{ToolsConfig, ToolsFile};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Erp {
    calls: AtomicUsize,
    flaky_calls: AtomicUsize,
}

async fn order(State(erp): State<Arc<Erp>>, headers: HeaderMap, Path(no): Path<String>) -> (StatusCode, Json<Value>) {
    erp.calls.fetch_add(1, Ordering::SeqCst);
    if headers.get("x-erp-key").and_then(|v| v.to_str().ok()) != Some("s3cret") {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "key" })));
    }
    match no.as_str() {
        "LX20261101001" => {
            (StatusCode::OK, Json(json!({ "data": { "state": "delivered", "lines": [{ "name": "ERP 扫地机 X9" }] } })))
        }
        // Fails once, then answers: the retry makes it.
        "LX20261101002" if erp.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 => {
            (StatusCode::BAD_GATEWAY, Json(json!({})))
        }
        "LX20261101002" => (StatusCode::OK, Json(json!({ "data": { "state": "shipped", "lines": [] } }))),
        "LX20261101003" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            (StatusCode::OK, Json(json!({ "data": { "state": "paid" } })))
        }
        _ => (StatusCode::NOT_FOUND, Json(json!({ "error": "no such order" }))),
    }
}

fn tools_config(erp: &str) -> ToolsConfig {
    let file: ToolsFile = toml::from_str(&format!(
        r#"
        [alpha.order_status]
        url = "{erp}/api/orders/{{order_no}}"
        auth_header = "X-Erp-Key: s3cret"
        timeout_ms = 300
        retries = 1
        fields = {{ status = "data.state", item = "data.lines.0.name" }}
        "#
    ))
    .unwrap();
    ToolsConfig::from_file(Some(file)).unwrap()
}

async fn bot_says(app: &TestApp, key: &str, id: &str, text: &str) -> (String, ConversationState) {
    let (s, m) = app.inbound(key, msg(id, json!([{ "kind": "device_id", "value": id }]), text)).await;
    assert!(s.is_success(), "{m}");
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let reply = eventually(|| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        async move {
            let msgs = store.messages(&tenant, &conv, 10).await.unwrap();
            msgs.iter().find(|m| m.sender_kind == "bot").map(|m| json!(shown(&m.content)))
        }
    })
    .await;
    let state = app.store.conversation(&tenant, &conv).await.unwrap().state;
    (reply.as_str().unwrap().to_owned(), state)
}

async fn http_connector_answers_and_fails_safely(backend: Backend) {
    let erp = Arc::new(Erp::default());
    let router = Router::new().route("/api/orders/{no}", get(order)).with_state(erp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = spawn_app_with(backend, |c| {
        c.bot_enabled = true;
        c.tools = tools_config(&base);
    })
    .await;
    let key = app.a.app_key.clone();

    let (text, state) = bot_says(&app, &key, "t1", "帮我查下订单 LX20261101001 到哪了").await;
    assert!(text.contains("已签收") && text.contains("ERP 扫地机 X9"), "{text}");
    assert_eq!(state, ConversationState::Bot);

    let (text, _) = bot_says(&app, &key, "t2", "查一下订单 LX20261101002").await;
    assert!(text.contains("已发货"), "retried after the 502: {text}");

    let (text, state) = bot_says(&app, &key, "t3", "查一下订单 LX20261101404").await;
    assert!(text.contains("没有查到") && text.contains("LX20261101404"), "{text}");
    assert_eq!(state, ConversationState::Bot);

    let before = erp.calls.load(Ordering::SeqCst);
    let (text, state) = bot_says(&app, &key, "t4", "查一下订单 LX20261101003").await;
    assert!(text.contains("繁忙"), "timed out: {text}");
    assert_eq!(state, ConversationState::Bot, "a slow system does not end the turn");
    assert_eq!(erp.calls.load(Ordering::SeqCst) - before, 2, "one retry after the timeout");

    // A pending question lapses: an order number half an hour later is not taken as its answer.
    let (_, _) = bot_says(&app, &key, "t5", "你好").await;
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let (_, m) = app.inbound(&key, msg("t5b", json!([{ "kind": "device_id", "value": "t5" }]), "你好呀")).await;
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let cus = app.store.conversation(&tenant, &conv).await.unwrap().customer_id;
    let slot = r#"{"kind":"slot","tool":"order_status","options":[],"tries":0}"#;
    let nth_bot = |n: usize| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        eventually(move || {
            let (store, tenant, conv) = (store.clone(), tenant.clone(), conv.clone());
            async move {
                let msgs = store.messages(&tenant, &conv, 20).await.unwrap();
                msgs.iter().filter(|m| m.sender_kind == "bot").nth(n).map(|m| m.content["text"].clone())
            }
        })
    };
    nth_bot(1).await;
    let now_ms = lingxi_domain::Timestamp::from_millis(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64,
    );
    let stale = lingxi_domain::Timestamp::from_millis(now_ms.millis() - 31 * 60 * 1000);
    app.store.set_bot_pending(&tenant, &cus, Some(slot), stale).await.unwrap();
    app.inbound(&key, msg("t5c", json!([{ "kind": "device_id", "value": "t5" }]), "LX20261101001")).await;
    let lapsed = nth_bot(2).await;
    assert!(!lapsed.as_str().unwrap().contains("已签收"), "a stale question is not answered: {lapsed}");
    app.store.set_bot_pending(&tenant, &cus, Some(slot), now_ms).await.unwrap();
    app.inbound(&key, msg("t5d", json!([{ "kind": "device_id", "value": "t5" }]), "LX20261101001")).await;
    let answered = nth_bot(3).await;
    assert!(answered.as_str().unwrap().contains("已签收"), "a fresh question is: {answered}");

    // Tenant B has no connector and no records: its bot does not call tools at all.
    let before = erp.calls.load(Ordering::SeqCst);
    let (_, m) = app
        .inbound(&app.b.app_key, msg("b1", json!([{ "kind": "device_id", "value": "b1" }]), "查一下订单 LX20261101001"))
        .await;
    assert!(m["conversation_id"].is_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(erp.calls.load(Ordering::SeqCst), before, "tenant B's bot never reaches A's ERP");
}

fn printer_flow() -> Value {
    json!({
        "id": "printer_jam",
        "title": { "zh": "打印机卡纸", "en": "Printer jam" },
        "trigger": { "keywords": [["打印机"], ["卡纸"]] },
        "start": "open",
        "steps": {
            "open": { "type": "choice", "text": "请打开后盖取出纸张，好了吗？", "options": [
                { "label": "好了", "keywords": ["好了"], "next": "done" },
                { "label": "还是卡", "keywords": ["还是"], "next": "human" } ] },
            "done": { "type": "end", "text": "太好了，问题解决！", "resolved": true },
            "human": { "type": "handoff", "reason": "printer_jam" }
        }
    })
}

/// A tenant's own flow: every problem of a bad definition comes back by path and nothing is
/// stored; roles are enforced; a stored flow runs in the bot at once and its hand-off carries
/// the flow's reason; replacing it changes what the bot says.
async fn tenant_flows_are_checked_stored_and_run(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let agent = app.login(&app.a.agent).await;
    let mut bad = printer_flow();
    bad["start"] = json!("nowhere");
    bad["steps"]["open"]["options"][1]["next"] = json!("missing");
    let (s, v) = app.send("post", &admin, "/api/v1/flows", Some(bad.clone())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_flow");
    let paths: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"start") && paths.contains(&"steps.open.options[1].next"), "{v}");
    let (s, v) = app.send("post", &admin, "/api/v1/flows", Some(json!({ "id": "x", "steps": 3 }))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_flow")), "{v}");
    assert_eq!(app.get(&admin, "/api/v1/flows").await.1["flows"], json!([]), "nothing stored");
    let (s, _) = app.send("post", &agent, "/api/v1/flows", Some(printer_flow())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents do not write flows");
    let (s, _) = app.send("put", &admin, "/api/v1/flows/printer_jam", Some(printer_flow())).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "PUT replaces; POST creates");
    let (s, v) = app.send("post", &admin, "/api/v1/flows", Some(printer_flow())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = app.send("post", &admin, "/api/v1/flows", Some(printer_flow())).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = app.send("put", &admin, "/api/v1/flows/other", Some(printer_flow())).await;
    assert_eq!((s, v["problems"][0]["path"].as_str()), (StatusCode::NOT_FOUND, None), "{v}");
    assert_eq!(app.get(&agent, "/api/v1/flows/printer_jam").await.1["flow"]["definition"]["start"], "open");

    let key = app.a.app_key.clone();
    let (text, _) = bot_says(&app, &key, "p1", "打印机又卡纸了").await;
    assert!(text.contains("取出纸张") && text.contains("1. 好了"), "{text}");
    let (_, m) = app.inbound(&key, msg("p1b", json!([{ "kind": "device_id", "value": "p1" }]), "还是卡")).await;
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let row = eventually(|| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        async move {
            let c = store.conversation(&tenant, &conv).await.unwrap();
            (c.state != ConversationState::Bot).then(|| json!(c.handoff_reason))
        }
    })
    .await;
    assert_eq!(row, json!("printer_jam"));

    // Replaced: the first question changes for the next customer; an invalid replacement is refused.
    let mut v2 = printer_flow();
    v2["steps"]["open"]["text"] = json!("先关机再打开后盖，取出纸张，好了吗？");
    let (s, _) = app.send("put", &admin, "/api/v1/flows/printer_jam", Some(v2)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.send("put", &admin, "/api/v1/flows/printer_jam", Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (text, _) = bot_says(&app, &key, "p2", "打印机卡纸怎么办").await;
    assert!(text.contains("先关机"), "{text}");
    // Conditions read the customer's attributes: a gold member gets the priority line.
    let tiers = json!({
        "id": "hotline", "title": "Hotline", "trigger": { "keywords": [["专线"]] }, "start": "tier",
        "steps": {
            "tier": { "type": "condition", "branches": [ { "when": { "slot": "customer.level", "equals": "gold" }, "next": "gold" } ], "else": "std" },
            "gold": { "type": "end", "text": "金卡会员专属专线：400-800-0001", "resolved": true },
            "std": { "type": "end", "text": "客服热线：400-800-0000", "resolved": true }
        }
    });
    assert_eq!(app.send("post", &admin, "/api/v1/flows", Some(tiers)).await.0, StatusCode::CREATED);
    let (text, _) = bot_says(&app, &key, "h1", "会员专线是多少").await;
    assert!(text.contains("400-800-0000"), "{text}");
    let (_, m) = app.inbound(&key, msg("h2", json!([{ "kind": "device_id", "value": "h2" }]), "你好")).await;
    let cus = m["customer_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .send("patch", &admin, &format!("/api/v1/customers/{cus}"), Some(json!({ "attributes": { "level": "gold" } })))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, m) = app.inbound(&key, msg("h2b", json!([{ "kind": "device_id", "value": "h2" }]), "会员专线是多少")).await;
    let conv = ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let gold = eventually(|| {
        let (store, tenant, conv) = (app.store.clone(), tenant.clone(), conv.clone());
        async move {
            let msgs = store.messages(&tenant, &conv, 10).await.unwrap();
            msgs.iter().filter(|m| m.sender_kind == "bot").nth(1).map(|m| m.content["text"].clone())
        }
    })
    .await;
    assert!(gold.as_str().unwrap().contains("400-800-0001"), "{gold}");

    let (s, _) = app.send("delete", &admin, "/api/v1/flows/printer_jam", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (text, _) = bot_says(&app, &key, "p3", "打印机卡纸怎么办").await;
    assert!(!text.contains("取出纸张"), "deleted flows stop: {text}");
}

const PRINTER_YAML: &str = "\
id: printer_jam
title: { zh: 打印机卡纸, en: Printer jam }
trigger:
  keywords: [[打印机], [卡纸]]
start: open
steps:
  open:
    type: choice
    text: 请打开后盖取出纸张，好了吗？
    options:
      - { label: 好了, keywords: [好了], next: done }
      - { label: 还是卡, keywords: [还是], next: human }
  done: { type: end, text: 太好了，问题解决！, resolved: true }
  human: { type: handoff, reason: printer_jam }
";

/// Sends a flow body with the given content type (and reads the answer as JSON).
async fn send_flow(
    app: &TestApp,
    method: &str,
    token: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> (StatusCode, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = app
        .http
        .request(m, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", ctype)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// YAML bodies go through `lingxi flows check`'s parser: created and replaced like JSON, and
/// problems name the line and the step; JSON is unchanged; `GET` answers YAML on request.
async fn tenant_flows_accept_yaml(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    // Not YAML at all: the parser's line, nothing stored.
    let (s, v) =
        send_flow(&app, "POST", &admin, "/api/v1/flows", "application/yaml", "id: [unclosed\nsteps: {}\n").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_flow")), "{v}");
    assert!(v["problems"][0]["line"].as_u64().is_some(), "{v}");
    assert!(v["problems"][0]["message"].as_str().unwrap().starts_with("line "), "{v}");
    // A misspelt field in step `done` (line 13): the step and its line.
    let bad = PRINTER_YAML.replace("resolved: true", "resolvd: true");
    let (s, v) = send_flow(&app, "POST", &admin, "/api/v1/flows", "text/yaml", &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        (v["problems"][0]["path"].as_str(), v["problems"][0]["line"].as_u64()),
        (Some("steps.done"), Some(13)),
        "{v}"
    );
    let message = v["problems"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 13, step `done`: ") && message.contains("resolvd"), "{v}");
    // A dangling `next`: the compiler's problem, on the step's line (7).
    let bad = PRINTER_YAML.replace("next: human", "next: humn");
    let (_, v) = send_flow(&app, "POST", &admin, "/api/v1/flows", "application/x-yaml", &bad).await;
    let p = &v["problems"][0];
    assert_eq!((p["path"].as_str(), p["line"].as_u64()), (Some("steps.open"), Some(7)), "{v}");
    assert!(
        p["message"].as_str().unwrap().contains("options[1].next") && p["message"].as_str().unwrap().contains("humn"),
        "{v}"
    );
    assert_eq!(app.get(&admin, "/api/v1/flows").await.1["flows"], json!([]), "nothing stored");
    // Another type is refused with the stable code.
    let (s, v) = send_flow(&app, "POST", &admin, "/api/v1/flows", "text/plain", PRINTER_YAML).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")),
        "{v}"
    );

    // Created from YAML (charset parameter and all): stored and shown as the same JSON definition.
    let (s, v) =
        send_flow(&app, "POST", &admin, "/api/v1/flows", "application/yaml; charset=utf-8", PRINTER_YAML).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = app.get(&admin, "/api/v1/flows/printer_jam").await;
    assert_eq!(v["flow"]["definition"], printer_flow(), "YAML and JSON give the same definition");
    // Content negotiation: YAML on request, JSON otherwise.
    let get = |accept: &'static str| {
        let req = app.http.get(format!("{}/api/v1/flows/printer_jam", app.base)).bearer_auth(&admin);
        async move {
            let r = req.header("accept", accept).send().await.unwrap();
            let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
            (r.status(), ctype, r.text().await.unwrap())
        }
    };
    let (s, ctype, yaml) = get("application/yaml").await;
    assert_eq!((s, ctype.as_str()), (StatusCode::OK, "application/yaml; charset=utf-8"));
    let back: Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(back, printer_flow(), "{yaml}");
    assert!(get("text/yaml, application/json;q=0.5").await.1.starts_with("application/yaml"));
    let (_, ctype, body) = get("application/json, application/yaml").await;
    assert!(ctype.starts_with("application/json") && body.contains("\"definition\""), "{ctype} {body}");
    assert!(get("*/*").await.1.starts_with("application/json"));
    // Replaced from YAML (what GET gave, edited); the path's id must match; the bot runs it.
    let edited = yaml.replace("请打开后盖取出纸张", "先关机再打开后盖取出纸张");
    let (s, v) = send_flow(&app, "PUT", &admin, "/api/v1/flows/printer_jam", "application/yaml", &edited).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = send_flow(
        &app,
        "PUT",
        &admin,
        "/api/v1/flows/printer_jam",
        "application/yaml",
        &edited.replace("id: printer_jam", "id: other"),
    )
    .await;
    assert_eq!((s, v["problems"][0]["path"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("id")), "{v}");
    let (text, _) = bot_says(&app, &app.a.app_key, "y1", "打印机又卡纸了").await;
    assert!(text.contains("先关机"), "{text}");
    // JSON bodies as before.
    let mut j = printer_flow();
    j["id"] = json!("printer_jam_2");
    assert_eq!(app.send("post", &admin, "/api/v1/flows", Some(j)).await.0, StatusCode::CREATED);
    // The OpenAPI document says so.
    let doc: Value = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let flows = &doc["paths"]["/api/v1/flows"]["post"]["requestBody"]["content"];
    assert!(flows["application/json"].is_object() && flows["application/yaml"].is_object(), "{flows}");
    assert!(doc["paths"]["/api/v1/flows/{id}"]["get"]["responses"]["200"]["content"]["application/yaml"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_flows_yaml_on_sqlite() {
    tenant_flows_accept_yaml(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_flows_yaml_on_postgres() {
    tenant_flows_accept_yaml(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_flows_on_sqlite() {
    tenant_flows_are_checked_stored_and_run(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_flows_on_postgres() {
    tenant_flows_are_checked_stored_and_run(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connector_on_sqlite() {
    http_connector_answers_and_fails_safely(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connector_on_postgres() {
    http_connector_answers_and_fails_safely(Backend::Postgres).await
}

#[test]
fn connector_config_errors_name_the_key() {
    let parse =
        |s: &str| ToolsConfig::from_file(Some(toml::from_str::<ToolsFile>(s).unwrap())).unwrap_err().to_string();
    let e = parse("[demo.order_status]\nurl = \"ftp://x/{order_no}\"\nfields = { status = \"s\" }");
    assert!(e.contains("tools.demo.order_status.url") && e.contains("http"), "{e}");
    let e = parse("[demo.order_status]\nurl = \"http://x/{orderno}\"\nfields = { status = \"s\" }");
    assert!(e.contains("placeholder"), "{e}");
    let e = parse("[demo.weather]\nurl = \"http://x/\"\nfields = { status = \"s\" }");
    assert!(e.contains("unknown tool"), "{e}");
    let e = parse("[demo.invoice]\nurl = \"http://x/{order_no}\"\nfields = {}");
    assert!(e.contains("fields"), "{e}");
    let e = parse("[demo.invoice]\nurl = \"http://x/{order_no}\"\ntimeout_ms = 1\nfields = { a = \"b\" }");
    assert!(e.contains("timeout_ms"), "{e}");
    let e = parse("[demo.invoice]\nurl = \"http://x/{order_no}\"\nauth_header = \"no colon\"\nfields = { a = \"b\" }");
    assert!(e.contains("auth_header") && !e.contains("no colon"), "the secret is not echoed: {e}");
    assert!(
        toml::from_str::<ToolsFile>("[demo.invoice]\nurl = \"http://x\"\nfields = {}\nretry = 3").is_err(),
        "typos rejected"
    );
}

/// `lingxi tools import`: a good CSV is stored (and re-importing replaces by key); a file with
/// a bad line stores nothing and names the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_import_cli_loads_csv_all_or_nothing() {
    let dir = std::env::temp_dir().join(format!("lingxi-tools-cli-{}", rand_hex()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("lingxi.db").display());
    let lingxi = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lingxi"))
            .args(args)
            .args(["--database-url", &url])
            .env_remove("LINGXI_CONFIG")
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    assert!(lingxi(&["migrate"]).status.success());
    let out = lingxi(&["tenant", "create", "--slug", "shop", "--name", "Shop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = dir.join("orders.csv");
    std::fs::write(&good, "order_no,phone,status,item\nLX20261101001,13800138001,shipped,\"Cam, 2K\"\nlx20261101002,13800138001,paid,Lock\n").unwrap();
    let out = lingxi(&["tools", "import", "--tenant", "shop", "--kind", "orders", "--file", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 orders record(s)"));
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "order_no,phone,status\nLX20261101003,1,paid\n,2,paid\nLX4,3\n").unwrap();
    let out = lingxi(&["tools", "import", "--tenant", "shop", "--kind", "orders", "--file", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    let out = lingxi(&["tools", "import", "--tenant", "shop", "--kind", "planets", "--file", good.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown kind"));

    let store = lingxi_store::Store::connect(&url, None).await.unwrap();
    let t = store.tenant_by_slug("shop").await.unwrap().id;
    let r = store.record(&t, "orders", "LX20261101001").await.unwrap().unwrap();
    assert_eq!((r.owner.as_str(), r.fields["item"].as_str()), ("13800138001", "Cam, 2K"));
    assert!(store.record(&t, "orders", "LX20261101002").await.unwrap().is_some(), "keys are upper-cased");
    assert!(store.record(&t, "orders", "LX20261101003").await.unwrap().is_none(), "the bad file stored nothing");
}
