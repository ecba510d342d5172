//! The knowledge base learns from agents: resolving a conversation proposes its question and the
//! agent's answer, without personal data, once per question; reviewers accept (a draft entry) or
//! dismiss; a question the knowledge base answers makes no new entry.

use super::*;

both!(resolved_conversations_become_candidate_faqs_for_review, a_question_the_knowledge_base_answers_is_not_proposed);

impl TestApp {
    /// A customer asks on WeChat, an agent answers, the agent resolves; returns the conversation.
    async fn agent_answers(&self, t: &Tenant, n: &str, phone: &str, asked: &[&str], answered: &[&str]) -> String {
        let mut conv = String::new();
        for (i, q) in asked.iter().enumerate() {
            let (s, m) = self
                .inbound(&t.wechat_key, msg(&format!("{n}-{i}"), json!([{ "kind": "phone", "value": phone }]), q))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{m}");
            conv = m["conversation_id"].as_str().unwrap().to_owned();
        }
        let agent = self.login(&t.agent).await;
        for a in answered {
            let body = json!({ "content": { "type": "text", "text": a } });
            let (s, v) = self.send("post", &agent, &format!("/api/v1/conversations/{conv}/messages"), Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        let path = format!("/api/v1/conversations/{conv}/transitions");
        let (s, v) = self.send("post", &agent, &path, Some(json!({ "transition": "resolve" }))).await;
        assert_eq!((s, v["conversation"]["state"].as_str()), (StatusCode::OK, Some("resolved")), "{v}");
        conv
    }

    async fn candidates(&self, token: &str, query: &str) -> Vec<Value> {
        let (s, v) = self.get(token, &format!("/api/v1/knowledge/candidates{query}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["candidates"].as_array().unwrap().clone()
    }

    /// Waits until the tenant's candidates (all statuses) satisfy `done`.
    async fn candidates_until(&self, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let v = eventually(|| async {
            let c = self.candidates(token, "?status=all").await;
            done(&c).then_some(Value::Array(c))
        })
        .await;
        v.as_array().unwrap().clone()
    }
}

async fn resolved_conversations_become_candidate_faqs_for_review(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(&app.a.admin).await;
    let supervisor = app.login(&app.a.supervisor).await;
    let agent = app.login(&app.a.agent).await;

    // A phone number, an order number and the customer's name in the question; the agent greets
    // by name first. The candidate keeps the question and the answer, none of the person.
    let conv = app
        .agent_answers(
            &app.a,
            "pii",
            "13812345678",
            &["你好", "我是李雷，手机13812345678，订单LX20261101001的扫地机器人不能自动回充了怎么办？"],
            &["李雷您好，请稍等", "请把充电座靠墙放在空旷处，清洁机器人底部的充电触点，再让它自动回充。"],
        )
        .await;
    let list = app.candidates_until(&admin, |c| !c.is_empty()).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    let text = c.to_string();
    for personal in ["13812345678", "LX20261101001", "李雷"] {
        assert!(!text.contains(personal), "{personal} left in {text}");
    }
    assert!(c["question"].as_str().unwrap().contains("不能自动回充"), "{c}");
    assert!(c["question"].as_str().unwrap().contains("【手机号】"), "{c}");
    assert_eq!(c["answer"], "请把充电座靠墙放在空旷处，清洁机器人底部的充电触点，再让它自动回充。");
    assert_eq!(
        (c["kind"].as_str(), c["status"].as_str(), c["occurrences"].as_i64()),
        (Some("new_entry"), Some("open"), Some(1))
    );
    assert_eq!(c["conversation_id"], conv.as_str());
    let first = c["id"].as_str().unwrap().to_owned();

    // Greetings and thanks teach nothing; the same question twice is one candidate seen twice.
    app.agent_answers(&app.a, "hi", "13700000001", &["你好"], &["您好，有什么可以帮您？"]).await;
    app.agent_answers(&app.a, "w1", "13700000002", &["门店周末营业到几点？"], &["门店周末营业到晚上九点。"]).await;
    app.agent_answers(&app.a, "w2", "13700000003", &["周末门店营业到几点呀"], &["周末营业到 21:00，节假日另行通知。"])
        .await;
    let list = app.candidates_until(&admin, |c| c.iter().any(|c| c["occurrences"] == 2)).await;
    assert_eq!(list.len(), 2, "one candidate per question, none for the greeting: {list:?}");
    let weekend = list.iter().find(|c| c["occurrences"] == 2).unwrap();
    assert!(weekend["question"].as_str().unwrap().contains("门店周末营业"), "the first phrasing stays: {weekend}");
    assert_eq!(app.candidates(&admin, "").await[0]["id"], weekend["id"], "most often seen first");

    // Roles: agents neither list nor decide; tenant B sees none of A's.
    let id = weekend["id"].as_str().unwrap().to_owned();
    let accept = format!("/api/v1/knowledge/candidates/{id}/accept");
    assert_eq!(app.get(&agent, "/api/v1/knowledge/candidates").await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.send("post", &agent, &accept, Some(json!({}))).await.0, StatusCode::FORBIDDEN);
    let dismiss_first = format!("/api/v1/knowledge/candidates/{first}/dismiss");
    assert_eq!(app.send("post", &agent, &dismiss_first, None).await.0, StatusCode::FORBIDDEN);
    let b_admin = app.login(&app.b.admin).await;
    assert!(app.candidates(&b_admin, "?status=all").await.is_empty());
    assert_eq!(app.send("post", &b_admin, &accept, Some(json!({}))).await.0, StatusCode::NOT_FOUND);
    let (s, v) = app.get(&admin, "/api/v1/knowledge/candidates?status=maybe").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    // Accept: a draft entry tagged from-agent, which goes through the usual review.
    let (s, v) = app.send("post", &supervisor, &accept, Some(json!({ "entry_id": "store-hours-weekend" }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["candidate"]["status"], "accepted");
    assert_eq!(v["candidate"]["drafted_entry_id"], "store-hours-weekend");
    let (s, entry) = app.get(&agent, "/api/v1/knowledge/faqs/store-hours-weekend").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(entry["entry"]["status"], "draft");
    assert_eq!(entry["entry"]["answer"], "门店周末营业到晚上九点。");
    assert_eq!(entry["entry"]["tags"], json!(["from-agent"]));
    let status = "/api/v1/knowledge/faqs/store-hours-weekend/status";
    assert_eq!(app.send("post", &supervisor, status, Some(json!({ "status": "in_review" }))).await.0, StatusCode::OK);
    let (s, v) = app.send("post", &supervisor, &accept, Some(json!({}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "decided once");

    // Dismiss: it stays dismissed, and the same question later is not proposed again.
    let (s, v) = app.send("post", &admin, &dismiss_first, None).await;
    assert_eq!((s, v["candidate"]["status"].as_str()), (StatusCode::OK, Some("dismissed")), "{v}");
    assert!(app.candidates(&admin, "").await.is_empty(), "nothing open");
    app.agent_answers(&app.a, "w3", "13700000004", &["门店周末营业到几点"], &["周末营业到晚上九点。"]).await;
    app.agent_answers(
        &app.a,
        "new",
        "13700000005",
        &["发票可以开公司抬头吗？"],
        &["可以，在订单详情里选择企业抬头并填写税号。"],
    )
    .await;
    let list = app.candidates_until(&admin, |c| c.len() == 3).await;
    let weekend = list.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(weekend["occurrences"], 2, "an accepted question counts no more: {list:?}");
    assert_eq!(app.candidates(&admin, "").await.len(), 1, "only the invoice question is open");
}

async fn a_question_the_knowledge_base_answers_is_not_proposed(backend: Backend) {
    let app = spawn_app(backend).await;
    let tenant = app.store.tenant_by_slug(&app.a.slug).await.unwrap().id;
    lingxi_server::knowledge::seed_demo(&app.store, &tenant, Timestamp::from_millis(1_760_000_000_000)).await.unwrap();
    let admin = app.login(&app.a.admin).await;
    for (q, decision) in
        [("退款多久到账？", "answer"), ("你们支持以旧换新吗？", "answer"), ("门店可以寄存行李吗？", "")]
    {
        let (_, v) = app.get(&admin, &format!("/api/v1/knowledge/search?q={q}")).await;
        assert_eq!(v["decision"] == "answer", decision == "answer", "{q}: {v}");
    }
    // Asked in the entry's own words: nothing to learn.
    app.agent_answers(&app.a, "kb", "13800000001", &["退款多久到账？"], &["退款会在 1-3 个工作日内原路退回。"]).await;
    // In other words: at most a new phrasing of the entry that answers it, never a new entry.
    app.agent_answers(&app.a, "re", "13800000002", &["你们支持以旧换新吗？"], &["支持，旧机估价后抵扣新机货款。"])
        .await;
    // Unknown to the knowledge base: a new entry. Proposals are taken one at a time, in order,
    // so once this one is there the two before it were decided.
    app.agent_answers(&app.a, "new", "13800000003", &["门店可以寄存行李吗？"], &["可以，服务台免费寄存一天。"]).await;
    let list = app.candidates_until(&admin, |c| c.iter().any(|c| c["kind"] == "new_entry")).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|c| !c["question"].as_str().unwrap().contains("退款")), "{list:?}");
    let new_entry = list.iter().find(|c| c["kind"] == "new_entry").unwrap();
    assert!(new_entry["question"].as_str().unwrap().contains("寄存行李"), "{new_entry}");
    let phrasing = list.iter().find(|c| c["kind"] == "phrasing").unwrap();
    let entry_id = phrasing["entry_id"].as_str().unwrap().to_owned();
    assert_eq!(phrasing["question"], "你们支持以旧换新吗？");
    // Accepting a phrasing adds it to the entry (a new version, still published).
    let (_, before) = app.get(&admin, &format!("/api/v1/knowledge/faqs/{entry_id}")).await;
    let path = format!("/api/v1/knowledge/candidates/{}/accept", phrasing["id"].as_str().unwrap());
    let (s, v) = app.send("post", &admin, &path, Some(json!({ "answer": "changed" }))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{v}");
    let (s, v) = app.send("post", &admin, &path, Some(json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["entry"]["status"], "published");
    assert_eq!(v["entry"]["version"], before["entry"]["version"].as_i64().unwrap() + 1);
    assert!(v["entry"]["similar"].as_array().unwrap().contains(&json!("你们支持以旧换新吗？")), "{v}");
    assert_eq!(v["entry"]["answer"], before["entry"]["answer"], "the entry's answer is the reviewed one");
}
