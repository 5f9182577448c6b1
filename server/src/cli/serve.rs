//! `ai-orchestrator serve`: start the HTTP server.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{ServeArgs, Settings};

/// The log filter: the configured level for everything, except audit records,
/// which are never filtered out (they are the trail, not diagnostics).
pub fn log_filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!("{level},audit=info")).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs on stderr; stdout is kept for the listen address.
fn init_logging(settings: &Settings) {
    let filter = log_filter(&settings.log_level);
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

/// Exit 2 when the settings or the database are refused, 1 when the server fails.
pub async fn run(args: ServeArgs) -> Result<(), crate::cli::exit::Failure> {
    let settings = Settings::load(&args).map_err(|e| crate::cli::exit::refuse(format!("{e:#}")))?;
    init_logging(&settings);
    if let Some((path, bad_lines)) = &settings.env_file {
        tracing::info!(path = %path.display(), "read settings from the env file");
        for line in bad_lines {
            tracing::warn!(path = %path.display(), line, "a line of the env file could not be parsed and was skipped");
        }
    }
    // Not dumpable: a process of the same user without CAP_SYS_PTRACE cannot
    // read this one's memory or /proc/<pid>/environ (which holds the secrets).
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("could not make the server non-dumpable: {e}");
    }
    if !settings.auth_enabled {
        tracing::warn!(
            "AI_AUTH_ENABLED=false: every request acts as the admin; never expose this server"
        );
    }
    // Before the lock file or the workspace appear beside it: a v3.0 file stays untouched.
    if let Some(file) = crate::cli::server_lock::sqlite_path(&settings.database_url) {
        crate::store::schema_check::check_sqlite_file(&file)
            .await
            .map_err(crate::cli::exit::refuse)?;
    }
    crate::store::private::dir(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (mode 0700)",
            settings.data_dir.display()
        )
    })?;
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
    // A closed stdout must not stop a server that is otherwise fine.
    let _ = crate::cli::output::line(format_args!("listening on http://{addr}"));
    if let Some((path, _)) = &state.settings.env_file {
        // Whatever the log level: which file the settings came from (never its values).
        let _ = crate::cli::output::line(format_args!(
            "settings: read {} (the process environment wins over it)",
            path.display()
        ));
    }
    let _ = crate::cli::output::line(format_args!(
        "log in: curl -X POST http://{shown}/api/auth/login -d username=admin -d 'password=<admin password>' \
         (the password is AI_ADMIN_PASSWORD, <secrets-dir>/admin-password, or the one printed at first start)"
    ));
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
