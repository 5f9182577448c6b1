//! `POST /api/chat`: one chat turn (see [`crate::agent::turn`]) answered as JSON.

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::{Value, json};

use crate::agent::turn::{self, ChatRequest, TurnError};
use crate::agent::{AgentError, NoEvents};
use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{AnyJson, Json};
use crate::llm::LlmError;
use crate::state::{AppState, RequestContext};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/chat", post(chat))
}

/// A failed turn as an HTTP error: the model server's failures are 502/504,
/// a failed run names the conversation it was stored in.
impl From<TurnError> for ApiError {
    fn from(error: TurnError) -> Self {
        match error {
            TurnError::Invalid(detail) => ApiError::Unprocessable(detail),
            TurnError::ConversationNotFound => ApiError::NotFound("Conversation not found".into()),
            TurnError::Storage(e) => ApiError::from(e),
            TurnError::Agent {
                error,
                conversation_id,
            } => agent_error(&error).with_fields(json!({"conversation_id": conversation_id})),
        }
    }
}

fn agent_error(error: &AgentError) -> ApiError {
    let detail = error.to_string();
    match error {
        AgentError::Llm(LlmError::Timeout(_)) | AgentError::TurnTimeout(_) => {
            ApiError::GatewayTimeout(detail)
        }
        AgentError::Llm(_) | AgentError::MalformedToolCall(_) => ApiError::BadGateway(detail),
        // Nobody is listening any more; the status is for the logs.
        AgentError::Cancelled => ApiError::ClientClosed(detail),
    }
}

#[utoipa::path(post, path = "/api/chat", tag = "agent",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "`{response, conversation_id, model_used, model_requested, tool_calls, iterations, usage?}`"),
        (status = 404, description = "conversation not found"),
        (status = 422, description = "invalid body"),
        (status = 502, description = "model server unreachable, failing, or making malformed tool calls"),
        (status = 504, description = "model server did not answer within AI_LLM_TIMEOUT, or the turn ran past AI_TURN_TIMEOUT"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn chat(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    AnyJson(request): AnyJson<ChatRequest>,
) -> ApiResult<Json<Value>> {
    let turn = turn::run(&state, &principal, &ctx, request, &mut NoEvents).await?;
    Ok(Json(turn.to_json()))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn llm_failures_map_to_gateway_statuses() {
        assert_eq!(
            agent_error(&AgentError::Llm(LlmError::Timeout(3))).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            agent_error(&AgentError::Llm(LlmError::Unreachable("x".into()))).status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            agent_error(&AgentError::MalformedToolCall("x".into())).status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            agent_error(&AgentError::TurnTimeout(300)).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            agent_error(&AgentError::Llm(LlmError::WrongProtocol("x".into()))).status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
