//! `/ws/chat` end to end: events in order, the same refusals, tokens in the
//! query, and a client that leaves stopping the loop.

use crate::support::{agent_server, llm_stub};
use std::time::Duration;

use agent_server::AgentServer;
use futures::{SinkExt, StreamExt};
use llm_stub::{LlmStub, Turn};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(server: &AgentServer) -> String {
    format!("{}/ws/chat", server.url.replacen("http://", "ws://", 1))
}

async fn connect_with_header(server: &AgentServer, token: &str) -> Socket {
    let mut request = ws_url(server).into_client_request().expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("connect")
        .0
}

/// Events until (and including) `complete` or `error`.
async fn events_of_turn(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(text.as_str()).expect("event is JSON");
            let done = event["type"] == "complete" || event["type"] == "error";
            events.push(event);
            if done {
                break;
            }
        }
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

async fn send(socket: &mut Socket, body: Value) {
    socket
        .send(Message::Text(body.to_string().into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn result_events_tell_the_outcome_apart_from_the_decision() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    stub.answer_as("llama3.1:8b-instruct-q8_0");
    let missing = server.data_root().join("gone").display().to_string();
    stub.push(Turn::call("list_directory", json!({"path": missing})));
    stub.push(Turn::call(
        "list_directory",
        json!({"path": server.data_root().display().to_string()}),
    ));
    stub.push(Turn::text("The first does not exist."));

    let mut socket = connect_with_header(&server, &server.admin).await;
    send(&mut socket, json!({"message": "list both"})).await;
    let events = events_of_turn(&mut socket).await;
    let results: Vec<&Value> = events.iter().filter(|e| e["type"] == "result").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (&results[0]["allowed"], &results[0]["outcome"]),
        (&json!(true), &json!("error"))
    );
    let error = results[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&missing) && error.contains("No such file"),
        "{error}"
    );
    assert_eq!(
        (&results[1]["allowed"], &results[1]["outcome"]),
        (&json!(true), &json!("ok"))
    );
    assert!(results[1].get("error").is_none());
    let complete = events.last().expect("complete");
    assert_eq!(complete["type"], "complete");
    assert_eq!(complete["model_used"], "llama3.1:8b-instruct-q8_0");
    assert_eq!(complete["model_requested"], "llama3.1:8b");
    assert_eq!(complete["tool_calls"][0]["outcome"], "error");
}

#[tokio::test]
async fn the_stream_delivers_the_events_in_order() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let data = server.data_root();
    std::fs::write(data.join("a.txt"), "a").expect("write");
    stub.push(Turn::call(
        "list_directory",
        json!({"path": data.display().to_string()}),
    ));
    stub.push(Turn::call(
        "execute_command",
        json!({"command": "rm -rf /"}),
    ));
    stub.push(Turn::text("One file, and I may not delete everything."));

    let mut socket = connect_with_header(&server, &server.admin).await;
    send(&mut socket, json!({"message": "look around"})).await;
    let events = events_of_turn(&mut socket).await;
    assert_eq!(
        types(&events),
        [
            "conversation_created",
            "model_selected",
            "thinking",
            "tool",
            "result",
            "thinking",
            "tool",
            "result",
            "thinking",
            "complete"
        ]
    );
    let id = events[0]["conversation_id"].as_str().expect("id");
    assert_eq!(events[1]["model"], "llama3.1:8b");
    assert_eq!(events[3]["tool"], "list_directory");
    assert_eq!(events[4]["allowed"], true);
    assert_eq!(events[4]["result"]["entries"][0]["name"], "a.txt");
    assert_eq!(events[7]["allowed"], false);
    assert!(events[7]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let complete = &events[9];
    assert_eq!(
        complete["response"],
        "One file, and I may not delete everything."
    );
    assert_eq!(complete["conversation_id"], id);
    assert_eq!(complete["iterations"], 3);
    assert_eq!(complete["tool_calls"].as_array().map(Vec::len), Some(2));
    // The refusal is audited exactly as on POST /api/chat.
    let audit = server.audit("tool.execute_command").await;
    assert!(
        audit
            .iter()
            .any(|r| r["outcome"] == "denied" && r["target"] == "rm -rf /"),
        "{audit:?}"
    );

    // A second message on the same socket continues the conversation.
    stub.push(Turn::text("still here"));
    send(
        &mut socket,
        json!({"message": "and now?", "conversation_id": id}),
    )
    .await;
    let events = events_of_turn(&mut socket).await;
    assert_eq!(types(&events), ["model_selected", "thinking", "complete"]);
    assert_eq!(events[2]["conversation_id"], id);

    // Errors are events too.
    send(&mut socket, json!({"nope": true})).await;
    let events = events_of_turn(&mut socket).await;
    assert_eq!(types(&events), ["error"]);
    assert_eq!(events[0]["status"], 422);
}

async fn api_key(server: &AgentServer, scopes: &[&str]) -> String {
    let (status, created) = server
        .send(
            Method::POST,
            "/api/auth/apikeys",
            &server.admin,
            Some(json!({"name": "ws", "scopes": scopes})),
        )
        .await;
    assert!(status == 200 || status == 201, "{created}");
    created["key"].as_str().expect("key").to_string()
}

/// The answer of one turn on a connected socket.
async fn answer(socket: &mut Socket) -> Value {
    send(socket, json!({"message": "hello"})).await;
    let events = events_of_turn(socket).await;
    events.last().expect("event")["response"].clone()
}

#[tokio::test]
async fn api_keys_are_accepted_and_missing_credentials_refused() {
    let stub = LlmStub::start(vec![Turn::text("hi key")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let key = api_key(&server, &["read"]).await;
    let mut request = ws_url(&server).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("X-API-Key", key.parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect with X-API-Key");
    assert_eq!(answer(&mut socket).await, "hi key");

    let refused = tokio_tungstenite::connect_async(ws_url(&server)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

/// Browsers cannot set headers on a WebSocket: the token may come as `?token=`.
#[tokio::test]
async fn the_token_may_come_in_the_query() {
    let stub = LlmStub::start(vec![Turn::text("hi jwt"), Turn::text("hi key")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let key = api_key(&server, &["read"]).await;
    for (token, expected) in [(server.admin.clone(), "hi jwt"), (key, "hi key")] {
        let url = format!("{}?token={token}", ws_url(&server));
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect with ?token=");
        assert_eq!(answer(&mut socket).await, expected);
    }
    let bad = format!("{}?token=not-a-token", ws_url(&server));
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_loop() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let out = server.out_root();
    let target = out.join("never.txt");
    // The model asks for a write, slowly; the client is gone before it answers.
    stub.set_delay(Duration::from_millis(2500));
    stub.push(Turn::call(
        "write_file",
        json!({"path": target.display().to_string(), "content": "x"}),
    ));
    stub.push(Turn::text("done"));

    let mut socket = connect_with_header(&server, &server.admin).await;
    send(&mut socket, json!({"message": "write a file"})).await;
    let mut conversation_id = String::new();
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(text.as_str()).expect("json");
            if event["type"] == "conversation_created" {
                conversation_id = event["conversation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            if event["type"] == "thinking" {
                break;
            }
        }
    }
    socket.close(None).await.expect("close");
    drop(socket);

    // The loop stores what it had (the model's request for a tool) and stops.
    let path = format!("/api/conversations/{conversation_id}");
    let mut roles: Vec<String> = Vec::new();
    for _ in 0..100 {
        let (_, body) = server.get(&path, &server.admin).await;
        roles = body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|m| m["role"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if roles.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(roles, ["user", "assistant"]);
    assert!(!target.exists(), "the tool ran after the client left");
    assert_eq!(stub.requests().len(), 1);
    assert!(server.audit("tool.write_file").await.is_empty());
}
