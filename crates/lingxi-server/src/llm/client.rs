//! The HTTP side of the model port: one OpenAI-compatible `POST …/chat/completions` (DeepSeek,
//! Qwen on DashScope, Ollama, vLLM all speak it), bounded by the endpoint's timeout as a whole,
//! retried once on a 5xx or a refused connection while time is left. Errors are typed; the
//! caller logs them and falls back, so none reaches a customer.

use super::config::Endpoint;
use lingxi_knowledge::grounding::ChatMessage;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("cannot reach the endpoint: {0}")]
    Transport(String),
    #[error("the response is not a chat completion: {0}")]
    BadResponse(String),
    #[error("the answer was cut at max_tokens")]
    Truncated,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

/// The reply text of the first choice.
pub async fn complete(http: &reqwest::Client, ep: &Endpoint, messages: &[ChatMessage]) -> Result<String, LlmError> {
    // The customer waits at most `timeout` more than without the model, retry included.
    match tokio::time::timeout(ep.timeout, attempts(http, ep, messages)).await {
        Ok(r) => r,
        Err(_) => Err(LlmError::Timeout),
    }
}

async fn attempts(http: &reqwest::Client, ep: &Endpoint, messages: &[ChatMessage]) -> Result<String, LlmError> {
    let deadline = Instant::now() + ep.timeout;
    let body = json!({
        "model": ep.model,
        "messages": messages.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect::<Vec<_>>(),
        "temperature": ep.temperature,
        "max_tokens": ep.max_tokens,
        "stream": false,
    });
    let mut last = LlmError::Timeout;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LlmError::Timeout);
        }
        let mut req = http.post(&ep.url).timeout(left).json(&body);
        if let Some(key) = &ep.api_key {
            req = req.bearer_auth(key.expose());
        }
        match req.send().await {
            Ok(r) if r.status().is_server_error() => last = LlmError::Status(r.status().as_u16()),
            Ok(r) if !r.status().is_success() => return Err(LlmError::Status(r.status().as_u16())),
            Ok(r) => {
                let c: Completion = r.json().await.map_err(|e| {
                    if e.is_timeout() {
                        LlmError::Timeout
                    } else {
                        LlmError::BadResponse(e.to_string())
                    }
                })?;
                let choice = c.choices.into_iter().next().ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
                if choice.finish_reason.as_deref() == Some("length") {
                    return Err(LlmError::Truncated);
                }
                return choice.message.content.ok_or_else(|| LlmError::BadResponse("no message content".into()));
            }
            // The budget is spent: a retry could not finish in time.
            Err(e) if e.is_timeout() => return Err(LlmError::Timeout),
            Err(e) if e.is_connect() => last = LlmError::Transport(e.to_string()),
            Err(e) => return Err(LlmError::Transport(e.to_string())),
        }
    }
    Err(last)
}
