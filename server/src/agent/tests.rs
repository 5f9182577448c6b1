//! The loop against an in-process scripted model and fake tools.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::*;
use crate::llm::{
    ChatMessage, ChatRequest, Llm, LlmError, LlmReply, Role, TokenUsage, ToolCall, ToolDef,
};
use crate::tools::{ToolError, ToolOutcome};

/// Answers from a script and records every request's messages.
struct ScriptedLlm {
    script: Mutex<VecDeque<Result<LlmReply, LlmError>>>,
    seen: Mutex<Vec<Vec<ChatMessage>>>,
}

impl ScriptedLlm {
    fn new(script: Vec<Result<LlmReply, LlmError>>) -> Self {
        ScriptedLlm {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
        }
    }
    fn seen(&self) -> Vec<Vec<ChatMessage>> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Llm for ScriptedLlm {
    async fn chat(&self, request: ChatRequest<'_>) -> Result<LlmReply, LlmError> {
        self.seen
            .lock()
            .expect("lock")
            .push(request.messages.to_vec());
        self.script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| Ok(text("script exhausted")))
    }
}

fn text(content: &str) -> LlmReply {
    LlmReply::of(ChatMessage::new(Role::Assistant, content))
}

fn calls(list: &[(&str, Value)]) -> LlmReply {
    let mut m = ChatMessage::new(Role::Assistant, "");
    m.tool_calls = list
        .iter()
        .map(|(n, a)| ToolCall {
            id: None,
            name: n.to_string(),
            arguments: a.clone(),
        })
        .collect();
    LlmReply::of(m)
}

/// `echo` runs, `rm` is refused, anything else is unknown.
struct FakeTools;

impl ToolRunner for FakeTools {
    async fn run(&self, name: &str, arguments: &Value) -> Result<ToolOutcome, ToolError> {
        match name {
            "echo" => Ok(ToolOutcome::ran("r", "ok", "", json!({"echo": arguments}))),
            "rm" => Ok(ToolOutcome::refused(
                "commands.deny[0] (rm)",
                "rm is denied by policy",
                "rm -rf /",
            )),
            other => Err(ToolError::UnknownTool(other.to_string())),
        }
    }
}

/// Records events; can pretend the client left after `close_after` events.
#[derive(Default)]
struct Recorder {
    events: Vec<AgentEvent>,
    close_after: Option<usize>,
}

impl EventSink for Recorder {
    async fn emit(&mut self, event: AgentEvent) {
        self.events.push(event);
    }
    fn is_closed(&self) -> bool {
        self.close_after.is_some_and(|n| self.events.len() >= n)
    }
}

fn config(max: u32) -> AgentConfig {
    AgentConfig {
        model: "m".into(),
        max_iterations: max,
        system_prompt: "be careful".into(),
        tools: vec![ToolDef {
            name: "echo".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }],
        turn_timeout: None,
    }
}

fn user(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::new(Role::User, text)]
}

#[tokio::test]
async fn a_plain_answer_ends_after_one_iteration() {
    let llm = ScriptedLlm::new(vec![Ok(text("hello"))]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("hi")).await;
    assert_eq!(run.response, "hello");
    assert_eq!(run.iterations, 1);
    assert!(run.error.is_none());
    assert_eq!(run.messages.len(), 1);
    let seen = llm.seen();
    assert_eq!(seen[0][0].role, Role::System);
    assert_eq!(seen[0][1].content, "hi");
}

#[tokio::test]
async fn tool_results_and_refusals_are_fed_back_as_tool_messages() {
    let llm = ScriptedLlm::new(vec![
        Ok(calls(&[
            ("echo", json!({"x": 1})),
            ("rm", json!({"command": "rm -rf /"})),
        ])),
        Ok(text("done")),
    ]);
    let mut events = Recorder::default();
    let run = run(&llm, &FakeTools, &mut events, &config(5), user("go")).await;
    assert_eq!(run.response, "done");
    assert_eq!(run.iterations, 2);
    assert_eq!(run.tool_calls.len(), 2);
    assert!(run.tool_calls[0].allowed);
    assert_eq!(run.tool_calls[0].result, Some(json!({"echo": {"x": 1}})));
    assert!(!run.tool_calls[1].allowed);
    assert_eq!(
        run.tool_calls[1].reason.as_deref(),
        Some("rm is denied by policy")
    );
    // The second request carries both results; the refusal states its reason.
    let second = &llm.seen()[1];
    let tool_msgs: Vec<&ChatMessage> = second.iter().filter(|m| m.role == Role::Tool).collect();
    assert_eq!(tool_msgs.len(), 2);
    assert!(tool_msgs[1].content.contains("rm is denied by policy"));
    assert_eq!(tool_msgs[1].tool_name.as_deref(), Some("rm"));
    let kinds: Vec<&str> = events
        .events
        .iter()
        .map(|e| match e {
            AgentEvent::Thinking { .. } => "thinking",
            AgentEvent::Tool { .. } => "tool",
            AgentEvent::Result { .. } => "result",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["thinking", "tool", "result", "tool", "result", "thinking"]
    );
    // assistant(calls), tool, tool, assistant(final)
    assert_eq!(run.messages.len(), 4);
}

#[tokio::test]
async fn the_iteration_limit_stops_a_looping_model() {
    let script = (0..10).map(|_| Ok(calls(&[("echo", json!({}))]))).collect();
    let llm = ScriptedLlm::new(script);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(3), user("loop")).await;
    assert!(run.hit_iteration_limit);
    assert_eq!(run.iterations, 3);
    assert_eq!(llm.seen().len(), 3);
    assert_eq!(run.tool_calls.len(), 3);
    assert!(run.response.contains("Stopped after 3 iterations"));
    assert!(run.error.is_none());
}

#[tokio::test]
async fn a_malformed_call_is_told_back_once_then_fails() {
    let llm = ScriptedLlm::new(vec![
        Ok(calls(&[("bogus", json!({}))])),
        Ok(calls(&[("bogus", json!({}))])),
        Ok(text("never reached")),
    ]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert!(
        matches!(run.error, Some(AgentError::MalformedToolCall(_))),
        "{:?}",
        run.error
    );
    assert_eq!(llm.seen().len(), 2);
    assert!(
        llm.seen()[1]
            .last()
            .expect("tool message")
            .content
            .contains("unknown tool 'bogus'")
    );

    let llm = ScriptedLlm::new(vec![
        Ok(calls(&[("bogus", json!({}))])),
        Ok(text("sorry, fixed")),
    ]);
    let recovered = super::run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert!(recovered.error.is_none());
    assert_eq!(recovered.response, "sorry, fixed");
}

#[tokio::test]
async fn llm_errors_end_the_run_with_what_happened_so_far() {
    let llm = ScriptedLlm::new(vec![
        Ok(calls(&[("echo", json!({}))])),
        Err(LlmError::Timeout(5)),
    ]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!(run.error, Some(AgentError::Llm(LlmError::Timeout(5))));
    assert_eq!(run.tool_calls.len(), 1);
    assert_eq!(run.messages.len(), 2);
}

#[tokio::test]
async fn a_closed_sink_stops_before_the_next_step() {
    let llm = ScriptedLlm::new(vec![
        Ok(calls(&[("echo", json!({})), ("echo", json!({}))])),
        Ok(text("x")),
    ]);
    // thinking, tool, result → closed before the second call.
    let mut events = Recorder {
        close_after: Some(3),
        ..Recorder::default()
    };
    let run = run(&llm, &FakeTools, &mut events, &config(5), user("x")).await;
    assert_eq!(run.error, Some(AgentError::Cancelled));
    assert_eq!(run.tool_calls.len(), 1);
    assert_eq!(llm.seen().len(), 1);
}

#[test]
fn events_serialize_with_their_v3_type_names() {
    let e = AgentEvent::ConversationCreated {
        conversation_id: "c".into(),
    };
    assert_eq!(
        serde_json::to_value(&e).expect("json"),
        json!({"type": "conversation_created", "conversation_id": "c"})
    );
    let r = AgentEvent::Result {
        tool: "t".into(),
        allowed: false,
        outcome: None,
        result: None,
        error: None,
        reason: Some("no".into()),
        rule: Some("commands.default".into()),
        duration_ms: 3,
    };
    assert_eq!(
        serde_json::to_value(&r).expect("json"),
        json!({"type": "result", "tool": "t", "allowed": false, "reason": "no",
            "rule": "commands.default", "duration_ms": 3})
    );
}

#[test]
fn a_failed_call_reports_its_outcome_apart_from_the_decision() {
    let failed = AgentEvent::Result {
        tool: "list_directory".into(),
        allowed: true,
        outcome: Some(crate::tools::RunOutcome::Error),
        result: Some(json!({"error": "cannot list `/x`: No such file or directory", "path": "/x"})),
        error: Some("cannot list `/x`: No such file or directory".into()),
        reason: None,
        rule: Some("paths.read[0] (/)".into()),
        duration_ms: 1,
    };
    let value = serde_json::to_value(&failed).expect("json");
    assert_eq!(value["allowed"], true);
    assert_eq!(value["outcome"], "error");
    assert_eq!(
        value["error"],
        "cannot list `/x`: No such file or directory"
    );
}

/// Echo tool whose calls fail (allowed, then an error).
struct FailingTools;

impl ToolRunner for FailingTools {
    async fn run(&self, _name: &str, _arguments: &Value) -> Result<ToolOutcome, ToolError> {
        Ok(ToolOutcome::failed(
            "paths.read[0] (/tmp)",
            "allowed",
            "/tmp/gone",
            "cannot list `/tmp/gone`: No such file or directory",
            Some("/tmp/gone"),
        ))
    }
}

#[tokio::test]
async fn an_allowed_call_that_fails_is_recorded_as_an_error() {
    let llm = ScriptedLlm::new(vec![Ok(calls(&[("echo", json!({}))])), Ok(text("gone"))]);
    let run = run(&llm, &FailingTools, &mut NoEvents, &config(5), user("x")).await;
    let record = &run.tool_calls[0];
    assert!(record.allowed);
    assert_eq!(record.outcome, Some(crate::tools::RunOutcome::Error));
    assert_eq!(
        record.error.as_deref(),
        Some("cannot list `/tmp/gone`: No such file or directory")
    );
    assert_eq!(
        CallCounts::of(&run.tool_calls),
        CallCounts {
            errored: 1,
            ..CallCounts::default()
        }
    );
    // The model is told the error and the path.
    let told = &llm.seen()[1];
    let result = told.last().expect("tool message");
    assert!(result.content.contains("/tmp/gone") && result.content.contains("No such file"));
}

#[tokio::test]
async fn a_call_written_as_text_runs_as_a_call() {
    let fenced = "```json\n{\"name\": \"echo\", \"arguments\": {}}\n```";
    let llm = ScriptedLlm::new(vec![Ok(text(fenced)), Ok(text("echoed"))]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!(run.response, "echoed");
    assert_eq!(run.tool_calls.len(), 1);
    assert_eq!(run.tool_calls[0].tool, "echo");
    // The model's next request shows the call as a call, answered by a tool message.
    let second = &llm.seen()[1];
    let assistant = &second[second.len() - 2];
    assert_eq!(assistant.content, "");
    assert_eq!(assistant.tool_calls[0].id.as_deref(), Some("call_text_1"));
    let answer = &second[second.len() - 1];
    assert_eq!(answer.role, Role::Tool);
    assert_eq!(answer.tool_call_id.as_deref(), Some("call_text_1"));
}

#[tokio::test]
async fn text_that_only_contains_a_call_stays_the_answer() {
    let prose = "To list it I would call {\"name\": \"echo\", \"arguments\": {}}.";
    let llm = ScriptedLlm::new(vec![Ok(text(prose))]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!(run.response, prose);
    assert!(run.tool_calls.is_empty());
    // A call to a tool that is not offered stays text too.
    let other = "{\"name\": \"rm\", \"arguments\": {}}";
    let llm = ScriptedLlm::new(vec![Ok(text(other))]);
    let run = super::run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!(run.response, other);
}

#[tokio::test]
async fn the_answering_model_and_the_token_counts_are_kept() {
    let mut first = calls(&[("echo", json!({}))]);
    first.model = Some("m:7b-q4".into());
    first.usage = Some(TokenUsage {
        input: 100,
        output: 10,
    });
    let mut second = text("done");
    second.model = Some("m:7b-q4".into());
    second.usage = Some(TokenUsage {
        input: 150,
        output: 5,
    });
    let llm = ScriptedLlm::new(vec![Ok(first), Ok(second)]);
    let run = run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!(run.model_used.as_deref(), Some("m:7b-q4"));
    assert_eq!(
        run.usage,
        Some(TokenUsage {
            input: 250,
            output: 15
        })
    );
    let llm = ScriptedLlm::new(vec![Ok(text("plain"))]);
    let run = super::run(&llm, &FakeTools, &mut NoEvents, &config(5), user("x")).await;
    assert_eq!((run.model_used, run.usage), (None, None));
}

/// A model that never answers.
struct SilentLlm;

impl Llm for SilentLlm {
    async fn chat(&self, _request: ChatRequest<'_>) -> Result<LlmReply, LlmError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn the_turn_deadline_ends_a_turn_whose_model_hangs() {
    let mut config = config(5);
    config.turn_timeout = Some(std::time::Duration::from_millis(20));
    let run = run(&SilentLlm, &FakeTools, &mut NoEvents, &config, user("x")).await;
    assert_eq!(run.error, Some(AgentError::TurnTimeout(1)));
    assert_eq!(run.iterations, 1);
    let message = AgentError::TurnTimeout(300).to_string();
    assert!(message.contains("AI_TURN_TIMEOUT"), "{message}");
}
