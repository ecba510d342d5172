//! Honest waiting: when a hand-off finds nobody to take it, the customer is told in their
//! channel why and for how long (closed now and when we open; nobody suitable online and that a
//! person will reply here or call back; or their place in the queue and the expected wait).

use super::TenantRouting;
use crate::live::LiveEvent;
use crate::state::AppState;
use lingxi_domain::{Content, Sender, TenantId};
use lingxi_store::{ConversationRow, NewMessage};
use serde_json::json;

/// Why the customer waits, with the numbers the message quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Outside business hours: the hours and the next opening (local day and time).
    Closed { hours: String, opens_day: &'static str, opens_at: String },
    /// Nobody who could take it is online.
    NobodyOnline { position: usize },
    /// Suitable agents are online but busy.
    Busy { position: usize, wait_mins: i64 },
}

pub fn waiting_notice(state: &AppState, tr: &TenantRouting, conv: &ConversationRow, now_ms: i64) -> Notice {
    if let Some(h) = state.config.routing.hours_for(&tr.slug) {
        if !h.is_open(now_ms) {
            let (opens_day, opens_at) = h.local(h.next_open_ms(now_ms));
            return Notice::Closed { hours: h.text().to_owned(), opens_day, opens_at };
        }
    }
    let r = tr.router();
    let position = r.waiting().iter().position(|c| **c == conv.id).map_or(1, |i| i + 1);
    let n_agents = r.n_qualified_online(&conv.id);
    if n_agents == 0 {
        return Notice::NobodyOnline { position };
    }
    // Each qualified agent frees a place about once per handling time; the customer is served
    // when the `position` places ahead (including their own) have freed.
    let handle = state.config.routing.expected_handle_secs;
    let n = n_agents as i64;
    let secs = (position as i64 * handle + n - 1) / n;
    Notice::Busy { position, wait_mins: (secs + 59) / 60 }
}

fn day_zh(d: &str) -> &'static str {
    match d {
        "mon" => "周一",
        "tue" => "周二",
        "wed" => "周三",
        "thu" => "周四",
        "fri" => "周五",
        "sat" => "周六",
        _ => "周日",
    }
}

pub fn render(n: &Notice, chinese: bool) -> String {
    match (n, chinese) {
        (Notice::Closed { hours, opens_day, opens_at }, true) => format!(
            "现在是非工作时间（人工客服工作时间：{hours}）。您的问题已进入排队，我们会在{}{opens_at}上班后第一时间在这里回复您；如需回电，请留下您的电话号码。",
            day_zh(opens_day)
        ),
        (Notice::Closed { hours, opens_day, opens_at }, false) => format!(
            "We're closed right now (our agents work {hours}). Your request is in the queue and a person will reply here first thing when we open ({opens_day} {opens_at}); leave a phone number if you'd like a call back."
        ),
        (Notice::NobodyOnline { position }, true) => format!(
            "目前没有可以处理您问题的客服在线。您已进入排队（第 {position} 位），客服上线后会第一时间在这里回复您；也可以留下电话号码，我们会给您回电。"
        ),
        (Notice::NobodyOnline { position }, false) => format!(
            "No agent who can handle this is online right now. You're number {position} in the queue and a person will reply here as soon as one is available; or leave a phone number and we'll call you back."
        ),
        (Notice::Busy { position, wait_mins }, true) => {
            format!("所有客服正在服务中，您前面还有 {} 位，预计等待约 {wait_mins} 分钟，请不要离开。", position - 1)
        }
        (Notice::Busy { position, wait_mins }, false) => format!(
            "All our agents are busy. {} ahead of you; the expected wait is about {wait_mins} minute{}.",
            match position - 1 {
                0 => "Nobody is".to_owned(),
                1 => "1 person is".to_owned(),
                n => format!("{n} people are"),
            },
            if *wait_mins == 1 { "" } else { "s" }
        ),
    }
}

/// Posts the notice as a bot message in the customer's conversation (the channel's reply
/// path) and on the live stream, in the customer's language (Chinese unless they wrote none).
pub async fn tell_customer(state: &AppState, tenant: &TenantId, conv: &ConversationRow, notice: Notice) {
    let recent = state.store.messages(tenant, &conv.id, 5).await.unwrap_or_default();
    let customer_text: String =
        recent.iter().filter(|m| m.sender_kind == "customer").filter_map(|m| m.content["text"].as_str()).collect();
    let chinese = customer_text.is_empty() || customer_text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let Ok(content) = Content::text(&render(&notice, chinese)) else { return };
    match state.store.add_message(tenant, &conv.id, &NewMessage { sender: Sender::Bot, content }, state.clock.now()).await {
        Ok(m) => state.hub.publish(LiveEvent {
            tenant_id: tenant.clone(),
            team_id: conv.team_id.clone(),
            kind: "message.created",
            data: json!({ "conversation_id": conv.id.as_str(), "customer_id": conv.customer_id.as_str(), "state": "queued", "message": crate::api::views::message(&m) }),
        }),
        Err(e) => tracing::warn!(error = %e, conversation = %conv.id, "waiting notice not stored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_say_why_and_how_long() {
        let closed = Notice::Closed { hours: "mon-fri 09:00-18:00".into(), opens_day: "mon", opens_at: "09:00".into() };
        assert!(render(&closed, true).contains("周一09:00"));
        assert!(render(&closed, false).contains("(mon 09:00)"));
        assert!(render(&Notice::NobodyOnline { position: 3 }, true).contains("第 3 位"));
        let busy = Notice::Busy { position: 3, wait_mins: 5 };
        assert!(render(&busy, true).contains("前面还有 2 位，预计等待约 5 分钟"));
        assert!(render(&busy, false).contains("2 people are ahead of you; the expected wait is about 5 minutes"));
        assert!(render(&Notice::Busy { position: 1, wait_mins: 1 }, false)
            .contains("Nobody is ahead of you; the expected wait is about 1 minute."));
    }
}
