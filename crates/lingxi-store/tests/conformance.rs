//! Storage conformance suite: every test runs against SQLite and against PostgreSQL
//! (127.0.0.1:5432, database `test`, a fresh schema per test; override with
//! LINGXI_TEST_PG_URL). Identical behaviour on both is the contract.

use lingxi_domain::{
    ChannelKind, Content, ConversationState, Identifier, IdentifierKind, MergePolicy, Role, Sender, TenantId,
    Timestamp, Transition,
};
use lingxi_store::{ChannelRow, ConversationFilter, Inbound, NewMessage, Store, TenantPolicy};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn sqlite() -> Store {
    let dir = std::env::temp_dir().join(format!("lingxi-store-test-{:x}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.join("lingxi.db").display()), None).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn postgres() -> Store {
    let url = std::env::var("LINGXI_TEST_PG_URL").unwrap_or_else(|_| PG_URL.to_owned());
    let schema = format!("t_{:x}", rand_u64());
    let store = Store::connect(&url, Some(&schema)).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for the storage tests and is not reachable at {url}: {e}. Start it or set LINGXI_TEST_PG_URL.")
    });
    store.migrate().await.unwrap();
    store
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await } )* }
    };
}

both!(
    migrations_are_idempotent,
    inbound_is_idempotent_per_channel_message_id,
    identities_resolve_across_channels_and_link_conversations,
    automatic_merge_and_split_round_trip,
    review_policy_suggests_instead_of_merging,
    state_machine_is_enforced_and_reopen_window_applies,
    tenants_are_isolated,
    batch_ingest_preserves_order_and_dedups_inside_batch,
    identifiers_can_be_added_and_removed,
);

const T0: i64 = 1_760_000_000_000;

fn ts(offset_secs: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_secs * 1000)
}

fn ident(kind: &str, v: &str) -> Identifier {
    Identifier::parse(IdentifierKind::parse(kind).unwrap(), v).unwrap()
}

struct Fixture {
    tenant: TenantId,
    wechat: ChannelRow,
    app: ChannelRow,
    policy: TenantPolicy,
}

async fn fixture(store: &Store, slug: &str, policy: MergePolicy) -> Fixture {
    let tenant = store.create_tenant(slug, "Brand", policy, 3600, ts(0)).await.unwrap();
    let wechat = store
        .create_channel(&tenant.id, ChannelKind::WechatOfficial, "wx", &format!("{slug}-k1"), None, ts(0))
        .await
        .unwrap();
    let app = store
        .create_channel(&tenant.id, ChannelKind::MobileApp, "app", &format!("{slug}-k2"), None, ts(0))
        .await
        .unwrap();
    Fixture { tenant: tenant.id, wechat, app, policy: TenantPolicy { merge_policy: policy, reopen_window_secs: 3600 } }
}

fn inbound(f: &Fixture, ch: &ChannelRow, idents: Vec<Identifier>, ext: &str, text: &str, at: i64) -> Inbound {
    Inbound {
        tenant_id: f.tenant.clone(),
        channel_id: ch.id.clone(),
        channel_kind: ch.kind,
        channel_team: None,
        policy: f.policy,
        identifiers: idents,
        display_name: Some("李雷".into()),
        content: Content::text(text).unwrap(),
        external_id: ext.into(),
        sent_at: ts(at),
        received_at: ts(at),
    }
}

async fn migrations_are_idempotent(store: Store) {
    assert!(store.migrate().await.unwrap().is_empty(), "second run applies nothing");
    store.ping().await.unwrap();
}

async fn inbound_is_idempotent_per_channel_message_id(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let m = inbound(&f, &f.wechat, vec![ident("wechat_openid", "o1")], "wx-1", "你好", 10);
    let first = store.ingest(&m).await.unwrap();
    assert!(!first.duplicate && first.conversation_created);
    let again = store.ingest(&m).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.conversation_id, first.conversation_id);
    assert_eq!(store.count_messages(&f.tenant).await.unwrap(), 1);
    // The same external id on another channel is a different message.
    let other = store.ingest(&inbound(&f, &f.app, vec![ident("device_id", "d1")], "wx-1", "hi", 11)).await.unwrap();
    assert!(!other.duplicate);
    assert_eq!(store.count_messages(&f.tenant).await.unwrap(), 2);
}

async fn identities_resolve_across_channels_and_link_conversations(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let day = 86_400;
    let wx = store
        .ingest(&inbound(
            &f,
            &f.wechat,
            vec![ident("wechat_unionid", "u-1"), ident("phone", "138 1234 5678")],
            "w1",
            "我要退货",
            0,
        ))
        .await
        .unwrap();
    let app = store
        .ingest(&inbound(&f, &f.app, vec![ident("phone", "+8613812345678")], "a1", "退款多久到账？", day))
        .await
        .unwrap();
    assert_eq!(app.customer_id, wx.customer_id, "same phone, spelled differently: one customer");
    assert!(app.conversation_created);
    assert_eq!(app.linked_conversation_id.as_ref(), Some(&wx.conversation_id));
    let (convs, msgs) = store.timeline(&f.tenant, &wx.customer_id, 100).await.unwrap();
    assert_eq!(convs.len(), 2);
    let texts: Vec<_> = msgs.iter().map(|m| m.content["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, vec!["我要退货", "退款多久到账？"]);
    let ctx = store.context(&f.tenant, &app.conversation_id, 5).await.unwrap();
    assert_eq!(ctx.len(), 1);
    assert_eq!(ctx[0].0.id, wx.conversation_id);
    assert_eq!(ctx[0].1.as_ref().unwrap().content["text"], "我要退货");
    let c = store.customer(&f.tenant, &wx.customer_id).await.unwrap();
    assert_eq!(c.identities.len(), 2);
}

async fn automatic_merge_and_split_round_trip(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let a = store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_unionid", "u-a")], "w1", "在吗", 0)).await.unwrap();
    let b =
        store.ingest(&inbound(&f, &f.app, vec![ident("email", "Li@Example.com")], "a1", "hello", 10)).await.unwrap();
    assert_ne!(a.customer_id, b.customer_id);
    let m = store
        .ingest(&inbound(
            &f,
            &f.app,
            vec![ident("email", "li@example.com"), ident("wechat_unionid", "u-a")],
            "a2",
            "same me",
            20,
        ))
        .await
        .unwrap();
    assert_eq!(m.customer_id, a.customer_id, "the older customer survives");
    assert_eq!(m.merged, vec![b.customer_id.clone()]);
    let survivor = store.customer(&f.tenant, &a.customer_id).await.unwrap();
    assert_eq!(survivor.identities.len(), 2);
    let absorbed = store.customer(&f.tenant, &b.customer_id).await.unwrap();
    assert_eq!(absorbed.merged_into.as_ref(), Some(&a.customer_id));
    let (_, msgs) = store.timeline(&f.tenant, &a.customer_id, 100).await.unwrap();
    assert_eq!(msgs.len(), 3);

    let merges = store.list_merges(&f.tenant, Some(&a.customer_id)).await.unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].status, "merged");
    let split = store.split(&f.tenant, &merges[0].id, "usr_test", ts(30)).await.unwrap();
    assert_eq!(split.status, "undone");
    let restored = store.customer(&f.tenant, &b.customer_id).await.unwrap();
    assert!(restored.merged_into.is_none());
    assert_eq!(restored.identities.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(), vec!["li@example.com"]);
    let (_, msgs_b) = store.timeline(&f.tenant, &b.customer_id, 100).await.unwrap();
    // b's conversation (both app messages) went back with it.
    assert_eq!(msgs_b.len(), 2);
    assert!(store.split(&f.tenant, &merges[0].id, "usr_test", ts(31)).await.is_err(), "a split happens once");
    let audit = store.list_audit(&f.tenant, 50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "customer.merge"));
    assert!(audit.iter().any(|a| a.action == "customer.split"));
}

async fn review_policy_suggests_instead_of_merging(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Review).await;
    let a = store.ingest(&inbound(&f, &f.wechat, vec![ident("member_id", "M1")], "w1", "a", 0)).await.unwrap();
    let b = store.ingest(&inbound(&f, &f.app, vec![ident("phone", "13900000000")], "a1", "b", 1)).await.unwrap();
    let m = store
        .ingest(&inbound(&f, &f.app, vec![ident("member_id", "M1"), ident("phone", "13900000000")], "a2", "c", 2))
        .await
        .unwrap();
    assert_eq!(m.customer_id, a.customer_id);
    assert!(m.merged.is_empty());
    assert_eq!(m.merge_suggested, vec![b.customer_id.clone()]);
    assert!(store.customer(&f.tenant, &b.customer_id).await.unwrap().merged_into.is_none());
    let merges = store.list_merges(&f.tenant, None).await.unwrap();
    assert_eq!(merges.iter().filter(|m| m.status == "suggested").count(), 1);
    // An explicit merge dismisses the suggestion.
    store.merge_customers(&f.tenant, &a.customer_id, &b.customer_id, "agent confirmed", "usr_x", ts(3)).await.unwrap();
    let merges = store.list_merges(&f.tenant, None).await.unwrap();
    assert_eq!(merges.iter().filter(|m| m.status == "suggested").count(), 0);
    assert_eq!(merges.iter().filter(|m| m.status == "merged").count(), 1);
}

async fn state_machine_is_enforced_and_reopen_window_applies(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let first = store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w1", "hi", 0)).await.unwrap();
    let c = &first.conversation_id;
    assert!(store.transition(&f.tenant, c, Transition::Assign, None, None, "t", ts(1)).await.is_err());
    assert!(store.transition(&f.tenant, c, Transition::Reopen, None, None, "t", ts(1)).await.is_err());
    let q = store
        .transition(&f.tenant, c, Transition::HandOff, None, Some("asked for a person"), "t", ts(1))
        .await
        .unwrap();
    assert_eq!(q.state, ConversationState::Queued);
    let user = store.create_user(&f.tenant, "a@acme.test", "A", Role::Agent, "x", &[], ts(1)).await.unwrap();
    let assigned = store.transition(&f.tenant, c, Transition::Assign, Some(&user.id), None, "t", ts(2)).await.unwrap();
    assert_eq!(assigned.assignee_id.as_ref(), Some(&user.id));
    store
        .add_message(
            &f.tenant,
            c,
            &NewMessage { sender: Sender::Agent(user.id.clone()), content: Content::text("您好").unwrap() },
            ts(3),
        )
        .await
        .unwrap();
    let resolved = store.transition(&f.tenant, c, Transition::Resolve, None, None, "t", ts(4)).await.unwrap();
    assert_eq!(resolved.state, ConversationState::Resolved);
    // Within the window (1 h): the same conversation reopens.
    let again = store
        .ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w2", "还有个问题", 100))
        .await
        .unwrap();
    assert_eq!(&again.conversation_id, c);
    assert!(again.reopened);
    assert_eq!(again.conversation_state, ConversationState::Bot);
    store.transition(&f.tenant, c, Transition::Resolve, None, None, "t", ts(101)).await.unwrap();
    // Beyond the window: a new conversation.
    let later = store
        .ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w3", "又是我", 101 + 7200))
        .await
        .unwrap();
    assert_ne!(&later.conversation_id, c);
    assert!(later.conversation_created);
    assert_eq!(store.conversation(&f.tenant, c).await.unwrap().state, ConversationState::Closed);
    assert!(store.transition(&f.tenant, c, Transition::Reopen, None, None, "t", ts(9000)).await.is_err());
}

async fn tenants_are_isolated(store: Store) {
    let a = fixture(&store, "brand-a", MergePolicy::Automatic).await;
    let b = fixture(&store, "brand-b", MergePolicy::Automatic).await;
    let ma = store.ingest(&inbound(&a, &a.wechat, vec![ident("phone", "13800000000")], "x", "a", 0)).await.unwrap();
    let mb = store.ingest(&inbound(&b, &b.wechat, vec![ident("phone", "13800000000")], "x", "b", 0)).await.unwrap();
    assert_ne!(ma.customer_id, mb.customer_id, "the same phone in two tenants is two customers");
    assert!(store.customer(&b.tenant, &ma.customer_id).await.is_err());
    assert!(store.conversation(&b.tenant, &ma.conversation_id).await.is_err());
    assert!(store
        .transition(&b.tenant, &ma.conversation_id, Transition::Resolve, None, None, "t", ts(1))
        .await
        .is_err());
    let listed =
        store.list_conversations(&b.tenant, &ConversationFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, mb.conversation_id);
    assert!(store.channel(&b.tenant, &a.wechat.id).await.is_err());
    assert!(store.merge_customers(&b.tenant, &mb.customer_id, &ma.customer_id, "x", "t", ts(2)).await.is_err());
}

async fn batch_ingest_preserves_order_and_dedups_inside_batch(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let batch: Vec<_> = (0..20)
        .map(|i| {
            inbound(
                &f,
                &f.app,
                vec![ident("member_id", &format!("m{}", i % 5))],
                &format!("e{}", i % 18),
                &format!("msg {i}"),
                i,
            )
        })
        .collect();
    let out = store.ingest_batch(&batch).await;
    assert_eq!(out.len(), 20);
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(out.iter().filter(|o| o.duplicate).count(), 2);
    assert_eq!(out[18].message_id, out[0].message_id);
    assert_eq!(store.count_messages(&f.tenant).await.unwrap(), 18);
    let customers: std::collections::HashSet<_> = out.iter().map(|o| o.customer_id.clone()).collect();
    assert_eq!(customers.len(), 5);
}

async fn identifiers_can_be_added_and_removed(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let a = store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o1")], "w1", "a", 0)).await.unwrap();
    let b = store.ingest(&inbound(&f, &f.app, vec![ident("device_id", "d1")], "a1", "b", 0)).await.unwrap();
    store.add_identifier(&f.tenant, &a.customer_id, &ident("phone", "13700000000"), "usr_x", ts(1)).await.unwrap();
    store.add_identifier(&f.tenant, &a.customer_id, &ident("phone", "13700000001"), "usr_x", ts(1)).await.unwrap();
    let err = store.add_identifier(&f.tenant, &b.customer_id, &ident("phone", "137-0000-0000"), "usr_x", ts(1)).await;
    assert!(err.is_err(), "held by another customer");
    assert_eq!(store.customer(&f.tenant, &a.customer_id).await.unwrap().identities.len(), 3);
    store.remove_identifier(&f.tenant, &a.customer_id, &ident("phone", "13700000000"), "usr_x", ts(2)).await.unwrap();
    assert!(store
        .remove_identifier(&f.tenant, &a.customer_id, &ident("phone", "13700000000"), "usr_x", ts(2))
        .await
        .is_err());
    assert_eq!(store.customer(&f.tenant, &a.customer_id).await.unwrap().identities.len(), 2);
    let updated = store
        .update_customer(
            &f.tenant,
            &a.customer_id,
            None,
            Some(&serde_json::json!({"vip": true, "city": "杭州"}).as_object().unwrap().clone()),
            Some(&["vip".to_owned()]),
            "usr_x",
            ts(3),
        )
        .await
        .unwrap();
    assert_eq!(updated.attributes["city"], "杭州");
    assert_eq!(updated.tags, vec!["vip"]);
}
