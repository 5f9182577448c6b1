//! Password upkeep: the self-service change (`POST /api/auth/password`), the
//! upgrade of imported v3 hashes to argon2id after a successful login, and the
//! "must change" flag for the old default password.

use crate::http::extract::Json;
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, passwords};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::auth::{TokenResponse, issue_pair};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::{UserRow, now_ms};

pub const WEAK_PASSWORD_WARNING: &str =
    "This account uses the old default password; change it now with POST /api/auth/password";

/// The answer to a password change: tokens issued before it no longer work, so the caller gets
/// a fresh pair (same scopes as the credentials it called with).
#[derive(serde::Serialize, ToSchema)]
pub struct PasswordChanged {
    pub message: String,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// After a successful login: replaces an imported hash with argon2id and flags the
/// old default password. Returns whether the password must be changed.
pub async fn after_login(
    state: &AppState,
    ctx: &RequestContext,
    user: &UserRow,
    password: String,
) -> ApiResult<bool> {
    let is_default = password == passwords::V3_DEFAULT_PASSWORD;
    let mut hash = user.password_hash.clone();
    if passwords::needs_rehash(&user.password_hash) {
        let upgraded = passwords::hash(&state.hash_pool, password).await?;
        // Conditional on the old hash, so a concurrent password change wins.
        let result = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4 WHERE username = $1 AND password_hash = $2",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&upgraded)
        .bind(now_ms())
        .execute(state.db.pool())
        .await?;
        if result.rows_affected() == 1 {
            hash = upgraded;
            state
                .audit
                .record(
                    AuditEvent::new("user.password_rehash", Outcome::Success)
                        .context(ctx)
                        .actor(&user.username)
                        .target(&user.username)
                        .reason("imported PBKDF2 hash replaced with argon2id"),
                )
                .await;
        }
    }
    if is_default {
        sqlx::query("UPDATE users SET weak_password_hash = $2 WHERE username = $1")
            .bind(&user.username)
            .bind(&hash)
            .execute(state.db.pool())
            .await?;
        state
            .identities
            .set_must_change_password(&user.username, true);
    }
    Ok(is_default)
}

#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePassword,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = PasswordChanged, description = "changed; tokens issued before no longer work"), (status = 400, description = "new password refused"),
        (status = 401, description = "current password wrong"), (status = 429, description = "too many failures")))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Json(body): Json<ChangePassword>,
) -> ApiResult<Json<PasswordChanged>> {
    let username = principal.username.clone();
    let ip = ctx.client_ip.to_string();
    if let Some(retry_after) = state.login_guard.locked(&username, &ip) {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let audit = |outcome: Outcome, reason: &str| {
        AuditEvent::new("user.password_change", outcome)
            .context(&ctx)
            .actor(principal.actor())
            .target(&username)
            .reason(reason)
    };
    let Some(user) = state.db.get_user(&username).await? else {
        return Err(ApiError::unauthorized());
    };
    if !passwords::verify(
        &state.hash_pool,
        body.current_password.clone(),
        user.password_hash.clone(),
    )
    .await?
    {
        state.login_guard.record_failure(&username, &ip);
        state
            .audit
            .record(audit(Outcome::Failure, "current password wrong"))
            .await;
        return Err(ApiError::Unauthorized(
            "Current password is incorrect".into(),
        ));
    }
    passwords::validate_new(&body.new_password)?;
    if body.new_password == passwords::V3_DEFAULT_PASSWORD
        || body.new_password == body.current_password
    {
        return Err(ApiError::BadRequest(
            "choose a new password different from the current one and from the old default".into(),
        ));
    }
    let hash = passwords::hash(&state.hash_pool, body.new_password).await?;
    // The token generation moves on: every access token issued before dies at once.
    let result = sqlx::query(
        "UPDATE users SET password_hash = $2, weak_password_hash = NULL, updated_at = $3, \
         token_generation = token_generation + 1 WHERE username = $1",
    )
    .bind(&username)
    .bind(&hash)
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    if result.rows_affected() != 1 {
        return Err(ApiError::unauthorized());
    }
    state.identities.set_must_change_password(&username, false);
    let revoked = state.db.revoke_refresh_for_user(&username).await?;
    if let Some(updated) = state.db.get_user(&username).await? {
        state.identities.put_user(&updated);
    }
    state.login_guard.record_success(&username, &ip);
    state
        .audit
        .record(audit(
            Outcome::Success,
            &format!("{revoked} refresh tokens revoked"),
        ))
        .await;
    let Some(view) = state.identities.user(&username) else {
        return Err(ApiError::unauthorized());
    };
    // The caller's own tokens died with the change; it gets a new pair with the same scopes.
    let pair = issue_pair(&state, &username, &view, principal.scopes).await?;
    Ok(Json(PasswordChanged {
        message: "Password changed; other sessions must log in again".into(),
        tokens: pair,
    }))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/auth/password", post(change_password))
}
