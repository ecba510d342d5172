//! Wire views: how stored rows are rendered as JSON. Times are RFC 3339 in UTC.

use lingxi_domain::Timestamp;
use lingxi_store::{
    AuditRow, ChannelRow, ConversationRow, CustomerView, MergeRow, MessageRow, TeamRow, TenantRow, UserRow,
};
use serde_json::{json, Value};

pub fn time(t: Timestamp) -> Value {
    let nanos = i128::from(t.millis()) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(dt) => dt.format(&time::format_description::well_known::Rfc3339).map(Value::from).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

pub fn opt_time(t: Option<Timestamp>) -> Value {
    t.map(time).unwrap_or(Value::Null)
}

pub fn tenant(t: &TenantRow) -> Value {
    json!({
        "id": t.id.as_str(), "slug": t.slug, "name": t.name, "merge_policy": t.merge_policy.as_str(),
        "reopen_window_secs": t.reopen_window_secs, "created_at": time(t.created_at),
    })
}

pub fn user(u: &UserRow) -> Value {
    json!({
        "id": u.id.as_str(), "tenant_id": u.tenant_id.as_str(), "email": u.email, "name": u.name, "role": u.role.as_str(),
        "team_ids": u.team_ids.iter().map(|t| t.as_str()).collect::<Vec<_>>(), "created_at": time(u.created_at),
    })
}

pub fn team(t: &TeamRow) -> Value {
    json!({ "id": t.id.as_str(), "name": t.name })
}

pub fn channel(c: &ChannelRow) -> Value {
    json!({
        "id": c.id.as_str(), "tenant_id": c.tenant_id.as_str(), "kind": c.kind.as_str(), "name": c.name,
        "team_id": c.team_id.as_ref().map(|t| t.as_str()), "created_at": time(c.created_at),
    })
}

pub fn customer(c: &CustomerView) -> Value {
    json!({
        "id": c.id.as_str(),
        "display_name": c.display_name,
        "attributes": c.attributes,
        "tags": c.tags,
        "merged_into": c.merged_into.as_ref().map(|m| m.as_str()),
        "identifiers": c.identities.iter().map(|i| json!({
            "kind": i.kind, "value": i.value, "source": i.source, "created_at": time(i.created_at),
        })).collect::<Vec<_>>(),
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
    })
}

pub fn conversation(c: &ConversationRow) -> Value {
    json!({
        "id": c.id.as_str(),
        "customer_id": c.customer_id.as_str(),
        "channel_id": c.channel_id.as_str(),
        "channel_kind": c.channel_kind.as_str(),
        "team_id": c.team_id.as_ref().map(|t| t.as_str()),
        "state": c.state.as_str(),
        "assignee_id": c.assignee_id.as_ref().map(|a| a.as_str()),
        "linked_conversation_id": c.linked_conversation_id.as_ref().map(|l| l.as_str()),
        "last_intent": c.last_intent,
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "last_message_at": time(c.last_message_at),
        "resolved_at": opt_time(c.resolved_at),
        "handoff_reason": c.handoff_reason,
        "handoff_summary": c.handoff_summary,
        "bot_failures": c.bot_failures,
        "last_sentiment": c.last_sentiment,
        "handoff_details": c.handoff_details.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
        "emotion_alert": c.emotion_alert,
    })
}

/// The hand-off package as the console lays it out (stored with the conversation).
pub fn handoff_details(p: &lingxi_engine::summary::SummaryParts, reason: &str) -> Value {
    json!({
        "reason": reason,
        "why": p.why,
        "customer_name": p.customer_name,
        "channel": p.channel,
        "wants": p.wants,
        "intent": p.intent,
        "intents": p.intents,
        "entities": p.entities,
        "mood": p.mood,
        "last_sentiment": p.last_sentiment,
        "customer_messages": p.customer_messages,
        "bot_replies": p.bot_replies,
        "other_channels": p.other_channels.iter().map(|(c, what)| json!({ "channel": c, "what": what })).collect::<Vec<_>>(),
        "lang": if p.chinese { "zh" } else { "en" },
    })
}

pub fn note(n: &lingxi_store::NoteRow) -> Value {
    json!({
        "id": n.id.as_str(), "conversation_id": n.conversation_id.as_str(), "author_id": n.author_id.as_str(),
        "kind": n.kind, "text": n.text, "target": n.target, "created_at": time(n.created_at),
    })
}

pub fn canned(c: &lingxi_store::CannedRow) -> Value {
    json!({
        "id": c.id.as_str(), "title": c.title, "text": c.text, "lang": c.lang,
        "created_at": time(c.created_at), "updated_at": time(c.updated_at),
    })
}

pub fn message(m: &MessageRow) -> Value {
    let mut content = m.content.clone();
    if let Value::Object(map) = &mut content {
        map.insert("type".into(), Value::from(m.content_kind.clone()));
    }
    let mut v = json!({
        "id": m.id.as_str(),
        "conversation_id": m.conversation_id.as_str(),
        "customer_id": m.customer_id.as_str(),
        "channel_id": m.channel_id.as_str(),
        "sender": { "kind": m.sender_kind, "user_id": m.sender_user_id.as_ref().map(|u| u.as_str()) },
        "content": content,
        "external_id": m.external_id,
        "sent_at": time(m.sent_at),
        "received_at": time(m.received_at),
    });
    // A customer's message the bot read: the intent it read (null: none), for the console.
    if let Some(intent) = &m.intent {
        v["intent"] = if intent.is_empty() { Value::Null } else { Value::from(intent.as_str()) };
    }
    v
}

pub fn merge(m: &MergeRow) -> Value {
    json!({
        "id": m.id, "survivor_id": m.survivor_id.as_str(), "absorbed_id": m.absorbed_id.as_str(), "status": m.status,
        "reason": m.reason, "actor": m.actor, "created_at": time(m.created_at), "undone_at": opt_time(m.undone_at),
    })
}

pub fn audit(a: &AuditRow) -> Value {
    json!({ "id": a.id, "actor": a.actor, "action": a.action, "target": a.target, "detail": a.detail, "at": time(a.at) })
}

/// Content as JSON for live events (the stored form, without re-reading the row).
pub fn message_content(c: &lingxi_domain::Content) -> Value {
    lingxi_store::content_body(c)
}
