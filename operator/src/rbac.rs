//! The permissions the operator needs, exactly and no more, as a ClusterRole
//! the Helm chart installs next to the CRDs.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::GROUP;

/// Name of the generated ClusterRole.
pub const CLUSTER_ROLE_NAME: &str = "ai-orchestrator-operator";

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The operator's ClusterRole.
///
/// Reads its custom resources and writes their status; reads referenced
/// Secrets; creates (server-side apply) what it renders; records Events; holds
/// a Lease. Nothing is deleted by the operator itself: owner references let
/// the garbage collector remove what an Orchestrator owned.
pub fn cluster_role() -> ClusterRole {
    const WATCH: &[&str] = &["get", "list", "watch"];
    const APPLY: &[&str] = &["get", "list", "watch", "create", "patch"];
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(CLUSTER_ROLE_NAME.to_string()),
            labels: Some(
                [
                    ("app.kubernetes.io/name", "ai-orchestrator-operator"),
                    ("app.kubernetes.io/part-of", "ai-orchestrator"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        rules: Some(vec![
            rule(GROUP, &["orchestrators", "accesspolicies"], WATCH),
            rule(
                GROUP,
                &["orchestrators/status", "accesspolicies/status"],
                &["get", "patch"],
            ),
            rule(
                "",
                &[
                    "configmaps",
                    "secrets",
                    "services",
                    "serviceaccounts",
                    "persistentvolumeclaims",
                ],
                APPLY,
            ),
            rule("apps", &["deployments"], APPLY),
            rule(
                "rbac.authorization.k8s.io",
                &["roles", "rolebindings"],
                APPLY,
            ),
            rule("events.k8s.io", &["events"], &["create", "patch"]),
            rule(
                "coordination.k8s.io",
                &["leases"],
                &["get", "create", "patch", "update"],
            ),
        ]),
        ..ClusterRole::default()
    }
}
