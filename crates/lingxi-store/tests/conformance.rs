//! Storage conformance suite: every test runs against SQLite and against PostgreSQL
//! (127.0.0.1:5432, database `test`, a fresh schema per test; override with
//! LINGXI_TEST_PG_URL). Identical behaviour on both is the contract.

use lingxi_domain::{
    ChannelKind, Content, ConversationState, Identifier, IdentifierKind, MergePolicy, MessageId, Role, Sender,
    TenantId, Timestamp, Transition,
};
use lingxi_store::{
    BotTurn, ChannelRow, ConversationFilter, Expect, GapText, Inbound, KbArticleRow, KbEntryWrite, NewCandidate,
    NewGap, NewMessage, RatedKind, Rating, ReplyAbout, Store, StoreError, TenantPolicy, Understood,
};

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

#[path = "conformance/nlu.rs"]
mod nlu;
use nlu::{
    intent_model_versions_are_numbered_per_tenant_and_the_pointer_moves, nlu_settings_are_per_tenant_and_replaced_whole,
};

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
    set_based_batches_match_one_at_a_time_automatic,
    set_based_batches_match_one_at_a_time_review,
    widget_visitors_read_only_their_own_conversations,
    knowledge_entries_are_versioned_compared_and_set_and_isolated,
    knowledge_gaps_are_drafted_once_and_ratings_find_the_question,
    migration_13_keeps_one_not_useful_gap_per_conversation_and_question,
    routing_profiles_sla_clocks_and_expected_transitions,
    business_records_pending_state_and_flows_are_per_tenant,
    candidates_count_each_conversation_once_and_are_decided_once,
    intent_model_versions_are_numbered_per_tenant_and_the_pointer_moves,
    nlu_settings_are_per_tenant_and_replaced_whole,
    embeddings_are_kept_per_model_and_digest,
    conversations_awaiting_the_bot_are_those_whose_last_word_is_the_customers,
    a_customer_message_is_answered_by_one_computation_of_the_bots_turn,
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

/// Deterministic xorshift generator: the randomized equivalence test replays the same sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A bijection between the ids of two stores, learned in order of appearance: the batched
/// and the one-at-a-time store draw different random ids for the same thing.
#[derive(Default)]
struct IdMap {
    fwd: std::collections::HashMap<String, String>,
    back: std::collections::HashMap<String, String>,
}

impl IdMap {
    fn pair(&mut self, a: &str, b: &str, what: &str) {
        match (self.fwd.get(a), self.back.get(b)) {
            (None, None) => {
                self.fwd.insert(a.to_owned(), b.to_owned());
                self.back.insert(b.to_owned(), a.to_owned());
            }
            (Some(x), Some(y)) if x == b && y == a => {}
            (x, y) => panic!("{what}: {a} ↔ {b} contradicts earlier pairs {x:?} / {y:?}"),
        }
    }
    fn opt(&mut self, a: Option<&str>, b: Option<&str>, what: &str) {
        match (a, b) {
            (Some(a), Some(b)) => self.pair(a, b, what),
            (None, None) => {}
            (a, b) => panic!("{what}: {a:?} vs {b:?}"),
        }
    }
    fn get(&self, a: &str) -> String {
        self.fwd.get(a).cloned().unwrap_or_else(|| panic!("{a} never appeared in an outcome"))
    }
}

fn compare_outcomes(ids: &mut IdMap, a: &lingxi_store::IngestOutcome, b: &lingxi_store::IngestOutcome, at: &str) {
    assert_eq!(
        (a.duplicate, a.conversation_created, a.reopened, a.conversation_state),
        (b.duplicate, b.conversation_created, b.reopened, b.conversation_state),
        "{at}"
    );
    ids.pair(a.message_id.as_str(), b.message_id.as_str(), at);
    ids.pair(a.conversation_id.as_str(), b.conversation_id.as_str(), at);
    ids.pair(a.customer_id.as_str(), b.customer_id.as_str(), at);
    ids.opt(
        a.linked_conversation_id.as_ref().map(|c| c.as_str()),
        b.linked_conversation_id.as_ref().map(|c| c.as_str()),
        at,
    );
    assert_eq!((a.merged.len(), a.merge_suggested.len()), (b.merged.len(), b.merge_suggested.len()), "{at}");
    for (x, y) in a.merged.iter().zip(&b.merged).chain(a.merge_suggested.iter().zip(&b.merge_suggested)) {
        ids.pair(x.as_str(), y.as_str(), at);
    }
}

async fn set_based_batches_match_one_at_a_time_automatic(store: Store) {
    set_based_matches_one_at_a_time(store, MergePolicy::Automatic, 0x9e37_79b9_7f4a_7c15).await
}

async fn set_based_batches_match_one_at_a_time_review(store: Store) {
    set_based_matches_one_at_a_time(store, MergePolicy::Review, 0xd1b5_4a32_d192_ed03).await
}

/// The same randomized traffic through `ingest_batch` in big batches (tenant "batched") and
/// one message at a time through the per-message reference path (tenant "single") must leave
/// the same outcomes and the same rows, up to the random ids. The traffic has customers
/// reusing identifiers across channels, phone numbers spelled differently, partial identifier
/// sets that later meet in one message (merges or merge suggestions), duplicates inside and
/// across batches, messages slightly out of time order, and conversations handed off, assigned,
/// resolved or closed between batches, then written to inside or beyond the reopen window.
async fn set_based_matches_one_at_a_time(store: Store, policy: MergePolicy, seed: u64) {
    let fa = fixture(&store, "batched", policy).await;
    let fb = fixture(&store, "single", policy).await;
    let web_a = store.create_channel(&fa.tenant, ChannelKind::WebChat, "web", "batched-k3", None, ts(0)).await.unwrap();
    let web_b = store.create_channel(&fb.tenant, ChannelKind::WebChat, "web", "single-k3", None, ts(0)).await.unwrap();
    let user_a = store.create_user(&fa.tenant, "a@batched.test", "A", Role::Agent, "x", &[], ts(0)).await.unwrap();
    let user_b = store.create_user(&fb.tenant, "a@single.test", "A", Role::Agent, "x", &[], ts(0)).await.unwrap();
    let chans_a = [fa.wechat.clone(), fa.app.clone(), web_a];
    let chans_b = [fb.wechat.clone(), fb.app.clone(), web_b];
    let (fast_before, fallbacks_before) = Store::ingest_path_counts();

    let mut rng = Rng(seed);
    let mut ids = IdMap::default();
    ids.pair(user_a.id.as_str(), user_b.id.as_str(), "user");
    let mut t: i64 = 100;
    // (person, channel index, identifiers, external id, text) of every message sent so far.
    type Sent = (usize, Vec<Identifier>, String, String, Option<String>);
    let mut sent: Vec<Sent> = Vec::new();
    let mut convs_a: Vec<String> = Vec::new();
    let mut n_merged = 0;
    let mut n_reopened = 0;
    let mut n_dups = 0;
    for round in 0..16 {
        let size = if rng.chance(15) { 1 + rng.below(3) } else { 20 + rng.below(90) } as usize;
        let mut batch_a = Vec::with_capacity(size);
        let mut batch_b = Vec::with_capacity(size);
        let mut times: Vec<i64> = (0..size)
            .map(|_| {
                t += 1 + rng.below(120) as i64;
                t
            })
            .collect();
        // A few neighbours swap times: arrival order is not time order.
        for k in 1..size {
            if rng.chance(5) {
                times.swap(k - 1, k);
            }
        }
        for (k, &at) in times.iter().enumerate() {
            let (chan, idents, ext, text, name) = if !sent.is_empty() && rng.chance(10) {
                n_dups += 1;
                sent[rng.below(sent.len() as u64) as usize].clone()
            } else {
                let person = rng.below(40);
                let all = [
                    ident(
                        "phone",
                        &match rng.below(3) {
                            0 => format!("1390000{person:04}"),
                            1 => format!("+86 139 0000 {person:04}"),
                            _ => format!("139-0000-{person:04}"),
                        },
                    ),
                    ident("email", &format!("P{person}@Example.com")),
                    ident("wechat_openid", &format!("o{person}")),
                    ident("member_id", &format!("M{person}")),
                ];
                let first = rng.below(4) as usize;
                let mut idents = vec![all[first].clone()];
                if rng.chance(35) {
                    idents.push(all[(first + 1 + rng.below(3) as usize) % 4].clone());
                }
                let name = rng.chance(60).then(|| format!("客户{person}"));
                let msg = (rng.below(3) as usize, idents, format!("r{round}-{k}"), format!("第{round}轮第{k}条"), name);
                sent.push(msg.clone());
                msg
            };
            let mut a = inbound(&fa, &chans_a[chan], idents.clone(), &ext, &text, at);
            a.display_name.clone_from(&name);
            let mut b = inbound(&fb, &chans_b[chan], idents, &ext, &text, at);
            b.display_name = name;
            batch_a.push(a);
            batch_b.push(b);
        }
        let out_a: Vec<_> = store.ingest_batch(&batch_a).await.into_iter().map(Result::unwrap).collect();
        for (k, (a, b)) in out_a.iter().zip(&batch_b).enumerate() {
            let ob = store.ingest(b).await.unwrap();
            compare_outcomes(&mut ids, a, &ob, &format!("round {round} message {k}"));
            n_merged += a.merged.len() + a.merge_suggested.len();
            n_reopened += usize::from(a.reopened);
            if !convs_a.contains(&a.conversation_id.as_str().to_owned()) {
                convs_a.push(a.conversation_id.as_str().to_owned());
            }
        }

        // Between batches, agents work on some conversations; then time may jump past the
        // one-hour reopen window.
        for conv in &convs_a {
            if !rng.chance(30) {
                continue;
            }
            t += 1;
            let transition = match rng.below(10) {
                0..=5 => Transition::Resolve,
                6 => Transition::HandOff,
                7 => Transition::Close,
                _ => Transition::Assign,
            };
            let ca = lingxi_domain::ConversationId::parse(conv).unwrap();
            let cb = lingxi_domain::ConversationId::parse(&ids.get(conv)).unwrap();
            let ra = store.transition(&fa.tenant, &ca, transition, Some(&user_a.id), None, "t", ts(t)).await;
            let rb = store.transition(&fb.tenant, &cb, transition, Some(&user_b.id), None, "t", ts(t)).await;
            match (ra, rb) {
                (Ok(a), Ok(b)) => assert_eq!(a.state, b.state),
                (Err(_), Err(_)) => {}
                (a, b) => {
                    panic!("transition {transition:?} of {conv}: {:?} vs {:?}", a.map(|c| c.state), b.map(|c| c.state))
                }
            }
        }
        t += [0, 600, 3000, 5000][rng.below(4) as usize];
    }
    assert!(
        n_dups > 20 && n_reopened > 3 && n_merged > 3,
        "the traffic exercised dups {n_dups}, reopens {n_reopened}, merges {n_merged}"
    );
    let (fast_after, fallbacks_after) = Store::ingest_path_counts();
    assert!(fast_after - fast_before > 500, "the set-based path stored the batches");
    assert_eq!(fallbacks_after, fallbacks_before, "no batch fell back to the per-message path");

    // The rows, compared through the id bijection.
    assert_eq!(store.count_messages(&fa.tenant).await.unwrap(), store.count_messages(&fb.tenant).await.unwrap());
    let customers_a: Vec<String> = ids.fwd.keys().filter(|k| k.starts_with("cus")).cloned().collect();
    assert!(customers_a.len() > 10);
    for ca in &customers_a {
        let a = store.customer(&fa.tenant, &lingxi_domain::CustomerId::parse(ca).unwrap()).await.unwrap();
        let cb = lingxi_domain::CustomerId::parse(&ids.get(ca)).unwrap();
        let b = store.customer(&fb.tenant, &cb).await.unwrap();
        assert_eq!(
            (&a.display_name, a.created_at, a.updated_at),
            (&b.display_name, b.created_at, b.updated_at),
            "{ca}"
        );
        assert_eq!(
            a.merged_into.as_ref().map(|m| ids.get(m.as_str())),
            b.merged_into.as_ref().map(|m| m.as_str().to_owned()),
            "{ca}"
        );
        let idents = |v: &lingxi_store::CustomerView| {
            v.identities
                .iter()
                .map(|i| (i.kind.clone(), i.value.clone(), i.source.clone(), i.created_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(idents(&a), idents(&b), "{ca}");
        let (convs_a, msgs_a) = store.timeline(&fa.tenant, &a.id, 10_000).await.unwrap();
        let (convs_b, msgs_b) = store.timeline(&fb.tenant, &cb, 10_000).await.unwrap();
        assert_eq!(convs_a.len(), convs_b.len(), "{ca}");
        for (x, y) in convs_a.iter().zip(&convs_b) {
            assert_eq!(ids.get(x.id.as_str()), y.id.as_str());
            assert_eq!(
                (x.channel_kind, x.state, x.created_at, x.updated_at, x.last_message_at, x.resolved_at),
                (y.channel_kind, y.state, y.created_at, y.updated_at, y.last_message_at, y.resolved_at),
                "{}",
                x.id
            );
            assert_eq!(
                x.assignee_id.as_ref().map(|u| ids.get(u.as_str())),
                y.assignee_id.as_ref().map(|u| u.as_str().to_owned())
            );
            assert_eq!(
                x.linked_conversation_id.as_ref().map(|c| ids.get(c.as_str())),
                y.linked_conversation_id.as_ref().map(|c| c.as_str().to_owned())
            );
        }
        assert_eq!(msgs_a.len(), msgs_b.len(), "{ca}");
        for (x, y) in msgs_a.iter().zip(&msgs_b) {
            assert_eq!(ids.get(x.id.as_str()), y.id.as_str());
            assert_eq!(ids.get(x.conversation_id.as_str()), y.conversation_id.as_str());
            assert_eq!(ids.get(x.customer_id.as_str()), y.customer_id.as_str());
            assert_eq!(
                (&x.sender_kind, &x.content, &x.external_id, x.sent_at, x.received_at),
                (&y.sender_kind, &y.content, &y.external_id, y.sent_at, y.received_at)
            );
        }
    }
    let audit = |rows: Vec<lingxi_store::AuditRow>, map: Option<&IdMap>| {
        let mut v: Vec<_> = rows
            .into_iter()
            .map(|r| (r.at, r.action, r.actor, map.map_or(r.target.clone(), |m| m.get(&r.target))))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        audit(store.list_audit(&fa.tenant, 100_000).await.unwrap(), Some(&ids)),
        audit(store.list_audit(&fb.tenant, 100_000).await.unwrap(), None)
    );
    let merges = |rows: Vec<lingxi_store::MergeRow>, map: Option<&IdMap>| {
        let m = |id: &str| map.map_or(id.to_owned(), |m| m.get(id));
        let mut v: Vec<_> = rows
            .into_iter()
            .map(|r| (r.created_at, r.status, m(r.survivor_id.as_str()), m(r.absorbed_id.as_str()), r.reason))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        merges(store.list_merges(&fa.tenant, None).await.unwrap(), Some(&ids)),
        merges(store.list_merges(&fb.tenant, None).await.unwrap(), None)
    );
}

/// Widget visitors: found by token digest, linked idempotently to the conversations their
/// messages went into, and reading exactly those (even after a merge joins customers).
async fn widget_visitors_read_only_their_own_conversations(store: Store) {
    let f = fixture(&store, "shop", MergePolicy::Automatic).await;
    let web = store.create_channel(&f.tenant, ChannelKind::WebChat, "web", "shop-k3", None, ts(0)).await.unwrap();
    assert_eq!(store.channel_by_id(&web.id).await.unwrap().kind, ChannelKind::WebChat);
    let v1 = store.create_visitor(&web, "digest-1", "web-1", Some("王"), ts(1)).await.unwrap();
    let v2 = store.create_visitor(&web, "digest-2", "web-2", None, ts(1)).await.unwrap();
    assert_eq!(store.visitor_by_token("digest-1").await.unwrap().id, v1.id);
    assert!(matches!(store.visitor_by_token("nope").await, Err(lingxi_store::StoreError::NotFound(_))));
    assert!(store.create_visitor(&web, "digest-1", "web-3", None, ts(1)).await.is_err(), "token digests are unique");

    let a = store.ingest(&inbound(&f, &web, vec![ident("device_id", "web-1")], "v1:a", "我的", 10)).await.unwrap();
    let b = store.ingest(&inbound(&f, &web, vec![ident("device_id", "web-2")], "v2:a", "别人的", 11)).await.unwrap();
    for _ in 0..2 {
        store.link_visitor_conversation(&v1, &a.conversation_id, ts(10)).await.unwrap();
    }
    store.link_visitor_conversation(&v2, &b.conversation_id, ts(11)).await.unwrap();
    assert_eq!(store.visitor_conversations(&v1).await.unwrap(), vec![a.conversation_id.clone()]);
    // An agent merges the two customers: each visitor still reads only its own conversation.
    store.merge_customers(&f.tenant, &a.customer_id, &b.customer_id, "same person", "test", ts(12)).await.unwrap();
    let texts = |msgs: Vec<lingxi_store::MessageRow>| {
        msgs.iter().map(|m| m.content["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(texts(store.visitor_messages(&v1, None, 50).await.unwrap()), ["我的"]);
    assert_eq!(texts(store.visitor_messages(&v2, None, 50).await.unwrap()), ["别人的"]);
    store
        .add_message(
            &f.tenant,
            &a.conversation_id,
            &NewMessage { sender: Sender::Bot, content: Content::text("您好").unwrap() },
            ts(20),
        )
        .await
        .unwrap();
    assert_eq!(texts(store.visitor_messages(&v1, None, 50).await.unwrap()), ["我的", "您好"]);
    assert_eq!(texts(store.visitor_messages(&v1, None, 1).await.unwrap()), ["您好"], "the latest, in time order");
    assert_eq!(texts(store.visitor_messages(&v1, Some(ts(20)), 50).await.unwrap()), ["您好"], "since is inclusive");
    assert!(store.visitor_messages(&v1, Some(ts(21)), 50).await.unwrap().is_empty());
}

fn kb_entry(id: &str, status: &str, version: i64, question: &str) -> KbEntryWrite {
    KbEntryWrite {
        entry_id: id.into(),
        lang: "zh".into(),
        status: status.into(),
        version,
        question: question.into(),
        doc: format!("{{\"id\":\"{id}\",\"question\":\"{question}\",\"version\":{version}}}"),
    }
}

async fn knowledge_entries_are_versioned_compared_and_set_and_isolated(store: Store) {
    let a = fixture(&store, "kb-a", MergePolicy::Automatic).await;
    let b = fixture(&store, "kb-b", MergePolicy::Automatic).await;
    let e1 = kb_entry("refund-time", "draft", 1, "退款多久到账");
    store.kb_save_entries(&a.tenant, &[(e1.clone(), Expect::New)], "usr_1", ts(1)).await.unwrap();
    // A second "new" with the same id, or an edit of a version that moved, is a conflict.
    assert!(matches!(
        store.kb_save_entries(&a.tenant, &[(e1.clone(), Expect::New)], "usr_1", ts(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let e2 = kb_entry("refund-time", "published", 2, "退款多久能到账");
    store.kb_save_entries(&a.tenant, &[(e2.clone(), Expect::Version(1))], "usr_2", ts(3)).await.unwrap();
    assert!(matches!(
        store.kb_save_entries(&a.tenant, &[(e2.clone(), Expect::Version(1))], "usr_2", ts(4)).await,
        Err(StoreError::Conflict(_))
    ));
    let row = store.kb_entry(&a.tenant, "refund-time").await.unwrap();
    assert_eq!((row.version, row.status.as_str(), row.question.as_str()), (2, "published", "退款多久能到账"));
    assert_eq!((row.updated_by.as_str(), row.updated_at), ("usr_2", ts(3)));
    let versions = store.kb_versions(&a.tenant, "refund-time").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| (v.version, v.status.as_str())).collect::<Vec<_>>(),
        [(2, "published"), (1, "draft")]
    );
    assert_eq!(versions[1].doc, e1.doc);
    // A batch is all or nothing: one conflicting row stores none of the others.
    let batch = [(kb_entry("invoice", "published", 1, "怎么开发票"), Expect::New), (e1.clone(), Expect::New)];
    assert!(store.kb_save_entries(&a.tenant, &batch, "cli", ts(5)).await.is_err());
    assert!(matches!(store.kb_entry(&a.tenant, "invoice").await, Err(StoreError::NotFound(_))));
    store.kb_save_entries(&a.tenant, &batch[..1], "cli", ts(5)).await.unwrap();
    assert_eq!(store.kb_count_entries(&a.tenant).await.unwrap(), 2);
    let published = store.kb_entries(&a.tenant, Some("published")).await.unwrap();
    assert_eq!(published.iter().map(|r| r.entry_id.as_str()).collect::<Vec<_>>(), ["invoice", "refund-time"]);
    assert!(store.kb_entries(&a.tenant, Some("draft")).await.unwrap().is_empty());
    // Tenant B sees, changes and deletes none of A's entries; the same id in B is B's own.
    assert!(matches!(store.kb_entry(&b.tenant, "refund-time").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.kb_versions(&b.tenant, "refund-time").await, Err(StoreError::NotFound(_))));
    assert!(store.kb_save_entries(&b.tenant, &[(e2.clone(), Expect::Version(2))], "x", ts(6)).await.is_err());
    assert!(matches!(store.kb_delete_entry(&b.tenant, "refund-time").await, Err(StoreError::NotFound(_))));
    assert!(store.kb_entries(&b.tenant, None).await.unwrap().is_empty());
    store.kb_save_entries(&b.tenant, &[(e1.clone(), Expect::New)], "x", ts(6)).await.unwrap();
    assert_eq!(store.kb_entry(&a.tenant, "refund-time").await.unwrap().version, 2);
    // Deleting removes the entry and its history.
    store.kb_delete_entry(&a.tenant, "refund-time").await.unwrap();
    assert!(matches!(store.kb_versions(&a.tenant, "refund-time").await, Err(StoreError::NotFound(_))));
    assert_eq!(store.kb_count_entries(&b.tenant).await.unwrap(), 1);
    // Articles: replace by id, per tenant.
    let art = KbArticleRow {
        article_id: "wifi-camera".into(),
        title: "摄像头连不上 Wi-Fi".into(),
        body: "# 摄像头\n\n先重启路由器。".into(),
        status: "published".into(),
        updated_at: ts(7),
    };
    store.kb_put_article(&a.tenant, &art).await.unwrap();
    store.kb_put_article(&a.tenant, &KbArticleRow { title: "新标题".into(), ..art.clone() }).await.unwrap();
    let arts = store.kb_articles(&a.tenant).await.unwrap();
    assert_eq!((arts.len(), arts[0].title.as_str()), (1, "新标题"));
    assert_eq!(store.kb_article(&a.tenant, "wifi-camera").await.unwrap().body, art.body);
    assert!(matches!(store.kb_article(&b.tenant, "wifi-camera").await, Err(StoreError::NotFound(_))));
    assert!(store.kb_articles(&b.tenant).await.unwrap().is_empty());
    assert!(store.kb_delete_article(&b.tenant, "wifi-camera").await.is_err());
    store.kb_delete_article(&a.tenant, "wifi-camera").await.unwrap();
}

async fn knowledge_gaps_are_drafted_once_and_ratings_find_the_question(store: Store) {
    let a = fixture(&store, "gap-a", MergePolicy::Automatic).await;
    let b = fixture(&store, "gap-b", MergePolicy::Automatic).await;
    let gap = |text: &str, kind: &str| NewGap {
        conversation_id: None,
        text: text.into(),
        lang: "zh".into(),
        kind: kind.into(),
        confidence: 0.3,
    };
    let ids = store
        .kb_log_gaps(&a.tenant, &[gap("扫地机不充电", "low_confidence"), gap("扫地机充不进电", "handoff")], ts(1))
        .await
        .unwrap();
    store.kb_log_gaps(&a.tenant, &[gap("发票抬头错了", "low_confidence")], ts(2)).await.unwrap();
    let open = store.kb_open_gaps(&a.tenant, 10).await.unwrap();
    assert_eq!(open.len(), 3);
    assert_eq!(open[0].text, "发票抬头错了", "newest first");
    assert!(store.kb_open_gaps(&b.tenant, 10).await.unwrap().is_empty());
    // B cannot draft A's gaps.
    let draft = kb_entry("vacuum-charge", "draft", 1, "扫地机不充电");
    assert!(store.kb_draft_from_gaps(&b.tenant, &ids, &draft, "x", ts(3)).await.is_err());
    assert!(store.kb_entries(&b.tenant, None).await.unwrap().is_empty());
    store.kb_draft_from_gaps(&a.tenant, &ids, &draft, "usr_1", ts(3)).await.unwrap();
    assert_eq!(store.kb_entry(&a.tenant, "vacuum-charge").await.unwrap().status, "draft");
    assert_eq!(store.kb_open_gaps(&a.tenant, 10).await.unwrap().len(), 1);
    // Drafting the same gaps again is a conflict and stores nothing.
    let again = kb_entry("vacuum-2", "draft", 1, "扫地机不充电");
    assert!(matches!(
        store.kb_draft_from_gaps(&a.tenant, &ids, &again, "usr_1", ts(4)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.kb_entry(&a.tenant, "vacuum-2").await.is_err());

    // A rating keeps what it rated: an answer (its entry, the question it answered), a
    // recommendation (its rule). Other bot messages and customers' messages cannot be rated,
    // nor another tenant's.
    let m =
        store.ingest(&inbound(&a, &a.app, vec![ident("phone", "13800001111")], "q1", "保修多久", 10)).await.unwrap();
    let turn = |text: &str, at: i64, about: Option<ReplyAbout>| BotTurn {
        tenant_id: a.tenant.clone(),
        conversation_id: m.conversation_id.clone(),
        last_intent: None,
        sentiment: 0.0,
        failures: 0,
        reply: Content::text(text).ok(),
        handoff: None,
        handoff_details: None,
        at: ts(at),
        about,
        understood: None,
    };
    let answer =
        ReplyAbout { kind: RatedKind::Answer, ref_id: Some("warranty".into()), question: Some("保修多久".into()) };
    let tip = ReplyAbout { kind: RatedKind::Recommendation, ref_id: Some("camera-memory-card".into()), question: None };
    let stored = store
        .bot_turns(&[
            turn("一年保修", 11, Some(answer)),
            turn("配张存储卡？", 12, Some(tip)),
            turn("您是想问…", 13, None),
        ])
        .await
        .unwrap();
    let id = |i: usize| stored[i].as_ref().unwrap().1.as_ref().unwrap().id.clone();
    let (answer_msg, tip_msg, other_msg) = (id(0), id(1), id(2));
    // What each message was reads back (the bot's follow-ups read the entry it answered with).
    let warranty = store.reply_about(&a.tenant, &answer_msg).await.unwrap().unwrap();
    assert_eq!(
        (warranty.kind, warranty.ref_id.as_deref(), warranty.question.as_deref()),
        (RatedKind::Answer, Some("warranty"), Some("保修多久"))
    );
    let tip = store.reply_about(&a.tenant, &tip_msg).await.unwrap();
    assert_eq!(tip.map(|r| r.kind), Some(RatedKind::Recommendation));
    assert_eq!(store.reply_about(&a.tenant, &other_msg).await.unwrap(), None);
    assert_eq!(store.reply_about(&a.tenant, &m.message_id).await.unwrap(), None, "a customer's message");
    assert_eq!(store.reply_about(&b.tenant, &answer_msg).await.unwrap(), None, "another tenant's");
    let gap_text = |q: &str| GapText { text: q.to_owned(), lang: "zh".into() };
    let rate = |msg: &MessageId, useful: bool, at: i64| {
        let store = &store;
        let (tenant, msg) = (a.tenant.clone(), msg.clone());
        async move {
            match store.kb_rate(&tenant, &msg, useful, ts(at), gap_text).await.unwrap() {
                Rating::Rated(r) => r,
                Rating::NotRateable => panic!("not rated"),
            }
        }
    };
    let open_before = store.kb_open_gaps(&a.tenant, 10).await.unwrap().len();
    let r = rate(&answer_msg, false, 14).await;
    assert_eq!(
        (r.conversation_id, r.kind, r.ref_id.as_deref(), r.question.as_deref(), r.changed),
        (m.conversation_id.clone(), RatedKind::Answer, Some("warranty"), Some("保修多久"), true)
    );
    // A "not useful" answer logs its question as a gap, with the rating, once: not again for
    // the same rating, nor after a changed mind and back.
    let open = store.kb_open_gaps(&a.tenant, 10).await.unwrap();
    assert_eq!(open.len(), open_before + 1);
    assert_eq!(
        (Some(&open[0].id), open[0].text.as_str(), open[0].kind.as_str()),
        (r.gap.as_ref(), "保修多久", "not_useful")
    );
    let again = rate(&answer_msg, false, 15).await;
    assert_eq!((again.changed, again.gap), (false, None), "an unchanged rating logs nothing");
    let up = rate(&answer_msg, true, 15).await;
    assert_eq!((up.changed, up.gap), (true, None));
    let down = rate(&answer_msg, false, 15).await;
    assert_eq!((down.changed, down.gap), (true, None), "the question's gap is logged already");
    rate(&answer_msg, true, 15).await;
    let r = rate(&tip_msg, false, 16).await;
    assert_eq!(
        (r.kind, r.ref_id.as_deref(), r.question, r.gap),
        (RatedKind::Recommendation, Some("camera-memory-card"), None, None)
    );
    assert_eq!(store.kb_open_gaps(&a.tenant, 10).await.unwrap().len(), open_before + 1);
    let counts = store.kb_feedback_counts(&a.tenant).await.unwrap();
    let of = |k: RatedKind| counts.iter().find(|c| c.kind == k).map(|c| (c.ref_id.clone(), c.useful, c.not_useful));
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(of(RatedKind::Answer), Some((Some("warranty".into()), 1, 0)), "the latest rating wins");
    assert_eq!(of(RatedKind::Recommendation), Some((Some("camera-memory-card".into()), 0, 1)));
    assert_eq!(store.kb_rate(&a.tenant, &other_msg, false, ts(17), gap_text).await.unwrap(), Rating::NotRateable);
    assert_eq!(store.kb_rate(&a.tenant, &m.message_id, false, ts(17), gap_text).await.unwrap(), Rating::NotRateable);
    assert!(matches!(
        store.kb_rate(&b.tenant, &answer_msg, false, ts(17), gap_text).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.kb_feedback_counts(&a.tenant).await.unwrap().len(), 2, "refused ratings store nothing");
    assert!(store.kb_feedback_counts(&b.tenant).await.unwrap().is_empty());
}

/// Migration 0013 on a database that already holds the duplicates the old check-then-insert
/// could leave: one `not_useful` gap per conversation and question stays (a drafted one rather
/// than an open one), other kinds keep theirs, and the unique key then refuses a duplicate.
async fn migration_13_keeps_one_not_useful_gap_per_conversation_and_question(store: Store) {
    let a = fixture(&store, "gap-m", MergePolicy::Automatic).await;
    let conv = |phone: &str, ext: &str| {
        let m = inbound(&a, &a.app, vec![ident("phone", phone)], ext, "保修多久", 10);
        let store = &store;
        async move { store.ingest(&m).await.unwrap().conversation_id }
    };
    let (one, two) = (conv("13800001111", "q1").await, conv("13900002222", "q2").await);
    let gap = |c: &lingxi_domain::ConversationId, text: &str, kind: &str| NewGap {
        conversation_id: Some(c.clone()),
        text: text.into(),
        lang: "zh".into(),
        kind: kind.into(),
        confidence: 0.0,
    };
    // Back to the schema before 0013.
    store.execute_raw("DROP INDEX kb_gaps_rated_once").await.unwrap();
    store.execute_raw("DELETE FROM schema_migrations WHERE version = 13").await.unwrap();
    let dup = store
        .kb_log_gaps(
            &a.tenant,
            &[
                gap(&one, "保修多久", "not_useful"),
                gap(&one, "保修多久", "not_useful"),
                gap(&one, "保修多久", "not_useful"),
            ],
            ts(1),
        )
        .await
        .unwrap();
    store
        .kb_log_gaps(
            &a.tenant,
            &[
                gap(&two, "保修多久", "not_useful"),
                gap(&one, "怎么退货", "not_useful"),
                gap(&one, "保修多久", "low_confidence"),
                gap(&one, "保修多久", "low_confidence"),
            ],
            ts(2),
        )
        .await
        .unwrap();
    // The last of the three was drafted already: that one is kept.
    let draft = kb_entry("warranty-gap", "draft", 1, "保修多久");
    store.kb_draft_from_gaps(&a.tenant, &dup[2..], &draft, "usr_1", ts(3)).await.unwrap();

    assert_eq!(store.migrate().await.unwrap(), [13]);
    let open = store.kb_open_gaps(&a.tenant, 100).await.unwrap();
    let count = |c: &lingxi_domain::ConversationId, text: &str, kind: &str| {
        open.iter()
            .filter(|g| g.conversation_id.as_deref() == Some(c.as_str()) && g.text == text && g.kind == kind)
            .count()
    };
    assert_eq!(count(&one, "保修多久", "not_useful"), 0, "the drafted duplicate is the one kept: {open:?}");
    assert_eq!(count(&two, "保修多久", "not_useful"), 1);
    assert_eq!(count(&one, "怎么退货", "not_useful"), 1);
    assert_eq!(count(&one, "保修多久", "low_confidence"), 2, "other kinds are left alone");
    assert_eq!(open.len(), 4, "{open:?}");
    // And the key now refuses a second not-useful gap for the same question.
    assert!(store.kb_log_gaps(&a.tenant, &[gap(&two, "保修多久", "not_useful")], ts(4)).await.is_err());
    store.kb_log_gaps(&a.tenant, &[gap(&two, "保修多久", "low_confidence")], ts(4)).await.unwrap();
}

/// Routing data: profiles are per tenant, routing's compare-and-set refuses a stale view, SLA
/// clocks read the right timestamps, and an SLA event is recorded once.
async fn routing_profiles_sla_clocks_and_expected_transitions(store: Store) {
    use lingxi_store::RoutingProfile;
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let other = fixture(&store, "other", MergePolicy::Automatic).await;
    let a = store.create_user(&f.tenant, "a@acme.test", "A", Role::Agent, "x", &[], ts(0)).await.unwrap();
    let b = store.create_user(&f.tenant, "b@acme.test", "B", Role::Agent, "x", &[], ts(0)).await.unwrap();
    assert_eq!(store.routing_profile(&f.tenant, &a.id).await.unwrap(), RoutingProfile::default());
    let p = RoutingProfile { skills: vec!["lang:en".into()], chat_capacity: Some(3), email_capacity: None };
    store.set_routing_profile(&f.tenant, &a.id, &p).await.unwrap();
    assert_eq!(store.routing_profiles(&f.tenant).await.unwrap()[&a.id], p);
    assert!(store.set_routing_profile(&other.tenant, &a.id, &p).await.is_err(), "not across tenants");
    assert!(store.routing_profile(&other.tenant, &a.id).await.is_err());

    let c = store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w1", "hi", 0)).await.unwrap();
    let c = &c.conversation_id;
    store.transition(&f.tenant, c, Transition::HandOff, None, None, "t", ts(10)).await.unwrap();
    store.transition(&f.tenant, c, Transition::Assign, Some(&a.id), None, "t", ts(11)).await.unwrap();
    // A router that still believes it is waiting, or owned by someone else, is refused.
    let queued = Some((ConversationState::Queued, None));
    let r = store.transition_expecting(&f.tenant, c, Transition::Assign, Some(&b.id), queued, None, "r", ts(12)).await;
    assert!(r.is_err());
    let by_b = Some((ConversationState::Assigned, Some(&b.id)));
    assert!(store
        .transition_expecting(&f.tenant, c, Transition::Requeue, None, by_b, None, "r", ts(12))
        .await
        .is_err());
    assert_eq!(store.conversation(&f.tenant, c).await.unwrap().assignee_id.as_ref(), Some(&a.id));
    let by_a = Some((ConversationState::Assigned, Some(&a.id)));
    store.transition_expecting(&f.tenant, c, Transition::Requeue, None, by_a, None, "r", ts(13)).await.unwrap();
    store.transition_expecting(&f.tenant, c, Transition::Assign, Some(&b.id), queued, None, "r", ts(14)).await.unwrap();

    // SLA clocks: from the hand-off; the first agent reply; the customer's unanswered message.
    let reply = |s| NewMessage { sender: Sender::Agent(b.id.clone()), content: Content::text(s).unwrap() };
    let clocks = store.sla_clocks(&f.tenant, 10).await.unwrap();
    assert_eq!((clocks.len(), clocks[0].handoff_at, clocks[0].first_agent_reply_at), (1, ts(10).millis(), None));
    store.add_message(&f.tenant, c, &reply("hello"), ts(20)).await.unwrap();
    store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w2", "still there?", 30)).await.unwrap();
    store.ingest(&inbound(&f, &f.wechat, vec![ident("wechat_openid", "o")], "w3", "hello?", 40)).await.unwrap();
    let clocks = store.sla_clocks(&f.tenant, 10).await.unwrap();
    assert_eq!(clocks[0].first_agent_reply_at, Some(ts(20).millis()));
    assert_eq!(clocks[0].awaiting_reply_since, Some(ts(30).millis()));
    assert!(store.sla_clocks(&other.tenant, 10).await.unwrap().is_empty());

    assert!(store.record_sla_event(&f.tenant, c, "first_response", "warning", 1, 2, ts(50)).await.unwrap());
    assert!(!store.record_sla_event(&f.tenant, c, "first_response", "warning", 1, 2, ts(51)).await.unwrap());
    assert!(store.record_sla_event(&f.tenant, c, "first_response", "breach", 1, 3, ts(51)).await.unwrap());
    assert_eq!(store.sla_events(&f.tenant, c).await.unwrap().len(), 2);
    assert!(store.sla_events(&other.tenant, c).await.unwrap().is_empty());
}

async fn business_records_pending_state_and_flows_are_per_tenant(store: Store) {
    use lingxi_store::BusinessRecord;
    use std::collections::BTreeMap;
    let a = fixture(&store, "rec-a", MergePolicy::Automatic).await;
    let b = fixture(&store, "rec-b", MergePolicy::Automatic).await;
    let rec = |key: &str, owner: &str, status: &str| BusinessRecord {
        kind: "orders".into(),
        key: key.into(),
        owner: owner.into(),
        fields: BTreeMap::from([("status".to_owned(), status.to_owned())]),
    };
    assert!(!store.has_records(&a.tenant).await.unwrap());
    store.put_records(&a.tenant, &[rec("LX1", "138", "paid"), rec("LX2", "138", "shipped")], ts(1)).await.unwrap();
    // The same key again replaces the record.
    store.put_records(&a.tenant, &[rec("LX1", "138", "delivered")], ts(2)).await.unwrap();
    assert_eq!(store.record(&a.tenant, "orders", "LX1").await.unwrap().unwrap().fields["status"], "delivered");
    assert!(store.record(&b.tenant, "orders", "LX1").await.unwrap().is_none(), "B sees none of A's records");
    assert!(store.record(&a.tenant, "refunds", "LX1").await.unwrap().is_none(), "kinds are apart");
    let owned = store.records_owned(&a.tenant, "orders", &["138".into(), "".into()]).await.unwrap();
    assert_eq!(owned.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["LX2", "LX1"]);
    assert!(store.records_owned(&b.tenant, "orders", &["138".into()]).await.unwrap().is_empty());
    assert!(store.has_records(&a.tenant).await.unwrap() && !store.has_records(&b.tenant).await.unwrap());

    let out = store.ingest(&inbound(&a, &a.wechat, vec![ident("phone", "13800000001")], "m1", "hi", 1)).await.unwrap();
    let cus = out.customer_id;
    assert_eq!(store.bot_pending(&a.tenant, &cus).await.unwrap(), None);
    store.set_bot_pending(&a.tenant, &cus, Some("{\"x\":1}"), ts(3)).await.unwrap();
    store.set_bot_pending(&a.tenant, &cus, Some("{\"x\":2}"), ts(4)).await.unwrap();
    assert_eq!(store.bot_pending(&a.tenant, &cus).await.unwrap().as_deref(), Some("{\"x\":2}"));
    assert_eq!(store.bot_pending_at(&a.tenant, &cus).await.unwrap(), Some(("{\"x\":2}".to_owned(), ts(4))));
    assert_eq!(store.bot_pending(&b.tenant, &cus).await.unwrap(), None, "keyed by tenant too");
    store.set_bot_pending(&a.tenant, &cus, None, ts(5)).await.unwrap();
    assert_eq!(store.bot_pending(&a.tenant, &cus).await.unwrap(), None);

    store.create_flow(&a.tenant, "f1", "{}", ts(1)).await.unwrap();
    assert!(matches!(store.create_flow(&a.tenant, "f1", "{}", ts(1)).await, Err(StoreError::Conflict(_))));
    store.create_flow(&b.tenant, "f1", "{\"b\":1}", ts(1)).await.unwrap();
    store.replace_flow(&a.tenant, "f1", "{\"a\":2}", ts(2)).await.unwrap();
    assert_eq!(store.flow(&a.tenant, "f1").await.unwrap().spec, "{\"a\":2}");
    assert_eq!(store.flow(&b.tenant, "f1").await.unwrap().spec, "{\"b\":1}", "B's flow untouched");
    assert!(matches!(store.replace_flow(&a.tenant, "f2", "{}", ts(2)).await, Err(StoreError::NotFound(_))));
    store.delete_flow(&a.tenant, "f1").await.unwrap();
    assert!(matches!(store.delete_flow(&a.tenant, "f1").await, Err(StoreError::NotFound(_))));
    assert_eq!(store.flows(&a.tenant).await.unwrap().len(), 0);
    assert_eq!(store.flows(&b.tenant).await.unwrap().len(), 1);
}

/// Candidates learnt from agents: a conversation counts once, a decided candidate counts no
/// more, accepting saves the entry and closes the candidate together (or neither), and one
/// recommendation per conversation.
async fn candidates_count_each_conversation_once_and_are_decided_once(store: Store) {
    let a = fixture(&store, "cand-a", MergePolicy::Automatic).await;
    let b = fixture(&store, "cand-b", MergePolicy::Automatic).await;
    let c1 =
        store.ingest(&inbound(&a, &a.app, vec![ident("phone", "13800001111")], "c1", "扫地机不充电", 1)).await.unwrap();
    let c2 = store
        .ingest(&inbound(&a, &a.wechat, vec![ident("phone", "13800002222")], "c2", "扫地机充不进电", 2))
        .await
        .unwrap();
    let new = NewCandidate {
        kind: "new_entry".into(),
        entry_id: None,
        question: "扫地机不充电".into(),
        answer: "请清洁充电触点后重试。".into(),
        lang: "zh".into(),
        conversation_id: c1.conversation_id.clone(),
    };
    let id = store.kb_add_candidate(&a.tenant, &new, ts(3)).await.unwrap();
    assert!(store.kb_candidate_source_exists(&a.tenant, &c1.conversation_id).await.unwrap());
    assert!(!store.kb_candidate_source_exists(&b.tenant, &c1.conversation_id).await.unwrap());
    assert!(!store.kb_candidate_seen(&a.tenant, &id, &c1.conversation_id, ts(4)).await.unwrap(), "same conversation");
    assert!(store.kb_candidate_seen(&a.tenant, &id, &c2.conversation_id, ts(5)).await.unwrap());
    assert!(!store.kb_candidate_seen(&b.tenant, &id, &c2.conversation_id, ts(5)).await.unwrap());
    let row = store.kb_candidate(&a.tenant, &id).await.unwrap();
    assert_eq!((row.occurrences, row.status.as_str(), row.kind.as_str()), (2, "open", "new_entry"));
    assert_eq!(row.conversation_id, c1.conversation_id.as_str());
    assert!(matches!(store.kb_candidate(&b.tenant, &id).await, Err(StoreError::NotFound(_))));
    assert!(store.kb_candidates(&b.tenant, None, 10).await.unwrap().is_empty());
    assert_eq!(store.kb_candidates(&a.tenant, Some("open"), 10).await.unwrap().len(), 1);
    assert!(store.kb_candidates(&a.tenant, Some("accepted"), 10).await.unwrap().is_empty());

    // Accepting with an entry that exists stores nothing: the candidate stays open.
    let taken = kb_entry("vacuum-charge", "draft", 1, "x");
    store.kb_save_entries(&a.tenant, &[(taken.clone(), Expect::New)], "usr_1", ts(6)).await.unwrap();
    assert!(matches!(
        store.kb_accept_candidate(&a.tenant, &id, &taken, Expect::New, "usr_1", ts(7)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.kb_candidate(&a.tenant, &id).await.unwrap().status, "open");
    assert!(store
        .kb_accept_candidate(&b.tenant, &id, &kb_entry("other", "draft", 1, "x"), Expect::New, "u", ts(7))
        .await
        .is_err());
    let draft = kb_entry("from-agent-1", "draft", 1, "扫地机不充电");
    store.kb_accept_candidate(&a.tenant, &id, &draft, Expect::New, "usr_1", ts(8)).await.unwrap();
    let row = store.kb_candidate(&a.tenant, &id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.drafted_entry_id.as_deref(), row.decided_by.as_deref()),
        ("accepted", Some("from-agent-1"), Some("usr_1"))
    );
    assert_eq!(store.kb_entry(&a.tenant, "from-agent-1").await.unwrap().status, "draft");
    assert_eq!(store.kb_versions(&a.tenant, "from-agent-1").await.unwrap().len(), 1);
    // Decided once: no second decision, no more occurrences.
    assert!(matches!(store.kb_dismiss_candidate(&a.tenant, &id, "usr_1", ts(9)).await, Err(StoreError::Conflict(_))));
    let c3 = store.ingest(&inbound(&a, &a.app, vec![ident("phone", "13800003333")], "c3", "不充电", 10)).await.unwrap();
    assert!(!store.kb_candidate_seen(&a.tenant, &id, &c3.conversation_id, ts(10)).await.unwrap());
    assert_eq!(store.kb_candidate(&a.tenant, &id).await.unwrap().occurrences, 2);
    let other = store
        .kb_add_candidate(&a.tenant, &NewCandidate { conversation_id: c3.conversation_id.clone(), ..new }, ts(11))
        .await
        .unwrap();
    store.kb_dismiss_candidate(&a.tenant, &other, "usr_2", ts(12)).await.unwrap();
    assert_eq!(store.kb_candidate(&a.tenant, &other).await.unwrap().status, "dismissed");

    // One recommendation per conversation.
    assert!(store.claim_recommendation(&a.tenant, &c1.conversation_id, "camera-card", "SKU1", ts(13)).await.unwrap());
    assert!(!store.claim_recommendation(&a.tenant, &c1.conversation_id, "renewal", "", ts(14)).await.unwrap());
    assert_eq!(
        store.recommendation(&a.tenant, &c1.conversation_id).await.unwrap(),
        Some(("camera-card".to_owned(), "SKU1".to_owned()))
    );
    assert_eq!(store.recommendation(&a.tenant, &c2.conversation_id).await.unwrap(), None);
}

async fn embeddings_are_kept_per_model_and_digest(store: Store) {
    let d = |n: u8| -> [u8; 32] { std::array::from_fn(|i| n.wrapping_mul(31).wrapping_add(i as u8)) };
    let v = |x: f32| -> Vec<f32> { (0..384).map(|i| x + i as f32 * 1e-3).collect() };
    assert!(store.embeddings("m1", &[d(1)]).await.unwrap().is_empty(), "nothing stored yet");
    store.put_embeddings("m1", &[(d(1), v(0.5)), (d(2), v(-0.25))]).await.unwrap();
    store.put_embeddings("m2", &[(d(1), v(9.0))]).await.unwrap();
    let got = store.embeddings("m1", &[d(1), d(2), d(3)]).await.unwrap();
    assert_eq!(got.len(), 2, "the absent digest is simply missing");
    assert_eq!(got[&d(1)], v(0.5), "bit-exact round trip");
    assert_eq!(got[&d(2)], v(-0.25));
    // Another model never sees these vectors.
    assert_eq!(
        store.embeddings("m2", &[d(1), d(2)]).await.unwrap().into_iter().collect::<Vec<_>>(),
        vec![(d(1), v(9.0))]
    );
    assert!(store.embeddings("m3", &[d(1)]).await.unwrap().is_empty());
    // Putting again replaces (a damaged or recomputed vector); no duplicate key error.
    store.put_embeddings("m1", &[(d(1), v(1.0))]).await.unwrap();
    assert_eq!(store.embeddings("m1", &[d(1)]).await.unwrap()[&d(1)], v(1.0));
    // Many at once: more digests than one statement takes (chunks of 256).
    let many: Vec<([u8; 32], Vec<f32>)> = (0..600u32)
        .map(|n| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&n.to_le_bytes());
            (k, vec![n as f32, -(n as f32)])
        })
        .collect();
    store.put_embeddings("m1", &many).await.unwrap();
    let keys: Vec<[u8; 32]> = many.iter().map(|(k, _)| *k).collect();
    let got = store.embeddings("m1", &keys).await.unwrap();
    assert_eq!(got.len(), 600);
    assert!(many.iter().all(|(k, v)| &got[k] == v));
    assert!(store.embeddings("m1", &[]).await.unwrap().is_empty());
}

/// After a restart the bot answers what it never answered: conversations it owns whose latest
/// message is a customer's text received in the window; not one it answered, not one whose last
/// message is older, not one people own.
async fn conversations_awaiting_the_bot_are_those_whose_last_word_is_the_customers(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let say =
        |who: &str, ext: &str, at: i64| inbound(&f, &f.app, vec![ident("device_id", who)], ext, "退款多久到账", at);
    let waiting = store.ingest(&say("d1", "m1", 10)).await.unwrap();
    let answered = store.ingest(&say("d2", "m2", 11)).await.unwrap();
    let old = store.ingest(&say("d3", "m3", 1)).await.unwrap();
    let handed = store.ingest(&say("d4", "m4", 12)).await.unwrap();
    let turn = |conv: &lingxi_domain::ConversationId, at: i64, handoff: bool| BotTurn {
        tenant_id: f.tenant.clone(),
        conversation_id: conv.clone(),
        last_intent: None,
        sentiment: 0.0,
        failures: 0,
        reply: if handoff { None } else { Content::text("三到五个工作日").ok() },
        handoff: handoff.then(|| ("customer_request".to_owned(), "客户要求人工".to_owned())),
        handoff_details: None,
        at: ts(at),
        about: None,
        understood: None,
    };
    store
        .bot_turns(&[turn(&answered.conversation_id, 12, false), turn(&handed.conversation_id, 13, true)])
        .await
        .unwrap();
    let ids = |rows: Vec<(TenantId, lingxi_store::ConversationRow)>| {
        rows.into_iter().map(|(t, c)| (assert_eq!(t, f.tenant), c.id).1).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.awaiting_bot(ts(5), ts(20), 10).await.unwrap()),
        std::slice::from_ref(&waiting.conversation_id)
    );
    assert!(store.awaiting_bot(ts(5), ts(10), 10).await.unwrap().is_empty(), "the window's end is exclusive");
    assert_eq!(
        ids(store.awaiting_bot(ts(0), ts(20), 10).await.unwrap()),
        [old.conversation_id, waiting.conversation_id]
    );
}

/// Storing a turn claims the customer's message for that computation of the turn: all its
/// replies are kept (one token), another computation's are dropped whole, also when both are
/// stored at the same moment (two nodes answering one message after a crash).
async fn a_customer_message_is_answered_by_one_computation_of_the_bots_turn(store: Store) {
    let f = fixture(&store, "acme", MergePolicy::Automatic).await;
    let say = |who: &str, ext: &str| inbound(&f, &f.app, vec![ident("device_id", who)], ext, "退款多久到账", 10);
    let turn = |m: &lingxi_store::IngestOutcome, u: &Understood, text: &str, at: i64| BotTurn {
        tenant_id: f.tenant.clone(),
        conversation_id: m.conversation_id.clone(),
        last_intent: Some(u.intent.clone()),
        sentiment: 0.0,
        failures: 0,
        reply: Content::text(text).ok(),
        handoff: None,
        handoff_details: None,
        at: ts(at),
        about: None,
        understood: Some(u.clone()),
    };
    let bot_texts = |m: lingxi_store::IngestOutcome| {
        let store = store.clone();
        let tenant = f.tenant.clone();
        async move {
            let all = store.messages(&tenant, &m.conversation_id, 50).await.unwrap();
            let question = all.iter().find(|r| r.id == m.message_id).unwrap().intent.clone();
            let replies: Vec<String> = all
                .iter()
                .filter(|r| r.sender_kind == "bot")
                .map(|r| r.content["text"].as_str().unwrap().to_owned())
                .collect();
            (question, replies)
        }
    };

    let m = store.ingest(&say("d1", "m1")).await.unwrap();
    let first = Understood::new(m.message_id.clone(), "refund_status".into());
    let other = Understood::new(m.message_id.clone(), "refund_request".into());
    assert_ne!(first.turn, other.turn, "each computation has its own token");
    let stored = store.bot_turns(&[turn(&m, &first, "一", 11), turn(&m, &first, "二", 12)]).await.unwrap();
    assert!(stored.iter().all(Option::is_some), "one computation's replies are all kept");
    let stored = store.bot_turns(&[turn(&m, &other, "三", 13)]).await.unwrap();
    assert!(stored[0].is_none(), "another computation's reply to the claimed message is dropped");
    let again = store.bot_turns(&[turn(&m, &first, "四", 14)]).await.unwrap();
    assert!(again[0].is_some(), "the claimer may still add to its turn");
    assert_eq!(bot_texts(m).await, (Some("refund_status".to_owned()), vec!["一".into(), "二".into(), "四".into()]));

    // Two computations stored at once: exactly one wins, whichever it is.
    for round in 0..5 {
        let m = store.ingest(&say(&format!("r{round}"), &format!("race{round}"))).await.unwrap();
        let a = Understood::new(m.message_id.clone(), "a".into());
        let b = Understood::new(m.message_id.clone(), "b".into());
        let (ta, tb) = ([turn(&m, &a, "a1", 11), turn(&m, &a, "a2", 12)], [turn(&m, &b, "b1", 11)]);
        let (ra, rb) = tokio::join!(store.bot_turns(&ta), store.bot_turns(&tb));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let (question, replies) = bot_texts(m).await;
        if ra[0].is_some() {
            assert!(ra[1].is_some() && rb[0].is_none(), "round {round}: a won, b dropped");
            assert_eq!((question.as_deref(), replies), (Some("a"), vec!["a1".to_owned(), "a2".into()]));
        } else {
            assert!(ra[1].is_none() && rb[0].is_some(), "round {round}: b won, both of a's dropped");
            assert_eq!((question.as_deref(), replies), (Some("b"), vec!["b1".to_owned()]));
        }
    }
}
