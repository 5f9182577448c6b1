//! HTTP handlers, one module per area.

pub mod agent_doc;
pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod conversations;
pub mod health;
pub mod models;
pub mod password;
pub mod policy;
pub mod security;
pub mod stats;
pub mod tools;
pub mod upload;
pub mod users;
pub mod ws;

use axum::Router;

use crate::state::AppState;

/// Formats unix milliseconds as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Every route of the API (the OpenAPI document comes from [`crate::http::openapi`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(password::router())
        .merge(users::router())
        .merge(apikeys::router())
        .merge(security::router())
        .merge(audit::router())
        .merge(tools::router())
        .merge(chat::router())
        .merge(ws::router())
        .merge(models::router())
        .merge(conversations::router())
        .merge(policy::router())
        .merge(stats::router())
        .merge(upload::router())
}
