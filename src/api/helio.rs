//! The assistant's routes, as the storefront calls them:
//! `POST /store/helio/ask` (JSON, or server-sent events with
//! `?stream=true`), `GET /store/helio/search` and
//! `GET /store/helio/conversations/{id}`.
//!
//! A streamed answer sends `event: delta` with `{"text": …}` for each
//! verified piece of the answer, then one `event: done` carrying the whole
//! response, the same object the JSON route returns. A request that is
//! wrong is refused with a 400 before the stream opens; a failure after
//! it opened arrives as `event: error`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::AppState;
use crate::helio::{AskRequest, Assistant, HelioError, SearchRequest};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskParams {
    #[serde(default)]
    stream: bool,
}

fn assistant(state: &AppState) -> Result<Arc<Assistant>, ApiError> {
    state
        .assistant
        .clone()
        .ok_or_else(|| ApiError::NotFound("the assistant is not running on this server".into()))
}

/// Runs a blocking assistant call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HelioError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(join) => {
            tracing::error!(error = %join, "assistant task panicked");
            Err(ApiError::Engine(crate::engine::EngineError::Storage(
                "the assistant failed on this question".into(),
            )))
        }
    }
}

pub async fn ask(
    State(state): State<AppState>,
    params: Result<Query<AskParams>, QueryRejection>,
    body: Result<Json<AskRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let Json(req) = body?;
    let assistant = assistant(&state)?;
    if !params.stream {
        let answer = blocking(move || assistant.ask(&req, &mut |_| {})).await?;
        observe(&state.metrics, &answer);
        return Ok(Json(answer).into_response());
    }
    // Refuse a wrong request with its status before the stream opens.
    let checking = assistant.clone();
    let checked = req.clone();
    blocking(move || checking.check(&checked)).await?;
    let (tx, rx) = mpsc::channel::<Event>(64);
    let metrics = state.metrics.clone();
    tokio::task::spawn_blocking(move || {
        let deltas = tx.clone();
        let result = assistant.ask(&req, &mut |text| {
            if !text.is_empty() {
                let event = Event::default()
                    .event("delta")
                    .json_data(json!({ "text": text }))
                    .unwrap_or_default();
                // A client that went away stops receiving; the answer is
                // still finished and stored.
                let _ = deltas.blocking_send(event);
            }
        });
        let last = match result {
            Ok(answer) => {
                observe(&metrics, &answer);
                Event::default().event("done").json_data(&answer)
            }
            Err(e) => Event::default()
                .event("error")
                .json_data(json!({ "error": e.to_string() })),
        };
        let _ = tx.blocking_send(last.unwrap_or_default());
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

pub async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchRequest>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(req) = params?;
    let assistant = assistant(&state)?;
    let results = blocking(move || assistant.search(&req)).await?;
    Ok(Json(results).into_response())
}

pub async fn conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let assistant = assistant(&state)?;
    let turns = blocking(move || assistant.conversation(&id)).await?;
    Ok(Json(json!({ "turns": turns })).into_response())
}

fn observe(metrics: &crate::observe::metrics::Metrics, a: &crate::helio::Answer) {
    metrics.observe_ask(&a.backend, a.grounded, a.degraded, a.timings_ms.total / 1e3);
}
