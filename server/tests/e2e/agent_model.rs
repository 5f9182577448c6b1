//! The agent against model servers as they behave in practice: calls written
//! as JSON text, follow-up questions about earlier tool output, a model name
//! in the answer that differs from the request, slow models, servers that
//! need an API key or speak the other protocol; and what the record (audit,
//! logs, metrics) says about each turn. All over real HTTP on 127.0.0.1.

use crate::support::{agent_server, llm_stub};
use std::time::Duration;

use agent_server::{AgentServer, last_tool_message};
use llm_stub::{LlmStub, Only, Turn};
use reqwest::Method;
use serde_json::{Value, json};

/// The messages of a recorded model request.
fn messages(request: &Value) -> Vec<Value> {
    request["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_fenced_json_call_in_the_content_runs_as_a_tool_call() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let data = server.data_root();
    std::fs::write(data.join("fenced-7.txt"), "x").expect("write");
    stub.push(Turn::fenced_json_call(
        "list_directory",
        json!({"path": data.display().to_string()}),
    ));
    stub.push(Turn::text("There is fenced-7.txt."));

    let (status, body) = server
        .chat(
            &server.admin,
            json!({"message": "what is in the data dir?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "There is fenced-7.txt.");
    assert_eq!(body["iterations"], 2);
    let call = &body["tool_calls"][0];
    assert_eq!(call["tool"], "list_directory");
    assert_eq!(
        (&call["allowed"], &call["outcome"]),
        (&json!(true), &json!("ok"))
    );
    // The model got the listing back as the answer to a call, not as text.
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert!(last_tool_message(&requests[1]).contains("fenced-7.txt"));
    let sent = messages(&requests[1]);
    let assistant = &sent[sent.len() - 2];
    assert_eq!(
        assistant["tool_calls"][0]["function"]["name"],
        "list_directory"
    );
    assert_eq!(assistant["content"], "");
    // And it was judged and audited like any other call.
    assert_eq!(server.audit("tool.list_directory").await.len(), 1);
}

#[tokio::test]
async fn a_bare_json_call_in_the_content_runs_as_a_tool_call_over_the_openai_protocol() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[("AI_LLM_PROVIDER", "openai")]).await;
    let data = server.data_root();
    std::fs::write(data.join("notes.txt"), "the answer is 42\n").expect("write");
    stub.push(Turn::bare_json_call(
        "read_file",
        json!({"path": data.join("notes.txt").display().to_string()}),
    ));
    stub.push(Turn::text("It says 42."));

    let (status, body) = server
        .chat(&server.admin, json!({"message": "read notes.txt"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "It says 42.");
    assert_eq!(body["tool_calls"][0]["tool"], "read_file");
    assert_eq!(
        body["tool_calls"][0]["result"]["content"],
        "the answer is 42\n"
    );
    let requests = stub.requests();
    let sent = messages(&requests[1]);
    let assistant = &sent[sent.len() - 2];
    let tool = &sent[sent.len() - 1];
    // The call has an id, and the result answers that id.
    let id = assistant["tool_calls"][0]["id"].as_str().expect("call id");
    assert_eq!(tool["tool_call_id"], id);
    assert!(tool["content"].as_str().unwrap_or_default().contains("42"));
}

#[tokio::test]
async fn text_that_merely_contains_json_is_the_answer() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let prose = "You would call {\"name\": \"read_file\", \"arguments\": {\"path\": \"/etc/hosts\"}} for that.";
    let object = "{\"status\": \"ok\", \"count\": 3}";
    let unknown = "{\"name\": \"delete_everything\", \"arguments\": {}}";
    for text in [prose, object, unknown] {
        stub.push(Turn::text(text));
        let (status, body) = server
            .chat(&server.admin, json!({"message": "show me"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["response"], text);
        assert_eq!(body["tool_calls"], json!([]));
        assert_eq!(body["iterations"], 1);
    }
    assert_eq!(stub.requests().len(), 3);
    assert!(server.audit("tool.read_file").await.is_empty());
}

#[tokio::test]
async fn a_follow_up_turn_sees_the_earlier_tool_call_and_its_result() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[("AI_LLM_PROVIDER", "openai")]).await;
    let data = server.data_root();
    std::fs::write(data.join("load.txt"), "load average: 0.42 0.37 0.31\n").expect("write");
    let path = data.join("load.txt").display().to_string();
    stub.push(Turn::call("read_file", json!({"path": path})));
    stub.push(Turn::text("The load is low."));
    let (status, first) = server
        .chat(&server.admin, json!({"message": "how loaded is the box?"}))
        .await;
    assert_eq!(status, 200, "{first}");
    let id = first["conversation_id"].as_str().expect("id").to_string();

    stub.push(Turn::text("The 15-minute average was 0.31."));
    let (status, second) = server
        .chat(
            &server.admin,
            json!({"message": "what was the 15-minute figure?", "conversation_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let requests = stub.requests();
    assert_eq!(requests.len(), 3);
    let replayed = messages(&requests[2]);
    let roles: Vec<&str> = replayed.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    // The earlier call and the number it returned are in the history, paired by id.
    let call = &replayed[2]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "read_file");
    assert!(
        call["function"]["arguments"]
            .as_str()
            .unwrap_or_default()
            .contains("load.txt")
    );
    assert_eq!(replayed[3]["tool_call_id"], call["id"]);
    assert!(
        replayed[3]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("0.31"),
        "{}",
        replayed[3]
    );
    assert_eq!(replayed[5]["content"], "what was the 15-minute figure?");
    let system = replayed[0]["content"].as_str().unwrap_or_default();
    assert!(
        !system.contains("left out"),
        "nothing was trimmed: {system}"
    );
}

#[tokio::test]
async fn history_beyond_the_context_window_is_trimmed_oldest_first_with_a_note() {
    let stub = LlmStub::start(vec![]).await;
    // A small window: room for the newest turns only.
    let server = AgentServer::start(
        &stub.url,
        &[
            ("AI_LLM_CONTEXT_LENGTH", "3000"),
            ("AI_LLM_MAX_TOKENS", "256"),
        ],
    )
    .await;
    let data = server.data_root();
    std::fs::write(data.join("big.txt"), "x".repeat(6000)).expect("write");
    let path = data.join("big.txt").display().to_string();
    let mut id: Option<String> = None;
    for n in 0..4 {
        stub.push(Turn::call("read_file", json!({"path": path})));
        stub.push(Turn::text(&format!("answer {n}")));
        let mut body = json!({"message": format!("question {n}")});
        if let Some(id) = &id {
            body["conversation_id"] = json!(id);
        }
        let (status, answer) = server.chat(&server.admin, body).await;
        assert_eq!(status, 200, "{answer}");
        id = answer["conversation_id"].as_str().map(str::to_string);
    }
    let requests = stub.requests();
    let last = messages(&requests[requests.len() - 2]);
    let system = last[0]["content"].as_str().unwrap_or_default();
    assert!(
        system.contains("oldest messages of this conversation"),
        "{system}"
    );
    let texts: Vec<&str> = last.iter().filter_map(|m| m["content"].as_str()).collect();
    assert!(texts.contains(&"question 3"));
    assert!(
        texts.contains(&"answer 2"),
        "the newest turn is kept: {texts:?}"
    );
    assert!(
        !texts.contains(&"question 0"),
        "the oldest is dropped: {texts:?}"
    );
    // Every replayed tool message still follows its call.
    for (i, m) in last.iter().enumerate() {
        if m["role"] == "tool" {
            assert!(
                last[..i]
                    .iter()
                    .rev()
                    .take_while(|p| p["role"] == "tool")
                    .count()
                    < i
                    && last[..i]
                        .iter()
                        .rev()
                        .find(|p| p["role"] != "tool")
                        .is_some_and(|p| p["tool_calls"].is_array()),
                "a tool message without its call at {i}"
            );
        }
    }
}

#[tokio::test]
async fn the_answering_model_is_reported_apart_from_the_requested_one_and_the_turn_is_recorded() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[("AI_LLM_TEMPERATURE", "0.05")]).await;
    stub.answer_as("llama3.1:8b-instruct-q4_K_M");
    stub.report_usage(120, 9);
    let data = server.data_root();
    stub.push(Turn::call(
        "list_directory",
        json!({"path": data.display().to_string()}),
    ));
    stub.push(Turn::call("read_file", json!({"path": "/etc/shadow"})));
    stub.push(Turn::text("Done."));

    let (status, body) = server
        .chat(&server.admin, json!({"message": "look around"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_used"], "llama3.1:8b-instruct-q4_K_M");
    assert_eq!(body["model_requested"], "llama3.1:8b");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 360, "output_tokens": 27})
    );
    // The model was asked for the requested name, with the generation settings.
    let request = &stub.requests()[0];
    assert_eq!(request["model"], "llama3.1:8b");
    assert_eq!(request["options"]["temperature"], 0.05);
    assert_eq!(request["options"]["num_predict"], 2048);
    assert_eq!(request["options"]["num_ctx"], 8192);
    // The system prompt names the default working directory and the roots.
    let system = messages(request)[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        system.contains(&format!("Commands run in {}", server.out_root().display())),
        "{system}"
    );
    assert!(system.contains(&data.display().to_string()), "{system}");

    // The stored answer names the model that answered.
    let id = body["conversation_id"].as_str().expect("id");
    let (_, conversation) = server
        .get(&format!("/api/conversations/{id}"), &server.admin)
        .await;
    let last = conversation["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned();
    assert_eq!(
        last.map(|m| m["model_used"].clone()),
        Some(json!("llama3.1:8b-instruct-q4_K_M"))
    );

    // One audit row for the turn, with the same actor form as the login.
    let rows = server
        .server
        .audit(&server.admin, "action=chat&actor=admin")
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["outcome"], "success");
    assert_eq!(row["target"], id);
    let reason = row["reason"].as_str().unwrap_or_default();
    for part in [
        "model_used=llama3.1:8b-instruct-q4_K_M",
        "model_requested=llama3.1:8b",
        "iterations=3",
        "tools_allowed=1",
        "tools_refused=1",
        "tools_errored=0",
        "tokens_in=360",
        "tokens_out=27",
        "duration_ms=",
    ] {
        assert!(reason.contains(part), "{part} missing from {reason}");
    }
    let logins = server
        .server
        .audit(&server.admin, "action=auth.login&actor=admin")
        .await;
    assert!(
        !logins.is_empty(),
        "the login is found under the same actor"
    );
    let tools = server
        .server
        .audit(&server.admin, "actor=admin&action=tool.read_file")
        .await;
    assert_eq!(tools.len(), 1);
    let refusal = tools[0]["reason"].as_str().unwrap_or_default();
    assert_eq!(tools[0]["outcome"], "denied");
    assert!(!refusal.is_empty());
    // An allowed call's reason does not repeat its rule.
    let listing = server.audit("tool.list_directory").await;
    let reason = listing[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("reading `"), "{reason}");
    assert_eq!(reason.matches("paths.").count(), 1, "{reason}");

    // A log line for the turn.
    let logs = server.server.logs();
    assert!(
        logs.lines().any(|l| l.contains("chat turn")
            && l.contains("llama3.1:8b-instruct-q4_K_M")
            && l.contains(id)),
        "{logs}"
    );

    // Metrics: model calls, tokens, tool calls by decision, turns and iterations.
    let metrics = server.server.metrics().await;
    for line in [
        "ai_orchestrator_llm_request_duration_seconds_count{provider=\"ollama\",outcome=\"ok\"} 3",
        "ai_orchestrator_llm_input_tokens_total{provider=\"ollama\"} 360",
        "ai_orchestrator_llm_output_tokens_total{provider=\"ollama\"} 27",
        "ai_orchestrator_tool_calls_total{tool=\"list_directory\",decision=\"allowed\"} 1",
        "ai_orchestrator_tool_calls_total{tool=\"read_file\",decision=\"refused\"} 1",
        "ai_orchestrator_chat_turns_total{outcome=\"ok\"} 1",
        "ai_orchestrator_agent_iterations_count 1",
        "ai_orchestrator_agent_iterations_sum 3.0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn audit_lines_carry_their_database_id() {
    let stub = LlmStub::start(vec![Turn::text("hi")]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, _) = server
        .chat(&server.admin, json!({"message": "hello"}))
        .await;
    assert_eq!(status, 200);
    let rows = server.server.audit(&server.admin, "").await;
    let file =
        std::fs::read_to_string(server.server.data_dir().join("audit.log")).expect("audit.log");
    let lines: Vec<Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), rows.len());
    for line in &lines {
        let id = line["id"].as_i64().expect("id");
        assert!(id > 0, "{line}");
        let row = rows
            .iter()
            .find(|r| r["id"] == id)
            .expect("the row of the line");
        assert_eq!(row["action"], line["action"]);
    }
    let ids: std::collections::BTreeSet<i64> =
        lines.iter().filter_map(|l| l["id"].as_i64()).collect();
    assert_eq!(ids.len(), lines.len(), "ids are distinct");
    // The log line carries it too.
    assert!(
        server
            .server
            .logs()
            .lines()
            .any(|l| l.contains("\"target\":\"audit\"")
                && l.contains(&format!(
                    "\"id\":{}",
                    ids.iter().max().copied().unwrap_or(0)
                ))),
        "{}",
        server.server.logs()
    );
}

#[tokio::test]
async fn a_slow_model_runs_into_the_turn_deadline_before_the_call_timeout() {
    let stub = LlmStub::start(vec![]).await;
    // Each model call is well inside AI_LLM_TIMEOUT (30 s); the turn as a whole is not.
    let server = AgentServer::start(&stub.url, &[("AI_TURN_TIMEOUT", "1")]).await;
    stub.set_delay(Duration::from_millis(700));
    stub.repeat(Turn::call(
        "list_directory",
        json!({"path": server.data_root().display().to_string()}),
    ));

    let (status, body) = server
        .chat(&server.admin, json!({"message": "keep looking"}))
        .await;
    assert_eq!(status, 504, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("AI_TURN_TIMEOUT"), "{detail}");
    assert!(detail.contains("1 seconds"), "{detail}");
    let id = body["conversation_id"]
        .as_str()
        .expect("the conversation is named");
    let rows = server.audit("chat").await;
    assert_eq!(rows[0]["outcome"], "failure");
    assert_eq!(rows[0]["target"], id);
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("AI_TURN_TIMEOUT")
    );
    let metrics = server.server.metrics().await;
    assert!(
        metrics.contains("ai_orchestrator_chat_turns_total{outcome=\"turn_timeout\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_openai_server_that_requires_a_key_gets_it_and_the_key_is_never_shown() {
    const KEY: &str = "sk-test-3f9a1c7e5b2d4068";
    let stub = LlmStub::start(vec![Turn::text("authorized")]).await;
    stub.require_key(KEY);
    let server = AgentServer::start(
        &stub.url,
        &[
            ("AI_LLM_PROVIDER", "openai"),
            ("AI_LLM_API_KEY", KEY),
            ("AI_LOG_LEVEL", "debug"),
        ],
    )
    .await;
    let (status, body) = server.chat(&server.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "authorized");
    let (status, models) = server.get("/api/models", &server.admin).await;
    assert_eq!(status, 200);
    assert_eq!(models["llm_available"], true, "{models}");
    let sent = stub.authorization();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|a| a.as_deref() == Some(&format!("Bearer {KEY}"))),
        "{sent:?}"
    );
    assert!(
        !server.server.logs().contains(KEY),
        "the key is in the logs"
    );
    let audit = server.server.audit(&server.admin, "").await;
    assert!(
        !serde_json::to_string(&audit)
            .unwrap_or_default()
            .contains(KEY)
    );

    // Without the key the server's refusal says what to set.
    let keyless = AgentServer::start(&stub.url, &[("AI_LLM_PROVIDER", "openai")]).await;
    let (status, body) = keyless.chat(&keyless.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("401") && detail.contains("AI_LLM_API_KEY"),
        "{detail}"
    );
}

#[tokio::test]
async fn the_wrong_protocol_is_named_with_the_url_and_the_other_setting() {
    // An OpenAI-compatible server (llama.cpp's) asked in Ollama's protocol.
    let openai_only = LlmStub::start(vec![]).await;
    openai_only.only(Only::OpenAi);
    let server = AgentServer::start(&openai_only.url, &[]).await;
    let (status, body) = server.chat(&server.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("{}/api/chat", openai_only.url)),
        "{detail}"
    );
    assert!(detail.contains("AI_LLM_PROVIDER=openai"), "{detail}");

    // The same server with `/v1` in the URL and the Ollama protocol.
    let v1 = format!("{}/v1", openai_only.url);
    let server = AgentServer::start(&v1, &[]).await;
    let (status, body) = server.chat(&server.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("AI_LLM_PROVIDER=openai") && detail.contains("remove `/v1`"),
        "{detail}"
    );
    // And with the OpenAI protocol, `/v1` twice.
    let server = AgentServer::start(&v1, &[("AI_LLM_PROVIDER", "openai")]).await;
    let (status, body) = server.chat(&server.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("/v1/v1/chat/completions") && detail.contains("twice"),
        "{detail}"
    );

    // An Ollama server asked in the OpenAI protocol.
    let ollama_only = LlmStub::start(vec![]).await;
    ollama_only.only(Only::Ollama);
    let server = AgentServer::start(&ollama_only.url, &[("AI_LLM_PROVIDER", "openai")]).await;
    let (status, body) = server.chat(&server.admin, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("{}/v1/chat/completions", ollama_only.url))
            && detail.contains("AI_LLM_PROVIDER=ollama"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_failed_tool_call_is_allowed_with_an_error_outcome_naming_the_path() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let missing = server.data_root().join("does-not-exist");
    let missing = missing.display().to_string();
    let (status, body) = server
        .send(
            Method::POST,
            "/api/tools/list_directory",
            &server.admin,
            Some(json!({"path": missing})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    assert_eq!(body["outcome"], "error");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&missing) && error.contains("No such file or directory"),
        "{error}"
    );
    assert_eq!(body["result"]["error"], body["error"]);
    assert_eq!(body["result"]["path"], missing);
    let rows = server.audit("tool.list_directory").await;
    assert_eq!(rows[0]["outcome"], "error");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("No such file")
    );
    let errors = server.server.audit(&server.admin, "outcome=error").await;
    assert_eq!(errors.len(), 1);

    // A working call says `ok`.
    let (status, body) = server
        .send(
            Method::POST,
            "/api/tools/list_directory",
            &server.admin,
            Some(json!({"path": server.data_root().display().to_string()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ok");
    assert!(body.get("error").is_none(), "{body}");

    // In a chat turn the record and the model both see it.
    stub.push(Turn::call("list_directory", json!({"path": missing})));
    stub.push(Turn::text("It does not exist."));
    let (status, body) = server
        .chat(&server.admin, json!({"message": "list it"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let call = &body["tool_calls"][0];
    assert_eq!(
        (&call["allowed"], &call["outcome"]),
        (&json!(true), &json!("error"))
    );
    assert!(
        call["error"]
            .as_str()
            .unwrap_or_default()
            .contains(&missing)
    );
    assert!(last_tool_message(&stub.requests()[1]).contains("No such file or directory"));
    let metrics = server.server.metrics().await;
    assert!(
        metrics.contains(
            "ai_orchestrator_tool_calls_total{tool=\"list_directory\",decision=\"error\"} 2"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_refused_working_directory_says_what_would_have_been_allowed() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, body) = server
        .send(
            Method::POST,
            "/api/tools/execute_command",
            &server.admin,
            Some(json!({"command": "ls", "cwd": "/"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("leave `cwd` out"), "{reason}");
    assert!(
        reason.contains(&server.out_root().display().to_string()),
        "{reason}"
    );
    // A path outside every root lists the roots.
    let (status, body) = server
        .send(
            Method::POST,
            "/api/tools/read_file",
            &server.admin,
            Some(json!({"path": "/opt/elsewhere.txt"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("readable directories:")
            && reason.contains(&server.data_root().display().to_string()),
        "{reason}"
    );
}
