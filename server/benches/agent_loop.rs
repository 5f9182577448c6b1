//! The server's own cost per agent iteration: the real binary, a scripted
//! model on loopback that answers at once, and chats that run a fixed number
//! of iterations (one model call plus one tool call each). What is measured is
//! everything but the model's thinking: HTTP to the model, the growing
//! request, the policy decision, the tool, the audit row, the stored messages.
//! One case continues a conversation that already holds 20 tool results, so
//! that every model request of the chat carries them (the history replay).
//!
//! Run: `cargo bench -p ai-orchestrator --bench agent_loop`

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::agent_server::AgentServer;
use support::llm_stub::{LlmStub, Turn};

const ITERATIONS: u32 = 10;
/// Earlier tool results in the conversation of the replay case (two chats of `ITERATIONS`).
const PRIOR_RESULTS: u32 = 2 * ITERATIONS;
const CHATS: usize = 40;
const WARMUP: usize = 5;

struct Stats {
    median: Duration,
    p90: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Stats {
        median: samples[samples.len() / 2],
        p90: samples[samples.len() * 9 / 10],
        mean,
    }
}

/// Times `CHATS` chats (after a warm-up) that each end after `iterations` iterations.
async fn time_chats(server: &AgentServer, iterations: u32) -> Stats {
    let mut samples = Vec::with_capacity(CHATS);
    for i in 0..WARMUP + CHATS {
        let started = Instant::now();
        let (status, body) = server
            .chat(&server.admin, json!({"message": format!("chat {i}")}))
            .await;
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["iterations"], iterations, "{body}");
        if i >= WARMUP {
            samples.push(elapsed);
        }
    }
    stats(samples)
}

/// Times chats of `ITERATIONS` iterations two ways, interleaved so that both
/// see the same machine load: a new conversation, and one continuing a fresh
/// conversation that holds [`PRIOR_RESULTS`] tool results (built untimed, by
/// two chats that each run into the iteration limit).
async fn time_without_and_with_replay(server: &AgentServer) -> (Stats, Stats) {
    let (mut fresh, mut replayed) = (Vec::with_capacity(CHATS), Vec::with_capacity(CHATS));
    for i in 0..WARMUP + CHATS {
        let started = Instant::now();
        let (status, body) = server
            .chat(&server.admin, json!({"message": format!("fresh {i}")}))
            .await;
        let fresh_took = started.elapsed();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["iterations"], ITERATIONS, "{body}");
        let id = body["conversation_id"].clone();
        let (status, body) = server
            .chat(
                &server.admin,
                json!({"message": "more", "conversation_id": id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let started = Instant::now();
        let (status, body) = server
            .chat(
                &server.admin,
                json!({"message": format!("chat {i}"), "conversation_id": id}),
            )
            .await;
        let replayed_took = started.elapsed();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["iterations"], ITERATIONS, "{body}");
        if i >= WARMUP {
            fresh.push(fresh_took);
            replayed.push(replayed_took);
        }
    }
    (stats(fresh), stats(replayed))
}

fn report(name: &str, s: &Stats, per: u32) {
    println!(
        "{name:<44} per chat: median {:>8.2?} p90 {:>8.2?} mean {:>8.2?} | per iteration (median): {:>8.2?}",
        s.median,
        s.p90,
        s.mean,
        s.median / per
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let stub = LlmStub::start(vec![]).await;
        stub.keep_last_request_only();
        let max = ITERATIONS.to_string();
        // A context window large enough that the replay case replays all its results.
        let server = AgentServer::start(
            &stub.url,
            &[
                ("AI_MAX_ITERATIONS", max.as_str()),
                ("AI_LLM_CONTEXT_LENGTH", "65536"),
            ],
        )
        .await;
        let data = server.data_root();
        for n in 0..20 {
            std::fs::write(data.join(format!("file-{n}.txt")), "x").expect("write");
        }

        // Baseline: one iteration, no tool (a plain answer).
        stub.repeat(Turn::text("hello"));
        let plain = time_chats(&server, 1).await;
        report("plain answer (1 iteration, no tool)", &plain, 1);

        // File tool: list_directory on a 20-entry directory, every iteration.
        stub.repeat(Turn::call(
            "list_directory",
            json!({"path": data.display().to_string()}),
        ));
        let listing = time_chats(&server, ITERATIONS).await;
        report(
            &format!("list_directory ({ITERATIONS} iterations)"),
            &listing,
            ITERATIONS,
        );

        // The same interleaved with chats continuing a conversation that holds 20
        // earlier tool results: each of their model requests carries them.
        let (fresh, replayed) = time_without_and_with_replay(&server).await;
        report(
            &format!("  interleaved: list_directory, new ({ITERATIONS} it.)"),
            &fresh,
            ITERATIONS,
        );
        report(
            &format!("  interleaved: {PRIOR_RESULTS} results replayed ({ITERATIONS} it.)"),
            &replayed,
            ITERATIONS,
        );
        let growth = replayed.median.as_secs_f64() - fresh.median.as_secs_f64();
        println!(
            "history replay: {:+.3} ms per iteration (median against median)",
            growth * 1000.0 / f64::from(ITERATIONS)
        );
        // The replay really happened: the last model request carries the earlier results.
        let last = stub.requests().pop().unwrap_or_default();
        let replayed_results = last["messages"]
            .as_array()
            .map(|m| m.iter().filter(|m| m["role"] == "tool").count())
            .unwrap_or(0);
        assert!(
            replayed_results >= (PRIOR_RESULTS + ITERATIONS - 1) as usize,
            "only {replayed_results} tool messages in the last request"
        );

        // Refused command: policy decision + audit, nothing runs.
        stub.repeat(Turn::call(
            "execute_command",
            json!({"command": "rm -rf /"}),
        ));
        let refused = time_chats(&server, ITERATIONS).await;
        report(
            &format!("refused execute_command ({ITERATIONS} iterations)"),
            &refused,
            ITERATIONS,
        );

        // Allowed command: a real process (`echo`) in its own group.
        stub.repeat(Turn::call(
            "execute_command",
            json!({"command": "echo hi", "cwd": data.display().to_string()}),
        ));
        let command = time_chats(&server, ITERATIONS).await;
        report(
            &format!("execute_command echo ({ITERATIONS} iterations)"),
            &command,
            ITERATIONS,
        );
    });
}
