//! The pure part of a reconcile (select + validate + merge + render) for 100
//! Orchestrators with 10 AccessPolicies each.

#[path = "../tests/operator/common.rs"]
mod common;

use std::hint::black_box;

use ai_orchestrator_operator::crd::{AccessPolicy, Orchestrator};
use ai_orchestrator_operator::render::{self, RenderInput};
use ai_orchestrator_operator::secrets::Existing;
use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn policies() -> Vec<AccessPolicy> {
    (0..10)
        .map(|i| {
            policy(
                &format!("policy-{i:02}"),
                json!({"team": "core"}),
                json!({
                    "commands": {
                        "allow": [{"program": format!("tool{i}")}, {"program": "git", "subcommands": [{"name": "status"}, {"name": format!("sub{i}")}]}],
                        "deny": [format!("bad{i}")],
                        "maxRuntimeSeconds": 30 + i
                    },
                    "paths": {"read": [format!("/data/{i}")], "write": [format!("/data/{i}/out")], "deny": ["**/.env"]},
                    "cors": {"allowedOrigins": [format!("https://app{i}.example.com")]},
                    "rateLimits": {"default": {"requests": 100 - i, "per": "1m"}},
                    "examples": {"allow": ["git status"], "deny": ["rm -rf /"]},
                    "apiKeys": [{"name": format!("key-{i}"), "secretRef": {"name": "keys", "key": format!("k{i}")}, "scopes": ["read"]}]
                }),
            )
        })
        .collect()
}

fn orchestrators() -> Vec<Orchestrator> {
    (0..100)
        .map(|i| {
            orchestrator(
                &format!("orch-{i:03}"),
                json!({"policySelector": {"matchLabels": {"team": "core"}}}),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policies = policies();
    let orchestrators = orchestrators();
    let data: Vec<(String, String)> = (0..10)
        .map(|i| (format!("k{i}"), format!("ak_key_{i}_0123456789abcdef")))
        .collect();
    let data_ref: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let secrets = values(&[secret("keys", &data_ref)]);
    let existing = Existing::default();
    let fresh = fresh();
    c.bench_function("render 100 orchestrators x 10 policies", |b| {
        b.iter(|| {
            for orch in &orchestrators {
                let set = render::policy_set(orch, &policies);
                let rendered = render::render(&RenderInput {
                    orchestrator: orch,
                    policies: &set,
                    secrets: &secrets,
                    existing: &existing,
                    fresh: &fresh,
                    now: now(),
                })
                .expect("render");
                black_box(rendered);
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
