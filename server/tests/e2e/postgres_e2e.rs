//! The key end-to-end flows on PostgreSQL, with two replicas sharing one
//! database: logins and refresh-token families, API keys, user changes,
//! conversations and the audit trail are common to both; a restart keeps them.
//! (The same flows on SQLite are in `auth.rs` and `import_v3.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{self, backends, v3};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, ServerBuilder, TestServer};

async fn post_json(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = server.client.post(server.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn key_status(server: &TestServer, key: &str) -> u16 {
    let response = server.me_with_key(key).await;
    response.status().as_u16()
}

/// Waits until the other replica's periodic re-read of users and keys shows `want`.
async fn eventually_key_status(server: &TestServer, key: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = key_status(server, key).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "key status stayed {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_replicas_share_users_keys_refresh_families_conversations_and_audit() {
    support::install_crypto();
    let Some(admin_url) = backends::postgres_admin_url() else {
        return;
    };
    let url = backends::fresh_postgres(&admin_url).await;

    // Conversations come in through the v3 import, before any server ran.
    let source = tempfile::tempdir().unwrap();
    let (auth_db, orch_db) = v3::populate(source.path()).await;
    let out = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(["import-v3", "--database-url", &url, "--auth-db"])
        .arg(&auth_db)
        .arg("--orchestrator-db")
        .arg(&orch_db)
        .arg("--upload-dir")
        .arg(source.path().join("imported-uploads"))
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The imported admin's password is the v3 default; reset it through the shared database below.

    let builder = ServerBuilder::default().env("AI_DATABASE_URL", &url);
    let a = builder.start().await;
    let b = builder.start().await;
    assert_ne!(a.data_dir(), b.data_dir());

    // The imported admin logs in on A (old default password), changes it, and B accepts the new one.
    let (status, body) = post_json(
        &a,
        "/api/auth/login",
        None,
        json!({"username": "admin", "password": "changeme123"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin_a = body["access_token"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        &a,
        "/api/auth/password",
        Some(&admin_a),
        json!({"current_password": "changeme123", "new_password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    // Tokens from before the change died with it; the answer carries a new pair.
    let admin_a = body["access_token"].as_str().unwrap().to_string();
    let admin_b = b.admin().await;

    // A user created on A logs in on B, by form and by JSON.
    a.create_user(&admin_a, "carla", "carla-passphrase-1", &["read", "write"])
        .await;
    let response = b
        .post("/api/auth/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=carla&password=carla-passphrase-1")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let tokens = b.login("carla", "carla-passphrase-1").await;

    // Refresh families are shared: rotate on A, replay the old token on B → the family dies everywhere.
    let (status, rotated) = post_json(
        &a,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": tokens.refresh}),
    )
    .await;
    assert_eq!(status, 200);
    let newer = rotated["refresh_token"].as_str().unwrap().to_string();
    let (status, _) = post_json(
        &b,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": tokens.refresh}),
    )
    .await;
    assert_eq!(status, 401, "reuse must be detected on the other replica");
    let (status, _) = post_json(
        &a,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": newer}),
    )
    .await;
    assert_eq!(status, 401, "the whole family is revoked");
    let again = a.login("carla", "carla-passphrase-1").await;
    let (status, _) = post_json(
        &b,
        "/api/auth/logout",
        None,
        json!({"refresh_token": again.refresh}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_json(
        &a,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": again.refresh}),
    )
    .await;
    assert_eq!(status, 401, "logged out on B, refused on A");

    // API keys: created on A, work on A at once and on B after its re-read; revoked on B, refused on A.
    let (status, created) = post_json(
        &a,
        "/api/auth/apikeys",
        Some(&admin_a),
        json!({"name": "shared", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["id"].as_str().unwrap().to_string();
    assert_eq!(key_status(&a, &key).await, 200);
    eventually_key_status(&b, &key, 200).await;
    let response = b
        .delete(&format!("/api/auth/apikeys/{key_id}"))
        .bearer(&admin_b)
        .send()
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(key_status(&b, &key).await, 401);
    eventually_key_status(&a, &key, 401).await;
    // The imported v3 key works on both.
    assert_eq!(key_status(&a, v3::ALICE_KEY).await, 200);
    assert_eq!(key_status(&b, v3::ALICE_KEY).await, 200);

    // Disabling on B stops logins on A at once (the login reads the shared row).
    let response = b
        .patch("/api/auth/users/carla")
        .bearer(&admin_b)
        .json(&json!({"disabled": true}))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let (status, _) = post_json(
        &a,
        "/api/auth/login",
        None,
        json!({"username": "carla", "password": "carla-passphrase-1"}),
    )
    .await;
    assert_eq!(status, 401);

    // Conversations: renamed on A, seen on B, deleted on B, gone on A.
    let path = format!("/api/conversations/{}", v3::CONVERSATION_A);
    let response = a
        .put(&path)
        .bearer(&admin_a)
        .json(&json!({"title": "Renamed on A"}))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let seen = b.get_json(&path, &admin_b).await;
    assert_eq!(seen["title"], json!("Renamed on A"));
    assert_eq!(seen["messages"].as_array().unwrap().len(), 4);
    let response = b.delete(&path).bearer(&admin_b).send().await;
    assert!(response.status().is_success());
    assert_eq!(a.get(&path).bearer(&admin_a).send().await.status(), 404);

    // One audit trail: the reuse detected on B and the key revoked on B are visible from A.
    let reuse = a.audit(&admin_a, "action=auth.refresh_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    let logins = a.audit(&admin_a, "action=auth.login&outcome=success").await;
    assert!(logins.len() >= 4, "{logins:?}");
    let page = a.get_json("/api/audit?limit=2&offset=1", &admin_a).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    // A restart keeps everything.
    drop(b);
    let a = a.restart().await;
    let admin = a.admin().await;
    let users = a.get_json("/api/auth/users", &admin).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice", "bob", "carla", "carol"]);
    assert_eq!(a.audit(&admin, "action=auth.refresh_reuse").await.len(), 1);
    assert_eq!(key_status(&a, &key).await, 401);
    assert_eq!(key_status(&a, v3::ALICE_KEY).await, 200);
}
