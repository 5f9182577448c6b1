//! One completion of the OpenAI-compatible door: the client sends the whole
//! conversation each time, so nothing is read from storage; the turn is
//! stored only when the client names a conversation (or asks for a new one).
//!
//! Two modes:
//! - the server's agent loop (the default): the caller's policy-enforced
//!   tools, executed here and audited exactly as on `/api/chat`;
//! - passthrough, when the client brings its own tools: one model call with
//!   the client's tools, whose tool calls go back to the client unchanged;
//!   nothing is executed here.
//!
//! Transport-free like [`super::turn`]; the `/v1` routes put it on the wire.

use std::time::Instant;

use crate::agent::turn::{
    self, AuditedTools, MeteredLlm, TurnError, TurnSummary, granted, offered_tools, record_turn,
};
use crate::agent::{self, AgentConfig, AgentEvent, CallCounts, EventSink, ToolCallRecord};
use crate::auth::Principal;
use crate::llm::{self, ChatMessage, ChatRequest, Llm, Role, TokenUsage, ToolCall, ToolDef};
use crate::state::{AppState, RequestContext};
use crate::store::conversations::{self, NewMessage};

/// The value of the conversation extension field that starts a new conversation.
pub const NEW_CONVERSATION: &str = "new";

/// What the client asked for, already checked for shape.
#[derive(Debug)]
pub struct CompletionRequest {
    pub model: Option<String>,
    /// The whole conversation as the client keeps it, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The client's own tools (passthrough mode when not empty).
    pub client_tools: Vec<ToolDef>,
    /// Store the turn in this conversation; [`NEW_CONVERSATION`] creates one.
    pub conversation_id: Option<String>,
    /// The client's end user (OpenAI's `user`), recorded in the audit trail.
    pub end_user: Option<String>,
}

/// What one completion produced.
#[derive(Debug)]
pub struct CompletionResult {
    /// The model that answered, as the model server named it (else the requested one).
    pub model: String,
    /// Token counts, when the model server reported them.
    pub usage: Option<TokenUsage>,
    pub content: String,
    /// Passthrough mode: the model's calls of the client's tools.
    pub client_tool_calls: Vec<ToolCall>,
    /// Agent mode: the calls the server ran, with the policy's decisions.
    pub tool_calls: Option<Vec<ToolCallRecord>>,
    /// The iteration budget ran out before a final answer.
    pub hit_iteration_limit: bool,
    pub conversation_id: Option<String>,
}

/// The newest user message: what "auto" chooses a model by and what titles a new conversation.
fn last_user_text(messages: &[ChatMessage]) -> &str {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or_default()
}

/// The names a completion's [`TurnSummary`] borrows.
struct Summary {
    actor: String,
    end_user: Option<String>,
    conversation_id: Option<String>,
    model_requested: String,
    model_used: String,
}

impl Summary {
    fn turn(&self, started: Instant) -> TurnSummary<'_> {
        TurnSummary {
            action: "chat",
            actor: &self.actor,
            end_user: self.end_user.as_deref(),
            conversation_id: self.conversation_id.as_deref(),
            model_requested: &self.model_requested,
            model_used: &self.model_used,
            iterations: 0,
            calls: CallCounts::default(),
            usage: None,
            duration: started.elapsed(),
            hit_iteration_limit: false,
            error: None,
        }
    }
}

/// A completion whose model is chosen and whose conversation (if any) is
/// found or created, with the user's message stored: what a stream can
/// announce before the model is asked.
#[derive(Debug)]
pub struct Prepared {
    request: CompletionRequest,
    model: String,
    conversation_id: Option<String>,
}

impl Prepared {
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation_id.as_deref()
    }
}

/// Runs one completion for `principal`; tool progress goes to `events`.
pub async fn run<S: EventSink>(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    request: CompletionRequest,
    events: &mut S,
) -> Result<CompletionResult, TurnError> {
    let prepared = prepare(state, principal, request).await?;
    execute(state, principal, ctx, prepared, events).await
}

/// Chooses the model and finds, creates and writes the conversation.
pub async fn prepare(
    state: &AppState,
    principal: &Principal,
    request: CompletionRequest,
) -> Result<Prepared, TurnError> {
    if request.messages.is_empty() {
        return Err(TurnError::Invalid("messages must not be empty".into()));
    }
    let llm = &state.llm;
    let prompt = last_user_text(&request.messages).to_string();
    let model = llm::select_model(
        request.model.as_deref(),
        &prompt,
        llm.catalog.default_model(),
        &llm.catalog.configured(),
    );
    let conversation = match request.conversation_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(NEW_CONVERSATION) => {
            let title = conversations::title_from(&prompt);
            Some(
                state
                    .db
                    .create_conversation(&principal.username, &title)
                    .await?,
            )
        }
        Some(id) => Some(
            state
                .db
                .get_conversation(id)
                .await?
                .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
                .ok_or(TurnError::ConversationNotFound)?,
        ),
    };
    let conversation_id = conversation.map(|c| c.id);
    if let Some(id) = &conversation_id
        && !prompt.is_empty()
    {
        let user = NewMessage {
            role: "user".into(),
            content: prompt.clone(),
            model_used: None,
            tool_calls: None,
        };
        state.db.append_messages(id, &[user]).await?;
    }
    Ok(Prepared {
        request,
        model,
        conversation_id,
    })
}

/// Asks the model: the agent loop, or one call with the client's tools.
pub async fn execute<S: EventSink>(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    prepared: Prepared,
    events: &mut S,
) -> Result<CompletionResult, TurnError> {
    let started = Instant::now();
    let Prepared {
        request,
        model,
        conversation_id,
    } = prepared;
    let llm = &state.llm;
    let metered = MeteredLlm {
        client: &llm.client,
        metrics: &state.metrics,
    };
    let actor = principal.actor();
    let summary = |model_used: String| Summary {
        actor: actor.clone(),
        end_user: request.end_user.clone(),
        conversation_id: conversation_id.clone(),
        model_requested: model.clone(),
        model_used,
    };

    if !request.client_tools.is_empty() {
        let reply = metered
            .chat(ChatRequest {
                model: &model,
                messages: &request.messages,
                tools: &request.client_tools,
            })
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                let error = agent::AgentError::from(e);
                let parts = summary(model.clone());
                let mut failed = parts.turn(started);
                failed.iterations = 1;
                failed.error = Some(&error);
                record_turn(state, ctx, &failed).await;
                return Err(TurnError::Agent {
                    error,
                    conversation_id: conversation_id.unwrap_or_default(),
                });
            }
        };
        let model_used = reply.model.clone().unwrap_or_else(|| model.clone());
        let message = reply.message;
        if let Some(id) = &conversation_id {
            let row = NewMessage {
                role: "assistant".into(),
                content: message.content.clone(),
                model_used: Some(model_used.clone()),
                tool_calls: (!message.tool_calls.is_empty())
                    .then(|| serde_json::json!(message.tool_calls)),
            };
            state.db.append_messages(id, &[row]).await?;
        }
        let parts = summary(model_used.clone());
        let mut done = parts.turn(started);
        done.iterations = 1;
        done.usage = reply.usage;
        record_turn(state, ctx, &done).await;
        return Ok(CompletionResult {
            model: model_used,
            usage: reply.usage,
            content: message.content,
            client_tool_calls: message.tool_calls,
            tool_calls: None,
            hit_iteration_limit: false,
            conversation_id,
        });
    }

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
        system_prompt: turn::system_prompt(&policy),
        tools: offered_tools(&granted),
        turn_timeout: Some(state.settings.agent.turn_timeout),
    };
    let runner = AuditedTools {
        state,
        granted,
        actor: actor.clone(),
        ctx,
    };
    let run = agent::run(&metered, &runner, events, &config, request.messages.clone()).await;
    let model_used = run.model_used.clone().unwrap_or_else(|| model.clone());
    let stored = match &conversation_id {
        Some(id) => {
            state
                .db
                .append_messages(id, &turn::rows_of(&run, &model_used))
                .await
        }
        None => Ok(()),
    };
    let parts = summary(model_used.clone());
    let mut done = parts.turn(started);
    done.iterations = run.iterations;
    done.calls = CallCounts::of(&run.tool_calls);
    done.usage = run.usage;
    done.hit_iteration_limit = run.hit_iteration_limit;
    done.error = run.error.as_ref();
    record_turn(state, ctx, &done).await;
    stored?;
    if let Some(error) = run.error {
        return Err(TurnError::Agent {
            error,
            conversation_id: conversation_id.unwrap_or_default(),
        });
    }
    Ok(CompletionResult {
        model: model_used,
        usage: run.usage,
        content: run.response,
        client_tool_calls: Vec::new(),
        tool_calls: Some(run.tool_calls),
        hit_iteration_limit: run.hit_iteration_limit,
        conversation_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_user_message_chooses() {
        let messages = vec![
            ChatMessage::new(Role::System, "sys"),
            ChatMessage::new(Role::User, "first"),
            ChatMessage::new(Role::Assistant, "answer"),
            ChatMessage::new(Role::User, "second"),
            ChatMessage::new(Role::Assistant, "again"),
        ];
        assert_eq!(last_user_text(&messages), "second");
        assert_eq!(last_user_text(&messages[..1]), "");
    }
}
