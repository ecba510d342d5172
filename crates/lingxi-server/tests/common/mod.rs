//! The test harness shared by the server's integration tests: the real server on port 0 over
//! SQLite or a fresh PostgreSQL schema, two tenants with an admin, a supervisor and two agents
//! each.
#![allow(dead_code)]

use lingxi_domain::{ChannelKind, MergePolicy, Role, TeamId, Timestamp};
use lingxi_server::auth::{digest, hash_password, new_secret, CHANNEL_KEY_PREFIX};
use lingxi_server::config::{Config, Overrides};
use lingxi_store::Store;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio::sync::oneshot;

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const PASSWORD: &str = "correct-horse-battery";

pub fn password_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password(PASSWORD).unwrap())
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Tenant {
    pub slug: String,
    pub admin: String,
    pub supervisor: String,
    pub agent: String,
    /// An agent in team "vip" only.
    pub vip_agent: String,
    pub wechat_key: String,
    pub app_key: String,
    pub vip_key: String,
}

pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub store: Store,
    pub a: Tenant,
    pub b: Tenant,
    pub _shutdown: oneshot::Sender<()>,
    /// The database (URL and PostgreSQL schema) and the server task, for [`TestApp::restart`].
    pub db: (String, Option<String>),
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn rand_hex() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// The bot on, and tenant A ("alpha") holding the demo knowledge base and business data.
pub async fn spawn_demo_bot(backend: Backend) -> (TestApp, lingxi_domain::TenantId) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let now = lingxi_domain::Timestamp::from_millis(1_760_000_000_000);
    let alpha = app.store.tenant_by_slug("alpha").await.unwrap().id;
    lingxi_server::knowledge::seed_demo(&app.store, &alpha, now).await.unwrap();
    lingxi_server::demo::seed_business(&app.store, &alpha, now).await.unwrap();
    (app, alpha)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("lingxi-api-{}", rand_hex()));
            std::fs::create_dir_all(&dir).unwrap();
            (format!("sqlite://{}", dir.join("lingxi.db").display()), None)
        }
        Backend::Postgres => {
            let url = std::env::var("LINGXI_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
            (url, Some(format!("api_{}", rand_hex())))
        }
    };
    let store = connect(&db).await;
    let url = db.0.clone();
    store.migrate().await.unwrap();
    let now = Timestamp::from_millis(1_760_000_000_000);
    let mut tenants = Vec::new();
    for slug in ["alpha", "beta"] {
        let t = store.create_tenant(slug, slug, MergePolicy::Automatic, 3600, now).await.unwrap();
        let general = store.create_team(&t.id, "general", now).await.unwrap();
        let vip = store.create_team(&t.id, "vip", now).await.unwrap();
        let mut emails = Vec::new();
        for (who, role, teams) in [
            ("admin", Role::Admin, vec![general.id.clone()]),
            ("supervisor", Role::Supervisor, vec![general.id.clone()]),
            ("agent", Role::Agent, vec![general.id.clone()]),
            ("vip-agent", Role::Agent, vec![vip.id.clone()]),
        ] {
            let email = format!("{who}@{slug}-{}.test", rand_hex());
            store.create_user(&t.id, &email, who, role, password_hash(), &teams as &[TeamId], now).await.unwrap();
            emails.push(email);
        }
        let mut keys = Vec::new();
        for (kind, team) in
            [(ChannelKind::WechatOfficial, None), (ChannelKind::MobileApp, None), (ChannelKind::WebChat, Some(&vip.id))]
        {
            let key = new_secret(CHANNEL_KEY_PREFIX);
            store.create_channel(&t.id, kind, kind.as_str(), &digest(&key), team, now).await.unwrap();
            keys.push(key);
        }
        tenants.push(Tenant {
            slug: slug.into(),
            admin: emails[0].clone(),
            supervisor: emails[1].clone(),
            agent: emails[2].clone(),
            vip_agent: emails[3].clone(),
            wechat_key: keys[0].clone(),
            app_key: keys[1].clone(),
            vip_key: keys[2].clone(),
        });
    }
    let b = tenants.pop().unwrap();
    let a = tenants.pop().unwrap();
    let (base, tx, server) = start_server(store.clone(), url, tweak).await;
    TestApp { base, http: Client::new(), store, a, b, _shutdown: tx, db, server }
}

async fn connect((url, schema): &(String, Option<String>)) -> Store {
    Store::connect(url, schema.as_deref())
        .await
        .unwrap_or_else(|e| panic!("the test database is required and not reachable at {url}: {e}"))
}

/// `lingxi serve` on port 0 over `store`, configured as the suites expect plus `tweak`.
async fn start_server(
    store: Store,
    url: String,
    tweak: impl FnOnce(&mut Config),
) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let mut config = Config::load_from(
        &Overrides { database_url: Some(url), listen: Some("127.0.0.1:0".into()), ..Default::default() },
        |_| None,
    )
    .unwrap();
    config.max_body_bytes = 64 * 1024;
    // Most tests drive state by hand; the bot's own turns are tested on their own.
    config.bot_enabled = false;
    // Lexical retrieval keeps the suites deterministic and fast; the encoder's own tests turn it on.
    config.knowledge.encoder = lingxi_server::knowledge_config::EncoderSetting::Off;
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(lingxi_server::serve(listener, store, config, async move {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx, server)
}

/// Stops a server gracefully and opens its database again.
async fn stopped(
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    db: &(String, Option<String>),
) -> Store {
    drop(shutdown);
    server.await.unwrap().unwrap();
    connect(db).await
}

impl TestApp {
    /// Stops this server (graceful shutdown: drained, store closed) and starts a new one, with
    /// nothing in memory, on the same database and tenants: a restart.
    pub async fn restart(self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let TestApp { http, a, b, _shutdown, db, server, .. } = self;
        let store = stopped(_shutdown, server, &db).await;
        let (base, tx, server) = start_server(store.clone(), db.0.clone(), tweak).await;
        TestApp { base, http, store, a, b, _shutdown: tx, db, server }
    }

    /// Stops the server (graceful shutdown) and opens the database again, for a look at what
    /// the stopped server left in it.
    pub async fn stop(self) -> Store {
        let TestApp { _shutdown, db, server, .. } = self;
        stopped(_shutdown, server, &db).await
    }

    /// Starts another `lingxi serve` on this app's database while this one runs: a second
    /// node of a cluster. Dropping the sender stops it; await the handle to see it finish.
    pub async fn second_node(
        &self,
        tweak: impl FnOnce(&mut Config),
    ) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let store = connect(&self.db).await;
        start_server(store, self.db.0.clone(), tweak).await
    }

    pub async fn login(&self, email: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    pub async fn inbound(&self, key: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/inbound/messages", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: &str, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn msg(id: &str, idents: Value, text: &str) -> Value {
    json!({ "message_id": id, "customer": { "identifiers": idents, "display_name": "李雷" }, "content": { "type": "text", "text": text } })
}

pub async fn eventually<F, Fut>(mut f: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    for _ in 0..100 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 5 s");
}

/// The conversation's last intent, once the bot has set one.
pub async fn last_intent(app: &TestApp, token: &str, conv: &str) -> Value {
    let path = format!("/api/v1/conversations/{conv}");
    eventually(|| async {
        let (_, v) = app.get(token, &path).await;
        let i = &v["conversation"]["last_intent"];
        (!i.is_null()).then(|| i.clone())
    })
    .await
}

/// The caller's user id (from /api/v1/me).
pub async fn user_id(app: &TestApp, token: &str) -> String {
    app.get(token, "/api/v1/me").await.1["user"]["id"].as_str().unwrap().to_owned()
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the live stream as the given session and reads past its hello.
pub async fn stream(app: &TestApp, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/v1/stream", app.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next_event(&mut ws).await.unwrap()["type"], "hello");
    ws
}

/// The next event on a stream, or None after 3 s of silence.
pub async fn next_event(ws: &mut Ws) -> Option<Value> {
    use futures_util::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_millis(3000), ws.next()).await {
        Ok(Some(Ok(m))) => serde_json::from_str(m.to_text().unwrap_or("null")).ok(),
        _ => None,
    }
}

/// Reads events until one matches (or the stream goes quiet).
pub async fn wait_event(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    while let Some(e) = next_event(ws).await {
        if pred(&e) {
            return Some(e);
        }
    }
    None
}

/// What the customer saw of a bot message: its text, and a rich message's buttons numbered as
/// a plain channel would show them (on the app a choice is buttons; on WeChat numbered lines).
pub fn shown(content: &Value) -> String {
    let mut text = content["text"].as_str().unwrap_or_default().to_owned();
    for (i, b) in content["buttons"].as_array().into_iter().flatten().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, b["label"].as_str().unwrap_or_default()));
    }
    text
}
