//! `/ws/chat`: chat turns over a WebSocket, each answered with its stream of
//! events (see docs/agent.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};

use crate::agent::turn::{self, ChatRequest};
use crate::agent::{AgentEvent, EventSink};
use crate::auth::Principal;
use crate::http::error::ApiError;
use crate::http::ratelimit::Decision;
use crate::state::{AppState, RequestContext};

pub fn router() -> Router<AppState> {
    Router::new().route("/ws/chat", get(ws_chat))
}

/// Events go straight to the socket; a failed send marks it closed.
struct SocketEvents {
    sender: SplitSink<WebSocket, Message>,
    closed: Arc<AtomicBool>,
}

impl SocketEvents {
    async fn send_json(&mut self, text: String) {
        if self.sender.send(Message::Text(text.into())).await.is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }
}

impl EventSink for SocketEvents {
    async fn emit(&mut self, event: AgentEvent) {
        if !self.is_closed() {
            self.send_json(event.to_json()).await;
        }
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

#[utoipa::path(get, path = "/ws/chat", tag = "agent",
    params(("token" = Option<String>, Query, description = "access token or API key, for clients that cannot set headers")),
    responses((status = 101, description = "WebSocket: send `{message, model?, conversation_id?}`, receive events (see docs/agent.md)")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn ws_chat(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_socket(socket, state, ctx, principal))
}

/// Reads requests (`{message, model?, conversation_id?}` text frames) and
/// answers each with its stream of events, one turn at a time. A reader task
/// watches for the client leaving so that a running turn stops early.
async fn serve_socket(
    socket: WebSocket,
    state: AppState,
    ctx: RequestContext,
    principal: Principal,
) {
    let (sender, mut receiver) = socket.split();
    let closed = Arc::new(AtomicBool::new(false));
    let (requests_tx, mut requests) = tokio::sync::mpsc::channel::<String>(8);
    let reader_closed = closed.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = receiver.next().await {
            match frame {
                Message::Text(text) if requests_tx.send(text.to_string()).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        reader_closed.store(true, Ordering::Relaxed);
    });
    let mut events = SocketEvents { sender, closed };
    while let Some(text) = requests.recv().await {
        if events.is_closed() {
            break;
        }
        let request: ChatRequest = match serde_json::from_str(&text) {
            Ok(request) => request,
            Err(e) => {
                let error = AgentEvent::Error {
                    detail: format!("invalid request: {e}"),
                    status: 422,
                };
                events.emit(error).await;
                continue;
            }
        };
        // Each message is a chat request and spends the `/api/chat` budget.
        if let Decision::Limited { retry_after, .. } =
            state.limiter.check("/api/chat", &principal.identity())
        {
            let error = AgentEvent::Error {
                detail: format!("Too many requests; retry after {retry_after}s"),
                status: 429,
            };
            events.emit(error).await;
            continue;
        }
        match turn::run(&state, &principal, &ctx, request, &mut events).await {
            Ok(turn) => {
                let complete = AgentEvent::Complete {
                    response: turn.response,
                    conversation_id: turn.conversation_id,
                    model_used: turn.model_used,
                    model_requested: turn.model_requested,
                    tool_calls: turn.tool_calls,
                    iterations: turn.iterations,
                };
                events.emit(complete).await;
            }
            Err(error) => {
                let error = ApiError::from(error);
                if let ApiError::Internal(inner) = &error {
                    tracing::error!(error = %inner, "chat turn failed");
                }
                events
                    .emit(AgentEvent::Error {
                        detail: error.to_string(),
                        status: error.status().as_u16(),
                    })
                    .await;
            }
        }
    }
    reader.abort();
    let _ = events.sender.close().await;
}
