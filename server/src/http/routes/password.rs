//! Password upkeep: the self-service change (`POST /api/auth/password`), the
//! upgrade of imported v3 hashes to argon2id after a successful login, and the
//! "must change" flag for the old default password.

use crate::http::extract::Json;
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Router};
use serde::Deserialize;
use sqlx::Row;
use utoipa::ToSchema;

use crate::auth::{Principal, passwords};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::auth::Message;
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::{Db, UserRow, now_ms};

pub const WEAK_PASSWORD_WARNING: &str =
    "This account uses the old default password; change it now with POST /api/auth/password";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Whether the user's password is flagged as the old default (and unchanged since).
pub async fn must_change(db: &Db, username: &str) -> Result<bool, sqlx::Error> {
    let row =
        sqlx::query("SELECT password_hash, weak_password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(db.pool())
            .await?;
    let Some(row) = row else { return Ok(false) };
    let current: String = row.try_get("password_hash")?;
    let weak: Option<String> = row.try_get("weak_password_hash")?;
    Ok(weak.as_deref() == Some(current.as_str()))
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
        let upgraded = passwords::hash(password).await?;
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
    }
    Ok(is_default)
}

#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePassword,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Message), (status = 400, description = "new password refused"),
        (status = 401, description = "current password wrong"), (status = 429, description = "too many failures")))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Json(body): Json<ChangePassword>,
) -> ApiResult<Json<Message>> {
    let username = principal.username.clone();
    let ip = ctx.client_ip.to_string();
    if let Some(retry_after) = state.login_guard.locked(&username, &ip) {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let audit = |outcome: Outcome, reason: &str| {
        AuditEvent::new("user.password_change", outcome)
            .context(&ctx)
            .actor(principal.identity())
            .target(&username)
            .reason(reason)
    };
    let Some(user) = state.db.get_user(&username).await? else {
        return Err(ApiError::unauthorized());
    };
    if !passwords::verify(body.current_password.clone(), user.password_hash.clone()).await {
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
    let hash = passwords::hash(body.new_password).await?;
    let result = sqlx::query(
        "UPDATE users SET password_hash = $2, weak_password_hash = NULL, updated_at = $3 WHERE username = $1",
    )
    .bind(&username)
    .bind(&hash)
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    if result.rows_affected() != 1 {
        return Err(ApiError::unauthorized());
    }
    let revoked = state.db.revoke_refresh_for_user(&username).await?;
    state.login_guard.record_success(&username, &ip);
    state
        .audit
        .record(audit(
            Outcome::Success,
            &format!("{revoked} refresh tokens revoked"),
        ))
        .await;
    Ok(Json(Message {
        message: "Password changed; log in again on other devices".into(),
    }))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/auth/password", post(change_password))
}
