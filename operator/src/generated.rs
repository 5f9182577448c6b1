//! The files generated from the code: the CRDs and the operator's
//! ClusterRole, under `crds/` and inside the Helm chart. `crdgen` writes
//! them; a test fails when one on disk differs.

use crate::{rbac, schema};

/// File name of the generated ClusterRole.
pub const RBAC_FILE: &str = "operator-rbac.yaml";
/// The Helm chart, relative to the repository root.
pub const CHART_DIR: &str = "charts/ai-orchestrator";

/// `(path relative to the repository root, YAML text)` of every generated
/// file, in a fixed order.
pub fn files() -> Result<Vec<(String, String)>, serde_saphyr::SerializeError> {
    let crds = [
        (
            "orchestrators.yaml",
            serde_saphyr::to_string(&schema::orchestrator_crd())?,
        ),
        (
            "accesspolicies.yaml",
            serde_saphyr::to_string(&schema::access_policy_crd())?,
        ),
    ];
    let cluster_role = serde_saphyr::to_string(&rbac::cluster_role())?;
    let mut out = Vec::new();
    for (name, text) in &crds {
        out.push((format!("crds/{name}"), text.clone()));
    }
    out.push((format!("crds/{RBAC_FILE}"), cluster_role.clone()));
    for (name, text) in crds {
        out.push((format!("{CHART_DIR}/crds/{name}"), text));
    }
    out.push((format!("{CHART_DIR}/files/{RBAC_FILE}"), cluster_role));
    Ok(out)
}
