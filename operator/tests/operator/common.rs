//! Fixtures shared by the render and controller tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ai_orchestrator_operator::crd::{AccessPolicy, Orchestrator};
use ai_orchestrator_operator::render::SecretValues;
use ai_orchestrator_operator::secrets::Fresh;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

pub const NS: &str = "team";
/// Plain values that must never appear in any rendered object.
pub const CI_KEY: &str = "ak_ci_0123456789abcdef0123456789abcdef";
pub const DEPLOY_KEY: &str = "ak_deploy_fedcba9876543210fedcba98765432";
pub const DATABASE_URL: &str =
    "postgres://orchestrator:db-pass-7f3a9c@postgres.team.svc:5432/orchestrator";
pub const ADMIN_PASSWORD: &str = "referenced-admin-password-1b2c3d";
pub const LLM_API_KEY: &str = "sk-referenced-llm-api-key-5e6f7a";
pub const JWT_SECRET: &str = "a-referenced-jwt-secret-with-more-than-32-bytes";

pub fn orchestrator(name: &str, spec: Value) -> Orchestrator {
    serde_json::from_value(json!({
        "apiVersion": "ai-orchestrator.io/v1alpha1",
        "kind": "Orchestrator",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 3},
        "spec": spec,
    }))
    .expect("orchestrator fixture")
}

pub fn policy(name: &str, labels: Value, spec: Value) -> AccessPolicy {
    serde_json::from_value(json!({
        "apiVersion": "ai-orchestrator.io/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 2, "labels": labels},
        "spec": spec,
    }))
    .expect("policy fixture")
}

pub fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NS.to_string()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

pub fn values(secrets: &[Secret]) -> SecretValues {
    secrets
        .iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap_or_default(),
                s.data.clone().unwrap_or_default(),
            )
        })
        .collect::<BTreeMap<_, _>>()
}

pub fn fresh() -> Fresh {
    Fresh {
        jwt_secret: "Z2VuZXJhdGVkLWp3dC1rZXktbWF0ZXJpYWwtMDEyMzQ1Njc4OWFiY2RlZg==".to_string(),
        admin_password: "generated-admin-password-xyz".to_string(),
    }
}

pub fn other_fresh() -> Fresh {
    Fresh {
        jwt_secret: "b3RoZXItZ2VuZXJhdGVkLWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWJjZA==".to_string(),
        admin_password: "another-generated-password".to_string(),
    }
}

pub fn now() -> Timestamp {
    "2026-11-25T18:00:00Z".parse().expect("timestamp")
}

/// A read-only policy for the `team=core` label.
pub fn readonly_policy() -> AccessPolicy {
    policy(
        "readonly",
        json!({"team": "core"}),
        json!({
            "commands": {"allow": [{"program": "ls"}, {"program": "git", "subcommands": [{"name": "status"}, {"name": "log"}]}], "deny": ["rm"], "maxRuntimeSeconds": 60},
            "paths": {"read": ["/workspace"], "deny": ["**/.env"], "maxReadBytes": 2097152},
            "cors": {"allowedOrigins": ["https://app.example.com"]},
            "rateLimits": {"default": {"requests": 120, "per": "1m"}},
            "examples": {"allow": ["git status"], "deny": ["rm -rf /"]},
            "apiKeys": [{"name": "ci", "secretRef": {"name": "ci-key", "key": "key"}, "scopes": ["read", "execute"], "expiresAt": "2027-01-01T00:00:00Z"}]
        }),
    )
}

/// A CI policy for the same label: more commands, stricter limits.
pub fn ci_policy() -> AccessPolicy {
    policy(
        "ci",
        json!({"team": "core"}),
        json!({
            "commands": {"allow": [{"program": "cargo"}, {"program": "git", "subcommands": [{"name": "diff"}]}], "deny": ["curl"], "maxRuntimeSeconds": 20},
            "paths": {"read": ["/src"], "write": ["/workspace/out"], "maxReadBytes": 1048576},
            "cors": {"allowedOrigins": ["https://ci.example.com"], "maxAgeSeconds": 60},
            "rateLimits": {"default": {"requests": 30, "per": "1m"}},
            "apiKeys": [{"name": "deploy", "secretRef": {"name": "deploy-key", "key": "token"}, "scopes": ["admin"]}]
        }),
    )
}

/// A policy that the policy crate refuses (a program named by path).
pub fn invalid_policy() -> AccessPolicy {
    policy(
        "broken",
        json!({"team": "core"}),
        json!({
            "commands": {"allow": [{"program": "/usr/bin/curl"}]},
            "apiKeys": [{"name": "leak", "secretRef": {"name": "leak-key", "key": "key"}, "scopes": ["admin"]}]
        }),
    )
}

/// A policy for another team, never selected by the fixtures.
pub fn other_team_policy() -> AccessPolicy {
    policy(
        "other-team",
        json!({"team": "web"}),
        json!({"commands": {"allow": [{"program": "npm"}]}}),
    )
}

pub fn key_secrets() -> Vec<Secret> {
    vec![
        secret("ci-key", &[("key", &format!("{CI_KEY}\n"))]),
        secret("deploy-key", &[("token", DEPLOY_KEY)]),
    ]
}

/// A reflector store that has seen exactly `objects` in its initial list.
pub fn store_of<K>(objects: impl IntoIterator<Item = K>) -> kube::runtime::reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    use kube::runtime::watcher::Event;
    let (store, mut writer) = kube::runtime::reflector::store::<K>();
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        writer.apply_watcher_event(&Event::InitApply(object));
    }
    writer.apply_watcher_event(&Event::InitDone);
    store
}
