//! The server's identity and its read access to its own ConfigMap and
//! Secret (for the Kubernetes API configuration source).

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;

use super::meta::{auth_secret_name, owned_meta, policy_configmap_name};
use crate::crd::Orchestrator;

pub fn service_account(orch: &Orchestrator, owner: &OwnerReference) -> ServiceAccount {
    ServiceAccount {
        metadata: owned_meta(orch, orch.name_any(), owner),
        ..ServiceAccount::default()
    }
}

/// Reads exactly the two objects the server follows, nothing else.
pub fn role(orch: &Orchestrator, owner: &OwnerReference) -> Role {
    let name = orch.name_any();
    let read = |resource: &str, object: String| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: Some(vec![object]),
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        ..PolicyRule::default()
    };
    Role {
        metadata: owned_meta(orch, name.clone(), owner),
        rules: Some(vec![
            read("configmaps", policy_configmap_name(&name)),
            read("secrets", auth_secret_name(&name)),
        ]),
    }
}

pub fn role_binding(orch: &Orchestrator, owner: &OwnerReference, namespace: &str) -> RoleBinding {
    let name = orch.name_any();
    RoleBinding {
        metadata: owned_meta(orch, name.clone(), owner),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: Some(namespace.to_string()),
            ..Subject::default()
        }]),
    }
}
