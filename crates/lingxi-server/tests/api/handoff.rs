//! The hand-off policy is the tenant's: a business rule configured for one tenant slug hands
//! that tenant's matching conversations to people, and no one else's.

use super::*;

both!(a_tenants_business_rule_hands_over_only_its_own_matching_conversations);

async fn a_tenants_business_rule_hands_over_only_its_own_matching_conversations(backend: Backend) {
    // The harness names its tenants "alpha" (A) and "beta" (B).
    let file: lingxi_server::handoff_config::HandoffFile = toml::from_str(
        r#"
        [tenants.alpha]
        rules = [{ name = "app customers go to people", channels = ["mobile_app"] }]
        "#,
    )
    .expect("toml");
    let cfg = lingxi_server::handoff_config::HandoffConfig::from_file(Some(file)).unwrap();
    let app = spawn_app_with(backend, |c| {
        c.bot_enabled = true;
        c.handoff = cfg;
    })
    .await;
    assert_eq!(app.a.slug, "alpha");
    let sup_a = app.login(&app.a.supervisor).await;
    let sup_b = app.login(&app.b.supervisor).await;
    let ask = |key: String, n: &'static str| {
        let app = &app;
        async move {
            let ids = json!([{ "kind": "member_id", "value": format!("BR{n}") }]);
            let (s, m) = app.inbound(&key, msg(n, ids, "我的快递到哪了？")).await;
            assert_eq!(s, StatusCode::CREATED, "{m}");
            m["conversation_id"].as_str().unwrap().to_owned()
        }
    };
    let in_app = ask(app.a.app_key.clone(), "a1").await;
    let on_wechat = ask(app.a.wechat_key.clone(), "a2").await;
    let other_tenant = ask(app.b.app_key.clone(), "b1").await;
    let settled = |token: String, conv: String| {
        let app = &app;
        eventually(move || {
            let (token, path) = (token.clone(), format!("/api/v1/conversations/{conv}"));
            async move {
                let (_, v) = app.get(&token, &path).await;
                // The detail reads the conversation and its messages apart: wait until the row,
                // too, shows the bot's turn (its reply is stamped after the customer's message).
                let c = &v["conversation"];
                let turned = c["last_message_at"] != c["created_at"];
                (v["messages"].as_array().map_or(0, |m| m.len()) >= 2 && turned).then_some(c.clone())
            }
        })
    };
    let c = settled(sup_a.clone(), in_app).await;
    assert_eq!((c["state"].as_str(), c["handoff_reason"].as_str()), (Some("queued"), Some("business_rule")), "{c}");
    assert!(c["handoff_summary"].as_str().unwrap().contains("app customers go to people"), "{c}");
    let c = settled(sup_a, on_wechat).await;
    assert_eq!(c["state"], "bot", "another channel of the same tenant: {c}");
    let c = settled(sup_b, other_tenant).await;
    assert_eq!(c["state"], "bot", "another tenant's app: {c}");
}
