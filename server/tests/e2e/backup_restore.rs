//! `backup` while the server runs, `restore` after it stopped: data written →
//! backup → more writes → restore → exactly the backed-up state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{self, backends};
use std::path::Path;
use std::process::Output;

use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use support::{ServerBuilder, TestServer, cli};

/// The schema version this build migrates to.
fn latest() -> i64 {
    ai_orchestrator::store::db::latest_schema_version(ai_orchestrator::store::db::Backend::Sqlite)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `backup --data-dir DATA --output OUTPUT`.
fn run_backup(data_dir: &str, output: &Path) -> Output {
    cli(&[
        "backup",
        "--data-dir",
        data_dir,
        "--output",
        output.to_str().unwrap(),
    ])
}

/// `restore --data-dir DATA --input INPUT`.
fn run_restore(data_dir: &str, input: &Path) -> Output {
    cli(&[
        "restore",
        "--data-dir",
        data_dir,
        "--input",
        input.to_str().unwrap(),
    ])
}

/// The command was refused (exit 2) and said why on stderr.
fn assert_refused(out: &Output, reason: &str) {
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(out).contains(reason), "{}", stderr(out));
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every row of every table, as text, in a stable order.
async fn dump(path: &Path) -> Vec<String> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("name"))
    .collect();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| format!("quote(\"{}\")", r.get::<String, _>("name")))
            .collect();
        let sql = format!(
            "SELECT {} AS r FROM \"{table}\" ORDER BY 1",
            columns.join(" || '|' || ")
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            out.push(format!("{table}: {}", row.get::<String, _>("r")));
        }
    }
    conn.close().await.unwrap();
    out
}

async fn login_status(server: &TestServer, username: &str, password: &str) -> u16 {
    server
        .post("/api/auth/login")
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn backup_online_then_restore_gives_exactly_the_backed_up_state() {
    let server = TestServer::start().await;
    let data = server.data_dir();
    let data_arg = data.to_str().unwrap().to_string();
    let db_file = data.join("orchestrator.db");
    let admin = server.admin().await;
    server
        .create_user(&admin, "before", "before-passphrase", &["read"])
        .await;
    let key = server
        .create_api_key(&admin, json!({"name": "kept", "scopes": ["read"]}))
        .await;

    // Online backup, with the server running.
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup.db");
    let out = run_backup(&data_arg, &backup);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("schema version {}", latest())),
        "{}",
        stdout(&out)
    );
    let backed_up = dump(&backup).await;
    assert!(
        backed_up.iter().any(|r| r.starts_with("users: 'before'")),
        "{backed_up:#?}"
    );
    let out = run_backup(&data_arg, &backup);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing file is never overwritten"
    );

    // More writes after the backup.
    server
        .create_user(&admin, "after", "after-passphrase", &["read"])
        .await;
    let response = server
        .patch("/api/auth/users/before")
        .bearer(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await;
    assert_eq!(response.status(), 200);

    // Not while the server runs.
    let out = run_restore(&data_arg, &backup);
    assert_refused(&out, "a server is running");

    let builder = server.builder.clone().dirs(server.dirs.clone());
    let mut server = server;
    server.stop();
    let live_before_restore = dump(&db_file).await;
    let out = run_restore(&data_arg, &backup);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("pre-restore"), "{}", stdout(&out));

    // Exactly the backed-up state; the replaced one kept aside.
    assert_eq!(dump(&db_file).await, backed_up);
    let kept = data.join("orchestrator.db.pre-restore");
    assert_eq!(dump(&kept).await, live_before_restore);
    assert!(
        !data.join("orchestrator.db-wal").exists()
            || std::fs::metadata(data.join("orchestrator.db-wal"))
                .unwrap()
                .len()
                == 0
    );

    let server = builder.start().await;
    assert_eq!(
        login_status(&server, "before", "before-passphrase").await,
        200,
        "disabled after the backup"
    );
    assert_eq!(
        login_status(&server, "after", "after-passphrase").await,
        401,
        "created after the backup"
    );
    let response = server.me_with_key(&key).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn restore_refuses_newer_schemas_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    // A database made by this build (the server migrates it at start).
    let server = ServerBuilder::default().start().await;
    let backup = dir.path().join("b.db");
    let out = run_backup(server.data_dir().to_str().unwrap(), &backup);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);

    let newer = dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    let options = SqliteConnectOptions::new().filename(&newer);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let out = run_restore(data_arg, &newer);
    assert_refused(
        &out,
        &format!("schema version 999, newer than this build's {}", latest()),
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, but long enough to look like a file header....",
    )
    .unwrap();
    let out = run_restore(data_arg, &text);
    assert_refused(&out, "not a SQLite database");

    let foreign = dir.path().join("foreign.db");
    let options = SqliteConnectOptions::new()
        .filename(&foreign)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("CREATE TABLE t (x)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let out = run_restore(data_arg, &foreign);
    assert_refused(&out, "not an ai-orchestrator backup");
    assert!(
        !data.join("orchestrator.db").exists(),
        "a refused restore writes nothing"
    );

    // An older-or-equal backup into an empty data dir works.
    let out = run_restore(data_arg, &backup);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        dump(&data.join("orchestrator.db")).await,
        dump(&backup).await
    );
}

#[tokio::test]
async fn postgres_backup_uses_pg_dump_and_restore_explains_pg_restore() {
    let Some(admin_url) = backends::postgres_admin_url() else {
        return;
    };
    let url = backends::fresh_postgres(&admin_url).await;
    let server = ServerBuilder::default()
        .env("AI_DATABASE_URL", &url)
        .start()
        .await;
    let admin = server.admin().await;
    server
        .create_user(&admin, "pg-user", "pg-user-passphrase", &["read"])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pg.dump");
    let out = cli(&[
        "backup",
        "--database-url",
        &url,
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("aio-test"),
        "the password must not be printed"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        bytes.starts_with(b"PGDMP"),
        "not a pg_dump custom-format file"
    );
    let out = cli(&[
        "restore",
        "--database-url",
        &url,
        "--input",
        file.to_str().unwrap(),
    ]);
    assert_refused(&out, "pg_restore --clean --if-exists --no-owner");
    assert!(
        !stderr(&out).contains("aio-test"),
        "the password must not be printed"
    );
}

/// Under the usual umask 022 (and a data directory that already existed 0755) the server's
/// files are still private: the directory 0700, the database, its WAL, the audit log and a
/// backup 0600.
#[tokio::test]
async fn the_data_directory_and_its_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dirs = support::Dirs::new();
    std::fs::set_permissions(dirs.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let audit_log = dirs.data().join("audit.log");
    let server = ServerBuilder::default()
        .dirs(dirs.clone())
        .env("AI_AUDIT_LOG_PATH", audit_log.to_str().unwrap())
        .start()
        .await;
    assert_eq!(
        login_status(&server, "admin", support::ADMIN_PASSWORD).await,
        200
    );
    let data = server.data_dir();
    assert_eq!(mode(&data), 0o700, "data directory");
    for name in ["orchestrator.db", "orchestrator.db-wal", "audit.log"] {
        let path = data.join(name);
        assert!(path.exists(), "{name} was not written");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("copy.db");
    let out = run_backup(data.to_str().unwrap(), &backup);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&backup), 0o600, "backup");
}
