//! Building the application: storage, first-start bootstrap, the snapshot,
//! the shared state, and periodic upkeep.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::Router;

use crate::auth::guard::LoginGuard;
use crate::auth::hash_pool::HashPool;
use crate::auth::identity::Identities;
use crate::auth::jwt::{JwtKeys, KeySource};
use crate::auth::passwords;
use crate::config::files::{ADMIN_PASSWORD_FILE, JWT_KEYS_FILE};
use crate::config::reload::ReloadStatus;
use crate::config::{LlmProvider, Settings};
use crate::config::{PolicySource, generated_jwt_secret, load_candidate};
use crate::http::ratelimit::RateLimits;
use crate::http::scopes::Scopes;
use crate::llm::{LlmClient, LlmConnection, LlmServices, ModelCatalog, Provider};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::audit::{Audit, AuditEvent, Outcome};
use crate::store::db::{Db, UserRow, now_ms};
use crate::tools::Sandbox;

/// The key set used without `jwt-keys.json`: `AI_JWT_SECRET_KEY`, else a
/// generated key persisted in the data dir. `None` when the secrets dir has keys.
fn fallback_jwt(settings: &Settings) -> anyhow::Result<Option<JwtKeys>> {
    if let Some(secret) = &settings.jwt.env_secret {
        return Ok(Some(JwtKeys::new(
            "env".into(),
            vec![("env".into(), secret.expose().as_bytes().to_vec(), None)],
            KeySource::Environment,
        )));
    }
    if settings.secrets_dir.join(JWT_KEYS_FILE).exists() {
        return Ok(None);
    }
    let secret = generated_jwt_secret(&settings.data_dir)?;
    Ok(Some(JwtKeys::new(
        "local".into(),
        vec![("local".into(), secret, None)],
        KeySource::Generated,
    )))
}

/// Where the first admin's password comes from.
enum AdminPassword {
    /// The password and where it was configured (a variable's name or a file).
    Configured(String, String),
    Generated(String),
}

fn admin_password(settings: &Settings) -> anyhow::Result<AdminPassword> {
    if let Some(p) = &settings.admin_password {
        return Ok(AdminPassword::Configured(
            p.expose().to_string(),
            settings.admin_password_variable.to_string(),
        ));
    }
    let path = settings.secrets_dir.join(ADMIN_PASSWORD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let p = text.trim_end_matches(['\r', '\n']).to_string();
            if p.is_empty() {
                anyhow::bail!("{} is empty", path.display());
            }
            Ok(AdminPassword::Configured(p, path.display().to_string()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Ok(AdminPassword::Generated(passwords::generate()))
        }
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
    }
}

/// Warns when the configured admin password is not the stored one: it only
/// creates `admin` on the first start, and is never applied silently later.
async fn check_admin_password(
    settings: &Settings,
    db: &Db,
    hash_pool: &HashPool,
) -> anyhow::Result<()> {
    let AdminPassword::Configured(password, source) = admin_password(settings)? else {
        return Ok(());
    };
    let Some(admin) = db.get_user("admin").await? else {
        return Ok(());
    };
    let matches = passwords::verify(hash_pool, password, admin.password_hash)
        .await
        .map_err(|e| anyhow::anyhow!("cannot check the admin password: {e}"))?;
    if !matches {
        tracing::warn!(
            source = %source,
            "{source} differs from the stored password of the user 'admin' and was not applied \
             (it only sets the password when the first start creates admin); to apply it run: \
             ai-orchestrator users set-password admin"
        );
    }
    Ok(())
}

/// Creates the `admin` user when there are no users at all.
async fn bootstrap_admin(
    settings: &Settings,
    db: &Db,
    audit: &Audit,
    hash_pool: &HashPool,
) -> anyhow::Result<()> {
    if !db.list_users().await?.is_empty() {
        return check_admin_password(settings, db, hash_pool).await;
    }
    let (password, generated) = match admin_password(settings)? {
        AdminPassword::Configured(p, _) => (p, false),
        AdminPassword::Generated(p) => (p, true),
    };
    if password.len() < passwords::MIN_LEN {
        anyhow::bail!(
            "the configured admin password is shorter than {} characters",
            passwords::MIN_LEN
        );
    }
    let hash = passwords::hash(hash_pool, password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot hash the admin password: {e}"))?;
    let now = now_ms();
    let created = db
        .insert_user(&UserRow {
            uid: crate::store::db::new_user_id(),
            token_generation: 0,
            username: "admin".into(),
            password_hash: hash,
            scopes: Scopes::ADMIN,
            disabled: false,
            created_at: now,
            updated_at: now,
        })
        .await?;
    if created {
        if generated {
            // Printed once, on purpose: it is stored nowhere else in clear.
            eprintln!(
                "\n  Created user 'admin' with generated password: {password}\n  \
                 (shown only now; set AI_ADMIN_PASSWORD or <secrets-dir>/admin-password to choose it)\n"
            );
        }
        audit
            .record(
                AuditEvent::new("user.create", Outcome::Success)
                    .actor("system")
                    .target("admin")
                    .reason(if generated {
                        "first start; generated password"
                    } else {
                        "first start; configured password"
                    }),
            )
            .await;
    }
    Ok(())
}

/// The model client and the model cache, from the settings.
fn llm_services(settings: &Settings) -> anyhow::Result<LlmServices> {
    // The HTTP client needs the process's rustls provider; `main` installs
    // it, and so does this for embedders (tests, benchmarks). A no-op when set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = &settings.llm;
    let provider = match s.provider {
        LlmProvider::Ollama => Provider::Ollama,
        LlmProvider::OpenAi => Provider::OpenAi,
    };
    let client = LlmClient::new(LlmConnection {
        provider,
        base_url: s.base_url.clone(),
        timeout: s.timeout,
        api_key: s.api_key.clone(),
        params: s.params,
    })
    .context("cannot set up the model server client")?;
    let catalog = ModelCatalog::new(s.default_model.clone(), s.models.clone());
    Ok(LlmServices { client, catalog })
}

/// Probes the confinement layers once and says which are active.
async fn start_sandbox(settings: &Settings, policy: &policy::Policy) -> anyhow::Result<Sandbox> {
    let exe = match &settings.sandbox_launcher {
        Some(exe) => exe.clone(),
        None => crate::tools::sandbox::default_launcher()
            .context("cannot find the server's own executable")?,
    };
    let scratch = settings.sandbox_scratch_dir();
    // Scratch homes of commands cut short by a previous stop.
    let _ = std::fs::remove_dir_all(&scratch);
    let simulate = settings.sandbox_simulate_missing.clone();
    let own: Vec<std::path::PathBuf> = settings.own_paths().into_iter().map(|o| o.path).collect();
    let launcher = exe.display().to_string();
    let sandbox =
        tokio::task::spawn_blocking(move || Sandbox::probe(exe, simulate, scratch, own)).await?;
    let report = sandbox.report(policy);
    tracing::info!(
        launcher,
        landlock_abi = ?report.landlock_abi,
        landlock = %report.landlock,
        namespaces = report.namespaces,
        network = %report.network,
        notes = ?report.notes,
        "command confinement layers"
    );
    if let Some(reason) = sandbox.refusal(policy) {
        tracing::warn!("{reason}");
    }
    Ok(sandbox)
}

/// Opens storage, bootstraps, loads the configuration; refuses to start on any error.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    if !crate::auth::jwt::is_supported(settings.jwt.algorithm) {
        anyhow::bail!("unsupported JWT algorithm");
    }
    let fallback = fallback_jwt(&settings)?.map(Arc::new);
    let candidate = load_candidate(&settings, fallback.as_deref())?;
    if candidate.policy_source == PolicySource::BuiltInDefault {
        tracing::warn!(
            path = %settings.policy_path().display(),
            "no policy file: running with the built-in default policy"
        );
    }
    let db = Db::connect(&settings.database_url).await?;
    let audit = Audit::new(db.clone(), settings.audit_log_path.clone())
        .await
        .context("cannot open the audit log file")?;
    let hash_pool = Arc::new(HashPool::new(
        settings.password_hashing.concurrency,
        settings.password_hashing.queue_timeout,
    ));
    bootstrap_admin(&settings, &db, &audit, &hash_pool).await?;
    let identities = Identities::load(&db).await.context("cannot load users")?;
    let dummy_hash: Arc<str> = passwords::hash(&hash_pool, passwords::generate())
        .await
        .map_err(|e| anyhow::anyhow!("cannot hash the stand-in password: {e}"))?
        .into();
    let llm = llm_services(&settings)?;
    let sandbox = Arc::new(start_sandbox(&settings, &candidate.policy).await?);
    let snapshot = candidate.into_snapshot(1);
    let limiter = RateLimits::new(&snapshot.policy);
    let metrics = Metrics::new();
    metrics.policy_generation.set(1);
    let login_guard = Arc::new(LoginGuard::new(settings.login_lockout));
    Ok(AppState {
        settings: Arc::new(settings),
        db,
        current: Arc::new(ArcSwap::from_pointee(snapshot)),
        fallback_jwt: fallback,
        reload_lock: Arc::new(tokio::sync::Mutex::new(())),
        reload_status: Arc::new(Mutex::new(ReloadStatus::default())),
        audit,
        metrics: Arc::new(metrics),
        limiter: Arc::new(limiter),
        identities: Arc::new(identities),
        llm: Arc::new(llm),
        login_guard,
        hash_pool,
        dummy_hash,
        started_at: now_ms(),
        sandbox,
    })
}

/// Builds state and router (what `serve`, tests and benchmarks use).
pub async fn build_app(settings: Settings) -> anyhow::Result<(Router, AppState)> {
    let state = build_state(settings).await?;
    Ok((crate::http::router(state.clone()), state))
}

/// Periodic upkeep: flush API key last-use times and re-read users and keys
/// (every 10 s), evict idle rate-limit keys and login failures, purge
/// long-expired refresh tokens.
pub fn spawn_maintenance(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            state.identities.flush_last_used(&state.db).await;
            if let Err(err) = state.identities.refresh(&state.db).await {
                tracing::warn!(error = %err, "cannot re-read users and API keys");
            }
            if n.is_multiple_of(6) {
                state.limiter.evict();
                state.login_guard.evict();
            }
            if n.is_multiple_of(360)
                && let Err(err) = state.db.purge_expired_refresh().await
            {
                tracing::warn!(error = %err, "cannot purge expired refresh tokens");
            }
        }
    });
}
