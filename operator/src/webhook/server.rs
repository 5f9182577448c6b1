//! The HTTPS side of the webhook: AdmissionReview in, AdmissionReview out.
//! A body that is not an AdmissionReview gets 400 with `{"detail": ...}`;
//! everything else gets a review, denied when the decision says so.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use kube::api::{Api, ListParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use super::decide::{self, Namespace, Verdict};
use crate::crd::{AccessPolicy, Orchestrator};

/// Where the decisions read the other objects of a namespace.
pub trait ClusterView: Send + Sync + 'static {
    fn namespace<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Namespace, String>>;
}

/// Reads through the Kubernetes API at each review, so a decision never
/// rests on a stale cache (and a standby replica answers as well as the leader).
pub struct ApiView(pub kube::Client);

impl ClusterView for ApiView {
    fn namespace<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Namespace, String>> {
        Box::pin(async move {
            let lp = ListParams::default();
            let orchestrators = Api::<Orchestrator>::namespaced(self.0.clone(), namespace)
                .list(&lp)
                .await
                .map_err(|e| format!("cannot list Orchestrators in {namespace}: {e}"))?;
            let policies = Api::<AccessPolicy>::namespaced(self.0.clone(), namespace)
                .list(&lp)
                .await
                .map_err(|e| format!("cannot list AccessPolicies in {namespace}: {e}"))?;
            Ok(Namespace {
                orchestrators: orchestrators.items,
                policies: policies.items,
            })
        })
    }
}

/// The routes, over any view of the cluster.
pub fn router(view: Arc<dyn ClusterView>) -> Router {
    Router::new()
        .route("/validate/accesspolicies", post(access_policies))
        .route("/validate/orchestrators", post(orchestrators))
        .with_state(view)
}

fn bad_request(detail: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "detail": detail })),
    )
        .into_response()
}

/// The request of an AdmissionReview body, or the 400 response.
fn parse_review(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, String> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not an AdmissionReview: {e}"))?;
    if review.types.api_version != "admission.k8s.io/v1" || review.types.kind != "AdmissionReview" {
        return Err(format!(
            "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got {} {}",
            review.types.api_version, review.types.kind
        ));
    }
    review
        .try_into()
        .map_err(|_| "the AdmissionReview has no request".to_string())
}

fn respond(request: &AdmissionRequest<DynamicObject>, verdict: Verdict) -> Response {
    let mut response = AdmissionResponse::from(request);
    if let Some(message) = verdict.denied {
        info!(uid = %request.uid, kind = %request.kind.kind, name = %request.name, namespace = ?request.namespace, "admission denied");
        response = response.deny(message);
    }
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings);
    }
    axum::Json(response.into_review()).into_response()
}

fn typed<K: DeserializeOwned>(object: &Option<DynamicObject>) -> Result<K, String> {
    let object = object
        .as_ref()
        .ok_or_else(|| "the request carries no object".to_string())?;
    let value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| format!("the object does not parse: {e}"))
}

/// Reviews that need no decision: deletions and connections pass.
fn passes(request: &AdmissionRequest<DynamicObject>) -> bool {
    !matches!(request.operation, Operation::Create | Operation::Update)
}

async fn namespace_of(
    view: &dyn ClusterView,
    request: &AdmissionRequest<DynamicObject>,
) -> Result<Namespace, Verdict> {
    let ns = request.namespace.clone().unwrap_or_default();
    view.namespace(&ns).await.map_err(|e| Verdict {
        denied: Some(e),
        warnings: Vec::new(),
    })
}

async fn access_policies(State(view): State<Arc<dyn ClusterView>>, body: Bytes) -> Response {
    let request = match parse_review(&body) {
        Ok(r) => r,
        Err(detail) => return bad_request(detail),
    };
    if passes(&request) {
        return respond(&request, Verdict::default());
    }
    let policy: AccessPolicy = match typed(&request.object) {
        Ok(p) => p,
        Err(e) => return respond(&request, deny(e)),
    };
    let verdict = match namespace_of(view.as_ref(), &request).await {
        Ok(ns) => decide::review_access_policy(&policy, &ns),
        Err(verdict) => verdict,
    };
    respond(&request, verdict)
}

async fn orchestrators(State(view): State<Arc<dyn ClusterView>>, body: Bytes) -> Response {
    let request = match parse_review(&body) {
        Ok(r) => r,
        Err(detail) => return bad_request(detail),
    };
    if passes(&request) {
        return respond(&request, Verdict::default());
    }
    let ns = match namespace_of(view.as_ref(), &request).await {
        Ok(ns) => ns,
        Err(verdict) => return respond(&request, verdict),
    };
    if request.sub_resource.as_deref() == Some("scale") {
        let replicas = request
            .object
            .as_ref()
            .and_then(|o| o.data.pointer("/spec/replicas"))
            .and_then(serde_json::Value::as_i64)
            .and_then(|r| i32::try_from(r).ok());
        let current = ns
            .orchestrators
            .iter()
            .find(|o| o.metadata.name.as_deref() == Some(request.name.as_str()));
        let verdict = match (current, replicas) {
            (Some(orch), Some(replicas)) => decide::review_scale(orch, replicas),
            (None, _) => deny(format!("Orchestrator {} not found", request.name)),
            (_, None) => deny("the Scale carries no spec.replicas".to_string()),
        };
        return respond(&request, verdict);
    }
    let verdict = match typed::<Orchestrator>(&request.object) {
        Ok(orch) => decide::review_orchestrator(&orch, &ns),
        Err(e) => deny(e),
    };
    respond(&request, verdict)
}

fn deny(message: String) -> Verdict {
    Verdict {
        denied: Some(message),
        warnings: Vec::new(),
    }
}

/// The serving certificate, replaceable while the listener runs.
#[derive(Debug, Default)]
pub struct CertSlot(RwLock<Option<Arc<CertifiedKey>>>);

/// Why a certificate and key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the certificate PEM holds no certificate")]
    NoCertificate,
    #[error("the key PEM: {0}")]
    Key(#[source] rustls::pki_types::pem::Error),
    #[error("the key: {0}")]
    Unusable(#[source] rustls::Error),
}

impl CertSlot {
    /// Installs `cert_pem` (the chain) and `key_pem`.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), LoadError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .filter_map(Result::ok)
                .collect();
        if chain.is_empty() {
            return Err(LoadError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(LoadError::Key)?;
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(LoadError::Unusable)?;
        let certified = CertifiedKey::new(chain, signing);
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(Arc::new(certified));
        }
        Ok(())
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().and_then(|slot| slot.clone())
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes; a slow or
/// failed handshake affects only its own connection.
pub async fn serve_https(
    listener: TcpListener,
    certs: Arc<CertSlot>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_no_client_auth().with_cert_resolver(certs),
        Err(e) => {
            warn!(error = %e, "webhook TLS configuration failed");
            return;
        }
    };
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "webhook accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "webhook TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "webhook TLS handshake timed out");
                        return;
                    }
                };
            let service = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                debug!(%peer, error = %e, "webhook connection ended with an error");
            }
        });
    }
}
