//! The MCP front door: the Model Context Protocol's streamable-HTTP transport
//! at `/mcp`, served by the official SDK (`rmcp`), offering the same tools as
//! `/api/tools/{name}` under the same rules.
//!
//! The SDK's service is a tower service nested in the router, so it sits
//! behind the ordinary layers: authentication (`Authorization: Bearer <API
//! key or access token>`), the rate limit and the route's scope. The SDK
//! hands each request's HTTP parts to the handler, which reads the caller
//! from them; every `tools/list` and `tools/call` is therefore judged by the
//! credentials of the request that carries it.
//!
//! - `tools/list` lists only the tools the caller's scopes allow.
//! - `tools/call` runs through the same path as `POST /api/tools/{name}`:
//!   scope, policy decision, confined execution, limits, audit. A refusal is
//!   a tool result with `isError: true` carrying the reason and the rule.
//! - Sessions (`Mcp-Session-Id`, for protocol versions that have them) are
//!   bound to the identity that opened them: another caller presenting the
//!   id gets 404, as for an unknown session.
//! - A request with an `Origin` the policy's CORS list does not name is
//!   refused with 403 (the specification's defence against DNS rebinding).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::{RequestContext as McpContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

use crate::agent::turn::{AuditedTools, granted};
use crate::auth::Principal;
use crate::auth::principal::AuthOutcome;
use crate::http::error::ApiError;
use crate::state::{AppState, RequestContext};
use crate::tools::{self, ToolError, ToolOutcome};

/// The path of the door.
pub const PATH: &str = "/mcp";
/// The session header of the streamable-HTTP transport.
const SESSION_HEADER: &str = "mcp-session-id";
/// Sessions idle this long are forgotten (the SDK closes them after 5 minutes).
const SESSION_IDLE: Duration = Duration::from_secs(600);

/// The handler the SDK runs for each session (or each request, statelessly).
#[derive(Clone)]
pub struct McpTools {
    state: AppState,
}

/// The caller and request facts of the HTTP request carrying a message.
fn caller(context: &McpContext<RoleServer>) -> Result<(Principal, RequestContext), ErrorData> {
    let parts = context
        .extensions
        .get::<axum::http::request::Parts>()
        .ok_or_else(|| ErrorData::internal_error("no HTTP request behind the message", None))?;
    let principal = match parts.extensions.get::<AuthOutcome>() {
        Some(AuthOutcome::Authenticated(principal)) => principal.clone(),
        // The scope layer in front answers 401 first; this is a second lock.
        _ => return Err(ErrorData::invalid_request("Not authenticated", None)),
    };
    let ctx = parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("no request context", None))?;
    Ok((principal, ctx))
}

/// A registry tool as MCP describes it.
fn mcp_tool(spec: &tools::ToolSpec) -> Tool {
    let schema = match spec.parameters() {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let mut tool = Tool::new(spec.name, spec.description, Arc::new(schema));
    tool.title = Some(format!("{} (scope: {})", spec.name, spec.scope.as_str()));
    tool
}

/// The tool result for an outcome: the result as JSON text, or the refusal
/// as an error result with the reason and the rule.
pub fn result_of(outcome: &ToolOutcome) -> CallToolResult {
    if outcome.allowed {
        let result = outcome.result.clone().unwrap_or(Value::Null);
        let text = ContentBlock::text(result.to_string());
        // An allowed call that failed is a tool error (`isError`), with what went wrong.
        let mut out = if outcome.is_error() {
            CallToolResult::error(vec![text])
        } else {
            CallToolResult::success(vec![text])
        };
        if result.is_object() {
            out.structured_content = Some(result);
        }
        out
    } else {
        let text = format!(
            "Refused by the server's policy: {} (rule: {})",
            outcome.reason, outcome.rule
        );
        let mut out = CallToolResult::error(vec![ContentBlock::text(text)]);
        out.structured_content =
            Some(json!({"allowed": false, "reason": outcome.reason, "rule": outcome.rule}));
        out
    }
}

impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "ai-orchestrator",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Tools that act on this server. Every call is checked against the server's policy \
                 (commands run as argv without a shell; files only under the allowed directories) \
                 and audited; a refused call returns isError with the reason and the rule.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: McpContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (principal, _) = caller(&context)?;
        let granted = granted(&principal);
        let tools = tools::registry()
            .iter()
            .filter(|t| granted.contains(&t.scope))
            .map(mcp_tool)
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: McpContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (principal, ctx) = caller(&context)?;
        let Some(spec) = tools::find(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let runner = AuditedTools {
            state: &self.state,
            granted: granted(&principal),
            actor: principal.actor(),
            ctx: &ctx,
        };
        let result = match crate::agent::ToolRunner::run(&runner, spec.name, &arguments).await {
            Ok(outcome) => result_of(&outcome),
            // Arguments that do not fit are the caller's to fix: a tool error, not a protocol one.
            Err(error @ ToolError::BadArguments { .. }) => {
                CallToolResult::error(vec![ContentBlock::text(error.to_string())])
            }
            Err(ToolError::UnknownTool(name)) => {
                return Err(ErrorData::invalid_params(
                    format!("Unknown tool: {name}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// Which identity opened each session, and when it was last used.
#[derive(Default)]
struct Sessions(Mutex<HashMap<String, (String, Instant)>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `identity` may use `session` (unknown sessions are the SDK's to refuse).
    fn admits(&self, session: &str, identity: &str) -> bool {
        let mut map = self.lock();
        match map.get_mut(session) {
            Some((owner, seen)) if owner == identity => {
                *seen = Instant::now();
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    fn bind(&self, session: String, identity: String) {
        let mut map = self.lock();
        map.retain(|_, (_, seen)| seen.elapsed() < SESSION_IDLE);
        map.insert(session, (identity, Instant::now()));
    }

    fn forget(&self, session: &str) {
        self.lock().remove(session);
    }
}

#[derive(Clone)]
struct Guard {
    state: AppState,
    sessions: Arc<Sessions>,
}

/// Origin check and session binding, in front of the SDK's service.
async fn guard(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| guard.state.snapshot().policy.origin_allowed(o));
        if !allowed {
            return ApiError::Forbidden("Origin not allowed".into()).into_response();
        }
    }
    let identity = match req.extensions().get::<AuthOutcome>() {
        Some(AuthOutcome::Authenticated(principal)) => principal.identity(),
        _ => return ApiError::unauthorized().into_response(),
    };
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(id) = &session
        && !guard.sessions.admits(id, &identity)
    {
        return (StatusCode::NOT_FOUND, "Session not found").into_response();
    }
    let closing = req.method() == Method::DELETE;
    let mut response = next.run(req).await;
    match (&session, response.headers().get(SESSION_HEADER)) {
        (None, Some(created)) if response.status().is_success() => {
            if let Ok(id) = created.to_str() {
                guard.sessions.bind(id.to_string(), identity);
            }
        }
        (Some(id), _) if closing && response.status().is_success() => {
            guard.sessions.forget(id);
            // The SDK answers 202; the Python SDK expects 200 or 204 for an ended session.
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
        }
        _ => {}
    }
    response
}

/// `/mcp` (POST messages, GET the server's event stream, DELETE the session).
pub fn router(state: &AppState) -> Router<AppState> {
    let handler = McpTools {
        state: state.clone(),
    };
    // The Origin check below replaces the SDK's Host allowlist, which would
    // refuse every name but localhost behind a Kubernetes Service.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let guard_state = Guard {
        state: state.clone(),
        sessions: Arc::new(Sessions::default()),
    };
    Router::new()
        .route_service(PATH, service)
        .layer(from_fn_with_state(guard_state, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_error_results_with_reason_and_rule() {
        let refused = ToolOutcome::refused("paths.deny[0]", "/etc/shadow is denied", "/etc/shadow");
        let result = serde_json::to_value(result_of(&refused)).unwrap();
        assert_eq!(result["isError"], true);
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("/etc/shadow is denied") && text.contains("paths.deny[0]"));
        assert_eq!(result["structuredContent"]["rule"], "paths.deny[0]");

        let allowed = ToolOutcome::ran("paths.read[0]", "", "/data/a", json!({"content": "hello"}));
        let result = serde_json::to_value(result_of(&allowed)).unwrap();
        assert_eq!(result["isError"], false);
        assert_eq!(result["structuredContent"]["content"], "hello");

        let failed = ToolOutcome::failed(
            "paths.read[0]",
            "",
            "/data/gone",
            "cannot list `/data/gone`: No such file or directory",
            Some("/data/gone"),
        );
        let result = serde_json::to_value(result_of(&failed)).unwrap();
        assert_eq!(result["isError"], true);
        assert_eq!(result["structuredContent"]["path"], "/data/gone");
    }

    #[test]
    fn sessions_admit_only_their_owner() {
        let sessions = Sessions::default();
        assert!(
            sessions.admits("s1", "key:a"),
            "unknown ids are the SDK's business"
        );
        sessions.bind("s1".into(), "key:a".into());
        assert!(sessions.admits("s1", "key:a"));
        assert!(!sessions.admits("s1", "key:b"));
        sessions.forget("s1");
        assert!(sessions.admits("s1", "key:b"));
    }

    #[test]
    fn tools_carry_their_schema() {
        let tool = mcp_tool(tools::find("read_file").unwrap());
        let value = serde_json::to_value(&tool).unwrap();
        assert_eq!(value["name"], "read_file");
        assert_eq!(value["inputSchema"]["required"], json!(["path"]));
        assert!(
            value["description"]
                .as_str()
                .unwrap()
                .contains("Read a text file")
        );
    }
}
