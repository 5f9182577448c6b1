//! Time from a ConfigMap event arriving to the new policy answering: the
//! watch event is decoded by kube's watcher, parsed, validated, swapped in
//! (audit row included), and the first decision under the new policy made.
//! The API is kube-rs's mocked client answered in process, so no network
//! time is counted. Target: under 100 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/fake_kube/mod.rs"]
mod fake_kube;

use std::path::Path;
use std::time::{Duration, Instant};

use ai_orchestrator::config::{Inputs, Location};
use ai_orchestrator::config::{KubernetesSource, ServeArgs, Settings};
use ai_orchestrator::state::AppState;
use criterion::{Criterion, criterion_group, criterion_main};
use fake_kube::FakeKube;

fn policy(programs: &[&str]) -> String {
    let mut text = String::from("version: 1\ncommands:\n  allow:\n");
    for program in programs {
        text.push_str(&format!("    - program: {program}\n"));
    }
    text
}

async fn state(dir: &Path) -> AppState {
    let (config, secrets, data) = (dir.join("config"), dir.join("secrets"), dir.join("data"));
    for d in [&config, &secrets, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(config.join("policy.yaml"), policy(&["echo"])).unwrap();
    let args = ServeArgs {
        config_dir: Some(config),
        secrets_dir: Some(secrets),
        data_dir: Some(data),
        ..ServeArgs::default()
    };
    let settings = Settings::from_sources(&args, |name| match name {
        "AI_JWT_SECRET_KEY" => Some("policy-sync-bench-jwt-secret-0123456789".into()),
        "AI_ADMIN_PASSWORD" => Some("policy-sync-bench-admin-1".into()),
        _ => None,
    })
    .unwrap();
    ai_orchestrator::build_state(settings).await.unwrap()
}

/// Alternates two policies so that every event is a real change; returns
/// whether `date` is allowed under the one just sent.
fn next_policy(i: u64) -> (String, bool) {
    if i.is_multiple_of(2) {
        (policy(&["echo", "date"]), true)
    } else {
        (policy(&["echo"]), false)
    }
}

fn decide(state: &AppState) -> bool {
    state
        .snapshot()
        .policy
        .check_command("date", Path::new("/tmp"))
        .allowed
}

fn bench(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = runtime.block_on(state(dir.path()));
    let mut group = c.benchmark_group("policy_sync");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));

    // The whole path: an event on the ConfigMap watch → the new policy answers.
    let fake = FakeKube::new();
    fake.put_configmap("bench-policy", &policy(&["echo"]));
    fake.put_secret("bench-auth", &[]);
    let source = KubernetesSource {
        namespace: Some("default".into()),
        configmap: "bench-policy".into(),
        secret: "bench-auth".into(),
    };
    let task = {
        let _guard = runtime.enter();
        let client = fake.mock_client();
        runtime.spawn(ai_orchestrator::config::kube_source::follow(
            state.clone(),
            client,
            source,
        ))
    };
    runtime.block_on(async {
        while !state.reload_status().api_active
            || fake.open_watches(fake_kube::Kind::ConfigMap) == 0
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut sent = 0u64;
    group.bench_function("configmap_event_to_first_decision", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let generation = state.snapshot().generation;
                    let (yaml, allowed) = next_policy(sent);
                    sent += 1;
                    let started = Instant::now();
                    fake.put_configmap("bench-policy", &yaml);
                    while state.snapshot().generation == generation {
                        tokio::task::yield_now().await;
                    }
                    assert_eq!(decide(&state), allowed);
                    total += started.elapsed();
                }
                total
            })
        });
    });
    task.abort();

    // The shared apply path alone (parse → validate → swap → first decision).
    let location = Location::Kubernetes {
        namespace: "default".into(),
        configmap: "bench-policy".into(),
        secret: "bench-auth".into(),
    };
    group.bench_function("apply_to_first_decision", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (yaml, allowed) = next_policy(sent);
                    sent += 1;
                    let inputs = Inputs {
                        location: location.clone(),
                        policy: Some(yaml.into_bytes()),
                        jwt_keys: None,
                        api_keys: None,
                    };
                    let started = Instant::now();
                    assert!(ai_orchestrator::config::reload::apply(&state, &inputs, "bench").await);
                    assert_eq!(decide(&state), allowed);
                    total += started.elapsed();
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
