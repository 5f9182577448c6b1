//! Rate limits, client IPs behind proxies, CORS, and hot reload end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{ServerBuilder, TestServer, sha256_hex};

const LIMITED_POLICY: &str = "version: 1
rateLimits:
  default: {requests: 1000, per: 1m}
  routes:
    /api/auth/me: {requests: 3, per: 1m}
    /ready: {requests: 2, per: 1m}
    /api/auth/login: {requests: 1000, per: 1m}
  trustedProxies: [127.0.0.1]
cors:
  allowedOrigins: ['https://app.example.com']
";

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn rate_limits_are_exact_per_identity_and_report_headers() {
    let server = ServerBuilder::default()
        .policy(Some(LIMITED_POLICY))
        .start()
        .await;
    let admin = server.admin().await;
    for remaining in ["2", "1", "0"] {
        let r = server.get("/api/auth/me", &admin).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&r, "x-ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        let reset: u64 = header(&r, "x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset <= 60);
    }
    let r = server.get("/api/auth/me", &admin).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=20).contains(&retry),
        "one request returns every 20 s: {retry}"
    );
    assert_eq!(header(&r, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("3"));
    assert!(header(&r, "x-ratelimit-reset").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Too many requests", "retry_after": retry})
    );

    // Another identity has its own budget, even from the same IP; other routes too.
    let other = server
        .create_user(&admin, "other", "other-password", &["read"])
        .await;
    assert_eq!(server.get("/api/auth/me", &other).await.status(), 200);
    assert_eq!(server.get("/api/auth/users", &admin).await.status(), 200);

    let stats = server
        .get_json("/api/security/rate-limit-stats", &admin)
        .await;
    let me = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/api/auth/me")
        .unwrap()
        .clone();
    assert_eq!(me["limited"], 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ai_orchestrator_rate_limited_total{route=\"/api/auth/me\"} 1"),
        "{metrics}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = server.audit(&admin, "action=rate_limit").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"], "user:admin");
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let server = ServerBuilder::default()
        .policy(Some(LIMITED_POLICY))
        .start()
        .await;
    let health = |ip: &'static str| {
        let server = &server;
        async move {
            server
                .client
                .get(server.url("/ready"))
                .header("X-Forwarded-For", ip)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // 127.0.0.1 is trusted: each forwarded client has its own budget of 2.
    assert_eq!(health("203.0.113.1").await, 200);
    assert_eq!(health("203.0.113.1").await, 200);
    assert_eq!(health("203.0.113.1").await, 429);
    assert_eq!(health("203.0.113.2").await, 200);
    assert_eq!(
        health("203.0.113.2, 127.0.0.1").await,
        200,
        "trusted hops are skipped"
    );
    assert_eq!(health("203.0.113.2").await, 429);

    // Without trusted proxies the header is ignored: everyone is the peer 127.0.0.1.
    server.write_policy(&LIMITED_POLICY.replace("  trustedProxies: [127.0.0.1]\n", ""));
    server.wait_generation(2).await;
    let mut statuses = Vec::new();
    for ip in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ] {
        statuses.push(health(ip).await.as_u16());
    }
    assert!(
        statuses.contains(&429),
        "spoofed X-Forwarded-For must not bypass limits: {statuses:?}"
    );
}

#[tokio::test]
async fn cors_allows_listed_origins_only_and_answers_preflights() {
    let server = ServerBuilder::default()
        .policy(Some(LIMITED_POLICY))
        .start()
        .await;
    let admin = server.admin().await;
    let get = |origin: &'static str| {
        let server = &server;
        let admin = admin.clone();
        async move {
            server
                .client
                .get(server.url("/api/auth/users"))
                .bearer_auth(admin)
                .header("Origin", origin)
                .send()
                .await
                .unwrap()
        }
    };
    let r = get("https://app.example.com").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(
        header(&r, "access-control-expose-headers")
            .unwrap()
            .contains("x-ratelimit-remaining")
    );
    let r = get("https://evil.example.com").await;
    assert!(
        r.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        r.headers()
    );

    let preflight = |origin: &'static str| {
        let server = &server;
        async move {
            server
                .client
                .request(reqwest::Method::OPTIONS, server.url("/api/chat"))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let r = preflight("https://app.example.com").await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(
        header(&r, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&r, "access-control-allow-headers")
            .unwrap()
            .to_lowercase()
            .contains("authorization")
    );
    assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("600"));
    let r = preflight("https://evil.example.com").await;
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

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
            let r = server
                .client
                .get(server.url("/health"))
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
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
        .client
        .get(server.url("/health"))
        .header("Origin", "https://k8s.example.com")
        .send()
        .await
        .unwrap();
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
        .client
        .get(server.url("/health"))
        .header("Origin", "https://hup.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn login_budget_from_the_policy_applies_per_client_ip() {
    // The v3 default: 5 logins per 5 minutes per client.
    let server = ServerBuilder::default().policy(None).start().await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = server
            .client
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": "admin", "password": support::ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
    let _ = TestServer::start; // keep the helper in use for this test binary
}

#[tokio::test]
async fn v3_environment_variables_override_the_policy() {
    let server = ServerBuilder::default()
        .env("AI_CORS_ORIGINS", r#"["https://env.example.com"]"#)
        .env("AI_RATE_LIMIT_DEFAULT", "2/minute")
        .policy(Some("version: 1\n"))
        .start()
        .await;
    let r = server
        .client
        .get(server.url("/api/openapi.json"))
        .header("Origin", "https://env.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://env.example.com")
    );
    assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("2"));

    // AI_AUTH_ENABLED=false: every request acts as the admin (v3 behaviour).
    let open = ServerBuilder::default()
        .env("AI_AUTH_ENABLED", "false")
        .start()
        .await;
    let r = open
        .client
        .get(open.url("/api/auth/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(open.health().await["auth_enabled"], false);
}
