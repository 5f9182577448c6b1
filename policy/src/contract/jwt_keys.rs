//! `jwt-keys.json`: the signing key id and every key that verifies tokens,
//! so keys rotate without logging anyone out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::error::{json_error, parse_time};
use super::{FileError, JWT_KEYS_FILE, MIN_JWT_SECRET_BYTES, Problem};

/// The file as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtKeySet {
    /// The key that signs new tokens.
    pub signing_kid: String,
    /// Every key that verifies tokens carrying its kid.
    pub keys: Vec<JwtKey>,
}

/// One key as written.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtKey {
    pub kid: String,
    /// Base64 of the key bytes.
    pub secret: String,
    /// When the key stopped signing (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// A validated key set: the file as written and its keys decoded.
#[derive(Clone, Debug)]
pub struct JwtKeys {
    pub set: JwtKeySet,
    pub decoded: Vec<DecodedJwtKey>,
}

/// One key, decoded.
#[derive(Clone)]
pub struct DecodedJwtKey {
    pub kid: String,
    pub secret: Vec<u8>,
    pub retired_at: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for DecodedJwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedJwtKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// The file text: pretty JSON and a final newline.
pub fn render_jwt_keys(set: &JwtKeySet) -> String {
    serde_json::to_string_pretty(set).unwrap_or_default() + "\n"
}

/// Parses and validates `jwt-keys.json`: at least one key, key ids present
/// and unique, secrets base64 of at least [`MIN_JWT_SECRET_BYTES`], times
/// RFC 3339, and the signing key listed and not retired.
pub fn parse_jwt_keys(bytes: &[u8]) -> Result<JwtKeys, FileError> {
    let set: JwtKeySet =
        serde_json::from_slice(bytes).map_err(|e| json_error(JWT_KEYS_FILE, &e))?;
    let error = |path: String, problem| FileError::new(JWT_KEYS_FILE, path, problem);
    if set.keys.is_empty() {
        return Err(error("keys".into(), Problem::NoKeys));
    }
    let mut decoded: Vec<DecodedJwtKey> = Vec::with_capacity(set.keys.len());
    for (i, key) in set.keys.iter().enumerate() {
        if key.kid.trim().is_empty() {
            return Err(error(format!("keys[{i}].kid"), Problem::Empty));
        }
        if decoded.iter().any(|d| d.kid == key.kid) {
            return Err(error(
                format!("keys[{i}].kid"),
                Problem::Duplicate(key.kid.clone()),
            ));
        }
        let secret = BASE64
            .decode(key.secret.trim())
            .map_err(|_| error(format!("keys[{i}].secret"), Problem::NotBase64))?;
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(error(
                format!("keys[{i}].secret"),
                Problem::TooShort(secret.len()),
            ));
        }
        let retired_at = key
            .retired_at
            .as_deref()
            .map(|t| parse_time(JWT_KEYS_FILE, format!("keys[{i}].retiredAt"), t))
            .transpose()?;
        decoded.push(DecodedJwtKey {
            kid: key.kid.clone(),
            secret,
            retired_at,
        });
    }
    match decoded.iter().find(|d| d.kid == set.signing_kid) {
        None => Err(error(
            "signingKid".into(),
            Problem::UnknownSigningKid(set.signing_kid.clone()),
        )),
        Some(key) if key.retired_at.is_some() => Err(error(
            "signingKid".into(),
            Problem::SigningKeyRetired(set.signing_kid.clone()),
        )),
        Some(_) => Ok(JwtKeys { set, decoded }),
    }
}
