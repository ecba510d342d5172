//! Recommendations: after a confident answer the bot may add one suggestion chosen by rules over
//! the product catalogue and the customer's orders; never to an angry customer, never twice in a
//! conversation, never for a tenant that turned it off.

use super::*;
use lingxi_domain::ConversationId;

both!(
    a_happy_camera_owner_gets_one_suggestion_an_angry_one_and_a_tenant_that_said_no_get_none,
    ratings_name_their_message_and_a_recommendation_is_not_a_knowledge_gap
);

/// Posts a customer message and returns the bot's texts in the conversation once `n_bot` are
/// there and nothing more came for a moment.
async fn say(
    app: &TestApp,
    key: &str,
    tenant: &lingxi_domain::TenantId,
    id: &str,
    phone: &str,
    text: &str,
    n_bot: usize,
) -> (String, Vec<String>) {
    let (s, m) = app.inbound(key, msg(id, json!([{ "kind": "phone", "value": phone }]), text)).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let texts = || async {
        let id = ConversationId::parse(&conv).unwrap();
        let msgs = app.store.messages(tenant, &id, 50).await.unwrap();
        msgs.iter()
            .filter(|m| m.sender_kind == "bot")
            .filter_map(|m| m.content["text"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if texts().await.len() >= n_bot {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A suggestion, if any, follows its answer at once: give it time to show up.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let all = texts().await;
    (conv, all)
}

async fn a_happy_camera_owner_gets_one_suggestion_an_angry_one_and_a_tenant_that_said_no_get_none(backend: Backend) {
    let file: lingxi_server::recommend::RecommendFile = toml::from_str("[tenants.beta]\nenabled = false").unwrap();
    let cfg = lingxi_server::recommend::RecommendConfig::from_file(Some(file)).unwrap();
    // Alpha's bot keeps answering angry customers (no hand-off for mood or complaints), so what keeps the
    // suggestion away from them below is the mood check itself.
    let handoff: lingxi_server::handoff_config::HandoffFile =
        toml::from_str(
            "[tenants.alpha]\non_negative_sentiment = false\non_anger_rising = false\npriority_intents = []\nrisk_phrases = []",
        ).unwrap();
    let handoff = lingxi_server::handoff_config::HandoffConfig::from_file(Some(handoff)).unwrap();
    let app = spawn_app_with(backend, |c| {
        c.bot_enabled = true;
        c.recommendations = cfg;
        c.handoff = handoff;
    })
    .await;
    let now = Timestamp::from_millis(1_760_000_000_000);
    let mut ids = Vec::new();
    for slug in ["alpha", "beta"] {
        let t = app.store.tenant_by_slug(slug).await.unwrap().id;
        lingxi_server::knowledge::seed_demo(&app.store, &t, now).await.unwrap();
        lingxi_server::demo::seed_business(&app.store, &t, now).await.unwrap();
        ids.push(t);
    }
    let (alpha, beta) = (&ids[0], &ids[1]);

    // What the knowledge base answers to the questions asked below.
    let admin = app.login(&app.a.admin).await;
    let mut kb = Vec::new();
    for q in ["电子产品保修多久？", "可以修改收货地址吗？"] {
        let (_, v) = app.get(&admin, &format!("/api/v1/knowledge/search?q={q}")).await;
        assert_eq!(v["decision"], "answer", "{q}: {v}");
        kb.push(v["hits"][0]["answer"].as_str().unwrap().to_owned());
    }

    // 13600136005 bought the C2 camera and no memory card: the answer, then one suggestion.
    let (conv, said) = say(&app, &app.a.app_key, alpha, "h1", "13600136005", "电子产品保修多久？", 2).await;
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(said[0], kb[0], "the answer comes first");
    assert!(
        said[1].contains("智能摄像头 C2") && said[1].contains("64GB 存储卡") && said[1].contains("¥49.00"),
        "{said:?}"
    );
    let conv_id = ConversationId::parse(&conv).unwrap();
    assert_eq!(
        app.store.recommendation(alpha, &conv_id).await.unwrap(),
        Some(("camera-memory-card".to_owned(), "SD-64".to_owned()))
    );
    // A second answered question in the same conversation: no second suggestion.
    let (again, said) = say(&app, &app.a.app_key, alpha, "h2", "13600136005", "可以修改收货地址吗？", 3).await;
    assert_eq!(again, conv);
    assert_eq!(said.len(), 3, "one more answer and nothing else: {said:?}");
    assert_eq!(said[2], kb[1]);

    // 15800158004 owns the same camera but is angry: answered, and no suggestion.
    let angry = "气死我了😡😡😡 你们这什么破服务！！！";
    say(&app, &app.a.app_key, alpha, "a1", "15800158004", angry, 1).await;
    let (conv, said) = say(&app, &app.a.app_key, alpha, "a2", "15800158004", "电子产品保修多久？", 2).await;
    let conv = ConversationId::parse(&conv).unwrap();
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(said[1], kb[0], "answered, nothing more");
    assert_eq!(app.store.conversation(alpha, &conv).await.unwrap().state, lingxi_domain::ConversationState::Bot);
    assert_eq!(app.store.recommendation(alpha, &conv).await.unwrap(), None);

    // A business-data tool's answer counts too: 13800138001 has the camera and no card either.
    let (_, said) = say(&app, &app.a.wechat_key, alpha, "t1", "13800138001", "我的会员积分还有多少？", 2).await;
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].contains("2680"), "the tool's answer first: {said:?}");
    assert!(said[1].contains("64GB 存储卡"), "{said:?}");

    // The same suggestion is not made twice in a week: 13600136005 asks again on WeChat.
    let (conv, said) = say(&app, &app.a.wechat_key, alpha, "h3", "13600136005", "电子产品保修多久？", 1).await;
    assert_eq!(said, vec![kb[0].clone()], "answered, not pitched the same card again");
    assert_eq!(app.store.recommendation(alpha, &ConversationId::parse(&conv).unwrap()).await.unwrap(), None);

    // Nor after a return: 15800158004, calm now on WeChat, asks how to return, then about the
    // warranty (an answer that got the card above).
    let (conv, said) = say(&app, &app.a.wechat_key, alpha, "r1", "15800158004", "我要退货", 1).await;
    assert!(said[0].contains("退货"), "{said:?}");
    let (again, said) = say(&app, &app.a.wechat_key, alpha, "r2", "15800158004", "电子产品保修多久？", 2).await;
    assert_eq!(again, conv);
    assert_eq!(said[1], kb[0], "{said:?}");
    assert_eq!(app.store.recommendation(alpha, &ConversationId::parse(&conv).unwrap()).await.unwrap(), None);

    // Tenant beta turned recommendations off: the answer alone.
    let (conv, said) = say(&app, &app.b.app_key, beta, "b1", "13600136005", "电子产品保修多久？", 1).await;
    assert_eq!(said, vec![kb[0].clone()]);
    assert_eq!(app.store.recommendation(beta, &ConversationId::parse(&conv).unwrap()).await.unwrap(), None);
}

/// The bot's messages of a conversation, oldest first: (id, text).
async fn bot_messages(app: &TestApp, tenant: &lingxi_domain::TenantId, conv: &str) -> Vec<(String, String)> {
    let msgs = app.store.messages(tenant, &ConversationId::parse(conv).unwrap(), 50).await.unwrap();
    msgs.iter()
        .filter(|m| m.sender_kind == "bot")
        .map(|m| (m.id.as_str().to_owned(), m.content["text"].as_str().unwrap_or("").to_owned()))
        .collect()
}

async fn ratings_name_their_message_and_a_recommendation_is_not_a_knowledge_gap(backend: Backend) {
    let (app, alpha) = spawn_demo_bot(backend).await;
    let admin = app.login(&app.a.admin).await;
    let rate = |key: String, id: String, useful: bool| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(format!("{}/api/v1/inbound/feedback", app.base))
                .bearer_auth(key)
                .json(&json!({ "message_id": id, "useful": useful }))
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let gaps_for = |q: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let (_, v) = app.get(&admin, "/api/v1/knowledge/gaps").await;
            let n = v["clusters"].as_array().unwrap().iter().filter(|c| c["examples"].to_string().contains(q)).count();
            (n, v["feedback"].clone())
        }
    };

    // The camera owner's answer, then the suggestion after it.
    let (conv, said) = say(&app, &app.a.app_key, &alpha, "r1", "13600136005", "电子产品保修多久？", 2).await;
    assert_eq!(said.len(), 2, "{said:?}");
    let bot = bot_messages(&app, &alpha, &conv).await;
    let (answer_id, tip_id) = (bot[0].0.clone(), bot[1].0.clone());
    // "Not useful" on the suggestion is feedback on the suggestion: no gap for the question before it.
    let (s, v) = rate(app.a.app_key.clone(), tip_id.clone(), false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rated"], json!({ "kind": "recommendation", "ref_id": "camera-memory-card" }));
    assert_eq!(v["gap_logged"], false);
    let (n, fb) = gaps_for("电子产品保修多久").await;
    assert_eq!(n, 0, "the answered question is not a gap: {fb}");
    assert_eq!(fb["recommendations"]["not_useful"], 1, "{fb}");
    assert_eq!(
        fb["recommendations"]["rules"][0],
        json!({ "rule_id": "camera-memory-card", "useful": 0, "not_useful": 1 })
    );
    assert_eq!((fb["useful"].as_i64(), fb["not_useful"].as_i64()), (Some(0), Some(0)), "answers counted apart: {fb}");
    // "Not useful" on the answer still feeds the gap list with the question it answered.
    let (s, v) = rate(app.a.app_key.clone(), answer_id.clone(), false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rated"]["kind"], "answer");
    assert!(v["rated"]["ref_id"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_eq!(v["gap_logged"], true);
    let (n, fb) = gaps_for("电子产品保修多久？").await;
    assert_eq!(n, 1, "{fb}");
    assert_eq!((fb["answers"]["not_useful"].as_i64(), fb["not_useful"].as_i64()), (Some(1), Some(1)), "{fb}");
    // A tool's answer is rated as one, and is not a knowledge gap either.
    let (conv, said) = say(&app, &app.a.wechat_key, &alpha, "r2", "13800138001", "我的会员积分还有多少？", 1).await;
    assert!(said[0].contains("2680"), "{said:?}");
    let tool_msg = bot_messages(&app, &alpha, &conv).await[0].0.clone();
    let (s, v) = rate(app.a.wechat_key.clone(), tool_msg, true).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rated"]["kind"], "tool_answer");
    let (_, fb) = gaps_for("会员积分").await;
    assert_eq!(fb["tool_answers"]["useful"], 1, "{fb}");

    // Stable codes: a customer's own message and a reply that answered nothing are not answers...
    let tenant_msgs = app.store.messages(&alpha, &ConversationId::parse(&conv).unwrap(), 50).await.unwrap();
    let own = tenant_msgs.iter().find(|m| m.sender_kind == "customer").unwrap().id.as_str().to_owned();
    let (s, v) = rate(app.a.wechat_key.clone(), own, false).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_bot_answer")), "{v}");
    let (conv, _) = say(&app, &app.a.app_key, &alpha, "r3", "13900000003", "今天天气怎么样呀", 1).await;
    let unsure = bot_messages(&app, &alpha, &conv).await[0].0.clone();
    let (s, v) = rate(app.a.app_key.clone(), unsure, false).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_bot_answer")), "{v}");
    // ...and an id the tenant does not have (another tenant's, made up, not an id) is unknown.
    for (key, id) in [
        (app.b.app_key.clone(), answer_id.clone()),
        (app.a.app_key.clone(), "msg_00000000000000000000000000".to_owned()),
        (app.a.app_key.clone(), "hello".to_owned()),
    ] {
        let (s, v) = rate(key, id.clone(), false).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_message")), "{id}: {v}");
    }
    let (_, fb) = gaps_for("电子产品保修多久？").await;
    assert_eq!(fb["not_useful"], 1, "refused ratings count nothing: {fb}");
}
