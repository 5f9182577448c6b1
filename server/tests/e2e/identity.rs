//! Tokens follow the user, not the name: scopes narrowed at login survive refreshes, a refresh
//! race revokes every token of the family, a user created again under an old name is someone
//! else, and a declared key never acts as a user of the same name.

use crate::support::{self, agent_server, llm_stub};
use agent_server::AgentServer;
use llm_stub::{LlmStub, Turn};
use serde_json::{Value, json};
use support::{ServerBuilder, TestServer, sha256_hex};

async fn refresh(server: &TestServer, token: &str) -> (u16, Value) {
    let r = server
        .post("/api/auth/refresh")
        .json(&json!({"refresh_token": token}))
        .send()
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn scopes_narrowed_at_login_are_kept_by_every_refresh() {
    let server = ServerBuilder::default().policy(None).start().await;
    let login = server
        .post("/api/auth/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=admin&password={}&scope=read",
            support::ADMIN_PASSWORD
        ))
        .send()
        .await;
    assert_eq!(login.status(), 200);
    let mut pair: Value = login.json().await.unwrap();
    for round in 0..3 {
        let me = server
            .get_json("/api/auth/me", pair["access_token"].as_str().unwrap())
            .await;
        assert_eq!(me["scopes"], json!(["read"]), "round {round}");
        let (status, next) = refresh(&server, pair["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{next}");
        pair = next;
    }
}

/// Two refreshes of one token at once, many times: whichever wins, the family is revoked, so no
/// token minted in the race works afterwards.
#[tokio::test]
async fn a_refresh_race_revokes_every_token_of_the_family() {
    let server = ServerBuilder::default()
        .policy(Some("version: 1\nrateLimits:\n  enabled: false\n"))
        .start()
        .await;
    let mut survivors = Vec::new();
    for _ in 0..60 {
        let tokens = server.login("admin", support::ADMIN_PASSWORD).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let race = |barrier: std::sync::Arc<tokio::sync::Barrier>| {
            let server = &server;
            let token = tokens.refresh.clone();
            async move {
                barrier.wait().await;
                refresh(server, &token).await
            }
        };
        let (a, b) = tokio::join!(race(barrier.clone()), race(barrier));
        assert!(
            a.0 != 200 || b.0 != 200,
            "both refreshes of one token succeeded"
        );
        for (status, body) in [a, b] {
            if status == 200 {
                let minted = body["refresh_token"].as_str().unwrap().to_string();
                if refresh(&server, &minted).await.0 == 200 {
                    survivors.push(minted);
                }
            }
        }
    }
    assert!(
        survivors.is_empty(),
        "{} tokens minted in a race still worked",
        survivors.len()
    );
}

#[tokio::test]
async fn a_user_created_again_under_an_old_name_is_someone_else() {
    let stub = LlmStub::start(vec![Turn::text("noted")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let old_dave = server.user("dave", &["read", "write"]).await;
    let (status, body) = server
        .chat(&old_dave, json!({"message": "old dave's notes"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .send(
            reqwest::Method::DELETE,
            "/api/auth/users/dave",
            &server.admin,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let new_dave = server.user("dave", &["read", "write"]).await;

    assert_eq!(
        server.get("/api/auth/me", &old_dave).await.0,
        401,
        "the deleted user's token must not work for the new one"
    );
    let (status, list) = server.get("/api/conversations", &new_dave).await;
    assert_eq!(status, 200);
    let text = list.to_string();
    assert!(!text.contains("old dave"), "{text}");
    assert_eq!(list["count"], 0, "{list}");
}

#[tokio::test]
async fn deleting_a_user_can_hand_their_conversations_to_another() {
    let stub = LlmStub::start(vec![Turn::text("kept")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let erin = server.user("erin", &["read", "write"]).await;
    let (status, body) = server
        .chat(&erin, json!({"message": "handover notes"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["conversation_id"].as_str().unwrap().to_string();
    let frank = server.user("frank", &["read", "write"]).await;
    let delete = |query: &'static str| {
        let server = &server;
        async move {
            server
                .send(
                    reqwest::Method::DELETE,
                    &format!("/api/auth/users/erin{query}"),
                    &server.admin,
                    None,
                )
                .await
        }
    };
    assert_eq!(delete("?conversations=reassign").await.0, 422);
    assert_eq!(delete("?conversations=reassign&to=nobody").await.0, 422);
    assert_eq!(delete("?conversations=keep").await.0, 422);
    assert_eq!(delete("?conversations=reassign&to=frank").await.0, 204);
    let (status, conversation) = server
        .get(&format!("/api/conversations/{id}"), &frank)
        .await;
    assert_eq!(status, 200, "{conversation}");
    assert!(conversation.to_string().contains("handover notes"));
}

/// A declared key named like a user is not that user: it sees none of the user's conversations
/// and cannot revoke the user's keys.
#[tokio::test]
async fn a_declared_key_named_like_a_user_does_not_act_as_that_user() {
    let stub = LlmStub::start(vec![Turn::text("private")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let alice = server.user("alice", &["read", "write"]).await;
    let (status, _) = server.chat(&alice, json!({"message": "alice only"})).await;
    assert_eq!(status, 200);
    let alice_key = server
        .server
        .create_api_key(&alice, json!({"name": "laptop", "scopes": ["read"]}))
        .await;
    let keys = server.get("/api/auth/apikeys", &alice).await.1;
    let key_id = keys[0]["id"].as_str().unwrap().to_string();

    let declared = "ak_declared_alice_0123456789abcdef0123";
    server.server.write_secret(
        "api-keys.json",
        &json!([{"name": "alice", "sha256": sha256_hex(declared), "scopes": ["read", "write"]}])
            .to_string(),
    );
    server.server.wait_generation(2).await;
    let (status, list) = server.get("/api/conversations", declared).await;
    assert_eq!(status, 200, "{list}");
    assert!(!list.to_string().contains("alice only"), "{list}");
    let (status, _) = server
        .send(
            reqwest::Method::DELETE,
            &format!("/api/auth/apikeys/{key_id}"),
            declared,
            None,
        )
        .await;
    assert_ne!(status, 204, "the declared key revoked alice's key");
    assert_eq!(server.server.me_with_key(&alice_key).await.status(), 200);
}
