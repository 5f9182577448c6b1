//! Talking to the language model: one chat call with tools, in either
//! Ollama's native API (`/api/chat`) or the OpenAI-compatible one
//! (`/v1/chat/completions`, served by llama.cpp, vLLM and others), plus the
//! model listing. The agent loop only sees the [`Llm`] trait.

mod models;
mod ollama;
mod openai;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use models::{ModelCatalog, ModelInfo, select_model};

/// The longest wait for the model list (`/api/tags`, `/v1/models`).
const LISTING_TIMEOUT: Duration = Duration::from_secs(5);

/// Which wire protocol the model server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Ollama,
    OpenAi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCall {
    /// The call id (OpenAI protocol); echoed back in the tool message.
    pub id: Option<String>,
    pub name: String,
    /// The arguments object; a `Value::String` when the model sent text that is not JSON.
    pub arguments: Value,
}

/// One message of the conversation, in a protocol-neutral form.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Calls requested by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers (id and tool name).
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
        }
    }

    /// The answer to `call`.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: call.id.clone(),
            tool_name: Some(call.name.clone()),
        }
    }
}

/// A tool as offered to the model.
#[derive(Clone, Debug)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// What the model is asked.
#[derive(Clone, Copy, Debug)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    pub tools: &'a [ToolDef],
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// No connection could be made (502).
    #[error("the language model server at {0} is unreachable")]
    Unreachable(String),
    /// No answer within `AI_LLM_TIMEOUT` (504).
    #[error("the language model did not answer within {0} seconds")]
    Timeout(u64),
    /// An answer that is an error or that cannot be understood (502).
    #[error("the language model server answered badly: {0}")]
    BadResponse(String),
}

/// A chat-capable model server.
pub trait Llm: Send + Sync {
    /// One completion: the assistant's next message (text and/or tool calls).
    fn chat(
        &self,
        request: ChatRequest<'_>,
    ) -> impl Future<Output = Result<ChatMessage, LlmError>> + Send;
}

/// The request body both protocols share (non-streaming, tools as
/// `{"type": "function", "function": {name, description, parameters}}`);
/// they differ only in how a message is written.
fn chat_body(request: &ChatRequest<'_>, message_json: fn(&ChatMessage) -> Value) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
    let mut body =
        serde_json::json!({"model": request.model, "messages": messages, "stream": false});
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|t| {
            serde_json::json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters,
            }})
        });
        body["tools"] = Value::Array(tools.collect());
    }
    body
}

/// The fields every written message starts with: role, content and the
/// assistant's tool calls, each call written by the protocol's own rule.
fn message_fields(m: &ChatMessage, call_json: impl Fn(&ToolCall) -> Value) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("role".into(), json!(m.role.as_str()));
    out.insert("content".into(), json!(m.content));
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m.tool_calls.iter().map(call_json).collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    out
}

/// The assistant's answer message as both protocols write it: its text
/// (missing or null reads as empty) and its `tool_calls`, each read by the
/// protocol's own rule from its position, the call and its `function` object.
fn assistant_reply(
    message: &Value,
    read_call: impl Fn(usize, &Value, &Value) -> ToolCall,
) -> ChatMessage {
    let content = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut reply = ChatMessage::new(Role::Assistant, content);
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (index, call) in calls.iter().enumerate() {
            let function = call.get("function").unwrap_or(&Value::Null);
            reply.tool_calls.push(read_call(index, call, function));
        }
    }
    reply
}

/// The called tool's name (`function.name`), empty when missing.
fn function_name(function: &Value) -> String {
    function
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The model server client and the model cache, made once at start.
#[derive(Debug)]
pub struct LlmServices {
    pub client: LlmClient,
    pub catalog: ModelCatalog,
}

/// The HTTP client for a model server.
#[derive(Clone, Debug)]
pub struct LlmClient {
    http: reqwest::Client,
    base_url: String,
    provider: Provider,
    timeout: Duration,
}

impl LlmClient {
    pub fn new(provider: Provider, base_url: &str, timeout: Duration) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LlmError::BadResponse(format!("cannot build the HTTP client: {e}")))?;
        Ok(LlmClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            provider,
            timeout,
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Model names the server offers (`/api/tags` or `/v1/models`).
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let url = match self.provider {
            Provider::Ollama => format!("{}/api/tags", self.base_url),
            Provider::OpenAi => format!("{}/v1/models", self.base_url),
        };
        // A listing must stay quick even when the model server hangs.
        let request = self
            .http
            .get(&url)
            .timeout(self.timeout.min(LISTING_TIMEOUT));
        let body = self.send(request).await?;
        match self.provider {
            Provider::Ollama => ollama::parse_tags(&body),
            Provider::OpenAi => openai::parse_models(&body),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, LlmError> {
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.classify(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(300).collect();
            return Err(LlmError::BadResponse(format!("HTTP {status}: {snippet}")));
        }
        serde_json::from_slice(&bytes).map_err(|e| LlmError::BadResponse(format!("not JSON: {e}")))
    }

    fn classify(&self, err: reqwest::Error) -> LlmError {
        if err.is_timeout() {
            LlmError::Timeout(self.timeout.as_secs_f64().ceil() as u64)
        } else if err.is_connect() || err.is_request() {
            LlmError::Unreachable(self.base_url.clone())
        } else {
            LlmError::BadResponse(err.to_string())
        }
    }
}

impl Llm for LlmClient {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<ChatMessage, LlmError> {
        match self.provider {
            Provider::Ollama => {
                let body = ollama::request_body(&request);
                let answer = self
                    .send(
                        self.http
                            .post(format!("{}/api/chat", self.base_url))
                            .json(&body),
                    )
                    .await?;
                ollama::parse_reply(&answer)
            }
            Provider::OpenAi => {
                let body = openai::request_body(&request);
                let answer = self
                    .send(
                        self.http
                            .post(format!("{}/v1/chat/completions", self.base_url))
                            .json(&body),
                    )
                    .await?;
                openai::parse_reply(&answer)
            }
        }
    }
}
