//! Qdrant-compatible REST API over the engine (axum).
//!
//! Handlers extract, make one engine call (on the blocking pool), convert
//! and wrap the result in Qdrant's envelope `{"result", "status", "time"}`.
//! Errors go through [`error::ApiError`], the only place that picks HTTP
//! statuses.

pub mod assets;
pub mod chat;
pub mod collections;
pub mod embeddings;
pub mod error;
pub mod extract;
pub mod formula_input;
pub mod groups;
pub mod helio;
pub mod inference;
pub mod matrix;
pub mod models;
pub mod optimizations;
pub mod points;
pub mod query_input;
pub mod search;
pub mod service;
pub mod snapshots;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;

use crate::embed::Models;
use crate::engine::collection::ReadRequest;
use crate::engine::{Collection, Database, EngineError};
use crate::observe::metrics::{Metrics, RequestLabels};
use error::ApiError;

/// Shared handles, cheap to clone into every handler.
#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Database>,
    pub models: Arc<Models>,
    pub metrics: Arc<Metrics>,
    pub instance_id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The knowledge-base assets; `None` when the server runs without the
    /// pipeline (embedded use, tests of the API alone).
    pub assets: Option<Arc<crate::assets::Assets>>,
    /// The sales assistant; `None` when the server runs without it.
    pub assistant: Option<Arc<crate::helio::Assistant>>,
    /// The chat model served as `/v1/chat/completions`, when one is loaded.
    pub chat: Option<Arc<dyn crate::helio::llm::Llm>>,
}

impl AppState {
    pub fn new(db: Arc<Database>, models: Arc<Models>) -> AppState {
        AppState {
            db,
            models,
            metrics: Arc::new(Metrics::new()),
            instance_id: uuid::Uuid::new_v4().to_string(),
            started_at: chrono::Utc::now(),
            assets: None,
            assistant: None,
            chat: None,
        }
    }
}

/// Qdrant's success envelope, serialised straight from the typed result
/// (no intermediate `serde_json::Value`: search answers are on the hot path).
#[derive(Serialize)]
struct Envelope<T> {
    result: T,
    status: &'static str,
    time: f64,
}

pub fn ok<T: Serialize>(started: Instant, result: T) -> Response {
    Json(Envelope {
        result,
        status: "ok",
        time: started.elapsed().as_secs_f64(),
    })
    .into_response()
}

/// Qdrant's answer to a write that will complete in the background
/// (`wait=false` where the work is long): 202, no `result`.
pub fn accepted(started: Instant) -> Response {
    let body = serde_json::json!({
        "status": "accepted",
        "time": started.elapsed().as_secs_f64(),
    });
    (axum::http::StatusCode::ACCEPTED, Json(body)).into_response()
}

/// Runs a short CPU-bound engine call (a search) right here on the worker
/// thread. A search takes a fraction of a millisecond; handing it to the
/// blocking pool, or `block_in_place` (which wakes another thread to take
/// over this worker's queue), costs tens of microseconds of wake-ups per
/// request, a tenth of the whole round trip. The other worker steals this
/// one's queued tasks meanwhile; a caller that wants a bound on a long
/// read passes `timeout`, which runs it on the blocking pool instead.
pub fn compute<T>(f: impl FnOnce() -> Result<T, EngineError>) -> Result<T, ApiError> {
    f().map_err(ApiError::from)
}

/// Runs a read under a request's `timeout` (seconds): without one, inline
/// as [`compute`] does; with one, on the blocking pool, answering 408 in
/// Qdrant's envelope when the time is up. The work itself then finishes in
/// the background (reads hold only read locks) and its result is dropped.
pub async fn read_within<T, F>(timeout: Option<u64>, f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, EngineError> + Send + 'static,
    T: Send + 'static,
{
    let secs = match timeout {
        None => return compute(f),
        Some(0) => {
            return Err(ApiError::Engine(EngineError::BadRequest(
                "timeout must be at least 1 second".into(),
            )))
        }
        Some(s) => s,
    };
    match tokio::time::timeout(std::time::Duration::from_secs(secs), blocking(f)).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::Engine(EngineError::Timeout(format!(
            "the operation did not finish within the request's timeout of {secs} s"
        )))),
    }
}

/// Runs a read of `collection` through the engine's one entry for reads
/// ([`Database::read`]: lookups in other collections, strict mode, then
/// the read on one view), under the request's `timeout`.
pub async fn read<R>(
    state: &AppState,
    collection: Arc<Collection>,
    req: R,
    timeout: Option<u64>,
) -> Result<R::Output, ApiError>
where
    R: ReadRequest + Send + 'static,
    R::Output: Send + 'static,
{
    let db = state.db.clone();
    read_within(timeout, move || db.read(&collection, req, timeout)).await
}

/// [`read`] for reads that may walk every point (scroll, count, facet,
/// the distance matrix): always on the blocking pool, never inline on an
/// async worker; a matrix bounds itself with its own deadline.
pub async fn read_off_thread<R>(
    state: &AppState,
    collection: Arc<Collection>,
    req: R,
    timeout: Option<u64>,
) -> Result<R::Output, ApiError>
where
    R: ReadRequest + Send + 'static,
    R::Output: Send + 'static,
{
    let db = state.db.clone();
    blocking(move || db.read(&collection, req, timeout)).await
}

/// [`read`] for the `/batch` routes: the requests are admitted together.
pub async fn read_batch<R>(
    state: &AppState,
    collection: Arc<Collection>,
    reqs: Vec<R>,
    timeout: Option<u64>,
) -> Result<Vec<R::Output>, ApiError>
where
    R: ReadRequest + Send + 'static,
    R::Output: Send + 'static,
{
    let db = state.db.clone();
    read_within(timeout, move || db.read_batch(&collection, reqs, timeout)).await
}

/// Runs engine work that may wait on disk (writes, fsync) off the async
/// executor, on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, EngineError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(join) => {
            tracing::error!(error = %join, "engine task panicked");
            Err(ApiError::Engine(EngineError::Storage(
                "engine task failed".into(),
            )))
        }
    }
}

pub fn router(state: AppState, body_limit: usize) -> Router {
    let c = "/collections/{name}";
    Router::new()
        .route("/", get(service::root))
        .route("/healthz", get(service::healthz))
        .route("/livez", get(service::livez))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .route("/telemetry", get(service::telemetry))
        .route("/cluster", get(service::cluster))
        .route(
            "/issues",
            get(service::issues).delete(service::clear_issues),
        )
        .route(
            "/snapshots",
            get(snapshots::list_full).post(snapshots::create_full),
        )
        .route(
            "/snapshots/{snapshot}",
            get(snapshots::download_full).delete(snapshots::delete_full),
        )
        .route("/collections", get(collections::list))
        .route("/collections/aliases", post(collections::update_aliases))
        .route("/aliases", get(collections::all_aliases))
        .route("/assets", get(assets::list))
        .route("/assets/{asset}/materializations", get(assets::runs))
        .route("/assets/{asset}/materialize", post(assets::materialize))
        .route(
            c,
            get(collections::info)
                .put(collections::create)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(&format!("{c}/exists"), get(collections::exists))
        .route(
            &format!("{c}/aliases"),
            get(collections::collection_aliases),
        )
        .route(
            &format!("{c}/snapshots"),
            get(snapshots::list).post(snapshots::create),
        )
        .route(
            &format!("{c}/snapshots/upload"),
            // Snapshots are as large as their collections.
            post(snapshots::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(&format!("{c}/snapshots/recover"), put(snapshots::recover))
        .route(
            &format!("{c}/snapshots/{{snapshot}}"),
            get(snapshots::download).delete(snapshots::delete),
        )
        .route(
            &format!("{c}/cluster"),
            get(collections::cluster).post(service::distributed_only),
        )
        .route(
            &format!("{c}/shards"),
            get(service::shard_keys).put(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/delete"),
            post(service::distributed_only),
        )
        .route("/cluster/telemetry", get(service::distributed_only))
        .route("/cluster/recover", post(service::distributed_only))
        .route(
            "/cluster/peer/{peer_id}",
            axum::routing::delete(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshot"),
            get(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots"),
            get(service::distributed_only).post(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/upload"),
            post(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/recover"),
            put(service::distributed_only),
        )
        .route(
            &format!("{c}/shards/{{shard_id}}/snapshots/{{snapshot}}"),
            get(service::distributed_only).delete(service::distributed_only),
        )
        .route(&format!("{c}/optimizations"), get(optimizations::get))
        .route(&format!("{c}/index"), put(collections::create_index))
        .route(
            &format!("{c}/vectors/{{vector}}"),
            put(collections::create_vector_name).delete(collections::delete_vector_name),
        )
        .route(
            &format!("{c}/index/{{field}}"),
            axum::routing::delete(collections::delete_index),
        )
        .route(
            &format!("{c}/points"),
            put(points::upsert).post(points::retrieve),
        )
        .route(&format!("{c}/points/{{id}}"), get(points::get_point))
        .route(&format!("{c}/points/delete"), post(points::delete_points))
        .route(
            &format!("{c}/points/payload"),
            post(points::set_payload).put(points::overwrite_payload),
        )
        .route(
            &format!("{c}/points/payload/delete"),
            post(points::delete_payload),
        )
        .route(
            &format!("{c}/points/payload/clear"),
            post(points::clear_payload),
        )
        .route(&format!("{c}/points/recommend"), post(search::recommend))
        .route(
            &format!("{c}/points/recommend/batch"),
            post(search::recommend_batch),
        )
        .route(&format!("{c}/points/discover"), post(search::discover))
        .route(
            &format!("{c}/points/discover/batch"),
            post(search::discover_batch),
        )
        .route(&format!("{c}/points/vectors"), put(points::update_vectors))
        .route(
            &format!("{c}/points/vectors/delete"),
            post(points::delete_vectors),
        )
        .route(&format!("{c}/points/batch"), post(points::batch))
        .route(&format!("{c}/points/scroll"), post(points::scroll))
        .route(&format!("{c}/points/count"), post(points::count))
        .route(&format!("{c}/facet"), post(points::facet))
        .route(&format!("{c}/points/search"), post(search::search))
        .route(
            &format!("{c}/points/search/batch"),
            post(search::search_batch),
        )
        .route(&format!("{c}/points/query"), post(search::query))
        .route(
            &format!("{c}/points/query/groups"),
            post(groups::query_groups),
        )
        .route(
            &format!("{c}/points/search/groups"),
            post(groups::search_groups),
        )
        .route(
            &format!("{c}/points/recommend/groups"),
            post(groups::recommend_groups),
        )
        .route(
            &format!("{c}/points/search/matrix/pairs"),
            post(matrix::pairs),
        )
        .route(
            &format!("{c}/points/search/matrix/offsets"),
            post(matrix::offsets),
        )
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/models", get(embeddings::list_models))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/store/helio/ask", post(helio::ask))
        .route("/store/helio/search", get(helio::search))
        .route("/store/helio/conversations/{id}", get(helio::conversation))
        .route(
            &format!("{c}/points/query/batch"),
            post(search::query_batch),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "Not found: no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let err = ApiError::NotFound(format!(
        "Method {} is not allowed for {}",
        req.method(),
        req.uri().path()
    ));
    let mut resp = err.into_response();
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// Counts requests and their latency by route pattern (not raw path, so
/// collection names don't explode the label space).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        endpoint,
        status: resp.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    resp
}
