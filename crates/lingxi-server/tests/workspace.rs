//! The agent workspace through the API, on SQLite and PostgreSQL: internal notes, transfers
//! and hand back, canned responses and suggested replies, the emotion alert, the list tabs,
//! the supervisors' queue overview and the structured hand-off package.

mod common;

use common::*;
use lingxi_domain::{ChannelKind, ConversationId, ConversationState, MergePolicy, Role, TeamId, Timestamp, UserId};
use lingxi_server::auth::{digest, new_secret, CHANNEL_KEY_PREFIX};
use lingxi_store::{StoreError, Transfer};
use reqwest::StatusCode;
use serde_json::{json, Value};

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
        mod on_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
    };
}

both!(
    notes_are_internal_and_seen_only_by_the_team,
    transfers_keep_one_owner_and_hand_back_returns_to_the_bot,
    canned_responses_are_managed_by_supervisors_and_filled_in_suggestions,
    the_emotion_alert_follows_the_customer_live,
    an_angry_complaint_the_bot_hands_over_arrives_with_the_alert,
    list_tabs_and_the_supervisor_queue_overview,
    the_hand_off_package_is_structured,
);

async fn notes_are_internal_and_seen_only_by_the_team(backend: Backend) {
    let app = spawn_app(backend).await;
    // The web-chat channel belongs to team "vip".
    let (_, m) =
        app.inbound(&app.a.vip_key, msg("n1", json!([{ "kind": "phone", "value": "13811110000" }]), "你好")).await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let vip = app.login(&app.a.vip_agent).await;
    let general = app.login(&app.a.agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let mut vip_stream = stream(&app, &vip).await;
    let mut general_stream = stream(&app, &general).await;
    let path = format!("/api/v1/conversations/{conv}/notes");

    let (s, v) = app.send("post", &vip, &path, Some(json!({ "text": "客户是老用户，注意语气" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["note"]["kind"], "note");
    let e = wait_event(&mut vip_stream, |e| e["type"] == "note.created").await.expect("note pushed to the team");
    assert_eq!(e["data"]["note"]["text"], "客户是老用户，注意语气");
    let (s, v) = app.get(&sup, &path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["notes"].as_array().unwrap().len(), 1);
    assert_eq!(v["notes"][0]["text"], "客户是老用户，注意语气");

    // Another team's agent can neither read nor add notes, and hears nothing of them.
    assert_eq!(app.get(&general, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.send("post", &general, &path, Some(json!({ "text": "x" }))).await.0, StatusCode::NOT_FOUND);
    assert!(wait_event(&mut general_stream, |e| e["type"] == "note.created").await.is_none());

    // Never a message: the customer's conversation (what channels deliver) does not contain it.
    let (_, detail) = app.get(&sup, &format!("/api/v1/conversations/{conv}")).await;
    assert!(!detail["messages"].to_string().contains("注意语气"));
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1);

    for (body, code) in [
        (json!({ "text": "   " }), "invalid_request"),
        (json!({ "text": "x".repeat(2001) }), "invalid_request"),
        (json!({ "text": "x", "to_customer": true }), "invalid_json"),
    ] {
        let (s, v) = app.send("post", &vip, &path, Some(body)).await;
        assert_eq!((s, v["error"]["code"].as_str().unwrap()), (StatusCode::BAD_REQUEST, code));
    }
    assert_eq!(app.get(&sup, &path).await.1["notes"].as_array().unwrap().len(), 1, "rejected notes store nothing");
}

async fn transfers_keep_one_owner_and_hand_back_returns_to_the_bot(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, m) =
        app.inbound(&app.a.wechat_key, msg("t1", json!([{ "kind": "phone", "value": "13811112222" }]), "在吗")).await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let agent = app.login(&app.a.agent).await;
    let vip = app.login(&app.a.vip_agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let (agent_id, vip_id) = (user_id(&app, &agent).await, user_id(&app, &vip).await);
    let (_, teams) = app.get(&sup, "/api/v1/teams").await;
    let team = |name: &str| {
        teams["teams"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (general_team, vip_team) = (team("general"), team("vip"));
    let transfer = format!("/api/v1/conversations/{conv}/transfer");
    let transitions = format!("/api/v1/conversations/{conv}/transitions");

    app.send("post", &agent, &transitions, Some(json!({ "transition": "hand_off" }))).await;
    let (s, _) = app.send("post", &agent, &transitions, Some(json!({ "transition": "assign" }))).await;
    assert_eq!(s, StatusCode::OK);
    // Nobody but the owner (or a supervisor) moves it.
    let (s, v) = app.send("post", &vip, &transfer, Some(json!({ "agent_id": vip_id }))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = app.send("post", &agent, &transfer, Some(json!({ "note": "no target" }))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    // The owner passes it to the VIP team's queue with a note.
    let (s, v) =
        app.send("post", &agent, &transfer, Some(json!({ "team_id": vip_team, "note": "VIP 客户，退款纠纷" }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["conversation"]["state"], "queued");
    assert_eq!(v["conversation"]["team_id"], vip_team.as_str());
    assert!(v["conversation"]["assignee_id"].is_null());
    assert_eq!(v["note"]["kind"], "transfer");
    assert_eq!(v["note"]["target"], vip_team.as_str());
    assert_eq!(app.get(&agent, &format!("/api/v1/conversations/{conv}")).await.0, StatusCode::NOT_FOUND);
    let (_, notes) = app.get(&vip, &format!("/api/v1/conversations/{conv}/notes")).await;
    assert_eq!(notes["notes"][0]["text"], "VIP 客户，退款纠纷");

    // A supervisor reassigns: to the VIP agent, then to the general agent in the general team.
    let (s, v) = app.send("post", &sup, &transfer, Some(json!({ "agent_id": vip_id }))).await;
    assert_eq!((s, v["conversation"]["assignee_id"].as_str()), (StatusCode::OK, Some(vip_id.as_str())), "{v}");
    // An agent cannot be given a conversation of a team they are not in…
    let (s, v) = app.send("post", &vip, &transfer, Some(json!({ "agent_id": agent_id }))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{v}");
    // …unless it moves to their team with them.
    let (s, v) = app
        .send(
            "post",
            &vip,
            &transfer,
            Some(json!({ "agent_id": agent_id, "team_id": general_team, "note": "回到售后" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["conversation"]["state"], "assigned");
    assert_eq!(v["conversation"]["assignee_id"], agent_id.as_str());
    assert_eq!(v["conversation"]["team_id"], general_team.as_str());

    // Compare-and-set: a transfer decided on a stale view of the owner is refused.
    let tenant = app.store.tenant_by_slug("alpha").await.unwrap().id;
    let id = ConversationId::parse(&conv).unwrap();
    let stale = app
        .store
        .transfer(
            &tenant,
            &id,
            ConversationState::Assigned,
            Some(&UserId::parse(&vip_id).unwrap()),
            &Transfer { to_team: None, to_agent: Some(UserId::parse(&vip_id).unwrap()), note: String::new() },
            &UserId::parse(&vip_id).unwrap(),
            Timestamp::from_millis(1_770_000_000_000),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");

    // Concurrent supervisor transfers between two agents: every answer is 200 or 409 and in
    // the end one person owns the conversation, in the store and in routing alike.
    let _streams = (stream(&app, &agent).await, stream(&app, &sup).await);
    let sup_id = user_id(&app, &sup).await;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let target = if i % 2 == 0 { sup_id.clone() } else { agent_id.clone() };
            app.send("post", &sup, &transfer, Some(json!({ "agent_id": target })))
        })
        .collect();
    for (s, v) in futures_util::future::join_all(racers).await {
        assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s} {v}");
    }
    let (_, detail) = app.get(&sup, &format!("/api/v1/conversations/{conv}")).await;
    let owner = detail["conversation"]["assignee_id"].as_str().unwrap().to_owned();
    let (_, q) = app.get(&sup, "/api/v1/queues").await;
    let holders: Vec<&str> = q["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["conversations"].as_array().unwrap().iter().any(|c| c == conv.as_str()))
        .map(|a| a["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(holders, [owner.as_str()], "routing agrees with the store on the one owner");

    // Hand back: the bot owns it again and routing forgets it.
    let (s, v) = app.send("post", &sup, &transitions, Some(json!({ "transition": "hand_back" }))).await;
    assert_eq!((s, v["conversation"]["state"].as_str()), (StatusCode::OK, Some("bot")));
    assert!(v["conversation"]["assignee_id"].is_null());
    let (_, q) = app.get(&sup, "/api/v1/queues").await;
    assert!(!q.to_string().contains(&conv), "no agent holds a handed-back conversation");
    let (s, _) = app.send("post", &sup, &transfer, Some(json!({ "team_id": vip_team }))).await;
    assert_eq!(s, StatusCode::CONFLICT, "the bot's conversation is not transferred");
    let (_, audit) = app.get(&sup, "/api/v1/audit").await;
    assert!(
        audit["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "conversation.transfer").count() >= 4
    );
}

async fn canned_responses_are_managed_by_supervisors_and_filled_in_suggestions(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.login(&app.a.agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let body = json!({ "title": "问候", "text": "{{customer.name}}您好，我是{{agent.name}}，订单 {{order_no}} 正在处理。", "lang": "zh" });
    let (s, _) = app.send("post", &agent, "/api/v1/canned-responses", Some(body.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents use canned responses but do not manage them");
    let (s, v) = app.send("post", &sup, "/api/v1/canned-responses", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["canned_response"]["id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .send(
            "post",
            &sup,
            "/api/v1/canned-responses",
            Some(json!({ "title": "Bye", "text": "Bye {{customer.name}}", "lang": "en" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let bye = v["canned_response"]["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({ "title": "x", "text": "y", "lang": "fr" }),
        json!({ "title": "", "text": "y" }),
        json!({ "title": "x" }),
    ] {
        let (s, v) = app.send("post", &sup, "/api/v1/canned-responses", Some(bad)).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    }
    let item = format!("/api/v1/canned-responses/{bye}");
    assert_eq!(app.send("patch", &agent, &item, Some(json!({ "title": "x" }))).await.0, StatusCode::FORBIDDEN);
    let (s, v) = app.send("patch", &sup, &item, Some(json!({ "title": "Goodbye" }))).await;
    assert_eq!((s, v["canned_response"]["title"].as_str()), (StatusCode::OK, Some("Goodbye")));
    assert_eq!(v["canned_response"]["text"], "Bye {{customer.name}}", "unchanged fields are kept");
    assert_eq!(app.send("delete", &agent, &item, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.send("delete", &sup, &item, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.send("delete", &sup, &item, None).await.0, StatusCode::NOT_FOUND);
    let (s, list) = app.get(&agent, "/api/v1/canned-responses").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["canned_responses"].as_array().unwrap().len(), 1);

    // Suggestions fill the variables from the customer, the agent and the conversation.
    let (_, m) = app
        .inbound(
            &app.a.wechat_key,
            msg("s1", json!([{ "kind": "phone", "value": "13833334444" }]), "订单号 DD20261124001 还没发货"),
        )
        .await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let (s, v) = app.get(&agent, &format!("/api/v1/conversations/{conv}/suggestions")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["canned"][0]["id"], id.as_str());
    assert_eq!(v["canned"][0]["text"], "李雷您好，我是agent，订单 DD20261124001 正在处理。");
    assert_eq!(v["knowledge"], json!([]), "this tenant has an empty knowledge base");

    // The demo tenant's knowledge base answers the customer's last message.
    let now = Timestamp::from_millis(1_760_000_000_000);
    let t = app
        .store
        .create_tenant(lingxi_server::demo::DEMO_SLUG, "Demo", MergePolicy::Automatic, 3600, now)
        .await
        .unwrap();
    assert!(lingxi_server::knowledge::seed_demo(&app.store, &t.id, now).await.unwrap() >= 150);
    let key = new_secret(CHANNEL_KEY_PREFIX);
    app.store.create_channel(&t.id, ChannelKind::MobileApp, "app", &digest(&key), None, now).await.unwrap();
    let email = format!("agent@demo-{}.test", rand_hex());
    app.store.create_user(&t.id, &email, "小灵", Role::Agent, password_hash(), &[] as &[TeamId], now).await.unwrap();
    let demo_agent = app.login(&email).await;
    let (_, m) = app.inbound(&key, msg("k1", json!([{ "kind": "device_id", "value": "d1" }]), "退款多久到账？")).await;
    let (s, v) = app
        .get(&demo_agent, &format!("/api/v1/conversations/{}/suggestions", m["conversation_id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    let best = v["knowledge"][0]["text"].as_str().unwrap_or_default();
    assert!(best.contains("1–3 个工作日"), "best answer: {v}");
    assert!(v["canned"].as_array().unwrap().is_empty(), "canned responses are per tenant");
}

async fn the_emotion_alert_follows_the_customer_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.login(&app.a.agent).await;
    let mut ws = stream(&app, &agent).await;
    let phone = json!([{ "kind": "phone", "value": "13855556666" }]);
    let (_, m) = app.inbound(&app.a.wechat_key, msg("e1", phone.clone(), "我的快递到哪了")).await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    // People own it: the alert must work without the bot.
    let transitions = format!("/api/v1/conversations/{conv}/transitions");
    app.send("post", &agent, &transitions, Some(json!({ "transition": "hand_off" }))).await;
    app.send("post", &agent, &transitions, Some(json!({ "transition": "assign" }))).await;
    app.inbound(&app.a.wechat_key, msg("e2", phone.clone(), "气死我了！！垃圾客服，我要投诉😡")).await;
    let e = wait_event(&mut ws, |e| e["type"] == "conversation.updated" && e["data"]["emotion_alert"] == true)
        .await
        .expect("the alert is pushed live");
    assert_eq!(e["data"]["conversation"]["id"], conv.as_str());
    let (_, list) = app.get(&agent, "/api/v1/conversations?assignee=me").await;
    assert_eq!(list["conversations"][0]["emotion_alert"], true);
    // Calmer again: the alert goes away.
    app.inbound(&app.a.wechat_key, msg("e3", phone, "好的，谢谢你")).await;
    wait_event(&mut ws, |e| e["type"] == "conversation.updated" && e["data"]["emotion_alert"] == false)
        .await
        .expect("the alert is lowered live");
    let (_, detail) = app.get(&agent, &format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(detail["conversation"]["emotion_alert"], false);
}

async fn an_angry_complaint_the_bot_hands_over_arrives_with_the_alert(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let sup = app.login(&app.a.supervisor).await;
    let mut ws = stream(&app, &sup).await;
    let phone = json!([{ "kind": "phone", "value": "13855557777" }]);
    // A complaint in anger: whichever reason the bot gives for handing over, the person who
    // takes it over should see the mood at once, not after the customer's next message.
    let (_, m) =
        app.inbound(&app.a.wechat_key, msg("a1", phone, "气死我了！！都几天了还没到，垃圾客服，我要投诉😡")).await;
    let conv = m["conversation_id"].as_str().unwrap().to_owned();
    let e = wait_event(&mut ws, |e| {
        e["type"] == "conversation.updated"
            && e["data"]["emotion_alert"] == true
            && e["data"]["conversation"]["id"] == conv.as_str()
    })
    .await
    .expect("the alert comes with the hand-off");
    assert_ne!(e["data"]["conversation"]["state"], "bot", "{e}");
    let (_, detail) = app.get(&sup, &format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(detail["conversation"]["emotion_alert"], true);
    assert!(detail["conversation"]["handoff_reason"].is_string(), "{detail}");
}

async fn list_tabs_and_the_supervisor_queue_overview(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, general) =
        app.inbound(&app.a.wechat_key, msg("l1", json!([{ "kind": "phone", "value": "13877770000" }]), "x")).await;
    let (_, vip) =
        app.inbound(&app.a.vip_key, msg("l2", json!([{ "kind": "phone", "value": "13877770001" }]), "y")).await;
    let vip_agent = app.login(&app.a.vip_agent).await;
    let sup = app.login(&app.a.supervisor).await;
    let ids = |v: &Value| -> Vec<String> {
        v["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    // The team tab: only the caller's teams (not the unteamed ones the agent also sees).
    let (_, all) = app.get(&vip_agent, "/api/v1/conversations").await;
    assert_eq!(ids(&all).len(), 2);
    let (_, team) = app.get(&vip_agent, "/api/v1/conversations?team=mine").await;
    assert_eq!(ids(&team), [vip["conversation_id"].as_str().unwrap()]);
    let (s, v) = app.get(&vip_agent, "/api/v1/conversations?team=vip").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    // The overview: supervisors only; waiting per team with the oldest wait.
    assert_eq!(app.get(&vip_agent, "/api/v1/queues/overview").await.0, StatusCode::FORBIDDEN);
    for m in [&general, &vip] {
        let path = format!("/api/v1/conversations/{}/transitions", m["conversation_id"].as_str().unwrap());
        assert_eq!(app.send("post", &sup, &path, Some(json!({ "transition": "hand_off" }))).await.0, StatusCode::OK);
    }
    let (s, v) = app.get(&sup, "/api/v1/queues/overview").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let teams = v["teams"].as_array().unwrap();
    let vip_team = teams.iter().find(|t| t["name"] == "vip").unwrap();
    let people: Vec<&str> =
        vip_team["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(people, ["vip-agent"]);
    assert_eq!(vip_team["agents"][0]["presence"], "offline");
    assert_eq!(vip_team["waiting_count"], 1);
    assert_eq!(vip_team["waiting"][0]["conversation_id"], vip["conversation_id"]);
    let unteamed = teams.iter().find(|t| t["team_id"].is_null()).expect("the unteamed queue is listed");
    assert_eq!(unteamed["waiting_count"], 1);
    assert_eq!(unteamed["waiting"][0]["conversation_id"], general["conversation_id"]);
    assert!(unteamed["oldest_wait_secs"].as_i64().unwrap() >= 0);
}

async fn the_hand_off_package_is_structured(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = true).await;
    let sup = app.login(&app.a.supervisor).await;
    let phone = json!([{ "kind": "phone", "value": "13899990000" }]);
    let (_, m) = app.inbound(&app.a.wechat_key, msg("h1", phone.clone(), "我的快递到哪了？订单号 DD20261124001")).await;
    let path = format!("/api/v1/conversations/{}", m["conversation_id"].as_str().unwrap());
    eventually(|| {
        let (app, sup, path) = (&app, sup.clone(), path.clone());
        async move { (app.get(&sup, &path).await.1["messages"].as_array()?.len() >= 2).then_some(Value::Null) }
    })
    .await;
    app.inbound(&app.a.wechat_key, msg("h2", phone, "转人工")).await;
    let c = eventually(|| {
        let (app, sup, path) = (&app, sup.clone(), path.clone());
        async move {
            let v = app.get(&sup, &path).await.1;
            (v["conversation"]["state"] == "queued").then(|| v["conversation"].clone())
        }
    })
    .await;
    let d = &c["handoff_details"];
    assert_eq!(d["reason"], "customer_request", "{c}");
    assert_eq!(d["why"], "客户要求人工服务");
    assert_eq!(d["entities"], json!(["订单号 DD20261124001"]));
    assert!(d["intents"].as_array().unwrap().iter().any(|i| i == "logistics"), "{d}");
    assert_eq!(d["customer_messages"], 2);
    assert_eq!(d["bot_replies"].as_array().unwrap().len(), 1);
    assert_eq!(d["lang"], "zh");
    assert!(c["handoff_summary"].as_str().unwrap().contains("DD20261124001"), "the text form stays");
}
