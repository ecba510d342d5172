//! Nothing is lost to a restart: a customer message stored and acknowledged while the bot could
//! not take its turn (here: the bot was off; in life: the process stopped in between) is
//! answered by the next start, once; a conversation people own is left to them.

use super::*;

both!(a_restart_answers_what_the_bot_never_answered);

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
    let bot_messages = |conv: String| {
        let (app, sup) = (&app, sup.clone());
        async move {
            let (_, v) = app.get(&sup, &format!("/api/v1/conversations/{conv}")).await;
            v["messages"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] == "bot").count()
        }
    };
    // The start looks after a short settling wait (a turn another node is taking may land).
    let mut answered = 0;
    for _ in 0..200 {
        answered = bot_messages(waiting.clone()).await;
        if answered > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered, 1, "the unanswered question got the bot's turn after the restart");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(bot_messages(waiting).await, 1, "once");
    assert_eq!(bot_messages(taken).await, taken_before, "people own the other one: the bot stays out");
}
