//! The custom resources: `Orchestrator` (one server deployment) and
//! `AccessPolicy` (rules merged into the servers that select it).
//!
//! Spec types stay flat and structural (camelCase, every `Option` skipped
//! when empty, unit-variant enums only) because the API server only accepts
//! schemas of that shape; `crate::schema` checks and cleans the result.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use policy::document::{CommandPolicy, CorsPolicy, PathPolicy, PolicyExamples, RateLimitPolicy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of both custom resources.
pub const GROUP: &str = "ai-orchestrator.io";
/// Image used when `spec.image` is empty.
pub const DEFAULT_IMAGE: &str = concat!(
    "ghcr.io/ai-orchestrator/ai-orchestrator:",
    env!("CARGO_PKG_VERSION")
);
/// Port the server listens on inside the pod.
pub const SERVER_PORT: i32 = policy::contract::DEFAULT_PORT as i32;

/// Desired state of one ai-orchestrator server.
// Several `printcolumn(...)` entries repeat `type_`, which the lint mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ai-orchestrator.io",
    version = "v1alpha1",
    kind = "Orchestrator",
    namespaced,
    status = "OrchestratorStatus",
    shortname = "orch",
    category = "ai-orchestrator",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    derive = "PartialEq",
    derive = "Default",
    doc = "An ai-orchestrator server: the operator renders its Deployment, Service, storage, policy ConfigMap and auth Secret.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "Whether the server is ready",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        description = "Ready server pods",
        json_path = ".status.readyReplicas"
    ),
    printcolumn(
        name = "Policy",
        type_ = "string",
        description = "Whether every selected AccessPolicy is valid",
        json_path = ".status.conditions[?(@.type==\"PolicyValid\")].status"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        description = "In-cluster URL of the server",
        json_path = ".status.url"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        description = "Why the server is or is not ready",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        description = "What the Ready condition says",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.replicas) || self.replicas <= 1 || has(self.database)",
        "message": "replicas > 1 requires database.urlSecretRef (SQLite serves one replica only)"
    }
]))]
pub struct OrchestratorSpec {
    /// Server image. Default: `ghcr.io/ai-orchestrator/ai-orchestrator:<operator version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Number of server pods. More than one needs `database.urlSecretRef`.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// The language model backend.
    #[serde(default)]
    pub llm: LlmSpec,
    /// Authentication settings.
    #[serde(default)]
    pub auth: AuthSpec,
    /// The standard protocols served beside the server's own API.
    #[serde(default)]
    pub api: ApiSpec,
    /// Base CORS rules; selected AccessPolicies are merged over them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsPolicy>,
    /// Base rate limits; selected AccessPolicies are merged over them
    /// (the most restrictive value wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitPolicy>,
    /// Selects the AccessPolicies of this namespace that govern the server.
    /// Absent: none (only the base rules above); `{}`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_selector: Option<LabelSelector>,
    /// The SQLite volume, used when `database` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// An external PostgreSQL database instead of SQLite on a volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    /// How the server is exposed in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// Compute resources of the server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the server pods must run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the server pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Extra annotations on the server pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_annotations: Option<BTreeMap<String, String>>,
    /// Extra environment variables of the server container (appended last, so
    /// they override the rendered ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// A partial pod template merged over the rendered one: maps are merged,
    /// lists of named items (containers, volumes, env, ...) are merged by
    /// `name`, other lists are appended, `null` removes a field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub pod_template: Option<serde_json::Value>,
}

fn default_replicas() -> i32 {
    1
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "A partial pod template (metadata and spec) merged over the rendered one: maps are merged, lists of named items (containers, volumes, env, ...) are merged by name, other lists are appended, null removes a field."
    })
}

/// Which standard front doors the server opens (both under the same
/// authentication, scopes, policy, rate limits and audit as its own API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    /// The OpenAI-compatible API at `/v1` (`/v1/chat/completions`, `/v1/models`). Default on.
    #[serde(default = "default_on")]
    pub openai: bool,
    /// The MCP server (streamable HTTP) at `/mcp`. Default on.
    #[serde(default = "default_on")]
    pub mcp: bool,
}

impl Default for ApiSpec {
    fn default() -> Self {
        ApiSpec {
            openai: true,
            mcp: true,
        }
    }
}

fn default_on() -> bool {
    true
}

/// The language model backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmSpec {
    /// Base URL of the LLM API. Default `http://ollama.ollama.svc:11434` (an
    /// Ollama Service `ollama` in namespace `ollama`, as the Ollama chart installs it).
    #[serde(default = "default_llm_url")]
    pub url: String,
    /// API dialect of the backend.
    #[serde(default)]
    pub provider: LlmProvider,
    /// Model used when a request names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// Timeout of one LLM call, in seconds (`AI_LLM_TIMEOUT`, default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<u32>,
    /// Timeout of a whole chat turn, every model and tool call of it, in
    /// seconds (`AI_TURN_TIMEOUT`, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub turn_timeout_seconds: Option<u32>,
    /// Models offered to clients (passed as `AI_MODELS`, comma-separated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Sampling temperature sent with every model call (`AI_LLM_TEMPERATURE`,
    /// default 0.2: low values keep tool calls well-formed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// The longest answer, in tokens (`AI_LLM_MAX_TOKENS`, default 2048; 0: the
    /// model server's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The context window, in tokens (`AI_LLM_CONTEXT_LENGTH`, default 8192; 0:
    /// the model server's default). Sent to Ollama as `num_ctx`; for every
    /// backend, what the replayed conversation history is fitted into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// The Secret key holding an API key for the backend, sent as
    /// `Authorization: Bearer <key>` (`AI_LLM_API_KEY`; LiteLLM, vLLM with
    /// `--api-key`, hosted APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
}

impl Default for LlmSpec {
    fn default() -> Self {
        LlmSpec {
            url: default_llm_url(),
            provider: LlmProvider::default(),
            default_model: None,
            timeout_seconds: None,
            turn_timeout_seconds: None,
            models: Vec::new(),
            temperature: None,
            max_tokens: None,
            context_length: None,
            api_key_secret_ref: None,
        }
    }
}

fn default_llm_url() -> String {
    "http://ollama.ollama.svc:11434".to_string()
}

/// API dialect of the LLM backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    /// Ollama's `/api/chat`.
    #[default]
    Ollama,
    /// An OpenAI-compatible `/v1/chat/completions`.
    Openai,
}

impl LlmProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProvider::Ollama => "ollama",
            LlmProvider::Openai => "openai",
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Whether the API requires authentication. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Lifetime of access tokens, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub access_token_minutes: Option<u32>,
    /// Lifetime of refresh tokens, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub refresh_token_days: Option<u32>,
    /// The admin password. When absent one is generated once and kept in the
    /// Secret `<name>-auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_secret_ref: Option<SecretKeyRef>,
    /// A JWT signing secret (at least 32 bytes). When absent a key is
    /// generated once; rotate it with the annotation
    /// `ai-orchestrator.io/rotate-jwt-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret_ref: Option<SecretKeyRef>,
}

impl Default for AuthSpec {
    fn default() -> Self {
        AuthSpec {
            enabled: true,
            access_token_minutes: None,
            refresh_token_days: None,
            admin_password_secret_ref: None,
            jwt_secret_ref: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// A key of a Secret in the same namespace.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// The SQLite volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Storage class of the claim. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Keep the claim, and the SQLite database on it, when the Orchestrator
    /// is deleted (it then carries no owner reference; an Orchestrator of
    /// the same name created later uses it again). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_on_delete: Option<bool>,
}

/// An external PostgreSQL database.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// The Secret key holding the database URL (`postgres://...`).
    pub url_secret_ref: SecretKeyRef,
}

/// How the server is exposed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type. Default `ClusterIP`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Service port. Default 8001.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Annotations of the Service (load balancer settings and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Kubernetes Service type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every node.
    NodePort,
    /// Through a cloud load balancer.
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Observed state of an Orchestrator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrchestratorStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `PolicyValid`, `Progressing` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Server pods that pass their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Server pods that exist (the scale subresource's status replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector of the server pods, for the scale subresource (HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// SHA-256 (hex) of the `policy.yaml` in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// The AccessPolicies merged into `policy.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_policies: Vec<AppliedPolicy>,
    /// In-cluster URL of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// In-cluster base URL of the OpenAI-compatible API (`<url>/v1`), when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai_url: Option<String>,
    /// In-cluster URL of the MCP endpoint (`<url>/mcp`), when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_url: Option<String>,
}

/// An AccessPolicy merged into a server's policy.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPolicy {
    /// Name of the AccessPolicy.
    pub name: String,
    /// Its `metadata.generation` that was merged.
    pub generation: i64,
}

/// Policy rules plus the API keys they declare.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ai-orchestrator.io",
    version = "v1alpha1",
    kind = "AccessPolicy",
    namespaced,
    status = "AccessPolicyStatus",
    shortname = "ap",
    category = "ai-orchestrator",
    derive = "PartialEq",
    derive = "Default",
    doc = "Access rules (commands, paths, CORS, rate limits) and API keys merged into the Orchestrators whose policySelector matches.",
    printcolumn(
        name = "Valid",
        type_ = "string",
        description = "Whether the rules pass validation",
        json_path = ".status.conditions[?(@.type==\"Valid\")].status"
    ),
    printcolumn(
        name = "Bound",
        type_ = "integer",
        description = "Number of Orchestrators this policy is merged into",
        json_path = ".status.boundCount"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        description = "Why the policy is or is not valid",
        json_path = ".status.conditions[?(@.type==\"Valid\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        description = "The validation errors, if any",
        json_path = ".status.conditions[?(@.type==\"Valid\")].message",
        priority = 1
    ),
    printcolumn(
        name = "Orchestrators",
        type_ = "string",
        description = "The Orchestrators this policy is merged into",
        json_path = ".status.bound",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicySpec {
    /// Which programs the agent may run, and how.
    #[serde(default)]
    pub commands: CommandPolicy,
    /// Which files the agent may read and write (absolute paths).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "(!has(self.read) || self.read.all(p, p.startsWith('/'))) && (!has(self.write) || self.write.all(p, p.startsWith('/')))",
            "message": "paths.read and paths.write must be absolute (start with /)"
        }
    ]))]
    pub paths: PathPolicy,
    /// Which browser origins may call the HTTP API.
    #[serde(default)]
    pub cors: CorsPolicy,
    /// Request budgets per client and route.
    #[serde(default)]
    pub rate_limits: RateLimitPolicy,
    /// Command lines that must be allowed and must be denied.
    #[serde(default)]
    pub examples: PolicyExamples,
    /// API keys accepted by the servers this policy is bound to. Only their
    /// SHA-256 hashes are rendered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeySpec>,
}

/// A declared API key; its value stays in the referenced Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySpec {
    /// Name of the key, shown in audit records.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The Secret key holding the full `ak_...` key.
    pub secret_ref: SecretKeyRef,
    /// What the key may do (at least one).
    #[schemars(length(min = 1))]
    pub scopes: Vec<Scope>,
    /// When the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}

/// Permission of a credential, as the server knows it.
pub use policy::contract::Scope;

/// Observed state of an AccessPolicy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether the rules pass the policy validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    /// Validation errors (`field.path: message`), empty when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Orchestrators whose policySelector selects this policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_to: Vec<String>,
    /// How many Orchestrators select this policy.
    #[serde(default)]
    pub bound_count: i32,
    /// The same names, comma-separated (for `kubectl get -o wide`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
    /// `Valid` (the rules pass the server's validation) and `Bound` (an
    /// Orchestrator selects the policy), each with reason, message and
    /// the generation it describes; `kubectl wait --for=condition=Valid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl AccessPolicySpec {
    /// The policy document these rules form on their own.
    pub fn document(&self) -> policy::document::PolicyDocument {
        policy::document::PolicyDocument {
            version: policy::document::POLICY_VERSION,
            commands: self.commands.clone(),
            paths: self.paths.clone(),
            cors: self.cors.clone(),
            rate_limits: self.rate_limits.clone(),
            examples: self.examples.clone(),
            sandbox: Default::default(),
        }
    }
}
