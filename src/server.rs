//! Wiring: open the database, build the router, serve until shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::engine::{Database, EngineOptions};

/// Serves the REST API on `listener` until `shutdown` resolves. Tests bind
/// port 0 and pass their own shutdown signal.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let storage = config.storage.clone();
    let fsync = config.fsync;
    let options = EngineOptions {
        fsync,
        builder: config.graph_builder,
    };
    let db = tokio::task::spawn_blocking(move || Database::open(&storage, options))
        .await?
        .with_context(|| format!("opening storage at {}", config.storage.display()))?;
    let state = AppState::new(Arc::new(db));
    let app = api::router(state, config.max_request_size);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, storage = %config.storage.display(), fsync, "helio listening");
    // A stable line on stdout for scripts and tests started with --port 0.
    println!("helio listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
