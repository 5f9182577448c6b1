//! The server container's environment: the contract's `AI_*` variables,
//! then the user's `spec.env` replacing or extending them.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, SecretKeySelector};
use policy::contract::{self, env};

use super::meta::{auth_secret_name, policy_configmap_name};
use crate::crd::{Orchestrator, SERVER_PORT, SecretKeyRef};

/// Where the server's data lives inside the pod (the PVC or an emptyDir).
pub const DATA_DIR: &str = "/data";

fn var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// A variable read from a Secret key (the value never appears in the Deployment).
fn secret_var(name: &str, r: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub fn server_env(orch: &Orchestrator, name: &str) -> Vec<EnvVar> {
    let spec = &orch.spec;
    let mut vars = vec![
        var(env::HOST, "0.0.0.0"),
        var(env::PORT, SERVER_PORT.to_string()),
        var(env::CONFIG_DIR, contract::DEFAULT_CONFIG_DIR),
        var(env::SECRETS_DIR, contract::DEFAULT_SECRETS_DIR),
        var(env::DATA_DIR, DATA_DIR),
    ];
    match &spec.database {
        Some(db) => vars.push(secret_var(env::DATABASE_URL, &db.url_secret_ref)),
        None => vars.push(var(env::DB_PATH, format!("{DATA_DIR}/orchestrator.db"))),
    }
    vars.push(var(env::OLLAMA_URL, spec.llm.url.clone()));
    vars.push(var(env::LLM_PROVIDER, spec.llm.provider.as_str()));
    if let Some(model) = &spec.llm.default_model {
        vars.push(var(env::DEFAULT_MODEL, model.clone()));
    }
    if !spec.llm.models.is_empty() {
        vars.push(var(env::MODELS, spec.llm.models.join(",")));
    }
    if let Some(t) = spec.llm.timeout_seconds {
        vars.push(var(env::LLM_TIMEOUT, t.to_string()));
    }
    if let Some(t) = spec.llm.turn_timeout_seconds {
        vars.push(var(env::TURN_TIMEOUT, t.to_string()));
    }
    if let Some(t) = spec.llm.temperature {
        vars.push(var(env::LLM_TEMPERATURE, t.to_string()));
    }
    if let Some(n) = spec.llm.max_tokens {
        vars.push(var(env::LLM_MAX_TOKENS, n.to_string()));
    }
    if let Some(n) = spec.llm.context_length {
        vars.push(var(env::LLM_CONTEXT_LENGTH, n.to_string()));
    }
    if let Some(key) = &spec.llm.api_key_secret_ref {
        vars.push(secret_var(env::LLM_API_KEY, key));
    }
    vars.push(var(env::AUTH_ENABLED, spec.auth.enabled.to_string()));
    if let Some(m) = spec.auth.access_token_minutes {
        vars.push(var(env::JWT_EXPIRE_MINUTES, m.to_string()));
    }
    if let Some(d) = spec.auth.refresh_token_days {
        vars.push(var(env::REFRESH_TOKEN_EXPIRE_DAYS, d.to_string()));
    }
    vars.push(var(env::OPENAI_API_ENABLED, spec.api.openai.to_string()));
    vars.push(var(env::MCP_ENABLED, spec.api.mcp.to_string()));
    vars.push(var(env::CONFIG_SOURCE, env::CONFIG_SOURCE_KUBERNETES));
    vars.push(EnvVar {
        name: env::POD_NAMESPACE.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.namespace".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    });
    vars.push(var(env::POLICY_CONFIGMAP, policy_configmap_name(name)));
    vars.push(var(env::AUTH_SECRET, auth_secret_name(name)));
    // User variables replace rendered ones of the same name, others are appended.
    for extra in spec.env.clone().unwrap_or_default() {
        match vars.iter_mut().find(|v| v.name == extra.name) {
            Some(slot) => *slot = extra,
            None => vars.push(extra),
        }
    }
    vars
}
