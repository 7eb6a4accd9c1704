//! Wiring: open the database, build the router, serve until shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::embed::{EmbedCache, Models};
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
    let models_config = config.models.clone();
    let cache_path = config.storage.join("embedding-cache.sqlite");
    let models = tokio::task::spawn_blocking(move || {
        let cache = EmbedCache::open(&cache_path, models_config.cache_entries)
            .with_context(|| format!("opening the embedding cache {}", cache_path.display()))?;
        anyhow::Ok(Models::load(&models_config, cache))
    })
    .await??;
    let state = AppState::new(Arc::new(db), Arc::new(models));
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
