//! Queue and routing through the real server: skills and capacity set by an admin, reply
//! timeouts, SLA events, honest waiting messages, and two server processes racing over one
//! PostgreSQL.

use super::*;
use futures_util::StreamExt;
use lingxi_domain::{ConversationId, Transition};
use lingxi_engine::hours::BusinessHours;
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

both!(
    skills_and_capacity_decide_who_gets_what,
    unanswered_conversations_are_reassigned_with_a_record,
    sla_warnings_and_breaches_are_announced_and_recorded_once,
    customers_are_told_honestly_why_they_wait,
);

async fn stream(base: &str, token: &str) -> Ws {
    let mut req = format!("{}/api/v1/stream", base.replace("http://", "ws://")).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("hello"));
    ws
}

/// The next event of type `kind` on the stream matching `pred`, within `secs`.
async fn next_event(ws: &mut Ws, kind: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within {secs} s"))
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        if v["type"] == kind && pred(&v["data"]) {
            return v["data"].clone();
        }
    }
}

impl TestApp {
    async fn user_id(&self, token: &str) -> String {
        self.get(token, "/api/v1/me").await.1["user"]["id"].as_str().unwrap().to_owned()
    }

    /// A new conversation from a new customer, handed to people by `token`.
    async fn hand_off(&self, key: &str, token: &str, n: &str, text: &str) -> String {
        let (s, m) = self.inbound(key, msg(n, json!([{ "kind": "member_id", "value": format!("R{n}") }]), text)).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let conv = m["conversation_id"].as_str().unwrap().to_owned();
        self.hand_off_existing(&conv, token).await;
        conv
    }

    async fn hand_off_existing(&self, conv: &str, token: &str) {
        let (s, v) = self
            .send(
                "post",
                token,
                &format!("/api/v1/conversations/{conv}/transitions"),
                Some(json!({ "transition": "hand_off", "reason": "customer asked for a person" })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    async fn owner(&self, token: &str, conv: &str) -> (String, Option<String>) {
        let (_, v) = self.get(token, &format!("/api/v1/conversations/{conv}")).await;
        (
            v["conversation"]["state"].as_str().unwrap().to_owned(),
            v["conversation"]["assignee_id"].as_str().map(str::to_owned),
        )
    }

    async fn messages_of(&self, token: &str, conv: &str) -> Vec<Value> {
        let (_, v) = self.get(token, &format!("/api/v1/conversations/{conv}")).await;
        v["messages"].as_array().unwrap().clone()
    }
}

async fn skills_and_capacity_decide_who_gets_what(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.routing.required_skills_by_intent.insert("refund_dispute".into(), vec!["product:billing".into()]);
    })
    .await;
    let admin = app.login(&app.a.admin).await;
    let agent = app.login(&app.a.agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let (agent_id, sup_id) = (app.user_id(&agent).await, app.user_id(&sup).await);

    // Parsed at the edge: unknown kinds, bad values and out-of-range capacities are refused.
    for bad in [
        json!({ "skills": ["color:red"] }),
        json!({ "skills": ["lang:"] }),
        json!({ "capacity": { "chat": -1 } }),
        json!({ "capacity": { "chat": 1001 } }),
        json!({ "skills": "lang:en" }),
        json!({ "skils": [] }),
    ] {
        let (s, v) = app.send("patch", &admin, &format!("/api/v1/users/{agent_id}"), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} -> {v}");
    }
    let (s, _) = app.send("patch", &agent, &format!("/api/v1/users/{agent_id}"), Some(json!({ "skills": [] }))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only admins set routing profiles");
    let (s, v) = app
        .send(
            "patch",
            &admin,
            &format!("/api/v1/users/{agent_id}"),
            Some(json!({ "skills": ["product:billing", "LANG:zh"], "capacity": { "chat": 2, "email": 7 } })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["routing"],
        json!({ "skills": ["product:billing", "lang:zh"], "capacity": { "chat": 2, "email": 7 } })
    );

    let _agent_ws = stream(&app.base, &agent).await;
    let _sup_ws = stream(&app.base, &sup).await;
    let (_, q) = app.get(&sup, "/api/v1/queues").await;
    let me = q["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == agent_id.as_str()).unwrap().clone();
    assert_eq!((me["chat_capacity"].as_i64(), me["email_capacity"].as_i64()), (Some(2), Some(7)));
    assert_eq!(me["skills"], json!(["product:billing", "lang:zh"]));

    // Refund disputes need product:billing: only the agent qualifies, up to their capacity of 2,
    // although the supervisor is online and idle.
    let mut convs = Vec::new();
    for i in 0..3 {
        let (_, m) = app
            .inbound(
                &app.a.wechat_key,
                msg(&format!("s{i}"), json!([{ "kind": "member_id", "value": format!("S{i}") }]), "退款有争议"),
            )
            .await;
        let conv = m["conversation_id"].as_str().unwrap().to_owned();
        app.store
            .set_last_intent(
                &lingxi_domain::TenantId::parse(&q_tenant(&app, &admin).await).unwrap(),
                &ConversationId::parse(&conv).unwrap(),
                "refund_dispute",
            )
            .await
            .unwrap();
        app.hand_off_existing(&conv, &admin).await;
        convs.push(conv);
    }
    assert_eq!(app.owner(&sup, &convs[0]).await, ("assigned".into(), Some(agent_id.clone())));
    assert_eq!(app.owner(&sup, &convs[1]).await, ("assigned".into(), Some(agent_id.clone())));
    assert_eq!(app.owner(&sup, &convs[2]).await, ("queued".into(), None));
    // Conversations without the intent go to whoever is least loaded: the supervisor.
    let plain = app.hand_off(&app.a.wechat_key, &admin, "p1", "转人工").await;
    assert_eq!(app.owner(&sup, &plain).await, ("assigned".into(), Some(sup_id.clone())));
    // Giving the supervisor the skill routes the waiting dispute to them at once.
    let (s, _) = app
        .send("patch", &admin, &format!("/api/v1/users/{sup_id}"), Some(json!({ "skills": ["product:billing"] })))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.owner(&sup, &convs[2]).await, ("assigned".into(), Some(sup_id.clone())));
    let audit = app
        .store
        .list_audit(&lingxi_domain::TenantId::parse(&q_tenant(&app, &admin).await).unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "user.routing").count(), 2);
    // An agent created while the server runs takes work as soon as their console connects
    // (the supervisor steps away first, so customers wait).
    let (s, _) = app.send("post", &sup, "/api/v1/me/presence", Some(json!({ "presence": "away" }))).await;
    assert_eq!(s, StatusCode::OK);
    let email = format!("new-{}@alpha.test", rand_hex());
    let (s, v) = app
        .send(
            "post",
            &admin,
            "/api/v1/users",
            Some(json!({ "email": email, "name": "new", "role": "agent", "password": PASSWORD })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let waiting = app.hand_off(&app.a.wechat_key, &admin, "p2", "转人工").await;
    assert_eq!(app.owner(&sup, &waiting).await.0, "queued");
    let newbie = app.login(&email).await;
    let _new_ws = stream(&app.base, &newbie).await;
    let newbie_id = app.user_id(&newbie).await;
    let (_, q) = app.get(&sup, "/api/v1/queues").await;
    let n = q["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == newbie_id.as_str()).unwrap().clone();
    assert_eq!(n["presence"], "online");
    assert!(n["chat_load"].as_u64().unwrap() >= 1, "{n}");
}

async fn q_tenant(app: &TestApp, token: &str) -> String {
    app.get(token, "/api/v1/me").await.1["user"]["tenant_id"].as_str().unwrap().to_owned()
}

async fn unanswered_conversations_are_reassigned_with_a_record(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        // Long enough that a loaded machine answers within it (the test's own reply below).
        c.routing.reply_timeout_ms = 1000;
        c.routing.tick_ms = 50;
    })
    .await;
    let admin = app.login(&app.a.admin).await;
    let agent = app.login(&app.a.agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let ids = [app.user_id(&agent).await, app.user_id(&sup).await];
    let mut admin_ws = stream(&app.base, &admin).await;
    let _a = stream(&app.base, &agent).await;
    let _s = stream(&app.base, &sup).await;
    // Counted from before the hand-off, so the bound below holds however slowly the calls return.
    let started = std::time::Instant::now();
    let conv = app.hand_off(&app.a.wechat_key, &admin, "u1", "转人工").await;
    let (_, first) = app.owner(&admin, &conv).await;
    let first = first.expect("assigned at once");
    let other = ids.iter().find(|i| **i != first).unwrap().clone();
    // Nobody answers: within the timeout (plus a tick) it goes back and to the other agent.
    let ev = next_event(&mut admin_ws, "conversation.updated", 5, |d| {
        d["conversation"]["id"] == conv.as_str()
            && d["transition"] == "assign"
            && d["conversation"]["assignee_id"] == other.as_str()
    })
    .await;
    assert_eq!(ev["reason"], "routing");
    // The new owner answers in time and keeps it.
    let other_token = if other == ids[0] { &agent } else { &sup };
    let (s, _) = app
        .send(
            "post",
            other_token,
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(json!({ "content": { "type": "text", "text": "您好" } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_millis(1000), "not before the timeout");
    let (_, q) = app.get(&admin, "/api/v1/queues").await;
    let presence =
        |id: &str| q["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == id).unwrap()["presence"].clone();
    assert_eq!(presence(&first), "away", "an agent who left a customer unanswered stops receiving work");
    let audit = app
        .store
        .list_audit(&lingxi_domain::TenantId::parse(&q_tenant(&app, &admin).await).unwrap(), 100)
        .await
        .unwrap();
    let requeue =
        audit.iter().find(|a| a.action == "conversation.requeue" && a.target == conv).expect("requeue recorded");
    assert_eq!(requeue.detail["reason"], "unanswered");
    assert_eq!(requeue.actor, "router");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(app.owner(&admin, &conv).await, ("assigned".into(), Some(other.clone())));
}

async fn sla_warnings_and_breaches_are_announced_and_recorded_once(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.routing.tick_ms = 50;
        c.routing.sla = lingxi_engine::sla::SlaPolicies::new()
            .with(0, lingxi_server::routing::config::targets(Some(1500), Some(60_000), Some(60_000), 50));
    })
    .await;
    let admin = app.login(&app.a.admin).await;
    let mut ws = stream(&app.base, &admin).await;
    // Nobody online: the first response clock runs.
    let conv = app.hand_off(&app.a.wechat_key, &admin, "sla1", "转人工").await;
    let w = next_event(&mut ws, "sla.warning", 5, |d| d["conversation_id"] == conv.as_str()).await;
    assert_eq!(w["metric"], "first_response");
    let b = next_event(&mut ws, "sla.breach", 5, |d| d["conversation_id"] == conv.as_str()).await;
    assert_eq!(b["metric"], "first_response");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let tenant = lingxi_domain::TenantId::parse(&q_tenant(&app, &admin).await).unwrap();
    let events = app.store.sla_events(&tenant, &ConversationId::parse(&conv).unwrap()).await.unwrap();
    let kinds: Vec<(String, String)> = events.into_iter().map(|(m, l, _)| (m, l)).collect();
    assert_eq!(kinds, vec![("first_response".into(), "warning".into()), ("first_response".into(), "breach".into())]);
    let audit = app.store.list_audit(&tenant, 100).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "sla.breach" && a.target == conv).count(), 1);
    // A conversation answered in time raises nothing.
    let agent = app.login(&app.a.agent).await;
    let _agent_ws = stream(&app.base, &agent).await;
    let fast = app.hand_off(&app.a.wechat_key, &admin, "sla2", "转人工").await;
    assert_eq!(app.owner(&admin, &fast).await.1.as_deref(), Some(app.user_id(&agent).await.as_str()));
    let (s, _) = app
        .send(
            "post",
            &agent,
            &format!("/api/v1/conversations/{fast}/messages"),
            Some(json!({ "content": { "type": "text", "text": "在的" } })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(app.store.sla_events(&tenant, &ConversationId::parse(&fast).unwrap()).await.unwrap().is_empty());
}

/// A business-hours spec that is closed right now (one minute on a day that is not today).
fn closed_now() -> String {
    let now = lingxi_server::auth::Clock.now().millis();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!("{d} 03:00-03:01"))
        .find(|spec| {
            let h = BusinessHours::parse(spec, 480).unwrap();
            !h.is_open(now) && h.next_open_ms(now) - now > 3_600_000
        })
        .unwrap()
}

async fn customers_are_told_honestly_why_they_wait(backend: Backend) {
    let spec = closed_now();
    let app = spawn_app_with(backend, |c| {
        c.routing.tenant_business_hours.insert("alpha".into(), BusinessHours::parse(&spec, 480).unwrap());
    })
    .await;
    let admin = app.login(&app.a.admin).await;
    // Closed: told so, with the next opening; the conversation waits in the queue.
    let conv = app.hand_off(&app.a.wechat_key, &admin, "h1", "转人工").await;
    assert_eq!(app.owner(&admin, &conv).await, ("queued".into(), None));
    let msgs = app.messages_of(&admin, &conv).await;
    let last = msgs.last().unwrap();
    assert_eq!(last["sender"]["kind"], "bot", "{last}");
    let text = last["content"]["text"].as_str().unwrap();
    assert!(text.contains("非工作时间") && text.contains(&spec), "{text}");
    // An agent coming online takes it at once.
    let agent = app.login(&app.a.agent).await;
    let _ws = stream(&app.base, &agent).await;
    assert_eq!(app.owner(&admin, &conv).await, ("assigned".into(), Some(app.user_id(&agent).await)));

    // Tenant B is always open; with nobody online an English-speaking customer hears it in English.
    let b_admin = app.login(&app.b.admin).await;
    let en = app.hand_off(&app.b.wechat_key, &b_admin, "h2", "I need a human please").await;
    let text = app.messages_of(&b_admin, &en).await.last().unwrap()["content"]["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("No agent who can handle this is online") && text.contains("number 1 in the queue"),
        "{text}"
    );
    // With the only agent busy (capacity 1), the next customer hears their place and the wait.
    let b_agent = app.login(&app.b.agent).await;
    let b_agent_id = app.user_id(&b_agent).await;
    let (s, _) = app
        .send("patch", &b_admin, &format!("/api/v1/users/{b_agent_id}"), Some(json!({ "capacity": { "chat": 1 } })))
        .await;
    assert_eq!(s, StatusCode::OK);
    let _b_ws = stream(&app.base, &b_agent).await;
    assert_eq!(app.owner(&b_admin, &en).await.1.as_deref(), Some(b_agent_id.as_str()));
    let b_sup = app.login(&app.b.supervisor).await;
    let (s, _) = app.send("post", &b_sup, "/api/v1/me/presence", Some(json!({ "presence": "offline" }))).await;
    assert_eq!(s, StatusCode::OK);
    let waiting = app.hand_off(&app.b.wechat_key, &b_admin, "h3", "转人工").await;
    let waiting2 = app.hand_off(&app.b.wechat_key, &b_admin, "h4", "转人工").await;
    assert_eq!(app.owner(&b_admin, &waiting).await.0, "queued");
    let text =
        app.messages_of(&b_admin, &waiting2).await.last().unwrap()["content"]["text"].as_str().unwrap().to_owned();
    // Two places to free with one agent at the default 300 s each: about 10 minutes.
    assert!(text.contains("前面还有 1 位，预计等待约 10 分钟"), "{text}");
}

/// Two real `lingxi serve` processes on one PostgreSQL database race to assign the same queue
/// to agents connected to either; hand-offs keep arriving on both meanwhile. No conversation
/// ever has two owners (each is assigned at most once: nothing was requeued), none is lost
/// (each ends assigned or queued, never both, never neither), capacity holds, and a resolve on
/// one node backfills agents of the other (nodes learn of each other through the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_double_assign() {
    use lingxi_domain::{Content, Identifier, IdentifierKind};
    let pg = std::env::var("LINGXI_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
    let db = format!("race_{}", rand_hex());
    let admin_store = Store::connect(&pg, None).await.expect("PostgreSQL is required");
    admin_store.execute_raw(&format!("CREATE DATABASE {db}")).await.unwrap();
    admin_store.close().await;
    let url = format!("{}/{db}", pg.rsplit_once('/').unwrap().0);
    let store = Store::connect(&url, None).await.unwrap();
    store.migrate().await.unwrap();
    let now = lingxi_server::auth::Clock.now();
    let t = store.create_tenant("race", "race", MergePolicy::Automatic, 3600, now).await.unwrap();
    let admin_email = format!("admin@{}.test", rand_hex());
    store.create_user(&t.id, &admin_email, "admin", Role::Admin, password_hash(), &[], now).await.unwrap();
    const CAP: usize = 4;
    let mut agents = Vec::new();
    for i in 0..6 {
        let email = format!("agent{i}@{}.test", rand_hex());
        let u = store.create_user(&t.id, &email, "agent", Role::Agent, password_hash(), &[], now).await.unwrap();
        let p = lingxi_store::RoutingProfile { skills: vec![], chat_capacity: Some(CAP as i64), email_capacity: None };
        store.set_routing_profile(&t.id, &u.id, &p).await.unwrap();
        agents.push(email);
    }
    let key = new_secret(CHANNEL_KEY_PREFIX);
    let channel = store.create_channel(&t.id, ChannelKind::WebChat, "web", &digest(&key), None, now).await.unwrap();
    let policy = lingxi_store::TenantPolicy { merge_policy: MergePolicy::Automatic, reopen_window_secs: 3600 };
    let mut convs = Vec::new();
    for i in 0..40 {
        let out = store
            .ingest(&lingxi_store::Inbound {
                tenant_id: t.id.clone(),
                channel_id: channel.id.clone(),
                channel_kind: channel.kind,
                channel_team: None,
                policy,
                identifiers: vec![Identifier::parse(IdentifierKind::MemberId, &format!("Q{i}")).unwrap()],
                display_name: None,
                content: Content::text("转人工").unwrap(),
                external_id: format!("q{i}"),
                sent_at: now,
                received_at: now,
            })
            .await
            .unwrap();
        if i < 24 {
            // Already waiting before either process starts: both load it and race.
            store.transition(&t.id, &out.conversation_id, Transition::HandOff, None, None, "test", now).await.unwrap();
        }
        convs.push(out.conversation_id.as_str().to_owned());
    }

    let cfg = std::env::temp_dir().join(format!("lingxi-race-{}.toml", rand_hex()));
    std::fs::write(&cfg, "[routing]\nsync_ms = 1000\ntick_ms = 50\nreply_timeout_secs = 0\n").unwrap();
    let mut children = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("lingxi-race-{}", rand_hex()));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_lingxi"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&dir)
            .env("LINGXI_DATABASE_URL", &url)
            .env("LINGXI_CONFIG", &cfg)
            .env("LINGXI_BOT", "0")
            .env("LINGXI_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        children.push(KillOnDrop(child));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let http = Client::new();
    for base in &bases {
        let mut up = false;
        for _ in 0..200 {
            if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "{base} did not start");
    }
    let login = |base: String, email: String| {
        let http = http.clone();
        async move {
            let v: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        }
    };
    let admin_tokens =
        [login(bases[0].clone(), admin_email.clone()).await, login(bases[1].clone(), admin_email.clone()).await];
    let mut tokens = Vec::new();
    for (i, email) in agents.iter().enumerate() {
        tokens.push((bases[i % 2].clone(), login(bases[i % 2].clone(), email.clone()).await));
    }
    // Both nodes load the same waiting queue (nobody online yet) ...
    for (i, base) in bases.iter().enumerate() {
        let v: Value = http
            .get(format!("{base}/api/v1/queues"))
            .bearer_auth(&admin_tokens[i])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["waiting"].as_array().unwrap().len(), 24);
    }
    // ... then all agents connect at once (each node's router loads the same queue and assigns it),
    // while the remaining customers are handed off alternately through either node.
    let connects: Vec<_> =
        tokens.iter().cloned().map(|(base, token)| tokio::spawn(async move { stream(&base, &token).await })).collect();
    let handoffs = convs[24..].iter().cloned().enumerate().map(|(i, c)| {
        let (http, base, token) = (http.clone(), bases[i % 2].clone(), admin_tokens[i % 2].clone());
        tokio::spawn(async move {
            let r = http
                .post(format!("{base}/api/v1/conversations/{c}/transitions"))
                .bearer_auth(token)
                .json(&json!({ "transition": "hand_off" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        })
    });
    let handoffs: Vec<_> = handoffs.collect();
    let mut streams = Vec::new();
    for c in connects {
        streams.push(c.await.unwrap());
    }
    for h in handoffs {
        h.await.unwrap();
    }

    let total_capacity = CAP * agents.len();
    let check = |store: Store, tenant: lingxi_domain::TenantId, convs: Vec<String>| async move {
        let mut assigned: HashMap<String, usize> = HashMap::new();
        let (mut n_assigned, mut n_queued) = (0, 0);
        for c in &convs {
            let row = store.conversation(&tenant, &ConversationId::parse(c).unwrap()).await.unwrap();
            match (row.state.as_str(), &row.assignee_id) {
                ("assigned", Some(a)) => {
                    n_assigned += 1;
                    *assigned.entry(a.as_str().to_owned()).or_default() += 1;
                }
                ("queued", None) => n_queued += 1,
                other => panic!("{c} is lost or doubly owned: {other:?}"),
            }
        }
        assert!(assigned.values().all(|n| *n <= CAP), "capacity exceeded: {assigned:?}");
        (n_assigned, n_queued)
    };
    let mut settled = false;
    for _ in 0..100 {
        let (a, q) = check(store.clone(), t.id.clone(), convs.clone()).await;
        assert_eq!(a + q, convs.len());
        if a == total_capacity {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "every agent filled to capacity");
    // Never two owners: every successful assignment is in the audit log, and nothing was
    // requeued, so no conversation may have been assigned twice.
    let audit = store.list_audit(&t.id, 10_000).await.unwrap();
    assert!(!audit.iter().any(|a| a.action == "conversation.requeue"));
    let mut n_assign: HashMap<&str, usize> = HashMap::new();
    for a in audit.iter().filter(|a| a.action == "conversation.assign") {
        *n_assign.entry(a.target.as_str()).or_default() += 1;
    }
    assert_eq!(n_assign.len(), total_capacity);
    assert!(n_assign.values().all(|n| *n == 1), "a conversation was assigned twice: {n_assign:?}");

    // The race was real: between them the nodes had decisions refused by the store.
    let mut conflicts = 0u64;
    for base in &bases {
        let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let line = text.lines().find(|l| l.starts_with("lingxi_routing_conflicts_total ")).unwrap();
        conflicts += line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap();
    }
    assert!(conflicts > 0, "both nodes decided about the same conversations");
    // Both nodes' views converge on the store's queue.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let queued_in_store: std::collections::BTreeSet<String> = {
        let f = lingxi_store::ConversationFilter {
            state: Some(lingxi_domain::ConversationState::Queued),
            limit: 1000,
            ..Default::default()
        };
        store.list_conversations(&t.id, &f).await.unwrap().into_iter().map(|c| c.id.as_str().to_owned()).collect()
    };
    for (i, base) in bases.iter().enumerate() {
        let v: Value = http
            .get(format!("{base}/api/v1/queues"))
            .bearer_auth(&admin_tokens[i])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let waiting: std::collections::BTreeSet<String> = v["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["conversation_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(waiting, queued_in_store, "node {i} sees the store's queue");
    }

    // Resolving on node 1 what node 0's agents own frees them; node 0 learns through the store
    // and backfills from the queue.
    let owned_on_0: Vec<String> = {
        let v: Value = http
            .get(format!("{}/api/v1/queues", bases[0]))
            .bearer_auth(&admin_tokens[0])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["presence"] == "online")
            .flat_map(|a| a["conversations"].as_array().unwrap().clone())
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(owned_on_0.len(), CAP * 3);
    for c in owned_on_0.iter().take(3) {
        let r = http
            .post(format!("{}/api/v1/conversations/{c}/transitions", bases[1]))
            .bearer_auth(&admin_tokens[1])
            .json(&json!({ "transition": "resolve" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let open: Vec<String> = convs.iter().filter(|c| !owned_on_0[..3].contains(c)).cloned().collect();
    let mut refilled = false;
    for _ in 0..80 {
        let (a, q) = check(store.clone(), t.id.clone(), open.clone()).await;
        assert_eq!(a + q, open.len());
        if a == total_capacity {
            refilled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refilled, "node 0 backfilled its freed agents from the shared queue");
    drop(streams);
    drop(children);
    let _ = std::fs::remove_file(&cfg);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
