//! Tenants' intent model versions: numbered per tenant, the pointer moves (rollback, back to
//! the defaults), artifacts come back byte for byte, tenants never see each other's.

use super::{fixture, ts};
use lingxi_domain::MergePolicy;
use lingxi_store::{NewIntentModel, Store, StoreError};

fn model(id: &str, bytes: &[u8]) -> NewIntentModel {
    NewIntentModel {
        model_id: id.into(),
        training_data: format!(r#"{{"intents":[{{"intent":"{id}","examples":["x"]}}]}}"#),
        model: bytes.to_vec(),
        report: r#"{"holdout_accuracy":0.9}"#.into(),
        n_intents: 2,
        n_examples: 10,
        created_by: "usr_admin".into(),
    }
}

pub async fn intent_model_versions_are_numbered_per_tenant_and_the_pointer_moves(store: Store) {
    let a = fixture(&store, "nlu-a", MergePolicy::Automatic).await.tenant;
    let b = fixture(&store, "nlu-b", MergePolicy::Automatic).await.tenant;
    assert_eq!(store.intent_model_active_version(&a).await.unwrap(), None);
    assert_eq!(store.intent_model_active_artifact(&a).await.unwrap(), None);
    // Every byte value survives the round trip, including NUL and high bytes.
    let bytes1: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let v1 = store.intent_model_save(&a, &model("m1", &bytes1), true, ts(1)).await.unwrap();
    let v2 = store.intent_model_save(&a, &model("m2", b"second"), false, ts(2)).await.unwrap();
    assert_eq!((v1, v2), (1, 2));
    // Saved without activating: version 1 stays in use.
    assert_eq!(store.intent_model_active_artifact(&a).await.unwrap(), Some((1, bytes1.clone())));
    store.intent_model_activate(&a, Some(2), ts(3)).await.unwrap();
    assert_eq!(store.intent_model_active_artifact(&a).await.unwrap(), Some((2, b"second".to_vec())));
    let list = store.intent_models(&a).await.unwrap();
    assert_eq!(list.iter().map(|r| (r.version, r.active)).collect::<Vec<_>>(), [(2, true), (1, false)]);
    assert_eq!((list[1].model_id.as_str(), list[1].created_at, list[1].n_intents), ("m1", ts(1), 2));
    let (row, data) = store.intent_model(&a, 1).await.unwrap();
    assert!(!row.active && data.contains("\"m1\""), "{row:?} {data}");
    // Another tenant numbers from 1 and cannot see or activate a's versions.
    assert!(store.intent_models(&b).await.unwrap().is_empty());
    assert!(matches!(store.intent_model(&b, 1).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.intent_model_activate(&b, Some(2), ts(4)).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.intent_model_save(&b, &model("b1", b"b"), true, ts(5)).await.unwrap(), 1);
    assert_eq!(store.intent_model_active_artifact(&a).await.unwrap().map(|x| x.0), Some(2));
    // Rollback, then back to the defaults.
    store.intent_model_activate(&a, Some(1), ts(6)).await.unwrap();
    assert_eq!(store.intent_model_active_version(&a).await.unwrap(), Some(1));
    store.intent_model_activate(&a, None, ts(7)).await.unwrap();
    assert_eq!(store.intent_model_active_version(&a).await.unwrap(), None);
    assert!(store.intent_models(&a).await.unwrap().iter().all(|r| !r.active));
    assert_eq!(store.intent_model_active_version(&b).await.unwrap(), Some(1));
}

pub async fn nlu_settings_are_per_tenant_and_replaced_whole(store: Store) {
    let a = fixture(&store, "nlus-a", MergePolicy::Automatic).await.tenant;
    let b = fixture(&store, "nlus-b", MergePolicy::Automatic).await.tenant;
    assert_eq!(store.nlu_settings(&a).await.unwrap(), None);
    store.set_nlu_settings(&a, r#"{"order_patterns":["DD\\d{8}"]}"#, ts(1)).await.unwrap();
    store.set_nlu_settings(&a, r#"{"catalogue":["X1"]}"#, ts(2)).await.unwrap();
    assert_eq!(store.nlu_settings(&a).await.unwrap(), Some((r#"{"catalogue":["X1"]}"#.to_owned(), ts(2))));
    assert_eq!(store.nlu_settings(&b).await.unwrap(), None);
}
