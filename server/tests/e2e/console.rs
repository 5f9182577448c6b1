//! The web console in process (tower's `oneshot` through the full router):
//! security headers, HTML for browsers and JSON for programs on `/`, the
//! console switched off, the cookie-held session and its CSRF checks, and the
//! policy dry run.
use ai_orchestrator::config::{ServeArgs, Settings};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_PASSWORD: &str = "console-admin-password";
const POLICY: &str = "version: 1
commands:
  allow:
    - program: cat
paths:
  read: [/var/tmp]
  deny: [/etc/shadow]
rateLimits:
  enabled: false
";

struct App {
    router: Router,
    dir: tempfile::TempDir,
}

async fn app(env: &[(&str, &str)]) -> App {
    app_with(POLICY, env).await
}

async fn app_with(policy: &str, env: &[(&str, &str)]) -> App {
    crate::support::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/policy.yaml"), policy).unwrap();
    let args = ServeArgs {
        config_dir: Some(dir.path().join("config")),
        secrets_dir: Some(dir.path().join("secrets")),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_sources(&args, |name| match name {
        "AI_JWT_SECRET_KEY" => Some("console-test-secret-console-test-secret-1".into()),
        "AI_ADMIN_PASSWORD" => Some(ADMIN_PASSWORD.into()),
        other => env.iter().find(|(k, _)| k == other).map(|(_, v)| v.clone()),
    })
    .unwrap();
    let (router, _state) = ai_orchestrator::build_app(settings).await.unwrap();
    App { router, dir }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, accept: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::ACCEPT, accept)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn json(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn token(&self, username: &str, password: &str) -> String {
        let reply = self
            .json(
                "POST",
                "/api/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["access_token"].as_str().unwrap().to_string()
    }

    /// A console session request: the CSRF header, and the cookie when given.
    async fn session(&self, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-ai-console", "1")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }
}

fn assert_security_headers(reply: &Reply) {
    let csp = reply.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(reply.header("x-frame-options"), "DENY");
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
    assert_eq!(reply.header("referrer-policy"), "no-referrer");
}

/// The `name=value` of the refresh cookie a reply sets.
fn refresh_cookie(reply: &Reply) -> String {
    let set = reply.header("set-cookie");
    assert!(set.starts_with("ai_console_refresh="), "{set:?}");
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn browsers_get_the_console_and_programs_get_service_info() {
    let app = app(&[]).await;
    let page = app
        .get("/", "text/html,application/xhtml+xml,*/*;q=0.8")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.text
            .contains(r#"<script type="module" src="/assets/app.js">"#)
    );
    assert!(
        !page.text.contains("<script>"),
        "no inline script in the page"
    );
    assert_eq!(page.header("vary"), "Accept");
    assert_security_headers(&page);

    for accept in ["application/json", "*/*"] {
        let info = app.get("/", accept).await;
        assert_eq!(info.status, StatusCode::OK);
        assert!(info.header("content-type").starts_with("application/json"));
        let body = info.json();
        assert_eq!(
            body["name"], "AI Orchestrator",
            "AI_APP_NAME's default, as v3's"
        );
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["tools"], 5);
        assert_eq!(body["console"], "/");
    }

    let script = app.get("/assets/app.js", "*/*").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert_security_headers(&script);
    let etag = script.header("etag").to_string();
    let again = app
        .send(
            Request::get("/assets/app.js")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let missing = app.get("/assets/nope.js", "*/*").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["detail"].is_string());
    let escape = app.get("/assets/../Cargo.toml", "*/*").await;
    assert_ne!(escape.status, StatusCode::OK);

    // API answers carry the same headers.
    assert_security_headers(&app.get("/health", "application/json").await);

    let doc = app
        .get("/api/openapi.json", "application/json")
        .await
        .json();
    assert!(doc["paths"]["/api/policy/check"]["post"].is_object());
    let session = &doc["paths"]["/api/console/session"];
    assert!(session["post"].is_object() && session["delete"].is_object());
    assert!(doc["paths"]["/api/console/session/refresh"]["post"].is_object());
}

#[tokio::test]
async fn a_disabled_console_leaves_only_the_json_on_root() {
    let app = app(&[("AI_CONSOLE_ENABLED", "false")]).await;
    let root = app.get("/", "text/html").await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.header("content-type").starts_with("application/json"));
    assert_eq!(root.json()["console"], Value::Null);
    assert!(!root.text.contains("<html"));
    assert_ne!(
        app.get("/assets/app.js", "*/*").await.status,
        StatusCode::OK
    );
    let session = app
        .session(
            "POST",
            "/api/console/session",
            None,
            &json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
        )
        .await;
    assert_ne!(session.status, StatusCode::OK);
    assert!(session.header("set-cookie").is_empty());
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_guarded_against_csrf() {
    let app = app(&[]).await;
    let credentials = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();

    // Without the console header (a cross-site form could send this): refused, no cookie.
    let forged = app
        .send(
            Request::post("/api/console/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(credentials.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.header("set-cookie").is_empty());

    let login = app
        .session("POST", "/api/console/session", None, &credentials)
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let set = login.header("set-cookie").to_string();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/console/session",
        "Max-Age=",
    ] {
        assert!(set.contains(part), "{set:?} lacks {part}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
    let body = login.json();
    assert!(body["access_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh token is never readable by the page"
    );
    let cookie = refresh_cookie(&login);
    let token_value = cookie.split_once('=').unwrap().1;
    assert!(!login.text.contains(token_value));

    // A refresh from another site carries the cookie only if the browser is fooled; refused anyway.
    let cross = app
        .send(
            Request::post("/api/console/session/refresh")
                .header("x-ai-console", "1")
                .header("sec-fetch-site", "cross-site")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let no_header = app
        .send(
            Request::post("/api/console/session/refresh")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(no_header.status, StatusCode::FORBIDDEN);

    // The real refresh rotates the cookie; the old one is then a reuse.
    let refreshed = app
        .session("POST", "/api/console/session/refresh", Some(&cookie), "")
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let rotated = refresh_cookie(&refreshed);
    assert_ne!(rotated, cookie);
    let access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app
        .send(
            Request::get("/api/auth/me")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.json()["username"], "admin");
    let reused = app
        .session("POST", "/api/console/session/refresh", Some(&cookie), "")
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);

    // Behind a TLS-terminating proxy the cookie is Secure.
    let proxied = app
        .send(
            Request::post("/api/console/session")
                .header("x-ai-console", "1")
                .header("x-forwarded-proto", "https")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(credentials.clone()))
                .unwrap(),
        )
        .await;
    assert!(proxied.header("set-cookie").contains("; Secure"));

    // Logout revokes the session: its cookie no longer refreshes, and is cleared.
    let fresh = app
        .session("POST", "/api/console/session", None, &credentials)
        .await;
    let cookie = refresh_cookie(&fresh);
    let logout = app
        .session("DELETE", "/api/console/session", Some(&cookie), "")
        .await;
    assert_eq!(logout.status, StatusCode::OK);
    assert!(logout.header("set-cookie").contains("Max-Age=0"));
    let after = app
        .session("POST", "/api/console/session/refresh", Some(&cookie), "")
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.json()["detail"].is_string());
}

#[tokio::test]
async fn the_dry_run_answers_as_the_cli_does_for_admins_only_and_is_audited() {
    let app = app(&[]).await;
    let admin = app.token("admin", ADMIN_PASSWORD).await;
    let reply = app
        .json(
            "POST",
            "/api/policy/check",
            Some(&admin),
            json!({"command": "cat /etc/shadow", "cwd": "/var/tmp"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let policy_file = app.dir.path().join("config/policy.yaml");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(["policy", "check", "--cwd", "/var/tmp", "--policy"])
        .arg(&policy_file)
        .args(["--command", "cat /etc/shadow"])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1));
    let printed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(reply.json(), printed);
    assert_eq!(printed["rule"], "paths.deny[0] (/etc/shadow)");

    let path = app
        .json(
            "POST",
            "/api/policy/check",
            Some(&admin),
            json!({"read": "/var/tmp"}),
        )
        .await;
    assert_eq!(path.json()["allowed"], true);
    assert_eq!(path.json()["access"], "read");

    for (bad, status) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (
            json!({"command": "ls", "read": "/var/tmp"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"read": "relative/path"}), StatusCode::BAD_REQUEST),
        (
            json!({"read": "/var/tmp", "cwd": "/var/tmp"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"command": "ls", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = app
            .json("POST", "/api/policy/check", Some(&admin), bad.clone())
            .await;
        assert_eq!(reply.status, status, "{bad}: {}", reply.text);
        assert!(reply.json()["detail"].is_string());
    }

    let created = app
        .json(
            "POST",
            "/api/auth/users",
            Some(&admin),
            json!({"username": "reader", "password": "reader-password-123", "scopes": ["read"]}),
        )
        .await;
    assert!(created.status.is_success(), "{}", created.text);
    let reader = app.token("reader", "reader-password-123").await;
    let refused = app
        .json(
            "POST",
            "/api/policy/check",
            Some(&reader),
            json!({"command": "ls"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let audit = app
        .send(
            Request::get("/api/audit?action=policy.check")
                .header(header::AUTHORIZATION, format!("Bearer {admin}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let items = audit.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        items.iter().any(|row| row["target"] == "cat /etc/shadow"
            && row["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("denied by paths.deny[0]")),
        "{items:?}"
    );
}

#[tokio::test]
async fn console_files_are_not_charged_to_the_rate_limit() {
    let app = app_with(
        "version: 1\nrateLimits:\n  default: {requests: 2, per: 1m}\n",
        &[],
    )
    .await;
    for _ in 0..6 {
        assert_eq!(
            app.get("/assets/app.js", "*/*").await.status,
            StatusCode::OK
        );
    }
    let statuses: Vec<StatusCode> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(app.get("/", "text/html").await.status);
        }
        out
    };
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn the_console_login_spends_the_login_budget() {
    let app = app_with(
        "version: 1\nrateLimits:\n  default: {requests: 1000, per: 1m}\n  routes:\n    /api/auth/login: {requests: 3, per: 1m}\n",
        &[],
    )
    .await;
    let wrong = json!({"username": "admin", "password": "not-the-password"}).to_string();
    // Alternate between the two login routes: together they get three tries, not six.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let status = if i % 2 == 0 {
            app.json(
                "POST",
                "/api/auth/login",
                None,
                serde_json::from_str(&wrong).unwrap(),
            )
            .await
            .status
        } else {
            app.session("POST", "/api/console/session", None, &wrong)
                .await
                .status
        };
        statuses.push(status);
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(limited, 3, "{statuses:?}");
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}
