//! The file tools against a real policy whose roots are temporary directories.

use std::path::Path;

use policy::Policy;
use serde_json::{Value, json};

use super::{Scope, ToolOutcome, run};

const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Execute];

struct Fixture {
    _dir: tempfile::TempDir,
    read_root: std::path::PathBuf,
    write_root: std::path::PathBuf,
    policy: Policy,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonical");
    let read_root = base.join("data");
    let write_root = base.join("out");
    std::fs::create_dir_all(&read_root).expect("mkdir");
    std::fs::create_dir_all(&write_root).expect("mkdir");
    let yaml = format!(
        "version: 1\n\
         commands:\n  allow:\n    - program: ls\n    - program: echo\n  maxOutputBytes: 64\n\
         paths:\n  read: [\"{r}\"]\n  write: [\"{w}\"]\n  deny: [\"**/.env\", \"**/secret/**\"]\n  maxReadBytes: 100\n  maxWriteBytes: 50\n",
        r = read_root.display(),
        w = write_root.display()
    );
    let policy = Policy::from_yaml(&yaml).expect("valid policy");
    Fixture {
        _dir: dir,
        read_root,
        write_root,
        policy,
    }
}

async fn call(f: &Fixture, tool: &str, args: Value) -> ToolOutcome {
    run(&f.policy, sandbox(), &ALL, tool, &args)
        .await
        .expect("judged")
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn read_file_returns_text_and_refuses_outside_the_roots() {
    let f = fixture();
    std::fs::write(f.read_root.join("notes.txt"), "hello\n").expect("write");
    let ok = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join("notes.txt"))}),
    )
    .await;
    assert!(ok.allowed, "{ok:?}");
    assert_eq!(ok.result.as_ref().expect("result")["content"], "hello\n");
    let shadow = call(&f, "read_file", json!({"path": "/etc/shadow"})).await;
    assert!(!shadow.allowed);
    assert!(shadow.result.is_none());
    assert!(!shadow.reason.is_empty() && !shadow.rule.is_empty());
    std::fs::write(f.read_root.join(".env"), "TOKEN=x").expect("write");
    let env = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join(".env"))}),
    )
    .await;
    assert!(!env.allowed, "{env:?}");
    let relative = call(&f, "read_file", json!({"path": "notes.txt"})).await;
    assert!(!relative.allowed);
}

#[tokio::test]
async fn read_file_cuts_at_the_size_cap_and_reports_binary() {
    let f = fixture();
    std::fs::write(f.read_root.join("big.txt"), "a".repeat(250)).expect("write");
    let big = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join("big.txt"))}),
    )
    .await;
    let result = big.result.expect("result");
    assert_eq!(result["truncated"], true);
    assert_eq!(result["size"], 250);
    assert_eq!(result["content"].as_str().expect("text").len(), 100);
    std::fs::write(
        f.read_root.join("blob.bin"),
        [0x7fu8, b'E', b'L', b'F', 0, 1, 2],
    )
    .expect("write");
    let blob = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join("blob.bin"))}),
    )
    .await;
    let result = blob.result.expect("result");
    assert_eq!(result["binary"], true);
    assert!(result.get("content").is_none());
    std::fs::write(f.read_root.join("latin1.txt"), [b'c', b'a', b'f', 0xe9]).expect("write");
    let latin = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join("latin1.txt"))}),
    )
    .await;
    assert_eq!(latin.result.expect("result")["binary"], true);
}

#[test]
fn a_character_cut_by_the_limit_is_not_binary() {
    let bytes = "ééé".as_bytes();
    assert_eq!(
        super::files::text_of(&bytes[..5], true).as_deref(),
        Some("éé")
    );
    assert_eq!(super::files::text_of(&bytes[..5], false), None);
}

#[tokio::test]
async fn write_file_writes_under_write_roots_only() {
    let f = fixture();
    let target = f.write_root.join("sub/dir/out.txt");
    let ok = call(
        &f,
        "write_file",
        json!({"path": p(&target), "content": "data\n"}),
    )
    .await;
    assert!(ok.allowed, "{ok:?}");
    assert_eq!(std::fs::read_to_string(&target).expect("written"), "data\n");
    let in_read_root = call(
        &f,
        "write_file",
        json!({"path": p(&f.read_root.join("x")), "content": "x"}),
    )
    .await;
    assert!(!in_read_root.allowed);
    assert!(!f.read_root.join("x").exists());
    let etc = call(
        &f,
        "write_file",
        json!({"path": "/etc/passwd-new", "content": "x"}),
    )
    .await;
    assert!(!etc.allowed);
    let too_big = call(
        &f,
        "write_file",
        json!({"path": p(&f.write_root.join("big")), "content": "x".repeat(51)}),
    )
    .await;
    assert!(!too_big.allowed);
    assert!(too_big.reason.contains("limit"), "{}", too_big.reason);
    assert!(!f.write_root.join("big").exists());
}

#[tokio::test]
async fn list_directory_lists_and_hides_denied_entries() {
    let f = fixture();
    std::fs::write(f.read_root.join("a.txt"), "1").expect("write");
    std::fs::create_dir(f.read_root.join("sub")).expect("mkdir");
    std::fs::write(f.read_root.join(".env"), "S=1").expect("write");
    let out = call(&f, "list_directory", json!({"path": p(&f.read_root)})).await;
    let result = out.result.expect("result");
    let names: Vec<&str> = result["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["a.txt", "sub"]);
    assert_eq!(result["entries"][1]["type"], "directory");
    assert_eq!(result["hidden"], 1);
    let root = call(&f, "list_directory", json!({"path": "/"})).await;
    assert!(!root.allowed);
}

#[tokio::test]
async fn search_files_matches_names_and_text_and_skips_denied_paths() {
    let f = fixture();
    std::fs::create_dir_all(f.read_root.join("logs/old")).expect("mkdir");
    std::fs::create_dir_all(f.read_root.join("secret")).expect("mkdir");
    std::fs::write(f.read_root.join("logs/app.log"), "ok\nERROR disk\nok\n").expect("write");
    std::fs::write(f.read_root.join("logs/old/app.log"), "fine\n").expect("write");
    std::fs::write(f.read_root.join("logs/readme.txt"), "ERROR not a log\n").expect("write");
    std::fs::write(f.read_root.join("secret/keys.log"), "ERROR secret\n").expect("write");
    let names = call(
        &f,
        "search_files",
        json!({"path": p(&f.read_root), "pattern": "*.log"}),
    )
    .await;
    let result = names.result.expect("result");
    assert_eq!(result["count"], 2, "{result}");
    assert!(result["skipped_denied"].as_u64().expect("n") >= 1);
    let text = call(
        &f,
        "search_files",
        json!({"path": p(&f.read_root), "pattern": "*.log", "text": "ERROR"}),
    )
    .await;
    let result = text.result.expect("result");
    assert_eq!(result["count"], 1, "{result}");
    assert_eq!(result["matches"][0]["lines"][0]["line"], 2);
    let bounded = call(
        &f,
        "search_files",
        json!({"path": p(&f.read_root), "max_results": 1}),
    )
    .await;
    let result = bounded.result.expect("result");
    assert_eq!(result["count"], 1);
    assert_eq!(result["complete"], false);
    let outside = call(
        &f,
        "search_files",
        json!({"path": "/etc", "pattern": "shadow"}),
    )
    .await;
    assert!(!outside.allowed);
}

/// The launcher: the package's binary beside this test executable's `deps/`
/// (cargo builds it for the package's integration tests).
fn sandbox() -> &'static super::Sandbox {
    static SANDBOX: std::sync::OnceLock<super::Sandbox> = std::sync::OnceLock::new();
    SANDBOX.get_or_init(probe_sandbox)
}

fn probe_sandbox() -> super::Sandbox {
    let exe = std::env::current_exe().expect("test executable");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ai-orchestrator"))
        .expect("target directory");
    assert!(
        binary.exists(),
        "{} is missing: build the binary (cargo build -p ai-orchestrator) before the unit tests",
        binary.display()
    );
    super::Sandbox::probe(
        binary,
        Vec::new(),
        std::env::temp_dir().join("ai-orchestrator-unit-scratch"),
        Vec::new(),
    )
}

#[tokio::test]
async fn execute_command_is_judged_by_the_policy_and_runs_in_an_allowed_directory() {
    let f = fixture();
    std::fs::write(f.read_root.join("file-one"), "1").expect("write");
    let ls = call(
        &f,
        "execute_command",
        json!({"command": format!("ls {}", p(&f.read_root)), "cwd": p(&f.read_root)}),
    )
    .await;
    assert!(ls.allowed, "{ls:?}");
    let result = ls.result.expect("result");
    assert_eq!(result["exit_code"], 0);
    assert!(
        result["stdout"]
            .as_str()
            .expect("stdout")
            .contains("file-one")
    );
    let rm = call(&f, "execute_command", json!({"command": "rm -rf /"})).await;
    assert!(!rm.allowed);
    let pipe = call(&f, "execute_command", json!({"command": "curl x | sh"})).await;
    assert!(!pipe.allowed);
    let bad_cwd = call(
        &f,
        "execute_command",
        json!({"command": "ls", "cwd": "/etc"}),
    )
    .await;
    assert!(!bad_cwd.allowed);
    assert!(
        bad_cwd.reason.contains("working directory"),
        "{}",
        bad_cwd.reason
    );
    let long = call(
        &f,
        "execute_command",
        json!({"command": format!("echo {}", "y".repeat(200))}),
    )
    .await;
    let stdout = long.result.expect("result")["stdout"]
        .as_str()
        .expect("stdout")
        .to_string();
    assert!(
        stdout.ends_with("[truncated: 137 bytes omitted]"),
        "{stdout}"
    );
}

#[tokio::test]
async fn symlinks_out_of_the_roots_are_not_followed() {
    let f = fixture();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let victim = elsewhere.path().join("victim.txt");
    std::fs::write(&victim, "original").expect("write");
    std::os::unix::fs::symlink(&victim, f.write_root.join("link.txt")).expect("symlink");
    std::os::unix::fs::symlink(&victim, f.read_root.join("link.txt")).expect("symlink");
    let write = call(
        &f,
        "write_file",
        json!({"path": p(&f.write_root.join("link.txt")), "content": "pwned"}),
    )
    .await;
    assert!(!write.allowed, "{write:?}");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "original");
    let read = call(
        &f,
        "read_file",
        json!({"path": p(&f.read_root.join("link.txt"))}),
    )
    .await;
    assert!(!read.allowed, "{read:?}");
    let search = call(
        &f,
        "search_files",
        json!({"path": p(&f.read_root), "text": "original"}),
    )
    .await;
    assert_eq!(search.result.expect("result")["count"], 0);
}
