//! Ollama's native chat protocol: `tools` in the request,
//! `message.tool_calls[].function.{name, arguments}` (an object) in the answer,
//! results sent back as `role: "tool"` messages naming the tool.

use serde_json::{Value, json};

use super::{ChatMessage, ChatRequest, GenerationParams, LlmError, LlmReply, ModelInfo, ToolCall};

/// The request, with the generation parameters in `options`
/// (`temperature`, `num_predict`, `num_ctx`).
pub fn request_body(request: &ChatRequest<'_>, params: &GenerationParams) -> Value {
    let mut body = super::chat_body(request, message_json);
    let mut options = serde_json::Map::new();
    options.insert("temperature".into(), json!(params.temperature));
    if let Some(n) = params.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(n) = params.context_length {
        options.insert("num_ctx".into(), json!(n));
    }
    body["options"] = Value::Object(options);
    body
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

/// The answer: its message, `model`, and `prompt_eval_count` / `eval_count` as the token counts.
pub fn parse_reply(answer: &Value) -> Result<LlmReply, LlmError> {
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(LlmError::BadResponse(error.to_string()));
    }
    let message = answer
        .get("message")
        .ok_or_else(|| LlmError::BadResponse("the answer has no `message`".into()))?;
    let message = super::assistant_reply(message, |_, call, function| ToolCall {
        id: call.get("id").and_then(Value::as_str).map(str::to_string),
        name: super::function_name(function),
        arguments: function.get("arguments").cloned().unwrap_or(Value::Null),
    });
    Ok(LlmReply {
        message,
        model: super::answer_model(answer),
        usage: super::usage_of(answer.get("prompt_eval_count"), answer.get("eval_count")),
    })
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
        let params = GenerationParams {
            temperature: 0.1,
            max_tokens: Some(512),
            context_length: None,
        };
        let body = request_body(
            &ChatRequest {
                model: "m",
                messages: &messages,
                tools: &tools,
            },
            &params,
        );
        assert_eq!(body["stream"], false);
        assert_eq!(body["options"]["temperature"], 0.1);
        assert_eq!(body["options"]["num_predict"], 512);
        assert!(body["options"].get("num_ctx").is_none(), "{body}");
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
        let reply = parse_reply(&json!({"model": "llama3.1:8b-instruct-q4_K_M",
            "message": {"role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "list_directory", "arguments": {"path": "/data"}}}]},
            "done": true, "prompt_eval_count": 120, "eval_count": 17}))
        .expect("parsed");
        assert_eq!(reply.model.as_deref(), Some("llama3.1:8b-instruct-q4_K_M"));
        assert_eq!(
            reply.usage,
            Some(crate::llm::TokenUsage {
                input: 120,
                output: 17
            })
        );
        let reply = reply.message;
        assert_eq!(reply.tool_calls[0].name, "list_directory");
        assert_eq!(reply.tool_calls[0].arguments["path"], "/data");
        let bare = parse_reply(&json!({"message": {"role": "assistant", "content": "hi"}}))
            .expect("parsed");
        assert_eq!((bare.model, bare.usage), (None, None));
        assert!(parse_reply(&json!({"error": "model not found"})).is_err());
        assert!(parse_reply(&json!({"done": true})).is_err());
    }
}
