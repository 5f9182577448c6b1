//! Starts the real `ai-orchestrator serve` on 127.0.0.1 for the agent tests:
//! temporary config/secrets/data directories, a policy written by the test,
//! the model server pointed at an [`LlmStub`](super::llm_stub::LlmStub).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_PASSWORD: &str = "agent-tests-admin-password-1";
const JWT_SECRET: &str = "agent-tests-jwt-secret-0123456789abcdef";

pub struct AgentServer {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub admin: String,
    child: Child,
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The test's own directory tree: `data/` readable, `out/` writable.
pub fn roots(dir: &Path) -> (PathBuf, PathBuf) {
    let base = dir.canonicalize().expect("canonical temp dir");
    let data = base.join("data");
    let out = base.join("out");
    std::fs::create_dir_all(&data).expect("mkdir data");
    std::fs::create_dir_all(&out).expect("mkdir out");
    (data, out)
}

/// A policy with `data/` readable, `out/` writable, and `extra_commands`
/// (YAML list items under `commands.allow`) besides ls, cat, echo and seq.
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

impl AgentServer {
    /// Starts with the default test policy.
    pub async fn start(llm_url: &str, env: &[(&str, &str)]) -> AgentServer {
        Self::start_with(llm_url, env, |dir| policy_yaml(dir, "", "")).await
    }

    /// Starts with the policy `policy(dir)` written to the config directory first.
    pub async fn start_with(
        llm_url: &str,
        env: &[(&str, &str)],
        policy: impl FnOnce(&Path) -> String,
    ) -> AgentServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let secrets = dir.path().join("secrets");
        let data = dir.path().join("state");
        for d in [&config, &secrets, &data] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(config.join("policy.yaml"), policy(dir.path())).expect("write policy");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"));
        command
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--config-dir")
            .arg(&config)
            .arg("--secrets-dir")
            .arg(&secrets)
            .arg("--data-dir")
            .arg(&data)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AI_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AI_JWT_SECRET_KEY", JWT_SECRET)
            .env("AI_OLLAMA_URL", llm_url)
            .env("AI_RATE_LIMIT_ENABLED", "false")
            .env("AI_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    return rest.trim().to_string();
                }
            }
            String::new()
        })
        .await
        .unwrap_or_default();
        if url.is_empty() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("server did not start:\n{log}");
        }
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let mut server = AgentServer {
            url,
            dir,
            http,
            admin: String::new(),
            child,
        };
        server.admin = server.login("admin", ADMIN_PASSWORD).await;
        server
    }

    pub fn data_root(&self) -> PathBuf {
        roots(self.dir.path()).0
    }

    pub fn out_root(&self) -> PathBuf {
        roots(self.dir.path()).1
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Creates a user with `scopes` and returns an access token for it.
    pub async fn user(&self, username: &str, scopes: &[&str]) -> String {
        let password = format!("{username}-password-123456");
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/auth/users",
                &self.admin,
                Some(json!({"username": username, "password": password, "scopes": scopes})),
            )
            .await;
        assert!(
            status == 200 || status == 201,
            "create user: {status} {body}"
        );
        self.login(username, &password).await
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
        let (status, body) = self
            .get(
                &format!("/api/audit?action={action}&limit=100"),
                &self.admin,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
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
