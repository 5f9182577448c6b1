//! One chat turn, shared by `POST /api/chat` and `/ws/chat`: check the
//! message, store it, pick the model, replay the conversation so far, run the
//! agent loop with the principal's tools under the policy in force, store the
//! answer, and record the turn (an audit row, a log line, metrics).
//! Transport-free: the routes map [`TurnError`] to their own answers.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agent::{
    self, AgentConfig, AgentError, AgentEvent, CallCounts, EventSink, ToolCallRecord, ToolRunner,
    history,
};
use crate::auth::Principal;
use crate::http::scopes::Scope;
use crate::llm::{
    self, ChatMessage, ChatRequest as LlmRequest, Llm, LlmClient, LlmError, LlmReply, Role,
    TokenUsage, ToolDef,
};
use crate::metrics::Metrics;
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::conversations::{self, NewMessage};
use crate::tools::{self, ToolError, ToolOutcome};

/// Longest chat message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// The context window the history is budgeted against when none is configured.
const ASSUMED_CONTEXT_TOKENS: usize = 8192;
/// The answer's share of the window when no maximum is configured.
const ASSUMED_ANSWER_TOKENS: usize = 1024;

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
    /// The model that answered, as the model server named it (else the requested one).
    pub model_used: String,
    /// The model asked for (after `auto` and the default were applied).
    pub model_requested: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub iterations: u32,
    pub usage: Option<TokenUsage>,
}

impl TurnResult {
    /// The body of `POST /api/chat`.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "response": self.response,
            "conversation_id": self.conversation_id,
            "model_used": self.model_used,
            "model_requested": self.model_requested,
            "tool_calls": self.tool_calls,
            "iterations": self.iterations,
        });
        if let Some(usage) = self.usage {
            body["usage"] = json!({"input_tokens": usage.input, "output_tokens": usage.output});
        }
        body
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

/// The tools offered to a caller holding `granted`.
pub(crate) fn offered_tools(granted: &[Scope]) -> Vec<ToolDef> {
    tools::registry()
        .iter()
        .filter(|t| granted.contains(&t.scope))
        .map(|t| ToolDef {
            name: t.name.into(),
            description: t.description.into(),
            parameters: t.parameters(),
        })
        .collect()
}

/// The audit reason of a judged call: the reason, preceded by the rule unless it names it already.
pub(crate) fn call_reason(outcome: &ToolOutcome) -> String {
    let mut reason = if outcome.rule.is_empty() || outcome.reason.contains(&outcome.rule) {
        outcome.reason.clone()
    } else {
        format!("{}: {}", outcome.rule, outcome.reason)
    };
    if let Some(error) = &outcome.error {
        reason = format!("{reason}; failed: {error}");
    }
    reason
}

/// Runs tools for one principal: the policy in force at each call, then an audit row.
pub struct AuditedTools<'a> {
    pub state: &'a AppState,
    pub granted: Vec<Scope>,
    /// The audit actor ([`Principal::actor`]).
    pub actor: String,
    pub ctx: &'a RequestContext,
}

impl AuditedTools<'_> {
    async fn audit(&self, name: &str, result: &Result<ToolOutcome, ToolError>) {
        let event = match result {
            Ok(outcome) => AuditEvent::new(
                format!("tool.{name}"),
                match (outcome.allowed, outcome.is_error()) {
                    (false, _) => Outcome::Denied,
                    (true, true) => Outcome::Error,
                    (true, false) => Outcome::Success,
                },
            )
            .target(outcome.target.clone())
            .reason(call_reason(outcome)),
            Err(error) => AuditEvent::new("tool.invalid", Outcome::Failure)
                .target(name)
                .reason(error.to_string()),
        };
        let (tool, decision) = match result {
            Ok(outcome) => (name, outcome.decision_label()),
            // Unknown names are not labels: they would grow the series without bound.
            Err(ToolError::UnknownTool(_)) => ("unknown", "invalid"),
            Err(ToolError::BadArguments { .. }) => (name, "invalid"),
        };
        self.state.metrics.tool_call(tool, decision);
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

/// The model client, with each call's latency, outcome and token counts recorded.
pub struct MeteredLlm<'a> {
    pub client: &'a LlmClient,
    pub metrics: &'a Metrics,
}

impl Llm for MeteredLlm<'_> {
    async fn chat(&self, request: LlmRequest<'_>) -> Result<LlmReply, LlmError> {
        let started = Instant::now();
        let result = self.client.chat(request).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        let usage = result.as_ref().ok().and_then(|r| r.usage);
        self.metrics.llm_call(
            self.client.provider().as_str(),
            outcome,
            started.elapsed(),
            usage,
        );
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
         refused, its result says why; do not repeat it, try another way or explain the refusal to the user. \
         A call that was allowed but failed has `error` in its result (for example a missing file).\n\
         Commands run in {} unless you give `cwd`; leave `cwd` out unless the user names another directory, \
         and never guess one. Use absolute paths under these directories only.\n\
         Readable directories: {}.\nWritable directories (also readable): {}.",
        tools::default_cwd(policy).display(),
        list(&paths.read),
        list(&paths.write)
    )
}

/// The tokens left for replayed history: the context window less the
/// answer, the system prompt, the tools and the new message.
pub(crate) fn history_budget(
    client: &LlmClient,
    system_prompt: &str,
    tools: &[ToolDef],
    message: &str,
) -> usize {
    let params = client.params();
    let context = params
        .context_length
        .map(|n| n as usize)
        .unwrap_or(ASSUMED_CONTEXT_TOKENS);
    let answer = params
        .max_tokens
        .map(|n| n as usize)
        .unwrap_or(ASSUMED_ANSWER_TOKENS);
    context
        .saturating_sub(answer)
        .saturating_sub(history::estimate_tokens(system_prompt) + 4)
        .saturating_sub(history::tools_tokens(tools))
        .saturating_sub(history::estimate_tokens(message) + 4)
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

/// What one turn did, for its audit row, log line and metrics.
#[derive(Debug)]
pub(crate) struct TurnSummary<'a> {
    /// The audit action (`chat`).
    pub action: &'static str,
    pub actor: &'a str,
    /// The client's end user (OpenAI's `user`), when it named one.
    pub end_user: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub model_requested: &'a str,
    pub model_used: &'a str,
    pub iterations: u32,
    pub calls: CallCounts,
    pub usage: Option<TokenUsage>,
    pub duration: Duration,
    pub hit_iteration_limit: bool,
    pub error: Option<&'a AgentError>,
}

impl TurnSummary<'_> {
    /// The metric label: `ok`, `iteration_limit`, or the failure's kind.
    fn outcome_label(&self) -> &'static str {
        match self.error {
            Some(error) => error.kind(),
            None if self.hit_iteration_limit => "iteration_limit",
            None => "ok",
        }
    }

    /// `key=value` pairs, so that the reason can be searched and parsed.
    fn reason(&self) -> String {
        let mut reason = format!(
            "model_used={} model_requested={} iterations={} tools_allowed={} tools_refused={} \
             tools_errored={} tools_invalid={}",
            self.model_used,
            self.model_requested,
            self.iterations,
            self.calls.allowed,
            self.calls.refused,
            self.calls.errored,
            self.calls.invalid,
        );
        if let Some(usage) = self.usage {
            reason.push_str(&format!(
                " tokens_in={} tokens_out={}",
                usage.input, usage.output
            ));
        }
        reason.push_str(&format!(" duration_ms={}", self.duration.as_millis()));
        if self.hit_iteration_limit {
            reason.push_str(" stopped=iteration_limit");
        }
        if let Some(user) = self.end_user {
            reason.push_str(&format!(" end_user={user}"));
        }
        if let Some(error) = self.error {
            reason.push_str(&format!("; error: {error}"));
        }
        reason
    }
}

/// The audit row, log line and metrics of one turn.
pub(crate) async fn record_turn(state: &AppState, ctx: &RequestContext, summary: &TurnSummary<'_>) {
    let outcome = summary.outcome_label();
    state.metrics.turn(outcome, summary.iterations);
    let tokens = summary.usage.unwrap_or_default();
    tracing::info!(
        target: "agent",
        action = summary.action,
        actor = summary.actor,
        conversation_id = summary.conversation_id.unwrap_or("-"),
        model_requested = summary.model_requested,
        model_used = summary.model_used,
        iterations = summary.iterations,
        tools_allowed = summary.calls.allowed,
        tools_refused = summary.calls.refused,
        tools_errored = summary.calls.errored,
        tools_invalid = summary.calls.invalid,
        tokens_in = summary.usage.map(|_| tokens.input),
        tokens_out = summary.usage.map(|_| tokens.output),
        duration_ms = u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
        outcome,
        request_id = %ctx.request_id,
        "chat turn"
    );
    let audit_outcome = if summary.error.is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    state
        .audit
        .record(
            AuditEvent::new(summary.action, audit_outcome)
                .context(ctx)
                .actor(summary.actor)
                .target(summary.conversation_id.unwrap_or("-"))
                .reason(summary.reason()),
        )
        .await;
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
    let started = Instant::now();
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
            (conversation, stored)
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
    let tools = offered_tools(&granted);
    let mut prompt = system_prompt(&policy);
    let budget = history_budget(&llm.client, &prompt, &tools, &message);
    let replay = history::replay(&history, budget);
    if replay.dropped > 0 {
        prompt.push_str(&history::trimmed_note(replay.dropped));
    }
    let config = AgentConfig {
        model: model.clone(),
        max_iterations: state.settings.agent.max_iterations.max(1),
        system_prompt: prompt,
        tools,
        turn_timeout: Some(state.settings.agent.turn_timeout),
    };
    let actor = principal.actor();
    let runner = AuditedTools {
        state,
        granted,
        actor: actor.clone(),
        ctx,
    };
    let mut messages = replay.messages;
    messages.push(ChatMessage::new(Role::User, message));
    let metered = MeteredLlm {
        client: &llm.client,
        metrics: &state.metrics,
    };
    let run = agent::run(&metered, &runner, events, &config, messages).await;
    let model_used = run.model_used.clone().unwrap_or_else(|| model.clone());
    let stored = state
        .db
        .append_messages(&conversation.id, &rows_of(&run, &model_used))
        .await;
    record_turn(
        state,
        ctx,
        &TurnSummary {
            action: "chat",
            actor: &actor,
            end_user: None,
            conversation_id: Some(&conversation.id),
            model_requested: &model,
            model_used: &model_used,
            iterations: run.iterations,
            calls: CallCounts::of(&run.tool_calls),
            usage: run.usage,
            duration: started.elapsed(),
            hit_iteration_limit: run.hit_iteration_limit,
            error: run.error.as_ref(),
        },
    )
    .await;
    stored?;
    if let Some(error) = run.error {
        return Err(TurnError::Agent {
            error,
            conversation_id: conversation.id,
        });
    }
    Ok(TurnResult {
        response: run.response,
        conversation_id: conversation.id,
        model_used,
        model_requested: model,
        tool_calls: run.tool_calls,
        iterations: run.iterations,
        usage: run.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_names_the_working_directory_and_the_roots() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().canonicalize().expect("canonical");
        let yaml = format!(
            "version: 1\npaths:\n  read: [\"/srv/docs\"]\n  write: [\"{}\"]\n",
            root.display()
        );
        let policy = policy::Policy::from_yaml(&yaml).expect("policy");
        let prompt = system_prompt(&policy);
        assert!(
            prompt.contains(&format!("Commands run in {} unless", root.display())),
            "{prompt}"
        );
        assert!(prompt.contains("leave `cwd` out"), "{prompt}");
        assert!(
            prompt.contains("Readable directories: /srv/docs."),
            "{prompt}"
        );
        assert!(
            prompt.contains(&format!(
                "Writable directories (also readable): {}.",
                root.display()
            )),
            "{prompt}"
        );
    }

    #[test]
    fn the_audit_reason_does_not_repeat_the_rule() {
        let allowed = ToolOutcome::ran(
            "commands.allow[12] (uptime)",
            "allowed by commands.allow[12] (uptime)",
            "uptime",
            json!({}),
        );
        assert_eq!(
            call_reason(&allowed),
            "allowed by commands.allow[12] (uptime)"
        );
        let refused = ToolOutcome::refused("shell-syntax", "`;` is shell syntax", "a; b");
        assert_eq!(call_reason(&refused), "shell-syntax: `;` is shell syntax");
        let failed = ToolOutcome::failed(
            "paths.read[0] (/tmp)",
            "list `/tmp/x` is allowed by paths.read[0] (/tmp)",
            "/tmp/x",
            "cannot list `/tmp/x`: No such file or directory",
            Some("/tmp/x"),
        );
        assert_eq!(
            call_reason(&failed),
            "list `/tmp/x` is allowed by paths.read[0] (/tmp); failed: cannot list `/tmp/x`: No such file or directory"
        );
    }

    #[test]
    fn the_turn_reason_lists_what_happened() {
        let summary = TurnSummary {
            action: "chat",
            actor: "alice",
            end_user: None,
            conversation_id: Some("c1"),
            model_requested: "auto",
            model_used: "qwen2.5-coder:1.5b",
            iterations: 3,
            calls: CallCounts {
                allowed: 1,
                refused: 1,
                errored: 1,
                invalid: 0,
            },
            usage: Some(TokenUsage {
                input: 900,
                output: 40,
            }),
            duration: Duration::from_millis(1500),
            hit_iteration_limit: false,
            error: None,
        };
        assert_eq!(
            summary.reason(),
            "model_used=qwen2.5-coder:1.5b model_requested=auto iterations=3 tools_allowed=1 \
             tools_refused=1 tools_errored=1 tools_invalid=0 tokens_in=900 tokens_out=40 duration_ms=1500"
        );
        assert_eq!(summary.outcome_label(), "ok");
    }
}
