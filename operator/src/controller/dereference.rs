//! What a reconcile reads: the namespace's AccessPolicies (from the
//! reflector store, no request), the referenced Secrets and the generated
//! Secret (from the API, so their values are current).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::{Context, Error};
use crate::crd::{AccessPolicy, Orchestrator};
use crate::render::{self, PolicySet, SecretValues};
use crate::secrets::Existing;

/// Everything the render needs besides the Orchestrator.
pub struct Inputs {
    /// Every AccessPolicy of the namespace (for their statuses).
    pub policies: Vec<Arc<AccessPolicy>>,
    pub set: PolicySet,
    pub values: SecretValues,
    pub existing: Existing,
}

pub async fn dereference(ctx: &Context, orch: &Orchestrator, ns: &str) -> Result<Inputs, Error> {
    ctx.policies
        .wait_until_ready()
        .await
        .map_err(Error::PolicyCache)?;
    let mut policies: Vec<Arc<AccessPolicy>> = ctx
        .policies
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns))
        .collect();
    policies.sort_by_key(|p| p.name_any());
    let set = render::policy_set(orch, policies.iter().map(Arc::as_ref));
    let names = render::secret_names(&render::secret_uses(orch, &set));
    if let Ok(mut refs) = ctx.secret_refs.write() {
        refs.insert(ObjectRef::from_obj(orch), names.clone());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut values = SecretValues::new();
    for secret_name in &names {
        if let Some(secret) = secrets.get_opt(secret_name).await? {
            values.insert(secret_name.clone(), secret.data.unwrap_or_default());
        }
    }
    let existing = match secrets
        .get_opt(&render::auth_secret_name(&orch.name_any()))
        .await?
    {
        Some(secret) => Existing::from_secret(&secret).map_err(Error::GeneratedSecret)?,
        None => Existing::default(),
    };
    Ok(Inputs {
        policies,
        set,
        values,
        existing,
    })
}
