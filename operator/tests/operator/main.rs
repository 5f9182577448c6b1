//! The operator's integration tests, one binary: the pure render against
//! golden files, reconciles against a mocked API server, leader election,
//! the generated CRDs and the Helm chart.

mod chart;
mod common;
mod controller;
mod crds;
mod lease;
mod render;
mod webhook;
