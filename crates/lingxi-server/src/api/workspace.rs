//! The agent workspace: internal notes, transfers (to a team or a person, by the owner or a
//! supervisor), suggested replies (knowledge-base answers for the customer's last message and
//! the tenant's canned responses with their variables filled in), canned-response management,
//! the supervisors' queue overview and the emotion alert.

use super::conversations::visible;
use super::{path_id, views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::{CannedId, ConversationId, ConversationState, Permission, TeamId, TenantId, UserId};
use lingxi_nlu::entities::{EntityKind, Now};
use lingxi_nlu::sentiment::{analyze, SentimentTrend};
use lingxi_store::{ConversationFilter, ConversationRow, MessageRow, Transfer};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

const MAX_NOTE_CHARS: usize = 2000;

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > max {
        return Err(ApiError::InvalidRequest(format!("{field}: 1 to {max} characters")));
    }
    Ok(())
}

/* ── notes ── */

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub text: String,
}

pub async fn list_notes(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let notes = state.store.notes(&who.tenant_id, &conv.id).await?;
    Ok(Json(json!({ "notes": notes.iter().map(views::note).collect::<Vec<_>>() })))
}

pub async fn add_note(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<NoteBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ReplyConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let ApiJson(body) = body?;
    check_text("text", &body.text, MAX_NOTE_CHARS)?;
    let note =
        state.store.add_note(&who.tenant_id, &conv.id, &who.user_id, body.text.trim(), state.clock.now()).await?;
    let view = views::note(&note);
    publish(
        &state,
        &who.tenant_id,
        &conv,
        "note.created",
        json!({ "conversation_id": conv.id.as_str(), "note": view }),
    );
    Ok((StatusCode::CREATED, Json(json!({ "note": view }))))
}

fn publish(state: &AppState, tenant: &TenantId, conv: &ConversationRow, kind: &'static str, data: Value) {
    state.hub.publish(LiveEvent { tenant_id: tenant.clone(), team_id: conv.team_id.clone(), kind, data });
}

/* ── transfer ── */

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub team_id: Option<String>,
    pub agent_id: Option<String>,
    pub note: Option<String>,
}

pub async fn transfer(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<TransferBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ChangeConversationState)?;
    let conv = visible(&state, &who, &id).await?;
    let ApiJson(body) = body?;
    let to_team = body
        .team_id
        .as_deref()
        .map(|t| TeamId::parse(t).map_err(|e| ApiError::InvalidRequest(format!("team_id: {e}"))))
        .transpose()?;
    let to_agent = body
        .agent_id
        .as_deref()
        .map(|a| UserId::parse(a).map_err(|e| ApiError::InvalidRequest(format!("agent_id: {e}"))))
        .transpose()?;
    if to_team.is_none() && to_agent.is_none() {
        return Err(ApiError::InvalidRequest("name a team_id, an agent_id or both".into()));
    }
    let note = body.note.unwrap_or_default();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::InvalidRequest(format!("note: at most {MAX_NOTE_CHARS} characters")));
    }
    // The owner passes their conversation on; anyone else's is a supervisor's to move.
    let owner = conv.state == ConversationState::Assigned && conv.assignee_id.as_ref() == Some(&who.user_id);
    if !owner && !who.role.allows(Permission::SuperviseQueues) {
        return Err(ApiError::Forbidden(who.role.as_str()));
    }
    let (updated, note) = state
        .store
        .transfer(
            &who.tenant_id,
            &conv.id,
            conv.state,
            conv.assignee_id.as_ref(),
            &Transfer { to_team, to_agent, note: note.trim().to_owned() },
            &who.user_id,
            state.clock.now(),
        )
        .await?;
    let note_view = views::note(&note);
    // Announced to the old team and the new one (they may differ).
    let data = json!({ "conversation": views::conversation(&updated), "transition": "transfer", "reason": note.text });
    publish(&state, &who.tenant_id, &conv, "conversation.updated", data.clone());
    if updated.team_id != conv.team_id {
        publish(&state, &who.tenant_id, &updated, "conversation.updated", data);
    }
    publish(
        &state,
        &who.tenant_id,
        &updated,
        "note.created",
        json!({ "conversation_id": conv.id.as_str(), "note": note_view }),
    );
    state.dispatch.sync(&state, &who.tenant_id, &updated.id).await;
    let current = state.store.conversation(&who.tenant_id, &updated.id).await?;
    Ok(Json(json!({ "conversation": views::conversation(&current), "note": note_view })))
}

/* ── suggested replies ── */

/// Fills `{{name}}` placeholders; unknown or empty ones stay as they are, so the agent sees
/// what is left to fill in before sending.
pub fn fill_template(text: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.get(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn customer_texts(msgs: &[MessageRow]) -> Vec<&str> {
    msgs.iter().filter(|m| m.sender_kind == "customer").filter_map(|m| m.content["text"].as_str()).collect()
}

/// The last order and tracking numbers the customer wrote.
fn entity_vars(kit: &crate::tenant_entities::Built, texts: &[&str], now_ms: i64) -> (String, String) {
    let (mut order, mut tracking) = (String::new(), String::new());
    for t in texts {
        let n = kit.normalizer.normalize(t);
        for e in kit.extractor.extract(&n.text, Now::china(now_ms / 1000)) {
            match e.kind {
                EntityKind::OrderNumber => order = e.raw.to_uppercase(),
                EntityKind::TrackingNumber => tracking = e.raw.to_uppercase(),
                _ => {}
            }
        }
    }
    (order, tracking)
}

pub async fn suggestions(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let conv = visible(&state, &who, &id).await?;
    let msgs = state.store.messages(&who.tenant_id, &conv.id, 40).await?;
    let texts = customer_texts(&msgs);
    let last = texts.last().copied().unwrap_or("");
    let now = state.clock.now().millis();
    // The conversation's language first (the customer's last message; Chinese by default).
    let kit = state.entities.built(&state.store, &who.tenant_id).await;
    let n = kit.normalizer.normalize(last);
    let chinese = last.is_empty() || crate::bot::is_chinese(n.language, &n.text);
    let lang = if chinese { "zh" } else { "en" };
    let knowledge: Vec<Value> = if last.trim().is_empty() {
        Vec::new()
    } else {
        let kb_lang = if chinese { lingxi_knowledge::model::Lang::Zh } else { lingxi_knowledge::model::Lang::En };
        let ranked =
            crate::knowledge::suggest(&state, &who.tenant_id, &n.text, Some(kb_lang), Some(conv.channel_kind), 3)
                .await?;
        ranked
            .suggestions
            .into_iter()
            .map(|h| json!({ "entry_id": h.entry_id, "question": h.question, "text": h.answer, "score": h.confidence }))
            .collect()
    };
    let customer = state.store.customer(&who.tenant_id, &conv.customer_id).await?;
    let (order_no, tracking_no) = entity_vars(&kit, &texts, now);
    let vars: HashMap<&str, String> = HashMap::from([
        ("customer.name", customer.display_name.clone().unwrap_or_default()),
        ("agent.name", who.name.clone()),
        ("order_no", order_no),
        ("tracking_no", tracking_no),
    ]);
    let mut canned = state.store.canned_responses(&who.tenant_id).await?;
    canned.sort_by_key(|c| c.lang != lang);
    let canned: Vec<Value> = canned
        .iter()
        .map(
            |c| json!({ "id": c.id.as_str(), "title": c.title, "lang": c.lang, "text": fill_template(&c.text, &vars) }),
        )
        .collect();
    Ok(Json(json!({ "for_message": last, "lang": lang, "knowledge": knowledge, "canned": canned })))
}

/* ── canned responses ── */

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    pub title: Option<String>,
    pub text: Option<String>,
    pub lang: Option<String>,
}

fn check_canned(b: &CannedBody, creating: bool) -> Result<(), ApiError> {
    if creating && (b.title.is_none() || b.text.is_none()) {
        return Err(ApiError::InvalidRequest("title and text are required".into()));
    }
    if !creating && b.title.is_none() && b.text.is_none() && b.lang.is_none() {
        return Err(ApiError::InvalidRequest("nothing to change".into()));
    }
    if let Some(t) = &b.title {
        check_text("title", t, 100)?;
    }
    if let Some(t) = &b.text {
        check_text("text", t, 4000)?;
    }
    if let Some(l) = &b.lang {
        if !matches!(l.as_str(), "zh" | "en") {
            return Err(ApiError::InvalidRequest("lang: zh or en".into()));
        }
    }
    Ok(())
}

pub async fn list_canned(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadConversations)?;
    let rows = state.store.canned_responses(&who.tenant_id).await?;
    Ok(Json(json!({ "canned_responses": rows.iter().map(views::canned).collect::<Vec<_>>() })))
}

pub async fn create_canned(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<CannedBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::ManageCannedResponses)?;
    let ApiJson(b) = body?;
    check_canned(&b, true)?;
    let row = state
        .store
        .create_canned_response(
            &who.tenant_id,
            b.title.as_deref().unwrap_or_default().trim(),
            b.text.as_deref().unwrap_or_default().trim(),
            b.lang.as_deref().unwrap_or("zh"),
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "canned_response": views::canned(&row) }))))
}

pub async fn update_canned(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<CannedBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ManageCannedResponses)?;
    let id = path_id(&id, CannedId::parse, "canned response")?;
    let ApiJson(b) = body?;
    check_canned(&b, false)?;
    let row = state
        .store
        .update_canned_response(
            &who.tenant_id,
            &id,
            b.title.as_deref().map(str::trim),
            b.text.as_deref().map(str::trim),
            b.lang.as_deref(),
            state.clock.now(),
        )
        .await?;
    Ok(Json(json!({ "canned_response": views::canned(&row) })))
}

pub async fn delete_canned(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::ManageCannedResponses)?;
    let id = path_id(&id, CannedId::parse, "canned response")?;
    state.store.delete_canned_response(&who.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/* ── supervisors' queue overview ── */

/// Per team: who is waiting (in service order: priority, then longest wait), the oldest wait,
/// and the team's people with presence and load. Conversations without a team form their own
/// group (`team_id: null`).
pub async fn queue_overview(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::SuperviseQueues)?;
    let snapshot = state.dispatch.snapshot(&state, &who.tenant_id).await;
    let now = state.clock.now();
    let queued = state
        .store
        .list_conversations(
            &who.tenant_id,
            &ConversationFilter { state: Some(ConversationState::Queued), limit: 1000, ..Default::default() },
        )
        .await?;
    let rows: HashMap<&str, &ConversationRow> = queued.iter().map(|c| (c.id.as_str(), c)).collect();
    let users = state.store.list_users(&who.tenant_id).await?;
    let teams = state.store.list_teams(&who.tenant_id).await?;
    let agents: HashMap<String, &Value> = snapshot["agents"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| Some((v["user_id"].as_str()?.to_owned(), v))).collect())
        .unwrap_or_default();
    let mut groups: Vec<(Option<TeamId>, String)> =
        teams.iter().map(|t| (Some(t.id.clone()), t.name.clone())).collect();
    groups.push((None, String::new()));
    let waiting: Vec<&ConversationRow> = snapshot["waiting"]
        .as_array()
        .map(|w| w.iter().filter_map(|v| rows.get(v["conversation_id"].as_str()?).copied()).collect())
        .unwrap_or_default();
    let priority = |id: &ConversationId| {
        snapshot["waiting"]
            .as_array()
            .and_then(|w| w.iter().find(|v| v["conversation_id"] == id.as_str()))
            .map_or(Value::Null, |v| v["effective_priority"].clone())
    };
    let out: Vec<Value> = groups
        .iter()
        .map(|(team, name)| {
            let mine: Vec<&&ConversationRow> = waiting.iter().filter(|c| &c.team_id == team).collect();
            let oldest = mine.iter().map(|c| c.updated_at.millis()).min();
            let people: Vec<Value> = users
                .iter()
                .filter(|u| match team {
                    Some(t) => u.team_ids.contains(t),
                    None => false,
                })
                .filter_map(|u| {
                    let a = agents.get(u.id.as_str())?;
                    Some(json!({
                        "user_id": u.id.as_str(), "name": u.name, "role": u.role.as_str(), "presence": a["presence"],
                        "chat_load": a["chat_load"], "chat_capacity": a["chat_capacity"],
                        "email_load": a["email_load"], "email_capacity": a["email_capacity"],
                    }))
                })
                .collect();
            json!({
                "team_id": team.as_ref().map(|t| t.as_str()),
                "name": name,
                "waiting_count": mine.len(),
                "oldest_wait_secs": oldest.map(|o| ((now.millis() - o) / 1000).max(0)),
                "waiting": mine.iter().map(|c| json!({
                    "conversation_id": c.id.as_str(), "customer_id": c.customer_id.as_str(),
                    "channel_kind": c.channel_kind.as_str(), "priority": priority(&c.id),
                    "waiting_since": views::time(c.updated_at), "emotion_alert": c.emotion_alert,
                    "handoff_reason": c.handoff_reason,
                })).collect::<Vec<_>>(),
                "agents": people,
            })
        })
        .filter(|g| g["team_id"].is_string() || g["waiting_count"] != 0)
        .collect();
    Ok(Json(json!({ "teams": out })))
}

/* ── emotion alert ── */

/// Raises (or lowers) the conversation's emotion alert, announcing only changes. Called for
/// each customer text while people own the conversation (the inbound path skips the bot
/// state, where the bot reads the mood itself), and after every hand-off by the bot, whatever
/// its reason. The common case is cheap: with `latest` (the text that just arrived) not
/// even mildly angry, the alert cannot be raised (both signals need the last message's anger)
/// and one read of the conversation decides whether to lower it; otherwise, or with `None`,
/// the recent history is read and scored.
pub async fn watch_emotion(
    state: Arc<AppState>,
    tenant: TenantId,
    conversation: ConversationId,
    latest: Option<String>,
) {
    let result = async {
        let calm = latest.is_some_and(|t| analyze(&crate::bot::normalizer().normalize(&t).text).emotions.anger < 0.4);
        let conv = state.store.conversation(&tenant, &conversation).await?;
        let alert = if calm {
            false
        } else {
            let msgs = state.store.messages(&tenant, &conversation, 20).await?;
            let results: Vec<_> =
                customer_texts(&msgs).iter().map(|t| analyze(&crate::bot::normalizer().normalize(t).text)).collect();
            let signals = SentimentTrend::from_results(&results).signals();
            signals.angry || signals.anger_rising
        };
        if alert != conv.emotion_alert && state.store.set_emotion_alert(&tenant, &conversation, alert).await? {
            let updated = state.store.conversation(&tenant, &conversation).await?;
            publish(
                &state,
                &tenant,
                &updated,
                "conversation.updated",
                json!({ "conversation": views::conversation(&updated), "transition": null, "emotion_alert": alert }),
            );
        }
        Ok::<_, lingxi_store::StoreError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, conversation = %conversation, "emotion check failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_variables_and_keep_the_rest() {
        let vars = HashMap::from([("customer.name", "李雷".to_owned()), ("order_no", String::new())]);
        assert_eq!(fill_template("您好 {{customer.name}}，", &vars), "您好 李雷，");
        assert_eq!(fill_template("订单 {{ order_no }} 与 {{x}}", &vars), "订单 {{ order_no }} 与 {{x}}");
        assert_eq!(fill_template("unclosed {{customer.name", &vars), "unclosed {{customer.name");
        assert_eq!(fill_template("{{customer.name}}{{customer.name}}", &vars), "李雷李雷");
    }
}
