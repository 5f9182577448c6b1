//! Prometheus metrics of the reconciler, and the HTTP listener serving them
//! with the health endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Counters and the duration histogram of reconciles.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    errors: Family<Labels, Counter>,
    duration: Histogram,
    leader: Gauge,
    active: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ai_orchestrator_operator");
        let reconciles = Counter::default();
        let errors = Family::<Labels, Counter>::default();
        let duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "active",
            "1 while this replica runs the controllers (holds the lease, or leader election is off)",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            leader,
            active: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Marks whether this replica runs the controllers.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
        self.leader.set(i64::from(active));
    }

    /// Whether this replica runs the controllers.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Records one reconcile and how long it took.
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Records a failed reconcile under its error category.
    pub fn failed(&self, category: &str) {
        self.errors
            .get_or_create(&vec![("category".to_string(), category.to_string())])
            .inc();
    }

    /// Number of failures recorded under `category`.
    pub fn failures(&self, category: &str) -> u64 {
        self.errors
            .get_or_create(&vec![("category".to_string(), category.to_string())])
            .get()
    }

    /// Number of reconciles run.
    pub fn reconcile_count(&self) -> u64 {
        self.reconciles.get()
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// `/metrics`, `/healthz` and `/readyz`. A standby replica (waiting for the
/// lease) is ready too, otherwise a rolling update of a two-replica operator
/// would wait for it forever; the body and the `active` gauge tell them apart.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

async fn ready(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_active() {
        (StatusCode::OK, "ready: active")
    } else {
        (StatusCode::OK, "ready: standby, waiting for the lease")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_by_category() {
        let m = Metrics::default();
        m.reconciled(Duration::from_millis(3));
        m.failed("missing_secret");
        m.failed("missing_secret");
        let text = m.encode();
        assert!(
            text.contains("ai_orchestrator_operator_reconciles_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "ai_orchestrator_operator_reconcile_errors_total{category=\"missing_secret\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("ai_orchestrator_operator_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("ai_orchestrator_operator_active 0"), "{text}");
        m.set_active(true);
        assert!(m.encode().contains("ai_orchestrator_operator_active 1"));
    }

    async fn get(app: Router, path: &str) -> (StatusCode, String) {
        use tower::ServiceExt;
        let response = app
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).to_string())
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let metrics = Arc::new(Metrics::default());
        metrics.failed("kube_api");
        let (status, body) = get(router(metrics.clone()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("reconcile_errors_total{category=\"kube_api\"} 1"),
            "{body}"
        );
        assert_eq!(
            get(router(metrics.clone()), "/healthz").await.0,
            StatusCode::OK
        );
        let (status, body) = get(router(metrics.clone()), "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ready: standby, waiting for the lease")
        );
        metrics.set_active(true);
        assert_eq!(
            get(router(metrics.clone()), "/readyz").await.1,
            "ready: active"
        );
        assert_eq!(get(router(metrics), "/nope").await.0, StatusCode::NOT_FOUND);
    }
}
