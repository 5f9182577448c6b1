//! Talking to the language model: one chat call with tools, in either
//! Ollama's native API (`/api/chat`) or the OpenAI-compatible one
//! (`/v1/chat/completions`, served by llama.cpp, vLLM and others), plus the
//! model listing. The agent loop only sees the [`Llm`] trait.

mod models;
mod ollama;
mod openai;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use models::{ModelCatalog, ModelInfo, select_model};

use crate::config::Secret;

/// The longest wait for the model list (`/api/tags`, `/v1/models`).
const LISTING_TIMEOUT: Duration = Duration::from_secs(5);

/// Which wire protocol the model server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Ollama,
    OpenAi,
}

impl Provider {
    /// The metric label and setting value (`ollama`, `openai`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::OpenAi => "openai",
        }
    }
}

/// How the model is asked to generate: sent with every chat request (Ollama
/// in `options`, OpenAI-compatible servers as top-level fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenerationParams {
    /// Sampling temperature; low values keep tool calls well-formed.
    pub temperature: f64,
    /// The longest answer, in tokens (`num_predict` / `max_tokens`); `None`: the server's default.
    pub max_tokens: Option<u32>,
    /// The context window, in tokens (Ollama's `num_ctx`; OpenAI-compatible
    /// servers fix it at load time, so it is not sent to them); `None`: the
    /// server's default. Also what the history replay budgets against.
    pub context_length: Option<u32>,
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams {
            temperature: 0.2,
            max_tokens: Some(2048),
            context_length: Some(8192),
        }
    }
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id (OpenAI protocol); echoed back in the tool message.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// The arguments object; a `Value::String` when the model sent text that is not JSON.
    #[serde(default)]
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

/// Token counts as the model server reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Tokens of the request (the prompt).
    pub input: u64,
    /// Tokens of the answer.
    pub output: u64,
}

/// One answer of the model server.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmReply {
    /// The assistant's next message (text and/or tool calls).
    pub message: ChatMessage,
    /// The model that answered, as the server names it (its `model` field).
    pub model: Option<String>,
    /// Token counts, when the server reports them.
    pub usage: Option<TokenUsage>,
}

impl LlmReply {
    /// A reply that reports neither model nor usage.
    #[cfg(test)]
    pub fn of(message: ChatMessage) -> Self {
        LlmReply {
            message,
            model: None,
            usage: None,
        }
    }
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
    /// The server does not speak the configured protocol (502): the message
    /// names the URL asked and the setting to change.
    #[error("{0}")]
    WrongProtocol(String),
}

impl LlmError {
    /// The metric label of a failed call.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unreachable(_) => "unreachable",
            LlmError::Timeout(_) => "timeout",
            LlmError::BadResponse(_) | LlmError::WrongProtocol(_) => "bad_response",
        }
    }
}

/// A chat-capable model server.
pub trait Llm: Send + Sync {
    /// One completion: the assistant's next message (text and/or tool calls).
    fn chat(
        &self,
        request: ChatRequest<'_>,
    ) -> impl Future<Output = Result<LlmReply, LlmError>> + Send;
}

impl<L: Llm> Llm for &L {
    fn chat(
        &self,
        request: ChatRequest<'_>,
    ) -> impl Future<Output = Result<LlmReply, LlmError>> + Send {
        (**self).chat(request)
    }
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

/// The answering model's name (the answer's `model` field), when given.
fn answer_model(answer: &Value) -> Option<String> {
    answer
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(str::to_string)
}

/// Two token counts read from the answer, when the server reported either.
fn usage_of(input: Option<&Value>, output: Option<&Value>) -> Option<TokenUsage> {
    let (input, output) = (
        input.and_then(Value::as_u64),
        output.and_then(Value::as_u64),
    );
    (input.is_some() || output.is_some()).then(|| TokenUsage {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
    })
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

/// How to reach a model server.
#[derive(Clone, Debug)]
pub struct LlmConnection {
    pub provider: Provider,
    pub base_url: String,
    /// The longest wait for one model call (`AI_LLM_TIMEOUT`).
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <key>` (`AI_LLM_API_KEY`); its `Debug` is redacted.
    pub api_key: Option<Secret>,
    pub params: GenerationParams,
}

/// The HTTP client for a model server. Its `Debug` never shows the API key.
#[derive(Clone, Debug)]
pub struct LlmClient {
    http: reqwest::Client,
    base_url: String,
    provider: Provider,
    timeout: Duration,
    api_key: Option<Secret>,
    params: GenerationParams,
}

impl LlmClient {
    pub fn new(connection: LlmConnection) -> Result<Self, LlmError> {
        let LlmConnection {
            provider,
            base_url,
            timeout,
            api_key,
            params,
        } = connection;
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
            api_key: api_key.filter(|k| !k.expose().is_empty()),
            params,
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn params(&self) -> GenerationParams {
        self.params
    }

    /// The endpoint a chat call goes to.
    fn chat_url(&self) -> String {
        match self.provider {
            Provider::Ollama => format!("{}/api/chat", self.base_url),
            Provider::OpenAi => format!("{}/v1/chat/completions", self.base_url),
        }
    }

    /// A request with the API key, marked sensitive so that it is never printed.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => {
                match reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        request.header(reqwest::header::AUTHORIZATION, value)
                    }
                    // A key that cannot be a header value is not sent; the server's 401 says so.
                    Err(_) => request,
                }
            }
            None => request,
        }
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
        let body = self.send(self.authorized(request), &url).await?;
        match self.provider {
            Provider::Ollama => ollama::parse_tags(&body),
            Provider::OpenAi => openai::parse_models(&body),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Value, LlmError> {
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.classify(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(300).collect();
            if let Some(message) = self.wrong_protocol(status, &snippet, url) {
                return Err(LlmError::WrongProtocol(message));
            }
            if status == reqwest::StatusCode::UNAUTHORIZED
                || status == reqwest::StatusCode::FORBIDDEN
            {
                let hint = if self.api_key.is_some() {
                    "check AI_LLM_API_KEY"
                } else {
                    "it may need an API key: set AI_LLM_API_KEY"
                };
                return Err(LlmError::BadResponse(format!(
                    "HTTP {status} from {url} ({hint}): {snippet}"
                )));
            }
            return Err(LlmError::BadResponse(format!("HTTP {status}: {snippet}")));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            let hint = self
                .protocol_hint(url)
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            LlmError::BadResponse(format!("{url} did not answer JSON: {e}{hint}"))
        })
    }

    /// The other provider setting, and what to do about a `/v1` in the URL.
    fn protocol_hint(&self, url: &str) -> Option<String> {
        let v1_in_base = self.base_url.ends_with("/v1");
        let hint = match self.provider {
            Provider::Ollama if v1_in_base => format!(
                "{url} is the Ollama protocol, but the base URL ends in `/v1` like an \
                 OpenAI-compatible server's: set AI_LLM_PROVIDER=openai and remove `/v1` from \
                 AI_OLLAMA_URL (the server adds it)"
            ),
            Provider::Ollama => format!(
                "{url} is the Ollama protocol; if this is an OpenAI-compatible server \
                 (llama.cpp's llama-server, vLLM, LM Studio, LiteLLM), set AI_LLM_PROVIDER=openai"
            ),
            Provider::OpenAi if v1_in_base => format!(
                "{url} has `/v1` twice: remove `/v1` from AI_OLLAMA_URL (the server adds it)"
            ),
            Provider::OpenAi => format!(
                "{url} is the OpenAI-compatible protocol; if this is an Ollama server without it, \
                 set AI_LLM_PROVIDER=ollama"
            ),
        };
        Some(hint)
    }

    /// A 404/405 that is not about a missing model means the path does not
    /// exist there: the server speaks another protocol (or the URL is off).
    fn wrong_protocol(&self, status: reqwest::StatusCode, body: &str, url: &str) -> Option<String> {
        let missing_path = status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::METHOD_NOT_ALLOWED;
        // Ollama and OpenAI servers answer 404 for an unknown model too; that is not a protocol problem.
        if !missing_path || body.to_ascii_lowercase().contains("model") {
            return None;
        }
        let hint = self.protocol_hint(url)?;
        Some(format!(
            "the language model server answered HTTP {status} for {url}: {hint}"
        ))
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
    async fn chat(&self, request: ChatRequest<'_>) -> Result<LlmReply, LlmError> {
        let url = self.chat_url();
        let body = match self.provider {
            Provider::Ollama => ollama::request_body(&request, &self.params),
            Provider::OpenAi => openai::request_body(&request, &self.params),
        };
        let answer = self
            .send(self.authorized(self.http.post(&url).json(&body)), &url)
            .await?;
        let parsed = match self.provider {
            Provider::Ollama => ollama::parse_reply(&answer),
            Provider::OpenAi => openai::parse_reply(&answer),
        };
        parsed.map_err(|e| match e {
            // An answer of the other protocol's shape: say which setting to change.
            LlmError::BadResponse(detail) if self.other_shape(&answer) => {
                let hint = self.protocol_hint(&url).unwrap_or_default();
                LlmError::WrongProtocol(format!(
                    "the language model server at {url} answered in another protocol ({detail}): {hint}"
                ))
            }
            other => other,
        })
    }
}

impl LlmClient {
    /// Whether `answer` looks like the other protocol's chat answer.
    fn other_shape(&self, answer: &Value) -> bool {
        match self.provider {
            Provider::Ollama => answer.get("choices").is_some(),
            Provider::OpenAi => answer.get("message").is_some() && answer.get("choices").is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(provider: Provider, base_url: &str, key: Option<&str>) -> LlmClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        LlmClient::new(LlmConnection {
            provider,
            base_url: base_url.into(),
            timeout: Duration::from_secs(5),
            api_key: key.map(Secret::new),
            params: GenerationParams::default(),
        })
        .expect("client")
    }

    #[test]
    fn the_api_key_never_shows_in_debug() {
        let c = client(
            Provider::OpenAi,
            "http://h:8080",
            Some("sk-very-secret-value"),
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-very-secret-value"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn a_missing_path_suggests_the_other_provider_but_a_missing_model_does_not() {
        let not_found = reqwest::StatusCode::NOT_FOUND;
        let ollama = client(Provider::Ollama, "http://h:8080/", None);
        let url = ollama.chat_url();
        assert_eq!(url, "http://h:8080/api/chat");
        let message = ollama
            .wrong_protocol(not_found, "{\"error\":\"File Not Found\"}", &url)
            .expect("wrong protocol");
        assert!(message.contains("http://h:8080/api/chat"), "{message}");
        assert!(message.contains("AI_LLM_PROVIDER=openai"), "{message}");
        assert!(
            ollama
                .wrong_protocol(not_found, "{\"error\":\"model 'x' not found\"}", &url)
                .is_none()
        );
        assert!(
            ollama
                .wrong_protocol(reqwest::StatusCode::BAD_REQUEST, "", &url)
                .is_none()
        );

        let v1 = client(Provider::Ollama, "http://h:8080/v1", None);
        let message = v1
            .wrong_protocol(not_found, "", &v1.chat_url())
            .expect("wrong protocol");
        assert!(
            message.contains("AI_LLM_PROVIDER=openai") && message.contains("remove `/v1`"),
            "{message}"
        );

        let openai = client(Provider::OpenAi, "http://h:11434/v1", None);
        assert_eq!(openai.chat_url(), "http://h:11434/v1/v1/chat/completions");
        let message = openai
            .wrong_protocol(not_found, "404 page not found", &openai.chat_url())
            .expect("wrong protocol");
        assert!(message.contains("`/v1` twice"), "{message}");
        let openai = client(Provider::OpenAi, "http://h:11434", None);
        let message = openai
            .wrong_protocol(not_found, "404 page not found", &openai.chat_url())
            .expect("wrong protocol");
        assert!(message.contains("AI_LLM_PROVIDER=ollama"), "{message}");
    }

    #[test]
    fn an_answer_of_the_other_shape_is_recognised() {
        let ollama = client(Provider::Ollama, "http://h", None);
        assert!(ollama.other_shape(&json!({"choices": []})));
        assert!(!ollama.other_shape(&json!({"message": {}})));
        let openai = client(Provider::OpenAi, "http://h", None);
        assert!(openai.other_shape(&json!({"message": {}, "done": true})));
        assert!(!openai.other_shape(&json!({"choices": []})));
    }
}
