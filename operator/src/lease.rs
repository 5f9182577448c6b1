//! Leader election with a `coordination.k8s.io` Lease: only the holder runs
//! the controllers, and a replica that loses the lease drops them at once,
//! so it stops writing.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// Where the Lease lives and who this replica is.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// Seconds a holder keeps the lease without renewing it.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

/// Runs `controllers()` while this replica holds the lease, until `shutdown`
/// completes; the lease is released on the way out.
pub async fn run_as_leader<F, Fut>(
    client: Client,
    settings: LeaseSettings,
    metrics: Arc<Metrics>,
    controllers: F,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let manager = LeaseManagerBuilder::new(client, settings.name.clone())
        .with_namespace(settings.namespace.clone())
        .with_identity(settings.identity.clone())
        .with_duration(settings.duration_seconds)
        .with_grace(settings.grace_seconds)
        .build()
        .await?;
    let (mut leader, handle) = manager.watch().await;
    tokio::pin!(shutdown);
    let result: anyhow::Result<()> = loop {
        // Standby until the lease is ours.
        while !*leader.borrow_and_update() {
            info!(lease = %settings.name, identity = %settings.identity, "standby: waiting for the lease");
            tokio::select! {
                changed = leader.changed() => if changed.is_err() {
                    break;
                },
                () = &mut shutdown => {
                    drop(leader);
                    let _ = handle.await;
                    return Ok(());
                }
            }
        }
        if !*leader.borrow() {
            break Err(anyhow::anyhow!("the lease manager stopped"));
        }
        info!(lease = %settings.name, identity = %settings.identity, "holding the lease: starting controllers");
        metrics.set_active(true);
        let lost = async {
            loop {
                if leader.changed().await.is_err() || !*leader.borrow_and_update() {
                    return;
                }
            }
        };
        tokio::select! {
            () = controllers() => break Ok(()),
            () = lost => {
                metrics.set_active(false);
                warn!(lease = %settings.name, "lost the lease: controllers stopped");
            }
            () = &mut shutdown => break Ok(()),
        }
    };
    metrics.set_active(false);
    drop(leader);
    match handle.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(error = %e, "releasing the lease failed"),
        Err(e) => warn!(error = %e, "lease task failed"),
    }
    result
}
