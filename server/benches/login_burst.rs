//! Login bursts against the real server binary (127.0.0.1, a temporary SQLite
//! file): for each client count, a fresh server gets `--bursts` bursts of
//! `--logins` logins from that many concurrent clients; reported per burst are
//! logins/s, refusals, the peak RSS during the burst and the RSS `--settle`
//! seconds after it, sampled from `/proc/<pid>/status`.
//!
//! Run: `cargo bench -p ai-orchestrator --bench login_burst`
//! (`-- --clients 4,8,32 --logins 320 --bursts 2 --settle 5`;
//! `AI_BENCH_SERVER_BIN=<path>` measures another build of the server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Memory, RssSampler, Server, mb};

#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    busy: AtomicUsize,
    other: AtomicUsize,
}

async fn burst(server: &Server, clients: usize, logins: usize) -> (Duration, Counts) {
    let counts = Arc::new(Counts::default());
    let remaining = Arc::new(AtomicUsize::new(logins));
    let url = server.url("/api/auth/login");
    let body = serde_json::json!({"username": "admin", "password": support::ADMIN_PASSWORD});
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (counts, remaining, url, body) = (
                Arc::clone(&counts),
                Arc::clone(&remaining),
                url.clone(),
                body.clone(),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let counter = match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            &counts.ok
                        }
                        Ok(r) if r.status() == 503 => &counts.busy,
                        _ => &counts.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    (elapsed, Arc::into_inner(counts).unwrap())
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clients = support::list_arg("--clients", &[4, 8, 32])?;
    let logins = usize::try_from(support::number_arg("--logins", 320)?)?;
    let bursts = support::number_arg("--bursts", 2)?;
    let settle = Duration::from_secs(support::number_arg("--settle", 5)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("server: {}", support::server_binary().display());
    for &c in &clients {
        let server = Server::start(&[])?;
        // One login first, so start-up allocations are not counted as the burst's.
        rt.block_on(support::login(&reqwest::Client::new(), &server))?;
        let idle = server.memory()?;
        println!(
            "clients={c}: idle RSS {:.1} MB, {} threads",
            mb(idle.rss_kib),
            idle.threads
        );
        for b in 1..=bursts {
            let sampler = RssSampler::start(server.pid());
            let (elapsed, counts) = rt.block_on(burst(&server, c, logins));
            let peak = sampler.finish();
            let after = server.memory()?;
            std::thread::sleep(settle);
            let settled: Memory = server.memory()?;
            let ok = counts.ok.load(Ordering::Relaxed);
            println!(
                "  burst {b}: {logins} logins in {:.2} s = {:.1} logins/s ({ok} ok, {} busy 503, {} other); \
                 RSS peak {:.1} MB (VmHWM {:.1} MB), {:.1} MB {}s after; {} threads",
                elapsed.as_secs_f64(),
                ok as f64 / elapsed.as_secs_f64(),
                counts.busy.load(Ordering::Relaxed),
                counts.other.load(Ordering::Relaxed),
                mb(peak.max(after.rss_kib)),
                mb(settled.hwm_kib),
                mb(settled.rss_kib),
                settle.as_secs(),
                settled.threads,
            );
        }
    }
    Ok(())
}
