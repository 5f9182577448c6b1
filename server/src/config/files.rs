//! The secrets directory's files as the server uses them: `jwt-keys.json`
//! (the signing keys) and `api-keys.json` (declared API keys, hashes only),
//! parsed and validated by the operator–server contract in
//! `policy::contract`. Error messages name files and fields, never secrets.

use std::collections::HashMap;

pub use policy::contract::{ADMIN_PASSWORD_FILE, API_KEYS_FILE, JWT_KEYS_FILE, POLICY_FILE};

use crate::auth::jwt::{JwtKeys, KeySource};
use crate::config::ReloadError;
use crate::http::scopes::Scopes;

/// The generated key, in the data dir, when no key is configured.
pub const GENERATED_JWT_FILE: &str = "jwt-secret";

/// An API key declared in the secrets dir (its hash only).
#[derive(Clone, Debug)]
pub struct DeclaredKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
}

/// Parses `jwt-keys.json` with the contract's parser (the one the operator
/// checks what it renders with).
pub fn parse_jwt_keys(bytes: &[u8]) -> Result<JwtKeys, ReloadError> {
    let keys = policy::contract::parse_jwt_keys(bytes).map_err(ReloadError::JwtKeys)?;
    let secrets = keys
        .decoded
        .into_iter()
        .map(|k| (k.kid, k.secret, k.retired_at.map(|t| t.as_millisecond())))
        .collect();
    Ok(JwtKeys::new(
        keys.set.signing_kid,
        secrets,
        KeySource::SecretsDir,
    ))
}

/// Parses `api-keys.json` with the contract's parser, keyed by hash.
pub fn parse_declared_keys(bytes: &[u8]) -> Result<HashMap<String, DeclaredKey>, ReloadError> {
    let keys = policy::contract::parse_api_keys(bytes).map_err(ReloadError::ApiKeys)?;
    Ok(keys
        .into_iter()
        .map(|k| {
            (
                k.sha256,
                DeclaredKey {
                    name: k.name,
                    scopes: Scopes::of(k.scopes),
                    expires_at: k.expires_at.map(|t| t.as_millisecond()),
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::http::scopes::Scope;

    fn b64(n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![1u8; n])
    }

    #[test]
    fn jwt_keys_keep_every_kid_and_their_retirement() {
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
        let error = parse_jwt_keys(short.as_bytes()).unwrap_err();
        assert_eq!(error.reason(), "jwt-keys");
        assert!(error.to_string().contains("at least 32"), "{error}");
    }

    #[test]
    fn declared_keys_are_keyed_by_hash_with_scopes_and_expiry() {
        let hash = "a".repeat(64);
        let ok = format!(
            r#"[{{"name":"ci","sha256":"{}","scopes":["read","execute"],"expiresAt":"2027-01-01T00:00:00Z"}}]"#,
            hash.to_ascii_uppercase()
        );
        let keys = parse_declared_keys(ok.as_bytes()).unwrap();
        assert!(keys[&hash].scopes.has(Scope::Execute));
        assert!(!keys[&hash].scopes.has(Scope::Write));
        assert_eq!(keys[&hash].expires_at, Some(1_798_761_600_000));
        let bad_scope = format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":["root"]}}]"#);
        let error = parse_declared_keys(bad_scope.as_bytes()).unwrap_err();
        assert_eq!(error.reason(), "api-keys");
        // A name declared twice is refused, as the operator refuses to render it.
        let twice = format!(
            r#"[{{"name":"ci","sha256":"{hash}","scopes":["read"]}},{{"name":"ci","sha256":"{}","scopes":["read"]}}]"#,
            "b".repeat(64)
        );
        assert_eq!(
            parse_declared_keys(twice.as_bytes())
                .unwrap_err()
                .to_string(),
            "api-keys.json: [1].name: \"ci\" appears twice"
        );
    }
}
