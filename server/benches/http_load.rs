//! Requests/s of the real server binary under many connections, driven by
//! `wrk` (which must be installed: `apt-get install wrk`): `/health` against
//! `/api/auth/me` authenticated by a JWT and by an API key, interleaved, at
//! each connection count. The server reads its users and keys from memory;
//! `/me` should stay close to `/health`.
//!
//! Run: `cargo bench -p ai-orchestrator --bench http_load`
//! (`-- --connections 16,256 --seconds 10 --rounds 2`;
//! `AI_BENCH_SERVER_BIN=<path>` measures another build of the server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use anyhow::{Context, bail};
use support::Server;

/// Runs wrk and returns its requests/s, refusing runs with non-2xx answers or socket errors.
fn wrk(url: &str, header: Option<&str>, connections: usize, seconds: u64) -> anyhow::Result<f64> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s")])
        .arg("--latency");
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let output = cmd
        .arg(url)
        .output()
        .context("cannot run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("wrk saw failures against {url}: {line}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {text}"))
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connections = support::list_arg("--connections", &[16, 256])?;
    let seconds = support::number_arg("--seconds", 10)?;
    let rounds = support::number_arg("--rounds", 2)?;
    let server = Server::start(&[])?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let token = rt.block_on(support::login(&client, &server))?;
    let key = rt.block_on(async {
        let created: serde_json::Value = client
            .post(server.url("/api/auth/apikeys"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        created["key"]
            .as_str()
            .map(str::to_string)
            .context("no key in the API key reply")
    })?;
    let bearer = format!("Authorization: Bearer {token}");
    let api_key = format!("X-API-Key: {key}");
    println!("server: {}", support::server_binary().display());
    let cases: [(&str, &str, Option<&str>); 3] = [
        ("/health", "/health", None),
        ("/api/auth/me (JWT)", "/api/auth/me", Some(&bearer)),
        ("/api/auth/me (API key)", "/api/auth/me", Some(&api_key)),
    ];
    for &c in &connections {
        let mut totals = [0.0f64; 3];
        for _ in 0..rounds {
            for (i, (_, path, header)) in cases.iter().enumerate() {
                totals[i] += wrk(&server.url(path), *header, c, seconds)?;
            }
        }
        let health = totals[0] / rounds as f64;
        for (i, (name, _, _)) in cases.iter().enumerate() {
            let rps = totals[i] / rounds as f64;
            println!(
                "connections={c:>4} {name:<24} {rps:>10.0} req/s  {:.2}x /health",
                rps / health
            );
        }
    }
    Ok(())
}
