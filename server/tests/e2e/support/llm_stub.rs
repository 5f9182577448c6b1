//! A scripted language-model server for end-to-end tests: a small axum app on
//! 127.0.0.1 that answers Ollama's `/api/chat` and `/api/tags` and the
//! OpenAI-compatible `/v1/chat/completions` and `/v1/models` from a script of
//! turns, records every chat request it receives, and can be told to answer
//! slowly (to provoke the server's timeout).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// One answer of the model.
#[derive(Clone, Debug)]
pub enum Turn {
    /// A final answer.
    Text(String),
    /// Tool calls: (tool name, arguments object).
    Calls(Vec<(String, Value)>),
    /// A tool call whose arguments are this raw text (OpenAI protocol: not JSON).
    RawArguments(String, String),
}

impl Turn {
    pub fn text(content: &str) -> Turn {
        Turn::Text(content.to_string())
    }
    pub fn call(tool: &str, arguments: Value) -> Turn {
        Turn::Calls(vec![(tool.to_string(), arguments)])
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Turn>,
    /// Bodies of the chat requests received, in order.
    requests: Vec<Value>,
    /// Paths of every request received.
    paths: Vec<String>,
    delay: Duration,
    /// When set, every chat turn repeats this one (a model that never stops).
    repeat: Option<Turn>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct LlmStub {
    pub url: String,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LlmStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LlmStub {
    pub async fn start(script: Vec<Turn>) -> LlmStub {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/chat", post(ollama_chat))
            .route("/api/tags", get(tags))
            .route("/v1/chat/completions", post(openai_chat))
            .route("/v1/models", get(models))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stub");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LlmStub { url, inner, task }
    }

    /// Every chat turn sleeps this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Answer every chat turn with `turn`, forever.
    pub fn repeat(&self, turn: Turn) {
        self.lock().repeat = Some(turn);
    }

    pub fn push(&self, turn: Turn) {
        self.lock().script.push_back(turn);
    }

    /// The chat request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.lock().paths.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A URL where nothing listens (for "unreachable" tests).
    pub async fn dead_url() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        url
    }
}

/// Records the request and takes the next turn (after the configured delay).
async fn next_turn(inner: &Shared, path: &str, body: Value) -> Turn {
    let delay = {
        let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.requests.push(body);
        guard.paths.push(path.to_string());
        guard.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(turn) = &guard.repeat {
        return turn.clone();
    }
    guard
        .script
        .pop_front()
        .unwrap_or_else(|| Turn::text("(script exhausted)"))
}

async fn ollama_chat(State(inner): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let model = body["model"].clone();
    let message = match next_turn(&inner, "/api/chat", body).await {
        Turn::Text(content) => json!({"role": "assistant", "content": content}),
        Turn::Calls(calls) => json!({
            "role": "assistant",
            "content": "",
            "tool_calls": calls.iter().map(|(name, args)| json!({"function": {"name": name, "arguments": args}})).collect::<Vec<_>>(),
        }),
        Turn::RawArguments(name, raw) => json!({
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": name, "arguments": raw}}],
        }),
    };
    Json(
        json!({"model": model, "created_at": "2026-01-01T00:00:00Z", "message": message, "done": true}),
    )
}

async fn openai_chat(State(inner): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let model = body["model"].clone();
    let (message, finish) = match next_turn(&inner, "/v1/chat/completions", body).await {
        Turn::Text(content) => (json!({"role": "assistant", "content": content}), "stop"),
        Turn::Calls(calls) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                    "id": format!("call_{i}"), "type": "function",
                    "function": {"name": name, "arguments": args.to_string()},
                })).collect::<Vec<_>>(),
            }),
            "tool_calls",
        ),
        Turn::RawArguments(name, raw) => (
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": name, "arguments": raw}}
            ]}),
            "tool_calls",
        ),
    };
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }))
}

async fn tags(State(inner): State<Shared>) -> Json<Value> {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .paths
        .push("/api/tags".into());
    Json(json!({"models": [
        {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 4_920_753_328u64, "modified_at": "2026-01-01T00:00:00Z"},
        {"name": "qwen2.5-coder:7b", "model": "qwen2.5-coder:7b", "size": 4_683_087_332u64, "modified_at": "2026-01-01T00:00:00Z"}
    ]}))
}

async fn models(State(inner): State<Shared>) -> Json<Value> {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .paths
        .push("/v1/models".into());
    Json(json!({"object": "list", "data": [{"id": "local-model", "object": "model"}]}))
}
