//! The replay of a stored conversation into the next turn: user and
//! assistant text, and the assistant's tool calls with their results, so that
//! a follow-up question about an earlier tool's output is answered from that
//! output. Within a token budget: the oldest messages go first, a call is
//! never separated from its results, and the caller tells the model that
//! older context was left out.

use std::collections::VecDeque;

use crate::llm::{ChatMessage, Role, ToolCall, ToolDef};
use crate::store::conversations::StoredMessage;

/// A replayed tool result longer than this (in characters) is cut, with a marker.
pub const MAX_REPLAYED_RESULT_CHARS: usize = 8_000;

/// What was replayed, and how many stored messages were left out for the budget.
#[derive(Debug, Default, PartialEq)]
pub struct Replay {
    pub messages: Vec<ChatMessage>,
    pub dropped: usize,
}

/// A rough token count: about four characters a token, plus a few for the
/// message's framing. Exact counts depend on the model's tokenizer, which
/// the server does not have; this errs on the high side for English and code.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

/// The estimated cost of one message.
pub fn message_tokens(m: &ChatMessage) -> usize {
    let calls: usize = m
        .tool_calls
        .iter()
        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments.to_string()) + 4)
        .sum();
    4 + estimate_tokens(&m.content) + calls
}

/// The estimated cost of offering `tools` (their names, descriptions and schemas).
pub fn tools_tokens(tools: &[ToolDef]) -> usize {
    tools
        .iter()
        .map(|t| {
            12 + estimate_tokens(&t.name)
                + estimate_tokens(&t.description)
                + estimate_tokens(&t.parameters.to_string())
        })
        .sum()
}

/// The note added to the system prompt when messages were left out.
pub fn trimmed_note(dropped: usize) -> String {
    format!(
        "\nThe {dropped} oldest messages of this conversation (including earlier tool calls and \
         their results) are left out to fit the context window. If the user refers to them, say \
         that you no longer see them, or run the tool again."
    )
}

/// A tool result as replayed: cut when very long.
fn bounded(content: &str) -> String {
    match content.char_indices().nth(MAX_REPLAYED_RESULT_CHARS) {
        Some((at, _)) => format!(
            "{}…[cut in the replay of an earlier turn: {} characters in all]",
            &content[..at],
            content.chars().count()
        ),
        None => content.to_string(),
    }
}

/// The open group of an assistant message with calls: the message, its
/// calls still waiting for a result, and the results so far.
type Open = Option<(ChatMessage, VecDeque<ToolCall>, Vec<ChatMessage>)>;

/// Ends the open group: the calls that got a result, with their results.
fn close(open: &mut Open, units: &mut Vec<Vec<ChatMessage>>) {
    let Some((mut assistant, _, results)) = open.take() else {
        return;
    };
    assistant
        .tool_calls
        .retain(|c| results.iter().any(|r| r.tool_call_id == c.id));
    if assistant.tool_calls.is_empty() {
        if !assistant.content.is_empty() {
            units.push(vec![assistant]);
        }
    } else {
        let mut unit = vec![assistant];
        unit.extend(results);
        units.push(unit);
    }
}

/// The stored messages as replayable groups: a user message, a plain
/// assistant message, or an assistant message with its calls and their
/// results (calls without a stored result are dropped, since protocols
/// refuse a call that has no answer).
fn units(stored: &[StoredMessage]) -> Vec<Vec<ChatMessage>> {
    let mut units: Vec<Vec<ChatMessage>> = Vec::new();
    let mut open: Open = None;
    for (index, m) in stored.iter().enumerate() {
        match m.role.as_str() {
            "tool" => {
                if let Some((_, waiting, results)) = open.as_mut()
                    && let Some(call) = waiting.pop_front()
                {
                    results.push(ChatMessage::tool_result(&call, bounded(&m.content)));
                }
            }
            "assistant" => {
                close(&mut open, &mut units);
                let calls: Vec<ToolCall> = m
                    .tool_calls
                    .clone()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                if calls.is_empty() {
                    if !m.content.is_empty() {
                        units.push(vec![ChatMessage::new(Role::Assistant, m.content.clone())]);
                    }
                    continue;
                }
                // Calls need distinct ids to be paired with their results; stored
                // calls of Ollama have none.
                let calls: Vec<ToolCall> = calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut c)| {
                        if c.id.as_deref().is_none_or(str::is_empty) {
                            c.id = Some(format!("call_{index}_{i}"));
                        }
                        c
                    })
                    .collect();
                let mut assistant = ChatMessage::new(Role::Assistant, m.content.clone());
                assistant.tool_calls = calls.clone();
                open = Some((assistant, calls.into(), Vec::new()));
            }
            "user" => {
                close(&mut open, &mut units);
                if !m.content.is_empty() {
                    units.push(vec![ChatMessage::new(Role::User, m.content.clone())]);
                }
            }
            _ => {}
        }
    }
    close(&mut open, &mut units);
    units
}

/// The newest part of `stored` that fits `budget` tokens, oldest first.
pub fn replay(stored: &[StoredMessage], budget: usize) -> Replay {
    let units = units(stored);
    let mut kept = 0usize;
    let mut spent = 0usize;
    for unit in units.iter().rev() {
        let cost: usize = unit.iter().map(message_tokens).sum();
        if spent + cost > budget {
            break;
        }
        spent += cost;
        kept += 1;
    }
    let first = units.len() - kept;
    let dropped = units[..first].iter().map(Vec::len).sum();
    Replay {
        messages: units.into_iter().skip(first).flatten().collect(),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn row(role: &str, content: &str, calls: Option<Value>) -> StoredMessage {
        StoredMessage {
            id: 0,
            role: role.into(),
            content: content.into(),
            model_used: None,
            tool_calls: calls,
            created_at: 0,
        }
    }

    fn listing_turn(n: usize) -> Vec<StoredMessage> {
        vec![
            row("user", &format!("list /data ({n})"), None),
            row(
                "assistant",
                "",
                Some(
                    json!([{"id": null, "name": "list_directory", "arguments": {"path": "/data"}}]),
                ),
            ),
            row(
                "tool",
                &format!("{{\"entries\":[\"report-{n}.txt\"]}}"),
                Some(json!({"tool": "list_directory", "allowed": true})),
            ),
            row("assistant", &format!("There is report-{n}.txt."), None),
        ]
    }

    #[test]
    fn tool_calls_and_results_are_replayed_paired() {
        let replay = replay(&listing_turn(1), 10_000);
        assert_eq!(replay.dropped, 0);
        let roles: Vec<Role> = replay.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
        );
        let call = &replay.messages[1].tool_calls[0];
        assert_eq!(call.name, "list_directory");
        assert_eq!(call.arguments["path"], "/data");
        let result = &replay.messages[2];
        assert!(result.content.contains("report-1.txt"));
        assert_eq!(result.tool_call_id, call.id);
        assert!(call.id.is_some());
        assert_eq!(result.tool_name.as_deref(), Some("list_directory"));
    }

    #[test]
    fn the_oldest_go_first_and_calls_stay_with_their_results() {
        let stored: Vec<StoredMessage> = (0..10).flat_map(listing_turn).collect();
        let all = replay(&stored, usize::MAX);
        assert_eq!(all.messages.len(), 40);
        let per_turn: usize = all.messages[..4].iter().map(message_tokens).sum();
        // Room for three turns: the fourth newest does not fit.
        let part = replay(&stored, per_turn * 3);
        assert_eq!(part.messages.len(), 12, "{:?}", part.messages);
        assert_eq!(part.dropped, 28);
        assert_eq!(part.messages[0].role, Role::User);
        assert!(part.messages[0].content.contains("(7)"));
        // A budget that splits a call group keeps neither half of it.
        let group: usize = all.messages[1..3].iter().map(message_tokens).sum();
        let last: usize = message_tokens(&all.messages[39]);
        let cut = replay(&stored, last + group - 1);
        assert_eq!(cut.messages.len(), 1);
        assert_eq!(cut.messages[0].role, Role::Assistant);
        assert!(cut.messages[0].tool_calls.is_empty());
        assert_eq!(replay(&stored, 0).messages.len(), 0);
    }

    #[test]
    fn calls_without_results_and_orphan_results_are_not_replayed() {
        let stored = vec![
            row("user", "go", None),
            row(
                "assistant",
                "",
                Some(json!([
                    {"id": "a", "name": "read_file", "arguments": {"path": "/a"}},
                    {"id": "b", "name": "read_file", "arguments": {"path": "/b"}}
                ])),
            ),
            row("tool", "A", Some(json!({"tool": "read_file"}))),
            // The client left before the second call ran.
            row("user", "again", None),
            row("tool", "orphan", None),
        ];
        let replay = replay(&stored, usize::MAX);
        let shown: Vec<(Role, &str, usize)> = replay
            .messages
            .iter()
            .map(|m| (m.role, m.content.as_str(), m.tool_calls.len()))
            .collect();
        assert_eq!(
            shown,
            [
                (Role::User, "go", 0),
                (Role::Assistant, "", 1),
                (Role::Tool, "A", 0),
                (Role::User, "again", 0)
            ]
        );
        assert_eq!(replay.messages[2].tool_call_id.as_deref(), Some("a"));
    }

    #[test]
    fn long_results_are_cut_in_the_replay() {
        let mut stored = listing_turn(0);
        stored[2].content = "x".repeat(MAX_REPLAYED_RESULT_CHARS * 3);
        let replay = replay(&stored, usize::MAX);
        let content = &replay.messages[2].content;
        assert!(content.len() < MAX_REPLAYED_RESULT_CHARS + 100);
        assert!(content.ends_with("24000 characters in all]"), "{content}");
    }
}
