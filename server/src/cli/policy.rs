//! `ai-orchestrator policy ...`: policy decisions from the command line.
//!
//! Exit codes: 0 allowed (or valid), 1 denied, 2 the policy cannot be used
//! (unreadable or invalid; the errors go to stderr, one per line).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};

use crate::cli::output;
use policy::{Access, Policy, PolicyDocument, PolicyError};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Judge one command line or path; prints the decision as JSON
    /// (exit 0 allowed, 1 denied, 2 invalid policy).
    Check(CheckArgs),
    /// Validate a policy file, including its examples (exit 0 valid, 2 invalid):
    /// a `policy.yaml`, or AccessPolicy manifests (several documents allowed),
    /// checked as the operator and its admission webhook check them.
    Validate {
        /// The file (`policy.yaml` or AccessPolicy manifests); `-` reads stdin.
        file: PathBuf,
    },
    /// Print the built-in default policy.
    Default,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("subject").required(true).args(["command", "read", "write"])))]
pub struct CheckArgs {
    /// Policy file (`policy.yaml`, or AccessPolicy manifests: their merge, as
    /// an Orchestrator selecting them all serves it; `-` reads stdin); the
    /// built-in default when omitted.
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

/// The text of `file`, `-` meaning stdin.
fn read(file: &Path) -> Result<String, ExitCode> {
    let read = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    read.map_err(|e| {
        eprintln!("{}: cannot read: {e}", file.display());
        ExitCode::from(EXIT_INVALID)
    })
}

/// The valid AccessPolicies of a manifest file, and whether all were valid
/// (every error is reported on stderr).
fn manifests(file: &Path, text: &str) -> Result<(Vec<(String, PolicyDocument)>, bool), ExitCode> {
    let manifests = match policy::manifest::parse_manifests(text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Err(ExitCode::from(EXIT_INVALID));
        }
    };
    if manifests.is_empty() {
        eprintln!("{}: no AccessPolicy in the file", file.display());
        return Err(ExitCode::from(EXIT_INVALID));
    }
    let mut valid = Vec::new();
    let mut failed = false;
    for manifest in &manifests {
        let errors = manifest.errors();
        for line in &errors {
            eprintln!("{}: accesspolicy/{}: {line}", file.display(), manifest.name);
        }
        match (&manifest.rules, errors.is_empty()) {
            (Ok(rules), true) => valid.push((manifest.name.clone(), rules.document())),
            _ => failed = true,
        }
    }
    Ok((valid, !failed))
}

/// Loads a policy file, or reports why it cannot be used (one error per line).
fn load(file: &Path) -> Result<Policy, ExitCode> {
    let text = read(file)?;
    if policy::manifest::looks_like_manifests(&text) {
        let (valid, all) = manifests(file, &text)?;
        if !all {
            return Err(ExitCode::from(EXIT_INVALID));
        }
        let documents: Vec<PolicyDocument> = valid.into_iter().map(|(_, d)| d).collect();
        return Policy::compile(policy::merge(&documents)).map_err(|e| {
            eprintln!(
                "{}: the merge of its AccessPolicies is invalid:",
                file.display()
            );
            report(file, &e);
            ExitCode::from(EXIT_INVALID)
        });
    }
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
    let text = match read(file) {
        Ok(text) => text,
        Err(code) => return code,
    };
    if policy::manifest::looks_like_manifests(&text) {
        return match manifests(file, &text) {
            Ok((valid, all)) => {
                for (name, doc) in &valid {
                    let _ = output::line(format_args!(
                        "valid: {}: accesspolicy/{name} ({})",
                        file.display(),
                        summary(doc)
                    ));
                }
                if all {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_INVALID)
                }
            }
            Err(code) => code,
        };
    }
    match Policy::from_yaml(&text) {
        Ok(p) => {
            let summary = format!(
                "valid: {} (sha256 {}; {})",
                file.display(),
                p.hash(),
                summary(p.document())
            );
            match output::line(summary) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cannot print the result: {e}");
                    ExitCode::from(EXIT_INVALID)
                }
            }
        }
        Err(e) => {
            report(file, &e);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn summary(doc: &PolicyDocument) -> String {
    format!(
        "{} programs allowed, {} denied; {} read roots, {} write roots; {} examples",
        doc.commands.allow.len(),
        doc.commands.deny.len(),
        doc.paths.read.len(),
        doc.paths.write.len(),
        doc.examples.allow.len() + doc.examples.deny.len()
    )
}
