//! API keys: `ak_` + 32 random bytes (base64url), stored only as SHA-256 — a
//! fast hash is right here because the key is random, not a password.

use base64::Engine;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "ak_";

/// A new key and its stored hash and display prefix.
pub fn generate() -> (String, String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let key = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_key(&key);
    let prefix = key.chars().take(PREFIX.len() + 6).collect();
    (key, hash, prefix)
}

/// Hex SHA-256 of the full key, as stored and as declared in `api-keys.json`.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn looks_like_key(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// A short random id for a key row.
pub fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, ha, pa) = generate();
        let (b, _, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("ak_") && a.len() > 40);
        assert_eq!(ha, hash_key(&a));
        assert_eq!(ha.len(), 64);
        assert!(a.starts_with(&pa));
    }
}
