//! Prometheus metrics: requests by route and status, latency, rate-limited
//! requests, authentication failures, and configuration reloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: HistogramFamily,
    pub rate_limited: Family<RouteLabels, Counter>,
    pub auth_failures: Family<ReasonLabels, Counter>,
    pub policy_reloads: Counter,
    pub policy_reload_failures: Counter,
    /// The refusals by [`crate::config::ReloadError::reason`].
    pub policy_reload_refusals: Family<ReasonLabels, Counter>,
    pub policy_generation: Gauge,
    /// Failed reads of the Kubernetes API source, by reason.
    pub policy_sync_errors: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ai_orchestrator");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let rate_limited = Family::<RouteLabels, Counter>::default();
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let policy_reloads = Counter::default();
        let policy_reload_failures = Counter::default();
        let policy_reload_refusals = Family::<ReasonLabels, Counter>::default();
        let policy_generation = Gauge::default();
        let policy_sync_errors = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused credentials by reason",
            auth_failures.clone(),
        );
        registry.register(
            "policy_reloads",
            "Configuration reloads applied",
            policy_reloads.clone(),
        );
        registry.register(
            "policy_reload_failures",
            "Configuration reloads refused as invalid",
            policy_reload_failures.clone(),
        );
        registry.register(
            "policy_reload_refusals",
            "Configuration reloads refused as invalid, by reason",
            policy_reload_refusals.clone(),
        );
        registry.register(
            "policy_generation",
            "Generation of the configuration in force",
            policy_generation.clone(),
        );
        registry.register(
            "policy_sync_errors",
            "Failed reads of the ConfigMap and Secret through the Kubernetes API, by reason",
            policy_sync_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            auth_failures,
            policy_reloads,
            policy_reload_failures,
            policy_reload_refusals,
            policy_generation,
            policy_sync_errors,
        }
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        out
    }
}
