//! Why a contract file was refused: the file, the field path inside it, and
//! the broken rule. Messages never quote secret values.

use std::fmt;

use super::MIN_JWT_SECRET_BYTES;

/// One broken rule of a contract file (`api-keys.json: [2].scopes: ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file name, e.g. [`super::API_KEYS_FILE`].
    pub file: &'static str,
    /// Field path inside the file; empty for the file as a whole.
    pub path: String,
    pub problem: Problem,
}

impl FileError {
    pub(crate) fn new(file: &'static str, path: impl Into<String>, problem: Problem) -> Self {
        FileError {
            file,
            path: path.into(),
            problem,
        }
    }

    /// The index of the list entry the error is about (`[2].name` → 2,
    /// `keys[1].kid` → 1), to name where a rendered entry came from.
    pub fn entry(&self) -> Option<usize> {
        let start = self.path.find('[')?;
        let end = self.path[start..].find(']')? + start;
        self.path[start + 1..end].parse().ok()
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.problem)
        }
    }
}

impl std::error::Error for FileError {}

/// The broken rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not JSON of the expected shape; only the position is kept, since
    /// serde's message may quote the input.
    #[error("invalid JSON: line {line} column {column} ({category})")]
    Json {
        line: usize,
        column: usize,
        category: &'static str,
    },
    #[error("must not be empty")]
    Empty,
    #[error("{0:?} appears twice")]
    Duplicate(String),
    #[error("the same key is declared twice (first at [{first}])")]
    DuplicateKey { first: usize },
    #[error("not valid base64")]
    NotBase64,
    #[error("decodes to {0} bytes; at least {MIN_JWT_SECRET_BYTES} are required")]
    TooShort(usize),
    #[error("must be 64 hex characters (the SHA-256 of the key)")]
    NotSha256,
    #[error("{0}")]
    UnknownScope(#[from] super::UnknownScope),
    #[error("at least one scope is required")]
    NoScopes,
    #[error("{0:?} is not an RFC 3339 time such as 2026-01-01T00:00:00Z")]
    NotATime(String),
    #[error("at least one key is required")]
    NoKeys,
    #[error("{0:?} is not one of the listed keys")]
    UnknownSigningKid(String),
    #[error("{0:?} is retired")]
    SigningKeyRetired(String),
}

pub(crate) fn json_error(file: &'static str, err: &serde_json::Error) -> FileError {
    let category = match err.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "unexpected field or type",
        serde_json::error::Category::Eof => "unexpected end",
    };
    FileError::new(
        file,
        "",
        Problem::Json {
            line: err.line(),
            column: err.column(),
            category,
        },
    )
}

pub(crate) fn parse_time(
    file: &'static str,
    path: String,
    text: &str,
) -> Result<jiff::Timestamp, FileError> {
    text.parse::<jiff::Timestamp>()
        .map_err(|_| FileError::new(file, path, Problem::NotATime(text.to_string())))
}
