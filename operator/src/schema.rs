//! The CRDs as the API server must receive them: generated from the types,
//! cleaned of what a structural schema forbids, and checked.
//!
//! The policy types deny unknown fields, so schemars writes
//! `additionalProperties: false` next to `properties`; an API server refuses
//! that, and unknown fields are pruned anyway, so it is removed here.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::crd::{AccessPolicy, Orchestrator};

/// The `Orchestrator` CRD, cleaned.
pub fn orchestrator_crd() -> CustomResourceDefinition {
    clean_crd(Orchestrator::crd())
}

/// Most entries of `paths.read` / `paths.write`, and longest entry; bounds
/// that keep the estimated cost of the CEL rule on them within the API
/// server's budget.
pub const MAX_PATH_ENTRIES: u64 = 256;
pub const MAX_PATH_LENGTH: u64 = 4096;

/// The `AccessPolicy` CRD, cleaned, with the path lists bounded.
pub fn access_policy_crd() -> CustomResourceDefinition {
    let crd = clean_crd(AccessPolicy::crd());
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    for list in ["read", "write"] {
        let pointer = format!(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/paths/properties/{list}"
        );
        if let Some(node) = value.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            node.insert("maxItems".into(), MAX_PATH_ENTRIES.into());
            if let Some(items) = node.get_mut("items").and_then(Value::as_object_mut) {
                items.insert("maxLength".into(), MAX_PATH_LENGTH.into());
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

/// Applies [`clean_schema`] to every version's schema.
pub fn clean_crd(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut value = match serde_json::to_value(&crd) {
        Ok(value) => value,
        Err(_) => return crd,
    };
    if let Some(versions) = value
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                clean_schema(schema);
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

/// Removes `additionalProperties` beside `properties`, and `type`/`description`
/// inside `anyOf`/`oneOf`/`allOf` branches, recursively.
pub fn clean_schema(node: &mut Value) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    if obj.contains_key("properties") {
        obj.remove("additionalProperties");
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = obj.get_mut(key).and_then(Value::as_array_mut) {
            for branch in branches.iter_mut() {
                if let Some(b) = branch.as_object_mut() {
                    b.remove("type");
                    b.remove("description");
                    b.remove("nullable");
                }
            }
        }
    }
    for (_, child) in obj.iter_mut() {
        match child {
            Value::Object(_) => clean_schema(child),
            Value::Array(items) => items.iter_mut().for_each(clean_schema),
            _ => {}
        }
    }
}

/// Everything in a CRD's schemas that a real API server rejects or mishandles,
/// as `json.pointer: problem` lines; empty when the CRD is fine.
pub fn structural_problems(crd: &CustomResourceDefinition) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(value) = serde_json::to_value(crd) else {
        return vec!["CRD does not serialize".to_string()];
    };
    let versions = value
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, version) in versions.iter().enumerate() {
        match version.pointer("/schema/openAPIV3Schema") {
            Some(schema) => check_node(
                schema,
                &format!("/spec/versions/{i}/schema/openAPIV3Schema"),
                &mut problems,
            ),
            None => problems.push(format!("/spec/versions/{i}: no schema")),
        }
    }
    problems
}

fn check_node(node: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{at}: schema is not an object"));
        return;
    };
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !obj.contains_key("type") && !preserve && !int_or_string {
        problems.push(format!("{at}: no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        problems.push(format!(
            "{at}: properties together with additionalProperties"
        ));
    }
    for forbidden in [
        "$ref",
        "const",
        "uniqueItems",
        "not",
        "definitions",
        "$defs",
        "prefixItems",
    ] {
        if obj.contains_key(forbidden) {
            problems.push(format!("{at}: {forbidden} is not allowed"));
        }
    }
    if let Some(values) = obj.get("enum").and_then(Value::as_array)
        && values
            .iter()
            .any(|v| !(v.is_string() || v.is_number() || v.is_boolean()))
    {
        problems.push(format!(
            "{at}: enum with non-scalar values (data-carrying enum)"
        ));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = obj.get(key).and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                let here = format!("{at}/{key}/{i}");
                let Some(b) = branch.as_object() else {
                    problems.push(format!("{here}: branch is not an object"));
                    continue;
                };
                for forbidden in [
                    "type",
                    "description",
                    "nullable",
                    "default",
                    "additionalProperties",
                ] {
                    if b.contains_key(forbidden) {
                        problems.push(format!("{here}: {forbidden} inside {key}"));
                    }
                }
                if b.contains_key("enum") {
                    problems.push(format!(
                        "{here}: enum inside {key} (nullable or untagged enum)"
                    ));
                }
                if let Some(props) = b.get("properties").and_then(Value::as_object) {
                    let outer = obj.get("properties").and_then(Value::as_object);
                    for name in props.keys() {
                        if outer.is_none_or(|o| !o.contains_key(name)) {
                            problems.push(format!(
                                "{here}: property {name} only inside {key} (untagged enum)"
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            check_node(child, &format!("{at}/properties/{name}"), problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check_node(items, &format!("{at}/items"), problems);
    }
    if let Some(extra @ Value::Object(_)) = obj.get("additionalProperties") {
        check_node(extra, &format!("{at}/additionalProperties"), problems);
    }
}

/// Serializes objects as one YAML document each, separated by `---`.
pub fn to_yaml_documents<T: serde::Serialize>(
    objects: &[T],
) -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_saphyr::to_string(object)?);
    }
    Ok(out)
}
