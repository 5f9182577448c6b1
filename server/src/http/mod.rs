//! The HTTP layer: the router, the middleware pipeline in front of every
//! route, the routes themselves, and the one error type they answer with.

pub(crate) mod connections;
pub(crate) mod console;
pub(crate) mod cors;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod mcp;
pub(crate) mod openai;
pub(crate) mod openapi;
pub(crate) mod pipeline;
pub(crate) mod ratelimit;
pub(crate) mod routes;
pub mod scopes;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use tower::ServiceBuilder;

use crate::state::AppState;

/// The router with every layer, outermost first: context, OpenAI's error
/// shape for `/v1` answers, CORS, authenticate, rate limit, scope check (see
/// [`pipeline`]). The front doors are merged when switched on.
pub fn router(state: AppState) -> Router {
    let doors = state.settings.doors;
    let mut app = Router::new()
        .merge(console::router(state.settings.console_enabled))
        .merge(routes::router())
        .merge(openapi::router());
    if doors.openai {
        app = app.merge(openai::router());
    }
    if doors.mcp {
        app = app.merge(mcp::router(&state));
    }
    let router = app
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(state.clone(), pipeline::context))
                .layer(from_fn(openai::reshape_errors))
                .layer(from_fn_with_state(state.clone(), cors::middleware))
                .layer(from_fn_with_state(
                    state.clone(),
                    pipeline::authenticate_layer,
                ))
                .layer(from_fn_with_state(state.clone(), pipeline::rate_limit))
                .layer(from_fn_with_state(state.clone(), pipeline::require_scope)),
        )
        .with_state(state);
    console::security_headers(router)
}
