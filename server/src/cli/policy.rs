//! `ai-orchestrator policy ...`: policy decisions from the command line.
//!
//! Exit codes: 0 allowed (or valid), 1 denied, 2 the policy cannot be used
//! (unreadable or invalid; the errors go to stderr, one per line).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};

use crate::cli::output;
use policy::{Access, Policy, PolicyError};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Judge one command line or path; prints the decision as JSON
    /// (exit 0 allowed, 1 denied, 2 invalid policy).
    Check(CheckArgs),
    /// Validate a policy file, including its examples (exit 0 valid, 2 invalid).
    Validate {
        /// The policy file (`policy.yaml`).
        file: PathBuf,
    },
    /// Print the built-in default policy.
    Default,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("subject").required(true).args(["command", "read", "write"])))]
pub struct CheckArgs {
    /// Policy file; the built-in default when omitted.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// A command line, judged as it would run (as argv, without a shell).
    #[arg(long, value_name = "LINE")]
    pub command: Option<String>,
    /// Working directory of the command; the current directory when omitted.
    #[arg(long, value_name = "DIR", requires = "command")]
    pub cwd: Option<PathBuf>,
    /// A path to judge for reading.
    #[arg(long, value_name = "PATH")]
    pub read: Option<PathBuf>,
    /// A path to judge for writing.
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

const EXIT_DENIED: u8 = 1;
const EXIT_INVALID: u8 = 2;

pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check(args) => check(&args),
        PolicyCommand::Validate { file } => validate(&file),
        PolicyCommand::Default => match output::text(&policy::to_yaml(&policy::default_policy())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot print the policy: {e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
    }
}

/// Loads a policy file, or reports why it cannot be used (one error per line).
fn load(file: &Path) -> Result<Policy, ExitCode> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return Err(ExitCode::from(EXIT_INVALID));
        }
    };
    Policy::from_yaml(&text).map_err(|e| {
        report(file, &e);
        ExitCode::from(EXIT_INVALID)
    })
}

fn report(file: &Path, error: &PolicyError) {
    for line in error.lines() {
        eprintln!("{}: {line}", file.display());
    }
}

/// Relative paths given on the command line mean "from here".
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    }
}

fn print_json(value: &impl serde::Serialize) -> bool {
    match serde_json::to_string_pretty(value) {
        Ok(json) => match output::line(json) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("cannot print the decision: {e}");
                false
            }
        },
        Err(e) => {
            eprintln!("cannot print the decision: {e}");
            false
        }
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    let policy = match &args.policy {
        Some(file) => match load(file) {
            Ok(p) => p,
            Err(code) => return code,
        },
        None => Policy::default_policy(),
    };
    let (allowed, printed) = if let Some(line) = &args.command {
        let cwd = match &args.cwd {
            Some(dir) => absolute(dir),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        let d = policy.check_command(line, &cwd);
        for name in &d.unprofiled {
            eprintln!(
                "note: `{name}` has no program profile; only the generic argument rules judged it"
            );
        }
        (d.allowed, print_json(&d))
    } else {
        let (path, access) = match (&args.read, &args.write) {
            (Some(p), _) => (p, Access::Read),
            (None, Some(p)) => (p, Access::Write),
            // clap's required group guarantees one of the three.
            (None, None) => return ExitCode::from(EXIT_INVALID),
        };
        let d = policy.check_path(&absolute(path), access);
        (d.allowed, print_json(&d))
    };
    match (allowed, printed) {
        (true, true) => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_DENIED),
    }
}

fn validate(file: &Path) -> ExitCode {
    match load(file) {
        Ok(p) => {
            let doc = p.document();
            let summary = format!(
                "valid: {} (sha256 {}; {} programs allowed, {} denied; {} read roots, {} write roots; {} examples)",
                file.display(),
                p.hash(),
                doc.commands.allow.len(),
                doc.commands.deny.len(),
                doc.paths.read.len(),
                doc.paths.write.len(),
                doc.examples.allow.len() + doc.examples.deny.len()
            );
            match output::line(summary) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cannot print the result: {e}");
                    ExitCode::from(EXIT_INVALID)
                }
            }
        }
        Err(code) => code,
    }
}
