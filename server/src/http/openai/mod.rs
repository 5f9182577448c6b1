//! The OpenAI-compatible door: `POST /v1/chat/completions` (plain and
//! streamed) and `GET /v1/models`, for the clients that speak OpenAI's Chat
//! Completions API. The turn itself is [`crate::agent::completion`]; here it
//! is read from and written to OpenAI's wire format, and every failure is an
//! OpenAI-shaped error (also those of the layers in front, see [`reshape_errors`]).

pub mod error;
pub mod stream;
pub mod wire;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use tokio::sync::mpsc;

use crate::agent::completion::{self, CompletionRequest, CompletionResult, Prepared};
use crate::agent::turn::TurnError;
use crate::agent::{AgentError, NoEvents};
use crate::auth::Principal;
use crate::llm::LlmError;
use crate::state::{AppState, RequestContext};

use error::OpenAiError;
use stream::{ChunkSink, ChunkWriter, chunk_event, done_event, error_event};
use wire::{
    ChatCompletionRequest, Completion, FinishReason, ModelList, Usage, WireToolCall, XToolCall,
};

/// Every path of this door starts with it.
pub const PREFIX: &str = "/v1/";
/// Largest accepted request body.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The `/v1` routes in the OpenAPI document (merged into the server's document).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(chat_completions, list_models),
    tags((name = "openai", description = "OpenAI-compatible Chat Completions (errors in OpenAI's shape)"))
)]
pub struct OpenAiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        // Clients resend the whole conversation each time: more than axum's 2 MB default.
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// A failed completion as OpenAI reports it.
impl From<TurnError> for OpenAiError {
    fn from(error: TurnError) -> Self {
        match error {
            TurnError::Invalid(message) => OpenAiError::unprocessable(message),
            TurnError::ConversationNotFound => {
                OpenAiError::not_found("Conversation not found").with_code("conversation_not_found")
            }
            TurnError::Storage(e) => OpenAiError::from(e),
            TurnError::Agent { error, .. } => agent_error(&error),
        }
    }
}

fn agent_error(error: &AgentError) -> OpenAiError {
    let message = error.to_string();
    match error {
        AgentError::Llm(LlmError::Timeout(_)) | AgentError::TurnTimeout(_) => {
            OpenAiError::new(StatusCode::GATEWAY_TIMEOUT, message)
        }
        AgentError::Llm(_) | AgentError::MalformedToolCall(_) => {
            OpenAiError::new(StatusCode::BAD_GATEWAY, message)
        }
        AgentError::Cancelled => OpenAiError::new(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        ),
    }
}

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn completion_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("chatcmpl-{}", hex::encode(bytes))
}

/// Reads the body: malformed JSON is a 400, a body of the wrong shape a 422.
fn parse_request(body: &Bytes) -> Result<ChatCompletionRequest, OpenAiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        OpenAiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let request: ChatCompletionRequest = serde_json::from_value(value)
        .map_err(|e| OpenAiError::unprocessable(format!("invalid request: {e}")))?;
    request.validate()?;
    Ok(request)
}

fn completion_request(request: &ChatCompletionRequest) -> Result<CompletionRequest, OpenAiError> {
    Ok(CompletionRequest {
        model: request.model.clone(),
        messages: request.chat_messages()?,
        client_tools: request.tool_defs(),
        conversation_id: request.x_conversation_id.clone(),
        end_user: request.user.clone(),
    })
}

/// The answer's parts, shared by the plain and the streamed form.
fn completion_of(result: CompletionResult, id: String, created: i64) -> Completion {
    let tool_calls: Vec<WireToolCall> = result
        .client_tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| WireToolCall::from_tool_call(call, i))
        .collect();
    let finish_reason = if !tool_calls.is_empty() {
        FinishReason::ToolCalls
    } else if result.hit_iteration_limit {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    let content = if tool_calls.is_empty() || !result.content.is_empty() {
        Some(result.content)
    } else {
        None
    };
    Completion {
        id,
        created,
        model: result.model,
        content,
        tool_calls,
        finish_reason,
        usage: result
            .usage
            .map(|u| Usage {
                prompt_tokens: u.input,
                completion_tokens: u.output,
                total_tokens: u.input + u.output,
            })
            .unwrap_or_default(),
        x_tool_calls: result
            .tool_calls
            .map(|calls| calls.iter().map(XToolCall::from).collect()),
        x_conversation_id: result.conversation_id,
    }
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body(content = Object, content_type = "application/json",
        description = "OpenAI's Chat Completions request: `model`, `messages`, `stream`, `stream_options`, `tools`, `user`, `temperature`, `top_p`, `max_tokens`; extension `x_conversation_id` (a conversation id or `\"new\"`) stores the turn. See docs/api.md."),
    responses(
        (status = 200, description = "`chat.completion` with extension `x_tool_calls` (the tools the server ran: `{tool, arguments, allowed, rule, result | reason, duration_ms}`); with `stream: true`, server-sent events `data: {chat.completion.chunk}` … `data: [DONE]`, tool calls as chunks with `x_tool_call`"),
        (status = 400, description = "the body is not JSON (`{error: {message, type, param, code}}`)"),
        (status = 401, description = "missing or invalid credentials"),
        (status = 403, description = "missing the `read` scope"),
        (status = 404, description = "`x_conversation_id` names no conversation of the caller"),
        (status = 422, description = "a field that does not fit; `error.param` names it"),
        (status = 429, description = "the chat budget (shared with `/api/chat`) is spent; `Retry-After`"),
        (status = 502, description = "model server unreachable, failing, or making malformed tool calls"),
        (status = 504, description = "model server did not answer within AI_LLM_TIMEOUT, or the turn ran past AI_TURN_TIMEOUT"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
async fn chat_completions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let request = parse_request(&body)?;
    let turn = completion_request(&request)?;
    if request.stream {
        // Failures before the model is asked (a conversation not found) keep their status.
        let prepared = completion::prepare(&state, &principal, turn).await?;
        return Ok(stream_completion(state, principal, ctx, &request, prepared));
    }
    let result = completion::run(&state, &principal, &ctx, turn, &mut NoEvents).await?;
    let body = completion_of(result, completion_id(), now_seconds()).into_chat_completion();
    Ok(Json(body).into_response())
}

/// Runs the turn in its own task and answers with its events as they come;
/// the first chunk goes out before the model is asked.
fn stream_completion(
    state: AppState,
    principal: Principal,
    ctx: RequestContext,
    request: &ChatCompletionRequest,
    prepared: Prepared,
) -> Response {
    let writer = ChunkWriter {
        id: completion_id(),
        created: now_seconds(),
        model: prepared.model().to_string(),
        include_usage: request.include_usage(),
    };
    let (tx, mut rx) = mpsc::channel(32);
    tokio::spawn(async move {
        let sink = ChunkSink::new(writer.clone(), tx.clone());
        sink.send(&writer.start(prepared.conversation_id().map(str::to_string)))
            .await;
        let mut sink = sink;
        let outcome = completion::execute(&state, &principal, &ctx, prepared, &mut sink).await;
        let events = match outcome {
            Ok(result) => {
                let completion = completion_of(result, writer.id.clone(), writer.created);
                let mut chunks = Vec::new();
                if let Some(content) = completion.content.filter(|c| !c.is_empty()) {
                    chunks.push(writer.content(content));
                }
                if !completion.tool_calls.is_empty() {
                    chunks.push(writer.tool_calls(completion.tool_calls));
                }
                chunks.extend(writer.finish(completion.finish_reason, completion.usage));
                chunks.iter().map(chunk_event).collect()
            }
            Err(error) => vec![error_event(&OpenAiError::from(error))],
        };
        for event in events.into_iter().chain(std::iter::once(done_event())) {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let events =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, description = "`{object: \"list\", data: [{id, object: \"model\", created, owned_by}]}`: `auto` and every configured or served model")),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_models(State(state): State<AppState>) -> Json<ModelList> {
    let listing = state.llm.catalog.list(&state.llm.client).await;
    let owner = match state.llm.client.provider() {
        crate::llm::Provider::Ollama => "ollama",
        crate::llm::Provider::OpenAi => "model-server",
    };
    Json(ModelList::new(
        listing.models.into_iter().map(|m| m.name),
        owner,
        state.started_at / 1000,
    ))
}

/// Gives every error answer under `/v1/` OpenAI's shape, also the ones of the
/// layers in front of the routes (401, 403, 429) and of the router (404,
/// 405, 413): their `{"detail": ...}` body becomes `{"error": {...}}` with the
/// same status and headers.
pub async fn reshape_errors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_success() || !(is_json || status.is_client_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return OpenAiError::new(status, "request failed").into_response();
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    if parsed.as_ref().is_some_and(|v| v.get("error").is_some()) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("detail"))
        .and_then(|d| d.as_str())
        .map(str::to_string)
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_else(|| "request failed".into());
    let mut error = OpenAiError::new(status, message);
    if status == StatusCode::NOT_FOUND {
        error = error.with_code("unknown_url");
    }
    let reshaped = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, reshaped.into_body())
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    #[test]
    fn the_openapi_fragment_lists_the_v1_routes() {
        let doc = serde_json::to_value(OpenAiDoc::openapi()).unwrap();
        assert!(doc["paths"]["/v1/chat/completions"]["post"].is_object());
        assert!(doc["paths"]["/v1/models"]["get"].is_object());
    }

    #[test]
    fn llm_failures_map_to_gateway_statuses() {
        assert_eq!(
            agent_error(&AgentError::Llm(LlmError::Timeout(3))).status,
            504
        );
        assert_eq!(
            agent_error(&AgentError::Llm(LlmError::Unreachable("x".into()))).status,
            502
        );
        assert_eq!(
            agent_error(&AgentError::MalformedToolCall("x".into())).status,
            502
        );
    }
}
