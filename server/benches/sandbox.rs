//! What confinement costs per command: `true` and `ls` spawned directly (as
//! before the launcher) and through the launcher `ai-orchestrator-sandbox`
//! (Landlock + namespaces, and Landlock alone) and the server binary's own
//! `sandbox-exec` (both layers), median and p99 over many runs.
//!
//! `cargo bench -p ai-orchestrator --bench sandbox`

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ai_orchestrator::tools::{Sandbox, run_stages};
use policy::Policy;

const RUNS: usize = 300;

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(samples[samples.len() / 2]);
    let p99 = ms(samples[(samples.len() * 99 / 100).min(samples.len() - 1)]);
    (median, p99)
}

async fn direct(argv: &[String], cwd: &Path) -> Duration {
    let start = Instant::now();
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .output()
        .await
        .expect("spawn");
    assert!(out.status.success());
    start.elapsed()
}

async fn confined(sandbox: &Sandbox, policy: &Policy, argv: &[String], cwd: &Path) -> Duration {
    let start = Instant::now();
    let runtime = Duration::from_secs(30);
    let prepared = sandbox.prepare(policy, cwd, runtime).expect("prepared");
    let out = run_stages(
        &prepared,
        &[policy::RunStage {
            argv: argv.to_vec(),
            env: Default::default(),
        }],
        runtime,
        1 << 20,
    )
    .await
    .expect("ran");
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);
    drop(prepared);
    start.elapsed()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    for i in 0..20 {
        std::fs::write(work.join(format!("file-{i}.txt")), "x").expect("write");
    }
    let work = work.canonicalize().expect("canonical");
    let yaml = format!(
        "version: 1\npaths:\n  read: [{}]\n  deny: [\"**/.env\", \"**/.ssh/**\"]\n",
        work.display()
    );
    let policy = Policy::from_yaml(&yaml).expect("policy");
    let exe = env!("CARGO_BIN_EXE_ai-orchestrator-sandbox");
    let full = Sandbox::probe(
        exe.into(),
        Vec::new(),
        dir.path().join("scratch"),
        Vec::new(),
    );
    let landlock_only = Sandbox::probe(
        exe.into(),
        vec!["namespaces".into()],
        dir.path().join("scratch"),
        Vec::new(),
    );
    // The server's own binary as the launcher (`sandbox-exec`), where the
    // small one is not installed.
    let server_exe = Sandbox::probe(
        env!("CARGO_BIN_EXE_ai-orchestrator").into(),
        Vec::new(),
        dir.path().join("scratch"),
        Vec::new(),
    );
    println!("layers: {:?}", full.available());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for argv in [vec!["true".to_string()], vec!["ls".to_string(), "-la".to_string()]] {
            let name = argv.join(" ");
            let mut plain = Vec::with_capacity(RUNS);
            let mut ns = Vec::with_capacity(RUNS);
            let mut ll = Vec::with_capacity(RUNS);
            let mut big = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                plain.push(direct(&argv, &work).await);
                ns.push(confined(&full, &policy, &argv, &work).await);
                ll.push(confined(&landlock_only, &policy, &argv, &work).await);
                big.push(confined(&server_exe, &policy, &argv, &work).await);
            }
            let (pm, p99) = stats(plain);
            let (nm, n99) = stats(ns);
            let (lm, l99) = stats(ll);
            let (bm, b99) = stats(big);
            println!("{name:>8} unconfined                 median {pm:6.2} ms  p99 {p99:6.2} ms");
            println!(
                "{name:>8} landlock + namespaces      median {nm:6.2} ms  p99 {n99:6.2} ms  (+{:.2} ms median)",
                nm - pm
            );
            println!(
                "{name:>8} landlock only              median {lm:6.2} ms  p99 {l99:6.2} ms  (+{:.2} ms median)",
                lm - pm
            );
            println!(
                "{name:>8} both, by the server binary median {bm:6.2} ms  p99 {b99:6.2} ms  (+{:.2} ms median)",
                bm - pm
            );
        }
    });
}
