//! Rate limits, client IPs behind proxies and CORS end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use std::time::Duration;

use serde_json::{Value, json};
use support::ServerBuilder;

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
        let r = server.get("/api/auth/me").bearer(&admin).send().await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&r, "x-ratelimit-remaining").as_deref(),
            Some(remaining)
        );
        let reset: u64 = header(&r, "x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset <= 60);
    }
    let r = server.get("/api/auth/me").bearer(&admin).send().await;
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
    assert_eq!(
        server
            .get("/api/auth/me")
            .bearer(&other)
            .send()
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .get("/api/auth/users")
            .bearer(&admin)
            .send()
            .await
            .status(),
        200
    );

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
    assert_eq!(rows[0]["actor"], "admin");
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
                .get("/ready")
                .header("X-Forwarded-For", ip)
                .send()
                .await
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
                .get("/api/auth/users")
                .bearer(admin)
                .header("Origin", origin)
                .send()
                .await
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

/// Every answer of a server with CORS configured varies on `Origin` — for a listed origin, an
/// unlisted one, a refused preflight and no origin at all — so no shared cache can serve one
/// origin's answer to another.
#[tokio::test]
async fn every_answer_varies_on_origin_when_cors_is_configured() {
    let server = ServerBuilder::default()
        .policy(Some(LIMITED_POLICY))
        .start()
        .await;
    let varies = |r: &reqwest::Response| {
        r.headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("origin"))
    };
    for origin in [
        Some("https://app.example.com"),
        Some("https://evil.example.com"),
        None,
    ] {
        let mut request = server.get("/health");
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let r = request.send().await;
        assert_eq!(r.status(), 200);
        assert!(varies(&r), "{origin:?}: {:?}", r.headers());
    }
    let refused = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/api/chat"))
        .header("Origin", "https://evil.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(varies(&refused), "{:?}", refused.headers());
}

#[tokio::test]
async fn login_budget_from_the_policy_applies_per_client_ip() {
    // The v3 default: 5 logins per 5 minutes per client.
    let server = ServerBuilder::default().policy(None).start().await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = server
            .post("/api/auth/login")
            .json(&json!({"username": "admin", "password": support::ADMIN_PASSWORD}))
            .send()
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
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
        .get("/api/openapi.json")
        .header("Origin", "https://env.example.com")
        .send()
        .await;
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
    let r = open.get("/api/auth/users").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(open.health().await["auth_enabled"], false);
}

/// A read-only caller sending a 1.8 MB path costs kilobytes, not megabytes, in every audit sink:
/// the database row, the audit log file and the server's log.
#[tokio::test]
async fn a_huge_tool_argument_is_truncated_in_every_audit_sink() {
    let dirs = support::Dirs::new();
    let audit_log = dirs.data().join("audit.log");
    let server = ServerBuilder::default()
        .dirs(dirs.clone())
        .env("AI_AUDIT_LOG_PATH", audit_log.to_str().unwrap())
        .start()
        .await;
    let admin = server.admin().await;
    let reader = server
        .create_user(&admin, "reader", "reader-password-1", &["read"])
        .await;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (log_before, audit_before) = (size(&server.stderr), size(&audit_log));
    let huge = format!("/tmp/{}", "a/".repeat(900_000));
    let r = server
        .post("/api/tools/read_file")
        .bearer(&reader)
        .json(&json!({"path": huge}))
        .send()
        .await;
    assert!(
        r.status().is_client_error() || r.status().is_success(),
        "{}",
        r.status()
    );
    let rows = server.audit(&admin, "action=tool.read_file").await;
    let row = rows.first().expect("the call is audited");
    let target = row["target"].as_str().unwrap_or_default();
    assert!(target.len() < 2048, "target kept {} bytes", target.len());
    assert!(target.contains("truncated"), "{target}");
    assert!(row["reason"].as_str().unwrap_or_default().len() < 2048);
    let written = (size(&server.stderr) - log_before) + (size(&audit_log) - audit_before);
    assert!(written < 64 * 1024, "{written} bytes written to the logs");
}
