//! `ai-orchestrator policy ...` run as a real process: output and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn write_policy(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write policy");
    path.display().to_string()
}

#[test]
fn allowed_command_exits_0_with_the_decision() {
    let out = run(&[
        "policy",
        "check",
        "--command",
        "ls -la /var/log",
        "--cwd",
        "/var/log",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = json(&out);
    assert_eq!(d["allowed"], true);
    assert_eq!(d["argv"], serde_json::json!(["ls", "-la", "/var/log"]));
    assert!(d["rule"].as_str().unwrap_or_default().contains("(ls)"));
}

#[test]
fn denied_command_exits_1_with_the_reason() {
    for line in [
        "rm -rf /",
        "ls; id",
        "cat /etc/shadow",
        "sudo ls",
        "curl http://example.com",
    ] {
        let out = run(&["policy", "check", "--command", line, "--cwd", "/"]);
        assert_eq!(out.status.code(), Some(1), "{line}");
        let d = json(&out);
        assert_eq!(d["allowed"], false, "{line}");
        assert!(
            !d["reason"].as_str().unwrap_or_default().is_empty(),
            "{line}"
        );
    }
}

#[test]
fn path_checks_exit_0_or_1() {
    let out = run(&["policy", "check", "--read", "/var/log/syslog"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["access"], "read");
    let out = run(&["policy", "check", "--write", "/tmp/x"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the default policy has no write roots"
    );
    let out = run(&["policy", "check", "--read", "/etc/shadow"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_with_a_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let file = write_policy(
        &root,
        "policy.yaml",
        &format!(
            "version: 1\ncommands:\n  allow:\n    - program: git\n      subcommands: [{{name: status}}]\npaths:\n  write: [\"{}\"]\n",
            root.display()
        ),
    );
    let cwd = root.display().to_string();
    let ok = run(&[
        "policy",
        "check",
        "--policy",
        &file,
        "--command",
        "git status",
        "--cwd",
        &cwd,
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let no = run(&[
        "policy",
        "check",
        "--policy",
        &file,
        "--command",
        "git push",
        "--cwd",
        &cwd,
    ]);
    assert_eq!(no.status.code(), Some(1));
    let write = run(&[
        "policy",
        "check",
        "--policy",
        &file,
        "--write",
        &format!("{cwd}/new.txt"),
    ]);
    assert_eq!(write.status.code(), Some(0));
}

#[test]
fn invalid_policy_exits_2_with_one_error_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_policy(
        dir.path(),
        "bad.yaml",
        "version: 2\npaths:\n  read: [data]\n",
    );
    for args in [
        vec![
            "policy",
            "check",
            "--policy",
            file.as_str(),
            "--command",
            "ls",
        ],
        vec!["policy", "validate", file.as_str()],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(lines[0].ends_with("version: must be 1 (got 2)"), "{stderr}");
        assert!(
            lines[1].ends_with("paths.read[0]: `data` must be an absolute path"),
            "{stderr}"
        );
    }
    let unknown = write_policy(dir.path(), "unknown.yaml", "version: 1\ncommand: {}\n");
    let out = run(&["policy", "validate", &unknown]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `command`"));
    let missing = run(&["policy", "validate", "/nonexistent/policy.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn default_prints_a_policy_that_validates() {
    let out = run(&["policy", "default"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("version: 1"), "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_policy(dir.path(), "default.yaml", &text);
    let out = run(&["policy", "validate", &file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("valid: "), "{stdout}");
    assert!(stdout.contains("sha256 "), "{stdout}");
}

#[test]
fn check_needs_exactly_one_subject() {
    assert_eq!(run(&["policy", "check"]).status.code(), Some(2));
    assert_eq!(
        run(&["policy", "check", "--read", "/tmp", "--write", "/tmp"])
            .status
            .code(),
        Some(2)
    );
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every AccessPolicy manifest shipped in examples/ and the chart.
fn shipped_manifests() -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for dir in [
        "examples",
        "charts/ai-orchestrator/templates",
        "charts/ai-orchestrator/ci",
    ] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains("kind: AccessPolicy") && !text.contains("{{") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn validate_accepts_every_shipped_accesspolicy_manifest() {
    let files = shipped_manifests();
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let out = run(&["policy", "validate", &file.display().to_string()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(": accesspolicy/"), "{stdout}");
    }
}

const MANIFESTS: &str = r#"apiVersion: ai-orchestrator.io/v1alpha1
kind: AccessPolicy
metadata:
  name: good
spec:
  commands:
    allow: [{program: ls}, {program: make}]
  examples:
    allow: ["ls -la"]
---
apiVersion: ai-orchestrator.io/v1alpha1
kind: AccessPolicy
metadata:
  name: bad
spec:
  commands:
    allow: [{program: /usr/bin/curl}]
  apiKeys:
    - {name: ci, secretRef: {name: s, key: k}, scopes: []}
---
apiVersion: ai-orchestrator.io/v1alpha1
kind: AccessPolicy
metadata:
  name: typo
spec:
  comands: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-policy
"#;

#[test]
fn validate_reports_every_manifest_of_a_multi_document_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_policy(dir.path(), "policies.yaml", MANIFESTS);
    let out = run(&["policy", "validate", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(&format!(
            "valid: {file}: accesspolicy/good (2 programs allowed"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}: accesspolicy/bad: commands.allow[0].program"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("accesspolicy/bad: apiKeys[0].scopes: at least one scope is required"),
        "{stderr}"
    );
    assert!(
        stderr.contains("accesspolicy/typo: spec: unknown field `comands`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "accesspolicy/not-a-policy: not an AccessPolicy: apiVersion v1 kind ConfigMap"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("accesspolicy/good"), "{stderr}");
}

#[test]
fn validate_reads_stdin_and_check_uses_the_merge_of_the_manifests() {
    use std::io::Write;
    let good: String = MANIFESTS
        .split("---")
        .next()
        .unwrap_or_default()
        .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(["policy", "validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(good.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid: -: accesspolicy/good"));

    // check --policy with manifests judges by their merge.
    let dir = tempfile::tempdir().unwrap();
    let two = format!(
        "{good}---\napiVersion: ai-orchestrator.io/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: git}}\nspec:\n  commands:\n    allow: [{{program: git, subcommands: [{{name: status}}]}}]\n"
    );
    let file = write_policy(dir.path(), "two.yaml", &two);
    for (line, allowed) in [
        ("ls -la", 0),
        ("git status", 0),
        ("git push", 1),
        ("curl x", 1),
    ] {
        let out = run(&[
            "policy",
            "check",
            "--policy",
            &file,
            "--command",
            line,
            "--cwd",
            "/tmp",
        ]);
        assert_eq!(
            out.status.code(),
            Some(allowed),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // An invalid manifest makes the file unusable for check too.
    let bad = write_policy(dir.path(), "bad.yaml", MANIFESTS);
    let out = run(&["policy", "check", "--policy", &bad, "--command", "ls"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Runs the binary with stdout on a pipe whose reader is already gone, as `… | head -0` leaves it.
fn run_into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("the binary runs")
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_decisions_code() {
    for (args, code) in [
        (
            vec!["policy", "check", "--command", "ls", "--cwd", "/tmp"],
            0,
        ),
        (vec!["policy", "check", "--command", "cat /etc/shadow"], 1),
        (vec!["policy", "default"], 0),
    ] {
        let out = run_into_closed_pipe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn check_says_when_a_program_is_unprofiled_and_shows_what_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let file = write_policy(
        &root,
        "policy.yaml",
        &format!(
            "version: 1\ncommands:\n  allow:\n    - program: printf\n    - program: sed\npaths:\n  read: [\"{}\"]\n",
            root.display()
        ),
    );
    let cwd = root.display().to_string();
    let check = |line: &str| {
        run(&[
            "policy",
            "check",
            "--policy",
            &file,
            "--command",
            line,
            "--cwd",
            &cwd,
        ])
    };
    let out = check("printf hi");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`printf` has no program profile"),
        "{stderr}"
    );
    assert_eq!(json(&out)["unprofiled"], serde_json::json!(["printf"]));

    let out = check("sed -n 1p x");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
    let d = json(&out);
    assert_eq!(
        d["run"][0]["argv"],
        serde_json::json!(["sed", "--sandbox", "-n", "1p", "x"])
    );
    assert!(d.get("unprofiled").is_none());
    assert_eq!(check("sed 1e\\ id x").status.code(), Some(1));
}
