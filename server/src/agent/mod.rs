//! The agent loop: ask the model, run the tool calls it makes through the
//! policy, feed the results back, until it answers in plain text or the
//! iteration budget runs out. It knows nothing of HTTP or storage: the model,
//! the tools and the event stream are traits, so the loop is tested with an
//! in-process fake model.

pub mod completion;
mod events;
pub mod history;
#[cfg(test)]
mod tests;
pub mod text_calls;
pub mod turn;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::llm::{ChatMessage, ChatRequest, Llm, LlmError, Role, TokenUsage, ToolCall, ToolDef};
use crate::tools::{RunOutcome, ToolError, ToolOutcome};

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
    /// The whole turn's deadline (`AI_TURN_TIMEOUT`), over every model and tool call;
    /// each model call also has its own limit (`AI_LLM_TIMEOUT`) in the client.
    pub turn_timeout: Option<Duration>,
}

/// One tool call as the API reports it: `{tool, arguments, allowed, outcome, result | reason,
/// error, rule, duration_ms}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ToolCallRecord {
    pub tool: String,
    pub arguments: Value,
    /// The policy's decision.
    pub allowed: bool,
    /// How an allowed call went (`ok` or `error`); absent when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// What went wrong when `outcome` is `error` (the path and the system's error text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// The turn as a whole ran past `AI_TURN_TIMEOUT` (seconds).
    #[error(
        "the chat turn did not finish within {0} seconds (AI_TURN_TIMEOUT); what it did so far is stored"
    )]
    TurnTimeout(u64),
}

impl AgentError {
    /// The metric label of a failed turn.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::Llm(LlmError::Timeout(_)) => "llm_timeout",
            AgentError::Llm(_) => "llm_error",
            AgentError::MalformedToolCall(_) => "malformed_tool_call",
            AgentError::Cancelled => "cancelled",
            AgentError::TurnTimeout(_) => "turn_timeout",
        }
    }
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
    /// The model that answered, as the model server named it (the last answer's `model`).
    pub model_used: Option<String>,
    /// Token counts summed over the model calls that reported them (`None`: none did).
    pub usage: Option<TokenUsage>,
}

/// Tool calls of a run by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub allowed: u32,
    pub refused: u32,
    /// Allowed calls that failed.
    pub errored: u32,
    /// Calls that fit no tool.
    pub invalid: u32,
}

impl CallCounts {
    pub fn of(records: &[ToolCallRecord]) -> Self {
        let mut counts = CallCounts::default();
        for record in records {
            match (record.allowed, record.outcome, &record.rule) {
                (true, Some(RunOutcome::Error), _) => counts.errored += 1,
                (true, _, _) => counts.allowed += 1,
                (false, _, None) => counts.invalid += 1,
                (false, _, Some(_)) => counts.refused += 1,
            }
        }
        counts
    }
}

fn seconds(d: Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
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
    let deadline = config
        .turn_timeout
        .map(|t| (Instant::now() + t, seconds(t)));
    let expired = || deadline.and_then(|(at, secs)| (Instant::now() >= at).then_some(secs));

    let finish = |mut out: AgentRun, messages: Vec<ChatMessage>, error: Option<AgentError>| {
        out.messages = messages.into_iter().skip(first_new).collect();
        out.error = error;
        out
    };

    while out.iterations < config.max_iterations {
        if events.is_closed() {
            return finish(out, messages, Some(AgentError::Cancelled));
        }
        if let Some(secs) = expired() {
            return finish(out, messages, Some(AgentError::TurnTimeout(secs)));
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
        let answer = match deadline {
            Some((at, secs)) => {
                let left = at.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, llm.chat(request)).await {
                    Ok(answer) => answer,
                    Err(_) => return finish(out, messages, Some(AgentError::TurnTimeout(secs))),
                }
            }
            None => llm.chat(request).await,
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return finish(out, messages, Some(AgentError::Llm(e))),
        };
        if answer.model.is_some() {
            out.model_used = answer.model;
        }
        if let Some(usage) = answer.usage {
            let sum = out.usage.get_or_insert_with(TokenUsage::default);
            sum.input += usage.input;
            sum.output += usage.output;
        }
        let mut reply = answer.message;
        // Small models often write the call as JSON text instead of `tool_calls`.
        if reply.tool_calls.is_empty()
            && let Some(mut call) = text_calls::parse(&reply.content, &config.tools)
        {
            call.id = Some(format!("call_text_{}", out.iterations));
            reply.content.clear();
            reply.tool_calls.push(call);
        }
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
            if let Some(secs) = expired() {
                return finish(out, messages, Some(AgentError::TurnTimeout(secs)));
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
        outcome: if outcome.allowed {
            outcome.outcome
        } else {
            None
        },
        error: outcome.error.clone(),
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
        outcome: None,
        result: None,
        error: None,
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
