//! Route-level checks in process: the router from `build_app`, driven with
//! `oneshot` (no socket, no binary). The error shapes every route shares.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use ai_orchestrator::config::{ServeArgs, Settings};

const PASSWORD: &str = "routes-admin-password";

struct App {
    router: Router,
    token: String,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        crate::support::install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            config_dir: Some(dir.path().join("config")),
            secrets_dir: Some(dir.path().join("secrets")),
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        };
        let settings = Settings::from_sources(&args, |name| match name {
            "AI_JWT_SECRET_KEY" => Some("routes-secret-routes-secret-routes-secret".into()),
            "AI_ADMIN_PASSWORD" => Some(PASSWORD.into()),
            _ => None,
        })
        .unwrap();
        let (router, _state) = ai_orchestrator::build_app(settings).await.unwrap();
        let mut app = App {
            router,
            token: String::new(),
            _dir: dir,
        };
        let login = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"username": "admin", "password": PASSWORD}).to_string(),
            ))
            .unwrap();
        let (status, body) = app.send(login).await;
        assert_eq!(status, 200, "{body}");
        app.token = body["access_token"].as_str().unwrap().to_string();
        app
    }

    /// A request as the admin.
    fn admin(&self, method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn send(&self, request: Request<Body>) -> (u16, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{status}: not JSON ({content_type}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        (status, body)
    }
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bodies_that_do_not_parse_are_json_errors() {
    let app = App::start().await;
    let post_user = |content_type: Option<&str>, body: &str| {
        let mut request = app.admin("POST", "/api/auth/users");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.body(Body::from(body.to_string())).unwrap()
    };

    let (status, body) = app
        .send(post_user(Some("application/json"), "{not json"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(!detail(&body).is_empty(), "{body}");

    let (status, body) = app
        .send(post_user(Some("application/json"), r#"{"username": 5}"#))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(detail(&body).contains("username"), "{body}");

    let (status, body) = app.send(post_user(None, r#"{"username": "x"}"#)).await;
    assert_eq!(status, 415, "{body}");
    assert!(detail(&body).contains("Content-Type"), "{body}");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_json_errors() {
    let app = App::start().await;
    let (status, body) = app
        .send(
            app.admin("GET", "/api/nothing-here")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body, json!({"detail": "Not Found"}));

    for (method, path) in [
        ("DELETE", "/api/auth/me"),
        ("GET", "/api/auth/login"),
        ("POST", "/api/conversations/some-id"),
    ] {
        let (status, body) = app
            .send(app.admin(method, path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body, json!({"detail": "Method Not Allowed"}));
    }
}

#[tokio::test]
async fn agent_bodies_that_do_not_parse_are_422_with_a_detail() {
    let app = App::start().await;
    let (status, body) = app
        .send(
            app.admin("POST", "/api/chat")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(detail(&body).starts_with("invalid JSON body"), "{body}");
}
