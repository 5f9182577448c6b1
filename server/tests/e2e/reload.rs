//! Hot reload end to end: file changes, a Kubernetes-style symlink swap and
//! SIGHUP bring a valid configuration into force; an invalid one is refused
//! while requests keep being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, ServerBuilder, sha256_hex};

#[tokio::test]
async fn reload_applies_valid_changes_refuses_invalid_ones_and_never_fails_a_request() {
    let server = ServerBuilder::default()
        .policy(Some(support::RELAXED_POLICY))
        .start()
        .await;
    let admin = server.admin().await;
    let allowed = |origin: &'static str| {
        let server = &server;
        async move {
            let r = server.get("/health").header("Origin", origin).send().await;
            r.headers().contains_key("access-control-allow-origin")
        }
    };
    assert!(!allowed("https://new.example.com").await);
    let hash1 = server.health().await["policy"]["hash"].clone();

    // A valid change applies without a restart.
    let with_origin = format!(
        "{}cors:\n  allowedOrigins: ['https://new.example.com']\n",
        support::RELAXED_POLICY
    );
    server.write_policy(&with_origin);
    let health = server.wait_generation(2).await;
    assert_ne!(health["policy"]["hash"], hash1);
    assert!(allowed("https://new.example.com").await);

    // An invalid change is refused; the last good one stays.
    server.write_policy("version: 1\ncors:\n  allowedOrigins: ['*']\n  allowCredentials: true\n");
    let health = server.wait_reload_error().await;
    assert_eq!(health["policy"]["generation"], 2);
    assert!(
        health["policy"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cors"),
        "{health}"
    );
    assert!(
        allowed("https://new.example.com").await,
        "the last good policy is in force"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ai_orchestrator_policy_reload_failures_total 1"),
        "{metrics}"
    );
    let refused = server
        .audit(&admin, "action=config.reload&outcome=failure")
        .await;
    assert_eq!(refused.len(), 1);

    // Declared API keys appear and disappear without a restart.
    let key = "ak_declared_test_key_0123456789abcdef";
    let declared =
        json!([{"name": "ci", "sha256": sha256_hex(key), "scopes": ["read"]}]).to_string();
    server.write_policy(&with_origin);
    server.write_secret("api-keys.json", &declared);
    server.wait_generation(3).await;
    assert!(server.health().await["policy"]["last_error"].is_null());
    let r = server.me_with_key(key).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["auth_method"],
        "declared_api_key"
    );

    // 100 reloads while clients keep calling: no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (client, url, token) = (server.client.clone(), server.url.clone(), admin.clone());
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in ["/api/auth/me", "/health"] {
                    let r = client
                        .get(format!("{url}{path}"))
                        .bearer_auth(&token)
                        .header("Origin", "https://new.example.com")
                        .send()
                        .await;
                    match r {
                        Ok(r)
                            if r.status() == 200
                                && r.headers().contains_key("access-control-allow-origin") =>
                        {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }));
    }
    for i in 0..100 {
        let policy = format!("{with_origin}examples:\n  deny: ['rm -rf / # {i}']\n");
        server.write_policy(&policy);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let health = server.wait_generation(4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert!(health["policy"]["last_error"].is_null(), "{health}");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} requests succeeded",
        ok.load(Ordering::Relaxed)
    );
    assert!(ok.load(Ordering::Relaxed) > 50);
}

#[tokio::test]
async fn kubernetes_symlink_swap_and_sighup_reload() {
    // The layout the kubelet writes: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>.
    let dirs = support::Dirs::new();
    let config = dirs.config();
    let v1 = config.join("..2026_01");
    std::fs::create_dir(&v1).unwrap();
    std::fs::write(v1.join("policy.yaml"), support::RELAXED_POLICY).unwrap();
    std::os::unix::fs::symlink("..2026_01", config.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/policy.yaml", config.join("policy.yaml")).unwrap();
    let server = ServerBuilder::default().dirs(dirs.clone()).start().await;
    assert_eq!(server.health().await["policy"]["source"], "file");

    let v2 = config.join("..2026_02");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(
        v2.join("policy.yaml"),
        format!(
            "{}cors:\n  allowedOrigins: ['https://k8s.example.com']\n",
            support::RELAXED_POLICY
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_02", config.join("..data_tmp")).unwrap();
    std::fs::rename(config.join("..data_tmp"), config.join("..data")).unwrap();
    server.wait_generation(2).await;
    let r = server
        .get("/health")
        .header("Origin", "https://k8s.example.com")
        .send()
        .await;
    assert!(r.headers().contains_key("access-control-allow-origin"));

    // SIGHUP re-reads too (here: a file in a directory the server does not watch).
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("policy.yaml");
    std::fs::write(&target, support::RELAXED_POLICY).unwrap();
    std::fs::remove_file(config.join("policy.yaml")).unwrap();
    std::os::unix::fs::symlink(&target, config.join("policy.yaml")).unwrap();
    let generation = server.wait_generation(3).await["policy"]["generation"]
        .as_u64()
        .unwrap();
    std::fs::write(
        &target,
        format!(
            "{}cors:\n  allowedOrigins: ['https://hup.example.com']\n",
            support::RELAXED_POLICY
        ),
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_generation(generation + 1).await;
    let r = server
        .get("/health")
        .header("Origin", "https://hup.example.com")
        .send()
        .await;
    assert!(r.headers().contains_key("access-control-allow-origin"));
}
