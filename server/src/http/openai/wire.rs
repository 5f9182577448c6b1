//! OpenAI's Chat Completions wire format: the request, the response, the
//! streamed chunk and the model list, plus their conversion to and from the
//! protocol-neutral messages of [`crate::llm`]. Pure data; no I/O.
//!
//! Unknown request fields are ignored (clients send many optional ones); the
//! fields this server does not honour are listed in docs/api.md.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::ToolCallRecord;
use crate::llm::{ChatMessage, Role, ToolCall, ToolDef};

/// Longest message content accepted, in characters (as on `/api/chat`).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Most messages accepted in one request.
pub const MAX_MESSAGES: usize = 1_000;

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatCompletionRequest {
    /// A model id of `GET /v1/models`; `auto` or absent: the server chooses.
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<RequestMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens`; wins when both are given.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// The end user, recorded in the audit trail.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub n: Option<u32>,
    /// The client's own tools: when present, nothing is executed here and the
    /// model's tool calls go back to the client unchanged.
    #[serde(default)]
    pub tools: Option<Vec<RequestTool>>,
    /// Extension: store the turn in this conversation (`"new"` creates one).
    #[serde(default)]
    pub x_conversation_id: Option<String>,
}

impl ChatCompletionRequest {
    /// The token limit asked for, whichever field carried it.
    pub fn max_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// Checks what serde cannot: counts, ranges, sizes. The message names the field.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        if self.messages.is_empty() {
            return Err(InvalidRequest::new(
                "messages",
                "messages must not be empty",
            ));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(InvalidRequest::new(
                "messages",
                format!("at most {MAX_MESSAGES} messages are accepted"),
            ));
        }
        if let Some(n) = self.n
            && n != 1
        {
            return Err(InvalidRequest::new("n", "only n = 1 is supported"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(InvalidRequest::new(
                "temperature",
                "temperature must be between 0 and 2",
            ));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(InvalidRequest::new(
                "top_p",
                "top_p must be between 0 and 1",
            ));
        }
        if self.max_tokens() == Some(0) {
            return Err(InvalidRequest::new(
                "max_tokens",
                "max_tokens must be at least 1",
            ));
        }
        for (i, tool) in self.tools.iter().flatten().enumerate() {
            if tool.kind != "function" || tool.function.name.trim().is_empty() {
                return Err(InvalidRequest::new(
                    format!("tools[{i}]"),
                    "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ));
            }
        }
        Ok(())
    }

    /// The messages in the neutral form, or the first one that cannot be used.
    pub fn chat_messages(&self) -> Result<Vec<ChatMessage>, InvalidRequest> {
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| m.to_chat_message(i))
            .collect()
    }

    /// The client's tools as offered to the model.
    pub fn tool_defs(&self) -> Vec<ToolDef> {
        self.tools
            .iter()
            .flatten()
            .map(|t| ToolDef {
                name: t.function.name.clone(),
                description: t.function.description.clone().unwrap_or_default(),
                parameters: t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            })
            .collect()
    }
}

/// A request field that does not fit, with its JSON path (`messages[2].role`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRequest {
    pub param: String,
    pub message: String,
}

impl InvalidRequest {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidRequest {
            param: param.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RequestMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// A tool message's tool name (older clients send it).
    #[serde(default)]
    pub name: Option<String>,
}

/// Text, or a list of parts of which only `text` parts are understood.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Clone, Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl RequestMessage {
    fn text(&self, index: usize) -> Result<String, InvalidRequest> {
        let text = match &self.content {
            None => String::new(),
            Some(MessageContent::Text(text)) => text.clone(),
            Some(MessageContent::Parts(parts)) => {
                let mut out = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(text)) => out.push(text.as_str()),
                        _ => {
                            return Err(InvalidRequest::new(
                                format!("messages[{index}].content[{j}]"),
                                format!(
                                    "content parts of type '{}' are not supported; send text",
                                    part.kind
                                ),
                            ));
                        }
                    }
                }
                out.join("\n")
            }
        };
        if text.chars().count() > MAX_CONTENT_CHARS {
            return Err(InvalidRequest::new(
                format!("messages[{index}].content"),
                format!("content is longer than {MAX_CONTENT_CHARS} characters"),
            ));
        }
        Ok(text)
    }

    fn to_chat_message(&self, index: usize) -> Result<ChatMessage, InvalidRequest> {
        let role = match self.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => {
                return Err(InvalidRequest::new(
                    format!("messages[{index}].role"),
                    format!(
                        "unknown role '{other}'; expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        };
        let mut message = ChatMessage::new(role, self.text(index)?);
        match role {
            Role::Assistant => {
                message.tool_calls = self
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(WireToolCall::to_tool_call)
                    .collect();
            }
            Role::Tool => {
                let Some(id) = self.tool_call_id.clone() else {
                    return Err(InvalidRequest::new(
                        format!("messages[{index}].tool_call_id"),
                        "a tool message needs the tool_call_id it answers",
                    ));
                };
                message.tool_call_id = Some(id);
                message.tool_name = self.name.clone();
            }
            Role::System | Role::User => {}
        }
        Ok(message)
    }
}

/// `{"type": "function", "function": {name, description?, parameters?}}`.
#[derive(Clone, Debug, Deserialize)]
pub struct RequestTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// A tool call as OpenAI writes it: arguments are a JSON *string*.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireToolCall {
    /// Only in streamed deltas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: WireFunction,
}

fn function_kind() -> String {
    "function".into()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

impl WireToolCall {
    /// The model's call as the client sees it: the same name and arguments,
    /// an id invented only when the model server gave none.
    pub fn from_tool_call(call: &ToolCall, position: usize) -> Self {
        let arguments = match &call.arguments {
            // Text the model sent that is not JSON goes back as it came.
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        WireToolCall {
            index: None,
            id: call
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{position}")),
            kind: function_kind(),
            function: WireFunction {
                name: call.name.clone(),
                arguments,
            },
        }
    }

    fn to_tool_call(&self) -> ToolCall {
        let arguments = serde_json::from_str(&self.function.arguments)
            .unwrap_or_else(|_| Value::String(self.function.arguments.clone()));
        ToolCall {
            id: (!self.id.is_empty()).then(|| self.id.clone()),
            name: self.function.name.clone(),
            arguments,
        }
    }
}

/// Why a choice ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    /// The iteration budget (`AI_MAX_ITERATIONS`) or the token limit ran out.
    Length,
    /// Passthrough mode: the model asks the client to run its tools.
    ToolCalls,
}

/// Token counts as the model server reported them (zero when it did not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// One tool call the server ran (extension `x_tool_calls`): the policy's
/// decision with the rule that decided and the result or the refusal reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct XToolCall {
    pub tool: String,
    pub arguments: Value,
    /// The policy's decision.
    pub allowed: bool,
    /// How an allowed call went (`ok` or `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::tools::RunOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// What went wrong when `outcome` is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long judging and running the call took.
    pub duration_ms: u64,
}

impl From<&ToolCallRecord> for XToolCall {
    fn from(record: &ToolCallRecord) -> Self {
        XToolCall {
            tool: record.tool.clone(),
            arguments: record.arguments.clone(),
            allowed: record.allowed,
            outcome: record.outcome,
            rule: record.rule.clone(),
            result: record.result.clone(),
            error: record.error.clone(),
            reason: record.reason.clone(),
            duration_ms: record.duration_ms,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: FinishReason,
    pub logprobs: Option<Value>,
}

/// The non-streamed answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
    /// Extension: the tool calls the server ran, in order (absent in passthrough mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_tool_calls: Option<Vec<XToolCall>>,
    /// Extension: the conversation the turn was stored in, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_conversation_id: Option<String>,
}

/// What one completion says, before it is put on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub content: Option<String>,
    pub tool_calls: Vec<WireToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub x_tool_calls: Option<Vec<XToolCall>>,
    pub x_conversation_id: Option<String>,
}

impl Completion {
    pub fn into_chat_completion(self) -> ChatCompletion {
        ChatCompletion {
            id: self.id,
            object: "chat.completion",
            created: self.created,
            model: self.model,
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant",
                    content: self.content,
                    tool_calls: self.tool_calls,
                },
                finish_reason: self.finish_reason,
                logprobs: None,
            }],
            usage: self.usage,
            x_tool_calls: self.x_tool_calls,
            x_conversation_id: self.x_conversation_id,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<FinishReason>,
    pub logprobs: Option<Value>,
}

/// One `data:` event of a streamed answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    /// Only on the last chunk, and only with `stream_options.include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Extension: one tool call the server ran, as it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_tool_call: Option<XToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_conversation_id: Option<String>,
}

/// `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<Model>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: String,
}

impl ModelList {
    /// `auto` first, then every model of the listing (configured or served).
    pub fn new(names: impl IntoIterator<Item = String>, owned_by: &str, created: i64) -> Self {
        let model = |id: String, owner: &str| Model {
            id,
            object: "model",
            created,
            owned_by: owner.to_string(),
        };
        let mut data = vec![model("auto".into(), "ai-orchestrator")];
        for name in names {
            if !data.iter().any(|m| m.id == name) {
                data.push(model(name, owned_by));
            }
        }
        ModelList {
            object: "list",
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_typical_client_request_is_understood() {
        let req = request(json!({
            "model": "llama3.1:8b",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "list"}, {"type": "text", "text": "/data"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}
            ],
            "stream": true, "stream_options": {"include_usage": true},
            "temperature": 0.2, "max_tokens": 5, "max_completion_tokens": 7,
            "user": "u-1", "presence_penalty": 0.5, "seed": 3
        }));
        req.validate().unwrap();
        assert!(req.stream && req.include_usage());
        assert_eq!(req.max_tokens(), Some(7));
        let messages = req.chat_messages().unwrap();
        assert_eq!(messages[0].role, Role::System);
        assert_eq!(messages[1].content, "list\n/data");
        assert_eq!(messages[2].tool_calls[0].arguments, json!({"a": 1}));
        assert_eq!(messages[2].tool_calls[0].id.as_deref(), Some("c1"));
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("c1"));
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |body: Value| {
            let req = request(body);
            req.validate()
                .and_then(|()| req.chat_messages().map(|_| ()))
        };
        let user = json!({"role": "user", "content": "hi"});
        assert_eq!(bad(json!({"messages": []})).unwrap_err().param, "messages");
        assert_eq!(
            bad(json!({"messages": [user, {"role": "robot", "content": "x"}]}))
                .unwrap_err()
                .param,
            "messages[1].role"
        );
        assert_eq!(
            bad(json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}))
                .unwrap_err()
                .param,
            "messages[0].content[0]"
        );
        assert_eq!(
            bad(json!({"messages": [{"role": "tool", "content": "x"}]}))
                .unwrap_err()
                .param,
            "messages[0].tool_call_id"
        );
        assert_eq!(
            bad(json!({"messages": [user], "temperature": 3.0}))
                .unwrap_err()
                .param,
            "temperature"
        );
        assert_eq!(
            bad(json!({"messages": [user], "n": 2})).unwrap_err().param,
            "n"
        );
        assert_eq!(
            bad(json!({"messages": [user], "tools": [{"type": "retrieval", "function": {"name": "x"}}]}))
                .unwrap_err()
                .param,
            "tools[0]"
        );
        let long = "x".repeat(MAX_CONTENT_CHARS + 1);
        assert_eq!(
            bad(json!({"messages": [{"role": "user", "content": long}]}))
                .unwrap_err()
                .param,
            "messages[0].content"
        );
        assert!(bad(json!({"messages": [user]})).is_ok());
    }

    #[test]
    fn model_tool_calls_go_back_unchanged() {
        let parsed = ToolCall {
            id: Some("call_abc".into()),
            name: "get_weather".into(),
            arguments: json!({"city": "Oslo"}),
        };
        let wire = WireToolCall::from_tool_call(&parsed, 0);
        assert_eq!(wire.id, "call_abc");
        assert_eq!(wire.function.arguments, "{\"city\":\"Oslo\"}");
        let raw = ToolCall {
            id: None,
            name: "f".into(),
            arguments: Value::String("not json {".into()),
        };
        let wire = WireToolCall::from_tool_call(&raw, 2);
        assert_eq!(wire.id, "call_2");
        assert_eq!(wire.function.arguments, "not json {");
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!({"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "not json {"}})
        );
    }

    #[test]
    fn responses_have_openai_shapes() {
        let completion = Completion {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
            content: Some("hi".into()),
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
            },
            x_tool_calls: Some(vec![XToolCall {
                tool: "read_file".into(),
                arguments: json!({"path": "/etc/shadow"}),
                allowed: false,
                outcome: None,
                rule: Some("paths.deny[0]".into()),
                result: None,
                error: None,
                reason: Some("denied".into()),
                duration_ms: 2,
            }]),
            x_conversation_id: None,
        };
        let body = serde_json::to_value(completion.into_chat_completion()).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                             "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                "x_tool_calls": [{"tool": "read_file", "arguments": {"path": "/etc/shadow"},
                                  "allowed": false, "rule": "paths.deny[0]", "reason": "denied",
                                  "duration_ms": 2}]
            })
        );
        let list = serde_json::to_value(ModelList::new(
            ["llama3.1:8b".to_string(), "auto".to_string()],
            "ollama",
            1,
        ))
        .unwrap();
        assert_eq!(list["object"], "list");
        assert_eq!(list["data"].as_array().unwrap().len(), 2);
        assert_eq!(
            list["data"][1],
            json!({"id": "llama3.1:8b", "object": "model", "created": 1, "owned_by": "ollama"})
        );
    }
}
