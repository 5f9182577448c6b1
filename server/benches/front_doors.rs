//! What the OpenAI-compatible door adds over `/api/chat` for the same
//! scripted turn, and how soon a streamed answer starts: the real binary, a
//! scripted model on loopback that answers at once with plain text, one
//! client, requests of the two doors interleaved so that both see the same
//! machine load.
//!
//! Run: `cargo bench -p ai-orchestrator --bench front_doors`

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::agent_server::AgentServer;
use support::llm_stub::{LlmStub, Turn};

const SAMPLES: usize = 300;
const WARMUP: usize = 20;

struct Stats {
    median: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats {
        median: at(0.5),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One POST; the time until the whole body is read.
async fn post(server: &AgentServer, path: &str, body: &Value) -> Duration {
    let started = Instant::now();
    let response = server
        .http
        .post(format!("{}{path}", server.url))
        .bearer_auth(&server.admin)
        .json(body)
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let _ = response.bytes().await.expect("body");
    started.elapsed()
}

/// One streamed completion: (first body byte, `[DONE]`).
async fn stream(server: &AgentServer, body: &Value) -> (Duration, Duration) {
    let started = Instant::now();
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&server.admin)
        .json(body)
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    let mut response = response;
    let mut first = None;
    let mut seen = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        first.get_or_insert_with(|| started.elapsed());
        seen.extend_from_slice(&chunk);
    }
    let done = started.elapsed();
    assert!(
        String::from_utf8_lossy(&seen).contains("data: [DONE]"),
        "no [DONE]"
    );
    (first.unwrap_or(done), done)
}

fn main() {
    support::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let llm = LlmStub::start(Vec::new()).await;
        llm.repeat(Turn::text("pong"));
        let server = AgentServer::start(&llm.url, &[]).await;
        let api_chat = json!({"message": "ping"});
        let v1 = json!({"model": "auto", "messages": [{"role": "user", "content": "ping"}]});
        let v1_stored = json!({"model": "auto", "x_conversation_id": "new",
                               "messages": [{"role": "user", "content": "ping"}]});
        let v1_stream = json!({"model": "auto", "stream": true,
                               "messages": [{"role": "user", "content": "ping"}]});

        let mut samples: [Vec<Duration>; 3] = Default::default();
        let mut first_byte = Vec::new();
        let mut stream_done = Vec::new();
        for i in 0..WARMUP + SAMPLES {
            let a = post(&server, "/api/chat", &api_chat).await;
            let b = post(&server, "/v1/chat/completions", &v1).await;
            let c = post(&server, "/v1/chat/completions", &v1_stored).await;
            let (first, done) = stream(&server, &v1_stream).await;
            if i >= WARMUP {
                samples[0].push(a);
                samples[1].push(b);
                samples[2].push(c);
                first_byte.push(first);
                stream_done.push(done);
            }
        }
        let [chat, plain, stored] = samples.map(stats);
        let first = stats(first_byte);
        let done = stats(stream_done);
        println!("{SAMPLES} samples per case after {WARMUP} warm-up rounds, one client");
        println!("| request | median | p99 |");
        println!("| --- | --- | --- |");
        let row = |name: &str, s: &Stats| println!("| {name} | {} | {} |", ms(s.median), ms(s.p99));
        row("`POST /api/chat` (stores the conversation)", &chat);
        row("`POST /v1/chat/completions` (not stored)", &plain);
        row(
            "`POST /v1/chat/completions` with `x_conversation_id: \"new\"`",
            &stored,
        );
        row("streamed: first byte", &first);
        row("streamed: `[DONE]`", &done);
        let diff = |a: Duration, b: Duration| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0;
        println!(
            "added by /v1 over /api/chat, same storage: median {:+.2} ms, p99 {:+.2} ms",
            diff(stored.median, chat.median),
            diff(stored.p99, chat.p99)
        );
        println!(
            "added by /v1 over /api/chat, not stored: median {:+.2} ms, p99 {:+.2} ms",
            diff(plain.median, chat.median),
            diff(plain.p99, chat.p99)
        );
    });
}
