//! SQLite files shaped exactly like those of the Python v3.0 server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// `auth.db` exactly as every v3 release created it.
pub const AUTH_SCHEMA: &str = r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    email TEXT,
    full_name TEXT,
    hashed_password TEXT NOT NULL,
    disabled BOOLEAN DEFAULT FALSE,
    is_admin BOOLEAN DEFAULT FALSE,
    scopes TEXT DEFAULT '[]',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    user_id INTEGER,
    scopes TEXT DEFAULT '[]',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP,
    last_used TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER,
    refresh_token_hash TEXT UNIQUE NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT,
    ip_address TEXT,
    success BOOLEAN,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
"#;

/// `orchestrator.db` exactly as every v3 release created it.
pub const ORCHESTRATOR_SCHEMA: &str = r#"
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    title TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT,
    role TEXT,
    content TEXT,
    model_used TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (conversation_id) REFERENCES conversations (id)
);
CREATE TABLE memory (
    key TEXT PRIMARY KEY,
    value TEXT,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    filename TEXT,
    filepath TEXT,
    filetype TEXT,
    filesize INTEGER,
    conversation_id TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
"#;

/// An `auth.db` edited by hand or by a later build: optional columns missing
/// (`email`, `full_name`, `is_admin`, `updated_at`, `last_used`), extra ones added.
pub const EDITED_AUTH_SCHEMA: &str = r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT UNIQUE NOT NULL,
    hashed_password TEXT NOT NULL,
    disabled BOOLEAN DEFAULT FALSE,
    scopes TEXT DEFAULT '[]',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_login TIMESTAMP,
    theme TEXT
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    user_id INTEGER,
    scopes TEXT DEFAULT '[]',
    disabled BOOLEAN DEFAULT FALSE
);
"#;

pub const ALICE_PASSWORD: &str = "alice-v3-passphrase";
pub const CAROL_PASSWORD: &str = "carol-v3-passphrase";
/// Alice's working key, and one that expired.
pub const ALICE_KEY: &str = "ak_v3AliceWorkingKey0123456789abcdefghijklmnopq";
pub const EXPIRED_KEY: &str = "ak_v3ExpiredKey0123456789abcdefghijklmnopqrstuv";
/// The v3 id of the upload whose file exists, and its contents.
pub const UPLOAD_ID: &str = "9d2b7c1e-0000-4000-8000-0000000000u1";
pub const UPLOAD_CONTENTS: &str = "quarterly numbers\n";
pub const CONVERSATION_A: &str = "3f1c2a9e-0000-4000-8000-00000000000a";
pub const CONVERSATION_B: &str = "3f1c2a9e-0000-4000-8000-00000000000b";

/// PBKDF2-HMAC-SHA256, 100,000 iterations, as the v3 server's `hash_password`.
pub fn v3_hash(password: &str, salt: &str) -> String {
    ai_orchestrator::auth::legacy_hash::v3_hash(password, salt)
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

pub async fn create(path: &Path, schema: &str) -> SqliteConnection {
    // Python's sqlite3 leaves foreign keys unenforced, so v3 files can hold orphans.
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(schema.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// Writes `auth.db` and `orchestrator.db` into `dir` with a representative population.
pub async fn populate(dir: &Path) -> (PathBuf, PathBuf) {
    let auth = dir.join("auth.db");
    let orch = dir.join("orchestrator.db");
    let mut conn = create(&auth, AUTH_SCHEMA).await;
    let users = format!(
        r#"
INSERT INTO users (username, email, full_name, hashed_password, disabled, is_admin, scopes, created_at, updated_at)
VALUES ('admin', 'admin@example.org', 'Administrator', '{admin}', 0, 1, '["admin","read","write","execute"]', '2024-01-05 08:00:00', '2024-01-05 08:00:00');
INSERT INTO users (username, email, full_name, hashed_password, disabled, is_admin, scopes, created_at, updated_at)
VALUES ('alice', 'alice@example.org', 'Alice A.', '{alice}', 0, 0, '["read","write"]', '2024-03-01 12:30:05', '2024-03-04 09:00:00');
INSERT INTO users (username, hashed_password, disabled, scopes)
VALUES ('bob', '{bob}', 1, '["read"]');
INSERT INTO users (username, hashed_password, scopes, created_at)
VALUES ('carol', '{carol}', '["read","execute","teleport"]', '2024-03-02T09:10:11.123456');
INSERT INTO api_keys (key_hash, name, user_id, scopes, created_at, expires_at, last_used)
VALUES ('{k1}', 'alice laptop', 2, '["read","write","admin"]', '2024-03-03 10:00:00', NULL, '2024-04-01 00:00:00');
INSERT INTO api_keys (key_hash, name, user_id, scopes, created_at, expires_at)
VALUES ('{k2}', 'old ci key', 2, '["read"]', '2024-01-01 00:00:00', '2024-02-01 00:00:00');
INSERT INTO api_keys (key_hash, name, user_id, scopes) VALUES ('{k3}', 'orphan', 99, '["read"]');
INSERT INTO login_attempts (username, ip_address, success) VALUES ('alice', '10.0.0.1', 1), ('mallory', '10.0.0.9', 0);
INSERT INTO sessions (user_id, refresh_token_hash, ip_address, user_agent, expires_at)
VALUES (2, 'x', '10.0.0.1', 'curl/8', '2024-03-10 00:00:00');
"#,
        admin = v3_hash("changeme123", "a1b2c3d4e5f60718a1b2c3d4e5f60718"),
        alice = v3_hash(ALICE_PASSWORD, "5e1f0c9b8a7d6e5f5e1f0c9b8a7d6e5f"),
        bob = v3_hash("bob-v3-passphrase", "00112233445566770011223344556677"),
        carol = v3_hash(CAROL_PASSWORD, "salt with spaces"),
        k1 = sha256_hex(ALICE_KEY),
        k2 = sha256_hex(EXPIRED_KEY),
        k3 = sha256_hex("ak_orphan"),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(users))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let files = dir.join("v3-uploads");
    std::fs::create_dir_all(&files).unwrap();
    let present = files.join(format!("{UPLOAD_ID}_report.txt"));
    std::fs::write(&present, UPLOAD_CONTENTS).unwrap();
    let missing = files.join("lost_photo.png");
    let mut conn = create(&orch, ORCHESTRATOR_SCHEMA).await;
    let rows = format!(
        r#"
INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('{a}', 'Disk usage', '2024-05-01 10:00:00', '2024-05-01 10:05:00');
INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('{b}', NULL, '2024-05-02T11:00:00.500000', '2024-05-02T11:00:00.500000');
INSERT INTO messages (id, conversation_id, role, content, model_used, created_at) VALUES (10, '{a}', 'user', 'how full is /var?', NULL, '2024-05-01 10:00:00');
INSERT INTO messages (id, conversation_id, role, content, model_used, created_at) VALUES (11, '{a}', 'assistant', '/var is 41% full', 'llama3.1:8b', '2024-05-01 10:00:07');
INSERT INTO messages (id, conversation_id, role, content, model_used, created_at) VALUES (15, '{b}', 'user', 'hello', NULL, '2024-05-02 11:00:00');
INSERT INTO messages (id, conversation_id, role, content, model_used, created_at) VALUES (16, '{a}', 'user', 'and /home?', NULL, '2024-05-01 10:04:00');
INSERT INTO messages (id, conversation_id, role, content, model_used, created_at) VALUES (17, '{a}', 'assistant', '/home is 12% full', 'llama3.1:8b', '2024-05-01 10:05:00');
INSERT INTO messages (id, conversation_id, role, content) VALUES (18, 'gone', 'user', 'orphan');
INSERT INTO uploads (id, filename, filepath, filetype, filesize, conversation_id, created_at)
VALUES ('{UPLOAD_ID}', '../report.txt', '{present}', 'text/plain', 18, '{a}', '2024-05-01 10:01:00');
INSERT INTO uploads (id, filename, filepath, filetype, filesize, conversation_id)
VALUES ('lost-1', 'photo.png', '{missing}', 'image/png', 1000, '{b}');
INSERT INTO memory (key, value) VALUES ('k', 'v');
"#,
        a = CONVERSATION_A,
        b = CONVERSATION_B,
        present = present.display(),
        missing = missing.display(),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(rows))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (auth, orch)
}
