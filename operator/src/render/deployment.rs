//! The server Deployment: one container with a locked-down security
//! context, the policy ConfigMap and auth Secret mounted as directories (so
//! updates reach the running pod), and the data volume.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    HTTPGetAction, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use policy::contract;
use sha2::{Digest, Sha256};

use super::RenderError;
use super::env::{DATA_DIR, server_env};
use super::meta::{
    auth_secret_name, labels, owned_meta, policy_configmap_name, pvc_name, selector_labels,
};
use super::pod_template::merge_pod_template;
use crate::crd::{DEFAULT_IMAGE, Orchestrator, SERVER_PORT};

/// Pod-template annotation whose change restarts the server pods.
pub const RESTART_HASH_ANNOTATION: &str = "ai-orchestrator.io/restart-hash";
/// User and group the server runs as.
pub const SERVER_UID: i64 = 10001;

/// Secret values the server reads from its environment, at start only.
#[derive(Clone, Copy, Debug, Default)]
pub struct Restarts<'a> {
    pub database_url: Option<&'a [u8]>,
    pub llm_api_key: Option<&'a [u8]>,
}

/// The pod-template annotation value: changes only with what needs a restart
/// (the image, the database URL, the model server's API key), never with the
/// policy or the auth keys (which are reloaded).
pub fn restart_hash(image: &str, restarts: Restarts<'_>) -> String {
    let mut h = Sha256::new();
    h.update(b"image\0");
    h.update(image.as_bytes());
    h.update(b"\0database\0");
    if let Some(url) = restarts.database_url {
        h.update(Sha256::digest(url));
    }
    // Absent: the hash is what it was before the key existed, so no restart.
    if let Some(key) = restarts.llm_api_key {
        h.update(b"\0llm-api-key\0");
        h.update(Sha256::digest(key));
    }
    hex::encode(h.finalize())[..16].to_string()
}

pub fn deployment(
    orch: &Orchestrator,
    name: &str,
    owner: &OwnerReference,
    restarts: Restarts<'_>,
) -> Result<Deployment, RenderError> {
    let spec = &orch.spec;
    let image = spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    let mut annotations = spec.pod_annotations.clone().unwrap_or_default();
    annotations.insert(
        RESTART_HASH_ANNOTATION.to_string(),
        restart_hash(&image, restarts),
    );
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let mount = |volume: &str, path: &str, read_only: bool| VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    let container = Container {
        name: "server".into(),
        image: Some(image),
        args: Some(vec!["serve".into()]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: SERVER_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(server_env(orch, name)),
        resources: spec.resources.clone(),
        liveness_probe: Some(probe("/health", 10)),
        readiness_probe: Some(probe("/ready", 5)),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(SERVER_UID),
            run_as_group: Some(SERVER_UID),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("policy", contract::DEFAULT_CONFIG_DIR, true),
            mount("auth", contract::DEFAULT_SECRETS_DIR, true),
            mount("data", DATA_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let data_volume = match &spec.database {
        Some(_) => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        None => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(name),
                read_only: Some(false),
            }),
            ..Volume::default()
        },
    };
    let pod_spec = PodSpec {
        service_account_name: Some(name.to_string()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(SERVER_UID),
            run_as_group: Some(SERVER_UID),
            fs_group: Some(SERVER_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "policy".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: policy_configmap_name(name),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "auth".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(auth_secret_name(name)),
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            data_volume,
            Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
        node_selector: spec.node_selector.clone(),
        tolerations: spec.tolerations.clone(),
        ..PodSpec::default()
    };
    let mut template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(name)),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec),
    };
    if let Some(overlay) = &spec.pod_template {
        template = merge_pod_template(&template, overlay)?;
    }
    Ok(Deployment {
        metadata: owned_meta(orch, name.to_string(), owner),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(name)),
                ..LabelSelector::default()
            },
            strategy: Some(strategy(spec.database.is_some())),
            template,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

/// `Recreate` with SQLite: a ReadWriteOnce volume cannot be shared by an old
/// and a new pod. With a database, a rolling update that never drops below
/// the desired count; its parameters are set explicitly so that they are
/// owned by the operator and removed again when switching to `Recreate`.
fn strategy(has_database: bool) -> DeploymentStrategy {
    if has_database {
        DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(1)),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        }
    } else {
        DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        }
    }
}
