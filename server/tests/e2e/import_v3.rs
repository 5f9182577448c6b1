//! `import-v3` end to end: v3-shaped files → the real binary → a real server
//! logging in imported users and keys, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{self, backends, v3};
use std::path::Path;
use std::process::Output;

use backends::Backend;
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use support::{Dirs, ServerBuilder, cli};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `import-v3` into `url`, with uploads going to `<data>/uploads`.
fn import(auth: &Path, orch: &Path, url: &str, data: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "import-v3",
        "--auth-db",
        auth.to_str().unwrap(),
        "--orchestrator-db",
        orch.to_str().unwrap(),
        "--database-url",
        url,
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

async fn stored_hash(url: &str, username: &str) -> String {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query("SELECT password_hash FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get("password_hash")
        .unwrap()
}

async fn login(server: &support::TestServer, username: &str, password: &str) -> (u16, Value) {
    let response = server
        .post("/api/auth/login")
        .json(&json!({"username": username, "password": password}))
        .send()
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// How many conversations the imported user alice sees.
async fn alice_conversations(server: &support::TestServer) -> Value {
    let alice = server.login("alice", v3::ALICE_PASSWORD).await.access;
    server.get_json("/api/conversations", &alice).await["count"].clone()
}

async fn with_key(server: &support::TestServer, path: &str, key: &str) -> (u16, Value) {
    let response = server.get(path).api_key(key).send().await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn import_then_serve(backend: Backend) {
    sqlx::any::install_default_drivers();
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let dirs = Dirs::new();
    let url = backend.url(&dirs.data());
    let name = backend.name();

    let first = import(&auth, &orch, &url, &dirs.data(), &[]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{name}: import failed: {stderr}");
    assert!(
        stdout.contains("users:         4 imported, 0 already present"),
        "{name}: {stdout}"
    );
    assert!(
        stdout.contains("api keys:      2 imported, 0 already present"),
        "{stdout}"
    );
    assert!(
        stdout.contains("uploads:       1 imported, 0 already present"),
        "{stdout}"
    );
    assert!(
        stdout.contains("upload files were not found") && stdout.contains("photo.png"),
        "a missing upload file must be reported: {stdout}"
    );
    assert!(
        stdout.contains("conversations: 2 imported (owner: admin)"),
        "{stdout}"
    );
    assert!(stdout.contains("messages:      5 imported"), "{stdout}");
    assert!(stdout.contains("1 api keys of deleted users"), "{stdout}");
    assert!(
        stdout.contains("1 messages without a conversation"),
        "{stdout}"
    );
    for skipped in [
        "login_attempts (2 rows)",
        "sessions (1 rows)",
        "memory (1 rows)",
    ] {
        assert!(
            stdout.contains(skipped),
            "{name}: {skipped} not reported: {stdout}"
        );
    }
    assert!(
        stdout.contains("teleport"),
        "unknown scope not reported: {stdout}"
    );

    // Idempotent: nothing new the second time, and it says so.
    let second = import(&auth, &orch, &url, &dirs.data(), &[]);
    let (stdout, stderr) = text(&second);
    assert!(second.status.success(), "{name}: {stderr}");
    assert!(stdout.contains("Nothing to import"), "{name}: {stdout}");
    assert!(
        stdout.contains("users:         0 imported, 4 already present"),
        "{stdout}"
    );
    assert!(
        stdout.contains("conversations: 0 imported (owner: admin), 2 already present"),
        "{stdout}"
    );
    assert!(
        stdout.contains("uploads:       0 imported, 1 already present"),
        "{stdout}"
    );
    let stored = dirs
        .data()
        .join("uploads")
        .join(format!("v3-{}-report.txt", v3::UPLOAD_ID));
    assert_eq!(
        std::fs::read_to_string(&stored).unwrap(),
        v3::UPLOAD_CONTENTS,
        "{name}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dirs.data().join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the imported file: {leftovers:?}");

    // New messages get ids after the imported ones (PostgreSQL's sequence was moved past them).
    let db = ai_orchestrator::store::db::Db::connect(&url).await.unwrap();
    let new = ai_orchestrator::store::conversations::NewMessage {
        role: "user".into(),
        content: "written after the import".into(),
        model_used: None,
        tool_calls: None,
    };
    db.append_messages(v3::CONVERSATION_B, &[new])
        .await
        .unwrap();
    let ids: Vec<i64> = db
        .messages(v3::CONVERSATION_B)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [15, 18], "{name}");
    db.pool().close().await;

    let hash_before = stored_hash(&url, "alice").await;
    assert!(
        hash_before.starts_with("pbkdf2-sha256-v3$5e1f0c9b8a7d6e5f5e1f0c9b8a7d6e5f$"),
        "{hash_before}"
    );

    let server = ServerBuilder::default()
        .dirs(dirs.clone())
        .env("AI_DATABASE_URL", &url)
        .start()
        .await;

    // An imported PBKDF2 user logs in; the hash becomes argon2id.
    let (status, body) = login(&server, "alice", v3::ALICE_PASSWORD).await;
    assert_eq!(status, 200, "{name}: {body}");
    assert!(body.get("warning").is_none(), "{body}");
    assert!(
        stored_hash(&url, "alice").await.starts_with("$argon2id$"),
        "{name}: not rehashed"
    );
    let (status, _) = login(&server, "alice", v3::ALICE_PASSWORD).await;
    assert_eq!(
        status, 200,
        "{name}: the argon2id hash must verify the same password"
    );
    let (status, _) = login(&server, "alice", "wrong-passphrase").await;
    assert_eq!(status, 401);
    let token = body["access_token"].as_str().unwrap();
    let me = server.get_json("/api/auth/me", token).await;
    assert_eq!(me["scopes"], json!(["read", "write"]));
    assert_eq!(me["must_change_password"], json!(false));

    // A salt with spaces is just bytes; unknown scopes were dropped.
    let (status, body) = login(&server, "carol", v3::CAROL_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let me = server
        .get_json("/api/auth/me", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me["scopes"], json!(["read", "execute"]));

    // Disabled in v3, disabled here.
    assert_eq!(login(&server, "bob", "bob-v3-passphrase").await.0, 401);

    // The old default password works, with a warning, until it is changed.
    let (status, body) = login(&server, "admin", "changeme123").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["warning"]
            .as_str()
            .unwrap()
            .contains("default password"),
        "{body}"
    );
    let admin = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get_json("/api/auth/me", &admin).await["must_change_password"],
        json!(true)
    );
    let change = |current: &str, new: &str| {
        server
            .client
            .post(server.url("/api/auth/password"))
            .bearer_auth(&admin)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    assert_eq!(
        change("not-the-password", "Fresh-Admin-Pass-42")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        change("changeme123", "changeme123").await.unwrap().status(),
        400
    );
    let changed = change("changeme123", "Fresh-Admin-Pass-42").await.unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    // The token used for the change predates it and no longer works; the answer brings a new one.
    assert_eq!(
        server
            .get("/api/auth/me")
            .bearer(&admin)
            .send()
            .await
            .status(),
        401
    );
    let admin = changed["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get_json("/api/auth/me", &admin).await["must_change_password"],
        json!(false)
    );
    assert_eq!(login(&server, "admin", "changeme123").await.0, 401);
    let (status, body) = login(&server, "admin", "Fresh-Admin-Pass-42").await;
    assert_eq!(status, 200);
    assert!(body.get("warning").is_none(), "{body}");
    let admin = body["access_token"].as_str().unwrap().to_string();
    let changes = server
        .audit(&admin, "action=user.password_change&outcome=success")
        .await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(!server.logs().contains("Fresh-Admin-Pass-42"));

    // Imported API keys: the working one works with its scopes cut to its owner's, the expired one does not.
    let (status, me) = with_key(&server, "/api/auth/me", v3::ALICE_KEY).await;
    assert_eq!(status, 200, "{name}: {me}");
    assert_eq!(me["username"], json!("alice"));
    assert_eq!(me["scopes"], json!(["read", "write"]));
    assert_eq!(
        with_key(&server, "/api/auth/me", v3::EXPIRED_KEY).await.0,
        401
    );

    // Conversations: ids, titles, order and timestamps preserved, owned by admin.
    let list = server.get_json("/api/conversations", &admin).await;
    let ids: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [v3::CONVERSATION_B, v3::CONVERSATION_A], "{list}");
    let a = server
        .get_json(
            &format!("/api/conversations/{}", v3::CONVERSATION_A),
            &admin,
        )
        .await;
    assert_eq!(a["owner"], json!("admin"));
    assert_eq!(a["title"], json!("Disk usage"));
    assert_eq!(a["created_at"], json!(1_714_557_600_000i64));
    let messages = a["messages"].as_array().unwrap();
    let got: Vec<(i64, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (10, "user", "how full is /var?"),
            (11, "assistant", "/var is 41% full"),
            (16, "user", "and /home?"),
            (17, "assistant", "/home is 12% full"),
        ]
    );
    assert_eq!(messages[1]["model_used"], json!("llama3.1:8b"));
    let b = server
        .get_json(
            &format!("/api/conversations/{}", v3::CONVERSATION_B),
            &admin,
        )
        .await;
    assert_eq!(b["title"], json!(""));
    assert_eq!(b["created_at"], json!(1_714_647_600_500i64));
    // Alice does not see the admin's conversations.
    assert_eq!(alice_conversations(&server).await, json!(0));

    let imports = server.audit(&admin, "action=import.v3").await;
    assert_eq!(
        imports.len(),
        1,
        "one audit row per import that imported something: {imports:?}"
    );
}

#[tokio::test]
async fn import_then_log_in_and_use_keys_on_every_backend() {
    support::install_crypto();
    for backend in backends::all().await {
        import_then_serve(backend).await;
    }
}

#[tokio::test]
async fn files_that_are_not_v3_are_refused_with_exit_2() {
    sqlx::any::install_default_drivers();
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let target = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", target.path().join("o.db").display());

    let junk = source.path().join("junk.db");
    std::fs::write(
        &junk,
        "this is not a database, just text that is long enough to have a header",
    )
    .unwrap();
    let out = import(&junk, &orch, &url, target.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("is not a SQLite database"),
        "{}",
        text(&out).1
    );

    let missing = source.path().join("missing.db");
    let out = import(&auth, &missing, &url, target.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("does not exist"), "{}", text(&out).1);

    let out = import(&orch, &auth, &url, target.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("swapped"), "{}", text(&out).1);

    let other = source.path().join("other.db");
    let conn = v3::create(&other, "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT); CREATE TABLE api_keys (id INTEGER);").await;
    conn.close().await.unwrap();
    let out = import(&other, &orch, &url, target.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("is not a v3.0 auth.db") && stderr.contains("hashed_password"),
        "{stderr}"
    );
    assert!(
        !target.path().join("o.db").exists(),
        "nothing may be created for a refused import"
    );

    // The guide's AI_DB_PATH still naming the v3 file: the import says to pick a new one.
    let bytes = std::fs::read(&orch).unwrap();
    let into_itself = format!("sqlite://{}", orch.display());
    let out = import(&auth, &orch, &into_itself, target.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("new file"), "{}", text(&out).1);
    assert_eq!(std::fs::read(&orch).unwrap(), bytes);
}

#[tokio::test]
async fn an_import_is_all_or_nothing_and_never_runs_under_a_server() {
    sqlx::any::install_default_drivers();
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let dirs = Dirs::new();
    let url = Backend::Sqlite.url(&dirs.data());

    // The owner check fails after users were written: the transaction leaves nothing behind.
    let out = import(&auth, &orch, &url, &dirs.data(), &["--owner", "nobody"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("\"nobody\""), "{}", text(&out).1);
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
    assert_eq!(users, 0);
    conn.close().await.unwrap();
    let uploads = dirs.data().join("uploads");
    let files: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        files.is_empty(),
        "no upload file may stay behind: {files:?}"
    );

    // --owner maps the conversations to another imported user.
    let out = import(&auth, &orch, &url, &dirs.data(), &["--owner", "alice"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("(owner: alice)"));

    let server = ServerBuilder::default().dirs(dirs.clone()).start().await;
    let out = import(&auth, &orch, &url, &dirs.data(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("a server is running"),
        "{}",
        text(&out).1
    );
    assert_eq!(alice_conversations(&server).await, json!(2));
}

/// Files edited by hand or by a later build: optional columns missing, extra ones present.
#[tokio::test]
async fn files_with_missing_optional_and_extra_columns_import() {
    sqlx::any::install_default_drivers();
    let source = tempfile::tempdir().unwrap();
    let auth = source.path().join("auth.db");
    let orch = source.path().join("orchestrator.db");
    let mut conn = v3::create(&auth, v3::EDITED_AUTH_SCHEMA).await;
    let rows = format!(
        r#"
INSERT INTO users (username, hashed_password, disabled, scopes, theme) VALUES ('dave', '{dave}', 'false', '["read","write"]', 'dark');
INSERT INTO users (username, hashed_password, disabled, scopes) VALUES ('admin', '{admin}', 0, '["admin"]');
INSERT INTO api_keys (key_hash, name, user_id, scopes, disabled) VALUES ('{k1}', 'works', 1, '["read"]', 0);
INSERT INTO api_keys (key_hash, name, user_id, scopes, disabled) VALUES ('{k2}', 'switched off', 1, '["read"]', 1);
"#,
        dave = v3::v3_hash("dave-v3-passphrase", "ffeeddccbbaa99887766554433221100"),
        admin = v3::v3_hash("admin-v3-passphrase", "00112233445566778899aabbccddeeff"),
        k1 = v3::sha256_hex(v3::ALICE_KEY),
        k2 = v3::sha256_hex(v3::EXPIRED_KEY),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(rows))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let conn = v3::create(
        &orch,
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT, pinned INTEGER);
         CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id TEXT, role TEXT, content TEXT, tokens INTEGER);
         INSERT INTO conversations (id, title, pinned) VALUES ('c1', 'kept', 1);
         INSERT INTO messages (id, conversation_id, role, content, tokens) VALUES (1, 'c1', 'user', 'hi', 2);",
    )
    .await;
    conn.close().await.unwrap();

    let dirs = Dirs::new();
    let url = Backend::Sqlite.url(&dirs.data());
    let out = import(&auth, &orch, &url, &dirs.data(), &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("users:         2 imported"), "{stdout}");
    assert!(stdout.contains("api keys:      2 imported"), "{stdout}");
    assert!(stdout.contains("stay revoked"), "{stdout}");
    assert!(stdout.contains("messages:      1 imported"), "{stdout}");

    let server = ServerBuilder::default().dirs(dirs.clone()).start().await;
    let (status, body) = login(&server, "dave", "dave-v3-passphrase").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        with_key(&server, "/api/auth/me", v3::ALICE_KEY).await.0,
        200
    );
    assert_eq!(
        with_key(&server, "/api/auth/me", v3::EXPIRED_KEY).await.0,
        401,
        "a key marked disabled stays revoked"
    );
    let admin = server.login("admin", "admin-v3-passphrase").await.access;
    let c1 = server.get_json("/api/conversations/c1", &admin).await;
    assert_eq!(c1["title"], json!("kept"));
    assert_eq!(c1["messages"][0]["content"], json!("hi"));
}
