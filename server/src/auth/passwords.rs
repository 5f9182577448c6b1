//! Password hashing with argon2id and verification of stored hashes (argon2
//! PHC strings and imported PBKDF2 ones). Every hash runs through the
//! [`HashPool`]: on a blocking thread, at most one per slot, in the slot's
//! reused memory, so a burst of logins neither stalls other requests nor grows
//! the process by 19 MiB per login.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::hash_pool::{HashPool, PoolError};
use crate::http::error::ApiError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;
/// Stored hashes asking for more working memory than this (KiB) are refused:
/// only a tampered database would hold one.
const MAX_STORED_M_COST: u32 = 256 * 1024;
const SALT_LEN: usize = 16;

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

/// An argon2id PHC string for `password` with the default parameters, computed in `memory`.
pub fn hash_in(memory: &mut [Block], password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    rand::fill(&mut salt);
    let params = Params::DEFAULT;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    let phc =
        |e: argon2::password_hash::phc::Error| anyhow::anyhow!("password hashing failed: {e}");
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(phc)?),
        hash: Some(Output::new(&out).map_err(phc)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the argon2 PHC string `stored`, computed in
/// `memory` (or in a one-off buffer when the stored parameters need more).
/// Anything malformed is a mismatch.
pub fn verify_argon2_in(memory: &mut [Block], password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::new(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_STORED_M_COST {
        tracing::warn!(
            m_cost = params.m_cost(),
            "refusing a stored password hash that asks for too much memory"
        );
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let mut one_off = Vec::new();
    let memory = if params.block_count() <= memory.len() {
        memory
    } else {
        one_off.resize(params.block_count(), Block::new());
        one_off.as_mut_slice()
    };
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
        .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Whether `password` matches `stored`, whichever of the two formats it is.
pub fn verify_in(memory: &mut [Block], password: &str, stored: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    if super::legacy_hash::is_legacy(stored) {
        return super::legacy_hash::verify(password, stored);
    }
    verify_argon2_in(memory, password, stored)
}

fn pool_error(err: PoolError) -> ApiError {
    match err {
        PoolError::Busy(busy) => ApiError::Busy {
            retry_after: busy.retry_after,
        },
        PoolError::Failed(detail) => ApiError::internal(detail),
    }
}

/// Hashes a new password in the pool; 503 with `Retry-After` when it is saturated.
pub async fn hash(pool: &HashPool, password: String) -> Result<String, ApiError> {
    pool.run(move |memory| hash_in(memory, &password))
        .await
        .map_err(pool_error)?
        .map_err(ApiError::internal)
}

/// Verifies in the pool; `Ok(false)` for a mismatch or a malformed stored hash,
/// 503 with `Retry-After` when the pool is saturated.
pub async fn verify(
    pool: &HashPool,
    password: String,
    stored_hash: String,
) -> Result<bool, ApiError> {
    pool.run(move |memory| verify_in(memory, &password, &stored_hash))
        .await
        .map_err(pool_error)
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
    use std::time::Duration;

    use argon2::PasswordHasher;

    use super::*;

    fn pool() -> HashPool {
        HashPool::new(2, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let pool = pool();
        let h = hash(&pool, "correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify(&pool, "correct horse".into(), h.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify(&pool, "wrong horse".into(), h.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify(&pool, "x".into(), "not a hash".into())
                .await
                .unwrap()
        );
        let too_long = "a".repeat(MAX_LEN + 1);
        assert!(!verify(&pool, too_long, h).await.unwrap());
        assert!(validate_new("short").is_err());
        assert_ne!(generate(), generate());
    }

    #[test]
    fn hashes_from_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::PasswordVerifier;
        let mut memory = vec![Block::new(); Params::DEFAULT.block_count()];
        let theirs = Argon2::default()
            .hash_password(b"pass phrase")
            .unwrap()
            .to_string();
        assert!(verify_in(&mut memory, "pass phrase", &theirs));
        assert!(!verify_in(&mut memory, "pass phrasE", &theirs));
        let ours = hash_in(&mut memory, "pass phrase").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pass phrase", ours.as_str())
                .is_ok()
        );
    }

    #[test]
    fn other_parameters_verify_in_a_larger_or_smaller_buffer() {
        let mut memory = vec![Block::new(); Params::DEFAULT.block_count()];
        for m_cost in [8 * 1024, 32 * 1024] {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"other params")
                .unwrap()
                .to_string();
            assert!(
                verify_in(&mut memory, "other params", &stored),
                "m={m_cost}"
            );
            assert!(
                !verify_in(&mut memory, "other param", &stored),
                "m={m_cost}"
            );
        }
        let greedy = Params::new(MAX_STORED_M_COST + 8, 1, 1, None).unwrap();
        let stored = format!(
            "$argon2id$v=19$m={},t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            greedy.m_cost()
        );
        assert!(!verify_in(&mut memory, "anything", &stored));
    }

    #[test]
    fn legacy_hashes_verify_through_the_same_entry() {
        let mut memory = vec![Block::new(); 8];
        let stored = super::super::legacy_hash::import(&super::super::legacy_hash::v3_hash(
            "changeme123",
            "salt",
        ))
        .unwrap();
        assert!(verify_in(&mut memory, "changeme123", &stored));
        assert!(!verify_in(&mut memory, "changeme124", &stored));
    }
}
