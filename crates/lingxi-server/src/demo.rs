//! The demo tenant created by `lingxi serve --demo`: a brand with a console login for an
//! admin, a supervisor and an agent, and one channel of every kind. Channel keys are stored
//! hashed, so they are re-issued (rotated) at every start and printed.

use crate::auth::{digest, hash_password, new_secret, CHANNEL_KEY_PREFIX};
use lingxi_domain::{ChannelKind, MergePolicy, Role, Timestamp};
use lingxi_store::{Store, StoreError};

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_PASSWORD: &str = "lingxi-demo";
pub const DEMO_USERS: &[(&str, &str, Role)] = &[
    ("admin@demo.lingxi.dev", "管理员 Admin", Role::Admin),
    ("supervisor@demo.lingxi.dev", "主管 Supervisor", Role::Supervisor),
    ("agent@demo.lingxi.dev", "客服 Agent", Role::Agent),
];

/// Canned responses the demo tenant ships with: (title, text, lang).
pub const DEMO_CANNED: &[(&str, &str, &str)] = &[
    ("问候", "{{customer.name}}您好，我是客服{{agent.name}}，很高兴为您服务。", "zh"),
    ("查询订单", "好的，我马上为您查询订单 {{order_no}} 的最新进度，请稍候。", "zh"),
    ("退款说明", "退货签收后，退款会在 1–3 个工作日内原路退回，请您留意。", "zh"),
    ("结束语", "感谢您的耐心，还有其他问题随时联系我们，祝您生活愉快！", "zh"),
    ("Greeting", "Hello {{customer.name}}, this is {{agent.name}}. How can I help you today?", "en"),
    ("Order check", "Thanks, I'm checking order {{order_no}} for you now.", "en"),
    ("Closing", "Thank you for your patience. Anything else, just let us know!", "en"),
];

pub struct DemoChannel {
    pub kind: ChannelKind,
    pub id: String,
    pub api_key: String,
}

/// Creates the demo tenant if missing; returns its channels with fresh keys.
pub async fn ensure(store: &Store, now: Timestamp, reopen_window_secs: i64) -> anyhow::Result<Vec<DemoChannel>> {
    let tenant = match store.tenant_by_slug(DEMO_SLUG).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            let t = store
                .create_tenant(DEMO_SLUG, "灵犀演示品牌 Lingxi Demo", MergePolicy::Automatic, reopen_window_secs, now)
                .await?;
            let team = store.create_team(&t.id, "售后 After-sales", now).await?;
            let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
            for (email, name, role) in DEMO_USERS {
                store.create_user(&t.id, email, name, *role, &hash, std::slice::from_ref(&team.id), now).await?;
            }
            for (title, text, lang) in DEMO_CANNED {
                store.create_canned_response(&t.id, title, text, lang, now).await?;
            }
            for kind in ChannelKind::ALL {
                store
                    .create_channel(
                        &t.id,
                        kind,
                        &format!("Demo {}", kind.as_str()),
                        &digest(&new_secret(CHANNEL_KEY_PREFIX)),
                        None,
                        now,
                    )
                    .await?;
            }
            t
        }
        Err(e) => return Err(e.into()),
    };
    let seeded = crate::knowledge::seed_demo(store, &tenant.id, now).await?;
    if seeded > 0 {
        tracing::info!(entries = seeded, "demo knowledge base seeded");
    }
    let records = seed_business(store, &tenant.id, now).await?;
    if records > 0 {
        tracing::info!(records, "demo business records seeded");
    }
    let mut out = Vec::new();
    for ch in store.list_channels(&tenant.id).await? {
        let key = new_secret(CHANNEL_KEY_PREFIX);
        store.rotate_channel_key(&tenant.id, &ch.id, &digest(&key)).await?;
        out.push(DemoChannel { kind: ch.kind, id: ch.id.to_string(), api_key: key });
    }
    Ok(out)
}

/// The demo tenant's orders, shipments, refunds, members, invoices and product catalogue (from
/// the CSV files shipped in the binary), once: a tenant that already has records keeps its own,
/// except that a demo database seeded before the catalogue existed gets the catalogue.
pub async fn seed_business(store: &Store, tenant: &lingxi_domain::TenantId, now: Timestamp) -> anyhow::Result<usize> {
    let seeded = store.has_records(tenant).await?;
    let mut n = 0;
    for (kind, text) in crate::tools::csv::DEMO {
        if seeded && (*kind != "products" || !store.records_of_kind(tenant, kind, 1).await?.is_empty()) {
            continue;
        }
        let records =
            crate::tools::csv::parse(kind, text).map_err(|e| anyhow::anyhow!("demo {kind}: {}", e.join("; ")))?;
        n += store.put_records(tenant, &records, now).await?;
    }
    // The demo's order numbers (LX + 11 digits) fit the default shape; the example is what the
    // bot shows when it asks for one.
    if store.nlu_settings(tenant).await?.is_none() {
        let settings = crate::tenant_entities::EntitySettings {
            order_example: Some("LX20261101001".into()),
            ..Default::default()
        };
        store.set_nlu_settings(tenant, &serde_json::to_string(&settings)?, now).await?;
    }
    Ok(n)
}
