//! `api-keys.json`: API keys declared outside the database, as SHA-256
//! hashes only, each with its scopes and an optional expiry.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{json_error, parse_time};
use super::{API_KEYS_FILE, FileError, Problem, Scope};

/// One entry as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub name: String,
    /// Lower-case hex SHA-256 of the full key ([`api_key_sha256`]).
    pub sha256: String,
    pub scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The wire form read before validation: scopes stay names so that an
/// unknown one is reported with its field path.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEntry {
    name: String,
    sha256: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// One validated entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredApiKey {
    pub name: String,
    /// Lower-case hex.
    pub sha256: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<jiff::Timestamp>,
}

/// The hash a declared key is stored and looked up by: lower-case hex
/// SHA-256 of the full key, exactly as presented.
pub fn api_key_sha256(key: &[u8]) -> String {
    hex::encode(Sha256::digest(key))
}

/// The file text: pretty JSON and a final newline.
pub fn render_api_keys(entries: &[ApiKeyEntry]) -> String {
    serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".to_string()) + "\n"
}

/// Parses and validates `api-keys.json`: names present and unique, hashes
/// 64 hex characters and unique (one key, one name), at least one known
/// scope, expiry RFC 3339.
pub fn parse_api_keys(bytes: &[u8]) -> Result<Vec<DeclaredApiKey>, FileError> {
    let entries: Vec<RawEntry> =
        serde_json::from_slice(bytes).map_err(|e| json_error(API_KEYS_FILE, &e))?;
    let error = |path: String, problem| FileError::new(API_KEYS_FILE, path, problem);
    let mut out: Vec<DeclaredApiKey> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let name = entry.name.trim();
        if name.is_empty() {
            return Err(error(format!("[{i}].name"), Problem::Empty));
        }
        if out.iter().any(|k| k.name == name) {
            return Err(error(
                format!("[{i}].name"),
                Problem::Duplicate(name.to_string()),
            ));
        }
        let sha256 = entry.sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(error(format!("[{i}].sha256"), Problem::NotSha256));
        }
        if let Some(first) = out.iter().position(|k| k.sha256 == sha256) {
            return Err(error(
                format!("[{i}].sha256"),
                Problem::DuplicateKey { first },
            ));
        }
        let mut scopes = Vec::with_capacity(entry.scopes.len());
        for (j, scope) in entry.scopes.iter().enumerate() {
            let scope =
                Scope::parse(scope).map_err(|e| error(format!("[{i}].scopes[{j}]"), e.into()))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(error(format!("[{i}].scopes"), Problem::NoScopes));
        }
        let expires_at = entry
            .expires_at
            .as_deref()
            .map(|t| parse_time(API_KEYS_FILE, format!("[{i}].expiresAt"), t))
            .transpose()?;
        out.push(DeclaredApiKey {
            name: name.to_string(),
            sha256,
            scopes,
            expires_at,
        });
    }
    Ok(out)
}
