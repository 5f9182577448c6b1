//! The reconcile pipeline: dereference (policies, secrets, generated Secret)
//! → validate → render (pure) → apply (server-side apply) → status and Events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{info, warn};

use crate::crd::{AccessPolicy, AccessPolicyStatus, Orchestrator, OrchestratorStatus};
use crate::metrics::Metrics;
use crate::render::{self, MANAGER, RenderError, RenderInput, SecretValues};
use crate::secrets::{Existing, Fresh};

/// Why a reconcile failed; `category` labels metrics and Events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    MissingSecret(String),
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{0}")]
    GeneratedSecret(String),
}

impl Error {
    /// Short label used in metrics and as the Event/condition reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::MissingSecret(_) => "missing_secret",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::GeneratedSecret(_) => "generated_secret",
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "ApiError",
            Error::MissingSecret(_) => "SecretMissing",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::GeneratedSecret(_) => "GeneratedSecretUnreadable",
        }
    }
}

impl From<RenderError> for Error {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::MissingSecret { .. } | RenderError::MissingSecretKey { .. } => {
                Error::MissingSecret(e.to_string())
            }
            RenderError::InvalidSpec(_) => Error::InvalidSpec(e.to_string()),
            RenderError::Secret(_) => Error::GeneratedSecret(e.to_string()),
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

/// Requeues a failed reconcile with exponential backoff (5 s doubling to 5 min).
pub fn error_policy(orch: Arc<Orchestrator>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
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

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply<K>(client: &Client, ns: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = object.meta().name.clone().unwrap_or_default();
    Ok(api
        .patch(&name, &apply_params(), &Patch::Apply(object))
        .await?)
}

async fn reconcile_inner(orch: &Orchestrator, ctx: &Context) -> Result<Action, Error> {
    let ns = orch
        .namespace()
        .ok_or_else(|| Error::InvalidSpec("Orchestrator without namespace".into()))?;
    let name = orch.name_any();
    if orch.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let client = &ctx.client;
    let now = (ctx.clock)();

    // Dereference.
    let policies = Api::<AccessPolicy>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items;
    let set = render::policy_set(orch, &policies);
    let uses = render::secret_uses(orch, &set);
    let names = render::secret_names(&uses);
    if let Ok(mut refs) = ctx.secret_refs.write() {
        refs.insert(ObjectRef::from_obj(orch), names.clone());
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mut values = SecretValues::new();
    for secret_name in &names {
        if let Some(secret) = secrets.get_opt(secret_name).await? {
            values.insert(secret_name.clone(), secret.data.unwrap_or_default());
        }
    }
    let existing = match secrets.get_opt(&render::auth_secret_name(&name)).await? {
        Some(secret) => {
            Existing::from_secret(&secret).map_err(|e| Error::GeneratedSecret(e.to_string()))?
        }
        None => Existing::default(),
    };

    // Validate + render.
    let fresh = (ctx.fresh)();
    let rendered = render::render(&RenderInput {
        orchestrator: orch,
        policies: &set,
        secrets: &values,
        existing: &existing,
        fresh: &fresh,
        now,
    });
    update_policy_statuses(ctx, orch, &policies, &set).await?;
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            let error = Error::from(e);
            write_degraded(client, &ns, &name, orch, &error, now).await?;
            publish_failure(ctx, orch, &error, "Reconcile").await;
            return Err(error);
        }
    };

    // Apply; a refusal (an immutable field, a quota, ...) is shown as Degraded.
    let deployment = match apply_all(client, &ns, &rendered).await {
        Ok(deployment) => deployment,
        Err(error) => {
            if let Err(e) = write_degraded(client, &ns, &name, orch, &error, now).await {
                warn!(error = %e, "could not write the Degraded status");
            }
            publish_failure(ctx, orch, &error, "Apply").await;
            return Err(error);
        }
    };

    // Status.
    let status = success_status(orch, &rendered, &deployment, now);
    if orch.status.as_ref() != Some(&status) {
        patch_status(client, &ns, &name, &status).await?;
    }
    if let Some(message) = &rendered.policy.merge_error {
        publish(
            ctx,
            orch,
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

/// Writes the Degraded status for `error`, unless the object already shows it.
async fn write_degraded(
    client: &Client,
    ns: &str,
    name: &str,
    orch: &Orchestrator,
    error: &Error,
    now: Timestamp,
) -> Result<(), Error> {
    let status = failed_status(orch, error, now);
    if orch.status.as_ref() != Some(&status) {
        patch_status(client, ns, name, &status).await?;
    }
    Ok(())
}

/// A Warning event for a failed step, carrying the error's reason and text.
async fn publish_failure(ctx: &Context, orch: &Orchestrator, error: &Error, action: &str) {
    publish(
        ctx,
        orch,
        EventType::Warning,
        error.reason(),
        &error.to_string(),
        action,
    )
    .await;
}

async fn publish(
    ctx: &Context,
    orch: &Orchestrator,
    type_: EventType,
    reason: &str,
    note: &str,
    action: &str,
) {
    publish_for(ctx, &orch.object_ref(&()), type_, reason, note, action).await;
}

async fn publish_for(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
    action: &str,
) {
    let mut note = note.to_string();
    if note.len() > 1000 {
        let mut cut = 1000;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        warn!(error = %e, "could not publish event");
    }
}

/// Applies every rendered object in dependency order; returns the Deployment
/// as the API server stored it (with its status).
async fn apply_all(
    client: &Client,
    ns: &str,
    rendered: &render::Rendered,
) -> Result<Deployment, Error> {
    apply::<ServiceAccount>(client, ns, &rendered.service_account).await?;
    apply::<Role>(client, ns, &rendered.role).await?;
    apply::<RoleBinding>(client, ns, &rendered.role_binding).await?;
    if let Some(cm) = &rendered.config_map {
        apply::<ConfigMap>(client, ns, cm).await?;
    }
    apply::<Secret>(client, ns, &rendered.auth_secret).await?;
    if let Some(pvc) = &rendered.pvc {
        apply::<PersistentVolumeClaim>(client, ns, pvc).await?;
    }
    apply::<Service>(client, ns, &rendered.service).await?;
    apply::<Deployment>(client, ns, &rendered.deployment).await
}

async fn patch_status(
    client: &Client,
    ns: &str,
    name: &str,
    status: &OrchestratorStatus,
) -> Result<(), Error> {
    let api: Api<Orchestrator> = Api::namespaced(client.clone(), ns);
    let body = json!({
        "apiVersion": "ai-orchestrator.io/v1alpha1",
        "kind": "Orchestrator",
        "status": status,
    });
    api.patch_status(name, &apply_params(), &Patch::Apply(&body))
        .await?;
    Ok(())
}

/// A condition, keeping the previous transition time when the status is unchanged.
fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

fn previous_conditions(orch: &Orchestrator) -> Vec<Condition> {
    orch.status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default()
}

fn policy_condition(
    orch: &Orchestrator,
    outcome: &render::PolicyOutcome,
    now: Timestamp,
) -> Condition {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let mut problems: Vec<String> = outcome
        .invalid
        .iter()
        .map(|(name, message)| format!("AccessPolicy {name} left out: {message}"))
        .collect();
    if let Some(e) = &outcome.merge_error {
        problems.push(format!("merged policy invalid, last good policy kept: {e}"));
    }
    if problems.is_empty() {
        condition(
            &prev,
            "PolicyValid",
            true,
            "Valid",
            "every selected AccessPolicy is valid",
            generation,
            now,
        )
    } else {
        let reason = if outcome.merge_error.is_some() {
            "MergedPolicyInvalid"
        } else {
            "AccessPolicyInvalid"
        };
        condition(
            &prev,
            "PolicyValid",
            false,
            reason,
            &problems.join("; "),
            generation,
            now,
        )
    }
}

/// Status after a successful apply.
pub fn success_status(
    orch: &Orchestrator,
    rendered: &render::Rendered,
    deployment: &Deployment,
    now: Timestamp,
) -> OrchestratorStatus {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let desired = orch.spec.replicas;
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let updated = ds.updated_replicas.unwrap_or(0);
    let caught_up = ds.observed_generation.is_some()
        && ds.observed_generation >= deployment.metadata.generation;
    let is_ready = ready >= desired;
    let progressing = !(is_ready && updated >= desired && caught_up);
    let mut conditions = vec![
        condition(
            &prev,
            "Ready",
            is_ready,
            if is_ready {
                "ServerReady"
            } else {
                "ServerNotReady"
            },
            &format!("{ready}/{desired} server pods ready"),
            generation,
            now,
        ),
        policy_condition(orch, &rendered.policy, now),
        condition(
            &prev,
            "Progressing",
            progressing,
            if progressing {
                "RollingOut"
            } else {
                "Complete"
            },
            if progressing {
                "waiting for the server pods to be updated and ready"
            } else {
                "all server pods are up to date"
            },
            generation,
            now,
        ),
        condition(
            &prev,
            "Degraded",
            false,
            "Reconciled",
            "all objects applied",
            generation,
            now,
        ),
    ];
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    // Keep the previous policy hash when the merged policy was refused (the last good one is in force).
    let policy_hash = rendered
        .policy
        .hash
        .clone()
        .or_else(|| orch.status.as_ref().and_then(|s| s.policy_hash.clone()));
    OrchestratorStatus {
        observed_generation: generation,
        conditions,
        ready_replicas: Some(ready),
        policy_hash,
        applied_policies: rendered.policy.applied.clone(),
        url: Some(rendered.url.clone()),
        openai_url: rendered.openai_url.clone(),
        mcp_url: rendered.mcp_url.clone(),
    }
}

/// Status after a reconcile that could not render: Degraded with the reason,
/// everything else as it was.
pub fn failed_status(orch: &Orchestrator, error: &Error, now: Timestamp) -> OrchestratorStatus {
    let prev = previous_conditions(orch);
    let generation = orch.metadata.generation;
    let mut status = orch.status.clone().unwrap_or_default();
    let message = error.to_string();
    let mut conditions: BTreeMap<String, Condition> =
        prev.iter().map(|c| (c.type_.clone(), c.clone())).collect();
    conditions.insert(
        "Degraded".into(),
        condition(
            &prev,
            "Degraded",
            true,
            error.reason(),
            &message,
            generation,
            now,
        ),
    );
    conditions.entry("Ready".into()).or_insert_with(|| {
        condition(
            &prev,
            "Ready",
            false,
            error.reason(),
            &message,
            generation,
            now,
        )
    });
    status.conditions = conditions.into_values().collect();
    status.observed_generation = generation;
    status
}

/// Writes `valid`, `message`, `boundTo` on every AccessPolicy of the namespace
/// whose status changed, with an Event when a policy becomes invalid.
async fn update_policy_statuses(
    ctx: &Context,
    orch: &Orchestrator,
    policies: &[AccessPolicy],
    set: &render::PolicySet,
) -> Result<(), Error> {
    let Some(ns) = orch.namespace() else {
        return Ok(());
    };
    let mut orchestrators: Vec<Arc<Orchestrator>> = ctx
        .orchestrators
        .state()
        .into_iter()
        .filter(|o| o.namespace() == orch.namespace() && o.name_any() != orch.name_any())
        .collect();
    orchestrators.push(Arc::new(orch.clone()));
    let api: Api<AccessPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    for policy in policies {
        let verdict = match set.verdicts.iter().find(|v| v.name == policy.name_any()) {
            Some(v) => v.result.clone().map(|_| ()),
            None => render::validate_policy(policy).map(|_| ()),
        };
        let mut bound_to: Vec<String> = orchestrators
            .iter()
            .filter(|o| render::selects(o, policy))
            .map(|o| o.name_any())
            .collect();
        bound_to.sort();
        let status = AccessPolicyStatus {
            observed_generation: policy.metadata.generation,
            valid: Some(verdict.is_ok()),
            message: verdict.as_ref().err().cloned(),
            bound_to,
        };
        if policy.status.as_ref() == Some(&status) {
            continue;
        }
        let body = json!({
            "apiVersion": "ai-orchestrator.io/v1alpha1",
            "kind": "AccessPolicy",
            "status": status,
        });
        api.patch_status(&policy.name_any(), &apply_params(), &Patch::Apply(&body))
            .await?;
        let was_invalid_same_generation = policy.status.as_ref().is_some_and(|s| {
            s.valid == Some(false) && s.observed_generation == policy.metadata.generation
        });
        if let Err(message) = &verdict
            && !was_invalid_same_generation
        {
            publish_for(
                ctx,
                &policy.object_ref(&()),
                EventType::Warning,
                "InvalidPolicy",
                message,
                "Validate",
            )
            .await;
        }
    }
    Ok(())
}

/// Orchestrators of the policy's namespace: any of them may select it now or
/// may have selected it before a label change, and a reconcile is cheap.
pub fn orchestrators_for_policy(
    store: &Store<Orchestrator>,
    policy: &AccessPolicy,
) -> Vec<ObjectRef<Orchestrator>> {
    store
        .state()
        .iter()
        .filter(|o| o.namespace() == policy.namespace())
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Orchestrators that own the Secret or read it.
pub fn orchestrators_for_secret(
    store: &Store<Orchestrator>,
    refs: &RwLock<HashMap<ObjectRef<Orchestrator>, BTreeSet<String>>>,
    secret: &Secret,
) -> Vec<ObjectRef<Orchestrator>> {
    let name = secret.name_any();
    let ns = secret.namespace();
    let known = refs.read().map(|r| r.clone()).unwrap_or_default();
    let mut out: Vec<ObjectRef<Orchestrator>> = store
        .state()
        .iter()
        .filter(|o| o.namespace() == ns)
        .filter(|o| {
            let this = ObjectRef::from_obj(o.as_ref());
            let direct = [
                o.spec.auth.admin_password_secret_ref.as_ref(),
                o.spec.auth.jwt_secret_ref.as_ref(),
                o.spec.database.as_ref().map(|d| &d.url_secret_ref),
            ]
            .into_iter()
            .flatten()
            .any(|r| r.name == name);
            direct
                || known.get(&this).is_some_and(|names| names.contains(&name))
                || render::auth_secret_name(&o.name_any()) == name
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect();
    out.sort_by_key(|r| r.name.clone());
    out
}

/// Runs the controller over one namespace (or all when `None`) until the
/// future is dropped.
pub async fn run(client: Client, namespace: Option<String>, metrics: Arc<Metrics>) {
    fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    let controller = Controller::new(
        api::<Orchestrator>(&client, &namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let ctx = Arc::new(Context::new(client.clone(), metrics, store.clone()));
    let policy_store = store.clone();
    let secret_store = store.clone();
    let secret_ctx = ctx.clone();
    controller
        .owns(api::<ConfigMap>(&client, &namespace), owned.clone())
        .owns(api::<Deployment>(&client, &namespace), owned.clone())
        .owns(api::<Service>(&client, &namespace), owned.clone())
        .owns(
            api::<PersistentVolumeClaim>(&client, &namespace),
            owned.clone(),
        )
        .owns(api::<ServiceAccount>(&client, &namespace), owned.clone())
        .owns(api::<Role>(&client, &namespace), owned.clone())
        .owns(api::<RoleBinding>(&client, &namespace), owned)
        .watches(
            api::<AccessPolicy>(&client, &namespace),
            watcher::Config::default(),
            move |p| orchestrators_for_policy(&policy_store, &p),
        )
        .watches(
            api::<Secret>(&client, &namespace),
            watcher::Config::default(),
            move |s| orchestrators_for_secret(&secret_store, &secret_ctx.secret_refs, &s),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
