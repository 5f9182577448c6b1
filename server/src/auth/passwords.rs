//! Password hashing with argon2id, always on a blocking thread so that a burst
//! of logins does not stall other requests.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::http::error::ApiError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

/// Checks a new password's length (the only rule: long passphrases welcome).
pub fn validate_new(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(ApiError::BadRequest(format!(
            "password must be at least {MIN_LEN} characters"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(ApiError::BadRequest(format!(
            "password must be at most {MAX_LEN} bytes"
        )));
    }
    Ok(())
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Verifies on a blocking thread; any malformed stored hash counts as a mismatch.
pub async fn verify(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        if password.len() > MAX_LEN {
            return false;
        }
        if super::legacy_hash::is_legacy(&stored_hash) {
            return super::legacy_hash::verify(&password, &stored_hash);
        }
        Argon2::default()
            .verify_password(password.as_bytes(), stored_hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The default password of the Python v3.0 server: accepted, but its users are told to change it.
pub const V3_DEFAULT_PASSWORD: &str = "changeme123";

/// Whether a stored hash should be replaced with argon2id after a successful login.
pub fn needs_rehash(stored_hash: &str) -> bool {
    super::legacy_hash::is_legacy(stored_hash)
}

/// A random password for a generated admin: 24 characters, no look-alikes.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), h.clone()).await);
        assert!(!verify("wrong horse".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
        assert!(validate_new("short").is_err());
        assert_ne!(generate(), generate());
    }
}
