//! The OpenAI-compatible chat protocol: tool calls carry an `id` and their
//! arguments as a JSON *string*; a tool result names the `tool_call_id`.

use serde_json::{Value, json};

use super::{ChatMessage, ChatRequest, LlmError, ModelInfo, Role, ToolCall};

pub fn request_body(request: &ChatRequest<'_>) -> Value {
    super::chat_body(request, message_json)
}

fn message_json(m: &ChatMessage) -> Value {
    let mut out = super::message_fields(m, |c| {
        let arguments = match &c.arguments {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments}})
    });
    if m.role == Role::Tool {
        out.insert(
            "tool_call_id".into(),
            json!(m.tool_call_id.clone().unwrap_or_default()),
        );
    }
    Value::Object(out)
}

pub fn parse_reply(answer: &Value) -> Result<ChatMessage, LlmError> {
    if let Some(error) = answer.get("error") {
        let text = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(error.to_string());
        return Err(LlmError::BadResponse(text));
    }
    let message = answer
        .pointer("/choices/0/message")
        .ok_or_else(|| LlmError::BadResponse("the answer has no `choices[0].message`".into()))?;
    Ok(super::assistant_reply(message, |index, call, function| {
        // Arguments arrive as a JSON string; keep the text when it does not parse
        // so that the loop can tell the model its call was malformed.
        let arguments = match function.get("arguments") {
            Some(Value::String(text)) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            Some(other) => other.clone(),
            None => Value::Null,
        };
        ToolCall {
            id: Some(
                call.get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or(format!("call_{index}")),
            ),
            name: super::function_name(function),
            arguments,
        }
    }))
}

pub fn parse_models(body: &Value) -> Result<Vec<ModelInfo>, LlmError> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::BadResponse("`/v1/models` has no `data` list".into()))?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .map(|id| ModelInfo {
            name: id.to_string(),
            size: None,
            modified_at: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_travel_as_strings_and_results_name_the_call() {
        let call = ToolCall {
            id: Some("c1".into()),
            name: "read_file".into(),
            arguments: json!({"path": "/a"}),
        };
        let mut assistant = ChatMessage::new(Role::Assistant, "");
        assistant.tool_calls.push(call.clone());
        let messages = [assistant, ChatMessage::tool_result(&call, "ok")];
        let body = request_body(&ChatRequest {
            model: "m",
            messages: &messages,
            tools: &[],
        });
        assert!(body.get("tools").is_none());
        assert_eq!(
            body["messages"][0]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"/a\"}"
        );
        assert_eq!(body["messages"][1]["tool_call_id"], "c1");
    }

    #[test]
    fn reply_arguments_are_decoded_or_kept_as_text() {
        let reply = parse_reply(&json!({"choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "list_directory", "arguments": "{\"path\":\"/d\"}"}},
                {"id": "b", "type": "function", "function": {"name": "read_file", "arguments": "{broken"}}
            ]}, "finish_reason": "tool_calls"}]}))
        .expect("parsed");
        assert_eq!(reply.content, "");
        assert_eq!(reply.tool_calls[0].arguments["path"], "/d");
        assert_eq!(
            reply.tool_calls[1].arguments,
            Value::String("{broken".into())
        );
        assert_eq!(reply.tool_calls[1].id.as_deref(), Some("b"));
        assert!(parse_reply(&json!({"error": {"message": "no such model"}})).is_err());
    }
}
