//! Orchestrator + its AccessPolicies + referenced secret values + the existing
//! generated Secret → the Kubernetes objects that run the server. Pure: one
//! module per object kind, `policies` for selecting and merging the
//! AccessPolicies, `references` for the Secrets read.

mod configmap;
mod deployment;
mod env;
mod meta;
mod pod_template;
mod policies;
mod pvc;
mod rbac;
mod references;
mod secret;
mod service;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::core::{ParseExpressionError, Selector};
use kube::{Resource, ResourceExt};
use serde_json::Value;

pub use deployment::{RESTART_HASH_ANNOTATION, Restarts, SERVER_UID, restart_hash};
pub use env::DATA_DIR;
pub use meta::{MANAGER, auth_secret_name, labels, pod_selector, policy_configmap_name, pvc_name};
pub use pod_template::{merge_pod_template, merge_value};
pub use policies::{
    PolicyOutcome, PolicySet, PolicyVerdict, base_document, merge_policies, policy_set, selects,
    validate_policy,
};
pub use references::{SecretUse, SecretValues, secret_names, secret_uses};

use crate::crd::{Orchestrator, SecretKeyRef};
use crate::secrets::{Existing, Fresh, SecretError};

/// Why nothing can be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("Secret {name:?} referenced by {purpose} does not exist")]
    MissingSecret { name: String, purpose: String },
    #[error("Secret {name:?} referenced by {purpose} has no key {key:?}")]
    MissingSecretKey {
        name: String,
        key: String,
        purpose: String,
    },
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("invalid spec: spec.policySelector: {0}")]
    Selector(#[source] ParseExpressionError),
    #[error("invalid spec: spec.podTemplate: {0}")]
    PodTemplate(#[source] serde_json::Error),
    /// The selected policies' keys do not form a valid `api-keys.json`
    /// (a name or a key declared by two policies).
    #[error("AccessPolicy {policy} apiKeys[{key}]: {error}{also}")]
    ApiKeys {
        policy: String,
        key: String,
        /// Which other policy declared the same name or key.
        also: String,
        #[source]
        error: Box<policy::contract::FileError>,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Everything `render` reads.
#[derive(Debug)]
pub struct RenderInput<'a> {
    pub orchestrator: &'a Orchestrator,
    pub policies: &'a PolicySet,
    pub secrets: &'a SecretValues,
    /// The generated Secret as it exists now.
    pub existing: &'a Existing,
    pub fresh: &'a Fresh,
    pub now: Timestamp,
}

/// The desired objects.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// Absent when the merged policy is invalid, so the last good one stays in force.
    pub config_map: Option<ConfigMap>,
    pub auth_secret: Secret,
    pub service_account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub service: Service,
    /// Absent with an external database.
    pub pvc: Option<PersistentVolumeClaim>,
    pub deployment: Deployment,
    pub policy: PolicyOutcome,
    pub url: String,
    /// The OpenAI-compatible door's base URL, when `spec.api.openai` is on.
    pub openai_url: Option<String>,
    /// The MCP endpoint, when `spec.api.mcp` is on.
    pub mcp_url: Option<String>,
}

impl Rendered {
    /// Every object as JSON, in apply order.
    pub fn objects_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut push = |v: Result<Value, serde_json::Error>| {
            if let Ok(v) = v {
                out.push(v);
            }
        };
        push(serde_json::to_value(&self.service_account));
        push(serde_json::to_value(&self.role));
        push(serde_json::to_value(&self.role_binding));
        if let Some(cm) = &self.config_map {
            push(serde_json::to_value(cm));
        }
        push(serde_json::to_value(&self.auth_secret));
        if let Some(pvc) = &self.pvc {
            push(serde_json::to_value(pvc));
        }
        push(serde_json::to_value(&self.service));
        push(serde_json::to_value(&self.deployment));
        out
    }
}

/// The spec rules the API server's schema cannot express.
pub fn check_spec(orch: &Orchestrator) -> Result<(), RenderError> {
    let spec = &orch.spec;
    if spec.replicas > 1 && spec.database.is_none() {
        return Err(RenderError::InvalidSpec(
            "spec.replicas > 1 requires spec.database.urlSecretRef (SQLite serves one replica only)".into(),
        ));
    }
    if spec.replicas < 0 {
        return Err(RenderError::InvalidSpec(
            "spec.replicas must not be negative".into(),
        ));
    }
    if let Some(selector) = &spec.policy_selector {
        Selector::try_from(selector.clone()).map_err(RenderError::Selector)?;
    }
    Ok(())
}

/// Renders every object of `input.orchestrator`.
pub fn render(input: &RenderInput<'_>) -> Result<Rendered, RenderError> {
    let orch = input.orchestrator;
    let namespace = orch.namespace().unwrap_or_else(|| "default".to_string());
    let owner = orch
        .controller_owner_ref(&())
        .ok_or_else(|| RenderError::InvalidSpec("the Orchestrator has no uid yet".into()))?;
    check_spec(orch)?;
    let referenced = |r: &Option<SecretKeyRef>, purpose: &str| match r {
        Some(r) => references::lookup(input.secrets, r, purpose).map(Some),
        None => Ok(None),
    };
    let admin_ref = referenced(
        &orch.spec.auth.admin_password_secret_ref,
        "spec.auth.adminPasswordSecretRef",
    )?;
    let jwt_ref = referenced(&orch.spec.auth.jwt_secret_ref, "spec.auth.jwtSecretRef")?;
    let database_url = match &orch.spec.database {
        Some(db) => Some(references::lookup(
            input.secrets,
            &db.url_secret_ref,
            "spec.database.urlSecretRef",
        )?),
        None => None,
    };
    // Read at pod start, so a new key restarts the pods (through the restart hash).
    let llm_api_key = referenced(
        &orch.spec.llm.api_key_secret_ref,
        "spec.llm.apiKeySecretRef",
    )?;
    let auth_secret = secret::auth_secret(input, &owner, admin_ref, jwt_ref)?;
    let policy = merge_policies(orch, input.policies);
    let (service, url) = service::service(orch, &owner, &namespace);
    Ok(Rendered {
        config_map: configmap::config_map(orch, &owner, &policy),
        auth_secret,
        service_account: rbac::service_account(orch, &owner),
        role: rbac::role(orch, &owner),
        role_binding: rbac::role_binding(orch, &owner, &namespace),
        service,
        pvc: pvc::pvc(orch, &owner),
        deployment: deployment::deployment(
            orch,
            &orch.name_any(),
            &owner,
            Restarts {
                database_url,
                llm_api_key,
            },
        )?,
        policy,
        openai_url: orch.spec.api.openai.then(|| format!("{url}/v1")),
        mcp_url: orch.spec.api.mcp.then(|| format!("{url}/mcp")),
        url,
    })
}
