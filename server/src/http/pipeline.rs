//! The request pipeline, outermost first: context (request id, client IP,
//! metrics) → CORS → authenticate → rate limit → scope check → handler.
//!
//! Authentication runs before the rate limit (it is cheap: an HMAC or a
//! SHA-256 plus map lookups) so that budgets are keyed by verified identity;
//! refused or missing credentials fall back to the client-IP budget, and
//! are turned into a 401 only after the budget was charged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::principal::{AuthOutcome, authenticate, authenticate_token};
use crate::http::error::ApiError;
use crate::http::ratelimit::{Decision, UNMATCHED};
use crate::http::scopes::{RouteAccess, access_for};
use crate::metrics::{ReasonLabels, RequestLabels, RouteLabels};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.to_string())
}

/// The client IP: the peer, unless the peer is a trusted proxy, in which case
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(ip),
                Err(_) => return peer,
            }
        }
    }
    let mut client = peer;
    for ip in chain.into_iter().rev() {
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 12];
            rand::fill(&mut bytes);
            hex::encode(bytes)
        })
}

/// Request id, client IP, and request metrics.
pub async fn context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let snapshot = state.snapshot();
    let ctx = RequestContext {
        client_ip: client_ip(peer, req.headers(), snapshot.policy.trusted_proxies()),
        request_id: request_id(req.headers()),
    };
    drop(snapshot);
    let route = route_of(&req);
    let method = req.method().to_string();
    let id = ctx.request_id.clone();
    req.extensions_mut().insert(ctx);
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The `token` query parameter of a WebSocket upgrade (browsers cannot set
/// headers there); ignored on every other request so tokens stay out of URLs.
fn websocket_query_token(req: &Request) -> Option<String> {
    let upgrade = req
        .headers()
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade || req.method() != axum::http::Method::GET {
        return None;
    }
    let query = req.uri().query()?;
    url_query_value(query, "token")
}

/// Percent-decodes the value of `name` in a query string.
fn url_query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key != name {
            return None;
        }
        let bytes = value.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    })
}

/// Looks at the credentials and records the outcome; never rejects by itself.
pub async fn authenticate_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut outcome = authenticate(&state, req.headers());
    if matches!(outcome, AuthOutcome::Anonymous)
        && let Some(token) = websocket_query_token(&req)
    {
        outcome = authenticate_token(&state, &token);
    }
    req.extensions_mut().insert(outcome);
    next.run(req).await
}

fn context_of(req: &Request) -> RequestContext {
    req.extensions()
        .get::<RequestContext>()
        .cloned()
        .unwrap_or(RequestContext {
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            request_id: String::new(),
        })
}

fn set_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

/// The budget a route spends: the OpenAI-compatible chat spends the chat
/// budget of `/api/chat` (as `/ws/chat` messages do), so that a caller has one
/// chat budget whichever door it uses.
pub fn budget_of(route: &str) -> &str {
    match route {
        "/v1/chat/completions" => "/api/chat",
        other => other,
    }
}

/// Charges the request to its identity's (or IP's) budget on its route.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The console's own files are compiled in and cost nothing; a page load fetches a dozen.
    if route_of(&req) == super::console::ASSETS_ROUTE {
        return next.run(req).await;
    }
    let ctx = context_of(&req);
    let (key, actor) = match req.extensions().get::<AuthOutcome>() {
        Some(AuthOutcome::Authenticated(p)) => (p.identity(), p.actor()),
        _ => (format!("ip:{}", ctx.client_ip), "-".to_string()),
    };
    let route = route_of(&req);
    match state.limiter.check(budget_of(&route), &key) {
        Decision::Disabled => next.run(req).await,
        Decision::Allowed {
            limit,
            remaining,
            reset,
        } => {
            let mut response = next.run(req).await;
            set_rate_headers(response.headers_mut(), limit, remaining, reset);
            response
        }
        Decision::Limited {
            limit,
            retry_after,
            reset,
        } => {
            state
                .metrics
                .rate_limited
                .get_or_create(&RouteLabels {
                    route: route.clone(),
                })
                .inc();
            let audit = state.audit.clone();
            let event = AuditEvent::new("rate_limit", Outcome::Denied)
                .context(&ctx)
                .actor(actor)
                .target(format!("{} {route}", req.method()))
                .reason(format!(
                    "budget of {limit} exhausted; retry after {retry_after}s"
                ));
            tokio::spawn(async move { audit.record(event).await });
            let mut response = ApiError::TooManyRequests { retry_after }.into_response();
            set_rate_headers(response.headers_mut(), limit, 0, reset);
            response
        }
    }
}

/// Enforces the route table: 401 without valid credentials, 403 without the scope.
pub async fn require_scope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let access = access_for(req.method(), &route);
    if access == RouteAccess::Public {
        return next.run(req).await;
    }
    let ctx = context_of(&req);
    let target = format!("{} {route}", req.method());
    let outcome = req
        .extensions()
        .get::<AuthOutcome>()
        .cloned()
        .unwrap_or(AuthOutcome::Anonymous);
    let (error, actor, reason) = match outcome {
        AuthOutcome::Authenticated(principal) => match access {
            RouteAccess::Scope(scope) if !principal.has_scope(scope) => (
                ApiError::Forbidden(format!("Missing required scope: {scope}")),
                principal.actor(),
                format!("missing scope {scope}"),
            ),
            _ => return next.run(req).await,
        },
        AuthOutcome::Anonymous => (
            ApiError::unauthorized(),
            "-".to_string(),
            "no credentials".to_string(),
        ),
        AuthOutcome::Refused(why) => {
            state
                .metrics
                .auth_failures
                .get_or_create(&ReasonLabels {
                    reason: why.to_string(),
                })
                .inc();
            (
                ApiError::Unauthorized("Could not validate credentials".into()),
                "-".to_string(),
                why.to_string(),
            )
        }
    };
    let outcome = if matches!(error, ApiError::Forbidden(_)) {
        Outcome::Denied
    } else {
        Outcome::Failure
    };
    let action = if matches!(error, ApiError::Forbidden(_)) {
        "access.forbidden"
    } else {
        "access.unauthorized"
    };
    state
        .audit
        .record(
            AuditEvent::new(action, outcome)
                .context(&ctx)
                .actor(actor)
                .target(target)
                .reason(reason),
        )
        .await;
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            url_query_value("a=1&token=ak_x%2Dy", "token").as_deref(),
            Some("ak_x-y")
        );
        assert_eq!(
            url_query_value("token=abc", "token").as_deref(),
            Some("abc")
        );
        assert_eq!(url_query_value("tokens=abc", "token"), None);
        assert_eq!(url_query_value("token=%zz", "token"), None);
        assert_eq!(url_query_value("token=%4", "token"), None);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.1.1"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(proxy, &headers, &trusted), proxy);
    }
}
