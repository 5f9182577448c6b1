//! `/api/auth/login`, `/refresh`, `/logout`, `/me`.

use crate::http::extract::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::identity::UserState;
use crate::auth::refresh::{self, RefreshOutcome};
use crate::auth::{AuthMethod, Principal, jwt, passwords};
use crate::http::error::{ApiError, ApiResult};
use crate::http::scopes::Scopes;
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::{NewRefresh, now_ms};

/// OAuth2 password form or JSON.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Optional space-separated scopes to narrow the token to.
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Set when the password must be changed (the old default password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub username: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    pub auth_method: AuthMethod,
    pub disabled: bool,
    /// The password is the old default and must be changed (`POST /api/auth/password`).
    pub must_change_password: bool,
}

const BAD_LOGIN: &str = "Incorrect username or password";

/// Reads the login body as a form or as JSON, by content type.
async fn login_body(state: &AppState, req: Request) -> ApiResult<LoginRequest> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        Form::<LoginRequest>::from_request(req, state)
            .await
            .map(|Form(body)| body)
            .map_err(|_| {
                ApiError::BadRequest("login form needs username and password fields".into())
            })
    } else if content_type.starts_with("application/json") {
        Json::<LoginRequest>::from_request(req, state)
            .await
            .map(|Json(body)| body)
            .map_err(|_| {
                ApiError::BadRequest("login JSON needs string fields username and password".into())
            })
    } else {
        Err(ApiError::BadRequest(
            "send the login as application/x-www-form-urlencoded or application/json".into(),
        ))
    }
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.jwt.refresh_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Issues an access token for `user` and a refresh token opening a new family with `scopes`.
pub async fn issue_pair(
    state: &AppState,
    username: &str,
    user: &UserState,
    scopes: Scopes,
) -> ApiResult<TokenResponse> {
    let (refresh_token, hash) = refresh::generate();
    let family = refresh::new_family();
    state
        .db
        .insert_refresh(&NewRefresh {
            token_hash: &hash,
            family_id: &family,
            username,
            uid: &user.uid,
            scopes,
            expires_at: now_ms().saturating_add(refresh_ttl_ms(state)),
        })
        .await?;
    token_response(state, username, user, scopes, refresh_token)
}

/// The login/refresh answer: a new access token beside `refresh_token`.
fn token_response(
    state: &AppState,
    username: &str,
    user: &UserState,
    scopes: Scopes,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let snapshot = state.snapshot();
    let names = scopes.names().into_iter().map(String::from).collect();
    let subject = jwt::Subject {
        username,
        uid: &user.uid,
        generation: user.token_generation,
    };
    let (access_token, _jti) = jwt::issue(&snapshot.jwt, &state.settings.jwt, subject, names)
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer".into(),
        expires_in: state.settings.jwt.access_ttl.as_secs(),
        warning: None,
    })
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body(description = "a form (as OAuth2's password grant) or the same fields as JSON",
        content((LoginRequest = "application/x-www-form-urlencoded"), (LoginRequest = "application/json"))),
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong credentials"),
        (status = 429, description = "too many failures for this username or IP")))]
pub async fn login(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    req: Request,
) -> ApiResult<Json<TokenResponse>> {
    let body = login_body(&state, req).await?;
    let username = body.username.trim().to_string();
    let ip = ctx.client_ip.to_string();
    if let Some(retry_after) = state.login_guard.locked(&username, &ip) {
        state
            .audit
            .record(
                AuditEvent::new("auth.login", Outcome::Denied)
                    .context(&ctx)
                    .actor(&username)
                    .reason("locked out after repeated failures"),
            )
            .await;
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let stored = state.db.get_user(&username).await?;
    let hash = stored
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    // Unknown names verify against a stand-in hash: the same cost, the same bound.
    let password_ok = passwords::verify(&state.hash_pool, body.password.clone(), hash).await?;
    let user = match stored {
        Some(user) if password_ok && !user.disabled => user,
        other => {
            state.login_guard.record_failure(&username, &ip);
            let reason = match other {
                None => "unknown user",
                Some(u) if u.disabled && password_ok => "user disabled",
                Some(_) => "wrong password",
            };
            state
                .audit
                .record(
                    AuditEvent::new("auth.login", Outcome::Failure)
                        .context(&ctx)
                        .actor(&username)
                        .reason(reason),
                )
                .await;
            return Err(ApiError::Unauthorized(BAD_LOGIN.into()));
        }
    };
    state.login_guard.record_success(&user.username, &ip);
    let must_change =
        crate::http::routes::password::after_login(&state, &ctx, &user, body.password).await?;
    let scopes = match body
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => user.scopes,
        Some(requested) => {
            let names: Vec<&str> = requested.split_whitespace().collect();
            let wanted = Scopes::parse_names(&names).map_err(ApiError::BadRequest)?;
            wanted.intersect(user.scopes)
        }
    };
    // From the row just read: another replica may have created the user moments ago.
    let view = UserState::of(&user);
    let mut pair = issue_pair(&state, &user.username, &view, scopes).await?;
    if must_change {
        pair.warning = Some(crate::http::routes::password::WEAK_PASSWORD_WARNING.into());
    }
    state
        .audit
        .record(
            AuditEvent::new("auth.login", Outcome::Success)
                .context(&ctx)
                .actor(&user.username),
        )
        .await;
    Ok(Json(pair))
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "unknown, expired, revoked or reused token")))]
pub async fn refresh_tokens(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let refused = || ApiError::Unauthorized("Invalid refresh token".into());
    let outcome = refresh::redeem(
        &state.db,
        &state.identities,
        &body.refresh_token,
        now_ms(),
        refresh_ttl_ms(&state),
    )
    .await?;
    let (event, error) = match outcome {
        RefreshOutcome::Rotated {
            username,
            user,
            scopes,
            family_id,
            refresh_token,
        } => {
            let pair = token_response(&state, &username, &user, scopes, refresh_token)?;
            state
                .audit
                .record(
                    AuditEvent::new("auth.refresh", Outcome::Success)
                        .context(&ctx)
                        .actor(&username)
                        .target(format!("family {family_id}")),
                )
                .await;
            return Ok(Json(pair));
        }
        RefreshOutcome::Reused {
            username,
            family_id,
            revoked,
        } => (
            AuditEvent::new("auth.refresh_reuse", Outcome::Denied)
                .actor(username)
                .target(format!("family {family_id}"))
                .reason(format!(
                    "a used refresh token was presented again; {revoked} tokens revoked"
                )),
            refused(),
        ),
        RefreshOutcome::Refused { actor, reason } => (
            AuditEvent::new("auth.refresh", Outcome::Failure)
                .actor(actor)
                .reason(reason),
            refused(),
        ),
    };
    state.audit.record(event.context(&ctx)).await;
    Err(error)
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Message)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<Message>> {
    let hash = crate::auth::api_keys::hash_key(body.refresh_token.trim());
    let (actor, outcome, reason) = match state.db.get_refresh(&hash).await? {
        Some(row) => {
            state.db.revoke_refresh_family(&row.family_id).await?;
            (row.username, Outcome::Success, String::new())
        }
        None => (
            "-".to_string(),
            Outcome::Failure,
            "unknown refresh token".to_string(),
        ),
    };
    state
        .audit
        .record(
            AuditEvent::new("auth.logout", outcome)
                .context(&ctx)
                .actor(actor)
                .reason(reason),
        )
        .await;
    Ok(Json(Message {
        message: "Logged out".into(),
    }))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Me), (status = 401, description = "not authenticated")))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Json<Me> {
    // From the in-memory view, like the authentication before it: no database read.
    let must_change_password = state
        .identities
        .user(&principal.username)
        .is_some_and(|u| u.must_change_password);
    Json(Me {
        username: principal.username,
        scopes: principal.scopes,
        auth_method: principal.auth_method,
        disabled: false,
        must_change_password,
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh_tokens))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}
