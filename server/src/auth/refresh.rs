//! Refresh tokens: opaque random strings, stored hashed, single use, grouped
//! in families so that reuse of a spent token revokes every descendant.

use base64::Engine;

use crate::auth::api_keys::hash_key;

pub const PREFIX: &str = "rt_";

/// A new token and its stored hash.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_key(&token);
    (token, hash)
}

pub fn new_family() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}
