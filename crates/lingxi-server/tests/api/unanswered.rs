//! Nothing is lost to a restart: a customer message stored and acknowledged while the bot could
//! not take its turn (here: the bot was off; in life: the process stopped in between) is
//! answered by the next start, once; a conversation people own is left to them.

use super::*;

both!(
    a_restart_answers_what_the_bot_never_answered,
    two_nodes_starting_at_once_answer_a_waiting_question_once,
    a_stopping_server_stores_the_bots_turns_in_progress_first,
);

async fn a_restart_answers_what_the_bot_never_answered(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = false).await;
    let sup = app.login(&app.a.supervisor).await;
    let who = json!([{ "kind": "device_id", "value": "restart-1" }]);
    let (s, m) = app.inbound(&app.a.app_key, msg("restart-1", who, "退款多久到账？")).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let waiting = m["conversation_id"].as_str().unwrap().to_owned();
    let who = json!([{ "kind": "device_id", "value": "restart-2" }]);
    let (_, m) = app.inbound(&app.a.app_key, msg("restart-2", who, "发票怎么开？")).await;
    let taken = m["conversation_id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .send(
            "post",
            &sup,
            &format!("/api/v1/conversations/{taken}/transitions"),
            Some(json!({ "transition": "hand_off" })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The hand-off's own notices (the queue's word to the customer), counted before the restart.
    let (_, v) = app.get(&sup, &format!("/api/v1/conversations/{taken}")).await;
    let taken_before = v["messages"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] == "bot").count();
    let (_, v) = app.get(&sup, &format!("/api/v1/conversations/{waiting}")).await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "the bot is off: no reply yet");

    let app = app.restart(|c| c.bot_enabled = true).await;
    let sup = app.login(&app.a.supervisor).await;
    // The start looks after a short settling wait (a turn another node is taking may land).
    let answered = bot_replies_once_there(&app, &sup, &waiting).await;
    assert_eq!(answered, 1, "the unanswered question got the bot's turn after the restart");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(bot_replies(&app, &sup, &waiting).await, 1, "once");
    assert_eq!(bot_replies(&app, &sup, &taken).await, taken_before, "people own the other one: the bot stays out");
}

/// Two nodes start together after a crash and both find the same unanswered question: each
/// takes the bot's turn, and the store keeps one (the first to claim the message); the
/// customer hears the bot once, not twice.
async fn two_nodes_starting_at_once_answer_a_waiting_question_once(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.bot_enabled = false).await;
    let mut waiting = Vec::new();
    for i in 0..3 {
        let who = json!([{ "kind": "device_id", "value": format!("twin-{i}") }]);
        let (s, m) = app.inbound(&app.a.app_key, msg(&format!("twin-{i}"), who, "退款多久到账？")).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        waiting.push(m["conversation_id"].as_str().unwrap().to_owned());
    }
    let app = app.restart(|c| c.bot_enabled = true).await;
    let (_base, stop_second, second) = app.second_node(|c| c.bot_enabled = true).await;
    let sup = app.login(&app.a.supervisor).await;
    for conv in &waiting {
        assert!(
            bot_replies_once_there(&app, &sup, conv).await > 0,
            "the waiting question was answered after the start"
        );
    }
    // Both nodes' turns have had time to land (each node's turn takes milliseconds).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for conv in &waiting {
        assert_eq!(bot_replies(&app, &sup, conv).await, 1, "answered once, though both nodes took the turn");
    }
    drop(stop_second);
    tokio::time::timeout(std::time::Duration::from_secs(20), second)
        .await
        .expect("the second node stops")
        .unwrap()
        .unwrap();
}

/// A deploy stops the server right after it acknowledged customers' messages: the bot's turns
/// for them are finished and stored before the store closes, not left to the next start.
async fn a_stopping_server_stores_the_bots_turns_in_progress_first(backend: Backend) {
    let (app, alpha) = spawn_demo_bot(backend).await;
    let mut convs = Vec::new();
    for i in 0..4 {
        let who = json!([{ "kind": "device_id", "value": format!("deploy-{i}") }]);
        let (s, m) = app.inbound(&app.a.app_key, msg(&format!("deploy-{i}"), who, "退款多久到账？")).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        convs.push(lingxi_domain::ConversationId::parse(m["conversation_id"].as_str().unwrap()).unwrap());
    }
    // Stopped at once: the turns are still being computed or queued.
    let store = app.stop().await;
    for conv in convs {
        let messages = store.messages(&alpha, &conv, 50).await.unwrap();
        let replies = messages.iter().filter(|m| m.sender_kind == "bot").count();
        assert!(replies >= 1, "the bot's turn for {conv} was stored before the store closed");
        let asked = messages.iter().find(|m| m.sender_kind == "customer").unwrap();
        assert!(asked.intent.is_some(), "and the message is marked as read by the bot");
    }
    store.close().await;
}

/// The bot's messages in a conversation.
async fn bot_replies(app: &TestApp, sup: &str, conv: &str) -> usize {
    let (_, v) = app.get(sup, &format!("/api/v1/conversations/{conv}")).await;
    v["messages"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] == "bot").count()
}

/// The bot's messages once there is one (polled for up to 10 s; 0 if none came).
async fn bot_replies_once_there(app: &TestApp, sup: &str, conv: &str) -> usize {
    for _ in 0..200 {
        let n = bot_replies(app, sup, conv).await;
        if n > 0 {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    0
}
