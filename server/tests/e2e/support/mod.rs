//! Starting the real `ai-orchestrator serve` on 127.0.0.1 with temporary
//! directories, and speaking HTTP to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod agent_server;
pub mod backends;
pub mod llm_stub;
pub mod request;
pub mod v3;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The admin password every test server starts with.
pub const ADMIN_PASSWORD: &str = "Adm1n-Test-Passw0rd-Q7";
/// The JWT secret of `AI_JWT_SECRET_KEY` (40 bytes).
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-abcdefghijklmn";

/// A policy without practical rate limits, trusting 127.0.0.1 as a proxy so
/// tests can act from many client IPs with `X-Forwarded-For`.
pub const RELAXED_POLICY: &str = "version: 1
rateLimits:
  default: {requests: 100000, per: 1m}
  routes:
    /api/auth/login: {requests: 100000, per: 1m}
    /api/chat: {requests: 100000, per: 1m}
  trustedProxies: [127.0.0.1/32]
";

/// Runs the binary with `args` and an empty environment (but `PATH`).
pub fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

/// Runs the binary with `args` and `stdin` piped in, with only `PATH` and
/// `env` set, in `dir` when given (otherwise the test's own directory).
pub fn cli_with(
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
    dir: Option<&std::path::Path>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut command = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A finished command for an assertion message: its exit code and both streams.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The temporary directories of one server; shared by restarts.
pub struct Dirs {
    pub root: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Arc<Dirs> {
        let root = tempfile::tempdir().unwrap();
        for d in ["config", "secrets", "data"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        Arc::new(Dirs { root })
    }
    pub fn config(&self) -> PathBuf {
        self.root.path().join("config")
    }
    pub fn secrets(&self) -> PathBuf {
        self.root.path().join("secrets")
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
}

/// How to start a server.
#[derive(Clone)]
pub struct ServerBuilder {
    env: Vec<(String, String)>,
    args: Vec<String>,
    policy: Option<String>,
    dirs: Option<Arc<Dirs>>,
    nofile: Option<u32>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            env: vec![
                ("AI_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
                ("AI_JWT_SECRET_KEY".into(), JWT_SECRET.into()),
                ("AI_OLLAMA_URL".into(), "http://127.0.0.1:9".into()),
                ("AI_LLM_TIMEOUT".into(), "2".into()),
                ("AI_LOG_LEVEL".into(), "debug".into()),
            ],
            args: Vec::new(),
            policy: Some(RELAXED_POLICY.into()),
            dirs: None,
            nofile: None,
        }
    }
}

impl ServerBuilder {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }
    pub fn without_env(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }
    /// `None`: no policy.yaml (the built-in default).
    pub fn policy(mut self, yaml: Option<&str>) -> Self {
        self.policy = yaml.map(str::to_string);
        self
    }
    pub fn dirs(mut self, dirs: Arc<Dirs>) -> Self {
        self.dirs = Some(dirs);
        self
    }
    /// Starts the server with this open-file limit (soft and hard), through util-linux's
    /// `prlimit`, which sets it and then runs the binary in its own process.
    pub fn nofile(mut self, limit: u32) -> Self {
        self.nofile = Some(limit);
        self
    }

    fn command(&self, dirs: &Dirs, tag: &str) -> (Command, PathBuf, PathBuf) {
        let stdout = dirs.root.path().join(format!("stdout-{tag}.log"));
        let stderr = dirs.root.path().join(format!("stderr-{tag}.log"));
        let bin = env!("CARGO_BIN_EXE_ai-orchestrator");
        let mut cmd = match self.nofile {
            Some(limit) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.arg("serve")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--config-dir")
            .arg(dirs.config())
            .arg("--secrets-dir")
            .arg(dirs.secrets())
            .arg("--data-dir")
            .arg(dirs.data())
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        (cmd, stdout, stderr)
    }

    fn prepare(&self) -> Arc<Dirs> {
        let dirs = self.dirs.clone().unwrap_or_else(Dirs::new);
        if let Some(policy) = &self.policy {
            let path = dirs.config().join("policy.yaml");
            if !path.exists() {
                std::fs::write(path, policy).unwrap();
            }
        }
        dirs
    }

    /// Runs the server expecting it to refuse to start; returns (exit code, stderr).
    pub fn start_expecting_failure(&self) -> (i32, String) {
        let dirs = self.prepare();
        let (mut cmd, _, stderr) = self.command(&dirs, "fail");
        let status = cmd.status().unwrap();
        (
            status.code().unwrap_or(-1),
            std::fs::read_to_string(stderr).unwrap(),
        )
    }

    pub async fn start(&self) -> TestServer {
        install_crypto();
        let dirs = self.prepare();
        let tag = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let (mut cmd, stdout, stderr) = self.command(&dirs, &tag);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("listening on ")) {
                break line.trim_start_matches("listening on ").trim().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "server exited with {status} before listening:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "server did not start within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        TestServer {
            url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            dirs,
            builder: self.clone(),
            child: Some(child),
            stdout,
            stderr,
        }
    }
}

pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    pub dirs: Arc<Dirs>,
    pub builder: ServerBuilder,
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestServer {
    /// A server with the default test settings.
    pub async fn start() -> TestServer {
        ServerBuilder::default().start().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
    pub fn config_dir(&self) -> PathBuf {
        self.dirs.config()
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.dirs.secrets()
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dirs.data()
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Logs in with a JSON body; panics unless it succeeds.
    pub async fn login(&self, username: &str, password: &str) -> Tokens {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "login of {username} failed: {body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await.access
    }

    /// Creates a user with the admin token; returns its access token.
    pub async fn create_user(
        &self,
        admin: &str,
        username: &str,
        password: &str,
        scopes: &[&str],
    ) -> String {
        let response = self
            .client
            .post(self.url("/api/auth/users"))
            .bearer_auth(admin)
            .json(
                &serde_json::json!({"username": username, "password": password, "scopes": scopes}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        self.login(username, password).await.access
    }

    /// Creates an API key as the bearer of `token`; returns the key itself.
    pub async fn create_api_key(&self, token: &str, body: Value) -> String {
        let created: Value = self
            .client
            .post(self.url("/api/auth/apikeys"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["key"].as_str().unwrap().to_string()
    }

    /// `GET /api/auth/me` authenticated by an API key in `X-API-Key`.
    pub async fn me_with_key(&self, key: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/auth/me"))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path).bearer(token).send().await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn health(&self) -> Value {
        self.client
            .get(self.url("/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Audit rows matching a query string (`action=auth.login&outcome=failure`).
    pub async fn audit(&self, admin: &str, query: &str) -> Vec<Value> {
        let page = self
            .get_json(&format!("/api/audit?limit=500&{query}"), admin)
            .await;
        page["items"].as_array().unwrap().clone()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for path in [&self.stdout, &self.stderr] {
            all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        all
    }

    /// Stops the process (SIGTERM, then waits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same directories.
    pub async fn restart(mut self) -> TestServer {
        self.stop();
        let builder = self.builder.clone().dirs(self.dirs.clone());
        builder.start().await
    }

    pub fn write_policy(&self, yaml: &str) {
        write_atomic(&self.config_dir().join("policy.yaml"), yaml.as_bytes());
    }

    pub fn write_secret(&self, name: &str, contents: &str) {
        write_atomic(&self.secrets_dir().join(name), contents.as_bytes());
    }

    /// Waits (up to 15 s) until `/health` shows `generation`; returns the health document.
    pub async fn wait_generation(&self, generation: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let health = self.health().await;
            if health["policy"]["generation"].as_u64() >= Some(generation) {
                return health;
            }
            assert!(
                Instant::now() < deadline,
                "generation {generation} never loaded: {health}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 15 s) until `/health` reports a reload error.
    pub async fn wait_reload_error(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let health = self.health().await;
            if !health["policy"]["last_error"].is_null() {
                return health;
            }
            assert!(
                Instant::now() < deadline,
                "no reload error reported: {health}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Replaces a file by rename, as editors and the kubelet do.
pub fn write_atomic(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
