//! `read_file`, `write_file` and `list_directory`. The decision comes first
//! (so the audit row names its rule); the I/O goes through the policy crate's
//! `confined_fs`, which re-checks at the moment of opening.

use std::io::Read;
use std::path::Path;

use super::confined_fs::{self as safe_write, SafeWriteError};
use policy::{Access, PathDecision, Policy};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolOutcome;

/// Entries `list_directory` returns at most.
const MAX_ENTRIES: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct PathArgs {
    pub path: String,
}

#[derive(Debug, Deserialize)]
pub struct WriteArgs {
    pub path: String,
    pub content: String,
}

/// The policy's decision on an absolute path, or the refusal to report.
pub(super) fn judge(
    policy: &Policy,
    path: &str,
    access: Access,
) -> Result<PathDecision, Box<ToolOutcome>> {
    if !Path::new(path).is_absolute() {
        return Err(Box::new(ToolOutcome::refused(
            "path",
            "the path must be absolute",
            path,
        )));
    }
    let decision = policy.check_path(Path::new(path), access);
    if decision.allowed {
        Ok(decision)
    } else if decision.rule == "paths.read" || decision.rule == "paths.write" {
        // Outside every root: say which directories would have been allowed.
        let reason = format!(
            "{}; {} directories: {}",
            decision.reason,
            match access {
                Access::Read => "readable",
                Access::Write => "writable",
            },
            roots_text(policy, access)
        );
        Err(Box::new(ToolOutcome::refused(decision.rule, reason, path)))
    } else {
        Err(Box::new(ToolOutcome::refused(
            decision.rule,
            decision.reason,
            path,
        )))
    }
}

/// The roots that allow `access` (write roots are readable too), for messages.
pub(super) fn roots_text(policy: &Policy, access: Access) -> String {
    let paths = &policy.document().paths;
    let roots: Vec<&str> = match access {
        Access::Read => paths
            .read
            .iter()
            .chain(paths.write.iter())
            .map(String::as_str)
            .collect(),
        Access::Write => paths.write.iter().map(String::as_str).collect(),
    };
    if roots.is_empty() {
        "none".into()
    } else {
        roots.join(", ")
    }
}

/// An allowed call that failed on `path`: the message names the path and the system's error text.
fn failed(
    rule: String,
    reason: String,
    path: &str,
    what: &str,
    error: impl std::fmt::Display,
) -> ToolOutcome {
    ToolOutcome::failed(
        rule,
        reason,
        path,
        format!("{what} `{path}`: {error}"),
        Some(path),
    )
}

/// A refusal at the moment of access (the path changed since the decision,
/// or a limit) is a refusal; anything else is a failure of an allowed call.
fn safe_failure(rule: String, reason: String, target: &str, error: SafeWriteError) -> ToolOutcome {
    match error {
        SafeWriteError::Denied { rule, reason } => ToolOutcome::refused(rule, reason, target),
        SafeWriteError::TooLarge { .. } => {
            ToolOutcome::refused("paths.maxWriteBytes", error.to_string(), target)
        }
        SafeWriteError::Symlink(_) => ToolOutcome::refused("symlink", error.to_string(), target),
        // These name the path they concern already.
        other => ToolOutcome::failed(rule, reason, target, other.to_string(), Some(target)),
    }
}

/// The system's error text without Rust's `(os error N)` suffix.
pub(super) fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

pub fn read_file(policy: &Policy, args: PathArgs) -> ToolOutcome {
    let decision = match judge(policy, &args.path, Access::Read) {
        Ok(decision) => decision,
        Err(refused) => return *refused,
    };
    let path = Path::new(&args.path);
    let (file, resolved) = match safe_write::open_read(policy, path) {
        Ok(opened) => opened,
        Err(e) => return safe_failure(decision.rule, decision.reason, &args.path, e),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return failed(
            decision.rule,
            decision.reason,
            &args.path,
            "cannot read",
            "it is a directory; use list_directory",
        );
    }
    let cap = policy.max_read_bytes();
    let mut bytes = Vec::new();
    if let Err(e) = file.take(cap.saturating_add(1)).read_to_end(&mut bytes) {
        return failed(
            decision.rule,
            decision.reason,
            &args.path,
            "cannot read",
            io_text(&e),
        );
    }
    let truncated = bytes.len() as u64 > cap;
    bytes.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    let result = match text_of(&bytes, truncated) {
        Some(content) => json!({
            "path": resolved, "size": size, "content": content, "truncated": truncated,
        }),
        None => json!({"path": resolved, "size": size, "binary": true}),
    };
    ToolOutcome::ran(decision.rule, decision.reason, args.path, result)
}

/// The bytes as text, or None for binary data (a NUL byte or invalid UTF-8;
/// a character cut by the size limit does not count as invalid).
pub(super) fn text_of(bytes: &[u8], cut: bool) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_string()),
        Err(e) if cut && e.error_len().is_none() => {
            Some(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned())
        }
        Err(_) => None,
    }
}

pub fn write_file(policy: &Policy, args: WriteArgs) -> ToolOutcome {
    let decision = match judge(policy, &args.path, Access::Write) {
        Ok(decision) => decision,
        Err(refused) => return *refused,
    };
    let path = Path::new(&args.path);
    let limit = policy.max_write_bytes();
    if args.content.len() as u64 > limit {
        return ToolOutcome::refused(
            "paths.maxWriteBytes",
            format!(
                "content is {} bytes, more than the limit of {limit}",
                args.content.len()
            ),
            args.path,
        );
    }
    match safe_write::write_atomic(policy, path, args.content.as_bytes()) {
        Ok(written) => ToolOutcome::ran(
            decision.rule,
            decision.reason,
            args.path,
            json!({"path": written, "bytes_written": args.content.len()}),
        ),
        Err(e) => safe_failure(decision.rule, decision.reason, &args.path, e),
    }
}

pub fn list_directory(policy: &Policy, args: PathArgs) -> ToolOutcome {
    let decision = match judge(policy, &args.path, Access::Read) {
        Ok(decision) => decision,
        Err(refused) => return *refused,
    };
    let reader = match std::fs::read_dir(&decision.resolved) {
        Ok(reader) => reader,
        Err(e) => {
            return failed(
                decision.rule,
                decision.reason,
                &args.path,
                "cannot list",
                io_text(&e),
            );
        }
    };
    let mut entries: Vec<Value> = Vec::new();
    let mut hidden = 0usize;
    let mut truncated = false;
    for entry in reader.flatten() {
        if entries.len() >= MAX_ENTRIES {
            truncated = true;
            break;
        }
        let full = entry.path();
        // Entries the policy would refuse to read are not shown.
        if !policy.check_path(&full, Access::Read).allowed {
            hidden += 1;
            continue;
        }
        let meta = entry.metadata().ok();
        let kind = match entry.file_type() {
            Ok(t) if t.is_symlink() => "symlink",
            Ok(t) if t.is_dir() => "directory",
            Ok(t) if t.is_file() => "file",
            _ => "other",
        };
        entries.push(json!({
            "name": entry.file_name().to_string_lossy(),
            "type": kind,
            "size": meta.map(|m| m.len()).unwrap_or(0),
        }));
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let result = json!({
        "path": decision.resolved,
        "entries": entries,
        "count": entries.len(),
        "hidden": hidden,
        "truncated": truncated,
    });
    ToolOutcome::ran(decision.rule, decision.reason, args.path, result)
}
