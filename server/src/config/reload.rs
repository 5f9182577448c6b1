//! The hot-reloaded snapshot: policy, JWT keys and declared API keys, read
//! from the config and secrets directories, validated as a whole, and swapped
//! in atomically. An invalid set is refused and the last good one stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use notify::{RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::jwt::{JwtKeys, KeySource};
use crate::config::Settings;
use crate::http::scopes::Scopes;
use crate::state::AppState;
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::now_ms;

pub const JWT_KEYS_FILE: &str = "jwt-keys.json";
pub const API_KEYS_FILE: &str = "api-keys.json";
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";
/// The generated key, in the data dir, when no key is configured.
pub const GENERATED_JWT_FILE: &str = "jwt-secret";
pub const POLICY_FILE: &str = "policy.yaml";

/// Where the policy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySource {
    File,
    Kubernetes,
    BuiltInDefault,
}

/// Where a set of inputs was read: both feed the same parse → validate → swap path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSource {
    /// The mounted config and secrets directories.
    File,
    /// The ConfigMap and Secret, read through the Kubernetes API.
    Kubernetes,
}

impl InputSource {
    pub fn as_str(self) -> &'static str {
        match self {
            InputSource::File => "file",
            InputSource::Kubernetes => "kubernetes",
        }
    }
}

/// Where the inputs live, for error messages (never their contents).
#[derive(Clone, Debug)]
pub enum Location {
    Dirs {
        config: PathBuf,
        secrets: PathBuf,
    },
    Kubernetes {
        namespace: String,
        configmap: String,
        secret: String,
    },
}

impl Location {
    fn source(&self) -> InputSource {
        match self {
            Location::Dirs { .. } => InputSource::File,
            Location::Kubernetes { .. } => InputSource::Kubernetes,
        }
    }

    fn policy(&self) -> String {
        match self {
            Location::Dirs { config, .. } => config.join(POLICY_FILE).display().to_string(),
            Location::Kubernetes {
                namespace,
                configmap,
                ..
            } => {
                format!("ConfigMap {namespace}/{configmap} key {POLICY_FILE}")
            }
        }
    }

    fn secret(&self, key: &str) -> String {
        match self {
            Location::Dirs { secrets, .. } => secrets.join(key).display().to_string(),
            Location::Kubernetes {
                namespace, secret, ..
            } => format!("Secret {namespace}/{secret} key {key}"),
        }
    }
}

/// The raw contents a snapshot is built from, however they were obtained.
/// `None` is a missing file or key. No `Debug`: it holds secrets.
#[derive(Clone)]
pub struct Inputs {
    pub location: Location,
    pub policy: Option<Vec<u8>>,
    pub jwt_keys: Option<Vec<u8>>,
    pub api_keys: Option<Vec<u8>>,
}

impl Inputs {
    /// Reads the config and secrets directories.
    pub fn read_files(settings: &Settings) -> Result<Inputs, String> {
        Ok(Inputs {
            location: Location::Dirs {
                config: settings.config_dir.clone(),
                secrets: settings.secrets_dir.clone(),
            },
            policy: read_optional(&settings.policy_path())?,
            jwt_keys: read_optional(&settings.secrets_dir.join(JWT_KEYS_FILE))?,
            api_keys: read_optional(&settings.secrets_dir.join(API_KEYS_FILE))?,
        })
    }

    pub fn source(&self) -> InputSource {
        self.location.source()
    }

    /// SHA-256 of the raw contents: equal digests mean the source has not changed.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.policy, &self.jwt_keys, &self.api_keys] {
            match part {
                None => hasher.update([0]),
                Some(bytes) => {
                    hasher.update([1]);
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(bytes);
                }
            }
        }
        hex::encode(hasher.finalize())
    }
}

/// An API key declared in the secrets dir (its hash only).
#[derive(Clone, Debug)]
pub struct DeclaredKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
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

/// Reload bookkeeping shown by `/health` and `/metrics`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadStatus {
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub reloads: u64,
    pub failures: u64,
    /// When a source last delivered inputs that validated (applied or already in force).
    pub last_sync_at: Option<i64>,
    /// Whether the Kubernetes API source is following the objects right now.
    pub api_active: bool,
    /// Failed reads of the Kubernetes API (unreachable, forbidden, relist).
    pub sync_errors: u64,
    pub last_sync_error: Option<String>,
    /// Digest of the inputs each source last delivered: a source whose
    /// contents did not change (a kubelet still showing the old files) is
    /// ignored, so it never undoes a newer change from the other source.
    /// The flag says whether those inputs validated.
    #[serde(skip)]
    pub seen: HashMap<InputSource, (String, bool)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JwtKeysFile {
    signing_kid: String,
    keys: Vec<JwtKeyEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JwtKeyEntry {
    kid: String,
    secret: String,
    #[serde(default)]
    retired_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeclaredKeyEntry {
    name: String,
    sha256: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn parse_time(text: &str, field: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            format!("{field}: {text:?} is not an RFC 3339 time such as 2026-01-01T00:00:00Z")
        })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: cannot read: {err}", path.display())),
    }
}

/// Parses `jwt-keys.json`; the messages name fields, never secrets.
pub fn parse_jwt_keys(bytes: &[u8]) -> Result<JwtKeys, String> {
    let file: JwtKeysFile = serde_json::from_slice(bytes)
        .map_err(|e| format!("{JWT_KEYS_FILE}: invalid JSON: {}", strip_json_values(&e)))?;
    if file.keys.is_empty() {
        return Err(format!(
            "{JWT_KEYS_FILE}: keys: at least one key is required"
        ));
    }
    let mut secrets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, key) in file.keys.into_iter().enumerate() {
        if key.kid.trim().is_empty() {
            return Err(format!("{JWT_KEYS_FILE}: keys[{i}].kid: must not be empty"));
        }
        if !seen.insert(key.kid.clone()) {
            return Err(format!(
                "{JWT_KEYS_FILE}: keys[{i}].kid: {:?} appears twice",
                key.kid
            ));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(key.secret.trim())
            .map_err(|_| format!("{JWT_KEYS_FILE}: keys[{i}].secret: not valid base64"))?;
        if secret.len() < 32 {
            return Err(format!(
                "{JWT_KEYS_FILE}: keys[{i}].secret: decodes to {} bytes; at least 32 are required",
                secret.len()
            ));
        }
        let retired_at = key
            .retired_at
            .as_deref()
            .map(|t| parse_time(t, &format!("{JWT_KEYS_FILE}: keys[{i}].retiredAt")))
            .transpose()?;
        secrets.push((key.kid, secret, retired_at));
    }
    match secrets.iter().find(|(kid, _, _)| *kid == file.signing_kid) {
        None => {
            return Err(format!(
                "{JWT_KEYS_FILE}: signingKid: {:?} is not one of the listed keys",
                file.signing_kid
            ));
        }
        Some((_, _, Some(_))) => {
            return Err(format!(
                "{JWT_KEYS_FILE}: signingKid: {:?} is retired",
                file.signing_kid
            ));
        }
        Some(_) => {}
    }
    Ok(JwtKeys::new(
        file.signing_kid,
        secrets,
        KeySource::SecretsDir,
    ))
}

/// serde_json errors may quote input; keep only the position.
fn strip_json_values(err: &serde_json::Error) -> String {
    format!(
        "line {} column {} ({:?})",
        err.line(),
        err.column(),
        err.classify()
    )
}

/// Parses `api-keys.json`.
pub fn parse_declared_keys(bytes: &[u8]) -> Result<HashMap<String, DeclaredKey>, String> {
    let entries: Vec<DeclaredKeyEntry> = serde_json::from_slice(bytes)
        .map_err(|e| format!("{API_KEYS_FILE}: invalid JSON: {}", strip_json_values(&e)))?;
    let mut out = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if entry.name.trim().is_empty() {
            return Err(format!("{API_KEYS_FILE}: [{i}].name: must not be empty"));
        }
        let hash = entry.sha256.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].sha256: must be 64 hex characters"
            ));
        }
        let scopes = Scopes::parse_names(&entry.scopes)
            .map_err(|e| format!("{API_KEYS_FILE}: [{i}].scopes: {e}"))?;
        if scopes.is_empty() {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].scopes: at least one scope is required"
            ));
        }
        let expires_at = entry
            .expires_at
            .as_deref()
            .map(|t| parse_time(t, &format!("{API_KEYS_FILE}: [{i}].expiresAt")))
            .transpose()?;
        if out
            .insert(
                hash,
                DeclaredKey {
                    name: entry.name,
                    scopes,
                    expires_at,
                },
            )
            .is_some()
        {
            return Err(format!(
                "{API_KEYS_FILE}: [{i}].sha256: the same key is declared twice"
            ));
        }
    }
    Ok(out)
}

/// Applies the `AI_CORS_*` / `AI_RATE_LIMIT_*` environment overrides to a document.
fn apply_overrides(doc: &mut policy::PolicyDocument, settings: &Settings) {
    let o = &settings.overrides;
    if let Some(origins) = &o.cors_origins {
        doc.cors.allowed_origins = origins.clone();
    }
    if let Some(credentials) = o.cors_allow_credentials {
        doc.cors.allow_credentials = Some(credentials);
    }
    if let Some(methods) = &o.cors_methods {
        doc.cors.allowed_methods = methods.clone();
    }
    if let Some(headers) = &o.cors_headers {
        doc.cors.allowed_headers = headers.clone();
    }
    if let Some(enabled) = o.rate_limit_enabled {
        doc.rate_limits.enabled = Some(enabled);
    }
    if let Some(per_minute) = o.rate_limit_default {
        doc.rate_limits.default = Some(policy::RateLimit {
            requests: per_minute,
            per: "1m".into(),
        });
    }
}

/// Parses and validates the policy; a missing one means the built-in default.
fn load_policy(
    settings: &Settings,
    inputs: &Inputs,
) -> Result<(policy::Policy, PolicySource, String), String> {
    let (base, source) = match &inputs.policy {
        Some(bytes) => {
            let label = inputs.location.policy();
            let text =
                std::str::from_utf8(bytes).map_err(|_| format!("{label}: not UTF-8 text"))?;
            let policy =
                policy::Policy::from_yaml(text).map_err(|e| format!("{label} is invalid:\n{e}"))?;
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
    if settings.overrides.is_empty() {
        let hash = base.hash().to_string();
        return Ok((base, source, hash));
    }
    let mut doc = base.document().clone();
    apply_overrides(&mut doc, settings);
    let policy = policy::Policy::compile(doc).map_err(|e| {
        format!(
            "the policy with the AI_CORS_*/AI_RATE_LIMIT_* environment overrides is invalid:\n{e}"
        )
    })?;
    let hash = policy.hash().to_string();
    Ok((policy, source, hash))
}

/// The key used when neither the secrets dir nor the environment has one:
/// generated once, stored 0600 in the data dir, reused after a restart.
pub fn generated_jwt_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(GENERATED_JWT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(String::from_utf8_lossy(&bytes).trim())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{} is not valid base64; delete it to generate a new key",
                        path.display()
                    )
                })?;
            if secret.len() < 32 {
                anyhow::bail!(
                    "{} holds fewer than 32 bytes; delete it to generate a new key",
                    path.display()
                );
            }
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let mut secret = vec![0u8; 48];
            rand::fill(&mut secret[..]);
            let tmp = data_dir.join(format!(".{GENERATED_JWT_FILE}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(&secret)
                    .as_bytes(),
            )?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            tracing::warn!(path = %path.display(), "no JWT key configured: generated one and stored it with mode 0600");
            Ok(secret)
        }
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
    }
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
) -> Result<Candidate, String> {
    parse_candidate(settings, fallback_jwt, &Inputs::read_files(settings)?)
}

/// Parses and validates a set of inputs as a whole; no side effects.
pub fn parse_candidate(
    settings: &Settings,
    fallback_jwt: Option<&JwtKeys>,
    inputs: &Inputs,
) -> Result<Candidate, String> {
    let (policy, policy_source, policy_hash) = load_policy(settings, inputs)?;
    let jwt_bytes = &inputs.jwt_keys;
    let jwt = match jwt_bytes {
        Some(bytes) => parse_jwt_keys(bytes)?,
        None => fallback_jwt.cloned().ok_or_else(|| {
            format!(
                "{}: missing, and no AI_JWT_SECRET_KEY is set; the keys in force stay",
                inputs.location.secret(JWT_KEYS_FILE)
            )
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

/// Re-reads the directories and swaps the snapshot in when it changed and is valid.
/// Returns whether a new snapshot was installed.
pub async fn reload(state: &AppState, trigger: &str) -> bool {
    let settings = state.settings.clone();
    let read = tokio::task::spawn_blocking(move || Inputs::read_files(&settings))
        .await
        .unwrap_or_else(|e| Err(format!("reload task failed: {e}")));
    match read {
        Ok(inputs) => apply(state, &inputs, trigger).await,
        Err(error) => {
            let _guard = state.reload_lock.lock().await;
            refuse(state, error, trigger, InputSource::File).await
        }
    }
}

/// The one path every source takes: parse → validate → atomic swap.
/// Inputs equal to what their source delivered last are ignored, and a
/// snapshot equal to the one in force keeps its generation, so two sources
/// showing the same configuration never flap. Returns whether a new
/// snapshot was installed.
pub async fn apply(state: &AppState, inputs: &Inputs, trigger: &str) -> bool {
    let source = inputs.source();
    let digest = inputs.digest();
    let _guard = state.reload_lock.lock().await;
    {
        let mut status = lock(&state.reload_status);
        if let Some((seen, valid)) = status.seen.get(&source)
            && *seen == digest
        {
            if *valid {
                status.last_sync_at = Some(now_ms());
            }
            return false;
        }
    }
    let parsed = parse_candidate(&state.settings, state.fallback_jwt.as_deref(), inputs);
    let current = state.snapshot();
    let installed = match parsed {
        Ok(candidate) if candidate.fingerprint == current.fingerprint => {
            // Valid and already in force (e.g. a broken input reverted): nothing to swap.
            let mut status = lock(&state.reload_status);
            status.last_sync_at = Some(now_ms());
            status.last_error = None;
            status.last_error_at = None;
            false
        }
        Ok(candidate) => {
            let snapshot = candidate.into_snapshot(current.generation + 1);
            state.limiter.update(&snapshot.policy);
            let generation = snapshot.generation;
            let hash = snapshot.policy.hash().to_string();
            state.current.store(Arc::new(snapshot));
            state
                .metrics
                .policy_generation
                .set(i64::try_from(generation).unwrap_or(i64::MAX));
            {
                let mut status = lock(&state.reload_status);
                status.reloads += 1;
                status.last_error = None;
                status.last_error_at = None;
                status.last_sync_at = Some(now_ms());
            }
            state.metrics.policy_reloads.inc();
            tracing::info!(generation, policy_hash = %hash, trigger, source = source.as_str(), "configuration reloaded");
            state
                .audit
                .record(
                    AuditEvent::new("config.reload", Outcome::Success)
                        .actor("system")
                        .target(format!("generation {generation}"))
                        .reason(format!(
                            "trigger: {trigger}; source: {}; policy hash {hash}",
                            source.as_str()
                        )),
                )
                .await;
            true
        }
        Err(error) => {
            refuse(state, error, trigger, source).await;
            lock(&state.reload_status)
                .seen
                .insert(source, (digest, false));
            return false;
        }
    };
    lock(&state.reload_status)
        .seen
        .insert(source, (digest, true));
    installed
}

/// Records a refused configuration; the snapshot in force stays. Called with the reload lock held.
async fn refuse(state: &AppState, error: String, trigger: &str, source: InputSource) -> bool {
    let generation = state.snapshot().generation;
    {
        let mut status = lock(&state.reload_status);
        if status.last_error.as_deref() == Some(error.as_str()) {
            // The same broken input seen again (several file events): already reported.
            return false;
        }
        status.failures += 1;
        status.last_error = Some(error.clone());
        status.last_error_at = Some(now_ms());
    }
    state.metrics.policy_reload_failures.inc();
    tracing::error!(%error, trigger, source = source.as_str(), generation, "configuration refused; the last good one stays in force");
    state
        .audit
        .record(
            AuditEvent::new("config.reload", Outcome::Failure)
                .actor("system")
                .target(format!("generation {generation} kept"))
                .reason(error),
        )
        .await;
    false
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Watches both directories (Kubernetes swaps a `..data` symlink inside them,
/// so single files are not watched) and listens for SIGHUP. Runs until the
/// process ends; returns the watcher, which must be kept alive.
pub fn spawn_watchers(state: AppState) -> anyhow::Result<Option<notify::RecommendedWatcher>> {
    // The snapshot in force at start was read from these files.
    let first = state.snapshot();
    {
        let mut status = lock(&state.reload_status);
        status
            .seen
            .entry(InputSource::File)
            .or_insert((first.inputs_digest.clone(), true));
        status.last_sync_at.get_or_insert(first.loaded_at);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let dirs: Vec<PathBuf> = [
        state.settings.config_dir.clone(),
        state.settings.secrets_dir.clone(),
    ]
    .into_iter()
    .filter(|d| d.is_dir())
    .collect();
    let watcher = if dirs.is_empty() {
        None
    } else {
        let file_tx = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let _ = file_tx.send("file change");
                }
            })?;
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
            tracing::info!(dir = %dir.display(), "watching for configuration changes");
        }
        Some(watcher)
    };

    let hup_tx = tx.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            if hup_tx.send("SIGHUP").is_err() {
                break;
            }
        }
    });

    tokio::spawn(async move {
        while let Some(mut trigger) = rx.recv().await {
            // Let an editor or the kubelet finish its burst of writes, then read once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Ok(next) = rx.try_recv() {
                if next == "SIGHUP" {
                    trigger = next;
                }
            }
            reload(&state, trigger).await;
        }
    });
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![1u8; n])
    }

    #[test]
    fn jwt_key_files_are_validated() {
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
        assert!(
            parse_jwt_keys(short.as_bytes())
                .unwrap_err()
                .contains("at least 32")
        );
        let missing = format!(
            r#"{{"signingKid":"k9","keys":[{{"kid":"k1","secret":"{}"}}]}}"#,
            b64(32)
        );
        assert!(
            parse_jwt_keys(missing.as_bytes())
                .unwrap_err()
                .contains("signingKid")
        );
        let retired = format!(
            r#"{{"signingKid":"k1","keys":[{{"kid":"k1","secret":"{}","retiredAt":"2026-01-01T00:00:00Z"}}]}}"#,
            b64(32)
        );
        assert!(
            parse_jwt_keys(retired.as_bytes())
                .unwrap_err()
                .contains("retired")
        );
        let unknown = r#"{"signingKid":"k1","keys":[],"extra":1}"#;
        assert!(parse_jwt_keys(unknown.as_bytes()).is_err());
    }

    #[test]
    fn declared_keys_are_validated() {
        let hash = "a".repeat(64);
        let ok = format!(
            r#"[{{"name":"ci","sha256":"{hash}","scopes":["read","execute"],"expiresAt":"2027-01-01T00:00:00Z"}}]"#
        );
        let keys = parse_declared_keys(ok.as_bytes()).unwrap();
        assert!(keys[&hash].scopes.has(crate::http::scopes::Scope::Execute));
        assert!(
            parse_declared_keys(br#"[{"name":"ci","sha256":"xyz","scopes":["read"]}]"#).is_err()
        );
        let bad_scope = format!(r#"[{{"name":"ci","sha256":"{hash}","scopes":["root"]}}]"#);
        assert!(parse_declared_keys(bad_scope.as_bytes()).is_err());
    }

    #[test]
    fn generated_secret_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = generated_jwt_secret(dir.path()).unwrap();
        let second = generated_jwt_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        let mode = std::fs::metadata(dir.path().join(GENERATED_JWT_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
