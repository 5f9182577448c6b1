//! HTTP handlers, one module per area.

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod health;
pub mod password;
pub mod security;
pub mod users;

use axum::Router;

use crate::state::AppState;

/// Formats unix milliseconds as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Every route owned by the core API (the agent routes come from `agent_api`).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(password::router())
        .merge(users::router())
        .merge(apikeys::router())
        .merge(security::router())
        .merge(audit::router())
}
