//! The Secrets a rendering reads besides the generated one, and their values.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;

use super::RenderError;
use super::policies::PolicySet;
use crate::crd::{Orchestrator, SecretKeyRef};

/// A referenced Secret key and why it is needed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretUse {
    pub secret: SecretKeyRef,
    pub purpose: String,
}

/// The values of referenced Secrets, by Secret name then key; a Secret that
/// does not exist is absent.
pub type SecretValues = BTreeMap<String, BTreeMap<String, ByteString>>;

/// Every Secret key the rendering reads, besides the generated Secret.
pub fn secret_uses(orch: &Orchestrator, set: &PolicySet) -> Vec<SecretUse> {
    let mut uses = Vec::new();
    if let Some(r) = &orch.spec.auth.admin_password_secret_ref {
        uses.push(SecretUse {
            secret: r.clone(),
            purpose: "spec.auth.adminPasswordSecretRef".into(),
        });
    }
    if let Some(r) = &orch.spec.auth.jwt_secret_ref {
        uses.push(SecretUse {
            secret: r.clone(),
            purpose: "spec.auth.jwtSecretRef".into(),
        });
    }
    if let Some(r) = &orch.spec.llm.api_key_secret_ref {
        uses.push(SecretUse {
            secret: r.clone(),
            purpose: "spec.llm.apiKeySecretRef".into(),
        });
    }
    if let Some(db) = &orch.spec.database {
        uses.push(SecretUse {
            secret: db.url_secret_ref.clone(),
            purpose: "spec.database.urlSecretRef".into(),
        });
    }
    for (policy, key) in &set.api_keys {
        uses.push(SecretUse {
            secret: key.secret_ref.clone(),
            purpose: api_key_purpose(policy, &key.name),
        });
    }
    uses
}

/// The Secret names read for `orch`.
pub fn secret_names(uses: &[SecretUse]) -> BTreeSet<String> {
    uses.iter().map(|u| u.secret.name.clone()).collect()
}

pub(crate) fn api_key_purpose(policy: &str, key: &str) -> String {
    format!("AccessPolicy {policy} apiKeys[{key}]")
}

/// The value of `r`, or which Secret or key is missing.
pub(crate) fn lookup<'a>(
    values: &'a SecretValues,
    r: &SecretKeyRef,
    purpose: &str,
) -> Result<&'a [u8], RenderError> {
    let secret = values
        .get(&r.name)
        .ok_or_else(|| RenderError::MissingSecret {
            name: r.name.clone(),
            purpose: purpose.to_string(),
        })?;
    secret
        .get(&r.key)
        .map(|b| b.0.as_slice())
        .ok_or_else(|| RenderError::MissingSecretKey {
            name: r.name.clone(),
            key: r.key.clone(),
            purpose: purpose.to_string(),
        })
}
