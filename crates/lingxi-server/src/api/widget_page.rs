//! The embeddable widget script (`/widget.js`, plain JS with its CSS inlined, no build step)
//! and, under `lingxi serve --demo`, a fake shop page (`/demo`) that embeds it for the demo
//! tenant's web-chat channel so anyone can play the customer.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use lingxi_domain::ChannelKind;
use std::sync::Arc;

const SCRIPT: &str = include_str!("../../widget/widget.js");
const DEMO: &str = include_str!("../../widget/demo.html");

pub async fn script() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "no-cache")], SCRIPT).into_response()
}

pub async fn demo(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    if !state.config.demo {
        return Err(ApiError::NotFound("demo page (run `lingxi serve --demo`)"));
    }
    let tenant = state.store.tenant_by_slug(crate::demo::DEMO_SLUG).await?;
    let channel = state
        .store
        .list_channels(&tenant.id)
        .await?
        .into_iter()
        .find(|c| c.kind == ChannelKind::WebChat)
        .ok_or(ApiError::NotFound("demo web-chat channel"))?;
    let page = DEMO.replace("__CHANNEL_ID__", channel.id.as_str());
    Ok(([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-cache")], page).into_response())
}
