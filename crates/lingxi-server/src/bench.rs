//! Load generators (`lingxi bench …`). `bench ingest` starts a real `lingxi serve` in a child
//! process (or targets a running one), posts inbound messages over HTTP from many simulated
//! customers across channels, and prints throughput, latency percentiles and the server's
//! peak RSS. Latency is measured from each request's scheduled send time, so a stalled
//! server cannot hide its stalls (no coordinated omission).

use crate::auth::{digest, new_secret, CHANNEL_KEY_PREFIX};
use crate::config::Config;
use anyhow::{anyhow, Context};
use lingxi_domain::{ChannelKind, MergePolicy};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// Post inbound messages and report throughput and latency.
    Ingest(IngestArgs),
    /// The store alone: `Store::ingest_batch` in-process on a fresh database, batch after
    /// batch, with the same traffic shape as `ingest` (what the HTTP layer adds on top).
    Store(StoreArgs),
    /// Hand-offs over HTTP at a fixed rate to agents on WebSockets: time from the POST to the
    /// assigned agent's stream receiving the assignment.
    Handoff(crate::bench_handoff::HandoffArgs),
}

#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Messages per `ingest_batch` call (the server's writer takes up to 256).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    /// A postgres:// URL (a fresh database is created in it); default SQLite in a temp dir.
    #[arg(long)]
    pub postgres: Option<String>,
}

#[derive(clap::Args, Clone)]
pub struct IngestArgs {
    /// Requests per second to offer; 0 sends as fast as `connections` workers can.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Stop after this many messages instead (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub messages: u64,
    /// Concurrent workers in closed-loop mode (rate 0), max in-flight requests otherwise.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Distinct simulated customers.
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    /// `inbound` (the real pipeline) or `healthz` (the framework ceiling).
    #[arg(long, default_value = "inbound")]
    pub endpoint: String,
    /// Target a running server instead of spawning one (needs --keys).
    #[arg(long)]
    pub target: Option<String>,
    /// Comma-separated channel keys for --target.
    #[arg(long)]
    pub keys: Option<String>,
    /// For a spawned server: a postgres:// URL (a fresh database is created in it);
    /// default SQLite in a temporary data dir.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Log filter for the spawned server (its log goes to this process's stderr), e.g.
    /// `warn,lingxi_store=debug` to see batches falling back to the per-message path.
    #[arg(long, default_value = "warn")]
    pub server_log: String,
}

pub async fn run(cmd: BenchCmd, _config: &Config) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Ingest(args) => ingest(args).await,
        BenchCmd::Store(args) => store_only(args).await,
        BenchCmd::Handoff(args) => crate::bench_handoff::run(args).await,
    }
}

/// A fresh database URL: SQLite in `dir`, or a new database next to the given PostgreSQL one.
pub(crate) async fn fresh_database(postgres: Option<&str>, dir: &std::path::Path) -> anyhow::Result<(String, String)> {
    Ok(match postgres {
        Some(pg) => {
            let db = format!("lingxi_bench_{:x}", rand::random::<u32>());
            let admin = lingxi_store::Store::connect(pg, None).await?;
            admin.execute_raw(&format!("CREATE DATABASE {db}")).await?;
            admin.close().await;
            let base = pg.rsplit_once('/').map(|(b, _)| b.to_owned()).ok_or_else(|| anyhow!("bad --postgres URL"))?;
            (format!("{base}/{db}"), "postgres".to_owned())
        }
        None => (format!("sqlite://{}", dir.join("lingxi.db").display()), "sqlite".to_owned()),
    })
}

async fn store_only(args: StoreArgs) -> anyhow::Result<()> {
    use lingxi_domain::{Content, Identifier, IdentifierKind};
    use lingxi_store::{Inbound, TenantPolicy};
    let scratch = ScratchDir::new()?;
    let dir = &scratch.0;
    let (url, backend) = fresh_database(args.postgres.as_deref(), dir).await?;
    let store = lingxi_store::Store::connect(&url, None).await?;
    store.migrate().await?;
    let clock = crate::auth::Clock;
    let tenant = store.create_tenant("bench", "Bench", MergePolicy::Automatic, 86_400, clock.now()).await?;
    let mut channels = Vec::new();
    for kind in ChannelKind::ALL {
        channels.push(
            store.create_channel(&tenant.id, kind, kind.as_str(), &digest(&new_secret("k")), None, clock.now()).await?,
        );
    }
    let policy = TenantPolicy { merge_policy: MergePolicy::Automatic, reopen_window_secs: 86_400 };
    let customers = args.customers.max(1);
    let cpu_before = cpu_secs(std::process::id());
    let started = Instant::now();
    let mut i = 0u64;
    let mut batch_ms = Vec::new();
    while i < args.messages {
        let now = clock.now();
        let batch: Vec<Inbound> = (i..(i + args.batch.max(1) as u64).min(args.messages))
            .map(|i| {
                let c = (i.wrapping_mul(2_654_435_761)) % customers;
                let ch = &channels[(i % channels.len() as u64) as usize];
                let mut identifiers =
                    vec![Identifier::parse(IdentifierKind::Phone, &format!("139{c:08}")).expect("phone")];
                if c.is_multiple_of(3) {
                    identifiers.push(Identifier::parse(IdentifierKind::MemberId, &format!("M{c}")).expect("member"));
                }
                Inbound {
                    tenant_id: tenant.id.clone(),
                    channel_id: ch.id.clone(),
                    channel_kind: ch.kind,
                    channel_team: None,
                    policy,
                    identifiers,
                    display_name: Some(format!("客户{c}")),
                    content: Content::text(&format!("你好，我的订单 DD{i:010} 什么时候发货？")).expect("text"),
                    external_id: format!("bench-{i}"),
                    sent_at: now,
                    received_at: now,
                }
            })
            .collect();
        let n = batch.len() as u64;
        let t = Instant::now();
        for r in store.ingest_batch(&batch).await {
            r?;
        }
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        i += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_secs(std::process::id())) {
        (Some(b), Some(a)) => Some(((a - b) / i as f64 * 1e6).round()),
        _ => None,
    };
    batch_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| batch_ms[((batch_ms.len() as f64 * p).ceil() as usize).clamp(1, batch_ms.len()) - 1];
    let (set_based, fallbacks) = lingxi_store::Store::ingest_path_counts();
    store.close().await;
    let report = json!({
        "bench": "store", "backend": backend, "messages": i, "batch": args.batch,
        "duration_secs": (elapsed * 100.0).round() / 100.0, "throughput_per_sec": (i as f64 / elapsed).round(),
        "batch_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0) },
        "cpu_us_per_message": cpu, "set_based_messages": set_based, "fallback_batches": fallbacks,
        "load_average_after": load_average(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

struct Spawned {
    child: std::process::Child,
    dir: std::path::PathBuf,
    base: String,
    keys: Vec<String>,
    backend: String,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh data folder for one benchmark run, removed when the run ends (a million-message
/// SQLite run leaves hundreds of megabytes behind otherwise).
pub(crate) struct ScratchDir(pub std::path::PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> anyhow::Result<ScratchDir> {
        let dir = std::env::temp_dir().join(format!("lingxi-bench-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn spawn_server(args: &IngestArgs) -> anyhow::Result<Spawned> {
    // Spawned owns the folder from here on and removes it when dropped.
    let dir = std::env::temp_dir().join(format!("lingxi-bench-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    let (url, backend) = fresh_database(args.postgres.as_deref(), &dir).await?;
    let store = lingxi_store::Store::connect(&url, None).await?;
    store.migrate().await?;
    let now = crate::auth::Clock.now();
    let tenant = store.create_tenant("bench", "Bench", MergePolicy::Automatic, 86_400, now).await?;
    let mut keys = Vec::new();
    for kind in ChannelKind::ALL {
        let key = new_secret(CHANNEL_KEY_PREFIX);
        store.create_channel(&tenant.id, kind, kind.as_str(), &digest(&key), None, now).await?;
        keys.push(key);
    }
    store.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&dir)
        .env("LINGXI_DATABASE_URL", &url)
        .env("LINGXI_LOG", &args.server_log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("spawning lingxi serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(Spawned { child, dir, base, keys, backend });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow!("the spawned server did not become ready"))
}

/// A `/proc/<pid>/status` field in KiB: `VmHWM` (peak resident set) or `VmRSS` (current).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`. The server
/// and the load generator share the machine, so each side's CPU per message is what tells
/// where the time goes.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux we run on.
    Some(ticks / 100.0)
}

/// The 1-, 5- and 15-minute load averages: the machine is shared, so every report says how busy it was.
pub(crate) fn load_average() -> Option<Vec<f64>> {
    let raw = std::fs::read_to_string("/proc/loadavg").ok()?;
    raw.split_whitespace().take(3).map(|v| v.parse().ok()).collect()
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn body(i: u64, customers: u64) -> String {
    // Spread messages over customers and channels; every third customer also sends a member id,
    // which exercises multi-identifier resolution.
    let c = (i.wrapping_mul(2_654_435_761)) % customers;
    let phone = format!("139{:08}", c);
    let idents = if c.is_multiple_of(3) {
        json!([{ "kind": "phone", "value": phone }, { "kind": "member_id", "value": format!("M{c}") }])
    } else {
        json!([{ "kind": "phone", "value": phone }])
    };
    json!({ "message_id": format!("bench-{i}"), "customer": { "identifiers": idents, "display_name": format!("客户{c}") },
        "content": { "type": "text", "text": format!("你好，我的订单 DD{:010} 什么时候发货？", i) } })
    .to_string()
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let spawned = match &args.target {
        Some(_) => None,
        None => Some(spawn_server(&args).await?),
    };
    let (base, keys, backend) = match (&spawned, &args.target) {
        (Some(s), _) => (s.base.clone(), s.keys.clone(), s.backend.clone()),
        (None, Some(t)) => {
            let keys: Vec<String> =
                args.keys.as_deref().unwrap_or("").split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect();
            if keys.is_empty() && args.endpoint == "inbound" {
                return Err(anyhow!("--target needs --keys"));
            }
            (t.trim_end_matches('/').to_owned(), keys, "external".to_owned())
        }
        _ => unreachable!(),
    };
    let healthz = args.endpoint == "healthz";
    if !healthz && args.endpoint != "inbound" {
        return Err(anyhow!("--endpoint must be inbound or healthz"));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections * 2).build()?;
    let latencies = Arc::new(Mutex::new(Vec::<u32>::with_capacity(1 << 20)));
    let n_ok = Arc::new(AtomicU64::new(0));
    let n_err = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let limit = if args.messages > 0 { args.messages } else { u64::MAX };
    let deadline = Duration::from_secs(args.duration_secs.max(1));
    let url_inbound = format!("{base}/api/v1/inbound/messages");
    let url_health = format!("{base}/healthz");
    let load_before = load_average();
    let server_cpu_before = spawned.as_ref().and_then(|s| cpu_secs(s.child.id()));
    let client_cpu_before = cpu_secs(std::process::id());
    let started = Instant::now();

    let send = {
        let (client, keys, latencies, n_ok, n_err) =
            (client.clone(), keys.clone(), latencies.clone(), n_ok.clone(), n_err.clone());
        let customers = args.customers.max(1);
        move |i: u64, scheduled: Instant| {
            let (client, keys, latencies, n_ok, n_err) =
                (client.clone(), keys.clone(), latencies.clone(), n_ok.clone(), n_err.clone());
            let (url_inbound, url_health) = (url_inbound.clone(), url_health.clone());
            async move {
                let res = if healthz {
                    client.get(&url_health).send().await
                } else {
                    let key = &keys[(i % keys.len() as u64) as usize];
                    client
                        .post(&url_inbound)
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(body(i, customers))
                        .send()
                        .await
                };
                let ok = matches!(&res, Ok(r) if r.status().is_success());
                if ok {
                    n_ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    n_err.fetch_add(1, Ordering::Relaxed);
                }
                let micros = scheduled.elapsed().as_micros().min(u32::MAX as u128) as u32;
                latencies.lock().unwrap_or_else(|p| p.into_inner()).push(micros);
            }
        }
    };

    if args.rate == 0 {
        let mut workers = Vec::new();
        for _ in 0..args.connections.max(1) {
            let (seq, stop, send) = (seq.clone(), stop.clone(), send.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = seq.fetch_add(1, Ordering::Relaxed);
                    if i >= limit || started.elapsed() > deadline {
                        break;
                    }
                    send(i, Instant::now()).await;
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
    } else {
        let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
        let permits = Arc::new(tokio::sync::Semaphore::new(args.connections.max(1) * 16));
        let mut tasks = Vec::new();
        let mut i = 0u64;
        while i < limit && started.elapsed() < deadline {
            let scheduled = started + interval.mul_f64(i as f64);
            tokio::time::sleep_until(scheduled.into()).await;
            let permit = permits.clone().acquire_owned().await?;
            let fut = send(i, scheduled);
            tasks.push(tokio::spawn(async move {
                fut.await;
                drop(permit);
            }));
            i += 1;
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    let ok = n_ok.load(Ordering::Relaxed);
    let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
    let rss = spawned.as_ref().and_then(|s| status_kib(s.child.id(), "VmHWM:"));
    let rss_now = spawned.as_ref().and_then(|s| status_kib(s.child.id(), "VmRSS:"));
    let per_msg_us = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) if ok > 0 => Some(((a - b) / ok as f64 * 1e6).round()),
        _ => None,
    };
    let server_cpu_us = per_msg_us(server_cpu_before, spawned.as_ref().and_then(|s| cpu_secs(s.child.id())));
    let client_cpu_us = per_msg_us(client_cpu_before, cpu_secs(std::process::id()));
    let data_mib = spawned.as_ref().filter(|s| s.backend == "sqlite").map(|s| mib(dir_bytes(&s.dir) / 1024));
    let stored = if let (Some(_), false) = (&spawned, healthz) { Some(ok) } else { None };
    let report = json!({
        "endpoint": args.endpoint, "backend": backend, "offered_rate": if args.rate == 0 { json!("max") } else { json!(args.rate) },
        "connections": args.connections, "duration_secs": (elapsed * 100.0).round() / 100.0,
        "ok": ok, "errors": n_err.load(Ordering::Relaxed), "throughput_per_sec": (ok as f64 / elapsed).round(),
        "latency_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1.0) },
        "server_peak_rss_mib": rss.map(mib), "server_rss_at_end_mib": rss_now.map(mib),
        "server_cpu_us_per_request": server_cpu_us, "client_cpu_us_per_request": client_cpu_us,
        "sqlite_files_mib": data_mib, "messages_stored_this_run": stored,
        "load_average_before": load_before, "load_average_after": load_average(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
