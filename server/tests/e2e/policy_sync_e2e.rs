//! End to end: the real binary following its ConfigMap and Secret through a
//! (fake) Kubernetes API, side by side with one reading the same inputs from
//! files, enforces identical decisions before and after a change; and when
//! the kubelet catches up with the files, nothing flaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::fake_kube;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_kube::FakeKube;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN_PASSWORD: &str = "policy-sync-admin-password-1";
const JWT_SECRET: &str = "policy-sync-tests-jwt-secret-0123456789abcdef";
const API_KEY: &str = "ak_policysyncendtoendkey0123456789";
const CONFIGMAP: &str = "orch-policy";
const SECRET: &str = "orch-auth";

fn policy(programs: &[&str]) -> String {
    let mut text = String::from("version: 1\npaths:\n  read: [\"/usr\"]\ncommands:\n  allow:\n");
    for program in programs {
        text.push_str(&format!("    - program: {program}\n"));
    }
    text
}

fn api_keys(scopes: &[&str]) -> Vec<u8> {
    let hash = hex::encode(Sha256::digest(API_KEY.as_bytes()));
    json!([{"name": "ci", "sha256": hash, "scopes": scopes}])
        .to_string()
        .into_bytes()
}

struct Server {
    url: String,
    admin: String,
    config: PathBuf,
    secrets: PathBuf,
    log: PathBuf,
    http: reqwest::Client,
    _child: Child,
}

impl Server {
    async fn start(dir: &Path, policy_yaml: &str, keys: &[u8], env: &[(&str, &str)]) -> Server {
        let (config, secrets, data) = (dir.join("config"), dir.join("secrets"), dir.join("data"));
        for d in [&config, &secrets, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(config.join("policy.yaml"), policy_yaml).unwrap();
        std::fs::write(secrets.join("api-keys.json"), keys).unwrap();
        let log = dir.join("server.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ai-orchestrator"));
        command
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
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
            .env("AI_RATE_LIMIT_ENABLED", "false")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
        assert!(
            !url.is_empty(),
            "server did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{url}/api/auth/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let admin = login["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        Server {
            url,
            admin,
            config,
            secrets,
            log,
            http,
            _child: child,
        }
    }

    async fn health(&self) -> Value {
        self.http
            .get(format!("{}/health", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (bounded) until `/health` satisfies `done`.
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let health = self.health().await;
            if done(&health) {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "timed out waiting until {what}: {}\n{}",
            self.health().await,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The decision on `command`: HTTP status and the deciding rule (or the result's exit code).
    async fn decide(&self, command: &str, api_key: bool) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/api/tools/execute_command", self.url))
            .json(&json!({"command": command, "cwd": "/usr"}));
        let request = if api_key {
            request.header("X-API-Key", API_KEY)
        } else {
            request.bearer_auth(&self.admin)
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let decided = if status == 200 {
            body["result"]["exit_code"].clone()
        } else {
            body["rule"].clone()
        };
        (status, decided)
    }
}

const COMMANDS: [&str; 6] = [
    "echo hello",
    "date",
    "uname",
    "whoami",
    "sh -c true",
    "echo a; uname",
];

async fn decisions(server: &Server) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    for command in COMMANDS {
        let (status, rule) = server.decide(command, false).await;
        out.push((format!("admin: {command}"), status, rule));
    }
    let (status, rule) = server.decide("echo key", true).await;
    out.push(("api key: echo key".into(), status, rule));
    out
}

#[tokio::test]
async fn file_and_api_sources_enforce_identical_decisions() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let first = policy(&["echo"]);
    let fake = FakeKube::new();
    fake.put_configmap(CONFIGMAP, &first);
    fake.put_secret(
        SECRET,
        &[("api-keys.json", &api_keys(&["read", "execute"]))],
    );
    let api_url = fake.serve().await;
    let kubeconfig = FakeKube::kubeconfig(dir.path(), &api_url);

    let files = Server::start(
        &dir.path().join("files"),
        &first,
        &api_keys(&["read", "execute"]),
        &[("AI_CONFIG_SOURCE", "file")],
    )
    .await;
    let api = Server::start(
        &dir.path().join("api"),
        &first,
        &api_keys(&["read", "execute"]),
        &[
            ("AI_CONFIG_SOURCE", "kubernetes"),
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("AI_POD_NAMESPACE", "default"),
            ("AI_POLICY_CONFIGMAP", CONFIGMAP),
            ("AI_AUTH_SECRET", SECRET),
        ],
    )
    .await;

    // Same inputs through both sources: in sync, nothing reloaded.
    let health = api
        .until("the API source is in sync", |h| {
            h["config_source"] == "kubernetes"
        })
        .await;
    assert_eq!(health["policy"]["generation"], 1, "{health}");
    assert_eq!(files.health().await["config_source"], "file");
    assert_eq!(
        health["policy"]["hash"],
        files.health().await["policy"]["hash"]
    );
    let before = decisions(&files).await;
    assert_eq!(decisions(&api).await, before);
    assert_eq!(before[0].1, 200, "echo is allowed: {before:?}");
    assert_eq!(before[1].1, 403, "date is not: {before:?}");
    assert_eq!(before[6].1, 200, "the API key may execute: {before:?}");

    // The same change reaches one server through its files, the other through the API.
    let second = policy(&["echo", "date"]);
    std::fs::write(files.config.join("policy.yaml"), &second).unwrap();
    std::fs::write(files.secrets.join("api-keys.json"), api_keys(&["read"])).unwrap();
    fake.put_configmap(CONFIGMAP, &second);
    fake.put_secret(SECRET, &[("api-keys.json", &api_keys(&["read"]))]);
    let settled = |h: &Value| {
        h["policy"]["generation"].as_u64() >= Some(2) && h["policy"]["hash"] != before_hash(&health)
    };
    let from_files = files
        .until("the files are reloaded", |h| {
            settled(h) && h["policy"]["source"] == "file"
        })
        .await;
    let from_api = api
        .until("the API change is in force", |h| {
            settled(h) && h["policy"]["source"] == "kubernetes"
        })
        .await;
    assert_eq!(from_files["policy"]["hash"], from_api["policy"]["hash"]);
    let after = decisions(&files).await;
    assert_eq!(decisions(&api).await, after);
    assert_eq!(after[1].1, 200, "date is now allowed: {after:?}");
    assert_eq!(after[6].1, 403, "the API key lost execute: {after:?}");
    assert_ne!(before, after);

    // The kubelet catches up: the API-fed server's files now show the same; no new generation.
    let generation = from_api["policy"]["generation"].clone();
    let synced = from_api["policy"]["last_sync_at"].clone();
    std::fs::write(api.config.join("policy.yaml"), &second).unwrap();
    std::fs::write(api.secrets.join("api-keys.json"), api_keys(&["read"])).unwrap();
    let later = api
        .until("the files are read again", |h| {
            h["policy"]["last_sync_at"] != synced
        })
        .await;
    assert_eq!(later["policy"]["generation"], generation, "{later}");
    assert_eq!(later["policy"]["last_error"], Value::Null);
    assert_eq!(decisions(&api).await, after);
}

fn before_hash(health: &Value) -> Value {
    health["policy"]["hash"].clone()
}
