//! The contents of the generated Secret `<name>-auth`: the JWT key set (with
//! key ids, rotation keeping old keys for verification), the admin password
//! (referenced, or generated once) and API keys as SHA-256 hashes only.
//!
//! Pure: randomness comes in as [`Fresh`] and time as `now`, so the same
//! inputs give the same output.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use policy::contract::{
    ADMIN_PASSWORD_FILE, FileError, JWT_KEYS_FILE, JwtKey, JwtKeySet, MIN_JWT_SECRET_BYTES,
    api_key_sha256, parse_jwt_keys,
};
use sha2::{Digest, Sha256};

/// Annotation on an Orchestrator: a new value adds a new signing key.
pub const ROTATE_ANNOTATION: &str = "ai-orchestrator.io/rotate-jwt-key";
/// Annotation on the generated Secret: the rotation value already handled.
pub const ROTATION_DONE_ANNOTATION: &str = "ai-orchestrator.io/jwt-key-rotated";
/// Access-token lifetime assumed when the spec sets none, for pruning retired keys.
const DEFAULT_ACCESS_MINUTES: u32 = 24 * 60;

/// Random material drawn by the caller, used only when something must be generated.
#[derive(Clone)]
pub struct Fresh {
    /// Base64 of a new JWT key.
    pub jwt_secret: String,
    /// A new admin password.
    pub admin_password: String,
}

impl std::fmt::Debug for Fresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fresh(<redacted>)")
    }
}

impl Fresh {
    /// 48 random bytes for the JWT key and a 32-character password.
    pub fn generate() -> Fresh {
        use rand::RngExt;
        let mut rng = rand::rng();
        let key: [u8; 48] = rng.random();
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let password: String = (0..32)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Fresh {
            jwt_secret: BASE64.encode(key),
            admin_password: password,
        }
    }
}

/// What the generated Secret already holds.
#[derive(Clone, Debug, Default)]
pub struct Existing {
    pub jwt_keys: Option<JwtKeySet>,
    pub admin_password: Option<String>,
    pub rotation_done: Option<String>,
}

/// Problems with the inputs of the generated Secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the referenced JWT secret is {0} bytes; at least {MIN_JWT_SECRET_BYTES} are required")]
    JwtSecretTooShort(usize),
    #[error(
        "the existing Secret {secret} holds an unreadable {JWT_KEYS_FILE}: {source}; fix or delete it"
    )]
    UnreadableJwtKeys {
        secret: String,
        #[source]
        source: FileError,
    },
    #[error(
        "the existing Secret {secret} holds an {ADMIN_PASSWORD_FILE} that is not UTF-8; fix or delete it"
    )]
    UnreadableAdminPassword { secret: String },
    #[error("the rendered key set is refused: {0}")]
    JwtKeys(#[source] FileError),
    #[error("the referenced admin password is empty")]
    EmptyAdminPassword,
}

impl Existing {
    /// Reads the generated Secret's data; a present but unreadable key set is
    /// an error rather than a reason to regenerate (that would log everyone out).
    pub fn from_secret(
        secret: &k8s_openapi::api::core::v1::Secret,
    ) -> Result<Existing, SecretError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let data = secret.data.clone().unwrap_or_default();
        let jwt_keys = match data.get(JWT_KEYS_FILE) {
            Some(bytes) => Some(
                parse_jwt_keys(&bytes.0)
                    .map_err(|source| SecretError::UnreadableJwtKeys {
                        secret: name.clone(),
                        source,
                    })?
                    .set,
            ),
            None => None,
        };
        let admin_password = match data.get(ADMIN_PASSWORD_FILE) {
            Some(bytes) => Some(String::from_utf8(bytes.0.clone()).map_err(|_| {
                SecretError::UnreadableAdminPassword {
                    secret: name.clone(),
                }
            })?),
            None => None,
        };
        let rotation_done = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROTATION_DONE_ANNOTATION))
            .cloned();
        Ok(Existing {
            jwt_keys,
            admin_password,
            rotation_done,
        })
    }
}

/// Everything that decides the JWT key set.
#[derive(Debug)]
pub struct JwtInputs<'a> {
    pub existing: Option<&'a JwtKeySet>,
    /// The value of `auth.jwtSecretRef`, when set.
    pub referenced: Option<&'a [u8]>,
    /// The Orchestrator's rotation annotation value.
    pub rotate_request: Option<&'a str>,
    /// The rotation value already handled.
    pub rotation_done: Option<&'a str>,
    pub fresh_secret: &'a str,
    pub now: Timestamp,
    pub access_token_minutes: Option<u32>,
}

/// The next key set, and the rotation value to record as handled.
///
/// Existing keys are kept; a retired key is dropped only once every token it
/// signed has expired. With a referenced secret the key id derives from its
/// hash, so changing the secret rotates; otherwise a new value of the
/// rotation annotation adds a generated key.
pub fn jwt_key_set(input: &JwtInputs<'_>) -> Result<(JwtKeySet, Option<String>), SecretError> {
    let now = Timestamp::from_second(input.now.as_second()).unwrap_or(input.now);
    let mut set = input.existing.cloned().unwrap_or(JwtKeySet {
        signing_kid: String::new(),
        keys: Vec::new(),
    });
    let lifetime_minutes =
        i64::from(input.access_token_minutes.unwrap_or(DEFAULT_ACCESS_MINUTES)) + 5;
    let signing = set.signing_kid.clone();
    set.keys.retain(|key| {
        if key.kid == signing {
            return true;
        }
        match key.retired_at.as_deref().map(str::parse::<Timestamp>) {
            Some(Ok(retired)) => retired
                .checked_add(SignedDuration::from_mins(lifetime_minutes))
                .is_ok_and(|until| until > now),
            _ => true,
        }
    });
    if !set.keys.iter().any(|k| k.kid == set.signing_kid) {
        set.signing_kid.clear();
    }
    let rotation_done = input.rotation_done.map(str::to_string);
    match input.referenced {
        Some(value) => {
            if value.len() < MIN_JWT_SECRET_BYTES {
                return Err(SecretError::JwtSecretTooShort(value.len()));
            }
            let kid = format!("ref-{}", &hex::encode(Sha256::digest(value))[..12]);
            if set.signing_kid != kid {
                if !set.keys.iter().any(|k| k.kid == kid) {
                    set.keys.push(JwtKey {
                        kid: kid.clone(),
                        secret: BASE64.encode(value),
                        retired_at: None,
                    });
                }
                switch_signing(&mut set, &kid, now);
            }
            Ok((set, rotation_done))
        }
        None => {
            let rotate =
                input.rotate_request.is_some() && input.rotate_request != input.rotation_done;
            let generated_signing =
                !set.signing_kid.is_empty() && !set.signing_kid.starts_with("ref-");
            if generated_signing && !rotate {
                return Ok((set, rotation_done));
            }
            let kid = next_kid(&set);
            set.keys.push(JwtKey {
                kid: kid.clone(),
                secret: input.fresh_secret.to_string(),
                retired_at: None,
            });
            switch_signing(&mut set, &kid, now);
            Ok((
                set,
                input.rotate_request.map(str::to_string).or(rotation_done),
            ))
        }
    }
}

fn switch_signing(set: &mut JwtKeySet, kid: &str, now: Timestamp) {
    let old = std::mem::replace(&mut set.signing_kid, kid.to_string());
    for key in &mut set.keys {
        if key.kid == old && key.retired_at.is_none() {
            key.retired_at = Some(now.to_string());
        }
        if key.kid == kid {
            key.retired_at = None;
        }
    }
}

fn next_kid(set: &JwtKeySet) -> String {
    let highest = set
        .keys
        .iter()
        .filter_map(|k| k.kid.strip_prefix('k').and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    format!("k{}", highest + 1)
}

/// The admin password: the referenced one, else the one generated before,
/// else the fresh one.
pub fn admin_password(
    referenced: Option<&[u8]>,
    existing: Option<&str>,
    fresh: &str,
) -> Result<Vec<u8>, SecretError> {
    match referenced {
        Some(value) if value.trim_ascii().is_empty() => Err(SecretError::EmptyAdminPassword),
        Some(value) => Ok(value.to_vec()),
        None => Ok(existing.unwrap_or(fresh).as_bytes().to_vec()),
    }
}

/// The hash of an API key as stored in a Secret (trailing whitespace, such
/// as the newline `echo` adds, is not part of the key).
pub fn api_key_hash(value: &[u8]) -> String {
    api_key_sha256(value.trim_ascii_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn now() -> Timestamp {
        "2026-11-25T18:00:00Z".parse().expect("timestamp")
    }

    fn inputs<'a>(existing: Option<&'a JwtKeySet>, fresh: &'a str) -> JwtInputs<'a> {
        JwtInputs {
            existing,
            referenced: None,
            rotate_request: None,
            rotation_done: None,
            fresh_secret: fresh,
            now: now(),
            access_token_minutes: Some(30),
        }
    }

    #[test]
    fn generates_once_and_keeps_the_key() {
        let (first, _) = jwt_key_set(&inputs(None, "AAAA")).expect("first");
        assert_eq!(first.signing_kid, "k1");
        assert_eq!(first.keys.len(), 1);
        let (second, _) = jwt_key_set(&inputs(Some(&first), "BBBB")).expect("second");
        assert_eq!(
            second, first,
            "a later reconcile must not regenerate the key"
        );
    }

    #[test]
    fn rotation_adds_a_key_and_retires_the_old_one_once() {
        let (first, _) = jwt_key_set(&inputs(None, "AAAA")).expect("first");
        let mut rotate = inputs(Some(&first), "BBBB");
        rotate.rotate_request = Some("2026-11-25");
        let (rotated, done) = jwt_key_set(&rotate).expect("rotate");
        assert_eq!(rotated.signing_kid, "k2");
        assert_eq!(done.as_deref(), Some("2026-11-25"));
        assert_eq!(
            rotated.keys[0].retired_at.as_deref(),
            Some("2026-11-25T18:00:00Z")
        );
        assert_eq!(rotated.keys[1].secret, "BBBB");
        // The same annotation value again does nothing.
        let mut again = inputs(Some(&rotated), "CCCC");
        again.rotate_request = Some("2026-11-25");
        again.rotation_done = done.as_deref();
        let (same, _) = jwt_key_set(&again).expect("again");
        assert_eq!(same, rotated);
    }

    #[test]
    fn retired_keys_are_dropped_after_tokens_expire() {
        let (first, _) = jwt_key_set(&inputs(None, "AAAA")).expect("first");
        let mut rotate = inputs(Some(&first), "BBBB");
        rotate.rotate_request = Some("x");
        let (rotated, _) = jwt_key_set(&rotate).expect("rotate");
        let mut soon = inputs(Some(&rotated), "CCCC");
        soon.rotate_request = Some("x");
        soon.rotation_done = Some("x");
        soon.now = now()
            .checked_add(SignedDuration::from_mins(20))
            .expect("time");
        assert_eq!(jwt_key_set(&soon).expect("soon").0.keys.len(), 2);
        soon.now = now()
            .checked_add(SignedDuration::from_mins(36))
            .expect("time");
        let (pruned, _) = jwt_key_set(&soon).expect("later");
        assert_eq!(pruned.keys.len(), 1);
        assert_eq!(pruned.keys[0].kid, "k2");
    }

    #[test]
    fn referenced_secret_becomes_the_signing_key() {
        let value = [7u8; 40];
        let (first, _) = jwt_key_set(&inputs(None, "AAAA")).expect("first");
        let mut with_ref = inputs(Some(&first), "BBBB");
        with_ref.referenced = Some(&value);
        let (set, _) = jwt_key_set(&with_ref).expect("ref");
        assert!(set.signing_kid.starts_with("ref-"));
        assert_eq!(set.keys.len(), 2);
        let short = [1u8; 10];
        with_ref.referenced = Some(&short);
        assert_eq!(
            jwt_key_set(&with_ref),
            Err(SecretError::JwtSecretTooShort(10))
        );
    }

    #[test]
    fn admin_password_prefers_reference_then_existing() {
        assert_eq!(
            admin_password(Some(b"ref"), Some("old"), "new").expect("ref"),
            b"ref"
        );
        assert_eq!(
            admin_password(None, Some("old"), "new").expect("old"),
            b"old"
        );
        assert_eq!(admin_password(None, None, "new").expect("new"), b"new");
        assert!(admin_password(Some(b"\n"), None, "new").is_err());
    }

    #[test]
    fn api_key_hash_ignores_trailing_newline() {
        assert_eq!(api_key_hash(b"ak_test\n"), api_key_hash(b"ak_test"));
        assert_eq!(
            api_key_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fresh_material_differs_each_time() {
        let a = Fresh::generate();
        let b = Fresh::generate();
        assert_ne!(a.jwt_secret, b.jwt_secret);
        assert_ne!(a.admin_password, b.admin_password);
        assert_eq!(BASE64.decode(&a.jwt_secret).expect("b64").len(), 48);
    }
}
