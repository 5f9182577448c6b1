//! The Service in front of the server pods, and the in-cluster URL it gives.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::meta::{owned_meta, selector_labels};
use crate::crd::{Orchestrator, SERVER_PORT};

/// The Service and the server's in-cluster URL.
pub fn service(orch: &Orchestrator, owner: &OwnerReference, namespace: &str) -> (Service, String) {
    let name = orch.name_any();
    let service_spec = orch.spec.service.clone().unwrap_or_default();
    let port = service_spec.port.unwrap_or(SERVER_PORT);
    let mut metadata = owned_meta(orch, name.clone(), owner);
    metadata.annotations = service_spec.annotations.clone();
    let service = Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(service_spec.type_.unwrap_or_default().as_str().to_string()),
            selector: Some(selector_labels(&name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    (service, format!("http://{name}.{namespace}.svc:{port}"))
}
