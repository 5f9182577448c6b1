//! The storage layer behaves the same on SQLite and PostgreSQL: one scenario
//! runs on each, its observable results are checked and compared line by line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::backends;
use ai_orchestrator::http::scopes::{Scope, Scopes};
use ai_orchestrator::store::conversations::NewMessage;
use ai_orchestrator::store::db::{
    ApiKeyRow, AuditFilter, AuditRow, Db, NewRefresh, OwnedData, UserRow,
};
use backends::Backend;
use serde_json::json;

fn user(name: &str, scopes: Scopes, at: i64) -> UserRow {
    UserRow {
        uid: format!("uid-{name}"),
        token_generation: 0,
        username: name.into(),
        password_hash: format!("hash-of-{name}"),
        scopes,
        disabled: false,
        created_at: at,
        updated_at: at,
    }
}

fn key(id: &str, owner: &str, at: i64) -> ApiKeyRow {
    ApiKeyRow {
        id: id.into(),
        name: format!("key {id}"),
        owner: owner.into(),
        key_hash: format!("{id:0>64}"),
        prefix: "ak_".into(),
        scopes: Scopes::of([Scope::Read]),
        created_at: at,
        expires_at: Some(at + 1000),
        last_used_at: None,
        revoked: false,
    }
}

fn audit(i: i64, actor: &str, action: &str, outcome: &str) -> AuditRow {
    AuditRow {
        id: 0,
        ts: 1_000 + i,
        actor: actor.into(),
        ip: "127.0.0.1".into(),
        action: action.into(),
        target: format!("t{i}"),
        outcome: outcome.into(),
        reason: String::new(),
        request_id: format!("r{i}"),
    }
}

/// Runs every storage operation once and records what could be seen.
async fn scenario(db: &Db) -> Vec<String> {
    let mut seen = Vec::new();
    let mut note = |line: String| seen.push(line);

    // Users: insert, duplicate, byte-order listing (mixed case), update, delete with cascade.
    for (name, at) in [("bob", 1), ("Zed", 2), ("alice", 3), ("_x", 4)] {
        assert!(
            db.insert_user(&user(name, Scopes::of([Scope::Read, Scope::Write]), at))
                .await
                .unwrap()
        );
    }
    assert!(
        !db.insert_user(&user("bob", Scopes::ADMIN, 9))
            .await
            .unwrap(),
        "duplicate name must be refused"
    );
    let names: Vec<String> = db
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(
        names,
        ["Zed", "_x", "alice", "bob"],
        "byte order, as SQLite sorts"
    );
    note(format!("users {names:?}"));
    let mut bob = db.get_user("bob").await.unwrap().unwrap();
    assert_eq!(bob.scopes, Scopes::of([Scope::Read, Scope::Write]));
    bob.disabled = true;
    bob.scopes = Scopes::ADMIN;
    bob.updated_at = 50;
    assert!(db.update_user(&bob).await.unwrap());
    let bob = db.get_user("bob").await.unwrap().unwrap();
    assert!(
        bob.disabled && bob.scopes == Scopes::ADMIN && bob.updated_at == 50 && bob.created_at == 1
    );
    note(format!(
        "bob {:?} {} {}",
        bob.scopes, bob.disabled, bob.updated_at
    ));
    assert!(db.get_user("nobody").await.unwrap().is_none());
    assert!(
        db.get_user("BOB").await.unwrap().is_none(),
        "names are case-sensitive on both"
    );

    // API keys: list by owner in creation order, revoke once, batched last-use never goes back.
    db.insert_api_key(&key("k2", "alice", 20)).await.unwrap();
    db.insert_api_key(&key("k1", "alice", 20)).await.unwrap();
    db.insert_api_key(&key("k3", "bob", 10)).await.unwrap();
    assert!(
        db.insert_api_key(&key("k1", "bob", 30)).await.is_err(),
        "duplicate id must fail"
    );
    let ids: Vec<String> = db
        .list_api_keys(Some("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["k1", "k2"]);
    let all: Vec<String> = db
        .list_api_keys(None)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(all, ["k3", "k1", "k2"]);
    note(format!("keys {all:?}"));
    assert!(db.revoke_api_key("k2").await.unwrap());
    assert!(
        !db.revoke_api_key("k2").await.unwrap(),
        "a second revoke changes nothing"
    );
    db.flush_last_used(&[("k1".into(), 500), ("k3".into(), 700)])
        .await
        .unwrap();
    db.flush_last_used(&[("k1".into(), 400)]).await.unwrap();
    let k1 = db.get_api_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (k1.last_used_at, k1.expires_at, k1.revoked),
        (Some(500), Some(1020), false)
    );
    assert!(db.get_api_key("k2").await.unwrap().unwrap().revoked);
    note(format!("k1 {:?}", k1.last_used_at));

    // Refresh tokens: single use, family revocation, per-user revocation, purge.
    let token =
        |hash: &'static str, family: &'static str, username: &'static str, expires_at| NewRefresh {
            token_hash: hash,
            family_id: family,
            username,
            uid: "uid",
            scopes: Scopes::of([Scope::Read]),
            expires_at,
        };
    db.insert_refresh(&token("h1", "fam", "alice", i64::MAX / 4))
        .await
        .unwrap();
    db.insert_refresh(&token("h2", "fam", "alice", i64::MAX / 4))
        .await
        .unwrap();
    db.insert_refresh(&token("h3", "other", "Zed", 5))
        .await
        .unwrap();
    let stored = db.get_refresh("h2").await.unwrap().unwrap();
    assert_eq!(
        (stored.uid.as_deref(), stored.scopes),
        (Some("uid"), Some(Scopes::of([Scope::Read])))
    );
    // Rotation spends the old token and stores its successor, or does neither.
    db.insert_refresh(&token("r1", "rot", "alice", i64::MAX / 4))
        .await
        .unwrap();
    assert!(
        db.rotate_refresh("r1", &token("r2", "rot", "alice", i64::MAX / 4))
            .await
            .unwrap()
    );
    assert!(db.get_refresh("r1").await.unwrap().unwrap().used);
    assert!(
        !db.rotate_refresh("r1", &token("r3", "rot", "alice", i64::MAX / 4))
            .await
            .unwrap()
    );
    assert!(
        db.get_refresh("r3").await.unwrap().is_none(),
        "no successor for a spent token"
    );
    assert_eq!(db.revoke_refresh_family("rot").await.unwrap(), 2);
    assert!(db.consume_refresh("h1").await.unwrap());
    assert!(
        !db.consume_refresh("h1").await.unwrap(),
        "a used token cannot be used again"
    );
    assert!(db.get_refresh("h1").await.unwrap().unwrap().used);
    assert_eq!(db.revoke_refresh_family("fam").await.unwrap(), 2);
    assert!(!db.consume_refresh("h2").await.unwrap(), "revoked");
    assert_eq!(db.revoke_refresh_for_user("Zed").await.unwrap(), 1);
    assert_eq!(db.purge_expired_refresh().await.unwrap(), 1);
    assert!(db.get_refresh("h3").await.unwrap().is_none());
    note("refresh ok".into());

    // Audit: filters, newest first, pagination and totals.
    for i in 0..25 {
        let actor = if i % 2 == 0 { "alice" } else { "bob" };
        let outcome = if i % 5 == 0 { "failure" } else { "success" };
        db.insert_audit(&audit(i, actor, "auth.login", outcome))
            .await
            .unwrap();
    }
    let (page, total) = db
        .query_audit(&AuditFilter {
            actor: Some("alice".into()),
            limit: 5,
            offset: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 13);
    let targets: Vec<String> = page.iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets, ["t20", "t18", "t16", "t14", "t12"]);
    let (page, total) = db
        .query_audit(&AuditFilter {
            outcome: Some("failure".into()),
            since_ms: Some(1_005),
            until_ms: Some(1_020),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 4);
    note(format!(
        "audit {:?}",
        page.iter().map(|r| &r.target).collect::<Vec<_>>()
    ));

    // Conversations: create, append in order, list by recency, rename, delete with messages.
    let c1 = db.create_conversation("alice", "first").await.unwrap();
    let c2 = db.create_conversation("alice", "second").await.unwrap();
    let msg = |role: &str, content: &str| NewMessage {
        role: role.into(),
        content: content.into(),
        model_used: (role == "assistant").then(|| "m".to_string()),
        tool_calls: (role == "assistant").then(|| json!([{"name": "list_directory"}])),
    };
    // Later than c2's creation, so that recency order is certain.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    db.append_messages(
        &c1.id,
        &[
            msg("user", "hi"),
            msg("assistant", "hello"),
            msg("tool", "ü ✓ 𝄞"),
        ],
    )
    .await
    .unwrap();
    let stored = db.messages(&c1.id).await.unwrap();
    let got: Vec<(&str, &str)> = stored
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        got,
        [("user", "hi"), ("assistant", "hello"), ("tool", "ü ✓ 𝄞")]
    );
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        stored[1].tool_calls,
        Some(json!([{"name": "list_directory"}]))
    );
    note(format!("messages {got:?}"));
    let listed = db.list_conversations(Some("alice"), 10, 0).await.unwrap();
    assert_eq!(
        listed[0].id, c1.id,
        "the conversation just appended to comes first"
    );
    assert_eq!(
        db.list_conversations(Some("bob"), 10, 0)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        db.list_conversations(None, 1, 1).await.unwrap()[0].id,
        c2.id
    );
    assert!(db.rename_conversation(&c2.id, "renamed").await.unwrap());
    assert_eq!(
        db.get_conversation(&c2.id).await.unwrap().unwrap().title,
        "renamed"
    );
    assert!(db.delete_conversation(&c1.id).await.unwrap());
    assert!(!db.delete_conversation(&c1.id).await.unwrap());
    assert!(db.messages(&c1.id).await.unwrap().is_empty());
    note("conversations ok".into());

    assert!(db.delete_user("alice", &OwnedData::Delete).await.unwrap());
    assert!(
        db.list_api_keys(Some("alice")).await.unwrap().is_empty(),
        "keys go with their user"
    );
    assert!(
        db.get_refresh("h2").await.unwrap().is_none(),
        "refresh tokens go with their user"
    );
    db.ping().await.unwrap();
    seen
}

#[tokio::test]
async fn every_storage_operation_behaves_the_same_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let mut transcripts = Vec::new();
    for backend in backends::all().await {
        let db = Db::connect(&backend.url(dir.path())).await.unwrap();
        // Migrating twice is a no-op.
        let db2 = Db::connect(&backend.url(dir.path())).await.unwrap();
        drop(db2);
        let seen = scenario(&db).await;
        transcripts.push((backend.name(), seen));
    }
    let (first_name, first) = &transcripts[0];
    for (name, seen) in &transcripts[1..] {
        assert_eq!(seen, first, "{name} differs from {first_name}");
    }
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let err = Db::connect("mysql://localhost/x").await.unwrap_err();
    assert!(
        err.to_string().contains("sqlite:// or postgres://"),
        "{err}"
    );
    if let Some(Backend::Postgres(url)) = backends::all().await.into_iter().nth(1) {
        // Wrong credentials are a clear error, not a hang.
        let (scheme, rest) = url.split_once("://").unwrap();
        let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let bad = format!("{scheme}://nobody-here:wrong@{host_and_db}");
        assert!(Db::connect(&bad).await.is_err());
    }
}
