//! Knowledge gaps over HTTP: clusters of poorly answered customer messages, one-step drafts from
//! a cluster, and customers' ratings of bot answers (which feed the gaps).

use super::knowledge::{parse_entry, query, view, Q};
use super::{views, ApiJson};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::knowledge::to_write;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lingxi_domain::{GapId, MessageId, Permission, TenantId};
use lingxi_knowledge::gaps::{cluster, DEFAULT_SIMILARITY};
use lingxi_knowledge::json::FaqDto;
use lingxi_knowledge::model::Status;
use lingxi_knowledge::text::Analyzer;
use lingxi_store::{FeedbackCount, GapText, RatedKind, Rating, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// How many open gaps are clustered (the newest); older ones wait until these are handled.
const GAP_WINDOW: i64 = 2000;

struct GapCluster {
    members: Vec<lingxi_store::GapRow>,
}

async fn clusters(state: &AppState, tenant: &lingxi_domain::TenantId) -> Result<Vec<GapCluster>, ApiError> {
    let mut rows = state.store.kb_open_gaps(tenant, GAP_WINDOW).await?;
    // Oldest first, so a cluster's id (its first gap) stays put as new messages join it.
    rows.reverse();
    tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let groups = cluster(&Analyzer::default(), &texts, DEFAULT_SIMILARITY);
        let mut slots: Vec<Option<lingxi_store::GapRow>> = rows.into_iter().map(Some).collect();
        groups
            .into_iter()
            .map(|g| GapCluster { members: g.into_iter().filter_map(|i| slots[i].take()).collect() })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsQuery {
    pub limit: Option<usize>,
}

/// Open knowledge gaps grouped into clusters of similar messages, largest first.
pub async fn gaps(
    State(state): State<Arc<AppState>>,
    who: Principal,
    q: Q<GapsQuery>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let q = query(q)?;
    let all = clusters(&state, &who.tenant_id).await?;
    let feedback = feedback_summary(&state.store.kb_feedback_counts(&who.tenant_id).await?);
    let out: Vec<Value> = all
        .iter()
        .take(q.limit.unwrap_or(50).clamp(1, 500))
        .map(|c| {
            let mut kinds: HashMap<&str, usize> = HashMap::new();
            for m in &c.members {
                *kinds.entry(m.kind.as_str()).or_default() += 1;
            }
            let mut examples: Vec<&str> = Vec::new();
            for m in &c.members {
                if examples.len() < 5 && !examples.contains(&m.text.as_str()) {
                    examples.push(&m.text);
                }
            }
            json!({
                "id": c.members[0].id.as_str(),
                "size": c.members.len(),
                "question": c.members[0].text,
                "lang": c.members[0].lang,
                "examples": examples,
                "kinds": kinds,
                "last_seen_at": views::time(c.members.iter().map(|m| m.created_at).max().unwrap_or(c.members[0].created_at)),
            })
        })
        .collect();
    Ok(Json(json!({ "clusters": out, "feedback": feedback })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// The new entry's id (default: `gap-` and the cluster id's random part).
    pub entry_id: Option<String>,
    /// The answer, when the admin already knows it (default: a placeholder to fill in review).
    pub answer: Option<String>,
}

/// Turns a gap cluster into a draft FAQ entry in one step: the first message becomes the standard
/// question, the other distinct messages similar phrasings; the cluster's gaps are closed.
pub async fn draft(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<ApiJson<DraftBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let gap = GapId::parse(&id).map_err(|_| ApiError::NotFound("knowledge gap"))?;
    let ApiJson(body) = body?;
    let all = clusters(&state, &who.tenant_id).await?;
    let c = all.into_iter().find(|c| c.members[0].id == gap).ok_or(ApiError::NotFound("knowledge gap"))?;
    let lang = c.members[0].lang.clone();
    let mut questions: Vec<String> = Vec::new();
    for m in &c.members {
        let t: String = m.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() && questions.len() < 50 && !questions.iter().any(|q| q.to_lowercase() == t.to_lowercase()) {
            questions.push(t);
        }
    }
    let placeholder = if lang == "zh" { "（待补充答案）" } else { "(answer to be written)" };
    let entry_id = body.entry_id.unwrap_or_else(|| format!("gap-{}", gap.as_str().trim_start_matches("gap_")));
    let dto = FaqDto {
        id: entry_id,
        lang,
        question: questions.first().cloned().unwrap_or_default(),
        similar: questions.iter().skip(1).cloned().collect(),
        answer: body.answer.unwrap_or_else(|| placeholder.into()),
        status: Some(Status::Draft.as_str().into()),
        version: Some(1),
        tags: vec!["from-gaps".into()],
        ..Default::default()
    };
    let entry = parse_entry(&dto)?;
    let ids: Vec<GapId> = c.members.iter().map(|m| m.id.clone()).collect();
    let now = state.clock.now();
    state.store.kb_draft_from_gaps(&who.tenant_id, &ids, &to_write(&entry), &who.actor(), now).await?;
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "knowledge.draft_from_gaps",
            entry.id().as_str(),
            &json!({ "gaps": ids.len() }),
            now,
        )
        .await?;
    let row = state.store.kb_entry(&who.tenant_id, entry.id().as_str()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entry": view(&row), "closed_gaps": ids.len() }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// The bot message being rated (`msg_…`, as pushed to the channel). Required: a rating
    /// always names its message (there is no "the last bot message" default, which would
    /// rate a recommendation sent after an answer instead of the answer).
    pub message_id: String,
    pub useful: bool,
}

/// A customer rates a bot message through the channel: a knowledge-base answer, a tool's
/// answer or a recommendation. The web-chat widget's thumbs go through
/// `POST /api/v1/widget/feedback` instead (a browser never holds a channel key); both share
/// [`rate`].
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<ApiJson<FeedbackBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let (channel, _) = super::inbound::channel_from_headers(&state, &headers).await?;
    let ApiJson(body) = body?;
    let message = parse_message_id(&body.message_id)?;
    rate(&state, &channel.tenant_id, &message, body.useful).await.map(Json)
}

/// A rated message's id; one that cannot be an id is as unknown as a made-up one.
pub fn parse_message_id(raw: &str) -> Result<MessageId, ApiError> {
    let raw = raw.trim();
    MessageId::parse(raw).map_err(|_| ApiError::UnknownMessage(raw.chars().take(64).collect()))
}

/// Stores a rating (the latest wins: one rating per message, so a changed mind counts once)
/// with what was rated. Only a "not useful" on a knowledge-base answer logs the question it
/// answered as a knowledge gap, once per conversation and question (a recommendation's or a
/// tool's rating is feedback on those, not a gap; rating the same answer down again, or down,
/// up and down, adds nothing). The store logs the gap with the rating, atomically, so ratings
/// arriving at once log one gap between them.
pub async fn rate(state: &AppState, tenant: &TenantId, message: &MessageId, useful: bool) -> Result<Value, ApiError> {
    let now = state.clock.now();
    let gap_of = |question: &str| {
        let text: String = question.chars().take(500).collect();
        let lang = if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) { "zh" } else { "en" };
        GapText { text, lang: lang.into() }
    };
    let rated = match state.store.kb_rate(tenant, message, useful, now, gap_of).await {
        Ok(Rating::Rated(r)) => r,
        Ok(Rating::NotRateable) => return Err(ApiError::NotABotAnswer(message.as_str().to_owned())),
        Err(StoreError::NotFound(_)) => return Err(ApiError::UnknownMessage(message.as_str().to_owned())),
        Err(e) => return Err(e.into()),
    };
    Ok(json!({
        "message_id": message.as_str(),
        "useful": useful,
        "rated": { "kind": rated.kind.as_str(), "ref_id": rated.ref_id },
        "gap_logged": rated.gap.is_some(),
    }))
}

/// The ratings so far, answers apart from recommendations: `useful` / `not_useful` count the
/// answers (knowledge base and tools, as the gap list shows them), `recommendations` the
/// suggestions, each per rule.
fn feedback_summary(counts: &[FeedbackCount]) -> Value {
    let sum = |k: RatedKind| {
        let of = counts.iter().filter(|c| c.kind == k);
        let (y, n) = of.fold((0, 0), |(y, n), c| (y + c.useful, n + c.not_useful));
        json!({ "useful": y, "not_useful": n })
    };
    let answers: Vec<&FeedbackCount> = counts.iter().filter(|c| c.kind != RatedKind::Recommendation).collect();
    let rules: Vec<Value> = counts
        .iter()
        .filter(|c| c.kind == RatedKind::Recommendation)
        .map(|c| json!({ "rule_id": c.ref_id, "useful": c.useful, "not_useful": c.not_useful }))
        .collect();
    let mut recommendations = sum(RatedKind::Recommendation);
    recommendations["rules"] = rules.into();
    json!({
        "useful": answers.iter().map(|c| c.useful).sum::<i64>(),
        "not_useful": answers.iter().map(|c| c.not_useful).sum::<i64>(),
        "answers": sum(RatedKind::Answer),
        "tool_answers": sum(RatedKind::ToolAnswer),
        "recommendations": recommendations,
    })
}
