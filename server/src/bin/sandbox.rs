//! `ai-orchestrator-sandbox`: the confining launcher as a binary of its own.
//!
//! It runs exactly [`ai_orchestrator::tools::sandbox::launch`], the code behind
//! `ai-orchestrator sandbox-exec`, but links nothing of the server: a command
//! confined with namespaces starts two launcher stages, and a small binary
//! execs in a fraction of the server's time. The server uses it when it lies
//! next to the server's own binary.

use std::ffi::OsString;

use ai_orchestrator::tools::sandbox::launch;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Called as `ai-orchestrator-sandbox [sandbox-exec] <spec>`: the same
    // words as the server's subcommand, so every stage re-executes alike.
    let rest = match args.get(1) {
        Some(word) if word == launch::SUBCOMMAND => &args[2..],
        _ => args.get(1..).unwrap_or_default(),
    };
    std::process::exit(launch::main(rest));
}
