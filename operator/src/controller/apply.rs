//! Writes with server-side apply (field manager [`MANAGER`], forced): the
//! rendered objects in dependency order, and the status subresources.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Error;
use crate::crd::{AccessPolicy, AccessPolicyStatus, Orchestrator, OrchestratorStatus};
use crate::render::{MANAGER, Rendered};

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply<K>(client: &Client, ns: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
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

/// Applies every rendered object in dependency order; returns the Deployment
/// as the API server stored it (with its status).
pub async fn apply_all(
    client: &Client,
    ns: &str,
    rendered: &Rendered,
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

pub async fn patch_status(
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

pub async fn patch_policy_status(
    client: &Client,
    ns: &str,
    name: &str,
    status: &AccessPolicyStatus,
) -> Result<(), Error> {
    let api: Api<AccessPolicy> = Api::namespaced(client.clone(), ns);
    let body = json!({
        "apiVersion": "ai-orchestrator.io/v1alpha1",
        "kind": "AccessPolicy",
        "status": status,
    });
    api.patch_status(name, &apply_params(), &Patch::Apply(&body))
        .await?;
    Ok(())
}
