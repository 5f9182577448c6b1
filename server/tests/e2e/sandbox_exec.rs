//! The launcher on its own: every stage runs through `sandbox-exec` of the
//! built binary, argv without a shell, pipelines, exit codes, output caps,
//! timeouts and background processes killed with the group.

use std::path::Path;
use std::time::Duration;

use ai_orchestrator::tools::{CommandOutput, Sandbox, run_stages};
use policy::Policy;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn sandbox(dir: &Path, simulate: &[&str]) -> Sandbox {
    launched_by(env!("CARGO_BIN_EXE_ai-orchestrator-sandbox"), dir, simulate)
}

/// The same confinement run by `exe`: the launcher binary, or the server's
/// own `sandbox-exec`.
fn launched_by(exe: &str, dir: &Path, simulate: &[&str]) -> Sandbox {
    Sandbox::probe(
        exe.into(),
        simulate.iter().map(|s| s.to_string()).collect(),
        dir.join("scratch"),
        Vec::new(),
    )
}

/// Runs `stages` with `dir/work` writable, the way `execute_command` does.
async fn run(dir: &Path, stages: &[Vec<String>], timeout: Duration, cap: u64) -> CommandOutput {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let work = work.canonicalize().expect("canonical");
    let yaml = format!("version: 1\npaths:\n  write: [{}]\n", work.display());
    let policy = Policy::from_yaml(&yaml).expect("policy");
    let prepared = sandbox(dir, &[])
        .prepare(&policy, &work, timeout)
        .expect("prepared");
    let stages: Vec<policy::RunStage> = stages
        .iter()
        .map(|argv| policy::RunStage {
            argv: argv.clone(),
            env: Default::default(),
        })
        .collect();
    run_stages(&prepared, &stages, timeout, cap)
        .await
        .expect("ran")
}

#[test]
fn the_probe_finds_landlock_and_namespaces_on_this_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The launcher binary and the server's own `sandbox-exec` alike.
    for exe in [
        env!("CARGO_BIN_EXE_ai-orchestrator-sandbox"),
        env!("CARGO_BIN_EXE_ai-orchestrator"),
    ] {
        let found = launched_by(exe, dir.path(), &[]).available().clone();
        assert!(
            found.landlock_abi.is_some_and(|abi| abi >= 4),
            "{exe}: {found:?}"
        );
        assert!(found.namespaces, "{exe}: {found:?}");
        assert!(found.network_denied, "{exe}: {found:?}");
        let simulated = launched_by(exe, dir.path(), &["landlock", "namespaces"])
            .available()
            .clone();
        assert_eq!(simulated.landlock_abi, None, "{exe}: {simulated:?}");
        assert!(!simulated.namespaces, "{exe}: {simulated:?}");
    }
}

#[tokio::test]
async fn runs_argv_without_a_shell_and_with_a_minimal_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `$HOME` and `;` reach the program literally: nothing expands them.
    let out = run(
        dir.path(),
        &[argv(&["echo", "$HOME;", "x"])],
        Duration::from_secs(10),
        1024,
    )
    .await;
    assert_eq!(out.stdout, "$HOME; x\n", "{}", out.stderr);
    assert_eq!(out.exit_code, Some(0));
    let env = run(dir.path(), &[argv(&["env"])], Duration::from_secs(10), 4096).await;
    let mut names: Vec<&str> = env
        .stdout
        .lines()
        .filter_map(|l| l.split('=').next())
        // The policy's default allowlist passes these on when the caller has them.
        .filter(|name| !policy::DEFAULT_SANDBOX_ENV.contains(name) || *name == "LANG")
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_NOSYSTEM",
            "HOME",
            "LANG",
            "PATH",
            "PYTHONNOUSERSITE"
        ],
        "{}",
        env.stdout
    );
    // HOME is a scratch directory outside the roots, gone after the command.
    let home = env
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .expect("HOME")
        .to_string();
    assert!(home.starts_with(&dir.path().join("scratch").display().to_string()));
    assert!(!Path::new(&home).exists(), "{home} was not removed");
}

#[tokio::test]
async fn pipeline_stages_are_connected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[
            argv(&["printf", "b\\na\\nc\\n"]),
            argv(&["sort"]),
            argv(&["head", "-n", "2"]),
        ],
        Duration::from_secs(10),
        1024,
    )
    .await;
    assert_eq!(out.stdout, "a\nb\n", "{}", out.stderr);
}

#[tokio::test]
async fn exit_code_and_stderr_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[argv(&["ls", "/no/such/path"])],
        Duration::from_secs(10),
        1024,
    )
    .await;
    assert_ne!(out.exit_code, Some(0));
    assert!(out.stderr.contains("No such file"), "{}", out.stderr);
    assert!(!out.timed_out);
}

#[tokio::test]
async fn output_over_the_cap_is_cut_and_marked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[argv(&["seq", "1", "100000"])],
        Duration::from_secs(10),
        1000,
    )
    .await;
    assert!(out.stdout.starts_with("1\n2\n3\n"));
    let full_len: usize = (1..=100000).map(|n: u32| n.to_string().len() + 1).sum();
    assert!(
        out.stdout
            .ends_with(&format!("[truncated: {} bytes omitted]", full_len - 1000)),
        "{}",
        &out.stdout[900..]
    );
}

/// Host pids whose command line is exactly `words` (the command's own pids
/// are those of its PID namespace, so they cannot be used from here).
fn host_pids_running(words: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"])
        .flatten()
        .copied()
        .collect();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            !stat.contains(") Z ")
                && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted)
        })
        .collect()
}

/// Whether no live process runs `words` within a few seconds (SIGKILL is asynchronous).
async fn none_running(words: &[&str]) -> bool {
    for _ in 0..100 {
        if host_pids_running(words).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_timeout_kills_the_group_including_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The shell forks a background child, then waits.
    let sleeper = ["sleep", "31.4159"];
    let out = run(
        dir.path(),
        &[argv(&["sh", "-c", "sleep 31.4159 & wait"])],
        Duration::from_millis(800),
        1024,
    )
    .await;
    assert!(out.timed_out);
    assert_eq!(out.signal, Some(9));
    assert!(
        none_running(&sleeper).await,
        "the background child survived the timeout"
    );
}

#[tokio::test]
async fn background_processes_that_outlive_the_command_are_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sleeper = ["sleep", "32.7183"];
    // The child detaches its output and is not waited for: the command itself ends at once.
    let out = run(
        dir.path(),
        &[argv(&["sh", "-c", "sleep 32.7183 >/dev/null 2>&1 &"])],
        Duration::from_secs(20),
        1024,
    )
    .await;
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);
    assert!(
        none_running(&sleeper).await,
        "a background process survived the command"
    );
}

#[tokio::test]
async fn a_program_that_does_not_exist_exits_127_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[argv(&["no-such-program-xyz"])],
        Duration::from_secs(5),
        1024,
    )
    .await;
    assert_eq!(out.exit_code, Some(127));
    assert!(out.stderr.contains("no-such-program-xyz"), "{}", out.stderr);
}

#[tokio::test]
async fn writes_stay_inside_the_write_roots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside.txt");
    let script = format!("echo x > {}", outside.display());
    let out = run(
        dir.path(),
        &[argv(&["sh", "-c", &script])],
        Duration::from_secs(5),
        1024,
    )
    .await;
    assert_ne!(out.exit_code, Some(0));
    assert!(!outside.exists(), "a write outside the roots happened");
    let inside = run(
        dir.path(),
        &[argv(&["sh", "-c", "echo x > inside.txt"])],
        Duration::from_secs(5),
        1024,
    )
    .await;
    assert_eq!(inside.exit_code, Some(0), "{}", inside.stderr);
    assert!(dir.path().join("work/inside.txt").exists());
}
