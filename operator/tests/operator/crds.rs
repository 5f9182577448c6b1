//! The generated files (under `crds/` and in the chart) are fresh, and both CRD schemas are
//! structural in the way a real API server requires.

use ai_orchestrator_operator::{generated, schema};
use serde_json::{Value, json};

#[test]
fn generated_files_on_disk_match_crdgen_output() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = generated::files().expect("generate");
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "crds/orchestrators.yaml",
            "crds/accesspolicies.yaml",
            "crds/operator-rbac.yaml",
            "charts/ai-orchestrator/crds/orchestrators.yaml",
            "charts/ai-orchestrator/crds/accesspolicies.yaml",
            "charts/ai-orchestrator/files/operator-rbac.yaml",
        ]
    );
    for (path, text) in &files {
        let on_disk = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| {
            panic!("{path} missing ({e}); run `cargo run -p ai-orchestrator-operator --bin crdgen`")
        });
        assert!(
            on_disk == *text,
            "{path} is stale; run `cargo run -p ai-orchestrator-operator --bin crdgen`"
        );
    }
    let chart_crds: Vec<String> = std::fs::read_dir(root.join("charts/ai-orchestrator/crds"))
        .expect("chart crds/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        chart_crds.len(),
        2,
        "only generated CRDs in the chart: {chart_crds:?}"
    );
}

#[test]
fn crdgen_output_is_deterministic() {
    assert_eq!(
        generated::files().expect("first"),
        generated::files().expect("second")
    );
}

#[test]
fn both_schemas_are_structural() {
    for crd in [schema::orchestrator_crd(), schema::access_policy_crd()] {
        let problems = schema::structural_problems(&crd);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            crd.metadata.name.unwrap_or_default(),
            problems.join("\n")
        );
    }
}

fn problems_of(node: Value) -> Vec<String> {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": node}
            }}}]
        }
    });
    schema::structural_problems(&serde_json::from_value(crd).expect("crd"))
}

#[test]
fn schema_walk_catches_what_an_api_server_rejects() {
    // What schemars writes for `deny_unknown_fields`.
    let p = problems_of(
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}),
    );
    assert!(
        p.iter()
            .any(|m| m.contains("properties together with additionalProperties")),
        "{p:?}"
    );
    let p = problems_of(json!({"properties": {"a": {"type": "string"}}}));
    assert!(p.iter().any(|m| m.ends_with("no type")), "{p:?}");
    // A nullable enum wrapped in anyOf.
    let p = problems_of(
        json!({"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"enum": [null], "nullable": true}]}),
    );
    assert!(p.iter().any(|m| m.contains("type inside anyOf")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("enum inside anyOf")), "{p:?}");
    // A data-carrying / untagged enum.
    let p = problems_of(
        json!({"type": "object", "oneOf": [{"properties": {"x": {"type": "string"}}, "description": "X"}]}),
    );
    assert!(p.iter().any(|m| m.contains("only inside oneOf")), "{p:?}");
    assert!(
        p.iter().any(|m| m.contains("description inside oneOf")),
        "{p:?}"
    );
    // Exemptions.
    assert!(problems_of(json!({"x-kubernetes-int-or-string": true})).is_empty());
    assert!(
        problems_of(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
            .is_empty()
    );
}

#[test]
fn cleaning_removes_additional_properties_beside_properties() {
    let mut node = json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": false}}, "additionalProperties": false});
    schema::clean_schema(&mut node);
    assert!(node.get("additionalProperties").is_none());
    assert!(node.pointer("/properties/a/additionalProperties").is_none());
    // A map keeps its value schema.
    let mut map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    schema::clean_schema(&mut map);
    assert_eq!(
        map.pointer("/additionalProperties/type"),
        Some(&json!("string"))
    );
}

fn crd_json(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Value {
    serde_json::to_value(crd).expect("json")
}

#[test]
fn crds_carry_cel_rules_printer_columns_and_status() {
    let orch = crd_json(&schema::orchestrator_crd());
    let version = &orch["spec"]["versions"][0];
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let rules = spec["x-kubernetes-validations"].to_string();
    assert!(
        rules.contains("self.replicas <= 1 || has(self.database)"),
        "{rules}"
    );
    assert_eq!(
        spec["properties"]["podTemplate"]["x-kubernetes-preserve-unknown-fields"],
        json!(true)
    );
    assert_eq!(spec["properties"]["podTemplate"]["type"], json!("object"));
    assert_eq!(
        spec["properties"]["llm"]["properties"]["provider"]["enum"],
        json!(["ollama", "openai"])
    );
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Ready", "Replicas", "Policy", "URL", "Age", "Reason", "Message"
        ]
    );
    let wide: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["priority"] == json!(1))
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(wide, ["Reason", "Message"], "only at -o wide");
    assert!(version["subresources"]["status"].is_object());
    assert_eq!(
        version["subresources"]["scale"],
        json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"})
    );
    let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    assert_eq!(status["replicas"]["type"], json!("integer"));
    assert_eq!(status["selector"]["type"], json!("string"));
    assert_eq!(orch["spec"]["names"]["shortNames"], json!(["orch"]));
    // `kubectl get ai-orchestrator` lists both kinds; conditions merge by type.
    for crd in [&orch, &crd_json(&schema::access_policy_crd())] {
        assert_eq!(
            crd["spec"]["names"]["categories"],
            json!(["ai-orchestrator"])
        );
        let conditions = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
            ["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], json!("map"));
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        assert!(
            conditions["items"]["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("type"))),
            "a list-map key must be required"
        );
    }

    let ap = crd_json(&schema::access_policy_crd());
    let version = &ap["spec"]["versions"][0];
    let paths = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["paths"];
    assert!(
        paths["x-kubernetes-validations"]
            .to_string()
            .contains("startsWith('/')")
    );
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Valid",
            "Bound",
            "Age",
            "Reason",
            "Message",
            "Orchestrators"
        ]
    );
    let bound = &version["additionalPrinterColumns"][1];
    assert_eq!(
        (bound["type"].as_str(), bound["jsonPath"].as_str()),
        (Some("integer"), Some(".status.boundCount")),
        "BOUND is a count, not a JSON array"
    );
    assert!(version["subresources"]["status"].is_object());
    assert!(version["subresources"].get("scale").is_none());
    assert_eq!(ap["spec"]["names"]["shortNames"], json!(["ap"]));
}
