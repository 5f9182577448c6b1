//! Password hashes imported from the Python v3.0 server: PBKDF2-HMAC-SHA256,
//! 100,000 iterations, stored there as `salt$hexdigest` with the salt string's
//! UTF-8 bytes as the salt. They are kept with a marker prefix so that they can
//! never be mistaken for another format, verified at login, and replaced with
//! argon2id after the first successful one.

use sha2_digest011::Sha256;

/// Marks an imported hash: `pbkdf2-sha256-v3$<salt>$<hex digest>`.
pub const MARKER: &str = "pbkdf2-sha256-v3$";
pub const ITERATIONS: u32 = 100_000;

/// The stored form of a v3 `hashed_password`, or `None` when it is not `salt$hex`.
pub fn import(v3_hash: &str) -> Option<String> {
    let (salt, digest) = v3_hash.rsplit_once('$')?;
    let valid =
        !salt.is_empty() && digest.len() == 64 && digest.bytes().all(|c| c.is_ascii_hexdigit());
    valid.then(|| format!("{MARKER}{salt}${}", digest.to_ascii_lowercase()))
}

pub fn is_legacy(stored: &str) -> bool {
    stored.starts_with(MARKER)
}

/// Checks `password` against a marked hash in constant time for a given length.
pub fn verify(password: &str, stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix(MARKER) else {
        return false;
    };
    let Some((salt, digest_hex)) = rest.rsplit_once('$') else {
        return false;
    };
    let Ok(expected) = hex::decode(digest_hex) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let actual =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt.as_bytes(), ITERATIONS);
    actual
        .iter()
        .zip(&expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// What the v3 server stored for `password` with `salt` (used to build test data).
pub fn v3_hash(password: &str, salt: &str) -> String {
    let digest =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt.as_bytes(), ITERATIONS);
    format!("{salt}${}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_hashlib() {
        // hashlib.pbkdf2_hmac('sha256', b'changeme123', b'0123456789abcdef', 100000).hex()
        let reference =
            "0123456789abcdef$e3961d622882a2b89c4775abbbdf523bcc445b6a45efcf0186ed64ef785605af";
        assert_eq!(v3_hash("changeme123", "0123456789abcdef"), reference);
        assert!(verify("changeme123", &import(reference).unwrap()));
        let stored = import(&v3_hash("changeme123", "0123456789abcdef")).unwrap();
        assert!(is_legacy(&stored));
        assert!(verify("changeme123", &stored));
        assert!(!verify("changeme124", &stored));
        assert!(!verify("changeme123", "0123456789abcdef$00"));
    }

    #[test]
    fn only_salt_dollar_hex_is_imported() {
        assert!(import("nosalt").is_none());
        assert!(import("$argon2id$v=19$m=19456,t=2,p=1$abc$def").is_none());
        assert!(import(&format!("salt${}", "g".repeat(64))).is_none());
        assert!(import(&format!("salt${}", "a".repeat(64))).is_some());
    }
}
