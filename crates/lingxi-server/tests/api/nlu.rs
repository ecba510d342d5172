//! A tenant trains its own intent model over HTTP: problems come back by path and nothing is
//! trained; a good set is trained in the request, kept as a version and used at once, by
//! `/nlu/parse` and by the bot (the conversation's last intent); versions roll back and
//! forward, back to the defaults, and the training data comes back as it went in. Another
//! tenant keeps the defaults throughout, and agents may not train.

use super::*;

both!(
    a_tenant_trains_versions_and_rolls_back_its_intent_model,
    the_bot_states_no_policy_its_knowledge_base_lacks,
    a_tenant_teaches_its_order_numbers_and_products,
    a_tenant_vocabulary_repairs_typos_and_keeps_its_names_whole,
    another_node_moving_the_model_pointer_is_noticed_off_the_message_path,
    the_hand_off_summary_lists_earlier_turns_as_the_bot_read_them
);

fn training(extra: &[&str]) -> Value {
    let mut plant =
        vec!["我的绿萝叶子发黄了", "多肉浇水太多烂根了怎么办", "盆栽长虫子了", "花叶子打蔫了", "发财树掉叶子"];
    plant.extend_from_slice(extra);
    json!({ "intents": [
        { "intent": "plant_care", "examples": plant },
        { "intent": "delivery_time", "examples": ["花什么时候能送到", "配送要几天", "今天下单明天能到吗", "鲜花几点送达", "送花需要多久"] },
        { "intent": "refund", "examples": ["花送到都蔫了我要退款", "申请退款", "我要退钱", "退款怎么操作", "花坏了能退吗"] },
    ]})
}

/// The conversation's bot replies, once there are at least `n`.
async fn bot_replies(app: &TestApp, token: &str, conv: &str, n: usize) -> Vec<String> {
    let path = format!("/api/v1/conversations/{conv}");
    let v = eventually(|| async {
        let (_, v) = app.get(token, &path).await;
        let texts: Vec<Value> = v["messages"]
            .as_array()?
            .iter()
            .filter(|m| m["sender"]["kind"] == "bot")
            .map(|m| m["content"]["text"].clone())
            .collect();
        (texts.len() >= n).then_some(Value::Array(texts))
    })
    .await;
    v.as_array().unwrap().iter().map(|t| t.as_str().unwrap_or_default().to_owned()).collect()
}

async fn parse(app: &TestApp, token: &str, text: &str) -> Value {
    let (s, v) = app.send("post", token, "/api/v1/nlu/parse", Some(json!({ "text": text }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn a_tenant_trains_versions_and_rolls_back_its_intent_model(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let agent = app.login(&app.a.agent).await;
    let other = app.login(&app.b.admin).await;
    let question = "我家的绿萝叶子黄了怎么办";

    // Before any training: the built-in defaults, which know nothing of plants.
    let v = parse(&app, &admin, question).await;
    assert_eq!(v["intent"]["model"]["source"], "default", "{v}");
    assert_ne!(v["intent"]["top"]["intent"], "plant_care", "{v}");
    let (s, v) = app.get(&admin, "/api/v1/nlu/default-intents").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["zh"]["intents"].as_array().unwrap().iter().any(|i| i["intent"] == "order_status"), "{v}");

    // Problems by path; nothing trained.
    let bad = json!({ "intents": [
        { "intent": "ok", "examples": ["a", "b"] },
        { "intent": "bad name", "examples": ["c", "d"] },
        { "intent": "dup", "examples": ["A", "only"] },
    ]});
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(bad)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_training_data")),
        "{v}"
    );
    let paths: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["intents[1].intent", "intents[2].examples[0]"], "{v}");
    let md = "## intent:a\n- x\nnot an example\n";
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(json!({ "markdown": md }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["problems"][0]["message"].as_str().unwrap().contains("line 3"), "{v}");
    assert_eq!(v["problems"][0]["line"], 3, "{v}");
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(json!({}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{v}");
    let (s, _) = app.send("post", &agent, "/api/v1/nlu/intent-models", Some(training(&[]))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = app.get(&admin, "/api/v1/nlu/intent-models").await;
    assert_eq!(v["models"], json!([]), "{v}");

    // Version 1, trained and in use at once.
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(training(&[]))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!((v["model"]["version"].as_i64(), v["model"]["active"].as_bool()), (Some(1), Some(true)), "{v}");
    assert_eq!((v["model"]["intents"].as_i64(), v["model"]["examples"].as_i64()), (Some(3), Some(15)));
    assert!(v["model"]["report"]["holdout_examples"].as_u64().unwrap() >= 3, "{v}");
    let p = parse(&app, &admin, question).await;
    assert_eq!(p["intent"]["model"], json!({ "source": "tenant", "version": 1, "kind": "lexical" }), "{p}");
    assert_eq!(p["intent"]["top"]["intent"], "plant_care", "{p}");
    // The other tenant still has the defaults.
    assert_eq!(parse(&app, &other, question).await["intent"]["model"]["source"], "default");

    // The bot classifies with it: the conversation's last intent.
    let (s, m) =
        app.inbound(&app.a.app_key, msg("nlu-1", json!([{ "kind": "device_id", "value": "nlu-d1" }]), question)).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let seen = last_intent(&app, &admin, &conv).await;
    assert_eq!(seen, "plant_care");

    // Version 2 from markdown, kept but not in use; then rolled forward, back, and off.
    let md = "## intent:greet\n- 你好\n- 在吗\n## intent:bye\n- 再见\n- 拜拜\n";
    let (s, v) =
        app.send("post", &admin, "/api/v1/nlu/intent-models", Some(json!({ "markdown": md, "activate": false }))).await;
    assert_eq!(
        (s, v["model"]["version"].as_i64(), v["model"]["active"].as_bool()),
        (StatusCode::CREATED, Some(2), Some(false)),
        "{v}"
    );
    assert_eq!(parse(&app, &admin, question).await["intent"]["model"]["version"], 1);
    let put = |version: Value| {
        app.send("put", &admin, "/api/v1/nlu/active-intent-model", Some(json!({ "version": version })))
    };
    let (s, v) = put(json!(2)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(parse(&app, &admin, "在吗").await["intent"]["top"]["intent"], "greet");
    let (s, _) = put(json!(7)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    put(json!(1)).await;
    assert_eq!(parse(&app, &admin, question).await["intent"]["model"]["version"], 1);
    let (_, v) = app.get(&admin, "/api/v1/nlu/intent-models").await;
    assert_eq!(v["active_version"], 1, "{v}");
    let actives: Vec<(i64, bool)> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(actives, [(2, false), (1, true)]);
    put(Value::Null).await;
    assert_eq!(parse(&app, &admin, question).await["intent"]["model"]["source"], "default");

    // The export is what was trained; posting it back trains the same model.
    let (s, v) = app.get(&admin, "/api/v1/nlu/intent-models/1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["training_data"], training(&[]), "{v}");
    let (_, again) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(v["training_data"].clone())).await;
    assert_eq!(again["model"]["model_id"], v["model"]["model_id"], "{again}");
    let (s, _) = app.get(&other, "/api/v1/nlu/intent-models/1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "other tenants' versions are invisible");

    // Understanding beyond intents, in one call.
    let p = parse(&app, &admin, "订单12345678901的两百块什么时候退？😡").await;
    let kinds: Vec<&str> = p["entities"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"amount"), "{p}");
    assert!(p["sentiment"]["emotions"]["anger"].as_f64().unwrap() > 0.0, "{p}");
    assert_eq!(p["language"], "chinese", "{p}");
}

/// A topic the intent model recognises but the tenant's knowledge base does not cover gets no
/// made-up policy (the old fallback said "下单时自动抵扣" and "1 年保修" for every tenant): the
/// reply names the topic, the question is a knowledge gap, and two such turns in a row reach a
/// person.
async fn the_bot_states_no_policy_its_knowledge_base_lacks(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let kb = json!([{ "id": "warranty", "lang": "zh", "question": "保修期多久", "answer": "所有设备保修两年，凭订单即可。" }]);
    let (s, v) = app
        .send("post", &admin, "/api/v1/knowledge/import", Some(json!({ "format": "json", "content": kb.to_string() })))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let who = json!([{ "kind": "device_id", "value": "nlu-policy" }]);
    let (_, m) = app.inbound(&app.a.app_key, msg("pol-1", who.clone(), "优惠券怎么用？")).await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let first = bot_replies(&app, &admin, &conv, 1).await.remove(0);
    assert!(first.contains("优惠券") && !first.contains("抵扣"), "{first}");
    // A question that merely says 客服 is not a greeting: no small-talk reply, and it is a gap.
    let (s, _) = app
        .inbound(
            &app.a.wechat_key,
            msg("pol-0", json!([{ "kind": "device_id", "value": "nlu-hiring" }]), "你们公司在招聘兼职客服吗"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    eventually(|| async {
        let (_, v) = app.get(&admin, "/api/v1/knowledge/gaps").await;
        let qs: Vec<&str> = v["clusters"].as_array()?.iter().filter_map(|c| c["question"].as_str()).collect();
        (qs.contains(&"优惠券怎么用？") && qs.contains(&"你们公司在招聘兼职客服吗")).then_some(Value::Null)
    })
    .await;
    app.inbound(&app.a.app_key, msg("pol-2", who, "积分能抵现金吗？")).await;
    bot_replies(&app, &admin, &conv, 2).await;
    let (_, v) = app.get(&admin, &format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(v["conversation"]["handoff_reason"], "repeated_failure", "{v}");
}

/// Order numbers in the tenant's own shape and products from its catalogue (settings and
/// `products` records) are recognised for that tenant only; bad patterns are refused by path.
async fn a_tenant_teaches_its_order_numbers_and_products(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let supervisor = app.login(&app.a.supervisor).await;
    let other = app.login(&app.b.admin).await;
    let text = "SO-123456-AB 的灵犀扫地机 X1 和智能门锁 L7 什么时候到";
    let kinds = |v: &Value| -> Vec<(String, String)> {
        v["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["text"].as_str().unwrap().to_owned()))
            .collect()
    };
    let before = kinds(&parse(&app, &admin, text).await);
    assert!(before.iter().all(|(k, _)| k != "order_number" && k != "product"), "{before:?}");

    let bad = json!({ "order_patterns": ["SO-\\d{6}", "("], "catalogue": [""] });
    let (s, v) = app.send("put", &admin, "/api/v1/nlu/settings", Some(bad)).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_settings")), "{v}");
    let paths: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["order_patterns[1]", "catalogue[0]"], "{v}");
    let good = json!({ "order_patterns": ["SO-\\d{6}-[A-Z]{2}"], "catalogue": ["灵犀扫地机 X1"] });
    let (s, _) = app.send("put", &supervisor, "/api/v1/nlu/settings", Some(good.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "settings are the admin's");
    let (s, v) = app.send("put", &admin, "/api/v1/nlu/settings", Some(good.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Products come from the tenant's `products` records too.
    let tenant = app.store.tenant_by_slug(&app.a.slug).await.unwrap().id;
    let lock = lingxi_store::BusinessRecord {
        kind: "products".into(),
        key: "LOCK-L7".into(),
        owner: String::new(),
        fields: [("name".to_string(), "智能门锁 L7".to_string())].into_iter().collect(),
    };
    app.store.put_records(&tenant, &[lock], Timestamp::from_millis(1)).await.unwrap();
    // Saving forgets the cached extractor on this node; records are read with it.
    app.send("put", &admin, "/api/v1/nlu/settings", Some(good.clone())).await;
    let after = kinds(&parse(&app, &admin, text).await);
    assert!(after.iter().any(|(k, t)| k == "order_number" && t.eq_ignore_ascii_case("SO-123456-AB")), "{after:?}");
    let products: Vec<&str> = after.iter().filter(|(k, _)| k == "product").map(|(_, t)| t.as_str()).collect();
    assert_eq!(products.len(), 2, "{after:?}");
    let (_, v) = app.get(&admin, "/api/v1/nlu/settings").await;
    assert_eq!((v["settings"].clone(), v["catalogue_from_products"].as_u64()), (good, Some(1)), "{v}");
    // The bot looks the order up in the tenant's shape (dashes kept) and answers with it.
    let order = lingxi_store::BusinessRecord {
        kind: "orders".into(),
        key: "SO-123456-AB".into(),
        owner: "+8613900001111".into(),
        fields: [("status", "shipped"), ("item", "灵犀扫地机 X1"), ("phone", "13900001111")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    app.store.put_records(&tenant, &[order], Timestamp::from_millis(2)).await.unwrap();
    let who = json!([{ "kind": "phone", "value": "13900001111" }]);
    let (_, m) = app.inbound(&app.a.app_key, msg("so-1", who, "so-123456-ab 到哪了？")).await;
    let reply = bot_replies(&app, &admin, m["conversation_id"].as_str().unwrap(), 1).await.remove(0);
    assert!(reply.contains("SO-123456-AB"), "{reply}");
    // An unknown number: no other brand's format in the reply (it once said "以 LX 开头").
    let who = json!([{ "kind": "phone", "value": "13900002222" }]);
    let (_, m) = app.inbound(&app.a.app_key, msg("so-2", who, "SO-999999-ZZ 到哪了？")).await;
    let said = bot_replies(&app, &admin, m["conversation_id"].as_str().unwrap(), 1).await.remove(0);
    assert!(said.contains("SO-999999-ZZ") && !said.contains("LX"), "{said}");
    // The other tenant still reads neither.
    let theirs = kinds(&parse(&app, &other, text).await);
    assert!(theirs.iter().all(|(k, _)| k != "order_number" && k != "product"), "{theirs:?}");
}

/// A tenant's vocabulary (brand terms, catalogue names) is its segmentation dictionary and its
/// typo-repair list: "集光扫地机" (a homophone typo) becomes the tenant's "极光扫地机", kept as one
/// word, and the knowledge base then scores the misspelt question exactly like the well-spelt one
/// (before, the typo cost confidence). Saving the settings rebuilds the knowledge index in the
/// background; the other tenant is unaffected.
async fn a_tenant_vocabulary_repairs_typos_and_keeps_its_names_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(&app.a.admin).await;
    let other = app.login(&app.b.admin).await;
    let kb = json!([
        { "id": "aurora-charge", "lang": "zh", "question": "极光扫地机充不进电怎么办", "answer": "极光扫地机：请先擦拭底部的两个充电触点，再把底座插在墙面插座上。" },
        { "id": "generic-charge", "lang": "zh", "question": "扫地机充不进电怎么办", "answer": "请检查充电座的电源线是否插好。" },
    ]);
    let (s, v) = app
        .send("post", &admin, "/api/v1/knowledge/import", Some(json!({ "format": "json", "content": kb.to_string() })))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (typo, right) = ("集光扫地机充不进电", "极光扫地机充不进电");
    let before = parse(&app, &admin, typo).await;
    assert!(!before["normalized"].as_str().unwrap().contains("极光"), "{before}");
    let mut paths = Vec::new();
    for (id, text) in [("vocab-typo", typo), ("vocab-right", right)] {
        let (_, m) = app.inbound(&app.a.app_key, msg(id, json!([{ "kind": "device_id", "value": id }]), text)).await;
        paths.push(format!("/api/v1/conversations/{}/suggestions", m["conversation_id"].as_str().unwrap()));
    }
    let top =
        |v: &Value| (v["knowledge"][0]["entry_id"].as_str().map(str::to_owned), v["knowledge"][0]["score"].as_f64());
    let (_, t) = app.get(&admin, &paths[0]).await;
    let (_, r) = app.get(&admin, &paths[1]).await;
    assert_eq!(top(&r).0.as_deref(), Some("aurora-charge"), "{r}");
    assert!(top(&t).1.unwrap() < top(&r).1.unwrap(), "without the vocabulary the typo costs confidence: {t} {r}");

    let (s, v) = app.send("put", &admin, "/api/v1/nlu/settings", Some(json!({ "terms": ["极光扫地机"] }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let after = parse(&app, &admin, typo).await;
    assert!(after["normalized"].as_str().unwrap().starts_with("极光扫地机"), "{after}");
    assert!(after["tokens"].as_array().unwrap().iter().any(|t| t == "极光扫地机"), "{after}");
    assert!(after["corrections"].as_array().unwrap().iter().any(|c| c["to"] == "极光扫地机"), "{after}");
    // The knowledge index is rebuilt in the background with the new dictionary (the well-spelt
    // question's score moves: "极光扫地机" is now one rare term instead of 极光 + 扫地机); the
    // misspelt question then reads exactly as the well-spelt one.
    let right_before = top(&r).1;
    eventually(|| async {
        let (_, t) = app.get(&admin, &paths[0]).await;
        let (_, r) = app.get(&admin, &paths[1]).await;
        let rebuilt = top(&r).1 != right_before;
        (rebuilt && top(&t).0.as_deref() == Some("aurora-charge") && top(&t) == top(&r)).then_some(Value::Null)
    })
    .await;
    let theirs = parse(&app, &other, typo).await;
    assert!(!theirs["normalized"].as_str().unwrap().contains("极光"), "{theirs}");
}

/// Another node (here: the store written directly) moves the tenant's model pointer back to the
/// defaults. After `RECHECK` (5 s) the first message is still served from the cache — it does
/// not wait for the store or for decoding a model — and the background recheck brings the
/// change in for the messages after it.
async fn another_node_moving_the_model_pointer_is_noticed_off_the_message_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(&app.a.admin).await;
    let question = "我家的绿萝叶子黄了怎么办";
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(training(&[]))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(parse(&app, &admin, question).await["intent"]["model"]["source"], "tenant");
    let tenant = app.store.tenant_by_slug(&app.a.slug).await.unwrap().id;
    app.store.intent_model_activate(&tenant, None, Timestamp::from_millis(1)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let served = parse(&app, &admin, question).await;
    assert_eq!(
        served["intent"]["model"]["source"], "tenant",
        "the message after RECHECK is served from the cache: {served}"
    );
    eventually(|| async {
        let v = parse(&app, &admin, question).await;
        (v["intent"]["model"]["source"] == "default").then_some(Value::Null)
    })
    .await;
}

/// Each customer message keeps the intent the bot read in it at its turn; a later hand-off's
/// summary lists the earlier turns as read then, not re-read with whatever model is in use at
/// the hand-off (here: the tenant's plant model, switched off before the customer asks for a
/// person; the defaults know nothing of plants).
async fn the_hand_off_summary_lists_earlier_turns_as_the_bot_read_them(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let (s, v) = app.send("post", &admin, "/api/v1/nlu/intent-models", Some(training(&[]))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let who = json!([{ "kind": "device_id", "value": "nlu-read-1" }]);
    let (s, m) = app.inbound(&app.a.app_key, msg("read-1", who.clone(), "我家的绿萝叶子黄了怎么办")).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(last_intent(&app, &admin, &conv).await, "plant_care");
    let (_, detail) = app.get(&admin, &format!("/api/v1/conversations/{conv}")).await;
    let first = &detail["messages"][0];
    assert_eq!(
        (first["sender"]["kind"].as_str(), first["intent"].as_str()),
        (Some("customer"), Some("plant_care")),
        "{detail}"
    );

    let (s, v) = app.send("put", &admin, "/api/v1/nlu/active-intent-model", Some(json!({ "version": null }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(parse(&app, &admin, "我家的绿萝叶子黄了怎么办").await["intent"]["top"]["intent"], "plant_care");
    let (s, m) = app.inbound(&app.a.app_key, msg("read-2", who, "转人工")).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let path = format!("/api/v1/conversations/{conv}");
    let c = eventually(|| async {
        let (_, v) = app.get(&admin, &path).await;
        (v["conversation"]["state"] != "bot").then(|| v["conversation"].clone())
    })
    .await;
    let intents = &c["handoff_details"]["intents"];
    assert_eq!(intents[0], "plant_care", "the first turn as the bot read it: {c}");
}

/// `lingxi nlu eval --background`: another folder's train split is offered to the text-only
/// model, less its copies of the dataset's texts, and the report says whether it was chosen.
#[test]
fn the_eval_command_trains_with_a_background_dataset_when_dev_prefers_it() {
    let root = std::env::temp_dir().join(format!("lingxi-nlu-eval-{}", rand_hex()));
    let write = |dir: &str, split: &str, rows: &[(&str, u8)]| {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let lines: Vec<String> = rows.iter().map(|(t, l)| json!({ "text": t, "label": l }).to_string()).collect();
        std::fs::write(d.join(format!("{split}.jsonl")), lines.join("\n")).unwrap();
    };
    // The shop's own reviews never use the words its dev and test reviews turn on.
    let own: Vec<(String, u8)> =
        (0..6).flat_map(|i| [(format!("好吃 第{i}单"), 1), (format!("难吃 第{i}单"), 0)]).collect();
    let own: Vec<(&str, u8)> = own.iter().map(|(t, l)| (t.as_str(), *l)).collect();
    write("shop", "train", &own);
    write("shop", "dev", &[("新鲜 好吃", 1), ("变质 难吃", 0), ("新鲜", 1), ("变质", 0)]);
    write("shop", "test", &[("很新鲜", 1), ("有点变质", 0), ("新鲜美味", 1), ("全变质了", 0)]);
    let mut other: Vec<(&str, u8)> = (0..10).flat_map(|_| [("水果新鲜", 1), ("水果变质", 0)]).collect();
    other.push(("很新鲜", 1));
    write("fruit", "train", &other);
    let eval = |background: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lingxi"))
            .args(["nlu", "eval", "--task", "sentiment", "--embeddings", "off", "--dataset"])
            .arg(root.join("shop"))
            .arg("--background")
            .arg(root.join(background))
            .env_remove("LINGXI_CONFIG")
            .output()
            .unwrap()
    };
    let out = eval("fruit");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("background: 20 examples, 1 left out as copies"), "{stderr}");
    assert!(stdout.contains("n_background: 20") && stdout.contains("adapted: true"), "{stdout}");
    assert!(stdout.contains("accuracy: 100.0"), "{stdout}");
    let out = eval("no-such-folder");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no train.jsonl"));
    std::fs::remove_dir_all(&root).ok();
}
