//! The OpenAI-compatible API and the MCP server end to end at the HTTP level:
//! the real binary, a scripted model, exact response shapes, errors in
//! OpenAI's format, storage only when asked, the switches that turn the doors
//! off. The official Python clients are run against the same binary by
//! scripts/clients-test.sh.

use serde_json::{Value, json};

use crate::support::agent_server::{self, AgentServer};
use crate::support::llm_stub::{LlmStub, Turn};

/// POST with a bearer token; (status, headers, JSON body or Null).
async fn post(
    server: &AgentServer,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = server
        .http
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test]
async fn a_completion_runs_the_agent_loop_and_reports_the_tool_calls() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let data = server.data_root();
    std::fs::write(data.join("notes.txt"), "remember the milk").expect("write");
    stub.push(Turn::call(
        "read_file",
        json!({"path": data.join("notes.txt").display().to_string()}),
    ));
    stub.push(Turn::call("read_file", json!({"path": "/etc/shadow"})));
    stub.push(Turn::text("You should buy milk."));

    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"model": "llama3.1:8b", "messages": [user("what do my notes say?")]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["model"], "llama3.1:8b");
    let choice = &body["choices"][0];
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": "You should buy milk."})
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].is_u64());
    let calls = body["x_tool_calls"].as_array().expect("x_tool_calls");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["allowed"], true);
    assert_eq!(calls[0]["result"]["content"], "remember the milk");
    assert!(calls[0]["rule"].as_str().unwrap().starts_with("paths.read"));
    assert!(calls[0]["duration_ms"].is_u64());
    assert_eq!(calls[1]["allowed"], false);
    assert!(calls[1]["rule"].is_string() && calls[1]["reason"].is_string());
    assert!(!body.to_string().contains("root:"));
    // Nothing stored: no conversation was asked for.
    assert!(body.get("x_conversation_id").is_none());
    let (_, list) = server.get("/api/conversations", &server.admin).await;
    assert_eq!(list["count"], 0, "{list}");
    // The refusal is audited like any tool call.
    let denied = server.audit("tool.read_file").await;
    assert!(
        denied
            .iter()
            .any(|r| r["target"] == "/etc/shadow" && r["outcome"] == "denied")
    );
}

#[tokio::test]
async fn a_named_conversation_stores_the_turn() {
    let stub = LlmStub::start(vec![Turn::text("first answer"), Turn::text("second")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("hello there")], "x_conversation_id": "new"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["x_conversation_id"].as_str().expect("id").to_string();
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("hello there"), {"role": "assistant", "content": "first answer"},
                            user("and again")], "x_conversation_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, conversation) = server
        .get(&format!("/api/conversations/{id}"), &server.admin)
        .await;
    let messages: Vec<(String, String)> = conversation["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("user", "hello there"),
        ("assistant", "first answer"),
        ("user", "and again"),
        ("assistant", "second"),
    ]
    .iter()
    .map(|(r, c)| (r.to_string(), c.to_string()))
    .collect();
    assert_eq!(messages, expected);
    // Another user's conversation is not found, and nothing is run.
    let reader = server.user("reader", &["read"]).await;
    let before = stub.requests().len();
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &reader,
        json!({"messages": [user("peek")], "x_conversation_id": id}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "conversation_not_found");
    assert_eq!(stub.requests().len(), before);
}

#[tokio::test]
async fn client_tools_come_back_unexecuted() {
    let stub = LlmStub::start(vec![Turn::call(
        "execute_command",
        json!({"command": "rm -rf /"}),
    )])
    .await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let tools = json!([{"type": "function", "function": {"name": "execute_command",
        "description": "the client's own", "parameters": {"type": "object"}}}]);
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("clean up")], "tools": tools}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["id"], "call_0");
    assert_eq!(call["function"]["name"], "execute_command");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"command": "rm -rf /"})
    );
    assert!(body.get("x_tool_calls").is_none());
    // One model call with only the client's tool; nothing ran, nothing audited.
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["execute_command"]);
    assert!(server.audit("tool.execute_command").await.is_empty());
}

#[tokio::test]
async fn a_stream_has_openai_chunks_tool_events_and_done() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    stub.push(Turn::call(
        "list_directory",
        json!({"path": server.data_root().display().to_string()}),
    ));
    stub.push(Turn::text("It is empty."));
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&server.admin)
        .json(&json!({"messages": [user("list")], "stream": true,
                      "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let tool_events: Vec<&Value> = chunks.iter().filter_map(|c| c.get("x_tool_call")).collect();
    assert_eq!(tool_events.len(), 1);
    assert_eq!(tool_events[0]["tool"], "list_directory");
    assert_eq!(tool_events[0]["allowed"], true);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "It is empty.");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    let last = &chunks[chunks.len() - 1];
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"].is_object());
    assert!(chunks.iter().all(|c| c["model"] == "llama3.1:8b"));

    // A stored stream names its conversation first; an unknown one is a 404 before any stream.
    stub.push(Turn::text("stored"));
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&server.admin)
        .json(&json!({"messages": [user("keep")], "stream": true, "x_conversation_id": "new"}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let first: Value =
        serde_json::from_str(text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    let id = first["x_conversation_id"]
        .as_str()
        .expect("conversation id");
    let (status, _) = server
        .get(&format!("/api/conversations/{id}"), &server.admin)
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("x")], "stream": true, "x_conversation_id": "no-such-id"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "conversation_not_found");
}

#[tokio::test]
async fn errors_on_v1_have_openai_shape_and_status() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let url = |path: &str| format!("{}{path}", server.url);

    let response = server
        .http
        .get(url("/v1/models"))
        .bearer_auth("ak_wrong-key-00000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(body.get("detail").is_none());

    let writer = server.user("writer", &["write"]).await;
    let (status, _, body) = post(&server, "/v1/chat/completions", &writer, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");

    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [{"role": "robot", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["param"], "messages[0].role");

    let response = server
        .http
        .post(url("/v1/chat/completions"))
        .bearer_auth(&server.admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let response = server
        .http
        .get(url("/v1/nothing-here"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_url");

    // The v3 routes keep their own shape.
    let response = server
        .http
        .get(url("/api/models"))
        .bearer_auth("ak_wrong-key-00000000000000")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn model_server_failures_are_502_and_504() {
    let dead = LlmStub::dead_url().await;
    let server = AgentServer::start(&dead, &[]).await;
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("hi")]}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["type"], "server_error");

    let stub = LlmStub::start(vec![Turn::text("late")]).await;
    stub.set_delay(std::time::Duration::from_secs(3));
    let server = AgentServer::start(&stub.url, &[("AI_LLM_TIMEOUT", "1")]).await;
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        &server.admin,
        json!({"messages": [user("hi")]}),
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn v1_chat_spends_the_api_chat_budget() {
    let stub = LlmStub::start(vec![]).await;
    stub.repeat(Turn::text("ok"));
    let server = AgentServer::start_with(&stub.url, &[], |dir| {
        agent_server::policy_yaml(dir, "", "").replace(
            "rateLimits:\n  enabled: false\n",
            "rateLimits:\n  routes:\n    /api/chat: {requests: 2, per: 1m}\n",
        )
    })
    .await;
    let key = server
        .server
        .create_api_key(&server.admin, json!({"name": "budget", "scopes": ["read"]}))
        .await;
    let (status, _) = server.chat(&key, json!({"message": "one"})).await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"messages": [user("two")]}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, headers, body) = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"messages": [user("three")]}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn models_list_auto_and_the_served_models() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, body) = server.get("/v1/models", &server.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["auto", "llama3.1:8b", "qwen2.5-coder:7b"]);
    assert_eq!(body["data"][1]["object"], "model");
    assert_eq!(body["data"][1]["owned_by"], "ollama");
}

#[tokio::test]
async fn mcp_lists_and_calls_tools_under_the_callers_scopes() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let reader = server
        .server
        .create_api_key(
            &server.admin,
            json!({"name": "mcp-read", "scopes": ["read"]}),
        )
        .await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "1"}}});
    let send = |token: String, session: Option<String>, body: Value| {
        let http = server.http.clone();
        let url = format!("{}/mcp", server.url);
        async move {
            let mut request = http
                .post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .json(&body);
            if let Some(id) = session {
                request = request.header("mcp-session-id", id);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let session = response
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_string());
            let text = response.text().await.unwrap();
            // One JSON-RPC message, as JSON or as the data of an SSE event.
            let message = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .find_map(|d| serde_json::from_str::<Value>(d).ok())
                .or_else(|| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            (status, session, message)
        }
    };
    let (status, session, message) = send(reader.clone(), None, init).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["result"]["serverInfo"]["name"], "ai-orchestrator");
    let session = session.expect("a session id");
    let (status, _, _) = send(
        reader.clone(),
        Some(session.clone()),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(status == 202 || status == 200, "{status}");

    let (_, _, listing) = send(
        reader.clone(),
        Some(session.clone()),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let mut names: Vec<&str> = listing["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["list_directory", "read_file", "search_files"]);

    let proof = server.out_root().join("proof");
    let (_, _, called) = send(
        reader.clone(),
        Some(session.clone()),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "write_file",
            "arguments": {"path": proof.display().to_string(), "content": "x"}}}),
    )
    .await;
    assert_eq!(called["result"]["isError"], true, "{called}");
    assert_eq!(called["result"]["structuredContent"]["rule"], "scope");
    assert!(!proof.exists(), "a read-only key wrote a file");

    let (_, _, called) = send(
        reader.clone(),
        Some(session.clone()),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "no_such_tool", "arguments": {}}}),
    )
    .await;
    assert_eq!(called["error"]["code"], -32602, "{called}");

    let audit = server.audit("tool.write_file").await;
    assert!(audit.iter().any(|r| r["outcome"] == "denied"), "{audit:?}");
}

#[tokio::test]
async fn the_doors_can_be_turned_off() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(
        &stub.url,
        &[
            ("AI_OPENAI_API_ENABLED", "false"),
            ("AI_MCP_ENABLED", "false"),
        ],
    )
    .await;
    let (status, _) = server.get("/v1/models", &server.admin).await;
    assert_eq!(status, 404);
    let (status, _, _) = post(
        &server,
        "/mcp",
        &server.admin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = server.get("/api/models", &server.admin).await;
    assert_eq!(status, 200);
}
