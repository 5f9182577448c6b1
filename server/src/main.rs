//! `ai-orchestrator`: the server binary and its administrative subcommands.

use std::process::ExitCode;

use ai_orchestrator::cli::{
    accounts, backup, exit as cli_exit, healthcheck, import_v3, policy as policy_cmd, serve,
};
use ai_orchestrator::{config, tools};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ai-orchestrator",
    version,
    about = "AI-agent backend whose tools act only as a policy allows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the HTTP server.
    Serve(config::ServeArgs),
    /// Check a running server's /health (exit 0 when healthy).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Check, validate or print policy documents without starting a server.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Manage users on the server's database (passwords from stdin or a prompt).
    #[command(subcommand)]
    Users(accounts::UsersCommand),
    /// Manage API keys on the server's database.
    #[command(subcommand)]
    Keys(accounts::KeysCommand),
    /// Import users, API keys and conversations from the Python v3.0 server's SQLite files.
    ImportV3(import_v3::ImportArgs),
    /// Write a consistent copy of the database while the server runs.
    Backup(backup::BackupArgs),
    /// Replace the database with a backup (the server must be stopped).
    Restore(backup::RestoreArgs),
}

fn main() -> ExitCode {
    // The confining launcher must stay single-threaded (a user namespace
    // cannot be entered otherwise): dispatched before anything else starts.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == tools::sandbox::SUBCOMMAND) {
        std::process::exit(tools::sandbox::launch::main(&args[2..]));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cli_exit::run(serve::run(args)),
        Command::Healthcheck(args) => cli_exit::run(healthcheck::run(args)),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Users(cmd) => cli_exit::run(accounts::users(cmd)),
        Command::Keys(cmd) => cli_exit::run(accounts::keys(cmd)),
        Command::ImportV3(args) => cli_exit::run(import_v3::run(args)),
        Command::Backup(args) => cli_exit::run(backup::backup(args)),
        Command::Restore(args) => cli_exit::run(backup::restore(args)),
    }
}
