//! Understanding over HTTP: a tenant trains its own intent model from labelled examples (the
//! new version is in use as soon as the response comes back, on this node; other nodes within
//! seconds), lists and rolls back versions, exports the training data, starts from the
//! built-in defaults, and asks what Lingxi understands of a message (`/nlu/parse`, what the
//! bot sees). Changing models needs the knowledge-editing permission (they are bot content,
//! like FAQ entries); reading needs the knowledge permission.

use super::ApiJson;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::intent_models::{self, data_json};
use crate::state::AppState;
use crate::tenant_entities::EntitySettings;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lingxi_domain::Permission;
use lingxi_nlu::entities::{Entity, EntityValue, Now};
use lingxi_nlu::intent::{default_training_data, DefaultLanguage, IntentError, IntentMatch, IntentTrainingData};
use lingxi_nlu::segment::TokenKind;
use lingxi_store::IntentModelRow;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamplesDto {
    pub intent: String,
    pub examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    /// `[{"intent": "…", "examples": ["…"]}]`, or
    pub intents: Option<Vec<ExamplesDto>>,
    /// the same in Rasa-style markdown (`## intent:NAME` then `- example` lines).
    pub markdown: Option<String>,
    /// Put the new version in use (default true).
    pub activate: Option<bool>,
}

fn training_data(body: TrainBody) -> Result<IntentTrainingData, ApiError> {
    let data = match (body.intents, body.markdown) {
        (Some(intents), None) => {
            let mut d = IntentTrainingData::new();
            for (i, x) in intents.iter().enumerate() {
                if d.intents().iter().any(|(n, _)| *n == x.intent) {
                    return Err(ApiError::InvalidTrainingData(vec![Problem::at(
                        format!("intents[{i}].intent"),
                        format!("`{}` is listed twice", x.intent.chars().take(80).collect::<String>()),
                    )]));
                }
                d.add(&x.intent, x.examples.iter().cloned());
            }
            d
        }
        (None, Some(md)) => IntentTrainingData::parse_markdown(&md).map_err(|e| {
            let line = match &e {
                IntentError::Parse { line, .. } => Some(*line),
                _ => None,
            };
            ApiError::InvalidTrainingData(vec![Problem { path: "markdown".into(), message: e.to_string(), line }])
        })?,
        _ => return Err(ApiError::InvalidRequest("give exactly one of `intents` or `markdown`".into())),
    };
    let problems = intent_models::check(&data);
    if problems.is_empty() {
        Ok(data)
    } else {
        Err(ApiError::InvalidTrainingData(problems.into_iter().map(|(p, m)| Problem::at(p, m)).collect()))
    }
}

fn row_view(r: &IntentModelRow) -> Value {
    json!({
        "version": r.version,
        "model_id": r.model_id,
        "active": r.active,
        "intents": r.n_intents,
        "examples": r.n_examples,
        "report": serde_json::from_str::<Value>(&r.report).unwrap_or(Value::Null),
        "created_by": r.created_by,
        "created_at": super::views::time(r.created_at),
    })
}

/// Trains a new version from the body and (by default) puts it in use.
pub async fn train(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<TrainBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(body) = body?;
    let activate = body.activate.unwrap_or(true);
    let data = training_data(body)?;
    let (data, trained) = tokio::task::spawn_blocking(move || {
        let t = intent_models::train(&data);
        (data, t)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let trained = trained.map_err(|e| ApiError::InvalidTrainingData(vec![Problem::at("intents", e)]))?;
    let now = state.clock.now();
    let stored = intent_models::to_store(&data, &trained, &who.actor());
    let version = state.store.intent_model_save(&who.tenant_id, &stored, activate, now).await?;
    let report = intent_models::report_json(&trained);
    if activate {
        // Serve what the store holds (8-bit weights), as other nodes and a restart will.
        let served = lingxi_nlu::intent::IntentModel::from_bytes(&stored.model)
            .map_err(|e| ApiError::Internal(format!("a model just trained does not read back: {e}")))?;
        state.intent_models.swap(&who.tenant_id, Some((version, Arc::new(served))));
    }
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "nlu.intent_model.train",
            &version.to_string(),
            &json!({ "intents": stored.n_intents, "examples": stored.n_examples, "activate": activate }),
            now,
        )
        .await?;
    let row = IntentModelRow {
        version,
        model_id: stored.model_id,
        report: report.to_string(),
        n_intents: stored.n_intents,
        n_examples: stored.n_examples,
        created_by: stored.created_by,
        created_at: now,
        active: activate,
    };
    Ok((StatusCode::CREATED, Json(json!({ "model": row_view(&row) }))))
}

pub async fn list(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let rows = state.store.intent_models(&who.tenant_id).await?;
    let active = rows.iter().find(|r| r.active).map(|r| r.version);
    Ok(Json(json!({ "active_version": active, "models": rows.iter().map(row_view).collect::<Vec<_>>() })))
}

fn version_of(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|v| *v > 0).ok_or(ApiError::NotFound("intent model"))
}

/// One version with its training data (the export: POST it back to retrain).
pub async fn detail(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(version): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let (row, data) = state.store.intent_model(&who.tenant_id, version_of(&version)?).await?;
    let data: Value = serde_json::from_str(&data).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({ "model": row_view(&row), "training_data": data })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveBody {
    /// The version to use; `null` goes back to the built-in default intents.
    pub version: Option<i64>,
}

/// Moves the pointer: a rollback, a roll-forward, or back to the defaults.
pub async fn set_active(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<ActiveBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::EditKnowledge)?;
    let ApiJson(body) = body?;
    let now = state.clock.now();
    state.store.intent_model_activate(&who.tenant_id, body.version, now).await?;
    state.intent_models.reload(&state.store, &who.tenant_id).await?;
    state
        .store
        .audit(&who.tenant_id, &who.actor(), "nlu.intent_model.activate", "", &json!({ "version": body.version }), now)
        .await?;
    Ok(Json(json!({ "active_version": body.version })))
}

/// The built-in after-sales intents, as training data to start from.
pub async fn defaults(who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    Ok(Json(json!({
        "zh": data_json(&default_training_data(DefaultLanguage::Chinese)),
        "en": data_json(&default_training_data(DefaultLanguage::English)),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseBody {
    pub text: String,
}

/// Longest message `/nlu/parse` reads (the bot reads customer messages of any length, but
/// this is a tool for people and integrations checking a model).
const MAX_PARSE_CHARS: usize = 2_000;

/// What Lingxi understands of a message, with the tenant's model in use.
pub async fn parse(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<ParseBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let ApiJson(body) = body?;
    if body.text.trim().is_empty() || body.text.chars().count() > MAX_PARSE_CHARS {
        return Err(ApiError::InvalidRequest(format!("text: 1–{MAX_PARSE_CHARS} characters")));
    }
    let own = state.intent_models.active(&state.store, &who.tenant_id).await;
    let kit = state.entities.built(&state.store, &who.tenant_id).await;
    let n = kit.normalizer.normalize(&body.text);
    let chinese = crate::bot::is_chinese(n.language, &n.text);
    let engine = state.fused_intents.engine(&state.semantic, &state.store, &who.tenant_id, &own, chinese);
    let vector = match engine.fused {
        Some(_) => state.semantic.encode_query(&n.text).await,
        None => None,
    };
    let (intent, kind) = engine.classify(&n.text, vector.as_deref());
    let model = match &own {
        Some((v, _)) => json!({ "source": "tenant", "version": v, "kind": kind }),
        None => json!({ "source": "default", "language": if chinese { "zh" } else { "en" }, "kind": kind }),
    };
    let m = |x: &IntentMatch| json!({ "intent": x.intent, "confidence": x.confidence });
    let entities = kit.extractor.extract(&n.text, Now::china(state.clock.now().millis() / 1000));
    let s = lingxi_nlu::sentiment::analyze(&n.text);
    Ok(Json(json!({
        "text": body.text,
        "normalized": n.text,
        "language": format!("{:?}", n.language).to_lowercase(),
        "tokens": kit.segmenter.tokens(&n.text).iter().filter(|t| t.kind != TokenKind::Punct).map(|t| &t.text).collect::<Vec<_>>(),
        "corrections": n.corrections.iter().map(|c| json!({ "from": c.from, "to": c.to })).collect::<Vec<_>>(),
        "emojis": n.emojis,
        "intent": {
            "model": model,
            "top": intent.top.as_ref().map(m),
            "second": intent.second.as_ref().map(m),
            "best_guess": m(&intent.best_guess),
            "alternatives": intent.alternatives.iter().map(m).collect::<Vec<_>>(),
            "out_of_scope": intent.out_of_scope,
        },
        "entities": entities.iter().map(entity_view).collect::<Vec<_>>(),
        "sentiment": {
            "polarity": format!("{:?}", s.polarity).to_lowercase(),
            "score": s.score,
            "intensity": s.intensity,
            "emotions": {
                "anger": s.emotions.anger,
                "anxiety": s.emotions.anxiety,
                "disappointment": s.emotions.disappointment,
                "satisfaction": s.emotions.satisfaction,
            },
        },
    })))
}

/// `OrderNumber` → `order_number`.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn entity_view(e: &Entity) -> Value {
    let value = match &e.value {
        EntityValue::OrderNumber(s) | EntityValue::Email(s) | EntityValue::BankCard(s) => json!(s),
        EntityValue::Phone(p) => json!({ "country_code": p.country_code, "national": p.national }),
        EntityValue::Tracking { carrier, number } => {
            json!({ "carrier": snake(&format!("{carrier:?}")), "number": number })
        }
        EntityValue::Amount(m) => {
            json!({ "minor_units": m.minor_units, "currency": format!("{:?}", m.currency).to_uppercase() })
        }
        EntityValue::DateTime(d) => json!({
            "date": format!("{:04}-{:02}-{:02}", d.date.year, d.date.month, d.date.day),
            "time": d.time.map(|(h, m)| format!("{h:02}:{m:02}")),
            "unix_secs": d.unix_secs,
        }),
        EntityValue::Product { name, .. } => json!(name),
        EntityValue::Location(p) => {
            json!({ "name": p.name, "province": p.province, "kind": snake(&format!("{:?}", p.kind)) })
        }
        EntityValue::IdCard { birth_date, .. } => json!({
            "birth_date": format!("{:04}-{:02}-{:02}", birth_date.year, birth_date.month, birth_date.day)
        }),
    };
    json!({
        "kind": snake(&format!("{:?}", e.kind)),
        "text": e.raw,
        "start": e.span.start,
        "end": e.span.end,
        "value": value,
        "sensitive": e.sensitive,
    })
}

/// The tenant's entity settings and how many names its `products` records add.
pub async fn get_settings(State(state): State<Arc<AppState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReadKnowledge)?;
    let s = crate::tenant_entities::settings(&state.store, &who.tenant_id).await?;
    let products = crate::tenant_entities::product_names(&state.store, &who.tenant_id).await?.len();
    Ok(Json(json!({ "settings": s, "catalogue_from_products": products })))
}

/// Replaces the tenant's entity settings (order-number patterns, extra catalogue names); every
/// problem comes back by path and nothing is saved. In use on this node at once.
pub async fn put_settings(
    State(state): State<Arc<AppState>>,
    who: Principal,
    body: Result<ApiJson<EntitySettings>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ManageTenant)?;
    let ApiJson(s) = body?;
    let problems = s.check();
    if !problems.is_empty() {
        return Err(ApiError::InvalidSettings(problems));
    }
    let now = state.clock.now();
    let text = serde_json::to_string(&s).map_err(|e| ApiError::Internal(e.to_string()))?;
    state.store.set_nlu_settings(&who.tenant_id, &text, now).await?;
    state.entities.forget(&who.tenant_id);
    // The vocabulary is the knowledge index's segmentation dictionary too.
    state.knowledge.changed(&state.store, &state.semantic, &who.tenant_id);
    state
        .store
        .audit(
            &who.tenant_id,
            &who.actor(),
            "nlu.settings",
            "",
            &json!({ "order_patterns": s.order_patterns.len(), "catalogue": s.catalogue.len(), "terms": s.terms.len() }),
            now,
        )
        .await?;
    Ok(Json(json!({ "settings": s })))
}
