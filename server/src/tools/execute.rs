//! `execute_command`: run an allowed command line as argv, never through a
//! shell. Every stage of an allowed pipeline runs confined by the kernel
//! (through the `sandbox-exec` launcher), all in one new process group, so
//! that a timeout can kill the whole group, children included.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use policy::{Access, Policy, RunStage};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::ToolOutcome;
use super::output::{Captured, read_capped};
use super::sandbox::{Prepared, Sandbox};

/// The rule named when a command is refused because a required layer is missing.
pub const SANDBOX_RULE: &str = "sandbox.require";

/// How long to wait for output pipes after the group was killed; a process
/// that left the group could otherwise hold them open forever.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
pub struct ExecuteArgs {
    pub command: String,
    #[serde(default)]
    pub cwd: Option<String>,
}

/// What a command that ran produced.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code of the last stage; absent when it was ended by a signal.
    pub exit_code: Option<i32>,
    /// The signal that ended the last stage, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

pub async fn run(policy: &Policy, sandbox: &Sandbox, args: ExecuteArgs) -> ToolOutcome {
    let command = args.command;
    let chosen = args.cwd.is_some();
    let cwd = args
        .cwd
        .map(PathBuf::from)
        .unwrap_or_else(|| default_cwd(policy));
    // What would have been allowed: the default, which needs no `cwd` at all.
    let leave_out = || {
        format!(
            "; leave `cwd` out to run in {}, or pick a directory under {}",
            default_cwd(policy).display(),
            super::files::roots_text(policy, Access::Read)
        )
    };
    if !cwd.is_absolute() {
        return ToolOutcome::refused(
            "cwd",
            format!(
                "the working directory must be an absolute path{}",
                leave_out()
            ),
            command,
        );
    }
    let place = policy.check_path(&cwd, Access::Read);
    if !place.allowed {
        return ToolOutcome::refused(
            place.rule,
            format!(
                "working directory {} refused: {}{}",
                cwd.display(),
                place.reason,
                if chosen { leave_out() } else { String::new() }
            ),
            command,
        );
    }
    let decision = policy.check_command(&command, &place.resolved);
    if !decision.allowed {
        return ToolOutcome::refused(decision.rule, decision.reason, command);
    }
    if let Some(reason) = sandbox.refusal(policy) {
        return ToolOutcome::refused(SANDBOX_RULE, reason, command);
    }
    let prepared = {
        let (policy, sandbox, cwd) = (policy.clone(), sandbox.clone(), place.resolved.clone());
        let runtime = decision.max_runtime;
        tokio::task::spawn_blocking(move || sandbox.prepare(&policy, &cwd, runtime)).await
    };
    let prepared = match prepared {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(reason)) => {
            return ToolOutcome::failed(
                decision.rule,
                decision.reason,
                command,
                format!("could not confine the command: {reason}"),
                None,
            );
        }
        Err(e) => {
            return ToolOutcome::failed(
                decision.rule,
                decision.reason,
                command,
                format!("could not confine the command: {e}"),
                None,
            );
        }
    };
    let failure = match run_stages(
        &prepared,
        // The decision's final argv and environment: what the policy judged plus
        // the server's additions (`sed --sandbox`, git's safety settings).
        &decision.run,
        decision.max_runtime,
        decision.max_output_bytes,
    )
    .await
    {
        Ok(output) => match serde_json::to_value(output) {
            Ok(result) => return ToolOutcome::ran(decision.rule, decision.reason, command, result),
            Err(e) => (format!("could not encode the command's output: {e}"), None),
        },
        Err(_) if !place.resolved.is_dir() => (
            format!(
                "could not start the command: the working directory `{}` does not exist",
                place.resolved.display()
            ),
            Some(place.resolved.display().to_string()),
        ),
        Err(e) => match missing_program(&decision.run) {
            Some(program) if e.kind() == std::io::ErrorKind::NotFound => (
                format!(
                    "could not start the command: the program {program:?} is not installed (searched PATH={})",
                    super::sandbox::plan::SAFE_PATH
                ),
                None,
            ),
            _ => (format!("could not start the command: {e}"), None),
        },
    };
    let (error, path) = failure;
    ToolOutcome::failed(
        decision.rule,
        decision.reason,
        command,
        error,
        path.as_deref(),
    )
}

/// The first program of a pipeline that is not found on the confined command's `PATH`.
fn missing_program(stages: &[RunStage]) -> Option<String> {
    stages
        .iter()
        .filter_map(|stage| stage.argv.first())
        .find_map(|program| {
            let found = if program.contains('/') {
                std::path::Path::new(program).is_file()
            } else {
                super::sandbox::plan::SAFE_PATH
                    .split(':')
                    .any(|dir| std::path::Path::new(dir).join(program).is_file())
            };
            (!found).then(|| program.clone())
        })
}

/// The first writable root that exists, else the first readable one that exists; a root
/// missing on this machine would only make every command fail to start.
pub fn default_cwd(policy: &Policy) -> PathBuf {
    let paths = &policy.document().paths;
    paths
        .write
        .iter()
        .chain(paths.read.iter())
        .map(PathBuf::from)
        .find(|root| root.is_dir())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Runs the stages connected stdout → stdin, each through the launcher, all
/// in one process group.
pub async fn run_stages(
    prepared: &Prepared,
    stages: &[RunStage],
    timeout: Duration,
    cap: u64,
) -> std::io::Result<CommandOutput> {
    let mut children: Vec<Child> = Vec::with_capacity(stages.len());
    let mut stderr_readers: Vec<JoinHandle<Captured>> = Vec::new();
    let mut next_stdin: Option<Stdio> = None;
    let mut group = 0i32;
    let mut guard = None;
    for (index, stage) in stages.iter().enumerate() {
        let spawned = spawn_stage(
            prepared,
            index,
            stage,
            next_stdin.take().unwrap_or_else(Stdio::null),
            group,
        );
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                kill_group(group);
                reap(&mut children).await;
                return Err(e);
            }
        };
        if index == 0 {
            group = child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .unwrap_or(0);
            guard = Some(GroupGuard(group));
        }
        if let Some(stderr) = child.stderr.take() {
            stderr_readers.push(tokio::spawn(read_capped(stderr, cap)));
        }
        if index + 1 < stages.len()
            && let Some(stdout) = child.stdout.take()
        {
            match stdout.try_into() {
                Ok(stdio) => next_stdin = Some(stdio),
                Err(e) => {
                    children.push(child);
                    kill_group(group);
                    reap(&mut children).await;
                    return Err(e);
                }
            }
        }
        children.push(child);
    }
    let mut stdout_reader = children
        .last_mut()
        .and_then(|c| c.stdout.take())
        .map(|out| tokio::spawn(read_capped(out, cap)));

    // Everything — exits and the end of every pipe — must happen in time;
    // a background child holding a pipe open counts as still running.
    let finished = tokio::time::timeout(timeout, async {
        let mut last = None;
        for child in children.iter_mut() {
            last = child.wait().await.ok();
        }
        let stdout = match stdout_reader.as_mut() {
            Some(reader) => reader.await.unwrap_or_default(),
            None => Captured::default(),
        };
        let mut stderr = Vec::new();
        for reader in stderr_readers.iter_mut() {
            stderr.push(reader.await.unwrap_or_default());
        }
        (last, stdout, stderr)
    })
    .await;

    let (status, stdout, stderr, timed_out) = match finished {
        Ok((status, stdout, stderr)) => (status, stdout, stderr, false),
        Err(_) => {
            kill_group(group);
            let status = reap(&mut children).await;
            let stdout = match stdout_reader {
                Some(reader) => drain(reader).await,
                None => Captured::default(),
            };
            let mut stderr = Vec::new();
            for reader in stderr_readers {
                stderr.push(drain(reader).await);
            }
            (status, stdout, stderr, true)
        }
    };
    // Background processes that outlived the command die with the guard.
    drop(guard);
    Ok(CommandOutput {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: stdout.into_text(),
        stderr: stderr
            .into_iter()
            .map(Captured::into_text)
            .collect::<Vec<_>>()
            .join(""),
        timed_out,
    })
}

fn spawn_stage(
    prepared: &Prepared,
    index: usize,
    stage: &RunStage,
    stdin: Stdio,
    group: i32,
) -> std::io::Result<Child> {
    if stage.argv.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    }
    let mut command: Command = prepared.command(index, stage)?;
    command
        .current_dir("/")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(group)
        .kill_on_drop(true)
        .spawn()
}

/// Kills the group when dropped: at the end of a run (stray background
/// processes), or when the caller stops waiting (the request was dropped).
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

/// SIGKILL to every process of the group (children and grandchildren that
/// did not leave it). A group that is already gone is not an error.
fn kill_group(group: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(group) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Waits for every child; returns the last one's status.
async fn reap(children: &mut [Child]) -> Option<ExitStatus> {
    let mut last = None;
    for child in children.iter_mut() {
        let _ = child.start_kill();
        last = child.wait().await.ok();
    }
    last
}

async fn drain(reader: JoinHandle<Captured>) -> Captured {
    let abort = reader.abort_handle();
    match tokio::time::timeout(DRAIN_AFTER_KILL, reader).await {
        Ok(Ok(captured)) => captured,
        _ => {
            abort.abort();
            Captured::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_working_directory_is_the_first_root_that_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let existing = dir.path().canonicalize().expect("canonical");
        let yaml = format!(
            "version: 1\npaths:\n  read: [/nonexistent-root-for-this-test, {}]\n",
            existing.display()
        );
        let policy = Policy::from_yaml(&yaml).expect("policy");
        assert_eq!(default_cwd(&policy), existing);
    }
}
