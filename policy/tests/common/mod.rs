//! A policy over a temporary directory tree, so path decisions meet real
//! files and symlinks.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use policy::Policy;

pub struct Fixture {
    _dir: tempfile::TempDir,
    /// Canonical temp root (`/tmp` may itself be a symlink).
    pub root: PathBuf,
    pub data: PathBuf,
    pub work: PathBuf,
    pub outside: PathBuf,
    pub policy: Policy,
}

impl Fixture {
    /// Replaces `{root}`, `{data}`, `{work}`, `{outside}` in a line.
    pub fn expand(&self, line: &str) -> String {
        line.replace("{root}", &self.root.display().to_string())
            .replace("{data}", &self.data.display().to_string())
            .replace("{work}", &self.work.display().to_string())
            .replace("{outside}", &self.outside.display().to_string())
    }

    pub fn path(&self, p: &str) -> PathBuf {
        PathBuf::from(self.expand(p))
    }
}

pub fn policy_yaml(root: &Path) -> String {
    let r = root.display();
    format!(
        r#"version: 1
commands:
  allow:
    - program: ls
    - program: cat
    - program: head
    - program: wc
    - program: grep
      recursiveFlags: ["-r", "-R", "--recursive"]
    - program: git
      subcommands:
        - name: status
        - name: log
        - name: diff
        - name: push
      denyArgs: ["--force", "--force-with-lease*", "-f"]
    - program: docker
      subcommands:
        - name: exec
          targets: [web, worker]
        - name: ps
    - program: systemctl
      subcommands:
        - name: restart
          targets: [nginx]
          everyArgIsTarget: true
        - name: status
    - program: rm
      writes: all
      recursiveFlags: ["-r", "-R", "--recursive"]
    - program: cp
      writes: last
      writeFlags: ["-t", "--target-directory"]
    - program: mv
      writes: last
    - program: touch
      writes: all
    - program: mkdir
      writes: all
    - program: tee
      writes: all
    - program: sed
      writeFlags: ["-i", "--in-place"]
    - program: find
      denyArgs: ["-exec*", "-ok*", "-delete", "-fprint*"]
    - program: python3
      allowInline: ["python3 -c 'print(1)'"]
    - program: bash
    - program: perl
    - program: node
    - program: wget
  deny: [wget]
  protectedPaths: ["/", "/etc", "/home", "/usr", "/var", "/root", "{r}/data"]
  maxRuntimeSeconds: 20
paths:
  read: ["{r}/data"]
  write: ["{r}/work"]
  deny: ["**/.env", "**/.ssh/**", "**/id_rsa*", "/etc/shadow", "/root/**"]
cors:
  allowedOrigins: ["https://app.example.com", "https://*.example.org", "http://localhost:5173"]
  allowCredentials: true
rateLimits:
  default: {{requests: 100, per: 1m}}
  routes:
    /api/chat: {{requests: 3, per: 10s}}
  trustedProxies: ["10.0.0.0/8", "192.168.1.1"]
examples:
  allow: ["git status", "ls -la {r}/data"]
  deny: ["git push --force", "cat /etc/shadow"]
"#
    )
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical tempdir");
    let data = root.join("data");
    let work = root.join("work");
    let outside = root.join("outside");
    for d in [
        &data,
        &work,
        &outside,
        &data.join("sub"),
        &root.join("database"),
    ] {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(data.join("a.txt"), "alpha\n").expect("write");
    fs::write(data.join(".env"), "SECRET=1\n").expect("write");
    fs::write(data.join("sub/notes.txt"), "notes\n").expect("write");
    fs::write(work.join("existing.txt"), "old\n").expect("write");
    fs::write(outside.join("secret.txt"), "secret\n").expect("write");
    fs::write(root.join("database/x.txt"), "x\n").expect("write");
    symlink("/etc", data.join("link-etc")).expect("symlink");
    symlink(outside.join("secret.txt"), data.join("link-secret")).expect("symlink");
    symlink(data.join("a.txt"), data.join("link-inside")).expect("symlink");
    symlink(&outside, work.join("link-out")).expect("symlink");
    symlink(root.join("nowhere"), work.join("dangling")).expect("symlink");
    let policy =
        Policy::from_yaml(&policy_yaml(&root)).unwrap_or_else(|e| panic!("fixture policy: {e}"));
    Fixture {
        _dir: dir,
        root,
        data,
        work,
        outside,
        policy,
    }
}
