//! The Helm chart stays in step with what the operator generates, its values
//! follow its own schema, and the shipped examples are accepted by the same
//! types and policy validation the operator and the server use.

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

/// Names of the YAML files in `dir` that hold a CustomResourceDefinition.
fn crd_file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| yaml(p)["kind"] == "CustomResourceDefinition")
        .map(|p| {
            p.file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

const SYNC_HINT: &str = "run scripts/chart-sync.sh to copy crds/ into the chart";

#[test]
fn chart_crds_are_byte_identical_to_the_generated_ones() {
    let top = crd_file_names(&repo().join("crds"));
    let in_chart = crd_file_names(&chart().join("crds"));
    assert_eq!(
        top.len(),
        2,
        "expected the two CRDs in crds/, found {top:?}"
    );
    assert_eq!(top, in_chart, "{SYNC_HINT}");
    for name in &top {
        let a = std::fs::read(repo().join("crds").join(name)).expect("read crds/");
        let b = std::fs::read(chart().join("crds").join(name)).expect("read chart crds/");
        assert!(
            a == b,
            "charts/ai-orchestrator/crds/{name} differs from crds/{name}: {SYNC_HINT}"
        );
    }
}

#[test]
fn chart_rbac_rules_equal_the_generated_cluster_role() {
    let generated = yaml(&repo().join("crds/operator-rbac.yaml"));
    let in_chart = yaml(&chart().join("files/operator-rbac.yaml"));
    assert_eq!(generated["kind"], "ClusterRole");
    let rules = generated["rules"].as_array().expect("generated rules");
    assert!(!rules.is_empty());
    assert_eq!(generated["rules"], in_chart["rules"], "{SYNC_HINT}");
}

/// The part of JSON Schema that values.schema.json uses, except `pattern`
/// (Helm's own validation of it is exercised by scripts/chart-lint.py).
fn schema_errors(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let at = if path.is_empty() { "/" } else { path };
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let matches = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "null" => value.is_null(),
            _ => false,
        };
        if !types.iter().any(|t| matches(t)) {
            errors.push(format!("{at}: expected {types:?}, got {value}"));
            return;
        }
    }
    if let Some(expected) = schema.get("const")
        && value != expected
    {
        errors.push(format!("{at}: must be {expected}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{at}: {n} is below {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{at}: {n} is above {max}"));
        }
    }
    if let (Some(s), Some(min)) = (
        value.as_str(),
        schema.get("minLength").and_then(Value::as_u64),
    ) && (s.chars().count() as u64) < min
    {
        errors.push(format!("{at}: shorter than {min}"));
    }
    if let Some(object) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = key.as_str()
                && !object.contains_key(key)
            {
                errors.push(format!("{at}: missing required {key}"));
            }
        }
        for (key, item) in object {
            let child = format!("{path}/{key}");
            match (
                props.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => schema_errors(item, sub, &child, errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{child}: not allowed")),
                (None, Some(sub @ Value::Object(_))) => schema_errors(item, sub, &child, errors),
                _ => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(sub) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                schema_errors(item, sub, &format!("{path}/{i}"), errors);
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && items.len() as u64 > max
        {
            errors.push(format!("{at}: more than {max} items"));
        }
        if let Some(needle) = schema.get("contains") {
            let found = items.iter().any(|item| {
                let mut e = Vec::new();
                schema_errors(item, needle, path, &mut e);
                e.is_empty()
            });
            if !found {
                errors.push(format!("{at}: no item matches {needle}"));
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(format!("{at}: duplicate item {item}"));
                }
            }
        }
    }
}

fn validate(values: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(&read(&chart().join("values.schema.json")))
        .expect("values.schema.json is valid JSON");
    let mut errors = Vec::new();
    schema_errors(values, &schema, "", &mut errors);
    errors
}

/// `overlay` merged over `base`, objects key by key (as Helm merges values).
fn merged(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (key, value) in o {
                let next = match b.get(key) {
                    Some(existing) => merged(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), next);
            }
            Value::Object(out)
        }
        _ => overlay.clone(),
    }
}

#[test]
fn default_and_all_on_values_follow_the_schema() {
    let defaults = yaml(&chart().join("values.yaml"));
    assert_eq!(validate(&defaults), Vec::<String>::new(), "values.yaml");
    let all_on = merged(&defaults, &yaml(&chart().join("ci/all-on-values.yaml")));
    assert_eq!(
        validate(&all_on),
        Vec::<String>::new(),
        "ci/all-on-values.yaml"
    );
}

#[test]
fn schema_rejects_wrong_values() {
    let defaults = yaml(&chart().join("values.yaml"));
    let cases = [
        (json!({"replicas": "two"}), "/replicas"),
        (json!({"replicas": 0}), "/replicas"),
        (json!({"replica": 2}), "/replica"),
        (
            json!({"image": {"pullPolicy": "Sometimes"}}),
            "/image/pullPolicy",
        ),
        (
            json!({"securityContext": {"readOnlyRootFilesystem": false}}),
            "/securityContext/readOnlyRootFilesystem",
        ),
        (
            json!({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}),
            "/securityContext/capabilities/drop",
        ),
        (json!({"watchNamespaces": ["a", "a"]}), "/watchNamespaces"),
        (json!({"metrics": {"port": "8080"}}), "/metrics/port"),
    ];
    for (overlay, field) in cases {
        let errors = validate(&merged(&defaults, &overlay));
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{overlay} should be refused at {field}; errors: {errors:?}"
        );
    }
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
