//! `GET /api/audit` (admin): filter by user, action, outcome and time; paginated.

use crate::http::extract::Json;
use crate::http::extract::Query;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::scopes::Scope;
use crate::state::AppState;
use crate::store::audit::Outcome;
use crate::store::db::{AuditFilter, AuditRow};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The acting user or key (`alice`, `key:<id>`, `system`), matched exactly.
    pub actor: Option<String>,
    /// Same as `actor`.
    pub user: Option<String>,
    pub action: Option<String>,
    /// `success`, `failure`, `denied` or `error`.
    pub outcome: Option<String>,
    /// RFC 3339 time or unix milliseconds.
    pub since: Option<String>,
    pub until: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// 0 or more, default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

fn parse_time(text: &str, name: &str) -> ApiResult<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name} must be an RFC 3339 time or unix milliseconds"
            ))
        })
}

#[utoipa::path(get, path = "/api/audit", tag = "security", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    principal.require(Scope::Admin)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".into(),
        ));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    if let Some(o) = &q.outcome
        && !Outcome::NAMES.contains(&o.as_str())
    {
        return Err(ApiError::BadRequest(
            "outcome must be success, failure, denied or error".into(),
        ));
    }
    let filter = AuditFilter {
        actor: q.actor.or(q.user),
        action: q.action,
        outcome: q.outcome,
        since_ms: q
            .since
            .as_deref()
            .map(|t| parse_time(t, "since"))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|t| parse_time(t, "until"))
            .transpose()?,
        limit,
        offset,
    };
    let (items, total) = state.db.query_audit(&filter).await?;
    Ok(Json(AuditPage {
        items,
        total,
        limit,
        offset,
    }))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/audit", get(list))
}
