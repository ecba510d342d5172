//! `lingxi bench handoff`: starts a real `lingxi serve` in a child process, connects N agents'
//! WebSockets, posts hand-offs over HTTP at a fixed rate (default 500/s), and measures the time
//! from each POST's scheduled send to the assigned agent's stream receiving the assignment
//! (`conversation.updated` with `transition: assign` naming that agent). Prints p50/p99.

use crate::auth::{digest, hash_password, new_secret, CHANNEL_KEY_PREFIX};
use anyhow::{anyhow, Context};
use futures_util::StreamExt;
use lingxi_domain::{ChannelKind, Content, Identifier, IdentifierKind, MergePolicy, Role};
use lingxi_store::{Inbound, TenantPolicy};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(clap::Args, Clone)]
pub struct HandoffArgs {
    /// Hand-offs per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Agents connected over WebSocket (each can hold every conversation: capacity is not
    /// what this measures).
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// A postgres:// URL (a fresh database is created in it); default SQLite in a temp dir.
    #[arg(long)]
    pub postgres: Option<String>,
    #[arg(long, default_value = "warn")]
    pub server_log: String,
}

const PASSWORD: &str = "bench-password-1";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(args: HandoffArgs) -> anyhow::Result<()> {
    let n_conv = (args.rate * args.duration_secs).max(1);
    let scratch = crate::bench::ScratchDir::new()?;
    let dir = &scratch.0;
    let (url, backend) = crate::bench::fresh_database(args.postgres.as_deref(), dir).await?;
    let store = lingxi_store::Store::connect(&url, None).await?;
    store.migrate().await?;
    let now = crate::auth::Clock.now();
    let tenant = store.create_tenant("bench", "Bench", MergePolicy::Automatic, 86_400, now).await?;
    let hash = hash_password(PASSWORD).map_err(|e| anyhow!("{e}"))?;
    let admin = format!("admin-{:x}@bench.test", rand::random::<u32>());
    store.create_user(&tenant.id, &admin, "admin", Role::Admin, &hash, &[], now).await?;
    let mut agents = Vec::new();
    for i in 0..args.agents.max(1) {
        let email = format!("agent{i}-{:x}@bench.test", rand::random::<u32>());
        store.create_user(&tenant.id, &email, &format!("agent {i}"), Role::Agent, &hash, &[], now).await?;
        agents.push(email);
    }
    // One waiting-for-a-person conversation per hand-off, stored before the clock starts.
    let channel = store
        .create_channel(&tenant.id, ChannelKind::WebChat, "web", &digest(&new_secret(CHANNEL_KEY_PREFIX)), None, now)
        .await?;
    let policy = TenantPolicy { merge_policy: MergePolicy::Automatic, reopen_window_secs: 86_400 };
    let mut conversations = Vec::with_capacity(n_conv as usize);
    let ids: Vec<u64> = (0..n_conv).collect();
    for chunk in ids.chunks(256) {
        let batch: Vec<Inbound> = chunk
            .iter()
            .map(|i| Inbound {
                tenant_id: tenant.id.clone(),
                channel_id: channel.id.clone(),
                channel_kind: channel.kind,
                channel_team: None,
                policy,
                identifiers: vec![Identifier::parse(IdentifierKind::MemberId, &format!("H{i}")).expect("member id")],
                display_name: None,
                content: Content::text("转人工").expect("text"),
                external_id: format!("handoff-{i}"),
                sent_at: now,
                received_at: now,
            })
            .collect();
        for r in store.ingest_batch(&batch).await {
            conversations.push(r?.conversation_id.as_str().to_owned());
        }
    }
    store.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _child = Child(
        std::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .env("LINGXI_DATABASE_URL", &url)
            .env("LINGXI_LOG", &args.server_log)
            .env("LINGXI_BOT", "0")
            .env("LINGXI_REPLY_TIMEOUT_SECS", "0")
            .env("LINGXI_AGENT_CHAT_CAPACITY", "100000")
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("spawning lingxi serve")?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let mut ready = false;
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        return Err(anyhow!("the spawned server did not become ready"));
    }
    let login = |email: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let v: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await?
                .json()
                .await?;
            let token = v["token"].as_str().ok_or_else(|| anyhow!("login failed: {v}"))?.to_owned();
            let me: Value = http.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await?.json().await?;
            anyhow::Ok((token, me["user"]["id"].as_str().unwrap_or_default().to_owned()))
        }
    };
    let (admin_token, _) = login(admin).await?;

    // Conversation id → when its hand-off was scheduled; the first assignment seen wins.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let n_assigned = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for email in agents {
        let (token, user_id) = login(email).await?;
        let mut req = format!("{}/api/v1/stream", base.replace("http://", "ws://")).into_client_request()?;
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
        let _hello = ws.next().await;
        let (sent, latencies, n_assigned) = (sent.clone(), latencies.clone(), n_assigned.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Ok(text) = msg.to_text() else { continue };
                // Cheap prefilter: most events are for other agents.
                if !text.contains(&user_id) || !text.contains("\"assign\"") {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(text) else { continue };
                let c = &v["data"]["conversation"];
                if v["type"] == "conversation.updated"
                    && v["data"]["transition"] == "assign"
                    && c["assignee_id"] == user_id.as_str()
                {
                    let at = c["id"].as_str().and_then(|id| sent.lock().unwrap_or_else(|p| p.into_inner()).remove(id));
                    if let Some(at) = at {
                        let us = at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        latencies.lock().unwrap_or_else(|p| p.into_inner()).push(us);
                        n_assigned.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Let the agents' presence settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let load_before = crate::bench::load_average();
    let n_err = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conversations.len());
    for (i, conv) in conversations.iter().enumerate() {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        sent.lock().unwrap_or_else(|p| p.into_inner()).insert(conv.clone(), scheduled);
        let (http, token, n_err) = (http.clone(), admin_token.clone(), n_err.clone());
        let url = format!("{base}/api/v1/conversations/{conv}/transitions");
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "transition": "hand_off", "reason": "bench" }))
                .send()
                .await;
            if !matches!(&r, Ok(r) if r.status().is_success()) {
                n_err.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Give the last assignments a moment to arrive.
    for _ in 0..40 {
        if n_assigned.load(Ordering::Relaxed) >= n_conv {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in readers {
        r.abort();
    }
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    let report = json!({
        "bench": "handoff", "backend": backend, "offered_rate": args.rate, "agents": args.agents,
        "handoffs": n_conv, "assigned_seen": n_assigned.load(Ordering::Relaxed), "http_errors": n_err.load(Ordering::Relaxed),
        "duration_secs": (elapsed * 100.0).round() / 100.0,
        "handoff_to_agent_ws_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0) },
        "load_average_before": load_before, "load_average_after": crate::bench::load_average(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
