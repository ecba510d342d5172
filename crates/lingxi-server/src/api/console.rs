//! The web console, embedded in the binary: no separate build step is needed to run it.

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../console/index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../../console/i18n.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../../console/api.js")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../console/app.js")),
    ("workspace.js", "text/javascript; charset=utf-8", include_str!("../../console/workspace.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
];

pub async fn index() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-cache")], INDEX).into_response()
}

pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, mime, body) = ASSETS.iter().find(|(name, _, _)| *name == file).ok_or(ApiError::NotFound("asset"))?;
    Ok(([(CONTENT_TYPE, *mime), (CACHE_CONTROL, "no-cache")], *body).into_response())
}
