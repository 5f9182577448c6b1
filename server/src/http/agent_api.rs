//! The agent's HTTP surface: tools (`/tools`, `/api/tools/{name}`), chat
//! (`/api/chat`, `/ws/chat`), models and conversations. Authentication, the
//! route's scope and rate limits are enforced by the layers in front of these
//! routes; here each tool call is also checked against the tool's own scope
//! and the policy in force, and audited.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::{
    self, AgentConfig, AgentError, AgentEvent, EventSink, NoEvents, ToolCallRecord, ToolRunner,
};
use crate::auth::Principal;
use crate::config::LlmProvider;
use crate::http::error::ApiError;
use crate::http::ratelimit::Decision;
use crate::http::scopes::Scope;
use crate::llm::{self, ChatMessage, LlmClient, LlmError, ModelCatalog, Provider, Role, ToolDef};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::conversations::{self, NewMessage};
use crate::tools::{self, ToolError, ToolOutcome, ToolScope};

/// Longest chat message accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 100_000;
/// Earlier messages of a conversation sent along with a new one.
const HISTORY_MESSAGES: usize = 40;

/// The model client and the model cache, made on first use from the settings.
#[derive(Default)]
struct Services(OnceLock<Result<Arc<LlmServices>, String>>);

struct LlmServices {
    client: LlmClient,
    catalog: ModelCatalog,
}

impl Services {
    fn get(&self, state: &AppState) -> Result<Arc<LlmServices>, ApiError> {
        self.0
            .get_or_init(|| {
                let s = &state.settings.llm;
                let provider = match s.provider {
                    LlmProvider::Ollama => Provider::Ollama,
                    LlmProvider::OpenAi => Provider::OpenAi,
                };
                let client =
                    LlmClient::new(provider, &s.base_url, s.timeout).map_err(|e| e.to_string())?;
                let catalog = ModelCatalog::new(s.default_model.clone(), s.models.clone());
                Ok(Arc::new(LlmServices { client, catalog }))
            })
            .clone()
            .map_err(ApiError::internal)
    }
}

type Shared = Extension<Arc<Services>>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tools", get(list_tools))
        .route("/api/tools/{name}", post(call_tool))
        .route("/api/chat", post(chat))
        .route("/ws/chat", get(ws_chat))
        .route("/api/models", get(list_models))
        .route("/api/conversations", get(list_conversations))
        .route(
            "/api/conversations/{id}",
            get(get_conversation)
                .put(rename_conversation)
                .delete(delete_conversation),
        )
        .layer(Extension(Arc::new(Services::default())))
}

/// An error answered as `{"detail": ...}` with any status (502, 504 and 422
/// included), optionally with more fields.
struct Detail {
    status: StatusCode,
    detail: String,
    extra: Option<Value>,
}

impl Detail {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Detail {
            status,
            detail: detail.into(),
            extra: None,
        }
    }
    fn unprocessable(detail: impl Into<String>) -> Self {
        Detail::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
}

impl From<ApiError> for Detail {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(inner) = &e {
            tracing::error!(error = %inner, "agent request failed");
        }
        Detail::new(e.status(), e.to_string())
    }
}

impl From<sqlx::Error> for Detail {
    fn from(e: sqlx::Error) -> Self {
        Detail::from(ApiError::from(e))
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        let mut body = json!({"detail": self.detail});
        if let (Some(Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        (self.status, Json(body)).into_response()
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Detail> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| Detail::unprocessable(format!("invalid JSON body: {e}")))
}

/// The tool scopes a principal holds (admin implies all).
fn granted(principal: &Principal) -> Vec<ToolScope> {
    [
        (Scope::Read, ToolScope::Read),
        (Scope::Write, ToolScope::Write),
        (Scope::Execute, ToolScope::Execute),
    ]
    .into_iter()
    .filter(|(scope, _)| principal.has_scope(*scope))
    .map(|(_, tool)| tool)
    .collect()
}

/// The agent routes in the OpenAPI document (merged into the server's document).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_tools,
        call_tool,
        chat,
        ws_chat,
        list_models,
        list_conversations,
        get_conversation,
        rename_conversation,
        delete_conversation
    ),
    tags((name = "agent", description = "tools, chat and models"), (name = "conversations"))
)]
pub struct AgentApiDoc;

// ---- tools ----

#[utoipa::path(get, path = "/tools", tag = "agent",
    responses((status = 200, description = "`{tools: [{name, description, example, scope, parameters}], count}`")),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_tools() -> Json<Value> {
    let tools: Vec<Value> = tools::registry()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "description": t.description,
                "example": t.example,
                "scope": t.scope,
                "parameters": t.parameters(),
            })
        })
        .collect();
    Json(json!({"count": tools.len(), "tools": tools}))
}

/// Runs tools for one principal: the policy in force at each call, then an audit row.
struct AuditedTools<'a> {
    state: &'a AppState,
    granted: Vec<ToolScope>,
    actor: String,
    ctx: &'a RequestContext,
}

impl AuditedTools<'_> {
    async fn audit(&self, name: &str, result: &Result<ToolOutcome, ToolError>) {
        let event = match result {
            Ok(outcome) => AuditEvent::new(
                format!("tool.{name}"),
                if outcome.allowed {
                    Outcome::Success
                } else {
                    Outcome::Denied
                },
            )
            .target(outcome.target.clone())
            .reason(format!("{}: {}", outcome.rule, outcome.reason)),
            Err(error) => AuditEvent::new("tool.invalid", Outcome::Failure)
                .target(name)
                .reason(error.to_string()),
        };
        self.state
            .audit
            .record(event.context(self.ctx).actor(self.actor.clone()))
            .await;
    }
}

impl ToolRunner for AuditedTools<'_> {
    async fn run(&self, name: &str, arguments: &Value) -> Result<ToolOutcome, ToolError> {
        let policy = self.state.snapshot().policy.clone();
        let result = tools::run(&policy, &self.granted, name, arguments).await;
        self.audit(name, &result).await;
        result
    }
}

#[utoipa::path(post, path = "/api/tools/{name}", tag = "agent",
    params(("name" = String, Path, description = "the tool")),
    request_body(content = Object, description = "the tool's arguments", content_type = "application/json"),
    responses(
        (status = 200, description = "`{allowed: true, result}`"),
        (status = 403, description = "refused by the policy (`{detail, allowed: false, reason, rule}`) or missing the tool's scope"),
        (status = 404, description = "unknown tool"),
        (status = 422, description = "arguments that do not fit the tool"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
async fn call_tool(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Detail> {
    let Some(spec) = tools::find(&name) else {
        return Err(Detail::new(
            StatusCode::NOT_FOUND,
            format!("Unknown tool '{name}'"),
        ));
    };
    let arguments: Value = parse_body(&body)?;
    if !arguments.is_object() {
        return Err(Detail::unprocessable(
            "the body must be a JSON object of the tool's arguments",
        ));
    }
    let runner = AuditedTools {
        state: &state,
        granted: granted(&principal),
        actor: principal.identity(),
        ctx: &ctx,
    };
    match runner.run(spec.name, &arguments).await {
        Ok(outcome) if outcome.allowed => {
            Ok(Json(json!({"allowed": true, "result": outcome.result})))
        }
        Ok(outcome) => {
            let detail = if outcome.rule == tools::SCOPE_RULE {
                format!("Missing required scope: {}", spec.scope.as_str())
            } else {
                outcome.reason.clone()
            };
            Err(Detail {
                status: StatusCode::FORBIDDEN,
                detail,
                extra: Some(
                    json!({"allowed": false, "reason": outcome.reason, "rule": outcome.rule}),
                ),
            })
        }
        Err(ToolError::UnknownTool(name)) => Err(Detail::new(
            StatusCode::NOT_FOUND,
            format!("Unknown tool '{name}'"),
        )),
        Err(e @ ToolError::BadArguments { .. }) => Err(Detail::unprocessable(e.to_string())),
    }
}

// ---- models ----

#[utoipa::path(get, path = "/api/models", tag = "agent",
    responses((status = 200, description = "configured and served models, `default`, `llm_available`")),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_models(
    State(state): State<AppState>,
    Extension(services): Shared,
) -> Result<Json<Value>, Detail> {
    let llm = services.get(&state)?;
    let listing = llm.catalog.list(&llm.client).await;
    let mut body = serde_json::to_value(listing).map_err(ApiError::internal)?;
    body["auto"] = json!({"name": "auto", "description": "choose a configured model by the message's keywords"});
    Ok(Json(body))
}

// ---- chat ----

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ChatBody {
    message: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
}

/// The answer of one turn (the body of `POST /api/chat`).
struct TurnResult {
    response: String,
    conversation_id: String,
    model_used: String,
    tool_calls: Vec<ToolCallRecord>,
    iterations: u32,
}

impl TurnResult {
    fn to_json(&self) -> Value {
        json!({
            "response": self.response,
            "conversation_id": self.conversation_id,
            "model_used": self.model_used,
            "tool_calls": self.tool_calls,
            "iterations": self.iterations,
        })
    }
}

fn status_of(error: &AgentError) -> StatusCode {
    match error {
        AgentError::Llm(LlmError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
        AgentError::Llm(_) | AgentError::MalformedToolCall(_) => StatusCode::BAD_GATEWAY,
        // Nobody is listening any more; the status is for the logs.
        AgentError::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
    }
}

fn system_prompt(policy: &policy::Policy) -> String {
    let paths = &policy.document().paths;
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "You are the assistant of an ai-orchestrator server. You can act on the server only through the tools \
         offered. Every tool call is checked against the server's policy: commands run as a program and its \
         arguments without a shell, and files are reachable only under the allowed directories. When a call is \
         refused, its result says why; do not repeat it, try another way or explain the refusal to the user.\n\
         Readable directories: {}.\nWritable directories: {}.",
        list(&paths.read),
        list(&paths.write)
    )
}

/// Earlier user and assistant messages, the newest last (tool traffic is not replayed).
fn history_of(stored: &[conversations::StoredMessage]) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = stored
        .iter()
        .filter(|m| m.tool_calls.is_none() && !m.content.is_empty())
        .filter_map(|m| match m.role.as_str() {
            "user" => Some(ChatMessage::new(Role::User, m.content.clone())),
            "assistant" => Some(ChatMessage::new(Role::Assistant, m.content.clone())),
            _ => None,
        })
        .collect();
    let skip = out.len().saturating_sub(HISTORY_MESSAGES);
    out.drain(..skip);
    out
}

/// The assistant and tool messages of a run as stored rows.
fn rows_of(run: &agent::AgentRun, model: &str) -> Vec<NewMessage> {
    let mut records = run.tool_calls.iter();
    run.messages
        .iter()
        .map(|m| match m.role {
            Role::Tool => NewMessage {
                role: "tool".into(),
                content: m.content.clone(),
                model_used: None,
                tool_calls: records.next().and_then(|r| serde_json::to_value(r).ok()),
            },
            role => NewMessage {
                role: role.as_str().into(),
                content: m.content.clone(),
                model_used: Some(model.to_string()),
                tool_calls: (!m.tool_calls.is_empty()).then(|| json!(m.tool_calls)),
            },
        })
        .collect()
}

/// One chat turn, shared by `POST /api/chat` and `/ws/chat`.
async fn chat_turn<S: EventSink>(
    state: &AppState,
    services: &Services,
    principal: &Principal,
    ctx: &RequestContext,
    body: ChatBody,
    events: &mut S,
) -> Result<TurnResult, Detail> {
    let message = body.message.trim().to_string();
    if message.is_empty() {
        return Err(Detail::unprocessable("message must not be empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Detail::unprocessable(format!(
            "message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let llm = services.get(state)?;
    let pool = state.db.pool();
    // The user's message is saved before the model is asked, so that it
    // survives any failure below.
    let user_message = NewMessage {
        role: "user".into(),
        content: message.clone(),
        model_used: None,
        tool_calls: None,
    };
    let (conversation, history) = match body.conversation_id.as_deref().filter(|id| !id.is_empty())
    {
        Some(id) => {
            let conversation = conversations::get(pool, id)
                .await?
                .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
                .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Conversation not found"))?;
            let stored = conversations::messages(pool, &conversation.id).await?;
            conversations::append(pool, &conversation.id, &[user_message]).await?;
            (conversation, history_of(&stored))
        }
        None => {
            let title = conversations::title_from(&message);
            let conversation =
                conversations::create_with(pool, &principal.username, &title, &[user_message])
                    .await?;
            events
                .emit(AgentEvent::ConversationCreated {
                    conversation_id: conversation.id.clone(),
                })
                .await;
            (conversation, Vec::new())
        }
    };
    let model = llm::select_model(
        body.model.as_deref(),
        &message,
        llm.catalog.default_model(),
        &llm.catalog.configured(),
    );
    events
        .emit(AgentEvent::ModelSelected {
            model: model.clone(),
        })
        .await;

    let granted = granted(principal);
    let policy = state.snapshot().policy.clone();
    let config = AgentConfig {
        model: model.clone(),
        max_iterations: state.settings.agent.max_iterations.max(1),
        system_prompt: system_prompt(&policy),
        tools: tools::registry()
            .iter()
            .filter(|t| granted.contains(&t.scope))
            .map(|t| ToolDef {
                name: t.name.into(),
                description: t.description.into(),
                parameters: t.parameters(),
            })
            .collect(),
    };
    let runner = AuditedTools {
        state,
        granted,
        actor: principal.identity(),
        ctx,
    };
    let mut messages = history;
    messages.push(ChatMessage::new(Role::User, message));
    let run = agent::run(&llm.client, &runner, events, &config, messages).await;
    conversations::append(pool, &conversation.id, &rows_of(&run, &model)).await?;
    if let Some(error) = &run.error {
        let status = status_of(error);
        state
            .audit
            .record(
                AuditEvent::new("chat", Outcome::Failure)
                    .context(ctx)
                    .actor(principal.identity())
                    .target(conversation.id.clone())
                    .reason(error.to_string()),
            )
            .await;
        return Err(Detail {
            status,
            detail: error.to_string(),
            extra: Some(json!({"conversation_id": conversation.id})),
        });
    }
    Ok(TurnResult {
        response: run.response,
        conversation_id: conversation.id,
        model_used: model,
        tool_calls: run.tool_calls,
        iterations: run.iterations,
    })
}

#[utoipa::path(post, path = "/api/chat", tag = "agent",
    request_body = ChatBody,
    responses(
        (status = 200, description = "`{response, conversation_id, model_used, tool_calls, iterations}`"),
        (status = 404, description = "conversation not found"),
        (status = 422, description = "invalid body"),
        (status = 502, description = "model server unreachable, failing, or making malformed tool calls"),
        (status = 504, description = "model server did not answer within AI_LLM_TIMEOUT"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
async fn chat(
    State(state): State<AppState>,
    Extension(services): Shared,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    body: Bytes,
) -> Result<Json<Value>, Detail> {
    let body: ChatBody = parse_body(&body)?;
    let turn = chat_turn(&state, &services, &principal, &ctx, body, &mut NoEvents).await?;
    Ok(Json(turn.to_json()))
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
async fn ws_chat(
    State(state): State<AppState>,
    Extension(services): Shared,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_socket(socket, state, services, ctx, principal))
}

/// Reads requests (`{message, model?, conversation_id?}` text frames) and
/// answers each with its stream of events, one turn at a time. A reader task
/// watches for the client leaving so that a running turn stops early.
async fn serve_socket(
    socket: WebSocket,
    state: AppState,
    services: Arc<Services>,
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
        let body: ChatBody = match serde_json::from_str(&text) {
            Ok(body) => body,
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
        match chat_turn(&state, &services, &principal, &ctx, body, &mut events).await {
            Ok(turn) => {
                let complete = AgentEvent::Complete {
                    response: turn.response,
                    conversation_id: turn.conversation_id,
                    model_used: turn.model_used,
                    tool_calls: turn.tool_calls,
                    iterations: turn.iterations,
                };
                events.emit(complete).await;
            }
            Err(error) => {
                events
                    .emit(AgentEvent::Error {
                        detail: error.detail,
                        status: error.status.as_u16(),
                    })
                    .await;
            }
        }
    }
    reader.abort();
    let _ = events.sender.close().await;
}

// ---- conversations ----

#[utoipa::path(get, path = "/api/conversations", tag = "conversations",
    params(("limit" = Option<i64>, Query, description = "1-100, default 20"), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "`{conversations, count}`, newest first; admins see all")),
    security(("bearer" = []), ("api_key" = [])))]
async fn list_conversations(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Detail> {
    let number = |name: &str, default: i64, max: i64| -> Result<i64, Detail> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (0..=max).contains(&n) => Ok(n),
                _ => Err(Detail::unprocessable(format!(
                    "{name} must be an integer between 0 and {max}"
                ))),
            },
        }
    };
    let limit = number("limit", 20, 100)?.max(1);
    let offset = number("offset", 0, i64::MAX)?;
    let owner = (!principal.is_admin()).then_some(principal.username.as_str());
    let list = conversations::list(state.db.pool(), owner, limit, offset).await?;
    Ok(Json(json!({"count": list.len(), "conversations": list})))
}

/// The conversation when `principal` may see it; 404 otherwise (others' ids are not confirmed).
async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<conversations::Conversation, Detail> {
    conversations::get(state.db.pool(), id)
        .await?
        .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Conversation not found"))
}

#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, description = "the conversation with its messages"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
async fn get_conversation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Detail> {
    let conversation = visible(&state, &principal, &id).await?;
    let messages = conversations::messages(state.db.pool(), &conversation.id).await?;
    let mut body = serde_json::to_value(&conversation).map_err(ApiError::internal)?;
    body["messages"] = serde_json::to_value(messages).map_err(ApiError::internal)?;
    Ok(Json(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RenameBody {
    title: String,
}

#[utoipa::path(put, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)), request_body = RenameBody,
    responses((status = 200, description = "the renamed conversation"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
async fn rename_conversation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Detail> {
    let body: RenameBody = parse_body(&body)?;
    let title = body.title.trim();
    if title.is_empty() {
        return Err(Detail::unprocessable("title must not be empty"));
    }
    let conversation = visible(&state, &principal, &id).await?;
    conversations::rename(state.db.pool(), &conversation.id, title).await?;
    state
        .audit
        .record(
            AuditEvent::new("conversation.rename", Outcome::Success)
                .context(&ctx)
                .actor(principal.identity())
                .target(conversation.id.clone()),
        )
        .await;
    let updated = visible(&state, &principal, &id).await?;
    Ok(Json(
        serde_json::to_value(updated).map_err(ApiError::internal)?,
    ))
}

#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, description = "`{deleted: true, id}`"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
async fn delete_conversation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, Detail> {
    let conversation = visible(&state, &principal, &id).await?;
    conversations::delete(state.db.pool(), &conversation.id).await?;
    state
        .audit
        .record(
            AuditEvent::new("conversation.delete", Outcome::Success)
                .context(&ctx)
                .actor(principal.identity())
                .target(conversation.id.clone()),
        )
        .await;
    Ok(Json(json!({"deleted": true, "id": conversation.id})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_replays_only_plain_user_and_assistant_messages() {
        let row = |role: &str, content: &str, calls: Option<Value>| conversations::StoredMessage {
            id: 0,
            role: role.into(),
            content: content.into(),
            model_used: None,
            tool_calls: calls,
            created_at: 0,
        };
        let stored = vec![
            row("user", "list /data", None),
            row("assistant", "", Some(json!([{"name": "list_directory"}]))),
            row(
                "tool",
                "{\"entries\":[]}",
                Some(json!({"tool": "list_directory"})),
            ),
            row("assistant", "It is empty.", None),
        ];
        let history = history_of(&stored);
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].role, Role::User);
        assert_eq!(history[1].content, "It is empty.");
    }

    #[test]
    fn the_openapi_fragment_lists_every_agent_route() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(AgentApiDoc::openapi()).expect("json");
        for path in [
            "/tools",
            "/api/tools/{name}",
            "/api/chat",
            "/ws/chat",
            "/api/models",
            "/api/conversations",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        let one = &doc["paths"]["/api/conversations/{id}"];
        assert!(one["get"].is_object() && one["put"].is_object() && one["delete"].is_object());
    }

    #[test]
    fn llm_failures_map_to_gateway_statuses() {
        assert_eq!(
            status_of(&AgentError::Llm(LlmError::Timeout(3))),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_of(&AgentError::Llm(LlmError::Unreachable("x".into()))),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(&AgentError::MalformedToolCall("x".into())),
            StatusCode::BAD_GATEWAY
        );
    }
}
