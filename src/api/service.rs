//! Service routes: version, health probes, metrics, telemetry, cluster,
//! issues.

use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::{ok, AppState};

/// The Qdrant REST API version Helio implements. Clients compare it with
/// their own version, so it is what `GET /` reports as `version`.
pub const QDRANT_API_VERSION: &str = "1.18.0";

pub async fn root() -> Response {
    axum::Json(json!({
        "title": "qdrant - vector search engine",
        "version": QDRANT_API_VERSION,
        "commit": null,
        "helio_version": env!("CARGO_PKG_VERSION"),
        "engine": "helio",
    }))
    .into_response()
}

pub async fn healthz() -> &'static str {
    "healthz check passed"
}

pub async fn livez() -> &'static str {
    "healthz check passed"
}

pub async fn readyz() -> &'static str {
    "all shards are ready"
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.db, &state.models);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

pub async fn telemetry(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collections: Vec<_> = state
        .db
        .all()
        .iter()
        .map(|c| {
            let info = c.info();
            json!({
                "id": c.name(),
                "points_count": info.points_count,
                "indexed_vectors_count": info.indexed_vectors_count,
                "segments_count": info.segments_count,
                "status": if info.optimizing { "yellow" } else { "green" },
            })
        })
        .collect();
    Ok(ok(
        started,
        json!({
            "id": state.instance_id,
            "app": {
                "name": "helio",
                "version": env!("CARGO_PKG_VERSION"),
                "qdrant_api_version": QDRANT_API_VERSION,
                "startup": state.started_at.to_rfc3339(),
            },
            "collections": {
                "number_of_collections": collections.len(),
                "collections": collections,
            },
        }),
    ))
}

pub async fn cluster() -> Result<Response, ApiError> {
    Ok(ok(Instant::now(), json!({"status": "disabled"})))
}

/// Routes that only mean something in a cluster (shard keys, peers, shard
/// transfers, shard snapshots): a clear 400, as a single-node Qdrant
/// answers them, instead of a bare "no route".
pub async fn distributed_only(req: axum::extract::Request) -> ApiError {
    ApiError::Engine(crate::engine::EngineError::BadRequest(format!(
        "Distributed mode disabled: {} {} needs a cluster, and Helio runs on a single node (one shard per collection)",
        req.method(),
        req.uri().path()
    )))
}

/// `GET /collections/{c}/shards`: a single node has no custom shard keys.
pub async fn shard_keys(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    super::extract::QPath(name): super::extract::QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    state.db.get(&name)?;
    Ok(ok(started, json!({ "shard_keys": null })))
}

/// `GET /issues`: Qdrant reports performance issues it has noticed (a
/// filter on an unindexed field, say). Helio detects none of them yet, so
/// the list is truthfully empty.
pub async fn issues() -> Result<Response, ApiError> {
    Ok(ok(Instant::now(), json!({"issues": []})))
}

/// `DELETE /issues`: nothing to clear.
pub async fn clear_issues() -> Result<Response, ApiError> {
    Ok(ok(Instant::now(), true))
}
