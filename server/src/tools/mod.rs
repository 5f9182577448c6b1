//! The tools an LLM (or an API client) may call. Each one is judged by the
//! policy before it touches the machine; a refusal is an ordinary outcome with
//! the rule and reason that decided it, so the caller can audit it and tell
//! the model why.

mod confined_fs;
mod execute;
#[cfg(test)]
mod file_tests;
mod files;
mod glob;
mod output;
pub mod sandbox;
mod search;

use policy::Policy;
use policy::contract::Scope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use execute::{CommandOutput, SANDBOX_RULE, default_cwd, run_stages};
pub use sandbox::Sandbox;

/// A tool as the LLM and the `/tools` listing see it.
#[derive(Debug)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub scope: Scope,
    /// A call written the way a user would ask for it, for the `/tools` listing.
    pub example: &'static str,
    parameters: fn() -> Value,
}

impl ToolSpec {
    /// JSON schema of the arguments object.
    pub fn parameters(&self) -> Value {
        (self.parameters)()
    }
}

static REGISTRY: [ToolSpec; 5] = [
    ToolSpec {
        name: "execute_command",
        description: "Run one command line (a program and its arguments, no shell) in a working directory. \
                      The server's policy decides which programs and arguments may run; a refused command \
                      comes back with the reason. Returns exit_code, stdout, stderr and timed_out.",
        scope: Scope::Execute,
        example: "execute_command {\"command\": \"ls -la /data\"}",
        parameters: || {
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line, e.g. `git status` or `ls -la /data`."},
                    "cwd": {"type": "string", "description": "Leave this out to run in the default working directory (named in the system prompt). Only when the user names another one: an absolute directory under the allowed roots, never `/`."}
                },
                "required": ["command"]
            })
        },
    },
    ToolSpec {
        name: "read_file",
        description: "Read a text file. Large files are cut at the policy's size limit; binary files are reported, not returned.",
        scope: Scope::Read,
        example: "read_file {\"path\": \"/data/notes.txt\"}",
        parameters: || {
            json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Absolute path of the file."}},
                "required": ["path"]
            })
        },
    },
    ToolSpec {
        name: "write_file",
        description: "Write a text file atomically (replacing it if it exists), creating missing parent directories under the writable roots.",
        scope: Scope::Write,
        example: "write_file {\"path\": \"/data/out.txt\", \"content\": \"hello\\n\"}",
        parameters: || {
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Absolute path of the file."},
                    "content": {"type": "string", "description": "The complete new contents."}
                },
                "required": ["path", "content"]
            })
        },
    },
    ToolSpec {
        name: "list_directory",
        description: "List the entries of a directory with their type and size.",
        scope: Scope::Read,
        example: "list_directory {\"path\": \"/data\"}",
        parameters: || {
            json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Absolute path of the directory."}},
                "required": ["path"]
            })
        },
    },
    ToolSpec {
        name: "search_files",
        description: "Find files under a directory whose name matches a glob (`*.rs`, `report-??.txt`), \
                      optionally only those containing a text; returns matching paths (and lines for a text search).",
        scope: Scope::Read,
        example: "search_files {\"path\": \"/data\", \"pattern\": \"*.log\", \"text\": \"ERROR\"}",
        parameters: || {
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Absolute directory to search under."},
                    "pattern": {"type": "string", "description": "Glob matched against file names; `*` by default."},
                    "text": {"type": "string", "description": "Only files containing this text (case-sensitive)."},
                    "max_results": {"type": "integer", "description": "At most this many matches (1-200, default 50)."}
                },
                "required": ["path"]
            })
        },
    },
];

/// Every tool, in a stable order.
pub fn registry() -> &'static [ToolSpec] {
    &REGISTRY
}

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    REGISTRY.iter().find(|t| t.name == name)
}

/// Why a call could not even be judged: the caller asked for something that
/// does not exist or sent arguments that do not fit the schema.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    #[error("unknown tool '{0}'")]
    UnknownTool(String),
    #[error("invalid arguments for {tool}: {message}")]
    BadArguments { tool: String, message: String },
}

/// How an allowed call went: the tool did its work, or it failed (a missing
/// file, a program that could not start). A command that ran and exited
/// non-zero is `ok`: its `exit_code` says the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Ok,
    Error,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Error => "error",
        }
    }
}

/// The result of a judged call: either the tool ran (`result`, and whether
/// it worked in `outcome`) or it was refused (`reason`). `rule` and `target`
/// are what the audit row records.
#[derive(Debug, Clone, Serialize)]
pub struct ToolOutcome {
    /// The policy's decision.
    pub allowed: bool,
    /// How the allowed call went; `None` when it was refused.
    pub outcome: Option<RunOutcome>,
    /// What went wrong (naming the path and the system's error text) when `outcome` is `error`.
    pub error: Option<String>,
    /// The rule that decided (e.g. `commands.allow[2] (git)`, `paths.deny[0]`, `scope`).
    pub rule: String,
    /// Human-readable reason, shown to the model and the user.
    pub reason: String,
    /// What the call acted on: the command line or the path.
    pub target: String,
    pub result: Option<Value>,
}

impl ToolOutcome {
    pub(crate) fn refused(
        rule: impl Into<String>,
        reason: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        ToolOutcome {
            allowed: false,
            outcome: None,
            error: None,
            rule: rule.into(),
            reason: reason.into(),
            target: target.into(),
            result: None,
        }
    }

    /// An allowed call that failed: `result` is `{"error": ..., "path"?: ...}`.
    pub(crate) fn failed(
        rule: impl Into<String>,
        reason: impl Into<String>,
        target: impl Into<String>,
        error: impl Into<String>,
        path: Option<&str>,
    ) -> Self {
        let error = error.into();
        let mut result = json!({"error": error});
        if let Some(path) = path {
            result["path"] = json!(path);
        }
        ToolOutcome {
            allowed: true,
            outcome: Some(RunOutcome::Error),
            error: Some(error),
            rule: rule.into(),
            reason: reason.into(),
            target: target.into(),
            result: Some(result),
        }
    }

    /// Whether the call was allowed and then failed.
    pub fn is_error(&self) -> bool {
        self.outcome == Some(RunOutcome::Error)
    }

    /// The metric label: `allowed`, `refused` or `error`.
    pub fn decision_label(&self) -> &'static str {
        match (self.allowed, self.outcome) {
            (false, _) => "refused",
            (true, Some(RunOutcome::Error)) => "error",
            (true, _) => "allowed",
        }
    }

    pub(crate) fn ran(
        rule: impl Into<String>,
        reason: impl Into<String>,
        target: impl Into<String>,
        result: Value,
    ) -> Self {
        ToolOutcome {
            allowed: true,
            outcome: Some(RunOutcome::Ok),
            error: None,
            rule: rule.into(),
            reason: reason.into(),
            target: target.into(),
            result: Some(result),
        }
    }

    /// The text the model receives as the `tool` message.
    pub fn to_model_text(&self) -> String {
        match (&self.result, self.allowed) {
            (Some(result), true) => result.to_string(),
            _ => json!({"allowed": false, "reason": self.reason, "rule": self.rule}).to_string(),
        }
    }
}

/// The rule name recorded when a principal lacks the tool's scope.
pub const SCOPE_RULE: &str = "scope";

/// Judges and (when allowed) runs one tool call. `granted` is the set of
/// scopes the caller holds (admin callers pass all three).
pub async fn run(
    policy: &Policy,
    sandbox: &Sandbox,
    granted: &[Scope],
    name: &str,
    arguments: &Value,
) -> Result<ToolOutcome, ToolError> {
    let spec = find(name).ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
    if !granted.contains(&spec.scope) {
        let target = arguments
            .get("command")
            .or_else(|| arguments.get("path"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Ok(ToolOutcome::refused(
            SCOPE_RULE,
            format!(
                "the '{}' tool requires the '{}' scope",
                spec.name,
                spec.scope.as_str()
            ),
            target,
        ));
    }
    match spec.name {
        "execute_command" => Ok(execute::run(policy, sandbox, parse(spec, arguments)?).await),
        "read_file" => blocking(policy, parse(spec, arguments)?, files::read_file).await,
        "write_file" => blocking(policy, parse(spec, arguments)?, files::write_file).await,
        "list_directory" => blocking(policy, parse(spec, arguments)?, files::list_directory).await,
        "search_files" => blocking(policy, parse(spec, arguments)?, search::search_files).await,
        other => Err(ToolError::UnknownTool(other.to_string())),
    }
}

fn parse<T: DeserializeOwned>(spec: &ToolSpec, arguments: &Value) -> Result<T, ToolError> {
    // Some models send the arguments object as a JSON string.
    let decoded;
    let arguments = match arguments {
        Value::String(text) => {
            decoded = serde_json::from_str::<Value>(text).map_err(|e| ToolError::BadArguments {
                tool: spec.name.to_string(),
                message: format!("arguments are not a JSON object: {e}"),
            })?;
            &decoded
        }
        other => other,
    };
    serde_json::from_value(arguments.clone()).map_err(|e| ToolError::BadArguments {
        tool: spec.name.to_string(),
        message: e.to_string(),
    })
}

/// File tools do blocking I/O; keep it off the async workers.
async fn blocking<A: Send + 'static>(
    policy: &Policy,
    args: A,
    tool: fn(&Policy, A) -> ToolOutcome,
) -> Result<ToolOutcome, ToolError> {
    let policy = policy.clone();
    match tokio::task::spawn_blocking(move || tool(&policy, args)).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => Ok(ToolOutcome::failed(
            "",
            "the tool failed",
            "",
            format!("tool task failed: {e}"),
            None,
        )),
    }
}

/// A sandbox whose launcher does not exist: every command is refused.
#[cfg(test)]
pub(crate) fn no_sandbox() -> Sandbox {
    Sandbox::probe(
        "/nonexistent/ai-orchestrator".into(),
        Vec::new(),
        std::env::temp_dir().join("ai-orchestrator-unit-scratch"),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_with_required_fields_it_declares() {
        for tool in registry() {
            let schema = tool.parameters();
            assert_eq!(schema["type"], "object", "{}", tool.name);
            let props = schema["properties"].as_object().expect("properties");
            for required in schema["required"].as_array().expect("required") {
                assert!(
                    props.contains_key(required.as_str().expect("name")),
                    "{} requires an undeclared field",
                    tool.name
                );
            }
        }
        assert_eq!(
            find("execute_command").map(|t| t.scope),
            Some(Scope::Execute)
        );
        assert_eq!(find("write_file").map(|t| t.scope), Some(Scope::Write));
        assert!(find("sh").is_none());
    }

    #[tokio::test]
    async fn unknown_tool_and_bad_arguments_are_errors_not_refusals() {
        let policy = Policy::default_policy();
        let all = [Scope::Read, Scope::Write, Scope::Execute];
        assert_eq!(
            run(&policy, &no_sandbox(), &all, "rm", &json!({}))
                .await
                .err(),
            Some(ToolError::UnknownTool("rm".into()))
        );
        let err = run(
            &policy,
            &no_sandbox(),
            &all,
            "read_file",
            &json!({"file": "/etc/hosts"}),
        )
        .await
        .err();
        assert!(
            matches!(err, Some(ToolError::BadArguments { .. })),
            "{err:?}"
        );
        let err = run(
            &policy,
            &no_sandbox(),
            &all,
            "read_file",
            &json!("{not json"),
        )
        .await
        .err();
        assert!(
            matches!(err, Some(ToolError::BadArguments { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_scope_is_a_refusal_naming_the_scope() {
        let policy = Policy::default_policy();
        let outcome = run(
            &policy,
            &no_sandbox(),
            &[Scope::Read],
            "execute_command",
            &json!({"command": "ls"}),
        )
        .await
        .expect("judged");
        assert!(!outcome.allowed);
        assert_eq!(outcome.rule, SCOPE_RULE);
        assert!(outcome.reason.contains("'execute'"), "{}", outcome.reason);
        assert_eq!(outcome.target, "ls");
    }
}
