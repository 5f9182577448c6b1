//! The agent tests' view of a [`TestServer`](crate::support::TestServer): a
//! policy whose roots are the test's own directories, the model server
//! pointed at an [`LlmStub`](crate::llm_stub::LlmStub), an admin token, and
//! small request helpers. Include after `mod support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Dirs, ServerBuilder, TestServer};

/// `files/` (readable) and `out/` (writable) under `dir`, created when missing;
/// beside the server's own `data/`, never containing it.
pub fn roots(dir: &Path) -> (PathBuf, PathBuf) {
    let base = dir.canonicalize().expect("canonical temp dir");
    let data = base.join("files");
    let out = base.join("out");
    std::fs::create_dir_all(&data).expect("mkdir data");
    std::fs::create_dir_all(&out).expect("mkdir out");
    (data, out)
}

/// A policy with `files/` readable, `out/` writable, rate limits off, and
/// `extra_commands` (YAML items under `commands.allow`) besides ls, cat,
/// echo and seq; `limits` adds lines under `commands`.
pub fn policy_yaml(dir: &Path, extra_commands: &str, limits: &str) -> String {
    let (data, out) = roots(dir);
    format!(
        "version: 1\n\
         commands:\n  allow:\n    - program: ls\n    - program: cat\n    - program: echo\n    - program: seq\n{extra_commands}{limits}\
         paths:\n  read: [\"{}\"]\n  write: [\"{}\"]\n\
         rateLimits:\n  enabled: false\n",
        data.display(),
        out.display()
    )
}

pub struct AgentServer {
    pub server: TestServer,
    pub url: String,
    pub http: reqwest::Client,
    /// An access token of the admin.
    pub admin: String,
}

impl AgentServer {
    /// Starts with the default agent test policy.
    pub async fn start(llm_url: &str, env: &[(&str, &str)]) -> AgentServer {
        Self::start_with(llm_url, env, |dir| policy_yaml(dir, "", "")).await
    }

    /// Starts with `policy(test dir)` as `policy.yaml`.
    pub async fn start_with(
        llm_url: &str,
        env: &[(&str, &str)],
        policy: impl FnOnce(&Path) -> String,
    ) -> AgentServer {
        let dirs = Dirs::new();
        let yaml = policy(dirs.root.path());
        let mut builder = ServerBuilder::default()
            .dirs(dirs)
            .policy(Some(&yaml))
            .env("AI_OLLAMA_URL", llm_url)
            .env("AI_LLM_TIMEOUT", "30")
            .env("AI_LOG_LEVEL", "info");
        for (key, value) in env {
            builder = builder.env(key, value);
        }
        let server = builder.start().await;
        let admin = server.admin().await;
        AgentServer {
            url: server.url.clone(),
            http: server.client.clone(),
            admin,
            server,
        }
    }

    pub fn data_root(&self) -> PathBuf {
        roots(self.server.dirs.root.path()).0
    }

    pub fn out_root(&self) -> PathBuf {
        roots(self.server.dirs.root.path()).1
    }

    /// Creates a user with `scopes` and returns an access token for it.
    pub async fn user(&self, username: &str, scopes: &[&str]) -> String {
        let password = format!("{username}-Passw0rd-123456");
        self.server
            .create_user(&self.admin, username, &password, scopes)
            .await
    }

    /// A request with a bearer token; returns status and JSON body (Null when not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn chat(&self, token: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/api/chat", token, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// Audit rows with `action`, newest first.
    pub async fn audit(&self, action: &str) -> Vec<Value> {
        self.server
            .audit(&self.admin, &format!("action={action}"))
            .await
    }
}

/// The content of the last `role: "tool"` message of a recorded chat request.
pub fn last_tool_message(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}
