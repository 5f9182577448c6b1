//! `/api/security/config` and `/api/security/rate-limit-stats` (admin).

use crate::http::extract::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::http::error::ApiResult;
use crate::http::routes::rfc3339;
use crate::http::scopes::{ROUTES, Scope};
use crate::state::AppState;

/// A database URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:<redacted>{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[utoipa::path(get, path = "/api/security/config", tag = "security", security(("bearer" = [])),
    responses((status = 200, description = "the effective configuration; no secret values")))]
pub async fn config(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    principal.require(Scope::Admin)?;
    let snapshot = state.snapshot();
    let s = &state.settings;
    let mut declared: Vec<Value> = snapshot
        .declared_keys
        .values()
        .map(|k| json!({"name": k.name, "scopes": k.scopes, "expires_at": k.expires_at.map(rfc3339)}))
        .collect();
    declared.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_string());
    let retired: Vec<Value> = snapshot
        .jwt
        .kids()
        .into_iter()
        .map(|kid| {
            let retired_at = snapshot
                .jwt
                .keys
                .get(&kid)
                .and_then(|k| k.retired_at)
                .map(rfc3339);
            json!({"kid": kid, "retired_at": retired_at})
        })
        .collect();
    Ok(Json(json!({
        "generation": snapshot.generation,
        "policy_hash": snapshot.policy.hash(),
        "policy_source": snapshot.policy_source,
        "loaded_at": rfc3339(snapshot.loaded_at),
        "policy": snapshot.policy.document(),
        "sandbox": state.sandbox.report(&snapshot.policy),
        "cors": snapshot.policy.cors(),
        "rate_limits": {
            "enabled": snapshot.policy.rate_limits_enabled(),
            "routes": state.limiter.stats().routes.iter()
                .map(|r| json!({"route": r.route, "requests": r.requests, "period_seconds": r.period_seconds}))
                .collect::<Vec<_>>(),
        },
        "auth": {
            "enabled": s.auth_enabled,
            "jwt_algorithm": format!("{:?}", s.jwt.algorithm),
            "jwt_keys": retired,
            "jwt_signing_kid": snapshot.jwt.signing_kid,
            "jwt_key_source": snapshot.jwt.source,
            "access_token_seconds": s.jwt.access_ttl.as_secs(),
            "refresh_token_seconds": s.jwt.refresh_ttl.as_secs(),
            "issuer": s.jwt.issuer,
            "audience": s.jwt.audience,
            "declared_api_keys": declared,
        },
        "routes": ROUTES,
        "server": {
            "host": s.host,
            "port": s.port,
            "config_dir": s.config_dir,
            "secrets_dir": s.secrets_dir,
            "data_dir": s.data_dir,
            "database_url": redact_url(&s.database_url),
        },
    })))
}

#[utoipa::path(get, path = "/api/security/rate-limit-stats", tag = "security", security(("bearer" = [])),
    responses((status = 200, description = "per-route budgets, tracked keys, allowed and limited counts")))]
pub async fn rate_limit_stats(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    principal.require(Scope::Admin)?;
    Ok(Json(
        serde_json::to_value(state.limiter.stats()).unwrap_or_default(),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/security/config", get(config))
        .route("/api/security/rate-limit-stats", get(rate_limit_stats))
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:<redacted>@db:5432/x"
        );
        assert_eq!(
            super::redact_url("sqlite://./data/x.db"),
            "sqlite://./data/x.db"
        );
    }
}
