//! Speed of the decisions the server makes on every tool call: whole
//! decisions (rules and path resolution), and the rules alone (parsing, the
//! program profile, argument rules; no file-system access).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use policy::{Access, Policy};

/// Allowed programs with profiles, reading under `/tmp`.
const PROFILED: &str = r#"version: 1
commands:
  allow:
    - program: sed
    - program: tar
    - program: git
      subcommands: [{name: status}, {name: log}, {name: diff}]
    - program: grep
      denyArgs: ["-r", "-R", "--recursive"]
paths:
  read: [/tmp]
  write: [/tmp]
  deny: ["**/.env", "**/.ssh/**"]
"#;

const DEFAULT_CASES: &[(&str, &str)] = &[
    ("grep -n error /var/log/syslog", "allowed"),
    ("git status", "not in allowlist"),
    ("ls; rm -rf /", "shell syntax"),
    ("tail -qf /var/log/syslog", "profile refuses a follow mode"),
];

const PROFILED_CASES: &[(&str, &str)] = &[
    ("sed -n 's/a/b/g;2d' /tmp/x.txt", "allowed, --sandbox added"),
    ("sed '1e id' /tmp/x.txt", "refused e command"),
    ("tar -tvf /tmp/t.tar", "allowed"),
    (
        "tar -c --checkpoint=1 --checkpoint-action=exec=id -f /tmp/t.tar /tmp/x",
        "refused checkpoint action",
    ),
    ("git -c core.pager=id log", "refused -c"),
    ("git log --oneline -n 5", "allowed, safety settings added"),
    ("grep --recur x /tmp", "refused abbreviation of --recursive"),
];

fn decisions(c: &mut Criterion) {
    let policy = Policy::default_policy();
    let cwd = Path::new("/tmp");
    for (line, what) in DEFAULT_CASES {
        c.bench_function(&format!("command: {line} ({what})"), |b| {
            b.iter(|| policy.check_command(black_box(line), black_box(cwd)))
        });
        c.bench_function(&format!("rules: {line} ({what})"), |b| {
            b.iter(|| policy.check_command_rules(black_box(line), black_box(cwd)))
        });
    }
    let profiled = match Policy::from_yaml(PROFILED) {
        Ok(p) => p,
        Err(e) => panic!("benchmark policy: {e}"),
    };
    for (line, what) in PROFILED_CASES {
        c.bench_function(&format!("command: {line} ({what})"), |b| {
            b.iter(|| profiled.check_command(black_box(line), black_box(cwd)))
        });
        c.bench_function(&format!("rules: {line} ({what})"), |b| {
            b.iter(|| profiled.check_command_rules(black_box(line), black_box(cwd)))
        });
    }
    c.bench_function("path: read /var/log/syslog", |b| {
        b.iter(|| policy.check_path(black_box(Path::new("/var/log/syslog")), Access::Read))
    });
    c.bench_function("path: read /data/../etc/shadow (denied)", |b| {
        b.iter(|| policy.check_path(black_box(Path::new("/data/../etc/shadow")), Access::Read))
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
