//! A v3.0 user's upgrade, as the v3 guide has it: a directory with its `.env`,
//! `serve` there, the guide's curls, `import-v3` of the old files, the old
//! passwords and keys working. And the server refusing to migrate the v3 files
//! (or any foreign database), leaving them byte-identical.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::support::llm_stub::{LlmStub, Turn};
use crate::support::{self, ServerBuilder, backends, v3};

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_v3_or_foreign_database_is_refused_and_left_untouched() {
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let foreign = source.path().join("other-app.db");
    v3::create(
        &foreign,
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);",
    )
    .await
    .close()
    .await
    .unwrap();
    let before = listing(source.path());
    for (file, expected) in [
        (
            &orch,
            "this is a v3.0 database: run ai-orchestrator import-v3",
        ),
        (
            &auth,
            "this is a v3.0 database: run ai-orchestrator import-v3",
        ),
        (&foreign, "is not an ai-orchestrator database"),
    ] {
        let bytes = std::fs::read(file).unwrap();
        let (code, stderr) = ServerBuilder::default()
            .env("AI_DB_PATH", file.to_str().unwrap())
            .start_expecting_failure();
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains(expected), "{}: {stderr}", file.display());
        assert!(
            stderr.contains(&file.display().to_string()),
            "the file is named: {stderr}"
        );
        assert_eq!(
            std::fs::read(file).unwrap(),
            bytes,
            "{} was modified",
            file.display()
        );
        assert_eq!(
            listing(source.path()),
            before,
            "no WAL, journal or lock file may be left beside {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_foreign_postgres_schema_is_refused_before_migrating() {
    let Some(admin) = backends::postgres_admin_url() else {
        return;
    };
    sqlx::any::install_default_drivers();
    let url = backends::fresh_postgres(&admin).await;
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, stderr) = ServerBuilder::default()
        .env("AI_DATABASE_URL", &url)
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("invoices"), "{stderr}");
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get("n");
    assert_eq!(tables, 1, "nothing may be created beside a foreign schema");
}

// ---------------------------------------------------------------- the v3 guide's flow

const GUIDE_ADMIN_PASSWORD: &str = "Guide-Admin-Passphrase-2024";
const GUIDE_JWT_SECRET: &str = "guide-jwt-secret-0123456789-abcdefghijklmnop";

/// The `.env` of the v3.0 guide, as a v3 user has it (quotes, comments, `export`,
/// Python's log level name, a JSON list), pointing at the scripted model server.
fn guide_env(llm_url: &str, admin_password: &str) -> String {
    format!(
        r#"# AI Orchestrator v3.0 settings (from the upgrade guide)
AI_APP_NAME="AI Orchestrator"
AI_ADMIN_PASSWORD={admin_password}
export AI_JWT_SECRET_KEY="{GUIDE_JWT_SECRET}"
AI_OLLAMA_URL={llm_url}   # the model server
AI_DEFAULT_MODEL=llama3.1:8b
AI_LOG_LEVEL=WARNING
AI_CORS_ORIGINS=["https://ai.example.org"]
AI_DATA_DIR=./data
AI_DB_PATH=./data/orchestrator.db
AI_UPLOAD_DIR=./data/uploads
AI_CONFIG_DIR=./config
AI_SECRETS_DIR=./secrets
# Behind the reverse proxy (here: the test client on 127.0.0.1)
AI_TRUSTED_PROXIES=127.0.0.1/32
"#
    )
}

/// `ai-orchestrator serve` started in `dir` with nothing but `PATH` in its
/// environment, so that every setting comes from `dir/.env`.
struct GuideServer {
    url: String,
    child: Child,
    stderr: PathBuf,
    client: reqwest::Client,
}

impl GuideServer {
    async fn start(dir: &Path, tag: &str) -> GuideServer {
        let stdout = dir.join(format!("serve-{tag}.out"));
        let stderr = dir.join(format!("serve-{tag}.err"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("listening on ")) {
                break line.trim_start_matches("listening on ").trim().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "serve exited with {status}:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "serve did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        GuideServer {
            url,
            child,
            stderr,
            client: reqwest::Client::new(),
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The guide's form login, as a client behind the proxy at `client_ip`.
    async fn form_login(&self, username: &str, password: &str, client_ip: &str) -> (u16, Value) {
        let body = format!(
            "username={}&password={}",
            urlencode(username),
            urlencode(password)
        );
        let response = self
            .client
            .post(format!("{}/api/auth/login", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Forwarded-For", client_ip)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, auth: Option<(&str, &str)>) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for GuideServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::cli_with(args, stdin, &[], Some(dir))
}

fn text(out: &Output) -> String {
    support::describe(out)
}

/// Row counts of every table the import writes, and the upload files.
async fn contents(db: &Path) -> (Vec<(String, i64)>, BTreeSet<String>) {
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut counts = Vec::new();
    for table in [
        "users",
        "api_keys",
        "conversations",
        "messages",
        "uploads",
        "audit_log",
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
        counts.push((table.to_string(), n));
    }
    conn.close().await.unwrap();
    let uploads = db.parent().unwrap().join("uploads");
    (counts, listing(&uploads))
}

#[tokio::test]
async fn the_v3_upgrade_guide_works_end_to_end() {
    crate::support::install_crypto();
    sqlx::any::install_default_drivers();
    let stub = LlmStub::start(vec![Turn::text("All systems nominal.")]).await;
    let guide = tempfile::tempdir().unwrap();
    let dir = guide.path();
    std::fs::write(dir.join(".env"), guide_env(&stub.url, GUIDE_ADMIN_PASSWORD)).unwrap();

    // 1. serve in the directory of the .env; the guide's three curls.
    let server = GuideServer::start(dir, "first").await;
    let (status, health) = server.get("/health", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], json!("healthy"));
    let (status, login) = server
        .form_login("admin", GUIDE_ADMIN_PASSWORD, "203.0.113.1")
        .await;
    assert_eq!(status, 200, "the .env's admin password: {login}");
    let token = login["access_token"].as_str().unwrap().to_string();
    let response = server
        .client
        .post(format!("{}/api/chat", server.url))
        .bearer_auth(&token)
        .json(&json!({"message": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let chat: Value = response.json().await.unwrap();
    assert_eq!(chat["response"], json!("All systems nominal."), "{chat}");
    assert_eq!(
        stub.requests()[0]["model"],
        json!("llama3.1:8b"),
        "AI_DEFAULT_MODEL from .env"
    );

    // Behind the proxy each client has its own login budget (5 per 5 minutes).
    for _ in 0..5 {
        server.form_login("mallory", "wrong", "198.51.100.7").await;
    }
    assert_eq!(
        server
            .form_login("mallory", "wrong", "198.51.100.7")
            .await
            .0,
        429
    );
    assert_eq!(
        server
            .form_login("admin", GUIDE_ADMIN_PASSWORD, "198.51.100.8")
            .await
            .0,
        200,
        "another client behind the proxy is not throttled by the first"
    );
    let stdout = std::fs::read_to_string(dir.join("serve-first.out")).unwrap();
    assert!(stdout.contains("settings: read .env"), "{stdout}");
    let logs = server.stop();
    // WARNING hides info lines but never the audit trail (log line and file).
    assert!(!logs.contains("\"message\":\"listening\""), "{logs}");
    assert!(
        logs.contains("\"target\":\"audit\"") && logs.contains("auth.login"),
        "audit lines are never filtered by the level: {logs}"
    );
    let audit_file = std::fs::read_to_string(dir.join("data/audit.log")).unwrap();
    assert!(
        audit_file.contains("\"action\":\"rate_limit\"") && audit_file.contains("198.51.100.7"),
        "{audit_file}"
    );
    for secret in [GUIDE_ADMIN_PASSWORD, GUIDE_JWT_SECRET] {
        assert!(!logs.contains(secret) && !audit_file.contains(secret));
    }

    // 2. import-v3 of the old files, in the same directory (the .env names the database).
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import-v3",
            "--auth-db",
            auth.to_str().unwrap(),
            "--orchestrator-db",
            orch.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_in(dir, &args, "")
    };
    let first = import(&[]);
    assert!(first.status.success(), "{}", text(&first));
    let report = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        report.contains("users:         3 imported, 1 already present"),
        "{report}"
    );
    assert!(report.contains("uploads:       1 imported"), "{report}");
    let db = dir.join("data/orchestrator.db");
    let before = contents(&db).await;
    let second = import(&[]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("Nothing to import"),
        "{}",
        text(&second)
    );
    assert_eq!(
        contents(&db).await,
        before,
        "a second import changes nothing"
    );

    // 3. The old passwords and key work; the expired key does not; the data is there.
    let server = GuideServer::start(dir, "after-import").await;
    let (status, body) = server
        .form_login("alice", v3::ALICE_PASSWORD, "203.0.113.2")
        .await;
    assert_eq!(status, 200, "alice's v3 password: {body}");
    let (status, body) = server
        .form_login("carol", v3::CAROL_PASSWORD, "203.0.113.3")
        .await;
    assert_eq!(status, 200, "carol's v3 password: {body}");
    let (status, me) = server
        .get("/api/auth/me", Some(("X-API-Key", v3::ALICE_KEY)))
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], json!("alice"));
    assert_eq!(
        server
            .get("/api/auth/me", Some(("X-API-Key", v3::EXPIRED_KEY)))
            .await
            .0,
        401
    );
    let (_, login) = server
        .form_login("admin", GUIDE_ADMIN_PASSWORD, "203.0.113.4")
        .await;
    let admin = format!("Bearer {}", login["access_token"].as_str().unwrap());
    let (status, a) = server
        .get(
            &format!("/api/conversations/{}", v3::CONVERSATION_A),
            Some(("Authorization", &admin)),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["messages"].as_array().unwrap().len(), 4, "{a}");
    assert_eq!(a["uploads"][0]["filename"], json!("report.txt"), "{a}");
    let stored = a["uploads"][0]["stored_name"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("data/uploads").join(stored)).unwrap(),
        v3::UPLOAD_CONTENTS
    );
    let logs = server.stop();
    assert!(
        !logs.contains("users set-password"),
        "the admin password matches: no warning: {logs}"
    );

    // 4. A changed AI_ADMIN_PASSWORD is never applied silently: a warning says how.
    std::fs::write(
        dir.join(".env"),
        guide_env(&stub.url, "A-New-Admin-Passphrase-2025"),
    )
    .unwrap();
    let server = GuideServer::start(dir, "changed-password").await;
    assert_eq!(
        server
            .form_login("admin", GUIDE_ADMIN_PASSWORD, "203.0.113.5")
            .await
            .0,
        200,
        "the stored password stays until it is set"
    );
    let logs = server.stop();
    assert!(
        logs.contains("AI_ADMIN_PASSWORD")
            && logs.contains("ai-orchestrator users set-password admin"),
        "{logs}"
    );
    assert!(!logs.contains("A-New-Admin-Passphrase-2025"));
    let set = run_in(
        dir,
        &["users", "set-password", "admin"],
        "A-New-Admin-Passphrase-2025\n",
    );
    assert!(set.status.success(), "{}", text(&set));
    let server = GuideServer::start(dir, "password-set").await;
    assert_eq!(
        server
            .form_login("admin", "A-New-Admin-Passphrase-2025", "203.0.113.6")
            .await
            .0,
        200
    );
    let logs = server.stop();
    assert!(!logs.contains("users set-password"), "{logs}");
}

#[tokio::test]
async fn a_log_level_that_is_not_one_is_refused_with_exit_2() {
    let guide = tempfile::tempdir().unwrap();
    for (level, ok) in [("verbose", false), ("WARNING", true), ("Debug", true)] {
        std::fs::write(
            guide.path().join(".env"),
            format!("AI_LOG_LEVEL={level}\nAI_AUTH_DB_PATH=\n"),
        )
        .unwrap();
        let out = run_in(guide.path(), &["users", "list"], "");
        if ok {
            assert!(out.status.success(), "{level}: {}", text(&out));
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("\"verbose\"") && stderr.contains("WARNING"),
                "{stderr}"
            );
        }
    }
    // serve refuses the same way, before listening.
    std::fs::write(guide.path().join(".env"), "AI_LOG_LEVEL=verbose\n").unwrap();
    let out = run_in(guide.path(), &["serve", "--port", "0"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
