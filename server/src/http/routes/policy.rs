//! `POST /api/policy/check` (admin): the dry run of `ai-orchestrator policy check`
//! against the policy in force. Nothing runs; the question is audited.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Router};
use policy::Access;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::http::scopes::Scope;
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};

/// Exactly one of `command`, `read`, `write`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A command line, judged as `execute_command` would run it (argv, no shell).
    pub command: Option<String>,
    /// Working directory of the command (absolute); default: the first policy root that exists.
    pub cwd: Option<String>,
    /// An absolute path to judge for reading.
    pub read: Option<String>,
    /// An absolute path to judge for writing.
    pub write: Option<String>,
}

/// What is asked: a command in a directory, or a path for an access.
enum Subject {
    Command(String, PathBuf),
    Path(PathBuf, Access),
}

fn absolute(field: &str, text: &str) -> ApiResult<PathBuf> {
    let path = Path::new(text.trim());
    if text.contains('\0') || !path.is_absolute() {
        return Err(ApiError::BadRequest(format!(
            "{field} must be an absolute path"
        )));
    }
    Ok(path.to_path_buf())
}

fn subject(body: &CheckRequest, policy: &policy::Policy) -> ApiResult<Subject> {
    let given = [&body.command, &body.read, &body.write]
        .iter()
        .filter(|f| f.is_some())
        .count();
    if given != 1 {
        return Err(ApiError::BadRequest(
            "give exactly one of command, read, write".into(),
        ));
    }
    if body.cwd.is_some() && body.command.is_none() {
        return Err(ApiError::BadRequest("cwd goes with command".into()));
    }
    match (&body.command, &body.read, &body.write) {
        (Some(line), _, _) => {
            if line.trim().is_empty() {
                return Err(ApiError::BadRequest("command must not be empty".into()));
            }
            let cwd = match &body.cwd {
                Some(dir) => absolute("cwd", dir)?,
                None => crate::tools::default_cwd(policy),
            };
            Ok(Subject::Command(line.clone(), cwd))
        }
        (None, Some(path), _) => Ok(Subject::Path(absolute("read", path)?, Access::Read)),
        (None, None, Some(path)) => Ok(Subject::Path(absolute("write", path)?, Access::Write)),
        (None, None, None) => Err(ApiError::BadRequest(
            "give exactly one of command, read, write".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/policy/check", tag = "security", request_body = CheckRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "the decision exactly as `ai-orchestrator policy check` prints it: \
            for a command `{allowed, command, argv, stages, rule, reason, max_runtime, max_output_bytes, run, unprofiled?}` \
            (`run`: the final argv and added environment of each stage when allowed), \
            for a path `{allowed, access, requested, resolved, rule, reason}`"),
        (status = 400, description = "not exactly one of command, read, write; or a relative path"),
        (status = 422, description = "a body of the wrong shape (unknown fields, wrong types)"),
        (status = 403, description = "not an admin")))]
pub async fn check(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Json(body): Json<CheckRequest>,
) -> ApiResult<Json<Value>> {
    principal.require(Scope::Admin)?;
    let snapshot = state.snapshot();
    let policy = &snapshot.policy;
    let (target, decision) = match subject(&body, policy)? {
        Subject::Command(line, cwd) => {
            let d = policy.check_command(&line, &cwd);
            (line, serde_json::to_value(&d))
        }
        Subject::Path(path, access) => {
            let d = policy.check_path(&path, access);
            (path.display().to_string(), serde_json::to_value(&d))
        }
    };
    let decision = decision.map_err(ApiError::internal)?;
    let verdict = if decision["allowed"] == Value::Bool(true) {
        "allowed"
    } else {
        "denied"
    };
    state
        .audit
        .record(
            AuditEvent::new("policy.check", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(target)
                .reason(format!(
                    "dry run: {verdict} by {} (generation {})",
                    decision["rule"].as_str().unwrap_or("?"),
                    snapshot.generation
                )),
        )
        .await;
    Ok(Json(decision))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/policy/check", post(check))
}
