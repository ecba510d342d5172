//! The one error-code table of the HTTP API. Every failure a client can see maps to a stable
//! machine-readable `code`, an HTTP status and a human message; internal errors are logged
//! once here and answered with a generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_store::StoreError;

/// Stable error codes: (code, HTTP status, when). Documented in docs/api-errors.md and in the
/// OpenAPI document; a test checks both list exactly these.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("invalid_json", 400, "The body is not valid JSON or does not match the expected shape."),
    ("invalid_request", 400, "A field, header or query parameter has an invalid value."),
    ("invalid_identifier", 400, "A customer identifier (phone, e-mail, …) cannot be parsed."),
    ("unauthenticated", 401, "No credentials, or an unknown or expired session or channel key."),
    ("invalid_credentials", 401, "Wrong e-mail or password."),
    ("forbidden", 403, "Authenticated, but the role may not do this."),
    ("not_found", 404, "No such resource in your tenant (other tenants' resources are never visible)."),
    ("unknown_message", 404, "A rating names a message id your tenant does not have (or not a message id at all)."),
    ("method_not_allowed", 405, "The path exists but not with this method."),
    ("conflict", 409, "The resource exists already or changed concurrently."),
    ("invalid_transition", 409, "The conversation's state does not allow this transition."),
    (
        "invalid_status_change",
        409,
        "A knowledge entry's status does not allow this change (draft → in_review → published → archived).",
    ),
    ("payload_too_large", 413, "The body exceeds the configured max_body_bytes."),
    ("unsupported_media_type", 415, "The body must be application/json (flows also take YAML)."),
    (
        "import_rejected",
        422,
        "An import has rejected rows and stored nothing; the body lists every row with its reason.",
    ),
    ("invalid_flow", 422, "A flow definition has problems and was not stored; the body lists every one with its path (and its line, for YAML)."),
    (
        "invalid_training_data",
        422,
        "Intent training data has problems and nothing was trained; the body lists every one with its path.",
    ),
    ("invalid_settings", 422, "Settings have problems and were not saved; the body lists every one with its path."),
    (
        "not_a_bot_answer",
        422,
        "A rating names a message that is not a bot's answer, tool answer or recommendation (a customer's or agent's message, a \"did you mean\", a hand-off notice); nothing was stored.",
    ),
    ("unavailable", 503, "The store is unreachable or the server is shutting down."),
    ("internal", 500, "An unexpected error; it was logged with its request."),
];

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidIdentifier(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("your role ({0}) may not do this")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no message {0} in this tenant")]
    UnknownMessage(String),
    #[error("message {0} is not a bot answer, tool answer or recommendation; only those can be rated")]
    NotABotAnswer(String),
    #[error("this path does not accept that method")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    InvalidStatusChange(String),
    /// Rows rejected by an import: (row, reason) each.
    #[error("{} row(s) rejected; nothing was stored (send keep_valid=true to store the valid rows)", .0.len())]
    ImportRejected(Vec<(usize, String)>),
    /// Problems of a flow definition.
    #[error("the flow has {} problem(s); nothing was stored", .0.len())]
    InvalidFlow(Vec<Problem>),
    /// Problems of intent training data.
    #[error("the training data has {} problem(s); nothing was trained", .0.len())]
    InvalidTrainingData(Vec<Problem>),
    /// Problems of a tenant's settings.
    #[error("the settings have {} problem(s); nothing was saved", .0.len())]
    InvalidSettings(Vec<Problem>),
    #[error("the body exceeds the configured limit (max_body_bytes)")]
    PayloadTooLarge,
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// A body whose type this endpoint does not take: what it takes, in words.
    #[error("the body must be {0}")]
    UnsupportedMediaTypeOf(&'static str),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

/// One problem of a definition (a flow, intent training data): where
/// (`steps.ask.options[1].next`, `intents[2].examples[0]`, empty for the whole body), what,
/// and for a YAML or markdown body the line (1-based) when the parser gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub line: Option<usize>,
}

impl Problem {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { path: path.into(), message: message.into(), line: None }
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidIdentifier(_) => "invalid_identifier",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnknownMessage(_) => "unknown_message",
            ApiError::NotABotAnswer(_) => "not_a_bot_answer",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::InvalidTransition(_) => "invalid_transition",
            ApiError::InvalidStatusChange(_) => "invalid_status_change",
            ApiError::ImportRejected(_) => "import_rejected",
            ApiError::InvalidFlow(_) => "invalid_flow",
            ApiError::InvalidTrainingData(_) => "invalid_training_data",
            ApiError::InvalidSettings(_) => "invalid_settings",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType | ApiError::UnsupportedMediaTypeOf(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = self.code();
        let n = ERROR_CODES.iter().find(|(c, _, _)| *c == code).map(|(_, s, _)| *s).unwrap_or(500);
        StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(m) if m.contains("cannot") => ApiError::InvalidTransition(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::InvalidRequest(m),
            other if other.is_unavailable() => ApiError::Unavailable("the store is not reachable".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let mut body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        if let ApiError::ImportRejected(rows) = &self {
            body["rejected"] =
                rows.iter().map(|(row, reason)| serde_json::json!({ "row": row, "reason": reason })).collect();
        }
        if let ApiError::InvalidFlow(problems)
        | ApiError::InvalidTrainingData(problems)
        | ApiError::InvalidSettings(problems) = &self
        {
            body["problems"] = problems
                .iter()
                .map(|p| {
                    let mut v = serde_json::json!({ "path": p.path, "message": p.message });
                    if let Some(line) = p.line {
                        v["line"] = line.into();
                    }
                    v
                })
                .collect();
        }
        (self.status(), axum::Json(body)).into_response()
    }
}
