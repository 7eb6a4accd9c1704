//! Wiring: open the [`Services`], start the drop-folder watcher, build the
//! router, serve until shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::assets::schedule::Schedule;
use crate::config::Config;
use crate::engine::{Database, EngineError};
use crate::services::Services;
use crate::watch::run_watcher;

/// How often the inbox is rescanned when no file event arrives (some file
/// systems, network shares among them, send none).
const RESCAN: Duration = Duration::from_millis(250);

/// Pause between two binds of an address in use.
const BIND_RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// Serves the REST API on `listener` until `shutdown` resolves. Tests bind
/// port 0 and pass their own shutdown signal.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let opening = config.clone();
    let db = tokio::task::spawn_blocking(move || Services::open_database(&opening))
        .await?
        .with_context(|| format!("opening storage at {}", config.storage.display()))?;
    let db = match config.restore.storage_snapshot.clone() {
        Some(archive) => restore(db, archive, config.restore.force_snapshot).await?,
        None => db,
    };
    let opening = config.clone();
    let services =
        tokio::task::spawn_blocking(move || Services::on_database(&opening, Arc::new(db)))
            .await??;
    let mut state = AppState::new(services.db.clone(), services.models.clone());
    state.assets = Some(services.assets.clone());
    state.assistant = Some(services.assistant.clone());
    state.chat = services.chat.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let schedules = config
        .schedules
        .iter()
        .filter(|(_, cron)| cron != "off")
        .map(|(asset, cron)| Schedule::parse(asset, cron, &config.schedule_tz))
        .collect::<Result<Vec<_>, _>>()?;
    let watcher = run_watcher(
        services.assets.clone(),
        schedules,
        state.metrics.clone(),
        RESCAN,
        stop.clone(),
    );
    tracing::info!(inbox = %services.pipeline.inbox().inbox_dir().display(), "watching for catalog CSVs");
    let app = api::router(state, config.max_request_size);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, storage = %config.storage.display(), fsync = config.fsync, "helio listening");
    // A stable line on stdout for scripts and tests started with --port 0.
    println!("helio listening on http://{addr}");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || watcher.join()).await;
    served?;
    Ok(())
}

/// Binds `addr`, retrying for up to `retry` while the address is in use.
/// After `kill -9`, a thread still inside `fsync`/`msync` keeps the dying
/// process, and its listening socket, alive a moment; a supervisor that
/// restarts Helio at once (systemd waits 100 ms) would otherwise see the
/// new process exit. Any other error, or the port still taken after
/// `retry`, is returned as it is.
pub async fn bind(addr: &str, retry: Duration) -> std::io::Result<TcpListener> {
    let started = std::time::Instant::now();
    let mut logged: Option<std::time::Instant> = None;
    loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && started.elapsed() < retry => {
                // One line a second while waiting, not one per attempt.
                if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(
                        %addr,
                        waited_s = started.elapsed().as_secs(),
                        retry_s = retry.as_secs(),
                        "address in use (a previous server still exiting?); retrying"
                    );
                    logged = Some(std::time::Instant::now());
                }
                tokio::time::sleep(BIND_RETRY_INTERVAL).await;
            }
            other => return other,
        }
    }
}

/// Restores a full-storage snapshot into the just-opened storage, before
/// anything else (the pipeline creates collections of its own) can run.
async fn restore(db: Database, archive: PathBuf, force: bool) -> anyhow::Result<Database> {
    let shown = archive.display().to_string();
    let (db, restored) = tokio::task::spawn_blocking(move || {
        let restored = db.restore_storage_snapshot(&archive, force);
        (db, restored)
    })
    .await?;
    let restored = restored.map_err(|e| match e {
        EngineError::AlreadyExists(_) => {
            anyhow::anyhow!("{e}; start with --force-snapshot to replace them")
        }
        other => anyhow::Error::new(other).context("restoring the storage snapshot"),
    })?;
    tracing::info!(
        snapshot = %shown,
        collections = ?restored.collections,
        aliases = restored.aliases.len(),
        "storage snapshot restored"
    );
    Ok(db)
}
