//! `/health`, `/ready`, `/metrics`.

use crate::http::extract::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::routes::rfc3339;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct PolicyStatus {
    /// Increases by one with every applied reload.
    pub generation: u64,
    /// SHA-256 of the policy in force.
    pub hash: String,
    pub loaded_at: String,
    /// `file`, `kubernetes` or `built-in-default`.
    pub source: String,
    /// Why the last reload was refused, while the previous configuration stays in force.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub reloads: u64,
    pub reload_failures: u64,
    /// When a source last delivered a configuration that validated.
    pub last_sync_at: Option<String>,
    pub seconds_since_sync: Option<f64>,
    /// Failed reads of the Kubernetes API (unreachable, forbidden, relist).
    pub sync_errors: u64,
    pub last_sync_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub auth_enabled: bool,
    pub rate_limit_enabled: bool,
    /// `kubernetes` while the API source follows the ConfigMap and Secret, else `file`.
    pub config_source: String,
    pub policy: PolicyStatus,
    /// Which kernel layers confine commands (Landlock ABI, namespaces, network).
    pub sandbox: crate::tools::sandbox::LayerReport,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: String,
    pub database: String,
    pub policy_generation: u64,
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let snapshot = state.snapshot();
    let status = state.reload_status();
    Json(Health {
        sandbox: state.sandbox.report(&snapshot.policy),
        status: "healthy".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        auth_enabled: state.settings.auth_enabled,
        rate_limit_enabled: snapshot.policy.rate_limits_enabled(),
        config_source: if status.api_active {
            "kubernetes"
        } else {
            "file"
        }
        .into(),
        policy: PolicyStatus {
            generation: snapshot.generation,
            hash: snapshot.policy.hash().to_string(),
            loaded_at: rfc3339(snapshot.loaded_at),
            source: match snapshot.policy_source {
                crate::config::PolicySource::File => "file".into(),
                crate::config::PolicySource::Kubernetes => "kubernetes".into(),
                crate::config::PolicySource::BuiltInDefault => "built-in-default".into(),
            },
            last_error: status.last_error,
            last_error_at: status.last_error_at.map(rfc3339),
            reloads: status.reloads,
            reload_failures: status.failures,
            last_sync_at: status.last_sync_at.map(rfc3339),
            seconds_since_sync: status
                .last_sync_at
                .map(|at| (crate::store::db::now_ms() - at).max(0) as f64 / 1000.0),
            sync_errors: status.sync_errors,
            last_sync_error: status.last_sync_error,
        },
    })
}

#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, body = Ready), (status = 503, description = "database unreachable")))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let generation = state.snapshot().generation;
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Ready {
                status: "ready".into(),
                database: "ok".into(),
                policy_generation: generation,
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Ready {
                    status: "not ready".into(),
                    database: "unreachable".into(),
                    policy_generation: generation,
                }),
            )
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus/OpenMetrics text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}
