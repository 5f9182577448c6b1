//! Speed of the decisions the server makes on every tool call.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use policy::{Access, Policy};

fn decisions(c: &mut Criterion) {
    let policy = Policy::default_policy();
    let cwd = Path::new("/tmp");
    c.bench_function("command: grep -n error /var/log/syslog (allowed)", |b| {
        b.iter(|| policy.check_command(black_box("grep -n error /var/log/syslog"), black_box(cwd)))
    });
    c.bench_function("command: git status (not in allowlist)", |b| {
        b.iter(|| policy.check_command(black_box("git status"), black_box(cwd)))
    });
    c.bench_function("command: ls; rm -rf / (shell syntax)", |b| {
        b.iter(|| policy.check_command(black_box("ls; rm -rf /"), black_box(cwd)))
    });
    c.bench_function("path: read /var/log/syslog", |b| {
        b.iter(|| policy.check_path(black_box(Path::new("/var/log/syslog")), Access::Read))
    });
    c.bench_function("path: read /data/../etc/shadow (denied)", |b| {
        b.iter(|| policy.check_path(black_box(Path::new("/data/../etc/shadow")), Access::Read))
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
