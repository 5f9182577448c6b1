//! Keeps the webhook's certificate Secret current (creating or renewing it
//! with [`super::tls`]) and the `caBundle` of the chart's
//! ValidatingWebhookConfiguration equal to its CA bundle. Every replica runs
//! this; writes carry the resourceVersion read, so two replicas never both
//! replace the Secret: the loser reads the winner's certificates.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::server::CertSlot;
use super::tls::{self, Material};

/// Where the certificates live and who must trust them.
#[derive(Clone, Debug)]
pub struct CertSettings {
    pub namespace: String,
    pub secret: String,
    pub service: String,
    /// The ValidatingWebhookConfiguration whose caBundle is patched; `None`
    /// when something else (cert-manager's CA injector) maintains it.
    pub configuration: Option<String>,
}

/// Why the certificates could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("the webhook certificate Secret kept changing under concurrent writers")]
    Conflict,
    #[error("loading the serving certificate: {0}")]
    Load(#[from] super::server::LoadError),
}

/// Brings the Secret up to date and returns what it holds.
pub async fn ensure(
    client: &Client,
    settings: &CertSettings,
    now: Timestamp,
) -> Result<Material, CertError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let dns = tls::dns_names(&settings.service, &settings.namespace);
    for _ in 0..3 {
        let current = api.get_opt(&settings.secret).await?;
        let existing = current
            .as_ref()
            .and_then(|s| tls::from_secret(&s.data.clone().unwrap_or_default(), s.annotations()));
        let Some(next) = tls::next(existing.as_ref(), &dns, now)? else {
            if let Some(m) = existing {
                return Ok(m);
            }
            continue;
        };
        let (data, annotations) = tls::to_secret(&next);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(settings.secret.clone()),
                namespace: Some(settings.namespace.clone()),
                annotations: Some(annotations),
                resource_version: current.as_ref().and_then(|s| s.resource_version()),
                labels: current.as_ref().map(|s| s.labels().clone()),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Secret::default()
        };
        let written = match current {
            Some(_) => {
                api.replace(&settings.secret, &PostParams::default(), &secret)
                    .await
            }
            None => api.create(&PostParams::default(), &secret).await,
        };
        match written {
            Ok(_) => {
                info!(secret = %settings.secret, not_after = %next.cert_not_after, "webhook certificate written");
                return Ok(next);
            }
            // Another replica wrote first: read its certificates.
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CertError::Conflict)
}

/// Sets the `caBundle` of every webhook of the configuration to `bundle`.
pub async fn patch_ca_bundle(client: &Client, name: &str, bundle: &str) -> Result<(), CertError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let current = api.get(name).await?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bundle);
    let webhooks: Vec<_> = current
        .webhooks
        .iter()
        .flatten()
        .filter(|w| {
            w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(bundle.as_bytes())
        })
        .map(|w| json!({"name": w.name, "clientConfig": {"caBundle": encoded}}))
        .collect();
    if webhooks.is_empty() {
        return Ok(());
    }
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"webhooks": webhooks})),
    )
    .await?;
    info!(configuration = %name, "webhook caBundle updated");
    Ok(())
}

/// One pass: the Secret, the caBundle, the certificate being served.
pub async fn refresh(
    client: &Client,
    settings: &CertSettings,
    slot: &CertSlot,
) -> Result<(), CertError> {
    let material = ensure(client, settings, Timestamp::now()).await?;
    slot.set(&material.cert, &material.key)?;
    if let Some(configuration) = &settings.configuration {
        patch_ca_bundle(client, configuration, &material.ca_bundle).await?;
    }
    Ok(())
}

/// Refreshes now and then every `period`, retrying sooner after a failure.
pub async fn keep_current(
    client: Client,
    settings: CertSettings,
    slot: Arc<CertSlot>,
    period: Duration,
) {
    loop {
        let wait = match refresh(&client, &settings, &slot).await {
            Ok(()) => period,
            Err(e) => {
                warn!(error = %e, "webhook certificates could not be refreshed; retrying");
                Duration::from_secs(10)
            }
        };
        tokio::time::sleep(wait).await;
    }
}
