//! The Helm chart names the operator's version and image, and the shipped
//! examples are accepted by the same types and policy validation the
//! operator and the server use. (The generated files in the chart are
//! checked by `crds`; rendering and the values schema by
//! `scripts/chart-lint.py`, with Helm and a JSON-Schema validator.)

use std::path::{Path, PathBuf};

use ai_orchestrator_operator::crd::{AccessPolicy, AccessPolicySpec, Orchestrator};
use policy::{Policy, PolicyDocument};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> PathBuf {
    repo().join("charts/ai-orchestrator")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn chart_version_and_image_default_follow_the_workspace() {
    let meta = yaml(&chart().join("Chart.yaml"));
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"));
    let values = yaml(&chart().join("values.yaml"));
    let image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().expect("repository"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        image,
        ai_orchestrator_operator::crd::DEFAULT_IMAGE,
        "chart and operator default to the same image"
    );
}

fn example(name: &str) -> String {
    read(&repo().join("examples").join(name))
}

/// The rules of an AccessPolicy as the policy document the server loads.
fn document(spec: &AccessPolicySpec) -> PolicyDocument {
    PolicyDocument {
        version: policy::POLICY_VERSION,
        commands: spec.commands.clone(),
        paths: spec.paths.clone(),
        cors: spec.cors.clone(),
        rate_limits: spec.rate_limits.clone(),
        examples: spec.examples.clone(),
        sandbox: Default::default(),
    }
}

#[test]
fn examples_parse_as_the_operator_types_and_their_policies_validate() {
    let orchestrator: Orchestrator =
        serde_saphyr::from_str(&example("orchestrator.yaml")).expect("orchestrator.yaml");
    let selector = orchestrator
        .spec
        .policy_selector
        .clone()
        .expect("policySelector");
    let labels = selector.match_labels.expect("matchLabels");
    let mut documents = Vec::new();
    for file in ["accesspolicy-read-only.yaml", "accesspolicy-ci-cd.yaml"] {
        let ap: AccessPolicy =
            serde_saphyr::from_str(&example(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ap_labels = ap.metadata.labels.clone().unwrap_or_default();
        assert!(
            labels.iter().all(|(k, v)| ap_labels.get(k) == Some(v)),
            "{file} is not selected by the example Orchestrator"
        );
        let doc = document(&ap.spec);
        // Validation runs the policy's own allow/deny examples.
        Policy::compile(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        documents.push(doc);
    }
    // The Orchestrator serves the merge of both: it must validate too.
    Policy::compile(policy::merge(&documents)).expect("merged example policies");
    let ci: AccessPolicy =
        serde_saphyr::from_str(&example("accesspolicy-ci-cd.yaml")).expect("ci-cd");
    assert_eq!(ci.spec.api_keys.len(), 1);
    let secret: Value = serde_saphyr::from_str(&example("ci-api-key-secret.yaml.example"))
        .expect("secret template");
    assert_eq!(
        secret["metadata"]["name"],
        json!(ci.spec.api_keys[0].secret_ref.name)
    );
    assert!(
        secret["stringData"]
            .get(&ci.spec.api_keys[0].secret_ref.key)
            .is_some()
    );
}

#[test]
fn compose_policy_is_a_valid_conservative_policy() {
    let policy =
        Policy::from_yaml(&read(&repo().join("config/policy.yaml"))).expect("config/policy.yaml");
    let cwd = Path::new("/data/workspace");
    assert!(policy.check_command("git status", cwd).allowed);
    for refused in [
        "rm -rf /data",
        "curl http://example.com",
        "sh -c id",
        "ls | sh",
    ] {
        assert!(
            !policy.check_command(refused, cwd).allowed,
            "{refused} must be refused"
        );
    }
    assert!(
        policy
            .check_path(Path::new("/data/workspace/notes.txt"), policy::Access::Read)
            .allowed
    );
    assert!(
        !policy
            .check_path(Path::new("/etc/shadow"), policy::Access::Read)
            .allowed
    );
    assert!(
        !policy
            .check_path(Path::new("/data/workspace/.env"), policy::Access::Read)
            .allowed
    );
}
