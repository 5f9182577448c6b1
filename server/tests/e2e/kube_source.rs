//! The Kubernetes API source against kube-rs's mocked API (tower-test): a
//! watched ConfigMap change comes into force, a malformed one is refused
//! with the last good kept, failures are retried until the API recovers,
//! and a server without permission keeps its files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::fake_kube;
use std::path::Path;
use std::time::Duration;

use ai_orchestrator::config::PolicySource;
use ai_orchestrator::config::{KubernetesSource, ServeArgs, Settings};
use ai_orchestrator::state::AppState;
use fake_kube::{FakeKube, Kind};

const CONFIGMAP: &str = "o-policy";
const SECRET: &str = "o-auth";

fn policy(programs: &[&str]) -> String {
    let mut text = String::from("version: 1\ncommands:\n  allow:\n");
    for program in programs {
        text.push_str(&format!("    - program: {program}\n"));
    }
    text
}

fn source() -> KubernetesSource {
    KubernetesSource {
        namespace: Some("default".into()),
        configmap: CONFIGMAP.into(),
        secret: SECRET.into(),
    }
}

/// A server state built from `policy.yaml` files in a temp dir, as `serve` builds it.
async fn state(dir: &Path, file_policy: &str) -> AppState {
    let (config, secrets, data) = (dir.join("config"), dir.join("secrets"), dir.join("data"));
    for d in [&config, &secrets, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(config.join("policy.yaml"), file_policy).unwrap();
    let args = ServeArgs {
        config_dir: Some(config),
        secrets_dir: Some(secrets),
        data_dir: Some(data),
        ..ServeArgs::default()
    };
    let env = [
        (
            "AI_JWT_SECRET_KEY",
            "kube-source-tests-jwt-secret-0123456789",
        ),
        ("AI_ADMIN_PASSWORD", "kube-source-tests-admin-1"),
        ("AI_CONFIG_SOURCE", "kubernetes"),
        ("AI_POLICY_CONFIGMAP", CONFIGMAP),
        ("AI_AUTH_SECRET", SECRET),
        ("AI_POD_NAMESPACE", "default"),
    ];
    let settings = Settings::from_sources(&args, |name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    assert_eq!(settings.kubernetes, Some(source()));
    ai_orchestrator::build_state(settings).await.unwrap()
}

fn allows(state: &AppState, line: &str) -> bool {
    state
        .snapshot()
        .policy
        .check_command(line, Path::new("/tmp"))
        .allowed
}

/// Waits (bounded) until `done` holds; the test fails with `what` otherwise.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Files allowing `echo`, and an API server whose ConfigMap allows
/// `configmap_programs` and whose Secret is empty.
async fn setup(configmap_programs: &[&str]) -> (tempfile::TempDir, AppState, FakeKube) {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), &policy(&["echo"])).await;
    let fake = FakeKube::new();
    fake.put_configmap(CONFIGMAP, &policy(configmap_programs));
    fake.put_secret(SECRET, &[]);
    (dir, state, fake)
}

/// What the kubelet does when the mounted ConfigMap changes.
fn write_file_policy(dir: &Path, programs: &[&str]) {
    std::fs::write(dir.join("config/policy.yaml"), policy(programs)).unwrap();
}

fn start(state: &AppState, fake: &FakeKube) -> tokio::task::JoinHandle<()> {
    let _watcher = ai_orchestrator::config::watch::spawn_watchers(state.clone());
    let (state, client) = (state.clone(), fake.mock_client());
    tokio::spawn(ai_orchestrator::config::kube_source::follow(
        state,
        client,
        source(),
    ))
}

#[tokio::test]
async fn a_watched_configmap_change_comes_into_force() {
    let (dir, state, fake) = setup(&["echo"]).await;
    let task = start(&state, &fake);

    // The same policy as the files: in sync, and nothing changes.
    until("the API source is in sync", || {
        state.reload_status().api_active
    })
    .await;
    assert_eq!(state.snapshot().generation, 1);
    assert!(state.reload_status().last_sync_at.is_some());

    // A new ConfigMap arrives on the watch.
    until("the watch is open", || {
        fake.open_watches(Kind::ConfigMap) > 0
    })
    .await;
    assert!(!allows(&state, "date"));
    fake.put_configmap(CONFIGMAP, &policy(&["echo", "date"]));
    until("generation 2", || state.snapshot().generation == 2).await;
    assert!(allows(&state, "date"));
    assert!(allows(&state, "echo hi"));
    assert_eq!(state.snapshot().policy_source, PolicySource::Kubernetes);

    // The kubelet catches up with the same content: no new generation.
    write_file_policy(dir.path(), &["echo", "date"]);
    assert!(!ai_orchestrator::config::reload::reload(&state, "test").await);
    // The stale files shown again by an unrelated file event do not undo it.
    assert_eq!(state.snapshot().generation, 2);
    assert!(allows(&state, "date"));
    task.abort();
}

#[tokio::test]
async fn stale_files_never_undo_a_newer_api_change() {
    let (dir, state, fake) = setup(&["echo", "date"]).await;
    let task = start(&state, &fake);
    until("generation 2 from the API", || {
        state.snapshot().generation == 2
    })
    .await;
    // A file event while the mount still shows the old policy: ignored.
    assert!(!ai_orchestrator::config::reload::reload(&state, "file change").await);
    assert_eq!(state.snapshot().generation, 2);
    assert!(allows(&state, "date"));
    // A real change of the files still applies (files are the fallback).
    write_file_policy(dir.path(), &["echo", "uname"]);
    assert!(ai_orchestrator::config::reload::reload(&state, "file change").await);
    assert_eq!(state.snapshot().generation, 3);
    assert!(allows(&state, "uname") && !allows(&state, "date"));
    task.abort();
}

#[tokio::test]
async fn a_malformed_configmap_is_refused_and_the_last_good_stays() {
    let (_dir, state, fake) = setup(&["echo", "date"]).await;
    let task = start(&state, &fake);
    until("generation 2", || state.snapshot().generation == 2).await;
    until("the watch is open", || {
        fake.open_watches(Kind::ConfigMap) > 0
    })
    .await;

    fake.put_configmap(
        CONFIGMAP,
        "version: 1\ncommands:\n  allow:\n    - progrm: rm\n",
    );
    until("the refusal is recorded", || {
        state.reload_status().last_error.is_some()
    })
    .await;
    let status = state.reload_status();
    let error = status.last_error.unwrap();
    assert!(
        error.contains("ConfigMap default/o-policy key policy.yaml is invalid"),
        "{error}"
    );
    assert_eq!(status.failures, 1);
    assert_eq!(state.snapshot().generation, 2);
    assert!(
        allows(&state, "date"),
        "the last good policy stays in force"
    );
    assert!(
        state
            .metrics
            .encode()
            .contains("ai_orchestrator_policy_reload_failures_total 1")
    );

    // Reverting to the policy in force clears the error without a new generation.
    fake.put_configmap(CONFIGMAP, &policy(&["echo", "date"]));
    until("the error is cleared", || {
        state.reload_status().last_error.is_none()
    })
    .await;
    assert_eq!(state.snapshot().generation, 2);

    // A different good one applies.
    fake.put_configmap(CONFIGMAP, &policy(&["uname"]));
    until("generation 3", || state.snapshot().generation == 3).await;
    assert!(allows(&state, "uname") && !allows(&state, "date"));
    assert_eq!(state.reload_status().last_error, None);
    task.abort();
}

#[tokio::test]
async fn failures_are_retried_until_the_api_recovers() {
    let (_dir, state, fake) = setup(&["echo", "date"]).await;
    // The API answers 503 twice before it works.
    fake.fail_next(Kind::ConfigMap, 503, 2);
    let task = start(&state, &fake);
    until("generation 2 after the retries", || {
        state.snapshot().generation == 2 && state.reload_status().api_active
    })
    .await;
    let status = state.reload_status();
    assert!(status.sync_errors >= 2, "{status:?}");
    assert!(status.api_active);
    assert_eq!(status.last_sync_error, None);
    assert!(allows(&state, "date"));
    assert!(
        state
            .metrics
            .encode()
            .contains("ai_orchestrator_policy_sync_errors_total{reason=\"api\"} 2")
    );

    // An expired watch (410) forces a relist; a change made meanwhile is picked up.
    until("the watch is open", || {
        fake.open_watches(Kind::ConfigMap) > 0
    })
    .await;
    fake.expire_watches();
    fake.put_configmap(CONFIGMAP, &policy(&["uname"]));
    until("generation 3 after the relist", || {
        state.snapshot().generation == 3
    })
    .await;
    assert!(allows(&state, "uname"));
    assert!(state.metrics.encode().contains("reason=\"expired\""));
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.contains("/configmaps?") && !r.contains("watch=true"))
        .count();
    assert!(
        lists >= 4,
        "two failed lists, the first good one, and the relist: {:?}",
        fake.requests()
    );
    task.abort();
}

#[tokio::test]
async fn without_permission_the_files_stay_the_source() {
    let (dir, state, fake) = setup(&["date"]).await;
    fake.fail_next(Kind::ConfigMap, 403, 1000);
    fake.fail_next(Kind::Secret, 403, 1000);
    let task = start(&state, &fake);
    until("the refusals are counted", || {
        state.reload_status().sync_errors >= 2
    })
    .await;
    let status = state.reload_status();
    assert!(!status.api_active);
    let error = status.last_sync_error.unwrap();
    assert!(error.contains("403"), "{error}");
    assert!(
        error.starts_with("ConfigMap default/o-policy")
            || error.starts_with("Secret default/o-auth"),
        "{error}"
    );
    assert!(state.metrics.encode().contains("reason=\"forbidden\""));
    assert_eq!(state.snapshot().generation, 1);
    assert!(allows(&state, "echo hi") && !allows(&state, "date"));
    // Files still reload.
    write_file_policy(dir.path(), &["echo", "uname"]);
    assert!(ai_orchestrator::config::reload::reload(&state, "file change").await);
    assert!(allows(&state, "uname"));
    assert!(
        !task.is_finished(),
        "the source keeps retrying instead of giving up"
    );
    task.abort();
}
