//! Swapping the snapshot: every source (file watchers, SIGHUP, the
//! Kubernetes API) takes the same parse → validate → atomic swap path. An
//! invalid set is refused, counted and audited, and the last good one stays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::ReloadError;
use crate::config::inputs::{InputSource, Inputs};
use crate::config::snapshot::parse_candidate;
use crate::metrics::ReasonLabels;
use crate::state::AppState;
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::now_ms;

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

/// Re-reads the directories and swaps the snapshot in when it changed and is valid.
/// Returns whether a new snapshot was installed.
pub async fn reload(state: &AppState, trigger: &str) -> bool {
    let settings = state.settings.clone();
    let read = tokio::task::spawn_blocking(move || Inputs::read_files(&settings))
        .await
        .unwrap_or_else(|e| Err(ReloadError::Task(e.to_string())));
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
async fn refuse(state: &AppState, error: ReloadError, trigger: &str, source: InputSource) -> bool {
    let reason = error.reason();
    let error = error.to_string();
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
    state
        .metrics
        .policy_reload_refusals
        .get_or_create(&ReasonLabels {
            reason: reason.into(),
        })
        .inc();
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
