//! Access tokens: HS* JWTs with a `kid`, pinned algorithm, issuer, audience,
//! `type: access`, and a small leeway. Keys come from the current snapshot.

use std::collections::HashMap;
use std::sync::RwLock;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtSettings;

/// One verification (and possibly signing) key.
#[derive(Clone)]
pub struct JwtKey {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Unix ms after which the key stops signing; it verifies until this plus the token lifetime.
    pub retired_at: Option<i64>,
}

/// Where the keys came from, shown (without the keys) in the security config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    SecretsDir,
    Environment,
    Generated,
}

/// The key set of one snapshot.
#[derive(Clone)]
pub struct JwtKeys {
    pub signing_kid: String,
    pub keys: HashMap<String, JwtKey>,
    pub source: KeySource,
}

/// Shows key ids only, never key material.
impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing_kid)
            .field("kids", &self.kids())
            .field("source", &self.source)
            .finish()
    }
}

impl JwtKeys {
    /// Builds a key set; `secrets` are raw key bytes (already length-checked).
    pub fn new(
        signing_kid: String,
        secrets: Vec<(String, Vec<u8>, Option<i64>)>,
        source: KeySource,
    ) -> JwtKeys {
        let keys = secrets
            .into_iter()
            .map(|(kid, secret, retired_at)| {
                let key = JwtKey {
                    kid: kid.clone(),
                    encoding: EncodingKey::from_secret(&secret),
                    decoding: DecodingKey::from_secret(&secret),
                    retired_at,
                };
                (kid, key)
            })
            .collect();
        JwtKeys {
            signing_kid,
            keys,
            source,
        }
    }

    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub scopes: Vec<String>,
    #[serde(rename = "type")]
    pub token_type: String,
    /// The user's stable id: a user created again under the same name is not this one.
    #[serde(default)]
    pub uid: String,
    /// The user's token generation at issue; a password change or disable bumps it.
    #[serde(default)]
    pub generation: i64,
}

/// Why a token was refused (logged and audited; never contains the token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    UnknownKey,
    RetiredKey,
    BadSignatureOrClaims,
    Expired,
    NotAccess,
    IssuedInFuture,
}

impl JwtError {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed token",
            JwtError::UnknownKey => "unknown signing key",
            JwtError::RetiredKey => "signing key retired",
            JwtError::BadSignatureOrClaims => "invalid signature, algorithm, issuer or audience",
            JwtError::Expired => "token expired",
            JwtError::NotAccess => "not an access token",
            JwtError::IssuedInFuture => "token issued in the future",
        }
    }
}

fn now_secs() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

/// Who an access token speaks for: the name (`sub`, as v3 clients read it), the stable id and
/// the token generation the server checks on every request.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub username: &'a str,
    pub uid: &'a str,
    pub generation: i64,
}

/// Signs an access token with the signing key; returns the token and its `jti`.
pub fn issue(
    keys: &JwtKeys,
    settings: &JwtSettings,
    subject: Subject<'_>,
    scopes: Vec<String>,
) -> anyhow::Result<(String, String)> {
    let key = keys
        .keys
        .get(&keys.signing_kid)
        .ok_or_else(|| anyhow::anyhow!("the signing key id is not in the key set"))?;
    let now = now_secs();
    let mut jti_bytes = [0u8; 16];
    rand::fill(&mut jti_bytes);
    let jti = hex::encode(jti_bytes);
    let claims = AccessClaims {
        sub: subject.username.to_string(),
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        exp: now + settings.access_ttl.as_secs(),
        iat: now,
        jti: jti.clone(),
        scopes,
        token_type: "access".into(),
        uid: subject.uid.to_string(),
        generation: subject.generation,
    };
    let mut header = Header::new(settings.algorithm);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
    Ok((token, jti))
}

/// Verifies signature, algorithm, key id and lifetime, issuer, audience and type.
#[cfg(test)]
pub fn verify(
    keys: &JwtKeys,
    settings: &JwtSettings,
    token: &str,
) -> Result<AccessClaims, JwtError> {
    verify_until(keys, settings, token).map(|(claims, _)| claims)
}

/// Verifies signature, algorithm, key id and lifetime, issuer, audience and
/// type, also returning until when (unix ms) the answer holds:
/// the expiry plus leeway, or the end of a retired key's grace period.
fn verify_until(
    keys: &JwtKeys,
    settings: &JwtSettings,
    token: &str,
) -> Result<(AccessClaims, i64), JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.alg != settings.algorithm {
        return Err(JwtError::BadSignatureOrClaims);
    }
    let kid = header.kid.ok_or(JwtError::UnknownKey)?;
    let key = keys.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
    let mut valid_until = i64::MAX;
    if let Some(retired_at) = key.retired_at {
        let grace_ms = i64::try_from(settings.access_ttl.as_millis()).unwrap_or(i64::MAX);
        valid_until = retired_at.saturating_add(grace_ms);
        if crate::store::db::now_ms() > valid_until {
            return Err(JwtError::RetiredKey);
        }
    }
    let mut validation = Validation::new(settings.algorithm);
    validation.algorithms = vec![settings.algorithm];
    validation.leeway = settings.leeway_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = false;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud", "jti"]);
    let data =
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|err| {
            match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::BadSignatureOrClaims,
            }
        })?;
    let claims = data.claims;
    if claims.token_type != "access" {
        return Err(JwtError::NotAccess);
    }
    if claims.iat > now_secs() + settings.leeway_seconds {
        return Err(JwtError::IssuedInFuture);
    }
    let expires = i64::try_from(claims.exp.saturating_add(settings.leeway_seconds))
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    Ok((claims, valid_until.min(expires)))
}

/// What a verified access token says, as the request path needs it.
#[derive(Clone, Debug)]
pub struct Verified {
    pub sub: String,
    pub uid: String,
    pub generation: i64,
    pub scopes: crate::http::scopes::Scopes,
    valid_until: i64,
}

/// Tokens already verified with one snapshot's keys, by SHA-256 of the
/// token, so that repeated requests skip parsing and the HMAC. It lives in
/// the snapshot: a reload (new keys) starts empty. Entries end with the
/// token's expiry or its key's grace period; the user is still checked on
/// every request.
#[derive(Default)]
pub struct VerifiedCache {
    entries: RwLock<HashMap<[u8; 32], Verified>>,
}

const CACHE_LIMIT: usize = 10_000;

impl VerifiedCache {
    pub fn verify(
        &self,
        keys: &JwtKeys,
        settings: &JwtSettings,
        token: &str,
    ) -> Result<Verified, JwtError> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = crate::store::db::now_ms();
        if let Some(hit) = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            && hit.valid_until >= now
        {
            return Ok(hit.clone());
        }
        let (claims, valid_until) = verify_until(keys, settings, token)?;
        let verified = Verified {
            scopes: crate::http::scopes::Scopes::of(
                claims
                    .scopes
                    .iter()
                    .filter_map(|s| crate::http::scopes::Scope::parse(s).ok()),
            ),
            sub: claims.sub,
            uid: claims.uid,
            generation: claims.generation,
            valid_until,
        };
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, v| v.valid_until >= now);
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
        }
        entries.insert(digest, verified.clone());
        Ok(verified)
    }
}

/// The only algorithms a key set may be used with (shared secrets).
pub fn is_supported(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn subject(username: &str) -> Subject<'_> {
        Subject {
            username,
            uid: "uid-1",
            generation: 0,
        }
    }

    fn settings() -> JwtSettings {
        JwtSettings {
            algorithm: Algorithm::HS256,
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(3600),
            env_secret: None,
            issuer: "ai-orchestrator".into(),
            audience: "ai-orchestrator".into(),
            leeway_seconds: 5,
        }
    }

    fn keys(retired_at: Option<i64>) -> JwtKeys {
        JwtKeys::new(
            "k1".into(),
            vec![("k1".into(), vec![7u8; 32], retired_at)],
            KeySource::Environment,
        )
    }

    #[test]
    fn issued_tokens_verify_and_tampering_fails() {
        let (token, jti) = issue(
            &keys(None),
            &settings(),
            subject("alice"),
            vec!["read".into()],
        )
        .unwrap();
        let claims = verify(&keys(None), &settings(), &token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.jti), ("alice", jti));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(verify(&keys(None), &settings(), &tampered).is_err());
        let mut other = settings();
        other.audience = "other".into();
        assert_eq!(
            verify(&keys(None), &other, &token).unwrap_err(),
            JwtError::BadSignatureOrClaims
        );
    }

    #[test]
    fn the_cache_answers_only_for_the_exact_token_and_its_lifetime() {
        let cache = VerifiedCache::default();
        let (token, _) = issue(
            &keys(None),
            &settings(),
            subject("alice"),
            vec!["read".into()],
        )
        .unwrap();
        let first = cache.verify(&keys(None), &settings(), &token).unwrap();
        let again = cache.verify(&keys(None), &settings(), &token).unwrap();
        assert_eq!((first.sub.as_str(), again.sub.as_str()), ("alice", "alice"));
        assert!(again.scopes.has(crate::http::scopes::Scope::Read));
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(cache.verify(&keys(None), &settings(), &tampered).is_err());
        let recently = crate::store::db::now_ms() - 1_000;
        let (retired, _) =
            issue(&keys(Some(recently)), &settings(), subject("bob"), vec![]).unwrap();
        let hit = cache
            .verify(&keys(Some(recently)), &settings(), &retired)
            .unwrap();
        assert!(
            hit.valid_until <= recently + 60_000,
            "bounded by the grace period"
        );
    }

    #[test]
    fn retired_keys_stop_after_the_grace_period() {
        let (token, _) = issue(&keys(None), &settings(), subject("alice"), vec![]).unwrap();
        let recently = crate::store::db::now_ms() - 1_000;
        assert!(verify(&keys(Some(recently)), &settings(), &token).is_ok());
        let long_ago = crate::store::db::now_ms() - 120_000;
        assert_eq!(
            verify(&keys(Some(long_ago)), &settings(), &token).unwrap_err(),
            JwtError::RetiredKey
        );
    }
}
