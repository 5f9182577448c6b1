//! The SQLite volume claim, rendered only without an external database;
//! owned by the Orchestrator unless `spec.storage.retainOnDelete`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;

use super::meta::{owned_meta, pvc_name};
use crate::crd::Orchestrator;

/// Requested size when `spec.storage.size` is not set.
pub const DEFAULT_SIZE: &str = "1Gi";

pub fn pvc(orch: &Orchestrator, owner: &OwnerReference) -> Option<PersistentVolumeClaim> {
    if orch.spec.database.is_some() {
        return None;
    }
    let storage = orch.spec.storage.clone().unwrap_or_default();
    let mut metadata = owned_meta(orch, pvc_name(&orch.name_any()), owner);
    if storage.retain_on_delete == Some(true) {
        // Without an owner the garbage collector leaves the claim alone; server-side
        // apply removes the reference written before.
        metadata.owner_references = None;
    }
    Some(PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(storage.size.clone().unwrap_or_else(|| DEFAULT_SIZE.into())),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}
