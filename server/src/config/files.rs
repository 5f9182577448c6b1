//! The secrets directory's file names and formats: `jwt-keys.json` (the
//! signing keys) and `api-keys.json` (declared API keys, hashes only).
//! Error messages name files and fields, never secrets.

use std::collections::HashMap;

use base64::Engine;
use serde::Deserialize;

use crate::auth::jwt::{JwtKeys, KeySource};
use crate::config::ReloadError;
use crate::http::scopes::Scopes;

pub const JWT_KEYS_FILE: &str = "jwt-keys.json";
pub const API_KEYS_FILE: &str = "api-keys.json";
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";
/// The generated key, in the data dir, when no key is configured.
pub const GENERATED_JWT_FILE: &str = "jwt-secret";
pub const POLICY_FILE: &str = "policy.yaml";

/// An API key declared in the secrets dir (its hash only).
#[derive(Clone, Debug)]
pub struct DeclaredKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JwtKeysFile {
    signing_kid: String,
    keys: Vec<JwtKeyEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JwtKeyEntry {
    kid: String,
    secret: String,
    #[serde(default)]
    retired_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeclaredKeyEntry {
    name: String,
    sha256: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn parse_time(text: &str, field: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            format!("{field}: {text:?} is not an RFC 3339 time such as 2026-01-01T00:00:00Z")
        })
}

/// Parses `jwt-keys.json`; the messages name fields, never secrets.
pub fn parse_jwt_keys(bytes: &[u8]) -> Result<JwtKeys, ReloadError> {
    jwt_keys(bytes).map_err(ReloadError::JwtKeys)
}

fn jwt_keys(bytes: &[u8]) -> Result<JwtKeys, String> {
    let file: JwtKeysFile = serde_json::from_slice(bytes)
        .map_err(|e| format!("{JWT_KEYS_FILE}: invalid JSON: {}", strip_json_values(&e)))?;
    if file.keys.is_empty() {
        return Err(format!(
            "{JWT_KEYS_FILE}: keys: at least one key is required"
        ));
    }
    let mut secrets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, key) in file.keys.into_iter().enumerate() {
        if key.kid.trim().is_empty() {
            return Err(format!("{JWT_KEYS_FILE}: keys[{i}].kid: must not be empty"));
        }
        if !seen.insert(key.kid.clone()) {
            return Err(format!(
                "{JWT_KEYS_FILE}: keys[{i}].kid: {:?} appears twice",
                key.kid
            ));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(key.secret.trim())
            .map_err(|_| format!("{JWT_KEYS_FILE}: keys[{i}].secret: not valid base64"))?;
        if secret.len() < 32 {
            return Err(format!(
                "{JWT_KEYS_FILE}: keys[{i}].secret: decodes to {} bytes; at least 32 are required",
                secret.len()
            ));
        }
        let retired_at = key
            .retired_at
            .as_deref()
            .map(|t| parse_time(t, &format!("{JWT_KEYS_FILE}: keys[{i}].retiredAt")))
            .transpose()?;
        secrets.push((key.kid, secret, retired_at));
    }
    match secrets.iter().find(|(kid, _, _)| *kid == file.signing_kid) {
        None => {
            return Err(format!(
                "{JWT_KEYS_FILE}: signingKid: {:?} is not one of the listed keys",
                file.signing_kid
            ));
        }
        Some((_, _, Some(_))) => {
            return Err(format!(
                "{JWT_KEYS_FILE}: signingKid: {:?} is retired",
                file.signing_kid
            ));
        }
        Some(_) => {}
    }
    Ok(JwtKeys::new(
        file.signing_kid,
        secrets,
        KeySource::SecretsDir,
    ))
}

/// serde_json errors may quote input; keep only the position.
fn strip_json_values(err: &serde_json::Error) -> String {
    format!(
        "line {} column {} ({:?})",
        err.line(),
        err.column(),
        err.classify()
    )
}

/// Parses `api-keys.json`.
pub fn parse_declared_keys(bytes: &[u8]) -> Result<HashMap<String, DeclaredKey>, ReloadError> {
    declared_keys(bytes).map_err(ReloadError::ApiKeys)
}

fn declared_keys(bytes: &[u8]) -> Result<HashMap<String, DeclaredKey>, String> {
    let entries: Vec<DeclaredKeyEntry> = serde_json::from_slice(bytes)
        .map_err(|e| format!("{API_KEYS_FILE}: invalid JSON: {}", strip_json_values(&e)))?;
    let mut out = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if entry.name.trim().is_empty() {
            return Err(format!("{API_KEYS_FILE}: [{i}].name: must not be empty"));
        }
        let hash = entry.sha256.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].sha256: must be 64 hex characters"
            ));
        }
        let scopes = Scopes::parse_names(&entry.scopes)
            .map_err(|e| format!("{API_KEYS_FILE}: [{i}].scopes: {e}"))?;
        if scopes.is_empty() {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].scopes: at least one scope is required"
            ));
        }
        let expires_at = entry
            .expires_at
            .as_deref()
            .map(|t| parse_time(t, &format!("{API_KEYS_FILE}: [{i}].expiresAt")))
            .transpose()?;
        if out
            .insert(
                hash,
                DeclaredKey {
                    name: entry.name,
                    scopes,
                    expires_at,
                },
            )
            .is_some()
        {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].sha256: the same key is declared twice"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![1u8; n])
    }

    #[test]
    fn jwt_key_files_are_validated() {
        let ok = format!(
            r#"{{"signingKid":"k2","keys":[{{"kid":"k1","secret":"{}","retiredAt":"2026-01-01T00:00:00Z"}},{{"kid":"k2","secret":"{}"}}]}}"#,
            b64(32),
            b64(40)
        );
        let keys = parse_jwt_keys(ok.as_bytes()).unwrap();
        assert_eq!(keys.kids(), vec!["k1", "k2"]);
        let short = format!(
            r#"{{"signingKid":"k1","keys":[{{"kid":"k1","secret":"{}"}}]}}"#,
            b64(16)
        );
        assert!(
            parse_jwt_keys(short.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("at least 32")
        );
        let missing = format!(
            r#"{{"signingKid":"k9","keys":[{{"kid":"k1","secret":"{}"}}]}}"#,
            b64(32)
        );
        assert!(
            parse_jwt_keys(missing.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("signingKid")
        );
        let retired = format!(
            r#"{{"signingKid":"k1","keys":[{{"kid":"k1","secret":"{}","retiredAt":"2026-01-01T00:00:00Z"}}]}}"#,
            b64(32)
        );
        assert!(
            parse_jwt_keys(retired.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("retired")
        );
        let unknown = r#"{"signingKid":"k1","keys":[],"extra":1}"#;
        assert!(parse_jwt_keys(unknown.as_bytes()).is_err());
    }

    #[test]
    fn declared_keys_are_validated() {
        let hash = "a".repeat(64);
        let ok = format!(
            r#"[{{"name":"ci","sha256":"{hash}","scopes":["read","execute"],"expiresAt":"2027-01-01T00:00:00Z"}}]"#
        );
        let keys = parse_declared_keys(ok.as_bytes()).unwrap();
        assert!(keys[&hash].scopes.has(crate::http::scopes::Scope::Execute));
        assert!(
            parse_declared_keys(br#"[{"name":"ci","sha256":"xyz","scopes":["read"]}]"#).is_err()
        );
        let bad_scope = format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":["root"]}}]"#);
        assert!(parse_declared_keys(bad_scope.as_bytes()).is_err());
    }
}
