//! The reconcile pipeline: dereference (policies from the reflector store,
//! referenced Secrets, the generated Secret) → render (pure) → apply
//! (server-side apply) → status and Events. `watches` says which changes
//! start a reconcile.

mod apply;
mod dereference;
mod events;
mod status;
mod watches;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, warn};

pub use status::{failed_status, success_status};
pub use watches::{orchestrators_for_policy, orchestrators_for_secret, run};

use crate::crd::{AccessPolicy, Orchestrator};
use crate::metrics::Metrics;
use crate::render::{self, MANAGER, RenderError, RenderInput};
use crate::secrets::{Fresh, SecretError};

/// Why a reconcile failed; `category` labels metrics and Events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    GeneratedSecret(SecretError),
    #[error("the Orchestrator has no namespace")]
    NoNamespace,
    #[error("the AccessPolicy cache never filled: {0}")]
    PolicyCache(#[source] kube::runtime::reflector::store::WriterDropped),
}

impl Error {
    /// Short label used in metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) | Error::PolicyCache(_) => "kube_api",
            Error::Render(RenderError::MissingSecret { .. })
            | Error::Render(RenderError::MissingSecretKey { .. }) => "missing_secret",
            Error::Render(RenderError::Secret(_)) | Error::GeneratedSecret(_) => "generated_secret",
            Error::Render(_) | Error::NoNamespace => "invalid_spec",
        }
    }

    /// The Event and condition reason.
    pub fn reason(&self) -> &'static str {
        match self.category() {
            "kube_api" => "ApiError",
            "missing_secret" => "SecretMissing",
            "generated_secret" => "GeneratedSecretUnreadable",
            _ => "InvalidSpec",
        }
    }
}

/// Shared state of the reconciler.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// All Orchestrators seen by the controller (for `boundTo` and the mappers).
    pub orchestrators: Store<Orchestrator>,
    /// All AccessPolicies, from the same watch that triggers reconciles.
    pub policies: Store<AccessPolicy>,
    /// Secret names each Orchestrator read last time (for the Secret mapper).
    pub secret_refs: RwLock<HashMap<ObjectRef<Orchestrator>, BTreeSet<String>>>,
    failures: Mutex<HashMap<ObjectRef<Orchestrator>, u32>>,
    /// Current time; replaced in tests.
    pub clock: Box<dyn Fn() -> Timestamp + Send + Sync>,
    /// Random material for generated secrets; replaced in tests.
    pub fresh: Box<dyn Fn() -> Fresh + Send + Sync>,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        orchestrators: Store<Orchestrator>,
        policies: Store<AccessPolicy>,
    ) -> Context {
        let reporter = Reporter {
            controller: MANAGER.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            orchestrators,
            policies,
            secret_refs: RwLock::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            clock: Box::new(Timestamp::now),
            fresh: Box::new(Fresh::generate),
        }
    }
}

/// Reconciles one Orchestrator, recording metrics.
pub async fn reconcile(orch: Arc<Orchestrator>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&orch, &ctx).await;
    ctx.metrics.reconciled(started.elapsed());
    if result.is_ok()
        && let Ok(mut failures) = ctx.failures.lock()
    {
        failures.remove(&ObjectRef::from_obj(orch.as_ref()));
    }
    result
}

/// A spec the operator cannot render waits for the next change of a watched
/// object (fixing it is such a change); anything else is retried with
/// exponential backoff (5 s doubling to 5 min).
pub fn error_policy(orch: Arc<Orchestrator>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    if error.category() == "invalid_spec" {
        warn!(orchestrator = %orch.name_any(), namespace = ?orch.namespace(), error = %error, "invalid spec: waiting for a change");
        return Action::await_change();
    }
    let attempts = match ctx.failures.lock() {
        Ok(mut failures) => {
            let n = failures
                .entry(ObjectRef::from_obj(orch.as_ref()))
                .or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    let delay = backoff(attempts);
    warn!(orchestrator = %orch.name_any(), namespace = ?orch.namespace(), category = error.category(), error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// Delay before retry number `attempts` (1-based).
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(6);
    Duration::from_secs((5u64 << exp).min(300))
}

async fn reconcile_inner(orch: &Orchestrator, ctx: &Context) -> Result<Action, Error> {
    let ns = orch.namespace().ok_or(Error::NoNamespace)?;
    let name = orch.name_any();
    if orch.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let client = &ctx.client;
    let now = (ctx.clock)();

    let inputs = dereference::dereference(ctx, orch, &ns).await?;
    let fresh = (ctx.fresh)();
    let rendered = render::render(&RenderInput {
        orchestrator: orch,
        policies: &inputs.set,
        secrets: &inputs.values,
        existing: &inputs.existing,
        fresh: &fresh,
        now,
    });
    status::update_policy_statuses(ctx, orch, &inputs.policies, &inputs.set, now).await?;
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            let error = Error::from(e);
            status::write_degraded(client, &ns, &name, orch, &error, now).await?;
            events::publish_failure(ctx, orch, &error, "Reconcile").await;
            return Err(error);
        }
    };

    // A refusal (an immutable field, a quota, ...) is shown as Degraded.
    let deployment = match apply::apply_all(client, &ns, &rendered).await {
        Ok(deployment) => deployment,
        Err(error) => {
            if let Err(e) = status::write_degraded(client, &ns, &name, orch, &error, now).await {
                warn!(error = %e, "could not write the Degraded status");
            }
            events::publish_failure(ctx, orch, &error, "Apply").await;
            return Err(error);
        }
    };

    let status = success_status(orch, &rendered, &deployment, now);
    if orch.status.as_ref() != Some(&status) {
        apply::patch_status(client, &ns, &name, &status).await?;
    }
    if let Some(message) = &rendered.policy.merge_error {
        events::publish(
            ctx,
            &orch.object_ref(&()),
            EventType::Warning,
            "PolicyMergeInvalid",
            message,
            "Render",
        )
        .await;
    }
    info!(orchestrator = %name, namespace = %ns, policy_hash = ?rendered.policy.hash, "reconciled");
    Ok(Action::requeue(Duration::from_secs(300)))
}
