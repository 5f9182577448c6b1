//! The server's integration tests in one binary (one link instead of one
//! per file): end-to-end tests against the real binary on 127.0.0.1, and
//! in-process route checks ([`routes`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_kube;
mod support;

mod accounts_cli;
mod agent_chat;
mod agent_conversations;
mod agent_model;
mod agent_storage;
mod agent_tools;
mod agent_ws;
mod auth;
mod backup_restore;
mod connections;
mod console;
mod front_doors;
mod identity;
mod image;
mod import_v3;
mod kube_source;
mod limits;
mod policy_cli;
mod policy_sync_e2e;
mod postgres_e2e;
mod profiles_e2e;
mod reload;
mod routes;
mod sandbox;
mod sandbox_exec;
mod storage;
mod upgrade;
mod v3_routes;
mod workspace;
