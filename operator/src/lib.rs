//! Kubernetes operator for ai-orchestrator: `Orchestrator` and `AccessPolicy`
//! custom resources reconciled into policy-governed servers.

pub mod controller;
pub mod crd;
pub mod generated;
pub mod lease;
pub mod metrics;
pub mod rbac;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod webhook;
