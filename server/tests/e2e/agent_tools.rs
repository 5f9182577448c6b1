//! `GET /tools` and `POST /api/tools/{name}` end to end: scopes, refusals,
//! argument errors, API keys, and the command sandbox (timeouts kill the
//! process group, output is capped).

use crate::support::{agent_server, llm_stub};
use std::time::Duration;

use agent_server::{AgentServer, policy_yaml};
use llm_stub::LlmStub;
use reqwest::Method;
use serde_json::{Value, json};

async fn tool(server: &AgentServer, token: &str, name: &str, arguments: Value) -> (u16, Value) {
    server
        .send(
            Method::POST,
            &format!("/api/tools/{name}"),
            token,
            Some(arguments),
        )
        .await
}

#[tokio::test]
async fn tools_are_listed_in_the_v3_shape() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let (status, body) = server.get("/tools", &server.admin).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 5);
    let names: Vec<&str> = body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "execute_command",
            "read_file",
            "write_file",
            "list_directory",
            "search_files"
        ]
    );
    for t in body["tools"].as_array().expect("tools") {
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(t["example"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[tokio::test]
async fn direct_calls_answer_allowed_refused_unknown_and_invalid() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let out = server.out_root();

    let (status, body) = tool(
        &server,
        &server.admin,
        "write_file",
        json!({"path": out.join("notes/today.txt").display().to_string(), "content": "ship it\n"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    assert_eq!(
        std::fs::read_to_string(out.join("notes/today.txt")).expect("written"),
        "ship it\n"
    );

    let (status, body) = tool(
        &server,
        &server.admin,
        "read_file",
        json!({"path": "/etc/shadow"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["allowed"], false);
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(body["detail"], body["reason"]);
    assert!(body.get("result").is_none());

    let (status, body) = tool(&server, &server.admin, "format_disk", json!({})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = tool(&server, &server.admin, "read_file", json!({"path": 5})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid arguments")
    );
    let response = server
        .http
        .post(format!("{}/api/tools/read_file", server.url))
        .bearer_auth(&server.admin)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);

    let audit = server.audit("tool.read_file").await;
    assert!(
        audit
            .iter()
            .any(|r| r["outcome"] == "denied" && r["target"] == "/etc/shadow"),
        "{audit:?}"
    );
    let invalid = server.audit("tool.invalid").await;
    assert!(
        invalid.iter().any(|r| r["target"] == "read_file"),
        "{invalid:?}"
    );
}

#[tokio::test]
async fn a_tool_needs_its_own_scope_and_api_keys_work() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start(&stub.url, &[]).await;
    let data = server.data_root().display().to_string();
    let reader = server.user("reader", &["read"]).await;

    let (status, body) = tool(&server, &reader, "list_directory", json!({"path": data})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = tool(
        &server,
        &reader,
        "execute_command",
        json!({"command": "echo hi"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["detail"], "Missing required scope: execute");
    let (status, body) = tool(
        &server,
        &reader,
        "write_file",
        json!({"path": "/tmp/x", "content": ""}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["detail"], "Missing required scope: write");
    let denied = server.audit("tool.execute_command").await;
    assert!(
        denied
            .iter()
            .any(|r| r["actor"] == "reader" && r["outcome"] == "denied"),
        "{denied:?}"
    );

    // A CI pipeline with an execute-scoped API key.
    let (status, created) = server
        .send(
            Method::POST,
            "/api/auth/apikeys",
            &server.admin,
            Some(json!({"name": "ci", "scopes": ["read", "execute"]})),
        )
        .await;
    assert!(status == 200 || status == 201, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    let response = server
        .http
        .post(format!("{}/api/tools/execute_command", server.url))
        .header("X-API-Key", &key)
        .json(&json!({"command": "echo built", "cwd": data}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["result"]["stdout"], "built\n");
    assert_eq!(body["result"]["exit_code"], 0);
}

/// Live (not zombie) host processes whose command line is exactly `cmdline`.
fn live_pids_running(cmdline: &[u8]) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            !stat.is_empty()
                && !stat.contains(") Z ")
                && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline)
        })
        .collect()
}

#[tokio::test]
async fn a_command_that_outruns_its_timeout_is_killed_with_its_children() {
    let stub = LlmStub::start(vec![]).await;
    // The child's pid inside the command's PID namespace means nothing here:
    // it is found by its unique command line instead.
    let line = "sh -c 'sleep 60.25 & wait'".to_string();
    let allow_sh = format!(
        "    - program: sh\n      allowInline: [\"{}\"]\n",
        line.replace('"', "\\\"")
    );
    let server = AgentServer::start_with(&stub.url, &[], |dir| {
        policy_yaml(dir, &allow_sh, "  maxRuntimeSeconds: 1\n")
    })
    .await;

    let (status, body) = tool(
        &server,
        &server.admin,
        "execute_command",
        json!({"command": line}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["timed_out"], true, "{body}");
    assert_eq!(body["result"]["signal"], 9);
    // SIGKILL was sent to the group before the answer; wait for the kernel to finish it.
    let mut dead = false;
    for _ in 0..100 {
        if live_pids_running(b"sleep\x0060.25\x00").is_empty() {
            dead = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dead, "the forked child outlived the command's timeout");

    // Any other inline script is refused.
    let (status, body) = tool(
        &server,
        &server.admin,
        "execute_command",
        json!({"command": "sh -c 'sleep 60 & wait'"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn output_over_the_cap_is_truncated_and_marked() {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start_with(&stub.url, &[], |dir| {
        policy_yaml(dir, "", "  maxOutputBytes: 1000\n")
    })
    .await;
    let (status, body) = tool(
        &server,
        &server.admin,
        "execute_command",
        json!({"command": "seq 1 100000"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stdout = body["result"]["stdout"].as_str().expect("stdout");
    let full: usize = (1..=100_000u32).map(|n| n.to_string().len() + 1).sum();
    assert!(stdout.starts_with("1\n2\n3\n"));
    assert!(
        stdout.ends_with(&format!("[truncated: {} bytes omitted]", full - 1000)),
        "{}",
        &stdout[stdout.len() - 80..]
    );
    assert_eq!(body["result"]["exit_code"], 0);
}
