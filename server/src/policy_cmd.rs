//! `ai-orchestrator policy ...`: policy decisions from the command line.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the built-in default policy.
    Default,
}

pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Default => ExitCode::SUCCESS,
    }
}
