//! CORS from the policy, hot-reloaded: each snapshot carries its own
//! tower-http `CorsLayer`; a request from an origin the policy does not list
//! passes without any CORS header, and its preflight is refused.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};
use tower_http::cors::{
    AllowCredentials, AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders,
};

use crate::http::error::ApiError;
use crate::state::AppState;

/// Headers a browser script may read from responses.
const EXPOSED: &[&str] = &[
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-request-id",
];

/// Builds the layer for one policy. Values the policy validated but HTTP cannot carry are skipped.
pub fn layer_for(policy: &policy::Policy) -> CorsLayer {
    let cors = policy.cors();
    let methods: Vec<Method> = cors
        .allowed_methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()).ok())
        .collect();
    let headers: Vec<HeaderName> = cors
        .allowed_headers
        .iter()
        .filter_map(|h| HeaderName::from_bytes(h.trim().as_bytes()).ok())
        .collect();
    let judge = policy.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| judge.origin_allowed(o))
        }))
        .allow_methods(AllowMethods::list(methods))
        .allow_headers(AllowHeaders::list(headers))
        .allow_credentials(AllowCredentials::from(cors.allow_credentials))
        .expose_headers(ExposeHeaders::list(
            EXPOSED.iter().map(|h| HeaderName::from_static(h)),
        ))
        .max_age(Duration::from_secs(cors.max_age_seconds))
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let snapshot = state.snapshot();
    // Whenever CORS is configured the answer depends on `Origin`, so every response says so:
    // a shared cache must not hand an answer made for one origin (or none) to another.
    let configured = !snapshot.policy.cors().allowed_origins.is_empty();
    let mut response = cors_response(&snapshot, req, next).await;
    if configured {
        add_vary_origin(response.headers_mut());
    }
    response
}

async fn cors_response(snapshot: &crate::config::Snapshot, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|o| snapshot.policy.origin_allowed(o));
    if !allowed {
        if is_preflight(&req) {
            return ApiError::Forbidden("Origin not allowed".into()).into_response();
        }
        return next.run(req).await;
    }
    let service = snapshot.cors.clone().layer(next);
    match service.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Adds `Origin` to `Vary` unless a `Vary` value already names it (or is `*`).
fn add_vary_origin(headers: &mut axum::http::HeaderMap) {
    let present = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
        })
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
