//! Ratings from the chat widget: a visitor sees which bot messages can be rated (and its own
//! rating after a reload), rates only bot messages of its own conversations with its visitor
//! token, and a "not useful" answer (not a recommendation) lands on the gap list, once.

use super::*;
use lingxi_domain::ConversationId;

both!(
    a_visitor_rates_its_own_answers_and_a_not_useful_answer_becomes_a_gap,
    simultaneous_not_useful_ratings_log_one_gap
);

async fn a_visitor_rates_its_own_answers_and_a_not_useful_answer_becomes_a_gap(backend: Backend) {
    let (app, alpha) = spawn_demo_bot(backend).await;
    let admin = app.login(&app.a.admin).await;
    let chan = app.web_chat(&app.a).await;
    let (me, other) = (app.visitor(&chan).await, app.visitor(&chan).await);
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();
    let rate = |token: String, id: String, useful: bool| {
        let app = &app;
        async move {
            app.send("post", &token, "/api/v1/widget/feedback", Some(json!({ "message_id": id, "useful": useful })))
                .await
        }
    };
    let history = |token: String| {
        let app = &app;
        async move { app.get(&token, "/api/v1/widget/messages").await.1["messages"].as_array().unwrap().clone() }
    };

    // The visitor says hello; an agent attaches the phone the customer gave them, so the bot
    // knows their orders (13600136005 owns the C2 camera and no memory card).
    let (_, hi) = app.widget_say(&me, "c0", "你好").await;
    let conv = hi["message"]["conversation_id"].as_str().unwrap().to_owned();
    // Answered before the phone is known: no suggestion can come from the greeting.
    eventually(|| {
        let h = history(me.clone());
        async move { h.await.iter().any(|m| m["sender"] == "bot").then_some(Value::Null) }
    })
    .await;
    let customer = app.store.conversation(&alpha, &ConversationId::parse(&conv).unwrap()).await.unwrap().customer_id;
    let (s, v) = app
        .send(
            "post",
            &admin,
            &format!("/api/v1/customers/{customer}/identifiers"),
            Some(json!({ "kind": "phone", "value": "13600136005" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The question: a knowledge-base answer, then a suggestion; the stream says both are rateable.
    let mut ws = widget_stream(&app, &me).await;
    let (_, asked) = app.widget_say(&me, "c1", "电子产品保修多久？").await;
    let asked_id = asked["message"]["id"].as_str().unwrap().to_owned();
    let evs = events_until(&mut ws, 5000, |e| e.iter().any(|e| e["message"]["rateable"] == "recommendation")).await;
    let live: Vec<&Value> = evs.iter().filter(|e| e["message"]["sender"] == "bot").collect();
    assert_eq!(live.len(), 2, "{evs:?}");
    assert_eq!((&live[0]["message"]["rateable"], &live[0]["message"]["rating"]), (&json!("answer"), &Value::Null));
    assert_eq!(live[1]["message"]["rateable"], "recommendation");
    assert!(evs.iter().all(|e| e["message"]["sender"] != "customer" || e["message"].get("rateable").is_none()));

    // History says the same, for messages of this visitor only.
    let h = history(me.clone()).await;
    let after = h.iter().position(|m| m["id"] == asked_id.as_str()).unwrap();
    let bot: Vec<&Value> = h[after..].iter().filter(|m| m["sender"] == "bot").collect();
    assert_eq!(bot.len(), 2, "{h:?}");
    assert_eq!((&bot[0]["rateable"], &bot[0]["rating"]), (&json!("answer"), &Value::Null));
    assert_eq!(bot[1]["rateable"], "recommendation");
    let (answer, tip) = (bot[0]["id"].as_str().unwrap().to_owned(), bot[1]["id"].as_str().unwrap().to_owned());
    assert!(h.iter().filter(|m| m["sender"] == "customer").all(|m| m.get("rateable").is_none()));

    // Credentials and ownership: no token, a channel key, another visitor, a made-up id.
    let r = app
        .http
        .post(format!("{}/api/v1/widget/feedback", app.base))
        .json(&json!({ "message_id": answer, "useful": false }));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let (s, _) = rate(app.a.app_key.clone(), answer.clone(), false).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a channel key is not a visitor token");
    let (s, v) = rate(other.clone(), answer.clone(), false).await;
    assert_eq!((s, code(&v).as_str()), (StatusCode::NOT_FOUND, "unknown_message"), "another visitor's answer: {v}");
    let (s, v) = rate(me.clone(), "msg_nope".into(), false).await;
    assert_eq!((s, code(&v).as_str()), (StatusCode::NOT_FOUND, "unknown_message"));
    // The visitor's own message is no bot answer.
    let (s, v) = rate(me.clone(), asked_id.clone(), false).await;
    assert_eq!((s, code(&v).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "not_a_bot_answer"), "{v}");
    let (_, v) = app.get(&admin, "/api/v1/knowledge/gaps").await;
    assert_eq!(v["feedback"]["not_useful"], 0, "nothing refused was stored: {v}");

    // Not useful: the question joins the gap list.
    let (s, v) = rate(me.clone(), answer.clone(), false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["rated"]["kind"], &v["gap_logged"], &v["rating"]),
        (&json!("answer"), &json!(true), &json!("not_useful"))
    );
    // A changed mind, and back: latest wins, counted once, still one gap.
    for useful in [false, true, false] {
        let (s, v) = rate(me.clone(), answer.clone(), useful).await;
        assert_eq!((s, &v["gap_logged"]), (StatusCode::OK, &json!(false)), "{v}");
    }
    // A not useful suggestion is feedback on the suggestion, not a gap.
    let (s, v) = rate(me.clone(), tip.clone(), false).await;
    assert_eq!(
        (s, &v["rated"]["kind"], &v["gap_logged"]),
        (StatusCode::OK, &json!("recommendation"), &json!(false)),
        "{v}"
    );

    let (_, v) = app.get(&admin, "/api/v1/knowledge/gaps").await;
    let ours: Vec<&Value> = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["examples"].to_string().contains("电子产品保修多久"))
        .collect();
    assert_eq!(ours.len(), 1, "{v}");
    assert_eq!((&ours[0]["size"], &ours[0]["kinds"]["not_useful"]), (&json!(1), &json!(1)), "{v}");
    assert_eq!(v["feedback"]["answers"], json!({ "useful": 0, "not_useful": 1 }), "{v}");
    assert_eq!(v["feedback"]["recommendations"]["not_useful"], 1, "{v}");

    // After a reload the widget shows the visitor's ratings.
    let h = history(me.clone()).await;
    let rating = |id: &str| h.iter().find(|m| m["id"] == id).unwrap()["rating"].clone();
    assert_eq!((rating(&answer), rating(&tip)), (json!("not_useful"), json!("not_useful")));
}

/// Several "not useful" ratings of the same answer arriving at once (a double click, a retry,
/// two tabs) log one gap between them, through the widget and through the channel alike; a
/// rating that changes nothing logs nothing.
async fn simultaneous_not_useful_ratings_log_one_gap(backend: Backend) {
    use lingxi_domain::Content;
    use lingxi_store::{BotTurn, RatedKind, ReplyAbout};
    let app = spawn_app(backend).await;
    let alpha = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let chan = app.web_chat(&app.a).await;
    let me = app.visitor(&chan).await;
    // A bot answer in the visitor's conversation and one in a channel's (the bot is off here:
    // the answers are written as the bot turn writes them).
    let (_, said) = app.widget_say(&me, "c1", "电子产品保修多久？").await;
    let (_, via_channel) = app
        .inbound(&app.a.wechat_key, msg("m1", json!([{ "kind": "phone", "value": "13800001111" }]), "怎么退货？"))
        .await;
    let answer_in = |conv: &Value, question: &str| BotTurn {
        tenant_id: alpha.clone(),
        conversation_id: ConversationId::parse(conv.as_str().unwrap()).unwrap(),
        last_intent: None,
        sentiment: 0.0,
        failures: 0,
        reply: Content::text("一年保修").ok(),
        handoff: None,
        handoff_details: None,
        at: Timestamp::from_millis(1_760_000_000_000),
        about: Some(ReplyAbout {
            kind: RatedKind::Answer,
            ref_id: Some("warranty".into()),
            question: Some(question.into()),
        }),
        understood: None,
    };
    let stored = app
        .store
        .bot_turns(&[
            answer_in(&said["message"]["conversation_id"], "电子产品保修多久？"),
            answer_in(&via_channel["conversation_id"], "怎么退货？"),
        ])
        .await
        .unwrap();
    let id = |i: usize| stored[i].as_ref().unwrap().1.as_ref().unwrap().id.to_string();
    let (widget_answer, channel_answer) = (id(0), id(1));

    const AT_ONCE: usize = 8;
    let body = |id: &str| json!({ "message_id": id, "useful": false });
    let widget = (0..AT_ONCE).map(|_| app.send("post", &me, "/api/v1/widget/feedback", Some(body(&widget_answer))));
    let channel = (0..AT_ONCE)
        .map(|_| app.send("post", &app.a.wechat_key, "/api/v1/inbound/feedback", Some(body(&channel_answer))));
    let (widget, channel) =
        tokio::join!(futures_util::future::join_all(widget), futures_util::future::join_all(channel));
    for (route, answers) in [("widget", &widget), ("channel", &channel)] {
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK), "{route}: {answers:?}");
        let logged = answers.iter().filter(|(_, v)| v["gap_logged"] == true).count();
        assert_eq!(logged, 1, "{route}: one of the simultaneous ratings logs the gap: {answers:?}");
    }
    let gaps = app.store.kb_open_gaps(&alpha, 100).await.unwrap();
    let of = |q: &str| gaps.iter().filter(|g| g.text == q).count();
    assert_eq!((of("电子产品保修多久？"), of("怎么退货？")), (1, 1), "{gaps:?}");

    // Rated not useful once more: nothing changes, nothing is logged.
    let (s, v) = app.send("post", &me, "/api/v1/widget/feedback", Some(body(&widget_answer))).await;
    assert_eq!((s, &v["gap_logged"]), (StatusCode::OK, &json!(false)), "{v}");
    assert_eq!(app.store.kb_open_gaps(&alpha, 100).await.unwrap().len(), 2);
}
