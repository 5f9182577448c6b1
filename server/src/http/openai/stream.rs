//! The streamed answer: server-sent events `data: {chunk}` … `data: [DONE]`.
//!
//! The order is OpenAI's: a first chunk with the assistant role (sent before
//! the model is asked, so clients see the first byte at once), then content
//! deltas, a last chunk with `finish_reason` (and `usage` when asked for), and
//! `[DONE]`. Tool calls the server runs arrive in between as chunks with an
//! empty delta and the extension field `x_tool_call`, which plain clients
//! ignore. A failure after the stream started is one `data: {"error": …}`
//! event (the OpenAI clients raise it as an API error), then `[DONE]`.

use axum::response::sse::Event;
use tokio::sync::mpsc;

use crate::agent::{AgentEvent, EventSink};

use super::error::OpenAiError;
use super::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, Usage, WireToolCall, XToolCall,
};

/// Writes the chunks of one completion (they share id, time and model).
#[derive(Clone, Debug)]
pub struct ChunkWriter {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub include_usage: bool,
}

impl ChunkWriter {
    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: None,
            x_tool_call: None,
            x_conversation_id: None,
        }
    }

    /// The first chunk: the role, empty content, and the conversation when one is stored.
    pub fn start(&self, conversation_id: Option<String>) -> ChatCompletionChunk {
        let mut chunk = self.chunk(
            Delta {
                role: Some("assistant"),
                content: Some(String::new()),
                tool_calls: Vec::new(),
            },
            None,
        );
        chunk.x_conversation_id = conversation_id;
        chunk
    }

    /// A tool call the server ran (extension event).
    pub fn tool_call(&self, call: XToolCall) -> ChatCompletionChunk {
        let mut chunk = self.chunk(Delta::default(), None);
        chunk.x_tool_call = Some(call);
        chunk
    }

    pub fn content(&self, text: String) -> ChatCompletionChunk {
        self.chunk(
            Delta {
                content: Some(text),
                ..Delta::default()
            },
            None,
        )
    }

    /// Passthrough mode: the model's calls, each with its position as `index`.
    pub fn tool_calls(&self, calls: Vec<WireToolCall>) -> ChatCompletionChunk {
        let calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, mut call)| {
                call.index = Some(u32::try_from(i).unwrap_or(u32::MAX));
                call
            })
            .collect();
        self.chunk(
            Delta {
                tool_calls: calls,
                ..Delta::default()
            },
            None,
        )
    }

    /// The last chunk(s): the finish reason, then usage on a chunk of its own
    /// with no choices when the client asked for it (as OpenAI does).
    pub fn finish(&self, reason: FinishReason, usage: Usage) -> Vec<ChatCompletionChunk> {
        let mut out = vec![self.chunk(Delta::default(), Some(reason))];
        if self.include_usage {
            let mut last = self.chunk(Delta::default(), None);
            last.choices.clear();
            last.usage = Some(usage);
            out.push(last);
        }
        out
    }
}

/// One `data: {chunk}` event.
pub fn chunk_event(chunk: &ChatCompletionChunk) -> Event {
    let data = serde_json::to_string(chunk)
        .unwrap_or_else(|_| "{\"error\":{\"message\":\"unencodable chunk\"}}".into());
    Event::default().data(data)
}

/// The `data: {"error": …}` event of a stream that failed after it started.
pub fn error_event(error: &OpenAiError) -> Event {
    Event::default().data(error.body().to_string())
}

/// The end of every stream.
pub fn done_event() -> Event {
    Event::default().data("[DONE]")
}

/// Receives the agent loop's events and sends the ones a client sees: each
/// finished tool call. Closed once the client has gone (the loop then stops).
pub struct ChunkSink {
    writer: ChunkWriter,
    events: mpsc::Sender<Event>,
    /// The arguments of the call in progress (its result event does not repeat them).
    arguments: serde_json::Value,
}

impl ChunkSink {
    pub fn new(writer: ChunkWriter, events: mpsc::Sender<Event>) -> Self {
        ChunkSink {
            writer,
            events,
            arguments: serde_json::Value::Null,
        }
    }

    pub async fn send(&self, chunk: &ChatCompletionChunk) {
        // A send fails only when the client has gone; `is_closed` reports it.
        let _ = self.events.send(chunk_event(chunk)).await;
    }
}

impl EventSink for ChunkSink {
    async fn emit(&mut self, event: AgentEvent) {
        if let AgentEvent::Tool { arguments, .. } = event {
            self.arguments = arguments;
        } else if let AgentEvent::Result {
            tool,
            allowed,
            outcome,
            rule,
            result,
            error,
            reason,
            duration_ms,
        } = event
        {
            let call = XToolCall {
                tool,
                arguments: std::mem::take(&mut self.arguments),
                allowed,
                outcome,
                rule,
                result,
                error,
                reason,
                duration_ms,
            };
            let chunk = self.writer.tool_call(call);
            self.send(&chunk).await;
        }
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn writer(include_usage: bool) -> ChunkWriter {
        ChunkWriter {
            id: "chatcmpl-x".into(),
            created: 5,
            model: "m".into(),
            include_usage,
        }
    }

    fn json_of(chunk: &ChatCompletionChunk) -> Value {
        serde_json::to_value(chunk).unwrap()
    }

    #[test]
    fn chunks_have_openai_shapes() {
        let w = writer(true);
        assert_eq!(
            json_of(&w.start(None)),
            json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 5, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": null, "logprobs": null}]})
        );
        let tool = json_of(&w.tool_call(XToolCall {
            tool: "read_file".into(),
            arguments: json!({"path": "/etc/shadow"}),
            allowed: false,
            outcome: None,
            rule: Some("paths.deny[0]".into()),
            result: None,
            error: None,
            reason: Some("denied".into()),
            duration_ms: 4,
        }));
        assert_eq!(tool["choices"][0]["delta"], json!({}));
        assert_eq!(tool["x_tool_call"]["rule"], "paths.deny[0]");
        let finish = w.finish(
            FinishReason::Stop,
            Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
                total_tokens: 3,
            },
        );
        assert_eq!(finish.len(), 2);
        assert_eq!(json_of(&finish[0])["choices"][0]["finish_reason"], "stop");
        assert!(json_of(&finish[0]).get("usage").is_none());
        assert_eq!(json_of(&finish[1])["choices"], json!([]));
        assert_eq!(json_of(&finish[1])["usage"]["total_tokens"], 3);
        assert_eq!(
            writer(false)
                .finish(FinishReason::Length, Usage::default())
                .len(),
            1
        );
    }

    #[test]
    fn passthrough_calls_carry_their_index() {
        let call = |name: &str| WireToolCall {
            index: None,
            id: format!("id-{name}"),
            kind: "function".into(),
            function: super::super::wire::WireFunction {
                name: name.into(),
                arguments: "{}".into(),
            },
        };
        let chunk = json_of(&writer(false).tool_calls(vec![call("a"), call("b")]));
        let calls = &chunk["choices"][0]["delta"]["tool_calls"];
        assert_eq!(calls[0]["index"], 0);
        assert_eq!(calls[1]["index"], 1);
        assert_eq!(calls[1]["id"], "id-b");
    }

    #[tokio::test]
    async fn the_sink_forwards_tool_results_and_notices_a_gone_client() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut sink = ChunkSink::new(writer(false), tx);
        sink.emit(AgentEvent::Thinking { iteration: 1 }).await;
        sink.emit(AgentEvent::Tool {
            tool: "read_file".into(),
            arguments: json!({"path": "/data/a"}),
        })
        .await;
        sink.emit(AgentEvent::Result {
            tool: "read_file".into(),
            allowed: true,
            outcome: Some(crate::tools::RunOutcome::Ok),
            rule: Some("paths.read[0]".into()),
            result: Some(json!({"content": "x"})),
            error: None,
            reason: None,
            duration_ms: 1,
        })
        .await;
        assert!(rx.try_recv().is_ok(), "the tool result is sent");
        assert!(
            rx.try_recv().is_err(),
            "thinking and the call itself are not"
        );
        assert!(!sink.is_closed());
        drop(rx);
        assert!(sink.is_closed());
    }
}
