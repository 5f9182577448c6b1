//! Orchestrator + its AccessPolicies + referenced secret values + the existing
//! generated Secret → the Kubernetes objects that run the server. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, Secret, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};
use kube::{Resource, ResourceExt};
use policy::document::PolicyDocument;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crd::{
    AccessPolicy, AppliedPolicy, DEFAULT_IMAGE, Orchestrator, SERVER_PORT, SecretKeyRef,
};
use crate::secrets::{self, ApiKeyHash, Existing, Fresh, JwtInputs, SecretError};

pub const MANAGER: &str = "ai-orchestrator-operator";
pub const RESTART_HASH_ANNOTATION: &str = "ai-orchestrator.io/restart-hash";
pub const POLICY_FILE: &str = "policy.yaml";
pub const CONFIG_DIR: &str = "/etc/ai-orchestrator";
pub const SECRETS_DIR: &str = "/var/run/secrets/ai-orchestrator";
pub const DATA_DIR: &str = "/data";
/// User and group the server runs as.
pub const SERVER_UID: i64 = 10001;

/// Names of the objects rendered for an Orchestrator.
pub fn policy_configmap_name(orch: &str) -> String {
    format!("{orch}-policy")
}
pub fn auth_secret_name(orch: &str) -> String {
    format!("{orch}-auth")
}
pub fn pvc_name(orch: &str) -> String {
    format!("{orch}-data")
}

/// The labels on everything rendered for `orch`.
pub fn labels(orch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "ai-orchestrator".to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), orch.to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            MANAGER.to_string(),
        ),
    ])
}

fn selector_labels(orch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "ai-orchestrator".to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), orch.to_string()),
    ])
}

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
    #[error("{0}")]
    Secret(#[from] SecretError),
}

/// The verdict on one selected AccessPolicy.
#[derive(Clone, Debug)]
pub struct PolicyVerdict {
    pub name: String,
    pub generation: i64,
    /// The validated document, or the validation errors (`field.path: message` lines).
    pub result: Result<PolicyDocument, String>,
}

/// The AccessPolicies an Orchestrator selects, in name order, each validated.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    pub verdicts: Vec<PolicyVerdict>,
    /// The selected policies' API keys, from valid policies only.
    pub api_keys: Vec<(String, crate::crd::ApiKeySpec)>,
}

/// Whether `orch` selects `policy` (same namespace and matching selector;
/// no selector selects nothing, `{}` selects all).
pub fn selects(orch: &Orchestrator, policy: &AccessPolicy) -> bool {
    if orch.namespace() != policy.namespace() {
        return false;
    }
    let Some(selector) = orch.spec.policy_selector.clone() else {
        return false;
    };
    match Selector::try_from(selector) {
        Ok(selector) => selector.matches(policy.labels()),
        Err(_) => false,
    }
}

/// Checks that the policy selector parses.
fn check_selector(selector: &Option<LabelSelector>) -> Result<(), RenderError> {
    if let Some(s) = selector {
        Selector::try_from(s.clone())
            .map_err(|e| RenderError::InvalidSpec(format!("spec.policySelector: {e}")))?;
    }
    Ok(())
}

/// Validates one AccessPolicy's rules on their own with the policy crate.
/// Validates one AccessPolicy: its rules with the policy crate, its API keys
/// as the server's `api-keys.json` loader would.
pub fn validate_policy(policy: &AccessPolicy) -> Result<PolicyDocument, String> {
    let document = policy.spec.document();
    let mut errors: Vec<String> = match policy::Policy::compile(document.clone()) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    };
    let mut names = BTreeSet::new();
    for (i, key) in policy.spec.api_keys.iter().enumerate() {
        if key.name.trim().is_empty() {
            errors.push(format!("apiKeys[{i}].name: empty"));
        } else if !names.insert(key.name.as_str()) {
            errors.push(format!(
                "apiKeys[{i}].name: `{}` is declared twice",
                key.name
            ));
        }
        if key.scopes.is_empty() {
            errors.push(format!(
                "apiKeys[{i}].scopes: at least one scope is required"
            ));
        }
        if key.secret_ref.name.is_empty() || key.secret_ref.key.is_empty() {
            errors.push(format!("apiKeys[{i}].secretRef: name and key are required"));
        }
    }
    if errors.is_empty() {
        Ok(document)
    } else {
        Err(errors.join("\n"))
    }
}

/// Selects and validates the AccessPolicies of `orch` among `all`.
pub fn policy_set(orch: &Orchestrator, all: &[AccessPolicy]) -> PolicySet {
    let mut selected: Vec<&AccessPolicy> = all.iter().filter(|p| selects(orch, p)).collect();
    selected.sort_by_key(|p| p.name_any());
    let mut set = PolicySet::default();
    for policy in selected {
        let result = validate_policy(policy);
        if result.is_ok() {
            for key in &policy.spec.api_keys {
                set.api_keys.push((policy.name_any(), key.clone()));
            }
        }
        set.verdicts.push(PolicyVerdict {
            name: policy.name_any(),
            generation: policy.metadata.generation.unwrap_or(0),
            result,
        });
    }
    set
}

/// A referenced Secret key and why it is needed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretUse {
    pub secret: SecretKeyRef,
    pub purpose: String,
}

/// Every Secret key the rendering reads, besides the generated Secret.
pub fn secret_uses(orch: &Orchestrator, set: &PolicySet) -> Vec<SecretUse> {
    let mut uses = Vec::new();
    if let Some(r) = &orch.spec.auth.admin_password_secret_ref {
        uses.push(SecretUse {
            secret: r.clone(),
            purpose: "spec.auth.adminPasswordSecretRef".into(),
        });
    }
    if let Some(r) = &orch.spec.auth.jwt_secret_ref {
        uses.push(SecretUse {
            secret: r.clone(),
            purpose: "spec.auth.jwtSecretRef".into(),
        });
    }
    if let Some(db) = &orch.spec.database {
        uses.push(SecretUse {
            secret: db.url_secret_ref.clone(),
            purpose: "spec.database.urlSecretRef".into(),
        });
    }
    for (policy, key) in &set.api_keys {
        uses.push(SecretUse {
            secret: key.secret_ref.clone(),
            purpose: format!("AccessPolicy {policy} apiKeys[{}]", key.name),
        });
    }
    uses
}

/// The values of referenced Secrets, by Secret name then key; a Secret that
/// does not exist is absent.
pub type SecretValues = BTreeMap<String, BTreeMap<String, ByteString>>;

fn lookup<'a>(
    values: &'a SecretValues,
    r: &SecretKeyRef,
    purpose: &str,
) -> Result<&'a [u8], RenderError> {
    let secret = values
        .get(&r.name)
        .ok_or_else(|| RenderError::MissingSecret {
            name: r.name.clone(),
            purpose: purpose.to_string(),
        })?;
    secret
        .get(&r.key)
        .map(|b| b.0.as_slice())
        .ok_or_else(|| RenderError::MissingSecretKey {
            name: r.name.clone(),
            key: r.key.clone(),
            purpose: purpose.to_string(),
        })
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

/// The merged policy, or why it could not be formed.
#[derive(Clone, Debug)]
pub struct PolicyOutcome {
    /// `policy.yaml`, when the merged document is valid.
    pub yaml: Option<String>,
    /// SHA-256 hex of `policy.yaml`.
    pub hash: Option<String>,
    pub applied: Vec<AppliedPolicy>,
    /// Selected policies left out, with their validation errors.
    pub invalid: Vec<(String, String)>,
    /// Validation errors of the merged document (then no ConfigMap is rendered).
    pub merge_error: Option<String>,
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
    /// `<url>/v1` when the OpenAI-compatible API is on.
    pub openai_url: Option<String>,
    /// `<url>/mcp` when the MCP server is on.
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

/// The base document of an Orchestrator: its CORS and rate-limit defaults.
pub fn base_document(orch: &Orchestrator) -> PolicyDocument {
    PolicyDocument {
        version: policy::document::POLICY_VERSION,
        cors: orch.spec.cors.clone().unwrap_or_default(),
        rate_limits: orch.spec.rate_limits.clone().unwrap_or_default(),
        ..PolicyDocument::default()
    }
}

/// Merges the base document with the valid selected policies and validates the result.
pub fn merge_policies(orch: &Orchestrator, set: &PolicySet) -> PolicyOutcome {
    let mut docs = vec![base_document(orch)];
    let mut applied = Vec::new();
    let mut invalid = Vec::new();
    for verdict in &set.verdicts {
        match &verdict.result {
            Ok(doc) => {
                docs.push(doc.clone());
                applied.push(AppliedPolicy {
                    name: verdict.name.clone(),
                    generation: verdict.generation,
                });
            }
            Err(message) => invalid.push((verdict.name.clone(), message.clone())),
        }
    }
    let merged = policy::merge(&docs);
    match policy::Policy::compile(merged.clone()) {
        Ok(_) => {
            let yaml = policy::to_yaml(&merged);
            let hash = hex::encode(Sha256::digest(yaml.as_bytes()));
            PolicyOutcome {
                yaml: Some(yaml),
                hash: Some(hash),
                applied,
                invalid,
                merge_error: None,
            }
        }
        Err(e) => PolicyOutcome {
            yaml: None,
            hash: None,
            applied,
            invalid,
            merge_error: Some(e.to_string()),
        },
    }
}

fn meta(orch: &Orchestrator, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: orch.namespace(),
        labels: Some(labels(&orch.name_any())),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// Renders every object of `input.orchestrator`.
pub fn render(input: &RenderInput<'_>) -> Result<Rendered, RenderError> {
    let orch = input.orchestrator;
    let spec = &orch.spec;
    let name = orch.name_any();
    let namespace = orch.namespace().unwrap_or_else(|| "default".to_string());
    let owner = orch
        .controller_owner_ref(&())
        .ok_or_else(|| RenderError::InvalidSpec("the Orchestrator has no uid yet".into()))?;
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
    check_selector(&spec.policy_selector)?;

    // Referenced secret values (all must exist).
    let admin_ref = match &spec.auth.admin_password_secret_ref {
        Some(r) => Some(lookup(
            input.secrets,
            r,
            "spec.auth.adminPasswordSecretRef",
        )?),
        None => None,
    };
    let jwt_ref = match &spec.auth.jwt_secret_ref {
        Some(r) => Some(lookup(input.secrets, r, "spec.auth.jwtSecretRef")?),
        None => None,
    };
    let database_url = match &spec.database {
        Some(db) => Some(lookup(
            input.secrets,
            &db.url_secret_ref,
            "spec.database.urlSecretRef",
        )?),
        None => None,
    };
    let mut api_keys = Vec::new();
    for (policy, key) in &input.policies.api_keys {
        let value = lookup(
            input.secrets,
            &key.secret_ref,
            &format!("AccessPolicy {policy} apiKeys[{}]", key.name),
        )?;
        api_keys.push(ApiKeyHash {
            name: key.name.clone(),
            sha256: secrets::api_key_hash(value),
            scopes: key.scopes.clone(),
            expires_at: key.expires_at.as_ref().map(|t| t.0.to_string()),
        });
    }

    // The generated Secret.
    let rotate_request = orch
        .annotations()
        .get(secrets::ROTATE_ANNOTATION)
        .map(String::as_str);
    let (jwt_keys, rotation_done) = secrets::jwt_key_set(&JwtInputs {
        existing: input.existing.jwt_keys.as_ref(),
        referenced: jwt_ref,
        rotate_request,
        rotation_done: input.existing.rotation_done.as_deref(),
        fresh_secret: &input.fresh.jwt_secret,
        now: input.now,
        access_token_minutes: spec.auth.access_token_minutes,
    })?;
    let admin = secrets::admin_password(
        admin_ref,
        input.existing.admin_password.as_deref(),
        &input.fresh.admin_password,
    )?;
    let mut auth_meta = meta(orch, auth_secret_name(&name), &owner);
    if let Some(done) = rotation_done {
        auth_meta.annotations = Some(BTreeMap::from([(
            secrets::ROTATION_DONE_ANNOTATION.to_string(),
            done,
        )]));
    }
    let auth_secret = Secret {
        metadata: auth_meta,
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (
                secrets::JWT_KEYS_KEY.to_string(),
                ByteString(secrets::jwt_keys_json(&jwt_keys).into_bytes()),
            ),
            (secrets::ADMIN_PASSWORD_KEY.to_string(), ByteString(admin)),
            (
                secrets::API_KEYS_KEY.to_string(),
                ByteString(secrets::api_keys_json(api_keys).into_bytes()),
            ),
        ])),
        ..Secret::default()
    };

    // The policy.
    let policy = merge_policies(orch, input.policies);
    let config_map = policy.yaml.as_ref().map(|yaml| ConfigMap {
        metadata: meta(orch, policy_configmap_name(&name), &owner),
        data: Some(BTreeMap::from([(POLICY_FILE.to_string(), yaml.clone())])),
        ..ConfigMap::default()
    });

    // Identity and the server's read access to its own ConfigMap and Secret.
    let service_account = ServiceAccount {
        metadata: meta(orch, name.clone(), &owner),
        ..ServiceAccount::default()
    };
    let read = |resource: &str, object: String| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: Some(vec![object]),
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        ..PolicyRule::default()
    };
    let role = Role {
        metadata: meta(orch, name.clone(), &owner),
        rules: Some(vec![
            read("configmaps", policy_configmap_name(&name)),
            read("secrets", auth_secret_name(&name)),
        ]),
    };
    let role_binding = RoleBinding {
        metadata: meta(orch, name.clone(), &owner),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.clone(),
            namespace: Some(namespace.clone()),
            ..Subject::default()
        }]),
    };

    // Service.
    let service_spec = spec.service.clone().unwrap_or_default();
    let port = service_spec.port.unwrap_or(SERVER_PORT);
    let mut service_meta = meta(orch, name.clone(), &owner);
    service_meta.annotations = service_spec.annotations.clone();
    let service = Service {
        metadata: service_meta,
        spec: Some(ServiceSpec {
            type_: Some(service_spec.type_.unwrap_or_default().as_str().to_string()),
            selector: Some(selector_labels(&name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let url = format!("http://{name}.{namespace}.svc:{port}");

    // Storage.
    let pvc = match &spec.database {
        Some(_) => None,
        None => {
            let storage = spec.storage.clone().unwrap_or_default();
            Some(PersistentVolumeClaim {
                metadata: meta(orch, pvc_name(&name), &owner),
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(storage.size.clone().unwrap_or_else(|| "1Gi".into())),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            })
        }
    };

    let deployment = deployment(orch, &name, &owner, database_url)?;
    Ok(Rendered {
        config_map,
        auth_secret,
        service_account,
        role,
        role_binding,
        service,
        pvc,
        deployment,
        policy,
        openai_url: spec.api.openai.then(|| format!("{url}/v1")),
        mcp_url: spec.api.mcp.then(|| format!("{url}/mcp")),
        url,
    })
}

/// The pod-template annotation value: changes only with what needs a restart
/// (the image and the database URL), never with the policy or keys.
pub fn restart_hash(image: &str, database_url: Option<&[u8]>) -> String {
    let mut h = Sha256::new();
    h.update(b"image\0");
    h.update(image.as_bytes());
    h.update(b"\0database\0");
    if let Some(url) = database_url {
        h.update(Sha256::digest(url));
    }
    hex::encode(h.finalize())[..16].to_string()
}

fn server_env(orch: &Orchestrator, name: &str) -> Vec<EnvVar> {
    let spec = &orch.spec;
    let mut vars = vec![
        env("AI_HOST", "0.0.0.0"),
        env("AI_PORT", SERVER_PORT.to_string()),
        env("AI_CONFIG_DIR", CONFIG_DIR),
        env("AI_SECRETS_DIR", SECRETS_DIR),
        env("AI_DATA_DIR", DATA_DIR),
    ];
    match &spec.database {
        Some(db) => vars.push(EnvVar {
            name: "AI_DATABASE_URL".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: db.url_secret_ref.name.clone(),
                    key: db.url_secret_ref.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }),
        None => vars.push(env("AI_DB_PATH", format!("{DATA_DIR}/orchestrator.db"))),
    }
    vars.push(env("AI_OLLAMA_URL", spec.llm.url.clone()));
    vars.push(env("AI_LLM_PROVIDER", spec.llm.provider.as_str()));
    if let Some(model) = &spec.llm.default_model {
        vars.push(env("AI_DEFAULT_MODEL", model.clone()));
    }
    if !spec.llm.models.is_empty() {
        vars.push(env("AI_MODELS", spec.llm.models.join(",")));
    }
    if let Some(t) = spec.llm.timeout_seconds {
        vars.push(env("AI_LLM_TIMEOUT", t.to_string()));
    }
    vars.push(env("AI_AUTH_ENABLED", spec.auth.enabled.to_string()));
    vars.push(env("AI_OPENAI_API_ENABLED", spec.api.openai.to_string()));
    vars.push(env("AI_MCP_ENABLED", spec.api.mcp.to_string()));
    if let Some(m) = spec.auth.access_token_minutes {
        vars.push(env("AI_JWT_EXPIRE_MINUTES", m.to_string()));
    }
    if let Some(d) = spec.auth.refresh_token_days {
        vars.push(env("AI_REFRESH_TOKEN_EXPIRE_DAYS", d.to_string()));
    }
    vars.push(env("AI_CONFIG_SOURCE", "kubernetes"));
    vars.push(EnvVar {
        name: "AI_POD_NAMESPACE".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.namespace".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    });
    vars.push(env("AI_POLICY_CONFIGMAP", policy_configmap_name(name)));
    vars.push(env("AI_AUTH_SECRET", auth_secret_name(name)));
    // User variables replace rendered ones of the same name, others are appended.
    for extra in spec.env.clone().unwrap_or_default() {
        match vars.iter_mut().find(|v| v.name == extra.name) {
            Some(slot) => *slot = extra,
            None => vars.push(extra),
        }
    }
    vars
}

fn deployment(
    orch: &Orchestrator,
    name: &str,
    owner: &OwnerReference,
    database_url: Option<&[u8]>,
) -> Result<Deployment, RenderError> {
    let spec = &orch.spec;
    let image = spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    let mut annotations = spec.pod_annotations.clone().unwrap_or_default();
    annotations.insert(
        RESTART_HASH_ANNOTATION.to_string(),
        restart_hash(&image, database_url),
    );
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let mount = |volume: &str, path: &str, read_only: bool| VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    let container = Container {
        name: "server".into(),
        image: Some(image),
        args: Some(vec!["serve".into()]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: SERVER_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(server_env(orch, name)),
        resources: spec.resources.clone(),
        liveness_probe: Some(probe("/health", 10)),
        readiness_probe: Some(probe("/ready", 5)),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(SERVER_UID),
            run_as_group: Some(SERVER_UID),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("policy", CONFIG_DIR, true),
            mount("auth", SECRETS_DIR, true),
            mount("data", DATA_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let data_volume = match &spec.database {
        Some(_) => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        None => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(name),
                read_only: Some(false),
            }),
            ..Volume::default()
        },
    };
    let pod_spec = PodSpec {
        service_account_name: Some(name.to_string()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(SERVER_UID),
            run_as_group: Some(SERVER_UID),
            fs_group: Some(SERVER_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "policy".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: policy_configmap_name(name),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "auth".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(auth_secret_name(name)),
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            data_volume,
            Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
        node_selector: spec.node_selector.clone(),
        tolerations: spec.tolerations.clone(),
        ..PodSpec::default()
    };
    let mut template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(name)),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec),
    };
    if let Some(overlay) = &spec.pod_template {
        template = merge_pod_template(&template, overlay)?;
    }
    Ok(Deployment {
        metadata: meta(orch, name.to_string(), owner),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(name)),
                ..LabelSelector::default()
            },
            strategy: Some(strategy(spec.database.is_some())),
            template,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

/// `Recreate` with SQLite: a ReadWriteOnce volume cannot be shared by an old
/// and a new pod. With a database, a rolling update that never drops below
/// the desired count; its parameters are set explicitly so that they are
/// owned by the operator and removed again when switching to `Recreate`.
fn strategy(has_database: bool) -> DeploymentStrategy {
    if has_database {
        DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(1)),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        }
    } else {
        DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        }
    }
}

/// Merges the user's partial pod template over the rendered one.
pub fn merge_pod_template(
    base: &PodTemplateSpec,
    overlay: &Value,
) -> Result<PodTemplateSpec, RenderError> {
    if !overlay.is_object() {
        return Err(RenderError::InvalidSpec(
            "spec.podTemplate must be an object".into(),
        ));
    }
    let mut value =
        serde_json::to_value(base).map_err(|e| RenderError::InvalidSpec(e.to_string()))?;
    merge_value(&mut value, overlay);
    serde_json::from_value(value)
        .map_err(|e| RenderError::InvalidSpec(format!("spec.podTemplate: {e}")))
}

/// Maps merge key by key (`null` removes), lists whose items all have a
/// `name` merge by name, other lists are appended, scalars are replaced.
pub fn merge_value(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (key, value) in o {
                if value.is_null() {
                    b.remove(key);
                } else if let Some(existing) = b.get_mut(key) {
                    merge_value(existing, value);
                } else {
                    b.insert(key.clone(), value.clone());
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            let named = |items: &[Value]| {
                items
                    .iter()
                    .all(|i| i.get("name").is_some_and(Value::is_string))
            };
            if named(b) && named(o) {
                for item in o {
                    match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                        Some(existing) => merge_value(existing, item),
                        None => b.push(item.clone()),
                    }
                }
            } else {
                b.extend(o.iter().cloned());
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The Secret names read for `orch`: referenced ones and the generated one.
pub fn secret_names(uses: &[SecretUse]) -> BTreeSet<String> {
    uses.iter().map(|u| u.secret.name.clone()).collect()
}
