//! A scripted language-model server for end-to-end tests: a small axum app on
//! 127.0.0.1 that answers Ollama's `/api/chat` and `/api/tags` and the
//! OpenAI-compatible `/v1/chat/completions` and `/v1/models` from a script of
//! turns, records every chat request it receives, and can be told to answer
//! slowly (to provoke the server's timeouts), to name another model than the
//! one asked for, to report token counts, to require `Authorization: Bearer
//! <key>`, or to speak only one of the two protocols (as llama.cpp's
//! `llama-server` does).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
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
    /// A call written as bare JSON in the content, as small models often do.
    pub fn bare_json_call(tool: &str, arguments: Value) -> Turn {
        Turn::Text(json!({"name": tool, "arguments": arguments}).to_string())
    }
    /// A call written as JSON in a ```json fence in the content.
    pub fn fenced_json_call(tool: &str, arguments: Value) -> Turn {
        Turn::Text(format!(
            "```json\n{}\n```",
            serde_json::to_string_pretty(&json!({"name": tool, "arguments": arguments}))
                .expect("json")
        ))
    }
}

/// The one protocol a stub speaks when told to (the other's chat path is a 404).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    Ollama,
    OpenAi,
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
    /// The `model` of every answer; `None`: the requested one echoed.
    answer_model: Option<String>,
    /// Token counts (prompt, answer) reported with every answer.
    usage: Option<(u64, u64)>,
    /// When set, chat and model requests without `Authorization: Bearer <key>` get a 401.
    api_key: Option<String>,
    /// The `Authorization` header of every request received, in order.
    authorization: Vec<Option<String>>,
    only: Option<Only>,
    /// Keep only the newest request body (benchmarks: no memory growth in the stub).
    keep_last_only: bool,
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

    /// Every answer names this model (as a server does that resolved an alias).
    pub fn answer_as(&self, model: &str) {
        self.lock().answer_model = Some(model.to_string());
    }

    /// Every answer reports these token counts.
    pub fn report_usage(&self, prompt: u64, answer: u64) {
        self.lock().usage = Some((prompt, answer));
    }

    /// Refuse (401) chat and model requests that do not carry `Authorization: Bearer <key>`.
    pub fn require_key(&self, key: &str) {
        self.lock().api_key = Some(key.to_string());
    }

    /// Answer only this protocol's routes; the other's chat path is a 404.
    pub fn only(&self, protocol: Only) {
        self.lock().only = Some(protocol);
    }

    /// Keep only the newest request body, so that a long benchmark does not
    /// grow the stub's memory with every request it ever received.
    pub fn keep_last_request_only(&self) {
        self.lock().keep_last_only = true;
    }

    /// The `Authorization` headers received, in order.
    pub fn authorization(&self) -> Vec<Option<String>> {
        self.lock().authorization.clone()
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

/// Why a request is answered with an error instead of a turn.
fn refusal(inner: &Shared, path: &str, headers: &HeaderMap) -> Option<Response> {
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    guard.authorization.push(auth.clone());
    let ollama_path = path.starts_with("/api/");
    match guard.only {
        // llama.cpp's answer for a path it does not serve.
        Some(Only::OpenAi) if ollama_path => {
            guard.paths.push(path.to_string());
            return Some(
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}})),
                )
                    .into_response(),
            );
        }
        Some(Only::Ollama) if !ollama_path => {
            guard.paths.push(path.to_string());
            return Some((StatusCode::NOT_FOUND, "404 page not found").into_response());
        }
        _ => {}
    }
    if let Some(key) = &guard.api_key
        && auth.as_deref() != Some(format!("Bearer {key}").as_str())
    {
        guard.paths.push(path.to_string());
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": 401}})),
            )
                .into_response(),
        );
    }
    None
}

/// Records the request and takes the next turn (after the configured delay),
/// with the model name and token counts to answer with.
async fn next_turn(inner: &Shared, path: &str, body: Value) -> (Turn, Value, Option<(u64, u64)>) {
    let requested = body["model"].clone();
    let delay = {
        let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
        if guard.keep_last_only {
            guard.requests.clear();
            guard.paths.clear();
            guard.authorization.clear();
        }
        guard.requests.push(body);
        guard.paths.push(path.to_string());
        guard.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    let model = guard
        .answer_model
        .clone()
        .map(Value::String)
        .unwrap_or(requested);
    let usage = guard.usage;
    if let Some(turn) = &guard.repeat {
        return (turn.clone(), model, usage);
    }
    let turn = guard
        .script
        .pop_front()
        .unwrap_or_else(|| Turn::text("(script exhausted)"));
    (turn, model, usage)
}

async fn ollama_chat(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = refusal(&inner, "/api/chat", &headers) {
        return refused;
    }
    let (turn, model, usage) = next_turn(&inner, "/api/chat", body).await;
    let message = match turn {
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
    let mut answer = json!({"model": model, "created_at": "2026-01-01T00:00:00Z", "message": message, "done": true});
    if let Some((prompt, completion)) = usage {
        answer["prompt_eval_count"] = json!(prompt);
        answer["eval_count"] = json!(completion);
    }
    Json(answer).into_response()
}

async fn openai_chat(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = refusal(&inner, "/v1/chat/completions", &headers) {
        return refused;
    }
    let (turn, model, usage) = next_turn(&inner, "/v1/chat/completions", body).await;
    let (message, finish) = match turn {
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
    let mut answer = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    });
    if let Some((prompt, completion)) = usage {
        answer["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion});
    }
    Json(answer).into_response()
}

async fn tags(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&inner, "/api/tags", &headers) {
        return refused;
    }
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .paths
        .push("/api/tags".into());
    Json(json!({"models": [
        {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 4_920_753_328u64, "modified_at": "2026-01-01T00:00:00Z"},
        {"name": "qwen2.5-coder:7b", "model": "qwen2.5-coder:7b", "size": 4_683_087_332u64, "modified_at": "2026-01-01T00:00:00Z"}
    ]}))
    .into_response()
}

async fn models(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&inner, "/v1/models", &headers) {
        return refused;
    }
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .paths
        .push("/v1/models".into());
    Json(json!({"object": "list", "data": [{"id": "local-model", "object": "model"}]}))
        .into_response()
}
