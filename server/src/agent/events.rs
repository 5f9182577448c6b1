//! The streaming events of `/ws/chat`, the same names v3 used. Each is sent
//! as one JSON text frame `{"type": ..., ...}`.

use serde::Serialize;
use serde_json::Value;

use super::ToolCallRecord;
use crate::tools::RunOutcome;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    ConversationCreated {
        conversation_id: String,
    },
    ModelSelected {
        model: String,
    },
    /// The model is being asked (once per iteration).
    Thinking {
        iteration: u32,
    },
    /// The model asked for a tool call.
    Tool {
        tool: String,
        arguments: Value,
    },
    /// A tool call's outcome.
    Result {
        tool: String,
        /// The policy's decision.
        allowed: bool,
        /// How an allowed call went (`ok` or `error`).
        #[serde(skip_serializing_if = "Option::is_none")]
        outcome: Option<RunOutcome>,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// What went wrong when `outcome` is `error`.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The policy rule that decided.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        duration_ms: u64,
    },
    Complete {
        response: String,
        conversation_id: String,
        /// The model that answered, as the model server named it.
        model_used: String,
        /// The model the turn asked for (after `auto` and the default were applied).
        model_requested: String,
        tool_calls: Vec<ToolCallRecord>,
        iterations: u32,
    },
    Error {
        detail: String,
        /// The HTTP status the same failure has on `POST /api/chat`.
        status: u16,
    },
}

impl AgentEvent {
    pub fn from_record(record: &ToolCallRecord) -> Self {
        AgentEvent::Result {
            tool: record.tool.clone(),
            allowed: record.allowed,
            outcome: record.outcome,
            result: record.result.clone(),
            error: record.error.clone(),
            reason: record.reason.clone(),
            rule: record.rule.clone(),
            duration_ms: record.duration_ms,
        }
    }

    /// The event as a JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| "{\"type\":\"error\",\"detail\":\"unencodable event\"}".into())
    }
}
