//! The web console: static assets compiled into the binary, served under `/`,
//! the cookie-held console session, and the security headers every response carries.
//!
//! `GET /` answers browsers (an `Accept` naming `text/html`) with the console and
//! everyone else with the service-info JSON the v3 server gave.

mod assets;
pub(crate) mod session;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::http::extract::Json;
use crate::state::AppState;

/// Scripts, styles and images from this origin only; no inline code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The route of the console's files; exempt from rate limits (see `pipeline::rate_limit`).
pub const ASSETS_ROUTE: &str = "/assets/{*path}";

/// The console's routes; with the console disabled only `GET /` (JSON) remains.
pub fn router(enabled: bool) -> Router<AppState> {
    let router = Router::new().route("/", get(root));
    if !enabled {
        return router;
    }
    router
        .route(ASSETS_ROUTE, get(assets::serve))
        .merge(session::router())
}

/// The headers of every response, API included: a JSON body can no more be
/// framed or sniffed into script than a page can.
pub fn security_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
}

/// Whether the client asked for a page rather than data.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let kind = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            kind.eq_ignore_ascii_case("text/html") && !refused
        })
}

#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "browsers (Accept: text/html): the web console; others: \
        `{name, version, status, tools, docs, health, console}`, the service info v3.0 gave")))]
pub(crate) async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let enabled = state.settings.console_enabled;
    let vary = [(header::VARY, HeaderValue::from_static("Accept"))];
    if enabled && wants_html(&headers) {
        return (vary, assets::index()).into_response();
    }
    let info = json!({
        "name": state.settings.app_name,
        "version": env!("CARGO_PKG_VERSION"),
        "status": "running",
        "tools": crate::tools::registry().len(),
        "docs": "/api/openapi.json",
        "health": "/health",
        "console": if enabled { Some("/") } else { None },
    });
    (vary, Json(info)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn browsers_get_html_and_programs_get_json() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("text/html;q=0, application/json")));
    }
}
