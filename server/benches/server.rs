//! Requests per second through the full router (context, CORS, authenticate,
//! rate limit, scope check) with tower's `oneshot`: an authenticated JWT
//! request versus `/health`. Run: `cargo bench -p ai-orchestrator --bench server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use ai_orchestrator::config::{ServeArgs, Settings};
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const POLICY: &str = "version: 1
rateLimits:
  default: {requests: 4000000000, per: 1s}
  routes:
    /api/auth/login: {requests: 4000000000, per: 1s}
    /api/chat: {requests: 4000000000, per: 1s}
";

fn bench(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/policy.yaml"), POLICY).unwrap();
    let args = ServeArgs {
        config_dir: Some(dir.path().join("config")),
        secrets_dir: Some(dir.path().join("secrets")),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let settings = Settings::from_sources(&args, |name| match name {
        "AI_JWT_SECRET_KEY" => Some("bench-secret-bench-secret-bench-secret-42".into()),
        "AI_ADMIN_PASSWORD" => Some("bench-admin-password".into()),
        _ => None,
    })
    .unwrap();
    let (app, _state) = rt.block_on(ai_orchestrator::build_app(settings)).unwrap();
    let token = rt.block_on(async {
        let response = app
            .clone()
            .oneshot(
                Request::post("/api/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(
                        r#"{"username":"admin","password":"bench-admin-password"}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        body["access_token"].as_str().unwrap().to_string()
    });
    let bearer = format!("Bearer {token}");

    let call = |path: &'static str, auth: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let request = request.body(Body::empty()).unwrap();
        rt.block_on(async {
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            black_box(
                axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap(),
            )
        })
    };
    let mut group = c.benchmark_group("router");
    group.bench_function("health", |b| b.iter(|| call("/health", None)));
    group.bench_function("health_jwt", |b| b.iter(|| call("/health", Some(&bearer))));
    group.bench_function("jwt_tools", |b| b.iter(|| call("/tools", Some(&bearer))));
    group.bench_function("jwt_rate_limit_stats", |b| {
        b.iter(|| call("/api/security/rate-limit-stats", Some(&bearer)))
    });
    group.bench_function("jwt_me", |b| b.iter(|| call("/api/auth/me", Some(&bearer))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
