//! ai-orchestrator server: HTTP API, authentication, rate limits, audit,
//! storage and hot-reloaded configuration.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod agent;
pub mod agent_api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli_exit;
pub mod config;
pub mod conversations;
pub mod cors;
pub mod db;
pub mod error;
pub mod healthcheck;
pub mod import_v3;
pub mod kube_source;
pub mod llm;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod policy_cmd;
pub mod ratelimit;
pub mod reload;
pub mod routes;
pub mod scopes;
pub mod serve;
pub mod server_lock;
pub mod state;
pub mod tools;

pub use app::{build_app, build_state, router};
pub use config::Settings;
