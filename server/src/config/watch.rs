//! File watchers and SIGHUP: what triggers a reload from the mounted directories.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::config::inputs::InputSource;
use crate::config::reload::{lock, reload};
use crate::state::AppState;

/// Watches both directories (Kubernetes swaps a `..data` symlink inside them,
/// so single files are not watched) and listens for SIGHUP. Runs until the
/// process ends; returns the watcher, which must be kept alive.
pub fn spawn_watchers(state: AppState) -> anyhow::Result<Option<notify::RecommendedWatcher>> {
    // The snapshot in force at start was read from these files.
    let first = state.snapshot();
    {
        let mut status = lock(&state.reload_status);
        status
            .seen
            .entry(InputSource::File)
            .or_insert((first.inputs_digest.clone(), true));
        status.last_sync_at.get_or_insert(first.loaded_at);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let dirs: Vec<PathBuf> = [
        state.settings.config_dir.clone(),
        state.settings.secrets_dir.clone(),
    ]
    .into_iter()
    .filter(|d| d.is_dir())
    .collect();
    let watcher = if dirs.is_empty() {
        None
    } else {
        let file_tx = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let _ = file_tx.send("file change");
                }
            })?;
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
            tracing::info!(dir = %dir.display(), "watching for configuration changes");
        }
        Some(watcher)
    };

    let hup_tx = tx.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            if hup_tx.send("SIGHUP").is_err() {
                break;
            }
        }
    });

    tokio::spawn(async move {
        while let Some(mut trigger) = rx.recv().await {
            // Let an editor or the kubelet finish its burst of writes, then read once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Ok(next) = rx.try_recv() {
                if next == "SIGHUP" {
                    trigger = next;
                }
            }
            reload(&state, trigger).await;
        }
    });
    Ok(watcher)
}
