//! The optional language model in the bot turn: when the tenant has it on and the knowledge
//! base is confident, the model phrases the answer from the retrieved entries only (masked
//! before they leave), its reply is checked (`lingxi_knowledge::grounding`), and the customer
//! gets it with its sources named. A business-data tool's answer goes the same way with the
//! tool's result as the one source. Any failure, timeout or ungrounded reply is logged and the
//! plain (knowledge-base or templated) answer goes out instead: the model can only ever
//! improve a turn. Where the tenant asks for it (`phrase_suggestions`), the model may also
//! word the one-line intro of a "did you mean" list, from the candidate questions alone.

pub mod client;
pub mod config;

use crate::knowledge::Suggestion;
use crate::state::AppState;
use config::Endpoint;
use lingxi_domain::TenantId;
use lingxi_knowledge::grounding::{self, Masker, Phrased, Source};
use lingxi_knowledge::intro;
use lingxi_knowledge::model::Lang;
use std::sync::atomic::Ordering;

/// Further hits go along as sources when they score at least this share of the first: close
/// runners-up often hold the rest of the answer; distant ones only invite mixing topics.
const RELATED_SHARE: f32 = 0.6;
const MAX_SOURCES: usize = 3;
/// A source's title as shown to the customer (article passages use their text as the title).
const TITLE_CHARS: usize = 40;

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Call(#[from] client::LlmError),
    #[error("reply rejected: {0}")]
    Rejected(#[from] grounding::Rejection),
    #[error("intro rejected: {0}")]
    Intro(#[from] intro::IntroRejection),
}

/// The model's one-line intro to a "did you mean" list, from the customer's message and the
/// candidate questions only (masked; no answer is sent); `None`: send the plain intro. The
/// questions themselves stay the buttons, word for word, whatever the model says.
pub async fn suggestion_intro(
    state: &AppState,
    tenant: &TenantId,
    ep: &Endpoint,
    question: &str,
    names: &[String],
    candidates: &[String],
    chinese: bool,
) -> Option<String> {
    let extractor = state.entities.get(&state.store, tenant).await;
    let masker = Masker::new(&extractor, names);
    let lang = if chinese { Lang::Zh } else { Lang::En };
    let prompt = intro::build(question, candidates, lang, &masker);
    let started = std::time::Instant::now();
    let result: Result<String, Failure> = match client::complete(&state.http_client, ep, &prompt.messages).await {
        Ok(reply) => prompt.check(&reply).map_err(Failure::from),
        Err(e) => Err(e.into()),
    };
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(text) => {
            state.metrics.llm_intros.fetch_add(1, Ordering::Relaxed);
            tracing::info!(ms, "\"did you mean\" intro phrased by the LLM");
            Some(text)
        }
        Err(e) => {
            state.metrics.llm_intro_fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, ms, "LLM intro not used; the plain \"did you mean\" intro is sent");
            None
        }
    }
}

/// The model's answer to `question` from `hits` (best first), ending with its sources; `None`
/// when the plain answer must be sent. `names`: the customer's names, masked like numbers.
pub async fn grounded_answer(
    state: &AppState,
    tenant: &TenantId,
    ep: &Endpoint,
    question: &str,
    names: &[String],
    hits: &[Suggestion],
    chinese: bool,
) -> Option<String> {
    let first = hits.first()?;
    let sources: Vec<Source> = hits
        .iter()
        .take(MAX_SOURCES)
        .filter(|h| h.confidence >= first.confidence * RELATED_SHARE)
        .map(|h| Source { id: h.entry_id.clone(), title: h.question.clone(), text: h.answer.clone() })
        .collect();
    phrase(state, tenant, ep, question, names, sources, chinese).await
}

/// The model's answer to `question` from a business-data tool's result (`source`, its id
/// `tool:<name>`), with the same masking, checks and fallback as a knowledge-base answer;
/// `None`: send the templated answer.
pub async fn tool_answer(
    state: &AppState,
    tenant: &TenantId,
    ep: &Endpoint,
    question: &str,
    names: &[String],
    source: Source,
    chinese: bool,
) -> Option<String> {
    phrase(state, tenant, ep, question, names, vec![source], chinese).await
}

async fn phrase(
    state: &AppState,
    tenant: &TenantId,
    ep: &Endpoint,
    question: &str,
    names: &[String],
    sources: Vec<Source>,
    chinese: bool,
) -> Option<String> {
    // The tenant's own order-number shapes are masked too.
    let extractor = state.entities.get(&state.store, tenant).await;
    let masker = Masker::new(&extractor, names);
    let lang = if chinese { Lang::Zh } else { Lang::En };
    let prompt = grounding::build(question, &sources, lang, &masker, ep.max_reply_chars);
    let started = std::time::Instant::now();
    let result: Result<Phrased, Failure> = match client::complete(&state.http_client, ep, &prompt.messages).await {
        Ok(reply) => prompt.check(&reply).map_err(Failure::from),
        Err(e) => Err(e.into()),
    };
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(phrased) => {
            state.metrics.llm_answers.fetch_add(1, Ordering::Relaxed);
            let cited: Vec<&str> = phrased.cited.iter().map(|&i| sources[i].id.as_str()).collect();
            tracing::info!(?cited, ms, "answer phrased by the LLM");
            Some(with_sources(&phrased, &sources, chinese))
        }
        Err(e) => {
            state.metrics.llm_fallbacks.fetch_add(1, Ordering::Relaxed);
            let plain =
                if sources.iter().any(|s| s.id.starts_with("tool:")) { "templated tool" } else { "knowledge-base" };
            tracing::warn!(error = %e, ms, "LLM answer not used; the plain {plain} answer is sent");
            None
        }
    }
}

/// The reply with a last line naming the cited sources: `来源：[1] 退款多久到账`.
fn with_sources(p: &Phrased, sources: &[Source], chinese: bool) -> String {
    let names: Vec<String> = p
        .cited
        .iter()
        .map(|&i| {
            let t = sources[i].title.trim();
            let short: String = t.chars().take(TITLE_CHARS).collect();
            let short = if short.len() < t.len() { format!("{short}…") } else { short };
            format!("[{}] {short}", i + 1)
        })
        .collect();
    if chinese {
        format!("{}\n\n来源：{}", p.text, names.join("；"))
    } else {
        format!("{}\n\nSources: {}", p.text, names.join("; "))
    }
}
