//! ai-orchestrator server: HTTP API, authentication, rate limits, audit,
//! storage and hot-reloaded configuration.
//!
//! Layers: [`http`] (router, middleware pipeline, routes) calls [`auth`],
//! [`agent`], [`tools`] and [`llm`], which read [`config`] (settings and the
//! hot-reloaded snapshot) and write [`store`]; [`cli`] holds the subcommands.
#![cfg_attr(test, allow(clippy::unwrap_used))]

// Public: what the binary, the integration tests and the benchmarks use.
pub(crate) mod agent;
mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub(crate) mod llm;
pub(crate) mod metrics;
pub mod state;
pub mod store;
pub mod tools;

pub use app::{build_app, build_state};
pub use config::Settings;
pub use http::router;
