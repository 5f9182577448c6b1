//! One chat turn, shared by `POST /api/chat` and `/ws/chat`: check the
//! message, store it, pick the model, run the agent loop with the principal's
//! tools under the policy in force, store the answer and audit failures.
//! Transport-free: the routes map [`TurnError`] to their own answers.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::{
    self, AgentConfig, AgentError, AgentEvent, EventSink, ToolCallRecord, ToolRunner,
};
use crate::auth::Principal;
use crate::http::scopes::Scope;
use crate::llm::{self, ChatMessage, Role, ToolDef};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::conversations::{self, NewMessage};
use crate::tools::{self, ToolError, ToolOutcome};

/// Longest chat message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// Earlier messages of a conversation sent along with a new one.
const HISTORY_MESSAGES: usize = 40;

/// What a client asks for in one turn.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
}

/// The answer of one turn.
#[derive(Debug)]
pub struct TurnResult {
    pub response: String,
    pub conversation_id: String,
    pub model_used: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub iterations: u32,
}

impl TurnResult {
    /// The body of `POST /api/chat`.
    pub fn to_json(&self) -> Value {
        json!({
            "response": self.response,
            "conversation_id": self.conversation_id,
            "model_used": self.model_used,
            "tool_calls": self.tool_calls,
            "iterations": self.iterations,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The request does not fit (an empty or too long message).
    #[error("{0}")]
    Invalid(String),
    #[error("Conversation not found")]
    ConversationNotFound,
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    /// The agent loop failed; what it did so far is stored in the conversation.
    #[error("{error}")]
    Agent {
        error: AgentError,
        conversation_id: String,
    },
}

/// The tool scopes a principal holds (admin implies all).
pub fn granted(principal: &Principal) -> Vec<Scope> {
    [Scope::Read, Scope::Write, Scope::Execute]
        .into_iter()
        .filter(|scope| principal.has_scope(*scope))
        .collect()
}

/// Runs tools for one principal: the policy in force at each call, then an audit row.
pub struct AuditedTools<'a> {
    pub state: &'a AppState,
    pub granted: Vec<Scope>,
    pub actor: String,
    pub ctx: &'a RequestContext,
}

impl AuditedTools<'_> {
    async fn audit(&self, name: &str, result: &Result<ToolOutcome, ToolError>) {
        let event = match result {
            Ok(outcome) => AuditEvent::new(
                format!("tool.{name}"),
                if outcome.allowed {
                    Outcome::Success
                } else {
                    Outcome::Denied
                },
            )
            .target(outcome.target.clone())
            .reason(format!("{}: {}", outcome.rule, outcome.reason)),
            Err(error) => AuditEvent::new("tool.invalid", Outcome::Failure)
                .target(name)
                .reason(error.to_string()),
        };
        self.state
            .audit
            .record(event.context(self.ctx).actor(self.actor.clone()))
            .await;
    }
}

impl ToolRunner for AuditedTools<'_> {
    async fn run(&self, name: &str, arguments: &Value) -> Result<ToolOutcome, ToolError> {
        let policy = self.state.snapshot().policy.clone();
        let result = tools::run(&policy, &self.state.sandbox, &self.granted, name, arguments).await;
        self.audit(name, &result).await;
        result
    }
}

pub(crate) fn system_prompt(policy: &policy::Policy) -> String {
    let paths = &policy.document().paths;
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "You are the assistant of an ai-orchestrator server. You can act on the server only through the tools \
         offered. Every tool call is checked against the server's policy: commands run as a program and its \
         arguments without a shell, and files are reachable only under the allowed directories. When a call is \
         refused, its result says why; do not repeat it, try another way or explain the refusal to the user.\n\
         Readable directories: {}.\nWritable directories: {}.",
        list(&paths.read),
        list(&paths.write)
    )
}

/// Earlier user and assistant messages, the newest last (tool traffic is not replayed).
fn history_of(stored: &[conversations::StoredMessage]) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = stored
        .iter()
        .filter(|m| m.tool_calls.is_none() && !m.content.is_empty())
        .filter_map(|m| match m.role.as_str() {
            "user" => Some(ChatMessage::new(Role::User, m.content.clone())),
            "assistant" => Some(ChatMessage::new(Role::Assistant, m.content.clone())),
            _ => None,
        })
        .collect();
    let skip = out.len().saturating_sub(HISTORY_MESSAGES);
    out.drain(..skip);
    out
}

/// The assistant and tool messages of a run as stored rows.
pub(crate) fn rows_of(run: &agent::AgentRun, model: &str) -> Vec<NewMessage> {
    let mut records = run.tool_calls.iter();
    run.messages
        .iter()
        .map(|m| match m.role {
            Role::Tool => NewMessage {
                role: "tool".into(),
                content: m.content.clone(),
                model_used: None,
                tool_calls: records.next().and_then(|r| serde_json::to_value(r).ok()),
            },
            role => NewMessage {
                role: role.as_str().into(),
                content: m.content.clone(),
                model_used: Some(model.to_string()),
                tool_calls: (!m.tool_calls.is_empty()).then(|| json!(m.tool_calls)),
            },
        })
        .collect()
}

/// Runs one turn for `principal`, streaming progress to `events`.
pub async fn run<S: EventSink>(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    request: ChatRequest,
    events: &mut S,
) -> Result<TurnResult, TurnError> {
    let message = request.message.trim().to_string();
    if message.is_empty() {
        return Err(TurnError::Invalid("message must not be empty".into()));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(TurnError::Invalid(format!(
            "message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let llm = &state.llm;
    // The user's message is saved before the model is asked, so that it
    // survives any failure below.
    let user_message = NewMessage {
        role: "user".into(),
        content: message.clone(),
        model_used: None,
        tool_calls: None,
    };
    let (conversation, history) = match request
        .conversation_id
        .as_deref()
        .filter(|id| !id.is_empty())
    {
        Some(id) => {
            let conversation = state
                .db
                .get_conversation(id)
                .await?
                .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
                .ok_or(TurnError::ConversationNotFound)?;
            let stored = state.db.messages(&conversation.id).await?;
            state
                .db
                .append_messages(&conversation.id, &[user_message])
                .await?;
            (conversation, history_of(&stored))
        }
        None => {
            let title = conversations::title_from(&message);
            let conversation = state
                .db
                .create_conversation_with(&principal.username, &title, &[user_message])
                .await?;
            events
                .emit(AgentEvent::ConversationCreated {
                    conversation_id: conversation.id.clone(),
                })
                .await;
            (conversation, Vec::new())
        }
    };
    let model = llm::select_model(
        request.model.as_deref(),
        &message,
        llm.catalog.default_model(),
        &llm.catalog.configured(),
    );
    events
        .emit(AgentEvent::ModelSelected {
            model: model.clone(),
        })
        .await;

    let granted = granted(principal);
    let policy = state.snapshot().policy.clone();
    let config = AgentConfig {
        model: model.clone(),
        max_iterations: state.settings.agent.max_iterations.max(1),
        system_prompt: system_prompt(&policy),
        tools: tools::registry()
            .iter()
            .filter(|t| granted.contains(&t.scope))
            .map(|t| ToolDef {
                name: t.name.into(),
                description: t.description.into(),
                parameters: t.parameters(),
            })
            .collect(),
    };
    let runner = AuditedTools {
        state,
        granted,
        actor: principal.identity(),
        ctx,
    };
    let mut messages = history;
    messages.push(ChatMessage::new(Role::User, message));
    let run = agent::run(&llm.client, &runner, events, &config, messages).await;
    state
        .db
        .append_messages(&conversation.id, &rows_of(&run, &model))
        .await?;
    if let Some(error) = run.error {
        state
            .audit
            .record(
                AuditEvent::new("chat", Outcome::Failure)
                    .context(ctx)
                    .actor(principal.identity())
                    .target(conversation.id.clone())
                    .reason(error.to_string()),
            )
            .await;
        return Err(TurnError::Agent {
            error,
            conversation_id: conversation.id,
        });
    }
    Ok(TurnResult {
        response: run.response,
        conversation_id: conversation.id,
        model_used: model,
        tool_calls: run.tool_calls,
        iterations: run.iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_replays_only_plain_user_and_assistant_messages() {
        let row = |role: &str, content: &str, calls: Option<Value>| conversations::StoredMessage {
            id: 0,
            role: role.into(),
            content: content.into(),
            model_used: None,
            tool_calls: calls,
            created_at: 0,
        };
        let stored = vec![
            row("user", "list /data", None),
            row("assistant", "", Some(json!([{"name": "list_directory"}]))),
            row(
                "tool",
                "{\"entries\":[]}",
                Some(json!({"tool": "list_directory"})),
            ),
            row("assistant", "It is empty.", None),
        ];
        let history = history_of(&stored);
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].role, Role::User);
        assert_eq!(history[1].content, "It is empty.");
    }
}
