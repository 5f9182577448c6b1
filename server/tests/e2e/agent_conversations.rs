//! Conversations end to end: each user sees only their own, admin sees all.

use crate::support::{agent_server, llm_stub};
use agent_server::AgentServer;
use llm_stub::{LlmStub, Turn};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn one_user_cannot_reach_another_users_conversation() {
    let stub = LlmStub::start(vec![Turn::text("hello alice"), Turn::text("hello bob")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let alice = server.user("alice", &["read", "write"]).await;
    let bob = server.user("bob", &["read", "write"]).await;

    let (status, body) = server
        .chat(&alice, json!({"message": "my secret plans"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["conversation_id"].as_str().expect("id").to_string();
    let (status, body) = server.chat(&bob, json!({"message": "bob here"})).await;
    assert_eq!(status, 200, "{body}");
    let bobs = body["conversation_id"].as_str().expect("id").to_string();

    let path = format!("/api/conversations/{id}");
    assert_eq!(server.get(&path, &bob).await.0, 404);
    assert_eq!(
        server
            .send(Method::PUT, &path, &bob, Some(json!({"title": "mine now"})))
            .await
            .0,
        404
    );
    assert_eq!(server.send(Method::DELETE, &path, &bob, None).await.0, 404);
    // Continuing someone else's conversation is refused before the model is asked.
    let asked = stub.requests().len();
    let (status, _) = server
        .chat(&bob, json!({"message": "let me in", "conversation_id": id}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(stub.requests().len(), asked);

    let (_, list) = server.get("/api/conversations", &bob).await;
    let ids: Vec<&str> = list["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [bobs.as_str()]);

    let (status, own) = server.get(&path, &alice).await;
    assert_eq!(status, 200);
    assert_eq!(own["title"], "my secret plans");
    assert_eq!(own["messages"][0]["content"], "my secret plans");
    assert_eq!(own["messages"][1]["content"], "hello alice");

    // Admin sees everyone's.
    let (_, all) = server
        .get("/api/conversations?limit=50", &server.admin)
        .await;
    assert_eq!(all["count"], 2);
    assert_eq!(server.get(&path, &server.admin).await.0, 200);

    // The owner renames and deletes; a read-only token may do neither.
    let reader = server.user("reader", &["read"]).await;
    assert_eq!(
        server.send(Method::DELETE, &path, &reader, None).await.0,
        403
    );
    let (status, renamed) = server
        .send(Method::PUT, &path, &alice, Some(json!({"title": "Plans"})))
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["title"], "Plans");
    assert_eq!(
        server
            .send(Method::PUT, &path, &alice, Some(json!({"title": " "})))
            .await
            .0,
        422
    );
    let (status, _) = server.send(Method::DELETE, &path, &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(server.get(&path, &alice).await.0, 404);
    assert_eq!(
        server.get("/api/conversations?limit=abc", &alice).await.0,
        422
    );
}

#[tokio::test]
async fn a_conversation_continues_with_its_history() {
    let stub = LlmStub::start(vec![
        Turn::text("Nice to meet you, Ada."),
        Turn::text("Your name is Ada."),
    ])
    .await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (_, first) = server
        .chat(&server.admin, json!({"message": "My name is Ada."}))
        .await;
    let id = first["conversation_id"].as_str().expect("id");
    let (status, second) = server
        .chat(
            &server.admin,
            json!({"message": "What is my name?", "conversation_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["conversation_id"], id);
    let messages = stub.requests()[1]["messages"]
        .as_array()
        .expect("messages")
        .clone();
    let contents: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] != "system")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        [
            "My name is Ada.",
            "Nice to meet you, Ada.",
            "What is my name?"
        ]
    );
}
