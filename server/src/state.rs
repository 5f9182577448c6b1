//! Shared application state, cheap to clone into every handler.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::auth::guard::LoginGuard;
use crate::auth::hash_pool::HashPool;
use crate::auth::identity::Identities;
use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::config::{Snapshot, reload::ReloadStatus};
use crate::http::ratelimit::RateLimits;
use crate::llm::LlmServices;
use crate::metrics::Metrics;
use crate::store::audit::Audit;
use crate::store::db::Db;
use crate::tools::Sandbox;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    /// The configuration in force; replaced as a whole on reload.
    pub current: Arc<ArcSwap<Snapshot>>,
    /// JWT keys used when the secrets dir has none (environment or generated).
    pub fallback_jwt: Option<Arc<JwtKeys>>,
    pub reload_lock: Arc<tokio::sync::Mutex<()>>,
    pub reload_status: Arc<Mutex<ReloadStatus>>,
    pub audit: Audit,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimits>,
    pub identities: Arc<Identities>,
    /// The model server client and the model cache.
    pub llm: Arc<LlmServices>,
    pub login_guard: Arc<LoginGuard>,
    /// Every password hash and verification runs here, bounded.
    pub hash_pool: Arc<HashPool>,
    /// An argon2id hash of a random password, verified against for unknown
    /// users so that a wrong name costs the same time as a wrong password.
    pub dummy_hash: Arc<str>,
    pub started_at: i64,
    /// The confining launcher and the layers it has on this host.
    pub sandbox: Arc<Sandbox>,
}

impl AppState {
    /// The snapshot in force (a cheap pointer copy).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn reload_status(&self) -> ReloadStatus {
        self.reload_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Per-request facts every layer and handler may need, set first.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The client: the peer, or the `X-Forwarded-For` entry a trusted proxy vouches for.
    pub client_ip: IpAddr,
    pub request_id: String,
}
