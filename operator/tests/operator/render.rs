//! Golden-file tests of the pure render: several Orchestrator/AccessPolicy
//! combinations, merge precedence, invalid policies left out, and secret
//! values never in the output. `UPDATE_GOLDEN=1` rewrites the golden files.

use std::path::PathBuf;

use crate::common::*;
use ai_orchestrator_operator::crd::{AccessPolicy, Orchestrator};
use ai_orchestrator_operator::render::{self, RenderError, RenderInput, Rendered};
use ai_orchestrator_operator::schema;
use ai_orchestrator_operator::secrets::{self, Existing, Fresh};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::Secret;
use policy::contract;
use serde_json::{Value, json};

fn render_with(
    orch: &Orchestrator,
    policies: &[AccessPolicy],
    secrets: &[Secret],
    existing: &Existing,
    fresh: &Fresh,
) -> Result<Rendered, RenderError> {
    let set = render::policy_set(orch, policies);
    let values = values(secrets);
    render::render(&RenderInput {
        orchestrator: orch,
        policies: &set,
        secrets: &values,
        existing,
        fresh,
        now: now(),
    })
}

fn render_ok(orch: &Orchestrator, policies: &[AccessPolicy], secrets: &[Secret]) -> Rendered {
    render_with(orch, policies, secrets, &Existing::default(), &fresh()).expect("render")
}

fn golden_text(rendered: &Rendered) -> String {
    let mut docs: Vec<Value> = rendered.objects_json();
    docs.push(json!({
        "summary": {
            "policyHash": rendered.policy.hash,
            "applied": rendered.policy.applied,
            "invalid": rendered.policy.invalid,
            "mergeError": rendered.policy.merge_error,
            "url": rendered.url,
            "openaiUrl": rendered.openai_url,
            "mcpUrl": rendered.mcp_url,
        }
    }));
    let mut out = schema::to_yaml_documents(&docs).expect("yaml");
    // Secret data is base64 in the objects; show the decoded files as well so a
    // reviewer sees what the server reads.
    let data = rendered.auth_secret.data.clone().unwrap_or_default();
    for (key, value) in data {
        out.push_str(&format!(
            "# --- {} {key}:\n",
            rendered
                .auth_secret
                .metadata
                .name
                .clone()
                .unwrap_or_default()
        ));
        for line in String::from_utf8_lossy(&value.0).lines() {
            out.push_str(&format!("#   {line}\n"));
        }
    }
    if let Some(yaml) = &rendered.policy.yaml {
        out.push_str("# --- policy.yaml:\n");
        for line in yaml.lines() {
            out.push_str(&format!("#   {line}\n"));
        }
    }
    out
}

fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/operator/golden")
        .join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} missing ({e}); run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let diff_line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{} differs from the rendering (first differing line {:?}); review and run with UPDATE_GOLDEN=1\n--- actual ---\n{actual}",
            path.display(),
            diff_line.map(|l| l + 1)
        );
    }
}

fn minimal() -> Orchestrator {
    orchestrator("minimal", json!({}))
}

fn full() -> Orchestrator {
    orchestrator(
        "full",
        json!({
            "image": "registry.example.com/ai-orchestrator:1.2.3",
            "replicas": 2,
            "api": {"mcp": false},
            "llm": {"url": "https://llm.example.com", "provider": "openai", "defaultModel": "gpt-x", "timeoutSeconds": 90, "models": ["gpt-x", "gpt-y"],
                    "turnTimeoutSeconds": 240, "temperature": 0.3, "maxTokens": 4096, "contextLength": 16384,
                    "apiKeySecretRef": {"name": "llm", "key": "api-key"}},
            "auth": {"enabled": true, "accessTokenMinutes": 15, "refreshTokenDays": 7,
                     "adminPasswordSecretRef": {"name": "admin", "key": "password"},
                     "jwtSecretRef": {"name": "jwt", "key": "secret"}},
            "cors": {"allowedOrigins": ["https://base.example.com"], "allowCredentials": true},
            "rateLimits": {"default": {"requests": 60, "per": "1m"}, "routes": {"/api/chat": {"requests": 5, "per": "1m"}}},
            "policySelector": {"matchLabels": {"team": "core"}},
            "database": {"urlSecretRef": {"name": "db", "key": "url"}},
            "service": {"type": "LoadBalancer", "port": 80, "annotations": {"lb.example.com/internal": "true"}},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ai", "effect": "NoSchedule"}],
            "podAnnotations": {"prometheus.io/scrape": "true"},
            "env": [{"name": "AI_LOG_LEVEL", "value": "debug"}, {"name": "AI_LLM_TIMEOUT", "value": "120"}],
            "podTemplate": {
                "metadata": {"labels": {"sidecar.example.com/inject": "false"}},
                "spec": {
                    "runtimeClassName": "gvisor",
                    "containers": [
                        {"name": "server", "env": [{"name": "EXTRA", "value": "1"}]},
                        {"name": "proxy", "image": "envoyproxy/envoy:v1.31"}
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}]
                }
            }
        }),
    )
}

fn full_secrets() -> Vec<Secret> {
    let mut s = key_secrets();
    s.push(secret("admin", &[("password", ADMIN_PASSWORD)]));
    s.push(secret("jwt", &[("secret", JWT_SECRET)]));
    s.push(secret("db", &[("url", DATABASE_URL)]));
    s.push(secret("llm", &[("api-key", LLM_API_KEY)]));
    s.push(secret(
        "leak-key",
        &[("key", "ak_leak_should_never_be_read")],
    ));
    s
}

#[test]
fn golden_minimal_sqlite_without_policies() {
    let rendered = render_ok(&minimal(), &[readonly_policy()], &[]);
    assert!(
        rendered.policy.applied.is_empty(),
        "no selector selects nothing"
    );
    assert!(rendered.pvc.is_some());
    assert_golden("minimal", &golden_text(&rendered));
}

#[test]
fn golden_full_postgres_two_policies_and_pod_template() {
    let policies = [readonly_policy(), ci_policy(), other_team_policy()];
    let rendered = render_ok(&full(), &policies, &full_secrets());
    assert!(rendered.pvc.is_none(), "no PVC with an external database");
    let names: Vec<&str> = rendered
        .policy
        .applied
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["ci", "readonly"]);
    assert_golden("full", &golden_text(&rendered));
}

#[test]
fn golden_invalid_policy_is_left_out() {
    let orch = orchestrator(
        "guarded",
        json!({"policySelector": {"matchLabels": {"team": "core"}}}),
    );
    let policies = [readonly_policy(), invalid_policy()];
    let rendered = render_ok(&orch, &policies, &full_secrets());
    assert_eq!(rendered.policy.invalid.len(), 1);
    assert_eq!(rendered.policy.invalid[0].0, "broken");
    assert!(
        rendered.policy.invalid[0]
            .1
            .contains("commands.allow[0].program"),
        "{:?}",
        rendered.policy.invalid
    );
    let yaml = rendered.policy.yaml.clone().expect("policy");
    assert!(!yaml.contains("/usr/bin/curl"));
    // Its API keys are left out too.
    let keys = String::from_utf8(
        rendered.auth_secret.data.clone().expect("data")[contract::API_KEYS_FILE]
            .0
            .clone(),
    )
    .expect("utf8");
    assert!(!keys.contains("leak"), "{keys}");
    // The rendering equals the one without the invalid policy.
    let without = render_ok(&orch, &[readonly_policy()], &full_secrets());
    assert_eq!(rendered.config_map, without.config_map);
    assert_eq!(rendered.deployment, without.deployment);
    assert_golden("invalid-policy", &golden_text(&rendered));
}

#[test]
fn merge_precedence_unions_allows_denies_win_limits_most_restrictive() {
    let rendered = render_ok(&full(), &[readonly_policy(), ci_policy()], &full_secrets());
    let yaml = rendered.policy.yaml.clone().expect("policy");
    let compiled =
        policy::Policy::from_yaml(&yaml).expect("the server's loader accepts policy.yaml");
    let doc = compiled.document();
    let programs: Vec<&str> = doc
        .commands
        .allow
        .iter()
        .map(|r| r.program.as_str())
        .collect();
    assert!(
        programs.contains(&"cargo") && programs.contains(&"ls") && programs.contains(&"git"),
        "{programs:?}"
    );
    assert!(
        doc.commands.deny.contains(&"rm".to_string())
            && doc.commands.deny.contains(&"curl".to_string())
    );
    assert_eq!(doc.commands.max_runtime_seconds, Some(20));
    assert_eq!(doc.paths.max_read_bytes, Some(1048576));
    assert_eq!(doc.paths.read, ["/src", "/workspace"]);
    assert_eq!(
        doc.cors.allowed_origins,
        [
            "https://app.example.com",
            "https://base.example.com",
            "https://ci.example.com"
        ]
    );
    assert_eq!(
        doc.rate_limits.default.as_ref().map(|r| r.requests),
        Some(30)
    );
    assert_eq!(doc.rate_limits.routes["/api/chat"].requests, 5);
    // Denied programs are refused even though another policy allows git.
    assert!(
        !compiled
            .check_command("curl https://example.com", std::path::Path::new("/"))
            .allowed
    );
    assert!(
        compiled
            .check_command("git status", std::path::Path::new("/"))
            .allowed
    );
    assert_eq!(rendered.policy.hash.as_deref(), Some(compiled.hash()));
}

#[test]
fn rendering_is_deterministic_and_order_independent() {
    let a = render_ok(&full(), &[readonly_policy(), ci_policy()], &full_secrets());
    let b = render_ok(&full(), &[ci_policy(), readonly_policy()], &full_secrets());
    assert_eq!(golden_text(&a), golden_text(&b));
}

#[test]
fn minimal_policy_yaml_is_accepted_by_the_loader() {
    let rendered = render_ok(&minimal(), &[], &[]);
    let yaml = rendered.config_map.expect("configmap").data.expect("data")["policy.yaml"].clone();
    policy::Policy::from_yaml(&yaml).expect("the server's loader accepts policy.yaml");
}

/// Every string in the rendered objects, with Secret data decoded.
fn all_text(rendered: &Rendered) -> String {
    let mut text = String::new();
    for object in rendered.objects_json() {
        text.push_str(&object.to_string());
        text.push('\n');
    }
    for value in rendered
        .auth_secret
        .data
        .clone()
        .unwrap_or_default()
        .values()
    {
        text.push_str(&String::from_utf8_lossy(&value.0));
        text.push('\n');
    }
    text.push_str(&format!("{:?}", rendered.policy));
    text
}

#[test]
fn secret_values_never_appear_in_any_rendered_object() {
    let rendered = render_ok(
        &full(),
        &[readonly_policy(), ci_policy(), invalid_policy()],
        &full_secrets(),
    );
    let text = all_text(&rendered);
    for plain in [
        CI_KEY,
        DEPLOY_KEY,
        DATABASE_URL,
        "db-pass-7f3a9c",
        LLM_API_KEY,
        "ak_leak_should_never_be_read",
    ] {
        assert!(!text.contains(plain), "{plain} leaked");
        assert!(
            !text.contains(&BASE64.encode(plain)),
            "{plain} leaked base64-encoded"
        );
    }
    // Only hashes are present for the API keys.
    assert!(text.contains(&secrets::api_key_hash(CI_KEY.as_bytes())));
    assert!(text.contains(&secrets::api_key_hash(DEPLOY_KEY.as_bytes())));
    // The admin password and JWT secret exist only in the auth Secret.
    let mut outside = String::new();
    for object in rendered.objects_json() {
        if object["kind"] != "Secret" {
            outside.push_str(&object.to_string());
        }
    }
    for plain in [ADMIN_PASSWORD, JWT_SECRET] {
        assert!(
            !outside.contains(plain) && !outside.contains(&BASE64.encode(plain)),
            "{plain} outside the auth Secret"
        );
    }
}

#[test]
fn generated_secrets_are_kept_on_later_renders() {
    let orch = minimal();
    let first = render_with(&orch, &[], &[], &Existing::default(), &fresh()).expect("first");
    let existing = Existing::from_secret(&first.auth_secret).expect("existing");
    let second = render_with(&orch, &[], &[], &existing, &other_fresh()).expect("second");
    assert_eq!(first.auth_secret, second.auth_secret);
    let data = second.auth_secret.data.expect("data");
    assert_eq!(
        data[contract::ADMIN_PASSWORD_FILE].0,
        fresh().admin_password.as_bytes()
    );
}

#[test]
fn rotation_annotation_adds_a_signing_key_and_keeps_the_old() {
    let orch = minimal();
    let first = render_with(&orch, &[], &[], &Existing::default(), &fresh()).expect("first");
    let existing = Existing::from_secret(&first.auth_secret).expect("existing");
    let mut rotated_orch = minimal();
    rotated_orch.metadata.annotations = Some(
        [(
            secrets::ROTATE_ANNOTATION.to_string(),
            "2026-11-25".to_string(),
        )]
        .into(),
    );
    let rotated = render_with(&rotated_orch, &[], &[], &existing, &other_fresh()).expect("rotated");
    let keys: contract::JwtKeySet = serde_json::from_slice(
        &rotated.auth_secret.data.clone().expect("data")[contract::JWT_KEYS_FILE].0,
    )
    .expect("json");
    assert_eq!(keys.signing_kid, "k2");
    assert_eq!(keys.keys.len(), 2);
    assert!(keys.keys[0].retired_at.is_some());
    // The Deployment is untouched: no restart for a key rotation.
    assert_eq!(first.deployment, rotated.deployment);
    // Rendering again with the recorded rotation changes nothing.
    let recorded = Existing::from_secret(&rotated.auth_secret).expect("existing");
    let again = render_with(&rotated_orch, &[], &[], &recorded, &fresh()).expect("again");
    assert_eq!(again.auth_secret, rotated.auth_secret);
}

#[test]
fn policy_change_changes_configmap_but_not_pod_template() {
    let orch = full();
    let before = render_ok(&orch, &[readonly_policy(), ci_policy()], &full_secrets());
    let mut changed = ci_policy();
    changed.spec.commands.deny.push("wget".into());
    changed.metadata.generation = Some(3);
    let after = render_ok(&orch, &[readonly_policy(), changed], &full_secrets());
    assert_ne!(before.config_map, after.config_map);
    assert_ne!(before.policy.hash, after.policy.hash);
    assert_eq!(before.deployment, after.deployment);
}

fn env_value(rendered: &Rendered, name: &str) -> Option<String> {
    let pod = rendered.deployment.spec.as_ref()?.template.spec.as_ref()?;
    pod.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[test]
fn the_front_doors_follow_spec_api() {
    let on = render_ok(&minimal(), &[], &[]);
    assert_eq!(
        env_value(&on, "AI_OPENAI_API_ENABLED").as_deref(),
        Some("true")
    );
    assert_eq!(env_value(&on, "AI_MCP_ENABLED").as_deref(), Some("true"));
    assert_eq!(on.openai_url, Some(format!("{}/v1", on.url)));
    assert_eq!(on.mcp_url, Some(format!("{}/mcp", on.url)));
    let off = render_ok(
        &orchestrator("doors", json!({"api": {"openai": false, "mcp": false}})),
        &[],
        &[],
    );
    assert_eq!(
        env_value(&off, "AI_OPENAI_API_ENABLED").as_deref(),
        Some("false")
    );
    assert_eq!(env_value(&off, "AI_MCP_ENABLED").as_deref(), Some("false"));
    assert_eq!((off.openai_url, off.mcp_url), (None, None));
}

#[test]
fn restart_hash_follows_image_database_url_and_llm_api_key_only() {
    let with = |db: &'static [u8], key: Option<&'static [u8]>| render::Restarts {
        database_url: Some(db),
        llm_api_key: key,
    };
    let base = render::restart_hash("img:1", with(b"postgres://a", None));
    assert_ne!(
        base,
        render::restart_hash("img:2", with(b"postgres://a", None))
    );
    assert_ne!(
        base,
        render::restart_hash("img:1", with(b"postgres://b", None))
    );
    assert_eq!(
        base,
        render::restart_hash("img:1", with(b"postgres://a", None))
    );
    let keyed = render::restart_hash("img:1", with(b"postgres://a", Some(b"sk-1")));
    assert_ne!(base, keyed);
    assert_ne!(
        keyed,
        render::restart_hash("img:1", with(b"postgres://a", Some(b"sk-2")))
    );
}

#[test]
fn the_llm_api_key_is_a_secret_reference_and_generation_settings_are_env() {
    let orch = orchestrator(
        "keyed",
        json!({"llm": {"url": "http://litellm.ai.svc:4000", "provider": "openai",
            "apiKeySecretRef": {"name": "llm", "key": "api-key"},
            "temperature": 0.1, "maxTokens": 1024, "contextLength": 32768,
            "turnTimeoutSeconds": 600}}),
    );
    let secrets = [secret("llm", &[("api-key", "sk-do-not-render-me")])];
    let rendered = render_ok(&orch, &[], &secrets);
    let pod = rendered
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    let env = pod.containers[0].env.as_ref().expect("env");
    let key = env
        .iter()
        .find(|e| e.name == contract::env::LLM_API_KEY)
        .expect("AI_LLM_API_KEY");
    assert_eq!(key.value, None);
    let selector = key
        .value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.as_ref())
        .expect("secretKeyRef");
    assert_eq!(
        (
            selector.name.as_str(),
            selector.key.as_str(),
            selector.optional
        ),
        ("llm", "api-key", Some(false))
    );
    assert!(!all_text(&rendered).contains("sk-do-not-render-me"));
    for (name, value) in [
        (contract::env::LLM_TEMPERATURE, "0.1"),
        (contract::env::LLM_MAX_TOKENS, "1024"),
        (contract::env::LLM_CONTEXT_LENGTH, "32768"),
        (contract::env::TURN_TIMEOUT, "600"),
    ] {
        assert_eq!(env_value(&rendered, name).as_deref(), Some(value), "{name}");
    }
    // A new key restarts the pods; the same key does not.
    let annotation = |r: &Rendered| {
        r.deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(render::RESTART_HASH_ANNOTATION).cloned())
    };
    let again = render_ok(&orch, &[], &secrets);
    assert_eq!(annotation(&rendered), annotation(&again));
    let rotated = render_ok(&orch, &[], &[secret("llm", &[("api-key", "sk-new")])]);
    assert_ne!(annotation(&rendered), annotation(&rotated));
    // The Secret must exist, and the error names the field.
    let err = render_with(&orch, &[], &[], &Existing::default(), &fresh()).expect_err("missing");
    assert!(
        err.to_string().contains("spec.llm.apiKeySecretRef"),
        "{err}"
    );
    // Without these settings the server's defaults apply: nothing is rendered.
    let plain = render_ok(&minimal(), &[], &[]);
    for name in [
        contract::env::LLM_API_KEY,
        contract::env::LLM_TEMPERATURE,
        contract::env::TURN_TIMEOUT,
    ] {
        assert!(
            plain
                .deployment
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .is_some_and(|p| p.containers[0]
                    .env
                    .as_ref()
                    .is_none_or(|e| e.iter().all(|v| v.name != name))),
            "{name}"
        );
    }
}

#[test]
fn missing_secrets_are_reported_with_their_purpose() {
    let err = render_with(
        &full(),
        &[readonly_policy()],
        &key_secrets(),
        &Existing::default(),
        &fresh(),
    )
    .expect_err("missing");
    let message = err.to_string();
    assert!(
        message.contains("\"admin\"") && message.contains("adminPasswordSecretRef"),
        "{message}"
    );
    let mut secrets = full_secrets();
    secrets.retain(|s| s.metadata.name.as_deref() != Some("ci-key"));
    let err = render_with(
        &full(),
        &[readonly_policy()],
        &secrets,
        &Existing::default(),
        &fresh(),
    )
    .expect_err("missing key");
    assert!(
        err.to_string()
            .contains("AccessPolicy readonly apiKeys[ci]"),
        "{err}"
    );
    let mut secrets = full_secrets();
    secrets.push(secret("db", &[("other", "x")]));
    secrets.retain(|s| {
        !(s.metadata.name.as_deref() == Some("db")
            && s.data.as_ref().is_some_and(|d| d.contains_key("url")))
    });
    let err = render_with(&full(), &[], &secrets, &Existing::default(), &fresh())
        .expect_err("missing key");
    assert!(matches!(err, RenderError::MissingSecretKey { .. }), "{err}");
}

#[test]
fn api_keys_are_validated_like_the_server_loads_them() {
    let bad = policy(
        "keys",
        json!({"team": "core"}),
        json!({"apiKeys": [
            {"name": "a", "secretRef": {"name": "s", "key": "k"}, "scopes": []},
            {"name": "a", "secretRef": {"name": "s", "key": "k2"}, "scopes": ["read"]}
        ]}),
    );
    let message = render::validate_policy(&bad).expect_err("invalid");
    assert!(
        message.contains("apiKeys[0].scopes: at least one scope is required"),
        "{message}"
    );
    assert!(
        message.contains("apiKeys[1].name: `a` is declared twice"),
        "{message}"
    );
    assert!(render::validate_policy(&readonly_policy()).is_ok());
}

#[test]
fn replicas_above_one_need_a_database() {
    let orch = orchestrator("scaled", json!({"replicas": 3}));
    let err = render_with(&orch, &[], &[], &Existing::default(), &fresh()).expect_err("invalid");
    assert!(matches!(err, RenderError::InvalidSpec(_)), "{err}");
}

#[test]
fn pod_template_merges_containers_by_name_and_appends_other_lists() {
    let rendered = render_ok(&full(), &[], &full_secrets());
    let spec = rendered
        .deployment
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod");
    assert_eq!(spec.runtime_class_name.as_deref(), Some("gvisor"));
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["server", "proxy"]);
    let server = &spec.containers[0];
    assert_eq!(
        server.image.as_deref(),
        Some("registry.example.com/ai-orchestrator:1.2.3")
    );
    let env = server.env.clone().expect("env");
    assert!(env.iter().any(|e| e.name == "EXTRA"));
    assert_eq!(
        env.iter()
            .find(|e| e.name == "AI_LLM_TIMEOUT")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("120")
    );
    let volumes: Vec<String> = spec
        .volumes
        .expect("volumes")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(volumes, ["policy", "auth", "data", "tmp", "cache"]);
    // Mounted as directories, never subPath.
    assert!(
        server
            .volume_mounts
            .clone()
            .expect("mounts")
            .iter()
            .all(|m| m.sub_path.is_none())
    );
}

/// YAML documents of kind Orchestrator / AccessPolicy in the docs and examples.
fn documented_resources() -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut texts: Vec<(String, String)> = Vec::new();
    let doc = std::fs::read_to_string(root.join("docs/custom-resources.md"))
        .expect("docs/custom-resources.md");
    for (i, block) in doc.split("```yaml\n").skip(1).enumerate() {
        let body = block.split("```").next().unwrap_or_default();
        texts.push((
            format!("docs/custom-resources.md block {i}"),
            body.to_string(),
        ));
    }
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                texts.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).expect("example"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (source, text) in texts {
        for document in
            serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{source}: {e}"))
        {
            if matches!(
                document["kind"].as_str(),
                Some("Orchestrator" | "AccessPolicy")
            ) {
                out.push((source.clone(), document));
            }
        }
    }
    out
}

#[test]
fn documented_examples_are_accepted() {
    let resources = documented_resources();
    assert!(resources.len() >= 2, "the docs show both resources");
    for (source, mut value) in resources {
        value["metadata"]["namespace"] = json!(NS);
        value["metadata"]["uid"] = json!("uid-example");
        match value["kind"].as_str() {
            Some("AccessPolicy") => {
                let policy: AccessPolicy =
                    serde_json::from_value(value).unwrap_or_else(|e| panic!("{source}: {e}"));
                render::validate_policy(&policy).unwrap_or_else(|e| panic!("{source}: {e}"));
            }
            _ => {
                let orch: Orchestrator =
                    serde_json::from_value(value).unwrap_or_else(|e| panic!("{source}: {e}"));
                // Provide every referenced Secret, then render.
                let set = render::policy_set(&orch, &[]);
                let secrets: Vec<Secret> = render::secret_uses(&orch, &set)
                    .into_iter()
                    .map(|u| secret(&u.secret.name, &[(u.secret.key.as_str(), JWT_SECRET)]))
                    .collect();
                render_with(&orch, &[], &secrets, &Existing::default(), &fresh())
                    .unwrap_or_else(|e| panic!("{source}: {e}"));
            }
        }
    }
}

#[test]
fn a_retained_volume_claim_has_no_owner_so_deleting_the_orchestrator_keeps_it() {
    let owned = render_ok(&minimal(), &[], &[]);
    let claim = owned.pvc.expect("pvc");
    assert_eq!(
        claim.metadata.owner_references.expect("owner")[0].kind,
        "Orchestrator"
    );
    let retained = orchestrator(
        "minimal",
        json!({"storage": {"size": "5Gi", "retainOnDelete": true}}),
    );
    let rendered = render_ok(&retained, &[], &[]);
    let claim = rendered.pvc.expect("pvc");
    assert_eq!(claim.metadata.owner_references, None);
    assert_eq!(claim.metadata.name.as_deref(), Some("minimal-data"));
    // Everything else is still owned, and the Deployment still mounts the claim.
    assert!(rendered.deployment.metadata.owner_references.is_some());
    let volumes = serde_json::to_value(&rendered.deployment).expect("json")["spec"]["template"]
        ["spec"]["volumes"]
        .clone();
    assert!(
        volumes
            .to_string()
            .contains("\"claimName\":\"minimal-data\""),
        "{volumes}"
    );
}
