//! `AccessPolicy` manifests (the operator's custom resource) read without a
//! cluster, so a policy repository can be checked offline: each manifest's
//! rules as a policy document, and its API key declarations checked by the
//! rules the operator applies before rendering them.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::contract::Scope;
use crate::document::{
    CommandPolicy, CorsPolicy, POLICY_VERSION, PathPolicy, PolicyDocument, PolicyExamples,
    RateLimitPolicy,
};

/// `apiVersion` of the custom resources.
pub const API_VERSION: &str = "ai-orchestrator.io/v1alpha1";
/// `kind` of an AccessPolicy.
pub const KIND: &str = "AccessPolicy";

/// The `spec` of an AccessPolicy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessPolicyRules {
    #[serde(default)]
    pub commands: CommandPolicy,
    #[serde(default)]
    pub paths: PathPolicy,
    #[serde(default)]
    pub cors: CorsPolicy,
    #[serde(default)]
    pub rate_limits: RateLimitPolicy,
    #[serde(default)]
    pub examples: PolicyExamples,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyDeclaration>,
}

impl AccessPolicyRules {
    /// The policy document these rules form on their own.
    pub fn document(&self) -> PolicyDocument {
        PolicyDocument {
            version: POLICY_VERSION,
            commands: self.commands.clone(),
            paths: self.paths.clone(),
            cors: self.cors.clone(),
            rate_limits: self.rate_limits.clone(),
            examples: self.examples.clone(),
            // Confinement is the server's own setting, not an AccessPolicy's.
            sandbox: Default::default(),
        }
    }
}

/// An API key an AccessPolicy declares; its value stays in a Secret.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyDeclaration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub secret_ref: SecretRef,
    #[serde(default)]
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A key of a Secret.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
}

/// The declaration rules, as `apiKeys[i].field: message` lines: names
/// present and unique, at least one scope, a Secret name and key.
pub fn check_api_keys(keys: &[ApiKeyDeclaration]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (i, key) in keys.iter().enumerate() {
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
    errors
}

/// One AccessPolicy of a manifest file.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `metadata.name`, or `#<n>` (1-based document number) without one.
    pub name: String,
    /// The rules, or why the document is not an AccessPolicy.
    pub rules: Result<AccessPolicyRules, String>,
}

impl Manifest {
    /// Every error of this manifest, one per line: the shape, the rules
    /// (with the policy's own examples) and the API key declarations.
    pub fn errors(&self) -> Vec<String> {
        match &self.rules {
            Err(e) => vec![e.clone()],
            Ok(rules) => {
                let mut errors = match crate::Policy::compile(rules.document()) {
                    Ok(_) => Vec::new(),
                    Err(e) => e.lines(),
                };
                errors.extend(check_api_keys(&rules.api_keys));
                errors
            }
        }
    }
}

/// Whether `text` holds Kubernetes manifests (`apiVersion`/`kind`) rather
/// than a plain `policy.yaml`.
pub fn looks_like_manifests(text: &str) -> bool {
    serde_saphyr::from_multiple::<serde_json::Value>(text)
        .ok()
        .and_then(|docs| docs.into_iter().find(|d| !d.is_null()))
        .is_some_and(|d| d.get("kind").is_some() || d.get("apiVersion").is_some())
}

/// The AccessPolicies of a (multi-document) YAML text; `Err` when the text
/// is not YAML at all.
pub fn parse_manifests(text: &str) -> Result<Vec<Manifest>, String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string()
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.is_null())
        .enumerate()
        .map(|(i, doc)| {
            let name = doc
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| format!("#{}", i + 1), str::to_string);
            Manifest {
                name,
                rules: rules_of(&doc),
            }
        })
        .collect())
}

fn rules_of(doc: &serde_json::Value) -> Result<AccessPolicyRules, String> {
    let api_version = doc.get("apiVersion").and_then(serde_json::Value::as_str);
    let kind = doc.get("kind").and_then(serde_json::Value::as_str);
    if (api_version, kind) != (Some(API_VERSION), Some(KIND)) {
        return Err(format!(
            "not an AccessPolicy: apiVersion {} kind {} (expected {API_VERSION} {KIND})",
            api_version.unwrap_or("(none)"),
            kind.unwrap_or("(none)")
        ));
    }
    let spec = doc.get("spec").cloned().unwrap_or_default();
    serde_json::from_value(if spec.is_null() {
        serde_json::json!({})
    } else {
        spec
    })
    .map_err(|e| format!("spec: {e}"))
}
