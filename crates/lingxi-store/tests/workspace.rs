//! The agent workspace's storage on SQLite and PostgreSQL alike: notes and canned responses
//! scoped by tenant, transfers as compare-and-set, the emotion alert changing once.

use lingxi_domain::{
    ChannelKind, Content, ConversationState, Identifier, IdentifierKind, MergePolicy, Role, TeamId, Timestamp,
    Transition,
};
use lingxi_store::{Inbound, Store, StoreError, TenantPolicy, Transfer};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

async fn sqlite() -> Store {
    let dir = std::env::temp_dir().join(format!("lingxi-store-ws-{:x}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.join("lingxi.db").display()), None).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn postgres() -> Store {
    let url = std::env::var("LINGXI_TEST_PG_URL").unwrap_or_else(|_| PG_URL.to_owned());
    let store = Store::connect(&url, Some(&format!("ws_{:x}", rand_u64()))).await.expect("PostgreSQL is required");
    store.migrate().await.unwrap();
    store
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await } )* }
    };
}

both!(workspace_rows_are_scoped_and_transfers_compare_and_set);

fn ts(s: i64) -> Timestamp {
    Timestamp::from_millis(1_760_000_000_000 + s * 1000)
}

async fn workspace_rows_are_scoped_and_transfers_compare_and_set(store: Store) {
    let a = store.create_tenant("a", "A", MergePolicy::Automatic, 3600, ts(0)).await.unwrap().id;
    let b = store.create_tenant("b", "B", MergePolicy::Automatic, 3600, ts(0)).await.unwrap().id;
    let ch = store.create_channel(&a, ChannelKind::WechatOfficial, "wx", "k-a", None, ts(0)).await.unwrap();
    let out = store
        .ingest(&Inbound {
            tenant_id: a.clone(),
            channel_id: ch.id.clone(),
            channel_kind: ch.kind,
            channel_team: None,
            policy: TenantPolicy { merge_policy: MergePolicy::Automatic, reopen_window_secs: 3600 },
            identifiers: vec![Identifier::parse(IdentifierKind::parse("phone").unwrap(), "13800000000").unwrap()],
            display_name: None,
            content: Content::text("hi").unwrap(),
            external_id: "m1".into(),
            sent_at: ts(1),
            received_at: ts(1),
        })
        .await
        .unwrap();
    let conv = out.conversation_id;
    let team = store.create_team(&a, "vip", ts(0)).await.unwrap().id;
    let u1 = store
        .create_user(&a, "u1@a.test", "U1", Role::Agent, "x", std::slice::from_ref(&team), ts(0))
        .await
        .unwrap()
        .id;
    let u2 = store.create_user(&a, "u2@a.test", "U2", Role::Agent, "x", &[] as &[TeamId], ts(0)).await.unwrap().id;

    // Notes: stored apart from messages, invisible from another tenant.
    store.add_note(&a, &conv, &u1, "internal", ts(2)).await.unwrap();
    assert_eq!(store.notes(&a, &conv).await.unwrap()[0].text, "internal");
    assert!(store.notes(&b, &conv).await.unwrap().is_empty());
    assert!(matches!(store.add_note(&b, &conv, &u1, "x", ts(2)).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.messages(&a, &conv, 10).await.unwrap().len(), 1);

    // Canned responses: per tenant.
    let c = store.create_canned_response(&a, "hi", "hello {{customer.name}}", "en", ts(3)).await.unwrap();
    assert!(store.canned_responses(&b).await.unwrap().is_empty());
    assert!(store.update_canned_response(&b, &c.id, Some("x"), None, None, ts(4)).await.is_err());
    assert!(store.delete_canned_response(&b, &c.id).await.is_err());
    let c2 = store.update_canned_response(&a, &c.id, None, None, Some("zh"), ts(4)).await.unwrap();
    assert_eq!((c2.title.as_str(), c2.lang.as_str()), ("hi", "zh"));

    // Transfers: only queued or assigned, against the state and owner the caller saw.
    let to = |agent: Option<_>, team: Option<TeamId>| Transfer { to_team: team, to_agent: agent, note: "n".into() };
    let bot = store.transfer(&a, &conv, ConversationState::Bot, None, &to(None, Some(team.clone())), &u1, ts(5)).await;
    assert!(matches!(bot, Err(StoreError::Conflict(m)) if m.contains("cannot")));
    store.transition(&a, &conv, Transition::HandOff, None, None, "t", ts(5)).await.unwrap();
    let (moved, note) = store
        .transfer(&a, &conv, ConversationState::Queued, None, &to(Some(u1.clone()), Some(team.clone())), &u2, ts(6))
        .await
        .unwrap();
    assert_eq!(
        (moved.state, moved.assignee_id.as_ref(), moved.team_id.as_ref()),
        (ConversationState::Assigned, Some(&u1), Some(&team))
    );
    assert_eq!((note.kind.as_str(), note.target.as_deref()), ("transfer", Some(u1.as_str())));
    // A stale view (still queued, nobody) loses; so does an agent outside the team.
    let stale =
        store.transfer(&a, &conv, ConversationState::Queued, None, &to(Some(u2.clone()), None), &u2, ts(7)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));
    let outside = store
        .transfer(&a, &conv, ConversationState::Assigned, Some(&u1), &to(Some(u2.clone()), None), &u1, ts(7))
        .await;
    assert!(matches!(outside, Err(StoreError::Invalid(_))));
    let other_tenant = store
        .transfer(&b, &conv, ConversationState::Assigned, Some(&u1), &to(None, Some(team.clone())), &u1, ts(7))
        .await;
    assert!(matches!(other_tenant, Err(StoreError::NotFound(_))));
    let (queued, _) = store
        .transfer(&a, &conv, ConversationState::Assigned, Some(&u1), &to(None, Some(team.clone())), &u1, ts(8))
        .await
        .unwrap();
    assert_eq!((queued.state, queued.assignee_id), (ConversationState::Queued, None));
    assert_eq!(store.notes(&a, &conv).await.unwrap().len(), 3, "failed transfers leave no note");

    // The emotion alert reports only changes, and never across tenants.
    assert!(store.set_emotion_alert(&a, &conv, true).await.unwrap());
    assert!(!store.set_emotion_alert(&a, &conv, true).await.unwrap());
    assert!(!store.set_emotion_alert(&b, &conv, false).await.unwrap());
    assert!(store.conversation(&a, &conv).await.unwrap().emotion_alert);
}
