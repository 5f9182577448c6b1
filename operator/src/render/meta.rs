//! Names, labels and metadata shared by every rendered object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use crate::crd::Orchestrator;

/// Field manager of every apply, and the `managed-by` label value.
pub const MANAGER: &str = "ai-orchestrator-operator";

/// The ConfigMap holding `policy.yaml`.
pub fn policy_configmap_name(orch: &str) -> String {
    format!("{orch}-policy")
}

/// The generated Secret holding the JWT keys, admin password and API key hashes.
pub fn auth_secret_name(orch: &str) -> String {
    format!("{orch}-auth")
}

/// The SQLite volume claim.
pub fn pvc_name(orch: &str) -> String {
    format!("{orch}-data")
}

/// The labels on everything rendered for `orch`.
pub fn labels(orch: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(orch);
    labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        MANAGER.to_string(),
    );
    labels
}

/// The labels that select the server pods of `orch`.
pub(crate) fn selector_labels(orch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "ai-orchestrator".to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), orch.to_string()),
    ])
}

/// Metadata of an object owned by `orch`.
pub(crate) fn owned_meta(orch: &Orchestrator, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: orch.namespace(),
        labels: Some(labels(&orch.name_any())),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The server pods' label selector as a string (the scale subresource's `selector`).
pub fn pod_selector(orch: &str) -> String {
    selector_labels(orch)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
