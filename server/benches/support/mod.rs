//! The real `ai-orchestrator serve` for load benchmarks: started on 127.0.0.1
//! with temporary directories and a SQLite file, no practical rate limits, and
//! its memory read from `/proc/<pid>/status`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const ADMIN_PASSWORD: &str = "bench-admin-password-1";
const JWT_SECRET: &str = "bench-jwt-secret-0123456789-abcdefghijklmn";
const POLICY: &str = "version: 1
rateLimits:
  default: {requests: 4000000000, per: 1s}
  routes:
    /api/auth/login: {requests: 4000000000, per: 1s}
    /api/chat: {requests: 4000000000, per: 1s}
";

/// The binary to measure: `AI_BENCH_SERVER_BIN` (e.g. an older build to
/// compare with), else the one built with this benchmark.
pub fn server_binary() -> PathBuf {
    std::env::var_os("AI_BENCH_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ai-orchestrator")))
}

/// `--name value` from the benchmark's arguments (cargo adds `--bench`).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A comma-separated list of numbers from `--name`, or `default`.
pub fn list_arg(name: &str, default: &[usize]) -> anyhow::Result<Vec<usize>> {
    match arg(name) {
        None => Ok(default.to_vec()),
        Some(text) => text
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .with_context(|| format!("{name}: not a number: {n}"))
            })
            .collect(),
    }
}

pub fn number_arg(name: &str, default: u64) -> anyhow::Result<u64> {
    arg(name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name}: not a number: {v}"))
    })
}

pub struct Server {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with `env` on top of the benchmark's settings and
    /// waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        for d in ["config", "secrets", "data"] {
            std::fs::create_dir_all(dir.path().join(d))?;
        }
        std::fs::write(dir.path().join("config/policy.yaml"), POLICY)?;
        let stdout = dir.path().join("stdout.log");
        let stderr = dir.path().join("stderr.log");
        let binary = server_binary();
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--config-dir")
            .arg(dir.path().join("config"))
            .arg("--secrets-dir")
            .arg(dir.path().join("secrets"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AI_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AI_JWT_SECRET_KEY", JWT_SECRET)
            .env("AI_LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("listening on ")) {
                break line.trim_start_matches("listening on ").trim().to_string();
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "server exited with {status} before listening:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("server did not start within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Server {
            url,
            child,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Figures from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
}

impl Memory {
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
        })
    }
}

pub fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Polls a process's RSS every 5 ms on a thread and keeps the highest value.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = Memory::of(pid) {
                        peak.fetch_max(m.rss_kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The highest RSS seen (KiB).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Logs in as the admin; returns the access token.
pub async fn login(client: &reqwest::Client, server: &Server) -> anyhow::Result<String> {
    let response = client
        .post(server.url("/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if status != 200 {
        bail!("login failed with {status}: {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .context("no access_token in the login reply")
}
