//! The snapshot: everything that changes without a restart, parsed and
//! validated together from one set of [`Inputs`] before it may be swapped in.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::jwt::JwtKeys;
use crate::config::files::{DeclaredKey, JWT_KEYS_FILE, parse_declared_keys, parse_jwt_keys};
use crate::config::inputs::{InputSource, Inputs};
use crate::config::overrides::apply_overrides;
use crate::config::{ReloadError, Settings};
use crate::store::db::now_ms;

/// Where the policy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySource {
    File,
    Kubernetes,
    BuiltInDefault,
}

/// Everything that changes without a restart, validated together.
pub struct Snapshot {
    pub policy: policy::Policy,
    pub policy_source: PolicySource,
    /// The CORS layer built from `policy`.
    pub cors: tower_http::cors::CorsLayer,
    /// Access tokens already verified against this snapshot's keys.
    pub jwt_cache: crate::auth::jwt::VerifiedCache,
    pub jwt: JwtKeys,
    /// Declared API keys by the hex SHA-256 of the full key.
    pub declared_keys: HashMap<String, DeclaredKey>,
    pub generation: u64,
    /// Fingerprint of the policy and the secrets files together.
    pub fingerprint: String,
    /// [`Inputs::digest`] of what this snapshot was built from.
    pub inputs_digest: String,
    pub loaded_at: i64,
}

/// Parses and validates the policy; a missing one means the built-in default.
fn load_policy(
    settings: &Settings,
    inputs: &Inputs,
) -> Result<(policy::Policy, PolicySource, String), ReloadError> {
    let (base, source) = match &inputs.policy {
        Some(bytes) => {
            let label = inputs.location.policy();
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ReloadError::Policy(format!("{label}: not UTF-8 text")))?;
            let policy = policy::Policy::from_yaml(text)
                .map_err(|e| ReloadError::Policy(format!("{label} is invalid:\n{e}")))?;
            let source = match inputs.source() {
                InputSource::File => PolicySource::File,
                InputSource::Kubernetes => PolicySource::Kubernetes,
            };
            (policy, source)
        }
        None => (
            policy::Policy::default_policy(),
            PolicySource::BuiltInDefault,
        ),
    };
    super::reaches_own_files(&base, &settings.own_paths()).map_err(|e| {
        ReloadError::Policy(match &inputs.policy {
            Some(_) => format!("{} is refused: {e}", inputs.location.policy()),
            None => format!("the built-in default policy cannot be used here: {e}"),
        })
    })?;
    if settings.overrides.is_empty() {
        let hash = base.hash().to_string();
        return Ok((base, source, hash));
    }
    let mut doc = base.document().clone();
    apply_overrides(&mut doc, settings);
    let policy = policy::Policy::compile(doc).map_err(|e| {
        ReloadError::Overrides(format!(
            "the policy with the AI_CORS_*/AI_RATE_LIMIT_* environment overrides is invalid:\n{e}"
        ))
    })?;
    let hash = policy.hash().to_string();
    Ok((policy, source, hash))
}

/// A loaded but not yet installed snapshot.
pub struct Candidate {
    pub policy: policy::Policy,
    pub policy_source: PolicySource,
    pub jwt: JwtKeys,
    pub declared_keys: HashMap<String, DeclaredKey>,
    pub fingerprint: String,
    pub inputs_digest: String,
}

/// Reads both directories and validates everything; no side effects.
/// `fallback_jwt` is the environment or generated key, used without `jwt-keys.json`.
pub fn load_candidate(
    settings: &Settings,
    fallback_jwt: Option<&JwtKeys>,
) -> Result<Candidate, ReloadError> {
    parse_candidate(settings, fallback_jwt, &Inputs::read_files(settings)?)
}

/// Parses and validates a set of inputs as a whole; no side effects.
pub fn parse_candidate(
    settings: &Settings,
    fallback_jwt: Option<&JwtKeys>,
    inputs: &Inputs,
) -> Result<Candidate, ReloadError> {
    let (policy, policy_source, policy_hash) = load_policy(settings, inputs)?;
    let jwt_bytes = &inputs.jwt_keys;
    let jwt = match jwt_bytes {
        Some(bytes) => parse_jwt_keys(bytes)?,
        None => fallback_jwt
            .cloned()
            .ok_or_else(|| ReloadError::MissingJwtKeys {
                location: inputs.location.secret(JWT_KEYS_FILE),
            })?,
    };
    let key_bytes = &inputs.api_keys;
    let declared_keys = match key_bytes {
        Some(bytes) => parse_declared_keys(bytes)?,
        None => HashMap::new(),
    };
    let mut hasher = Sha256::new();
    hasher.update(policy_hash.as_bytes());
    hasher.update([0]);
    hasher.update(jwt_bytes.as_deref().unwrap_or_default());
    hasher.update([0]);
    hasher.update(key_bytes.as_deref().unwrap_or_default());
    Ok(Candidate {
        policy,
        policy_source,
        jwt,
        declared_keys,
        fingerprint: hex::encode(hasher.finalize()),
        inputs_digest: inputs.digest(),
    })
}

impl Candidate {
    pub fn into_snapshot(self, generation: u64) -> Snapshot {
        Snapshot {
            cors: crate::http::cors::layer_for(&self.policy),
            jwt_cache: Default::default(),
            policy: self.policy,
            policy_source: self.policy_source,
            jwt: self.jwt,
            declared_keys: self.declared_keys,
            generation,
            fingerprint: self.fingerprint,
            inputs_digest: self.inputs_digest,
            loaded_at: now_ms(),
        }
    }
}
