//! `/tools` (the catalogue) and `/api/tools/{name}` (one call). The route's
//! scope is checked in front; here the call is checked against the tool's own
//! scope and the policy in force, and audited.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::agent::ToolRunner;
use crate::agent::turn::{AuditedTools, granted};
use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Path, parse_lenient};
use crate::state::{AppState, RequestContext};
use crate::tools::{self, ToolError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tools", get(list_tools))
        .route("/api/tools/{name}", post(call_tool))
}

#[utoipa::path(get, path = "/tools", tag = "agent",
    responses((status = 200, description = "`{tools: [{name, description, example, scope, parameters}], count}`")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn list_tools() -> Json<Value> {
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

#[utoipa::path(post, path = "/api/tools/{name}", tag = "agent",
    params(("name" = String, Path, description = "the tool")),
    request_body(content = Object, description = "the tool's arguments", content_type = "application/json"),
    responses(
        (status = 200, description = "`{allowed: true, outcome: \"ok\", result}`, or `{allowed: true, outcome: \"error\", error, result: {error, path?}}` when the allowed call failed"),
        (status = 403, description = "refused by the policy (`{detail, allowed: false, reason, rule}`) or missing the tool's scope"),
        (status = 404, description = "unknown tool"),
        (status = 422, description = "arguments that do not fit the tool"),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn call_tool(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let Some(spec) = tools::find(&name) else {
        return Err(ApiError::NotFound(format!("Unknown tool '{name}'")));
    };
    // Parsed after the lookup so that an unknown tool is a 404 whatever the body.
    let arguments: Value = parse_lenient(&body)?;
    if !arguments.is_object() {
        return Err(ApiError::Unprocessable(
            "the body must be a JSON object of the tool's arguments".into(),
        ));
    }
    let runner = AuditedTools {
        state: &state,
        granted: granted(&principal),
        actor: principal.actor(),
        ctx: &ctx,
    };
    match runner.run(spec.name, &arguments).await {
        Ok(outcome) if outcome.allowed => {
            let mut body = json!({
                "allowed": true,
                "outcome": outcome.outcome.unwrap_or(tools::RunOutcome::Ok),
                "result": outcome.result,
            });
            if let Some(error) = &outcome.error {
                body["error"] = json!(error);
            }
            Ok(Json(body))
        }
        Ok(outcome) => {
            let detail = if outcome.rule == tools::SCOPE_RULE {
                format!("Missing required scope: {}", spec.scope.as_str())
            } else {
                outcome.reason.clone()
            };
            Err(ApiError::Forbidden(detail).with_fields(
                json!({"allowed": false, "reason": outcome.reason, "rule": outcome.rule}),
            ))
        }
        Err(ToolError::UnknownTool(name)) => {
            Err(ApiError::NotFound(format!("Unknown tool '{name}'")))
        }
        Err(e @ ToolError::BadArguments { .. }) => Err(ApiError::Unprocessable(e.to_string())),
    }
}
