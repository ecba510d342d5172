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
    ("knowledge.js", "text/javascript; charset=utf-8", include_str!("../../console/knowledge.js")),
    ("kb_review.js", "text/javascript; charset=utf-8", include_str!("../../console/kb_review.js")),
    ("nlu.js", "text/javascript; charset=utf-8", include_str!("../../console/nlu.js")),
    ("nlu_models.js", "text/javascript; charset=utf-8", include_str!("../../console/nlu_models.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
];

pub async fn index() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-cache")], INDEX).into_response()
}

pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, mime, body) = ASSETS.iter().find(|(name, _, _)| *name == file).ok_or(ApiError::NotFound("asset"))?;
    Ok(([(CONTENT_TYPE, *mime), (CACHE_CONTROL, "no-cache")], *body).into_response())
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, INDEX};

    /// Every script and stylesheet the page loads is one the server serves (a file added to
    /// `console/` but not to `ASSETS` would be a 404 only a browser notices).
    #[test]
    fn every_file_the_page_loads_is_served() {
        let loaded: Vec<&str> = INDEX.split("\"/console/").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(loaded.len() >= 7, "{loaded:?}");
        for file in loaded {
            assert!(ASSETS.iter().any(|(name, _, _)| *name == file), "{file} is loaded by index.html but not served");
        }
    }

    /// The console builds its DOM from elements and text nodes only: data never goes through an
    /// HTML parser.
    #[test]
    fn scripts_never_parse_html() {
        for (name, _, body) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"] {
                assert!(!body.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
