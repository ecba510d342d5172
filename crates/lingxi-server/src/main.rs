//! The `lingxi` binary: `serve`, `migrate`, `check-config`, admin commands that print JSON,
//! and the `bench` load generator.

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use lingxi_domain::{ChannelKind, MergePolicy, TeamId};
use lingxi_server::auth::{digest, hash_password, new_secret, CHANNEL_KEY_PREFIX};
use lingxi_server::config::{redact_url, Config, Overrides};
use lingxi_server::{api::views, dataset, demo, open_store, serve, shutdown_signal};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "lingxi", version, about = "Lingxi (灵犀): omnichannel AI customer service")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// Config file (default: ./lingxi.toml if present; env LINGXI_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data folder for the embedded SQLite store (env LINGXI_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// sqlite://… or postgres://… (env LINGXI_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (env LINGXI_LISTEN), default 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
        /// Create the demo tenant, users and channels, and print their keys.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and exit (non-zero with a message if invalid).
    CheckConfig,
    /// Tenants (brands).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Console users.
    #[command(subcommand)]
    User(UserCmd),
    /// Teams.
    #[command(subcommand)]
    Team(TeamCmd),
    /// Channels and their API keys.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Load generators.
    #[command(subcommand)]
    Bench(lingxi_server::bench::BenchCmd),
    /// Understanding: evaluation on labelled data.
    #[command(subcommand)]
    Nlu(NluCmd),
    /// Knowledge base: import, export, evaluation.
    #[command(subcommand)]
    Kb(KbCmd),
    /// Business data for the bot's tools (orders, shipments, refunds, members, invoices).
    #[command(subcommand)]
    Tools(ToolsCmd),
    /// Guided flows (JSON or YAML files).
    #[command(subcommand)]
    Flows(FlowsCmd),
}

#[derive(Subcommand)]
enum FlowsCmd {
    /// Check flow files; prints every problem (file:line: flow, step: what) and exits non-zero.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ToolsCmd {
    /// Load business records of one kind from a CSV file (rows with the same key are replaced).
    Import {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// orders, shipments, refunds, members or invoices.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum NluCmd {
    /// Train on train.jsonl, tune on dev.jsonl (or a held-out slice of train), score test.jsonl.
    Eval {
        /// A folder with train/dev/test JSON Lines ({"text": …, "label": …}).
        #[arg(long)]
        dataset: PathBuf,
        /// intent, oos (intent with out-of-scope label `oos`) or sentiment; default: oos if
        /// the training data has an `oos` label, else intent.
        #[arg(long)]
        task: Option<String>,
        /// auto: use the sentence encoder when its model file is found (the fused model:
        /// lexical features plus the embedding, and nearest neighbours); off: lexical only.
        #[arg(long, default_value = "auto")]
        embeddings: String,
        /// Keep computed embeddings in this folder so that a second run does not re-encode.
        #[arg(long)]
        embedding_cache: Option<PathBuf>,
        /// Another dataset folder whose train.jsonl is labelled data of another domain (other
        /// products' reviews, say); repeatable. Text-only models, and the fused model's
        /// text-only member, may train with it (chosen on dev, docs/nlu.md "Background data");
        /// copies of this dataset's texts are left out.
        #[arg(long)]
        background: Vec<PathBuf>,
    },
}

fn read_split(dir: &std::path::Path, name: &str) -> anyhow::Result<Vec<lingxi_nlu::eval::Example>> {
    Ok(dataset::read_split(dir, name)?.into_iter().map(|(t, l)| lingxi_nlu::eval::Example::new(t, l)).collect())
}

#[derive(Subcommand)]
enum KbCmd {
    /// Import FAQ entries from a file into a tenant's knowledge base.
    Import {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        file: PathBuf,
        /// csv, json or md (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// Store the valid rows even when some are rejected (default: store nothing then).
        #[arg(long)]
        keep_valid: bool,
    },
    /// Export a tenant's FAQ entries (to stdout unless --out).
    Export {
        #[arg(long)]
        tenant: String,
        /// csv, json or md.
        #[arg(long, default_value = "json")]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// FAQ-retrieval evaluation on a labelled set: train utterances are FAQ phrasings of their
    /// intent, test utterances are queries; prints top-1, top-3, decision rates and latency.
    Eval {
        /// A folder with train/dev/test JSON Lines ({"text": …, "label": …}).
        #[arg(long)]
        dataset: PathBuf,
    },
}

#[derive(Subcommand)]
enum TenantCmd {
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// automatic or review
        #[arg(long, default_value = "automatic")]
        merge_policy: String,
    },
    List,
}

#[derive(Subcommand)]
enum UserCmd {
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, supervisor or agent
        #[arg(long)]
        role: String,
        #[arg(long, env = "LINGXI_NEW_USER_PASSWORD")]
        password: String,
        /// Team name (repeatable).
        #[arg(long)]
        team: Vec<String>,
        /// Routing skill, kind:value with kind lang, product, channel or level (repeatable).
        #[arg(long)]
        skill: Vec<String>,
        /// Concurrent live chats (default: agent_chat_capacity).
        #[arg(long)]
        chat_capacity: Option<u16>,
        /// Concurrent e-mail-like conversations (default: agent_email_capacity).
        #[arg(long)]
        email_capacity: Option<u16>,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum TeamCmd {
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum ChannelCmd {
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        team: Option<String>,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn print(v: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut flags = Overrides {
        config_path: cli.global.config.clone(),
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        ..Default::default()
    };
    if let Command::Serve { listen, demo } = &cli.command {
        flags.listen = listen.clone();
        flags.demo = *demo;
    }
    let config = Config::load(&flags)?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let now = lingxi_server::auth::Clock.now();
    match cli.command {
        Command::CheckConfig => {
            print(
                json!({ "ok": true, "listen": config.listen.to_string(), "database_url": redact_url(&config.database_url),
                "data_dir": config.data_dir.display().to_string(), "demo": config.demo, "max_body_bytes": config.max_body_bytes,
                "tools": config.tools.summary(), "llm": config.llm.summary() }),
            );
        }
        Command::Migrate => {
            let store = lingxi_store::Store::connect(&config.database_url, None).await?;
            let applied = store.migrate().await?;
            print(json!({ "applied": applied }));
        }
        Command::Serve { .. } => {
            let store = open_store(&config).await?;
            if config.demo {
                let channels = demo::ensure(&store, now, config.reopen_window_secs).await?;
                println!("Lingxi demo tenant `{}` is ready.", demo::DEMO_SLUG);
                println!("  Console: http://{}/   (password for all: {})", config.listen, demo::DEMO_PASSWORD);
                for (email, _, role) in demo::DEMO_USERS {
                    println!("    {:<11} {email}", role.as_str());
                }
                println!("  Demo shop with the chat widget: http://{}/demo", config.listen);
                println!("  Channel keys (re-issued at every start):");
                for ch in &channels {
                    println!("    {:<20} {}  {}", ch.kind.as_str(), ch.id, ch.api_key);
                }
            }
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(listen = %listener.local_addr()?, store = %redact_url(&config.database_url), "lingxi serving");
            serve(listener, store, config, shutdown_signal()).await?;
        }
        Command::Tenant(cmd) => {
            let store = open_store(&config).await?;
            match cmd {
                TenantCmd::Create { slug, name, merge_policy } => {
                    let policy = MergePolicy::parse(&merge_policy)
                        .ok_or_else(|| anyhow!("--merge-policy must be automatic or review"))?;
                    check_slug(&slug)?;
                    let t = store.create_tenant(&slug, &name, policy, config.reopen_window_secs, now).await?;
                    print(json!({ "tenant": views::tenant(&t) }));
                }
                TenantCmd::List => {
                    let ts = store.list_tenants().await?;
                    print(json!({ "tenants": ts.iter().map(views::tenant).collect::<Vec<_>>() }));
                }
            }
        }
        Command::User(cmd) => {
            let store = open_store(&config).await?;
            match cmd {
                UserCmd::Create { tenant, email, name, role, password, team, skill, chat_capacity, email_capacity } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let (email, role) = lingxi_server::api::check_new_user(&email, &name, &role, &password)
                        .map_err(|e| anyhow!("{e}"))?;
                    let skills = lingxi_server::routing::skills::parse_skills(&skill).map_err(|e| anyhow!("{e}"))?;
                    let profile = lingxi_store::RoutingProfile {
                        skills: skills.iter().map(|s| s.as_str().to_owned()).collect(),
                        chat_capacity: chat_capacity.map(|n| i64::from(n.min(1000))),
                        email_capacity: email_capacity.map(|n| i64::from(n.min(1000))),
                    };
                    let teams = store.list_teams(&t.id).await?;
                    let mut ids: Vec<TeamId> = Vec::new();
                    for name in &team {
                        ids.push(
                            teams
                                .iter()
                                .find(|x| &x.name == name)
                                .map(|x| x.id.clone())
                                .ok_or_else(|| anyhow!("unknown team `{name}`"))?,
                        );
                    }
                    let hash = hash_password(&password).map_err(|e| anyhow!("{e}"))?;
                    let u = store.create_user(&t.id, &email, name.trim(), role, &hash, &ids, now).await?;
                    store.set_routing_profile(&t.id, &u.id, &profile).await?;
                    print(
                        json!({ "user": views::user(&u), "routing": { "skills": profile.skills, "chat_capacity": profile.chat_capacity, "email_capacity": profile.email_capacity } }),
                    );
                }
                UserCmd::List { tenant } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let us = store.list_users(&t.id).await?;
                    print(json!({ "users": us.iter().map(views::user).collect::<Vec<_>>() }));
                }
            }
        }
        Command::Team(cmd) => {
            let store = open_store(&config).await?;
            match cmd {
                TeamCmd::Create { tenant, name } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let team = store.create_team(&t.id, &name, now).await?;
                    print(json!({ "team": views::team(&team) }));
                }
                TeamCmd::List { tenant } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let teams = store.list_teams(&t.id).await?;
                    print(json!({ "teams": teams.iter().map(views::team).collect::<Vec<_>>() }));
                }
            }
        }
        Command::Channel(cmd) => {
            let store = open_store(&config).await?;
            match cmd {
                ChannelCmd::Create { tenant, kind, name, team } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let kind = ChannelKind::parse(&kind).ok_or_else(|| {
                        anyhow!("--kind must be one of {}", ChannelKind::ALL.map(|k| k.as_str()).join(", "))
                    })?;
                    let team_id = match team {
                        Some(name) => Some(
                            store
                                .list_teams(&t.id)
                                .await?
                                .into_iter()
                                .find(|x| x.name == name)
                                .map(|x| x.id)
                                .ok_or_else(|| anyhow!("unknown team `{name}`"))?,
                        ),
                        None => None,
                    };
                    let key = new_secret(CHANNEL_KEY_PREFIX);
                    let ch = store.create_channel(&t.id, kind, &name, &digest(&key), team_id.as_ref(), now).await?;
                    print(json!({ "channel": views::channel(&ch), "api_key": key }));
                }
                ChannelCmd::List { tenant } => {
                    let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
                    let cs = store.list_channels(&t.id).await?;
                    print(json!({ "channels": cs.iter().map(views::channel).collect::<Vec<_>>() }));
                }
            }
        }
        Command::Bench(cmd) => lingxi_server::bench::run(cmd, &config).await?,
        Command::Kb(cmd) => kb(cmd, &config, now).await?,
        Command::Flows(FlowsCmd::Check { files }) => {
            let mut problems = 0;
            for file in &files {
                match lingxi_server::flow_file::load(file) {
                    Ok(flow) => println!("{}: flow `{}` ok ({} steps)", file.display(), flow.id, flow.n_steps()),
                    Err(errs) => {
                        problems += errs.len();
                        errs.iter().for_each(|e| eprintln!("{e}"));
                    }
                }
            }
            if problems > 0 {
                bail!("{problems} problem(s) in {} file(s)", files.len());
            }
        }
        Command::Tools(ToolsCmd::Import { tenant, kind, file }) => {
            let store = open_store(&config).await?;
            let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let records = lingxi_server::tools::csv::parse(&kind, &text)
                .map_err(|errs| anyhow!("{} problem(s), nothing was stored:\n  {}", errs.len(), errs.join("\n  ")))?;
            let n = store.put_records(&t.id, &records, now).await?;
            println!("{n} {kind} record(s) stored for {tenant}");
        }
        Command::Nlu(NluCmd::Eval { dataset, task, embeddings, embedding_cache, background }) => {
            use lingxi_nlu::eval::{evaluate, EvalConfig, Splits, TaskKind};
            let splits = Splits {
                train: read_split(&dataset, "train")?,
                dev: read_split(&dataset, "dev")?,
                test: read_split(&dataset, "test")?,
                background: Vec::new(),
            };
            if splits.train.is_empty() || splits.test.is_empty() {
                return Err(anyhow!("{} needs train.jsonl and test.jsonl", dataset.display()));
            }
            let mut extra = Vec::new();
            for dir in &background {
                let rows = read_split(dir, "train")?;
                if rows.is_empty() {
                    return Err(anyhow!("--background {} has no train.jsonl", dir.display()));
                }
                extra.extend(rows);
            }
            let (mut splits, dropped) = splits.with_background(extra);
            if !background.is_empty() {
                eprintln!(
                    "background: {} examples, {dropped} left out as copies of this dataset's texts (for text-only models)",
                    splits.background.len()
                );
            }
            let oos = || TaskKind::IntentWithOos { oos_label: "oos".into() };
            let task = match task.as_deref() {
                Some("intent") => TaskKind::Intent,
                Some("oos") => oos(),
                Some("sentiment") => TaskKind::Sentiment,
                Some(other) => return Err(anyhow!("--task must be intent, oos or sentiment, not `{other}`")),
                None if splits.train.iter().any(|e| e.label == "oos") => oos(),
                None => TaskKind::Intent,
            };
            let encoder = match embeddings.as_str() {
                "off" => None,
                "auto" => match lingxi_encoder::Encoder::load_default() {
                    Ok(enc) => Some(enc),
                    Err(e) => {
                        eprintln!("sentence encoder not available ({e}): lexical model only");
                        None
                    }
                },
                other => return Err(anyhow!("--embeddings must be auto or off, not `{other}`")),
            };
            if let Some(enc) = &encoder {
                for (name, split) in
                    [("train", &mut splits.train), ("dev", &mut splits.dev), ("test", &mut splits.test)]
                {
                    let texts: Vec<String> = split.iter().map(|e| e.text.clone()).collect();
                    let rows = dataset::embed_texts(enc, &texts, embedding_cache.as_deref(), name)?;
                    for (e, r) in split.iter_mut().zip(rows) {
                        e.dense = Some(r);
                    }
                }
            }
            if encoder.is_some() && !splits.background.is_empty() {
                eprintln!("the fused model (with embeddings) uses --background through its text-only member only");
            }
            let report = evaluate(&splits, &task, &EvalConfig::for_task(&task)).map_err(|e| anyhow!("{e}"))?;
            println!("dataset: {}\n{report:#?}", dataset.display());
        }
    }
    Ok(())
}

async fn kb(cmd: KbCmd, config: &Config, now: lingxi_domain::Timestamp) -> anyhow::Result<()> {
    use lingxi_knowledge::io::ImportPolicy;
    use lingxi_server::api::knowledge::{parse_import, render_export, store_import};
    match cmd {
        KbCmd::Import { tenant, file, format, keep_valid } => {
            let store = open_store(config).await?;
            let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
            let format = format
                .or_else(|| file.extension().map(|e| e.to_string_lossy().to_lowercase()))
                .ok_or_else(|| anyhow!("--format csv|json|md (the file has no extension)"))?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            eprint!("reading {} ({} KB)…", file.display(), text.len() / 1024);
            let policy = if keep_valid { ImportPolicy::KeepValid } else { ImportPolicy::AllOrNothing };
            let report = parse_import(&format, &text, policy).map_err(|e| anyhow!(e))?;
            eprintln!(" {} rows, {} rejected", report.n_rows, report.rejected.len());
            for r in &report.rejected {
                eprintln!("  row {}: {}", r.row, r.reason);
            }
            if !report.rejected.is_empty() && !keep_valid {
                return Err(anyhow!(
                    "{} row(s) rejected; nothing was stored (--keep-valid stores the valid rows)",
                    report.rejected.len()
                ));
            }
            // Stored in chunks of one transaction each, so that a large file shows progress.
            let (mut created, mut updated) = (0, 0);
            let total = report.entries.len();
            for (i, chunk) in report.entries.chunks(500).enumerate() {
                let (c, u) = store_import(&store, &t.id, chunk, "cli", now).await.map_err(|e| anyhow!("{e}"))?;
                created += c;
                updated += u;
                let done = (i * 500 + chunk.len()).min(total);
                eprint!("\rstoring {done}/{total} ({}%)", done * 100 / total.max(1));
            }
            eprintln!();
            print(
                json!({ "n_rows": report.n_rows, "created": created, "updated": updated, "rejected": report.rejected.len() }),
            );
        }
        KbCmd::Export { tenant, format, out } => {
            let store = open_store(config).await?;
            let t = store.tenant_by_slug(&tenant).await.context("unknown tenant")?;
            let rows = store.kb_entries(&t.id, None).await?;
            let entries = rows.iter().map(lingxi_server::knowledge::from_row).collect::<Result<Vec<_>, _>>()?;
            let (_, text) = render_export(&format.to_lowercase(), &entries).map_err(|e| anyhow!(e))?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("{} entries written to {}", entries.len(), path.display());
                }
                None => print!("{text}"),
            }
        }
        KbCmd::Eval { dataset } => {
            let train = dataset::read_split(&dataset, "train")?;
            let dev = dataset::read_split(&dataset, "dev")?;
            let test = dataset::read_split(&dataset, "test")?;
            if train.is_empty() || test.is_empty() {
                return Err(anyhow!("{} needs train.jsonl and test.jsonl", dataset.display()));
            }
            eprintln!("dataset {}: {} train, {} dev, {} test", dataset.display(), train.len(), dev.len(), test.len());
            let report = tokio::task::spawn_blocking(move || {
                lingxi_server::kb_eval::evaluate(&train, &dev, &test, &mut |stage| eprintln!("… {stage}"))
            })
            .await?;
            println!("dataset: {}\n{report}", dataset.display());
        }
    }
    Ok(())
}

fn check_slug(slug: &str) -> anyhow::Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 40
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(anyhow!("--slug must be 1 to 40 characters of a-z, 0-9 and -"))
    }
}
