//! The knowledge-base assets over HTTP: the list with each asset's last
//! run and freshness, an asset's run history, and a run on demand.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::pipeline::assets::{AssetError, Assets};

use super::error::ApiError;
use super::extract::{QPath, QQuery};
use super::{ok, AppState};

fn assets(state: &AppState) -> Result<Arc<Assets>, ApiError> {
    state.assets.clone().ok_or_else(|| {
        ApiError::NotFound("Not found: this server runs without the knowledge-base pipeline".into())
    })
}

/// Runs `f` on the blocking pool: runs embed, list reads SQLite.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AssetError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::Asset),
        Err(join) => Err(ApiError::Engine(crate::engine::EngineError::Storage(
            format!("asset task failed: {join}"),
        ))),
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let assets = assets(&state)?;
    let list = off_thread(move || assets.list()).await?;
    Ok(ok(started, json!({ "assets": list })))
}

#[derive(Debug, Default, Deserialize)]
pub struct RunsParams {
    #[serde(default)]
    pub limit: Option<usize>,
}

pub async fn runs(
    State(state): State<AppState>,
    QPath(asset): QPath<String>,
    QQuery(params): QQuery<RunsParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let assets = assets(&state)?;
    let limit = params.limit.unwrap_or(50).min(10_000);
    let runs = off_thread(move || assets.runs(&asset, limit)).await?;
    Ok(ok(started, json!({ "materializations": runs })))
}

/// Runs the asset and answers with the recorded run, failed or not.
pub async fn materialize(
    State(state): State<AppState>,
    QPath(asset): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let assets = assets(&state)?;
    let run = off_thread(move || assets.materialize(&asset)).await?;
    Ok(ok(started, run))
}
