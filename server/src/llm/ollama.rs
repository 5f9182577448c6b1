//! Ollama's native chat protocol: `tools` in the request,
//! `message.tool_calls[].function.{name, arguments}` (an object) in the answer,
//! results sent back as `role: "tool"` messages naming the tool.

use serde_json::{Value, json};

use super::{ChatMessage, ChatRequest, LlmError, ModelInfo, ToolCall};

pub fn request_body(request: &ChatRequest<'_>) -> Value {
    super::chat_body(request, message_json)
}

fn message_json(m: &ChatMessage) -> Value {
    let mut out = super::message_fields(
        m,
        |c| json!({"function": {"name": c.name, "arguments": c.arguments}}),
    );
    if let Some(name) = &m.tool_name {
        out.insert("tool_name".into(), json!(name));
    }
    Value::Object(out)
}

pub fn parse_reply(answer: &Value) -> Result<ChatMessage, LlmError> {
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(LlmError::BadResponse(error.to_string()));
    }
    let message = answer
        .get("message")
        .ok_or_else(|| LlmError::BadResponse("the answer has no `message`".into()))?;
    Ok(super::assistant_reply(message, |_, call, function| {
        ToolCall {
            id: call.get("id").and_then(Value::as_str).map(str::to_string),
            name: super::function_name(function),
            arguments: function.get("arguments").cloned().unwrap_or(Value::Null),
        }
    }))
}

pub fn parse_tags(body: &Value) -> Result<Vec<ModelInfo>, LlmError> {
    let models = body
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::BadResponse("`/api/tags` has no `models` list".into()))?;
    Ok(models
        .iter()
        .filter_map(|m| {
            let name = m
                .get("name")
                .or_else(|| m.get("model"))
                .and_then(Value::as_str)?;
            Some(ModelInfo {
                name: name.to_string(),
                size: m.get("size").and_then(Value::as_u64),
                modified_at: m
                    .get("modified_at")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Role, ToolDef};

    #[test]
    fn request_carries_tools_and_tool_results() {
        let call = ToolCall {
            id: None,
            name: "read_file".into(),
            arguments: json!({"path": "/data/a"}),
        };
        let mut assistant = ChatMessage::new(Role::Assistant, "");
        assistant.tool_calls.push(call.clone());
        let messages = [
            ChatMessage::new(Role::User, "read it"),
            assistant,
            ChatMessage::tool_result(&call, "{}"),
        ];
        let tools = [ToolDef {
            name: "read_file".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        let body = request_body(&ChatRequest {
            model: "m",
            messages: &messages,
            tools: &tools,
        });
        assert_eq!(body["stream"], false);
        assert_eq!(body["tools"][0]["function"]["name"], "read_file");
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"]["path"],
            "/data/a"
        );
        assert_eq!(body["messages"][2]["role"], "tool");
        assert_eq!(body["messages"][2]["tool_name"], "read_file");
    }

    #[test]
    fn reply_with_tool_calls_and_errors() {
        let reply = parse_reply(&json!({"message": {"role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "list_directory", "arguments": {"path": "/data"}}}]}, "done": true}))
        .expect("parsed");
        assert_eq!(reply.tool_calls[0].name, "list_directory");
        assert_eq!(reply.tool_calls[0].arguments["path"], "/data");
        assert!(parse_reply(&json!({"error": "model not found"})).is_err());
        assert!(parse_reply(&json!({"done": true})).is_err());
    }
}
