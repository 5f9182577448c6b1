//! The HTTP layer: the router, the middleware pipeline in front of every
//! route, the routes themselves, and the one error type they answer with.

pub mod agent_api;
pub mod cors;
pub mod error;
pub mod openapi;
pub mod pipeline;
pub mod ratelimit;
pub mod routes;
pub mod scopes;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tower::ServiceBuilder;

use crate::state::AppState;

/// The router with every layer, outermost first: context, CORS, authenticate,
/// rate limit, scope check (see [`pipeline`]).
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::router())
        .merge(openapi::router())
        .merge(agent_api::router())
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(state.clone(), pipeline::context))
                .layer(from_fn_with_state(state.clone(), cors::middleware))
                .layer(from_fn_with_state(
                    state.clone(),
                    pipeline::authenticate_layer,
                ))
                .layer(from_fn_with_state(state.clone(), pipeline::rate_limit))
                .layer(from_fn_with_state(state.clone(), pipeline::require_scope)),
        )
        .with_state(state)
}
