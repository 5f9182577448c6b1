//! Tool calls written as text. Small local models (and many GGUF builds
//! behind OpenAI-compatible servers) often answer with the call as JSON in
//! the message content instead of in `tool_calls`: bare, in a ```` ```json ````
//! fence, or in `<tool_call>` tags. A content that is *exactly one* such call
//! to an offered tool, with arguments that fit its schema, is taken as that
//! call; anything else (prose around the JSON, two calls, an unknown tool,
//! arguments that do not fit) stays text.

use serde_json::{Map, Value};

use crate::llm::{ToolCall, ToolDef};

/// The one call `content` consists of, if it is one (the id is left for the caller).
pub fn parse(content: &str, tools: &[ToolDef]) -> Option<ToolCall> {
    let text = content.trim();
    // Cheap exit for ordinary prose, before any JSON parsing.
    if !(text.starts_with('{')
        || text.starts_with('[')
        || text.starts_with("```")
        || text.starts_with("<tool_call>"))
    {
        return None;
    }
    let inner = unwrap(text)?;
    let value: Value = serde_json::from_str(inner).ok()?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(Value::Object(object)) => object,
            _ => return None,
        },
        _ => return None,
    };
    let (name, arguments) = name_and_arguments(&object)?;
    let tool = tools.iter().find(|t| t.name == name)?;
    let arguments = match arguments {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::String(raw)) => serde_json::from_str(raw).ok()?,
        Some(other) => other.clone(),
    };
    fits(&arguments, &tool.parameters).then(|| ToolCall {
        id: None,
        name: name.to_string(),
        arguments,
    })
}

/// The JSON text inside a fence or `<tool_call>` tags, or the text itself.
fn unwrap(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix("```") {
        let body = rest.strip_suffix("```")?;
        // The fence's info string: nothing, or a single word such as `json`.
        let (info, json) = body.split_once('\n')?;
        let info = info.trim();
        if !info.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        return Some(json.trim());
    }
    if let Some(rest) = text.strip_prefix("<tool_call>") {
        return rest.strip_suffix("</tool_call>").map(str::trim);
    }
    Some(text)
}

/// The shapes models use: `{"name", "arguments" | "parameters"}` (also
/// `"tool"` for the name), or `{"type": "function", "function": {"name", "arguments"}}`.
/// Any other key means it is not a call.
fn name_and_arguments(object: &Map<String, Value>) -> Option<(&str, Option<&Value>)> {
    if let Some(Value::Object(function)) = object.get("function") {
        if object
            .keys()
            .any(|k| !matches!(k.as_str(), "function" | "type" | "id"))
        {
            return None;
        }
        return name_and_arguments(function);
    }
    if object.keys().any(|k| {
        !matches!(
            k.as_str(),
            "name" | "tool" | "arguments" | "parameters" | "type" | "id"
        )
    }) {
        return None;
    }
    let name = object
        .get("name")
        .or_else(|| object.get("tool"))?
        .as_str()?;
    let arguments = match (object.get("arguments"), object.get("parameters")) {
        (Some(_), Some(_)) => return None,
        (a, p) => a.or(p),
    };
    Some((name, arguments))
}

/// Whether `arguments` fits the tool's JSON schema as the registry writes
/// them: an object, every required property present, no undeclared one, and
/// each of the declared type.
fn fits(arguments: &Value, schema: &Value) -> bool {
    let Some(arguments) = arguments.as_object() else {
        return false;
    };
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if required
        .iter()
        .filter_map(Value::as_str)
        .any(|name| !arguments.contains_key(name))
    {
        return false;
    }
    arguments.iter().all(|(key, value)| {
        let Some(declared) = properties.get(key) else {
            return false;
        };
        match declared.get("type").and_then(Value::as_str) {
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tools() -> Vec<ToolDef> {
        crate::tools::registry()
            .iter()
            .map(|t| ToolDef {
                name: t.name.into(),
                description: t.description.into(),
                parameters: t.parameters(),
            })
            .collect()
    }

    fn call(text: &str) -> Option<(String, Value)> {
        parse(text, &tools()).map(|c| (c.name, c.arguments))
    }

    #[test]
    fn a_bare_call_is_recognised() {
        assert_eq!(
            call(r#"{"name": "execute_command", "arguments": {"command": "uptime"}}"#),
            Some(("execute_command".into(), json!({"command": "uptime"})))
        );
        assert_eq!(
            call(" [{\"name\": \"read_file\", \"parameters\": {\"path\": \"/data/a\"}}]\n"),
            Some(("read_file".into(), json!({"path": "/data/a"})))
        );
        assert_eq!(
            call(
                r#"{"type": "function", "function": {"name": "list_directory", "arguments": "{\"path\": \"/data\"}"}}"#
            ),
            Some(("list_directory".into(), json!({"path": "/data"})))
        );
    }

    #[test]
    fn a_fenced_or_tagged_call_is_recognised() {
        let fenced =
            "```json\n{\"name\": \"list_directory\", \"arguments\": {\"path\": \"/data\"}}\n```";
        assert_eq!(
            call(fenced),
            Some(("list_directory".into(), json!({"path": "/data"})))
        );
        let plain_fence =
            "```\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"/d/x\"}}\n```";
        assert_eq!(call(plain_fence).map(|c| c.0), Some("read_file".into()));
        let tagged = "<tool_call>\n{\"name\": \"execute_command\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>";
        assert_eq!(call(tagged).map(|c| c.0), Some("execute_command".into()));
    }

    #[test]
    fn text_that_merely_contains_json_stays_text() {
        for text in [
            "Here is the call: {\"name\": \"read_file\", \"arguments\": {\"path\": \"/a\"}}",
            "```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"/a\"}}\n```\nThat reads it.",
            "{\"status\": \"ok\", \"count\": 3}",
            "[1, 2, 3]",
            "The answer is 42.",
            "",
        ] {
            assert_eq!(call(text), None, "{text}");
        }
    }

    #[test]
    fn only_one_call_to_an_offered_tool_with_fitting_arguments() {
        // Two calls.
        assert_eq!(
            call(
                r#"[{"name": "read_file", "arguments": {"path": "/a"}}, {"name": "read_file", "arguments": {"path": "/b"}}]"#
            ),
            None
        );
        // An unknown tool, or one the caller is not offered.
        assert_eq!(
            call(r#"{"name": "sh", "arguments": {"command": "ls"}}"#),
            None
        );
        let only_read: Vec<ToolDef> = tools()
            .into_iter()
            .filter(|t| t.name == "read_file")
            .collect();
        assert!(
            parse(
                r#"{"name": "execute_command", "arguments": {"command": "ls"}}"#,
                &only_read
            )
            .is_none()
        );
        // Missing a required argument, an undeclared one, a wrong type, extra keys.
        assert_eq!(call(r#"{"name": "read_file", "arguments": {}}"#), None);
        assert_eq!(
            call(r#"{"name": "read_file", "arguments": {"path": "/a", "mode": "r"}}"#),
            None
        );
        assert_eq!(
            call(r#"{"name": "read_file", "arguments": {"path": 7}}"#),
            None
        );
        assert_eq!(
            call(r#"{"name": "read_file", "arguments": {"path": "/a"}, "note": "x"}"#),
            None
        );
        assert_eq!(
            call(r#"{"name": "search_files", "arguments": {"path": "/a", "max_results": 5}}"#)
                .map(|c| c.0),
            Some("search_files".into())
        );
        assert_eq!(
            call(r#"{"name": "search_files", "arguments": {"path": "/a", "max_results": "5"}}"#),
            None
        );
    }
}
