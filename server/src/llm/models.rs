//! Which models exist and which one answers a message: the configured list
//! merged with what the model server reports (cached, so that the listing
//! still answers while the server is down), and the "auto" choice.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

use super::{LlmClient, LlmError};

/// How long the server's model list is reused before asking again.
const CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
}

/// The merged listing of `GET /api/models`.
#[derive(Clone, Debug, Serialize)]
pub struct ModelListing {
    pub models: Vec<ListedModel>,
    pub default: String,
    /// Whether the model server answered (now or within the cache lifetime).
    pub llm_available: bool,
    /// The last error talking to the model server, if the latest attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListedModel {
    pub name: String,
    /// Named in the configuration.
    pub configured: bool,
    /// Reported by the model server.
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
}

/// After a failed attempt, the server is not asked again for this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Cached {
    /// The last good answer and when it came.
    models: Option<(Instant, Vec<ModelInfo>)>,
    /// The last failure and when it happened (cleared by a success).
    failure: Option<(Instant, LlmError)>,
}

pub struct ModelCatalog {
    configured: Vec<String>,
    default: String,
    cache: Mutex<Cached>,
}

impl std::fmt::Debug for ModelCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelCatalog")
            .field("configured", &self.configured)
            .field("default", &self.default)
            .finish()
    }
}

impl ModelCatalog {
    pub fn new(default: String, configured: Vec<String>) -> Self {
        ModelCatalog {
            configured,
            default,
            cache: Mutex::new(Cached::default()),
        }
    }

    pub fn default_model(&self) -> &str {
        &self.default
    }

    /// Configured models plus the default (the names "auto" may choose from).
    pub fn configured(&self) -> Vec<String> {
        let mut names = vec![self.default.clone()];
        for name in &self.configured {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Configured and server models, merged. The server is asked at most
    /// once per [`CACHE_TTL`] (and not again within [`RETRY_AFTER_FAILURE`]
    /// of a failure); when it fails, the last good answer is used.
    pub async fn list(&self, client: &LlmClient) -> ModelListing {
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .models
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < CACHE_TTL);
        let resting = cache
            .failure
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < RETRY_AFTER_FAILURE);
        if !fresh && !resting {
            match client.list_models().await {
                Ok(models) => {
                    cache.models = Some((Instant::now(), models));
                    cache.failure = None;
                }
                Err(e) => cache.failure = Some((Instant::now(), e)),
            }
        }
        let remote = cache.models.as_ref().map(|(_, models)| models.clone());
        let error = cache.failure.as_ref().map(|(_, e)| e.clone());
        drop(cache);
        self.merge(remote.as_deref(), error)
    }

    fn merge(&self, remote: Option<&[ModelInfo]>, error: Option<LlmError>) -> ModelListing {
        let mut models: Vec<ListedModel> = self
            .configured()
            .into_iter()
            .map(|name| {
                let found = remote.and_then(|r| r.iter().find(|m| m.name == name));
                ListedModel {
                    configured: true,
                    available: found.is_some(),
                    size: found.and_then(|m| m.size),
                    modified_at: found.and_then(|m| m.modified_at.clone()),
                    name,
                }
            })
            .collect();
        for m in remote.unwrap_or_default() {
            if !models.iter().any(|l| l.name == m.name) {
                models.push(ListedModel {
                    name: m.name.clone(),
                    configured: false,
                    available: true,
                    size: m.size,
                    modified_at: m.modified_at.clone(),
                });
            }
        }
        ModelListing {
            models,
            default: self.default.clone(),
            llm_available: remote.is_some() && error.is_none(),
            error: error.map(|e| e.to_string()),
        }
    }
}

/// Words that mark a request as programming work.
const CODE_WORDS: &[&str] = &[
    "code",
    "function",
    "bug",
    "debug",
    "compile",
    "script",
    "python",
    "rust",
    "javascript",
    "typescript",
    "program",
    "refactor",
    "stack trace",
    "regex",
    "sql",
    "class",
    "implement",
];
/// Words that mark a request as reasoning work.
const REASONING_WORDS: &[&str] = &[
    "why",
    "explain",
    "analyze",
    "analyse",
    "reason",
    "prove",
    "math",
    "calculate",
    "compare",
    "plan",
];

/// The model that answers `message`: an explicit name is used as given;
/// none (or empty) means the default; `auto` looks for keywords and picks a
/// configured model whose name suits them (a `coder` model for programming,
/// a reasoning model for analysis), else the default.
pub fn select_model(
    requested: Option<&str>,
    message: &str,
    default: &str,
    configured: &[String],
) -> String {
    match requested.map(str::trim) {
        None | Some("") => default.to_string(),
        Some(name) if !name.eq_ignore_ascii_case("auto") => name.to_string(),
        Some(_) => {
            let text = message.to_lowercase();
            let has = |words: &[&str]| words.iter().any(|w| contains_word(&text, w));
            let find = |hints: &[&str]| {
                configured.iter().find(|m| {
                    let m = m.to_lowercase();
                    hints.iter().any(|h| m.contains(h))
                })
            };
            let pick = if has(CODE_WORDS) {
                find(&["coder", "code", "starcoder", "devstral"])
            } else if has(REASONING_WORDS) {
                find(&["r1", "reason", "qwq", "think"])
            } else {
                None
            };
            pick.cloned().unwrap_or_else(|| default.to_string())
        }
    }
}

/// Whole-word match, so that "classic" does not count as "class".
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> Vec<String> {
        vec![
            "llama3.1:8b".into(),
            "qwen2.5-coder:7b".into(),
            "deepseek-r1:8b".into(),
        ]
    }

    #[test]
    fn explicit_default_and_auto_choices() {
        let m = models();
        assert_eq!(select_model(None, "hi", "llama3.1:8b", &m), "llama3.1:8b");
        assert_eq!(
            select_model(Some(""), "hi", "llama3.1:8b", &m),
            "llama3.1:8b"
        );
        assert_eq!(
            select_model(Some("mistral"), "fix this bug", "llama3.1:8b", &m),
            "mistral"
        );
        assert_eq!(
            select_model(Some("auto"), "Fix this Python function", "llama3.1:8b", &m),
            "qwen2.5-coder:7b"
        );
        assert_eq!(
            select_model(
                Some("AUTO"),
                "explain why the sky is blue",
                "llama3.1:8b",
                &m
            ),
            "deepseek-r1:8b"
        );
        assert_eq!(
            select_model(Some("auto"), "a classic song", "llama3.1:8b", &m),
            "llama3.1:8b"
        );
        assert_eq!(
            select_model(
                Some("auto"),
                "debug it",
                "llama3.1:8b",
                &["llama3.1:8b".into()]
            ),
            "llama3.1:8b"
        );
    }

    #[test]
    fn merge_marks_configured_and_available() {
        let catalog = ModelCatalog::new("llama3.1:8b".into(), vec!["qwen2.5-coder:7b".into()]);
        let remote = vec![
            ModelInfo {
                name: "llama3.1:8b".into(),
                size: Some(5),
                modified_at: None,
            },
            ModelInfo {
                name: "phi4".into(),
                size: None,
                modified_at: None,
            },
        ];
        let listing = catalog.merge(Some(&remote), None);
        let names: Vec<(&str, bool, bool)> = listing
            .models
            .iter()
            .map(|m| (m.name.as_str(), m.configured, m.available))
            .collect();
        assert_eq!(
            names,
            [
                ("llama3.1:8b", true, true),
                ("qwen2.5-coder:7b", true, false),
                ("phi4", false, true)
            ]
        );
        assert!(listing.llm_available);
        let down = catalog.merge(None, Some(LlmError::Unreachable("x".into())));
        assert_eq!(down.models.len(), 2);
        assert!(!down.llm_available);
        assert!(down.error.is_some());
    }
}
