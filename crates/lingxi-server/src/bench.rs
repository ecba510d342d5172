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
}

pub async fn run(cmd: BenchCmd, _config: &Config) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Ingest(args) => ingest(args).await,
    }
}

struct Spawned {
    child: std::process::Child,
    base: String,
    keys: Vec<String>,
    backend: String,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_server(args: &IngestArgs) -> anyhow::Result<Spawned> {
    let dir = std::env::temp_dir().join(format!("lingxi-bench-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    let (url, backend) = match &args.postgres {
        Some(pg) => {
            let db = format!("lingxi_bench_{:x}", rand::random::<u32>());
            let admin = lingxi_store::Store::connect(pg, None).await?;
            admin.execute_raw(&format!("CREATE DATABASE {db}")).await?;
            admin.close().await;
            let base = pg.rsplit_once('/').map(|(b, _)| b.to_owned()).ok_or_else(|| anyhow!("bad --postgres URL"))?;
            (format!("{base}/{db}"), "postgres".to_owned())
        }
        None => (format!("sqlite://{}", dir.join("lingxi.db").display()), "sqlite".to_owned()),
    };
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
        .env("LINGXI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("spawning lingxi serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(Spawned { child, base, keys, backend });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow!("the spawned server did not become ready"))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
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
    let rss = spawned.as_ref().and_then(|s| peak_rss_kib(s.child.id()));
    let stored = if let (Some(_), false) = (&spawned, healthz) { Some(ok) } else { None };
    let report = json!({
        "endpoint": args.endpoint, "backend": backend, "offered_rate": if args.rate == 0 { json!("max") } else { json!(args.rate) },
        "connections": args.connections, "duration_secs": (elapsed * 100.0).round() / 100.0,
        "ok": ok, "errors": n_err.load(Ordering::Relaxed), "throughput_per_sec": (ok as f64 / elapsed).round(),
        "latency_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1.0) },
        "server_peak_rss_mib": rss.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0), "messages_stored_this_run": stored,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
