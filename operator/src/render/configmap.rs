//! The ConfigMap `<name>-policy`: the merged `policy.yaml`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use policy::contract::POLICY_FILE;

use super::meta::{owned_meta, policy_configmap_name};
use super::policies::PolicyOutcome;
use crate::crd::Orchestrator;

/// Absent when the merged policy is invalid, so the last good one stays in force.
pub fn config_map(
    orch: &Orchestrator,
    owner: &OwnerReference,
    policy: &PolicyOutcome,
) -> Option<ConfigMap> {
    policy.yaml.as_ref().map(|yaml| ConfigMap {
        metadata: owned_meta(orch, policy_configmap_name(&orch.name_any()), owner),
        data: Some(BTreeMap::from([(POLICY_FILE.to_string(), yaml.clone())])),
        ..ConfigMap::default()
    })
}
