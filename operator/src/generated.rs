//! The files under `crds/`: what `crdgen` writes and the freshness test compares.

use crate::{rbac, schema};

/// File name of the generated ClusterRole.
pub const RBAC_FILE: &str = "operator-rbac.yaml";

/// `(file name, YAML text)` of every generated file, in a fixed order.
pub fn files() -> Result<Vec<(&'static str, String)>, serde_saphyr::SerializeError> {
    Ok(vec![
        (
            "orchestrators.yaml",
            serde_saphyr::to_string(&schema::orchestrator_crd())?,
        ),
        (
            "accesspolicies.yaml",
            serde_saphyr::to_string(&schema::access_policy_crd())?,
        ),
        (RBAC_FILE, serde_saphyr::to_string(&rbac::cluster_role())?),
    ])
}
