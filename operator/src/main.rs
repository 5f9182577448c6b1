//! The ai-orchestrator operator: reconciles `Orchestrator` and `AccessPolicy`
//! resources, serves `/metrics`, `/healthz`, `/readyz`, and optionally runs
//! only while holding a Lease.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ai_orchestrator_operator::controller;
use ai_orchestrator_operator::lease::{self, LeaseSettings};
use ai_orchestrator_operator::metrics::{self, Metrics};
use ai_orchestrator_operator::webhook::{certs, server};
use clap::Parser;
use kube::Client;
use tracing::{error, info};

#[derive(Debug, Parser)]
#[command(version, about = "Kubernetes operator for ai-orchestrator")]
struct Args {
    /// Namespaces to watch, comma-separated; empty watches all namespaces.
    #[arg(
        long,
        env = "AI_OPERATOR_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    namespaces: Vec<String>,
    /// Run only while holding a Lease (needed with more than one replica).
    #[arg(long, env = "AI_OPERATOR_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Name of the Lease.
    #[arg(
        long,
        env = "AI_OPERATOR_LEASE_NAME",
        default_value = "ai-orchestrator-operator"
    )]
    lease_name: String,
    /// Namespace of the Lease (usually the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Identity in the Lease (usually the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Address of the metrics and health listener.
    #[arg(long, env = "AI_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Serve the validating admission webhook (HTTPS) on this address.
    #[arg(long, env = "AI_OPERATOR_WEBHOOK_LISTEN")]
    webhook_listen: Option<SocketAddr>,
    /// Service in front of the webhook (the serving certificate names it).
    #[arg(
        long,
        env = "AI_OPERATOR_WEBHOOK_SERVICE",
        default_value = "ai-orchestrator-operator-webhook"
    )]
    webhook_service: String,
    /// Secret, in the operator's namespace, holding the webhook's CA and certificate.
    #[arg(
        long,
        env = "AI_OPERATOR_WEBHOOK_SECRET",
        default_value = "ai-orchestrator-operator-webhook-tls"
    )]
    webhook_secret: String,
    /// ValidatingWebhookConfiguration whose caBundle the operator keeps current.
    #[arg(long, env = "AI_OPERATOR_WEBHOOK_CONFIGURATION")]
    webhook_configuration: Option<String>,
    /// Serve `tls.crt`/`tls.key` from this directory (e.g. issued by
    /// cert-manager) instead of the operator's own CA.
    #[arg(long, env = "AI_OPERATOR_WEBHOOK_TLS_DIR")]
    webhook_tls_dir: Option<PathBuf>,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AI_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn run_controllers(client: Client, namespaces: Vec<String>, metrics: Arc<Metrics>) {
    if namespaces.is_empty() {
        controller::run(client, None, metrics).await;
    } else {
        let runs = namespaces
            .into_iter()
            .map(|ns| controller::run(client.clone(), Some(ns), metrics.clone()));
        futures::future::join_all(runs).await;
    }
}

/// Starts the webhook on every replica (the Service may route to any):
/// its certificate comes from a directory or from the operator's own CA.
async fn start_webhook(client: &Client, args: &Args, addr: SocketAddr) -> anyhow::Result<()> {
    let slot = Arc::new(server::CertSlot::default());
    match &args.webhook_tls_dir {
        Some(dir) => {
            let load = |slot: &server::CertSlot| -> anyhow::Result<()> {
                let cert = std::fs::read_to_string(dir.join("tls.crt"))?;
                let key = std::fs::read_to_string(dir.join("tls.key"))?;
                slot.set(&cert, &key)?;
                Ok(())
            };
            load(&slot)?;
            let (dir, slot) = (dir.clone(), slot.clone());
            tokio::spawn(async move {
                // A renewed certificate appears in the mounted directory.
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(300)).await;
                    let cert = std::fs::read_to_string(dir.join("tls.crt"));
                    let key = std::fs::read_to_string(dir.join("tls.key"));
                    match (cert, key) {
                        (Ok(cert), Ok(key)) => {
                            if let Err(e) = slot.set(&cert, &key) {
                                error!(error = %e, "cannot load the webhook certificate");
                            }
                        }
                        _ => error!(dir = %dir.display(), "cannot read the webhook certificate"),
                    }
                }
            });
        }
        None => {
            let settings = certs::CertSettings {
                namespace: args.lease_namespace.clone(),
                secret: args.webhook_secret.clone(),
                service: args.webhook_service.clone(),
                configuration: args.webhook_configuration.clone(),
            };
            certs::refresh(client, &settings, &slot).await?;
            tokio::spawn(certs::keep_current(
                client.clone(),
                settings,
                slot.clone(),
                std::time::Duration::from_secs(3600),
            ));
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = server::router(Arc::new(server::ApiView(client.clone())));
    tokio::spawn(server::serve_https(
        listener,
        slot,
        app,
        std::future::pending(),
    ));
    info!(listen = %addr, "admission webhook serving");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("ai-orchestrator-operator: could not install the rustls crypto provider");
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    init_logs();
    let namespaces: Vec<String> = args
        .namespaces
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot reach the Kubernetes API");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(Metrics::default());
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, listen = %args.listen, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let app = metrics::router(metrics.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "metrics listener failed");
        }
    });
    if let Some(addr) = args.webhook_listen
        && let Err(e) = start_webhook(&client, &args, addr).await
    {
        error!(error = %e, listen = %addr, "cannot start the admission webhook");
        return ExitCode::FAILURE;
    }
    info!(namespaces = ?namespaces, leader_election = args.leader_election, listen = %args.listen, "starting");
    if !args.leader_election {
        metrics.set_active(true);
        run_controllers(client, namespaces, metrics).await;
        return ExitCode::SUCCESS;
    }
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("ai-orchestrator-operator-{}", std::process::id()));
    let settings = LeaseSettings {
        name: args.lease_name.clone(),
        namespace: args.lease_namespace.clone(),
        identity,
        duration_seconds: 15,
        grace_seconds: 5,
    };
    let result = lease::run_as_leader(
        client.clone(),
        settings,
        metrics.clone(),
        || run_controllers(client.clone(), namespaces.clone(), metrics.clone()),
        shutdown_signal(),
    )
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "leader election failed");
            ExitCode::FAILURE
        }
    }
}
