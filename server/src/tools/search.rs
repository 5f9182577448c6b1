//! `search_files`: a bounded walk under an allowed directory. Symlinks are
//! not followed, denied paths are skipped (and their subtrees not entered),
//! and the walk stops at fixed budgets of entries, bytes and results.

use std::io::Read;

use policy::{Access, Policy};

use super::confined_fs as safe_write;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolOutcome;
use super::files::{judge, text_of};
use super::glob;

/// Directory entries looked at, at most.
const MAX_VISITED: usize = 20_000;
/// File bytes read for a text search, at most, in total.
const MAX_SCANNED_BYTES: u64 = 32 * 1024 * 1024;
/// Matching lines reported per file.
const LINES_PER_FILE: usize = 5;
const DEFAULT_RESULTS: usize = 50;
const MAX_RESULTS: usize = 200;

#[derive(Debug, Deserialize)]
pub struct SearchArgs {
    pub path: String,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub max_results: Option<usize>,
}

pub fn search_files(policy: &Policy, args: SearchArgs) -> ToolOutcome {
    let decision = match judge(policy, &args.path, Access::Read) {
        Ok(decision) => decision,
        Err(refused) => return *refused,
    };
    if let Err(e) = std::fs::read_dir(&decision.resolved) {
        let error = format!(
            "cannot search `{}`: {}",
            args.path,
            super::files::io_text(&e)
        );
        return ToolOutcome::failed(
            decision.rule,
            decision.reason,
            args.path.clone(),
            error,
            Some(&args.path),
        );
    }
    let pattern = args
        .pattern
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("*");
    let glob = glob::NameGlob::new(pattern);
    let text = args.text.as_deref().filter(|t| !t.is_empty());
    let limit = args
        .max_results
        .unwrap_or(DEFAULT_RESULTS)
        .clamp(1, MAX_RESULTS);
    let per_file_cap = policy.max_read_bytes();

    let mut matches: Vec<Value> = Vec::new();
    let mut stack = vec![decision.resolved.clone()];
    let (mut visited, mut scanned_bytes, mut skipped) = (0usize, 0u64, 0usize);
    let mut complete = true;
    'walk: while let Some(dir) = stack.pop() {
        let Ok(reader) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = reader.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            visited += 1;
            if visited > MAX_VISITED || matches.len() >= limit || scanned_bytes >= MAX_SCANNED_BYTES
            {
                complete = false;
                break 'walk;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                continue;
            }
            if !policy.check_path(&path, Access::Read).allowed {
                skipped += 1;
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() || !glob.is_match(&entry.file_name().to_string_lossy()) {
                continue;
            }
            match text {
                None => matches.push(json!({"path": path})),
                Some(needle) => {
                    let Ok((file, _)) = safe_write::open_read(policy, &path) else {
                        continue;
                    };
                    let budget = per_file_cap.min(MAX_SCANNED_BYTES - scanned_bytes);
                    let mut bytes = Vec::new();
                    if file.take(budget).read_to_end(&mut bytes).is_err() {
                        continue;
                    }
                    scanned_bytes += bytes.len() as u64;
                    let Some(content) = text_of(&bytes, true) else {
                        continue;
                    };
                    let lines: Vec<Value> = content
                        .lines()
                        .enumerate()
                        .filter(|(_, line)| line.contains(needle))
                        .take(LINES_PER_FILE)
                        .map(|(n, line)| json!({"line": n + 1, "text": cut_line(line)}))
                        .collect();
                    if !lines.is_empty() {
                        matches.push(json!({"path": path, "lines": lines}));
                    }
                }
            }
        }
    }
    let result = json!({
        "path": decision.resolved,
        "pattern": pattern,
        "matches": matches,
        "count": matches.len(),
        "skipped_denied": skipped,
        "complete": complete,
    });
    ToolOutcome::ran(decision.rule, decision.reason, args.path, result)
}

/// Long lines (minified files) are cut so one match cannot flood the answer.
fn cut_line(line: &str) -> String {
    const MAX: usize = 300;
    if line.len() <= MAX {
        return line.to_string();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}
