//! The agent loop: ask the model, run the tool calls it makes through the
//! policy, feed the results back, until it answers in plain text or the
//! iteration budget runs out. It knows nothing of HTTP or storage: the model,
//! the tools and the event stream are traits, so the loop is tested with an
//! in-process fake model.

pub mod completion;
mod events;
#[cfg(test)]
mod tests;
pub mod turn;

use std::future::Future;

use serde::Serialize;
use serde_json::{Value, json};

use crate::llm::{ChatMessage, ChatRequest, Llm, LlmError, Role, ToolCall, ToolDef};
use crate::tools::{ToolError, ToolOutcome};

pub use events::AgentEvent;

/// Runs one tool call on behalf of the caller (scopes, policy and audit are its business).
pub trait ToolRunner: Send + Sync {
    fn run(
        &self,
        name: &str,
        arguments: &Value,
    ) -> impl Future<Output = Result<ToolOutcome, ToolError>> + Send;
}

/// Where progress goes (a WebSocket, or nowhere for `POST /api/chat`).
pub trait EventSink: Send {
    fn emit(&mut self, event: AgentEvent) -> impl Future<Output = ()> + Send;
    /// True once the receiver is gone; the loop then stops before the next step.
    fn is_closed(&self) -> bool;
}

/// A sink that drops every event.
#[derive(Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    async fn emit(&mut self, _event: AgentEvent) {}
    fn is_closed(&self) -> bool {
        false
    }
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub model: String,
    pub max_iterations: u32,
    pub system_prompt: String,
    pub tools: Vec<ToolDef>,
}

/// One tool call as the API reports it: `{tool, arguments, allowed, result | reason, rule,
/// duration_ms}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ToolCallRecord {
    pub tool: String,
    pub arguments: Value,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The policy rule that decided (absent when the call did not fit any tool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// How long judging and running the call took.
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AgentError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The model kept making calls that do not fit any tool, after being told once.
    #[error("the language model made a malformed tool call again after being told: {0}")]
    MalformedToolCall(String),
    /// The client went away; nothing more is done.
    #[error("the client disconnected")]
    Cancelled,
}

/// What a run produced. `messages` are the assistant and tool messages added
/// to the conversation (to be stored even when `error` is set).
#[derive(Debug, Default)]
pub struct AgentRun {
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub iterations: u32,
    /// True when the iteration budget ran out before a final answer.
    pub hit_iteration_limit: bool,
    pub messages: Vec<ChatMessage>,
    pub error: Option<AgentError>,
}

/// Runs the loop for one user message. `history` holds earlier messages of
/// the conversation, oldest first, ending with the new user message.
pub async fn run<L: Llm, T: ToolRunner, S: EventSink>(
    llm: &L,
    tools: &T,
    events: &mut S,
    config: &AgentConfig,
    history: Vec<ChatMessage>,
) -> AgentRun {
    let mut messages = Vec::with_capacity(history.len() + 8);
    if !config.system_prompt.is_empty() {
        messages.push(ChatMessage::new(Role::System, config.system_prompt.clone()));
    }
    messages.extend(history);
    let first_new = messages.len();
    let mut out = AgentRun::default();
    let mut told_malformed = false;

    let finish = |mut out: AgentRun, messages: Vec<ChatMessage>, error: Option<AgentError>| {
        out.messages = messages.into_iter().skip(first_new).collect();
        out.error = error;
        out
    };

    while out.iterations < config.max_iterations {
        if events.is_closed() {
            return finish(out, messages, Some(AgentError::Cancelled));
        }
        out.iterations += 1;
        events
            .emit(AgentEvent::Thinking {
                iteration: out.iterations,
            })
            .await;
        let request = ChatRequest {
            model: &config.model,
            messages: &messages,
            tools: &config.tools,
        };
        let reply = match llm.chat(request).await {
            Ok(reply) => reply,
            Err(e) => return finish(out, messages, Some(AgentError::Llm(e))),
        };
        if reply.tool_calls.is_empty() {
            out.response = reply.content.clone();
            messages.push(reply);
            return finish(out, messages, None);
        }
        let calls = reply.tool_calls.clone();
        messages.push(reply);
        for call in &calls {
            if events.is_closed() {
                return finish(out, messages, Some(AgentError::Cancelled));
            }
            events
                .emit(AgentEvent::Tool {
                    tool: call.name.clone(),
                    arguments: call.arguments.clone(),
                })
                .await;
            let started = std::time::Instant::now();
            let result = tools.run(&call.name, &call.arguments).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let (mut record, text) = match result {
                Ok(outcome) => (record_of(call, &outcome), outcome.to_model_text()),
                Err(error) => {
                    if told_malformed {
                        let mut record = malformed_record(call, &error);
                        record.reason = Some(error.to_string());
                        record.duration_ms = duration_ms;
                        out.tool_calls.push(record);
                        return finish(
                            out,
                            messages,
                            Some(AgentError::MalformedToolCall(error.to_string())),
                        );
                    }
                    told_malformed = true;
                    (
                        malformed_record(call, &error),
                        malformed_text(&error, config),
                    )
                }
            };
            record.duration_ms = duration_ms;
            events.emit(AgentEvent::from_record(&record)).await;
            out.tool_calls.push(record);
            messages.push(ChatMessage::tool_result(call, text));
        }
    }
    out.hit_iteration_limit = true;
    out.response = format!(
        "Stopped after {} iterations without a final answer (the limit is AI_MAX_ITERATIONS).",
        config.max_iterations
    );
    messages.push(ChatMessage::new(Role::Assistant, out.response.clone()));
    finish(out, messages, None)
}

fn record_of(call: &ToolCall, outcome: &ToolOutcome) -> ToolCallRecord {
    ToolCallRecord {
        tool: call.name.clone(),
        arguments: call.arguments.clone(),
        allowed: outcome.allowed,
        result: if outcome.allowed {
            outcome.result.clone()
        } else {
            None
        },
        reason: if outcome.allowed {
            None
        } else {
            Some(outcome.reason.clone())
        },
        rule: Some(outcome.rule.clone()),
        duration_ms: 0,
    }
}

fn malformed_record(call: &ToolCall, error: &ToolError) -> ToolCallRecord {
    ToolCallRecord {
        tool: call.name.clone(),
        arguments: call.arguments.clone(),
        allowed: false,
        result: None,
        reason: Some(error.to_string()),
        rule: None,
        duration_ms: 0,
    }
}

/// What the model is told about a call that fits no tool.
fn malformed_text(error: &ToolError, config: &AgentConfig) -> String {
    let names: Vec<&str> = config.tools.iter().map(|t| t.name.as_str()).collect();
    json!({
        "error": error.to_string(),
        "hint": format!("call one of {} with arguments matching its JSON schema", names.join(", ")),
    })
    .to_string()
}
