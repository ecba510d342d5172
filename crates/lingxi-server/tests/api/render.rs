//! Answers are rendered per channel: a web-chat or app customer gets the knowledge base's
//! rich answer (links, images, buttons), a WeChat or e-mail customer its plain-text form with
//! numbered options; "did you mean" offers buttons or numbered questions, and a reply "2" or
//! a button's payload answers with that question's entry. Rich content posted by a channel
//! or an agent is checked like any other kind.

use super::*;

both!(
    rich_answers_on_rich_channels_plain_text_elsewhere,
    rich_content_is_parsed_and_checked_at_the_edge,
    answer_variants_bring_their_own_rich_items_to_each_channel
);

const KB: &str = r#"[
  { "id": "returns", "lang": "zh", "question": "怎么退货", "similar": ["退货流程是什么"], "answer": "签收 7 天内可退货。",
    "rich": ["link:退货政策=https://shop.example.com/returns", "image:https://cdn.example.com/returns.png", "button:退款多久到账=退款多久到账"] },
  { "id": "refund", "lang": "zh", "question": "退款多久到账", "answer": "退款 1–3 个工作日到账。" },
  { "id": "invoice-apply", "lang": "zh", "question": "怎么申请电子发票", "similar": ["发票在哪里开"], "answer": "在订单详情申请。" },
  { "id": "invoice-title", "lang": "zh", "question": "发票抬头怎么修改", "similar": ["发票开错了能改吗"], "answer": "联系客服重开。" }
]"#;

/// Sends a customer message and waits for the bot's reply to it (its stored content).
async fn reply_to(app: &TestApp, key: &str, id: &str, device: &str, text: &str) -> Value {
    let (s, m) = app.inbound(key, msg(id, json!([{ "kind": "device_id", "value": device }]), text)).await;
    assert!(s.is_success(), "{s} {m}");
    let conv = lingxi_domain::ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap();
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let mine = m["message_id"].as_str().unwrap().to_owned();
    eventually(|| {
        let (store, tenant, conv, mine) = (app.store.clone(), tenant.clone(), conv.clone(), mine.clone());
        async move {
            let msgs = store.messages(&tenant, &conv, 50).await.unwrap();
            let at = msgs.iter().position(|m| m.id.as_str() == mine)?;
            msgs[at..].iter().find(|m| m.sender_kind == "bot").map(|m| {
                let mut c = m.content.clone();
                c["type"] = m.content_kind.clone().into();
                c
            })
        }
    })
    .await
}

async fn rich_answers_on_rich_channels_plain_text_elsewhere(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let (s, v) =
        app.send("post", &admin, "/api/v1/knowledge/import", Some(json!({ "format": "json", "content": KB }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let email_key = new_secret(CHANNEL_KEY_PREFIX);
    let now = Timestamp::from_millis(1_760_000_000_000);
    app.store.create_channel(&tenant, ChannelKind::Email, "mail", &digest(&email_key), None, now).await.unwrap();

    // Web chat (the harness's VIP channel) and the app: the answer with its link, image, button.
    for (key, device) in [(&app.a.vip_key, "web1"), (&app.a.app_key, "app1")] {
        let r = reply_to(&app, key, &format!("{device}-1"), device, "怎么退货？").await;
        assert_eq!(r["type"], "rich", "{r}");
        assert_eq!(r["text"], "签收 7 天内可退货。");
        assert_eq!(r["links"], json!([{ "title": "退货政策", "url": "https://shop.example.com/returns" }]));
        assert_eq!(r["images"][0]["url"], "https://cdn.example.com/returns.png");
        assert_eq!(r["buttons"], json!([{ "label": "退款多久到账", "payload": "退款多久到账" }]));
    }
    // E-mail and WeChat: one text with numbered options and the URLs.
    for (key, device) in [(&email_key, "mail1"), (&app.a.wechat_key, "wx1")] {
        let r = reply_to(&app, key, &format!("{device}-1"), device, "怎么退货？").await;
        assert_eq!(r["type"], "text", "{r}");
        let text = r["text"].as_str().unwrap();
        for part in [
            "签收 7 天内可退货。",
            "1. 退款多久到账",
            "回复数字",
            "退货政策：https://shop.example.com/returns",
            "https://cdn.example.com/returns.png",
        ] {
            assert!(text.contains(part), "{device}: {part:?} missing from {text:?}");
        }
    }
    // The answer's numbered button on WeChat: "1" asks its payload.
    let r = reply_to(&app, &app.a.wechat_key, "wx1-2", "wx1", "1").await;
    assert_eq!(r["text"], "退款 1–3 个工作日到账。", "{r}");

    // "Did you mean": numbered questions on WeChat, and "2" answers with the second one's entry.
    let r = reply_to(&app, &app.a.wechat_key, "wx2-1", "wx2", "发票怎么弄").await;
    let text = r["text"].as_str().unwrap();
    assert!(text.starts_with("您是想问以下哪个问题？\n1. 怎么申请电子发票\n2. 发票抬头怎么修改"), "{text}");
    let r = reply_to(&app, &app.a.wechat_key, "wx2-2", "wx2", "2").await;
    assert_eq!(r["text"], "联系客服重开。", "{r}");
    // Offers last one message: a later "2" is just a message again.
    let r = reply_to(&app, &app.a.wechat_key, "wx2-3", "wx2", "2").await;
    assert_ne!(r["text"], "联系客服重开。", "{r}");
    // On web chat the same questions are buttons; pressing one sends its payload.
    let r = reply_to(&app, &app.a.vip_key, "web2-1", "web2", "发票怎么弄").await;
    assert_eq!(r["type"], "rich", "{r}");
    assert_eq!(r["text"], "您是想问以下哪个问题？");
    assert_eq!(r["buttons"][1], json!({ "label": "发票抬头怎么修改", "payload": "发票抬头怎么修改" }));
    let r = reply_to(&app, &app.a.vip_key, "web2-2", "web2", "发票抬头怎么修改").await;
    assert_eq!(r["text"], "联系客服重开。", "{r}");
}

/// The same entry with a WeChat variant (a link and a button) and a web-chat variant (two buttons).
const VARIANT_KB: &str = r#"[
  { "id": "exchange", "lang": "zh", "question": "怎么换货", "similar": ["换货流程是什么"], "answer": "签收 7 天内可换货。",
    "answer_variants": [
      { "channel": "wechat_official", "answer": "在公众号菜单“售后”里申请换货。",
        "rich": ["link:售后入口=https://shop.example.com/wx-after-sales", "button:换货运费谁出=换货运费谁出"] },
      { "channel": "web_chat", "lang": "zh", "answer": "点下方按钮申请换货。",
        "rich": ["button:申请换货=我要换货", "button:换货运费谁出=换货运费谁出", "image:https://cdn.example.com/exchange.png"] } ] },
  { "id": "exchange-fee", "lang": "zh", "question": "换货运费谁出", "answer": "质量问题换货运费由我们承担。" }
]"#;

async fn answer_variants_bring_their_own_rich_items_to_each_channel(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let admin = app.login(&app.a.admin).await;
    let (s, v) = app
        .send("post", &admin, "/api/v1/knowledge/import", Some(json!({ "format": "json", "content": VARIANT_KB })))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The API gives the variants back with their items (stored and read through the document).
    let (_, e) = app.get(&admin, "/api/v1/knowledge/faqs/exchange").await;
    assert_eq!(
        e["entry"]["answer_variants"][0]["rich"],
        json!(["link:售后入口=https://shop.example.com/wx-after-sales", "button:换货运费谁出=换货运费谁出"]),
        "{e}"
    );
    // The console's editor sends the entry back whole with its edit (it does not edit variants):
    // their items survive the save.
    let mut body = e["entry"].clone();
    for k in ["updated_at", "updated_by", "status"] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["answer"] = json!("签收 7 天内可换货（已更新）。");
    let (s, v) = app.send("put", &admin, "/api/v1/knowledge/faqs/exchange", Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["entry"]["answer_variants"], e["entry"]["answer_variants"], "{v}");
    // Web chat: the web-chat variant, rich, with its own buttons and image.
    let r = reply_to(&app, &app.a.vip_key, "vw-1", "vweb", "怎么换货？").await;
    assert_eq!(r["type"], "rich", "{r}");
    assert_eq!(r["text"], "点下方按钮申请换货。");
    assert_eq!(
        r["buttons"],
        json!([{ "label": "申请换货", "payload": "我要换货" }, { "label": "换货运费谁出", "payload": "换货运费谁出" }])
    );
    assert_eq!(r["images"][0]["url"], "https://cdn.example.com/exchange.png");
    // Pressing the variant's button asks its payload.
    let r = reply_to(&app, &app.a.vip_key, "vw-2", "vweb", "换货运费谁出").await;
    assert_eq!(r["text"], "质量问题换货运费由我们承担。", "{r}");
    // WeChat: the WeChat variant as text, its link written out and its button numbered; "1" picks it.
    let r = reply_to(&app, &app.a.wechat_key, "vx-1", "vwx", "怎么换货？").await;
    assert_eq!(r["type"], "text", "{r}");
    let text = r["text"].as_str().unwrap();
    for part in
        ["在公众号菜单“售后”里申请换货。", "1. 换货运费谁出", "售后入口：https://shop.example.com/wx-after-sales"]
    {
        assert!(text.contains(part), "{part:?} missing from {text:?}");
    }
    assert!(
        !text.contains("2. ") && !text.contains("exchange.png"),
        "the web-chat variant's items are not WeChat's: {text:?}"
    );
    let r = reply_to(&app, &app.a.wechat_key, "vx-2", "vwx", "1").await;
    assert_eq!(r["text"], "质量问题换货运费由我们承担。", "{r}");
    // A CSV row whose variant item is malformed is a rejected row with its reason; nothing stored.
    let csv = "id,lang,question,answer,answer_variants,answer_variants_rich\n\
               x-1,zh,怎么修改地址,在订单详情修改。,wechat_official@: 公众号里修改。,wechat_official@: link:入口=javascript:alert(1)\n";
    let (s, v) =
        app.send("post", &admin, "/api/v1/knowledge/import", Some(json!({ "format": "csv", "content": csv }))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("import_rejected")), "{v}");
    assert_eq!(v["rejected"][0]["row"], 2);
    assert!(v["rejected"][0]["reason"].as_str().unwrap().contains("answer_variants.rich"), "{v}");
    let (s, _) = app.get(&admin, "/api/v1/knowledge/faqs/x-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn rich_content_is_parsed_and_checked_at_the_edge(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = json!([{ "kind": "device_id", "value": "rich-edge" }]);
    let post = |id: &str, content: Value| {
        let body = json!({ "message_id": id, "customer": { "identifiers": ids }, "content": content });
        app.inbound(&app.a.app_key, body)
    };
    let ok = json!({ "type": "rich", "text": "看这里",
        "buttons": [{ "label": "是", "payload": "yes" }, { "label": "打开", "url": "https://shop.example.com/a" }],
        "links": [{ "title": "说明", "url": "http://shop.example.com/b" }],
        "images": [{ "url": "https://cdn.example.com/c.png", "alt": "图" }] });
    let (s, m) = post("r1", ok.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let sup = app.login(&app.a.supervisor).await;
    let timeline = format!("/api/v1/customers/{}/timeline", m["customer_id"].as_str().unwrap());
    let (_, tl) = app.get(&sup, &timeline).await;
    let stored = &tl["messages"].as_array().unwrap().last().unwrap()["content"];
    assert_eq!(stored["type"], "rich");
    assert_eq!(stored["buttons"], ok["buttons"]);
    assert_eq!(stored["links"], ok["links"]);
    assert_eq!(stored["images"], ok["images"]);

    let eleven = eleven_buttons();
    for (i, (content, says)) in [
        (json!({ "type": "rich", "text": "x", "links": [{ "title": "t", "url": "javascript:alert(1)" }] }), "http(s)"),
        (json!({ "type": "rich", "text": "x", "images": [{ "url": "ftp://cdn.example.com/a.png" }] }), "http(s)"),
        (json!({ "type": "rich", "text": "x", "buttons": eleven }), "at most 10 buttons"),
        (json!({ "type": "rich", "text": "x", "buttons": [{ "label": "b", "payload": "p", "url": "https://a.example/x" }] }), "either a payload or a url"),
        (json!({ "type": "rich", "text": "x", "buttons": [{ "label": "", "payload": "p" }] }), "button label"),
        (json!({ "type": "rich", "text": " ", "links": [] }), "empty"),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, v) = post(&format!("bad{i}"), content).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{says}: {v}");
    }
    // An unknown field is a shape error, like everywhere else.
    let (s, v) = post("bad-shape", json!({ "type": "rich", "text": "x", "cards": [] })).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{v}");
    // Agents may reply with rich content too, through the same parser.
    let path = format!("/api/v1/conversations/{}/messages", m["conversation_id"].as_str().unwrap());
    let (s, v) = app.send("post", &sup, &path, Some(json!({ "content": ok }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["message"]["content"]["type"], "rich");
    assert_eq!(v["message"]["content"]["links"][0]["url"], "http://shop.example.com/b");
    let (s, v) = app
        .send(
            "post",
            &sup,
            &path,
            Some(json!({ "content": { "type": "rich", "text": "x", "buttons": eleven_buttons() } })),
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{v}");
    // Nothing rejected was stored.
    let (_, tl) = app.get(&sup, &timeline).await;
    assert_eq!(tl["messages"].as_array().unwrap().len(), 2);
}

fn eleven_buttons() -> Vec<Value> {
    (0..11).map(|i| json!({ "label": format!("b{i}"), "payload": "x" })).collect()
}
