//! Which AccessPolicies an Orchestrator selects, each validated on its own,
//! and their merge with the Orchestrator's base rules into `policy.yaml`.

use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};
use policy::document::PolicyDocument;
use policy::manifest::{ApiKeyDeclaration, SecretRef, check_api_keys};
use sha2::{Digest, Sha256};

use crate::crd::{AccessPolicy, ApiKeySpec, AppliedPolicy, Orchestrator};

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
    pub api_keys: Vec<(String, ApiKeySpec)>,
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

/// Validates one AccessPolicy: its rules with the policy crate, its API key
/// declarations by the rules `ai-orchestrator policy validate` applies to a
/// manifest.
pub fn validate_policy(policy: &AccessPolicy) -> Result<PolicyDocument, String> {
    let document = policy.spec.document();
    let mut errors: Vec<String> = match policy::Policy::compile(document.clone()) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    };
    let declarations: Vec<ApiKeyDeclaration> = policy
        .spec
        .api_keys
        .iter()
        .map(|key| ApiKeyDeclaration {
            name: key.name.clone(),
            secret_ref: SecretRef {
                name: key.secret_ref.name.clone(),
                key: key.secret_ref.key.clone(),
            },
            scopes: key.scopes.clone(),
            expires_at: key.expires_at.as_ref().map(|t| t.0.to_string()),
        })
        .collect();
    errors.extend(check_api_keys(&declarations));
    if errors.is_empty() {
        Ok(document)
    } else {
        Err(errors.join("\n"))
    }
}

/// Selects and validates the AccessPolicies of `orch` among `all`.
pub fn policy_set<'a>(
    orch: &Orchestrator,
    all: impl IntoIterator<Item = &'a AccessPolicy>,
) -> PolicySet {
    let mut selected: Vec<&AccessPolicy> = all.into_iter().filter(|p| selects(orch, p)).collect();
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
