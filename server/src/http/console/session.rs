//! The console's session: the access token lives in the page's memory only; the
//! refresh token lives in an `HttpOnly`, `SameSite=Strict` cookie scoped to
//! `/api/console/session` (and `Secure` when the request came over HTTPS), so
//! no script can read it and no other site can make the browser send it.
//!
//! Every route here also needs the `X-AI-Console` header (a custom header a
//! cross-site form or image cannot send, and cross-origin scripts cannot send
//! without a CORS preflight) and refuses a `Sec-Fetch-Site` other than
//! `same-origin`: the CSRF protection of the one cookie-authenticated route.
//!
//! Login, refresh and logout are the `/api/auth` handlers themselves (same
//! checks, lockout and audit, and the same rate-limit budgets); only the
//! transport of the refresh token differs.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::http::ratelimit::Decision;
use crate::http::routes::auth::{self, Message, RefreshRequest, TokenResponse};
use crate::state::{AppState, RequestContext};

pub const COOKIE: &str = "ai_console_refresh";
pub const COOKIE_PATH: &str = "/api/console/session";
/// The header every console session request carries.
pub const CSRF_HEADER: &str = "x-ai-console";

/// A login or refresh as the console sees it: no refresh token in the body.
#[derive(Serialize, ToSchema)]
pub struct ConsoleSession {
    pub access_token: String,
    pub token_type: String,
    /// Access-token lifetime in seconds; refresh before it ends.
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COOKIE_PATH, post(login).delete(logout))
        .route("/api/console/session/refresh", post(refresh))
}

/// Refuses requests another site could have made the browser send.
fn check_origin(headers: &HeaderMap) -> ApiResult<()> {
    if headers.get(CSRF_HEADER).is_none() {
        return Err(ApiError::Forbidden(format!(
            "console session requests need the {CSRF_HEADER} header"
        )));
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("same-origin");
    if site != "same-origin" {
        return Err(ApiError::Forbidden(format!(
            "console session requests must come from the console itself (Sec-Fetch-Site: {site})"
        )));
    }
    Ok(())
}

/// Charges the client to the budget of the `/api/auth` route this one stands in
/// for, under the key the pipeline uses for anonymous clients: alternating between
/// the two routes buys no extra guesses.
fn charge(state: &AppState, ctx: &RequestContext, route: &str) -> ApiResult<()> {
    match state.limiter.check(route, &format!("ip:{}", ctx.client_ip)) {
        Decision::Limited { retry_after, .. } => Err(ApiError::TooManyRequests { retry_after }),
        _ => Ok(()),
    }
}

/// HTTPS as the client saw it: a proxy in front says so. (A forged header
/// only marks the forger's own cookie `Secure`.)
fn over_https(headers: &HeaderMap) -> bool {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    proto || forwarded
}

fn set_cookie(value: &str, max_age: u64, secure: bool) -> ApiResult<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(ApiError::internal)
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The token pair as a cookie and a body without the refresh token.
fn session_response(
    state: &AppState,
    headers: &HeaderMap,
    pair: TokenResponse,
) -> ApiResult<Response> {
    let max_age = state.settings.jwt.refresh_ttl.as_secs();
    let cookie = set_cookie(&pair.refresh_token, max_age, over_https(headers))?;
    let body = ConsoleSession {
        access_token: pair.access_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
        warning: pair.warning,
    };
    Ok(([(header::SET_COOKIE, cookie), no_store()], Json(body)).into_response())
}

fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

#[utoipa::path(post, path = "/api/console/session", tag = "console",
    request_body(content = auth::LoginRequest, content_type = "application/json"),
    params(("X-AI-Console" = String, Header, description = "any value; required")),
    responses((status = 200, body = ConsoleSession, description = "the refresh token is set as an HttpOnly cookie"),
        (status = 401, description = "wrong credentials"), (status = 403, description = "missing X-AI-Console header or a cross-site request"),
        (status = 429, description = "too many failures for this username or IP")))]
pub async fn login(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    req: Request,
) -> ApiResult<Response> {
    check_origin(req.headers())?;
    charge(&state, &ctx, "/api/auth/login")?;
    let headers = req.headers().clone();
    let Json(pair) = auth::login(State(state.clone()), Extension(ctx), req).await?;
    session_response(&state, &headers, pair)
}

#[utoipa::path(post, path = "/api/console/session/refresh", tag = "console",
    params(("X-AI-Console" = String, Header, description = "any value; required")),
    responses((status = 200, body = ConsoleSession, description = "a new access token; the cookie is rotated"),
        (status = 401, description = "no session cookie, or an unknown, expired, revoked or reused one"),
        (status = 403, description = "missing X-AI-Console header or a cross-site request")))]
pub async fn refresh(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    charge(&state, &ctx, "/api/auth/refresh")?;
    let Some(refresh_token) = cookie_of(&headers) else {
        return Err(ApiError::Unauthorized("No console session".into()));
    };
    let Json(pair) = auth::refresh_tokens(
        State(state.clone()),
        Extension(ctx),
        Json(RefreshRequest { refresh_token }),
    )
    .await?;
    session_response(&state, &headers, pair)
}

#[utoipa::path(delete, path = "/api/console/session", tag = "console",
    params(("X-AI-Console" = String, Header, description = "any value; required")),
    responses((status = 200, body = Message, description = "the session's refresh tokens are revoked and the cookie cleared"),
        (status = 403, description = "missing X-AI-Console header or a cross-site request")))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    let body = match cookie_of(&headers) {
        Some(refresh_token) => {
            let Json(body) = auth::logout(
                State(state.clone()),
                Extension(ctx),
                Json(RefreshRequest { refresh_token }),
            )
            .await?;
            body
        }
        None => Message {
            message: "Logged out".into(),
        },
    };
    let cleared = set_cookie("", 0, over_https(&headers))?;
    Ok(([(header::SET_COOKIE, cleared), no_store()], Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ai_console_refresh=rt_abc ; b=2"),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("rt_abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("ai_console_refresh="),
        );
        assert_eq!(cookie_of(&headers), None);
    }

    #[test]
    fn cross_site_and_headerless_requests_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(check_origin(&headers).is_err());
        headers.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert!(check_origin(&headers).is_ok());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(check_origin(&headers).is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check_origin(&headers).is_ok());
    }

    #[test]
    fn the_cookie_is_secure_only_over_https() {
        let plain = set_cookie("x", 60, false).expect("cookie");
        let text = plain.to_str().expect("ascii");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Path=/api/console/session") && !text.contains("Secure"));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&headers));
        assert!(!over_https(&HeaderMap::new()));
    }
}
