//! The subcommands of the binary: `serve`, `healthcheck`, `policy`,
//! `users` and `keys` ([`accounts`]), `import-v3`, `backup` and `restore`, and how their failures become exit codes.

pub mod accounts;
pub mod backup;
pub mod exit;
pub mod healthcheck;
pub mod import_v3;
pub mod output;
pub mod policy;
pub mod serve;
pub(crate) mod server_lock;
