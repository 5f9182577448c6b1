//! `ai-orchestrator users …` and `keys …` on the database a server uses, with
//! the real binary, on SQLite and PostgreSQL.

use crate::support::{self, backends};

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Dirs, ServerBuilder};

fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    support::cli_with(args, stdin, env, None)
}

fn out(o: &Output) -> String {
    support::describe(o)
}

async fn login_status(server: &support::TestServer, user: &str, password: &str) -> u16 {
    server
        .client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `check` returns true (a running server re-reads users every 10 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(25);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn users_and_keys(backend: backends::Backend) {
    let dirs = Dirs::new();
    let url = backend.url(&dirs.data());
    let name = backend.name();
    let data = dirs.data();
    // The data dir too: the commands append to its audit.log, as the server does.
    let db = [
        ("AI_DATABASE_URL", url.as_str()),
        ("AI_DATA_DIR", data.to_str().unwrap()),
    ];
    let server = ServerBuilder::default()
        .dirs(dirs.clone())
        .env("AI_DATABASE_URL", &url)
        .start()
        .await;

    // A password is never taken from the command line.
    let o = run(
        &["users", "create", "bob", "--password", "x-long-password"],
        "",
        &db,
    );
    assert_eq!(o.status.code(), Some(2), "{name}: {}", out(&o));

    let o = run(
        &["users", "create", "bob", "--scopes", "read,write"],
        "bob-first-passphrase\n",
        &db,
    );
    assert!(o.status.success(), "{name}: {}", out(&o));
    let o = run(&["users", "create", "bob"], "another-passphrase\n", &db);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("already exists"), "{}", out(&o));
    let o = run(&["users", "create", "shorty"], "short\n", &db);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("at least 8"), "{}", out(&o));

    let o = run(&["users", "list", "--json"], "", &db);
    assert!(o.status.success(), "{}", out(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bob = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .cloned()
        .unwrap();
    assert_eq!(bob["scopes"], json!(["read", "write"]));

    eventually("bob can log in", || async {
        login_status(&server, "bob", "bob-first-passphrase").await == 200
    })
    .await;

    let o = run(
        &["users", "set-password", "bob"],
        "bob-second-passphrase\r\n",
        &db,
    );
    assert!(o.status.success(), "{}", out(&o));
    eventually("the new password works", || async {
        login_status(&server, "bob", "bob-second-passphrase").await == 200
    })
    .await;
    assert_eq!(
        login_status(&server, "bob", "bob-first-passphrase").await,
        401
    );
    let o = run(&["users", "set-password", "nobody"], "whatever-long\n", &db);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    // Keys: printed once, working, then revoked.
    let o = run(
        &[
            "keys", "create", "--user", "bob", "--name", "ci", "--scopes", "read",
        ],
        "",
        &db,
    );
    assert!(o.status.success(), "{}", out(&o));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(key.starts_with("ak_"), "{key}");
    let o = run(
        &[
            "keys", "create", "--user", "bob", "--name", "x", "--scopes", "admin",
        ],
        "",
        &db,
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "scopes above the owner's: {}",
        out(&o)
    );
    eventually("the key works", || async {
        server.me_with_key(&key).await.status() == 200
    })
    .await;
    let o = run(&["keys", "list", "--user", "bob", "--json"], "", &db);
    let keys: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&key));
    let id = keys[0]["id"].as_str().unwrap().to_string();
    let o = run(&["keys", "revoke", &id], "", &db);
    assert!(o.status.success(), "{}", out(&o));
    eventually("the revoked key stops working", || async {
        server.me_with_key(&key).await.status() == 401
    })
    .await;

    // Disable and enable.
    assert!(run(&["users", "disable", "bob"], "", &db).status.success());
    eventually("a disabled user cannot log in", || async {
        login_status(&server, "bob", "bob-second-passphrase").await == 401
    })
    .await;
    assert!(run(&["users", "enable", "bob"], "", &db).status.success());
    eventually("an enabled user logs in again", || async {
        login_status(&server, "bob", "bob-second-passphrase").await == 200
    })
    .await;

    // The only admin is kept.
    for cmd in ["disable", "delete"] {
        let o = run(&["users", cmd, "admin"], "", &db);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", out(&o));
        assert!(out(&o).contains("only enabled admin"), "{}", out(&o));
    }
    assert!(run(&["users", "delete", "bob"], "", &db).status.success());

    // Every change is audited as `system`, and no password is anywhere in the trail.
    let admin = server.login("admin", ADMIN_PASSWORD).await.access;
    let rows = server.audit(&admin, "actor=system").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    for action in [
        "user.create",
        "user.update",
        "user.delete",
        "apikey.create",
        "apikey.revoke",
    ] {
        assert!(actions.contains(&action), "{name}: {action} in {actions:?}");
    }
    let file = std::fs::read_to_string(data.join("audit.log")).unwrap();
    assert!(
        file.contains("\"actor\":\"system\"") && file.contains("apikey.revoke"),
        "{file}"
    );
    assert!(!file.contains("bob-second-passphrase") && !file.contains(&key));
    let trail = serde_json::to_string(&rows).unwrap();
    assert!(!trail.contains("bob-second-passphrase") && !trail.contains(&key));
    assert!(!server.logs().contains("bob-second-passphrase"));
}

#[tokio::test]
async fn users_and_keys_are_managed_from_the_command_line_on_every_backend() {
    support::install_crypto();
    for backend in backends::all().await {
        users_and_keys(backend).await;
    }
}
