//! `ai-orchestrator serve`: start the HTTP server.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{ServeArgs, Settings};

/// JSON logs on stderr; stdout is kept for the listen address.
fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `<data-dir>/workspace` is the agent's conventional working root (the shipped and example
/// policies name `/data/workspace`). A volume mounted at the data dir hides whatever the image
/// had there, so the server creates it; the database beside it stays outside that root.
fn ensure_workspace(data_dir: &std::path::Path) {
    let workspace = data_dir.join("workspace");
    if let Err(err) = std::fs::create_dir_all(&workspace) {
        tracing::warn!(path = %workspace.display(), error = %err, "cannot create the agent workspace");
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&args)?;
    init_logging(&settings);
    if !settings.auth_enabled {
        tracing::warn!(
            "AI_AUTH_ENABLED=false: every request acts as the admin; never expose this server"
        );
    }
    ensure_workspace(&settings.data_dir);
    // Held until exit: `restore` and `import-v3` refuse to run while it is.
    let _db_lock = crate::cli::server_lock::hold_for_server(&settings.database_url)?;
    let (host, port) = (settings.host.clone(), settings.port);
    let limits = settings.connections.clone();
    let (app, state) = crate::app::build_app(settings).await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    let _watcher = crate::config::watch::spawn_watchers(state.clone())?;
    // After the file watchers, which record the files the snapshot came from.
    let _api_source = crate::config::kube_source::spawn(state.clone());
    crate::app::spawn_maintenance(state.clone());
    let shown = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("listening on http://{addr}");
    println!(
        "log in: curl -X POST http://{shown}/api/auth/login -d username=admin -d 'password=<admin password>' \
         (the password is AI_ADMIN_PASSWORD, <secrets-dir>/admin-password, or the one printed at first start)"
    );
    tracing::info!(
        %addr,
        generation = state.snapshot().generation,
        max_connections = limits.max_connections,
        "listening"
    );
    crate::http::connections::serve(listener, app, limits, shutdown_signal()).await;
    state.identities.flush_last_used(&state.db).await;
    tracing::info!("stopped");
    Ok(())
}
