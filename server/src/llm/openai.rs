//! The OpenAI-compatible chat protocol: tool calls carry an `id` and their
//! arguments as a JSON *string*; a tool result names the `tool_call_id`.

use serde_json::{Value, json};

use super::{
    ChatMessage, ChatRequest, GenerationParams, LlmError, LlmReply, ModelInfo, Role, ToolCall,
};

/// The request, with `temperature` and `max_tokens` (the context length is
/// fixed when such a server loads the model, so it is not sent).
pub fn request_body(request: &ChatRequest<'_>, params: &GenerationParams) -> Value {
    let mut body = super::chat_body(request, message_json);
    body["temperature"] = json!(params.temperature);
    if let Some(n) = params.max_tokens {
        body["max_tokens"] = json!(n);
    }
    body
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

/// The answer: `choices[0].message`, `model`, and `usage.{prompt,completion}_tokens`.
pub fn parse_reply(answer: &Value) -> Result<LlmReply, LlmError> {
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
    let message = super::assistant_reply(message, |index, call, function| {
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
    });
    let usage = answer.get("usage");
    Ok(LlmReply {
        message,
        model: super::answer_model(answer),
        usage: usage
            .and_then(|u| super::usage_of(u.get("prompt_tokens"), u.get("completion_tokens"))),
    })
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
        let body = request_body(
            &ChatRequest {
                model: "m",
                messages: &messages,
                tools: &[],
            },
            &GenerationParams::default(),
        );
        assert!(body.get("tools").is_none());
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["max_tokens"], 2048);
        assert!(body.get("options").is_none() && body.get("num_ctx").is_none());
        assert_eq!(
            body["messages"][0]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"/a\"}"
        );
        assert_eq!(body["messages"][1]["tool_call_id"], "c1");
    }

    #[test]
    fn reply_arguments_are_decoded_or_kept_as_text() {
        let reply = parse_reply(&json!({"model": "qwen2.5-coder-1.5b-instruct-q8_0.gguf",
            "choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "list_directory", "arguments": "{\"path\":\"/d\"}"}},
                {"id": "b", "type": "function", "function": {"name": "read_file", "arguments": "{broken"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}}))
        .expect("parsed");
        assert_eq!(
            reply.model.as_deref(),
            Some("qwen2.5-coder-1.5b-instruct-q8_0.gguf")
        );
        assert_eq!(reply.usage.map(|u| (u.input, u.output)), Some((300, 20)));
        let reply = reply.message;
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
