//! Which changes start a reconcile of which Orchestrator, and the
//! controller wiring them up.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};

use super::{Context, error_policy, reconcile};
use crate::crd::{AccessPolicy, Orchestrator};
use crate::metrics::Metrics;
use crate::render::{self, MANAGER};

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
                o.spec.llm.api_key_secret_ref.as_ref(),
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
    let (policies, writer) = reflector::store::<AccessPolicy>();
    // The store is updated before the change reaches the mapper, so the
    // reconcile it starts reads the new policy.
    let policy_changes = reflector::reflector(
        writer,
        watcher(
            api::<AccessPolicy>(&client, &namespace),
            watcher::Config::default(),
        ),
    )
    .touched_objects();
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        store.clone(),
        policies,
    ));
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
        .watches_stream(policy_changes, move |p| {
            orchestrators_for_policy(&policy_store, &p)
        })
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
