//! The knowledge-base assets over HTTP: the list with each asset's last
//! run and freshness, an asset's run history, and a run on demand.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::assets::{AssetError, Assets};

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

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    /// A broken records database is the server's problem: a 500 that says
    /// so, without the database's own words.
    #[tokio::test]
    async fn a_records_failure_is_an_internal_error_that_echoes_nothing() {
        let e = AssetError::Records(rusqlite::Error::InvalidColumnName("secret_detail".into()));
        let response = ApiError::Asset(e).into_response();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = body["status"]["error"].as_str().unwrap();
        assert!(message.contains("internal error"), "{message}");
        assert!(!message.contains("secret_detail"), "{message}");
    }
}
