//! The generated Secret `<name>-auth`: `jwt-keys.json`, `admin-password`
//! and `api-keys.json`, each file checked with the parser the server loads
//! it with before it is rendered.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use policy::contract::{
    ADMIN_PASSWORD_FILE, API_KEYS_FILE, ApiKeyEntry, JWT_KEYS_FILE, Problem, parse_api_keys,
    parse_jwt_keys, render_api_keys, render_jwt_keys,
};

use super::references::{api_key_purpose, lookup};
use super::{RenderError, RenderInput};
use crate::secrets::{self, JwtInputs, SecretError};

use super::meta::{auth_secret_name, owned_meta};

/// The generated Secret of `input.orchestrator`.
pub fn auth_secret(
    input: &RenderInput<'_>,
    owner: &OwnerReference,
    admin_ref: Option<&[u8]>,
    jwt_ref: Option<&[u8]>,
) -> Result<Secret, RenderError> {
    let orch = input.orchestrator;
    let spec = &orch.spec;
    let api_keys = api_keys_file(input)?;

    let rotate_request = orch
        .annotations()
        .get(secrets::ROTATE_ANNOTATION)
        .map(String::as_str);
    let (jwt_keys, rotation_done) = secrets::jwt_key_set(&JwtInputs {
        existing: input.existing.jwt_keys.as_ref(),
        referenced: jwt_ref,
        rotate_request,
        rotation_done: input.existing.rotation_done.as_deref(),
        fresh_secret: &input.fresh.jwt_secret,
        now: input.now,
        access_token_minutes: spec.auth.access_token_minutes,
    })?;
    let jwt_keys = render_jwt_keys(&jwt_keys);
    parse_jwt_keys(jwt_keys.as_bytes()).map_err(SecretError::JwtKeys)?;
    let admin = secrets::admin_password(
        admin_ref,
        input.existing.admin_password.as_deref(),
        &input.fresh.admin_password,
    )?;

    let mut metadata = owned_meta(orch, auth_secret_name(&orch.name_any()), owner);
    if let Some(done) = rotation_done {
        metadata.annotations = Some(BTreeMap::from([(
            secrets::ROTATION_DONE_ANNOTATION.to_string(),
            done,
        )]));
    }
    Ok(Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (JWT_KEYS_FILE.to_string(), ByteString(jwt_keys.into_bytes())),
            (ADMIN_PASSWORD_FILE.to_string(), ByteString(admin)),
            (API_KEYS_FILE.to_string(), ByteString(api_keys.into_bytes())),
        ])),
        ..Secret::default()
    })
}

/// `api-keys.json` of the selected policies' keys, sorted by name; a name
/// or key declared twice across policies is refused, naming the policy.
fn api_keys_file(input: &RenderInput<'_>) -> Result<String, RenderError> {
    let mut entries: Vec<(&str, ApiKeyEntry)> = Vec::new();
    for (policy, key) in &input.policies.api_keys {
        let value = lookup(
            input.secrets,
            &key.secret_ref,
            &api_key_purpose(policy, &key.name),
        )?;
        entries.push((
            policy.as_str(),
            ApiKeyEntry {
                name: key.name.clone(),
                sha256: secrets::api_key_hash(value),
                scopes: key.scopes.clone(),
                expires_at: key.expires_at.as_ref().map(|t| t.0.to_string()),
            },
        ));
    }
    entries.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let list: Vec<ApiKeyEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
    let text = render_api_keys(&list);
    parse_api_keys(text.as_bytes()).map_err(|error| {
        let at = error.entry().and_then(|i| entries.get(i));
        let first = match &error.problem {
            Problem::DuplicateKey { first } => entries.get(*first),
            Problem::Duplicate(name) => entries.iter().find(|(_, e)| &e.name == name),
            _ => None,
        };
        RenderError::ApiKeys {
            policy: at.map(|(p, _)| p.to_string()).unwrap_or_default(),
            key: at.map(|(_, e)| e.name.clone()).unwrap_or_default(),
            also: first
                .map(|(p, e)| format!(" (also declared by AccessPolicy {p} as {:?})", e.name))
                .unwrap_or_default(),
            error: Box::new(error),
        }
    })?;
    Ok(text)
}
