//! `GET /api/v1/stream`: the authenticated WebSocket that pushes new messages and
//! conversation changes to people, filtered by tenant and by the teams they may see.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use lingxi_domain::Permission;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub async fn connect(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    who.require(Permission::ReadConversations)?;
    Ok(ws.on_upgrade(move |socket| serve(socket, state, who)))
}

async fn serve(mut socket: WebSocket, state: Arc<AppState>, who: Principal) {
    let mut rx = state.hub.subscribe();
    state.metrics.ws_connections.fetch_add(1, Ordering::Relaxed);
    // An open stream is the console's heartbeat: its agent is online for routing.
    state.dispatch.stream_opened(&state, &who.tenant_id, &who.user_id).await;
    let hello =
        serde_json::json!({ "type": "hello", "user_id": who.user_id.as_str(), "tenant_id": who.tenant_id.as_str() });
    if socket.send(Message::Text(hello.to_string().into())).await.is_ok() {
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Ok(e) => {
                        if e.tenant_id != who.tenant_id
                            || !who.can_see_team(e.team_id.as_ref())
                            || e.kind == crate::api::widget::JOINED
                        {
                            continue;
                        }
                        if socket.send(Message::Text(e.frame().as_ref().into())).await.is_err() {
                            break;
                        }
                    }
                    // A slow client missed events: tell it to refetch rather than silently drop.
                    Err(RecvError::Lagged(n)) => {
                        let msg = serde_json::json!({ "type": "resync", "data": { "missed": n } });
                        if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Ping(p))) => { let _ = socket.send(Message::Pong(p)).await; }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    state.metrics.ws_connections.fetch_sub(1, Ordering::Relaxed);
    state.dispatch.stream_closed(&state, &who.tenant_id, &who.user_id).await;
}
