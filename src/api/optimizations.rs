//! `GET /collections/{c}/optimizations`: what the background optimizer is
//! doing, has done, and would do next, in Qdrant's `OptimizationsResponse`
//! shape. Helio's segments are the graph segments of each dense vector plus
//! its unindexed tail (Qdrant's appendable segment); the queue is an
//! estimate from the optimizer's rules, as Qdrant's is.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::collection::optimizer::{Optimization, OptimizationState, SegmentInfo};
use crate::engine::EngineError;

use super::error::ApiError;
use super::extract::{QPath, QQuery};
use super::{ok, AppState};

#[derive(Debug, Deserialize)]
pub struct OptimizationsParams {
    /// Comma-separated: `queued`, `completed`, `idle_segments`.
    #[serde(default)]
    pub with: Option<String>,
    #[serde(default)]
    pub completed_limit: Option<usize>,
}

/// Qdrant's default for `completed_limit`.
const COMPLETED_LIMIT: usize = 16;

pub async fn get(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<OptimizationsParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut wanted = (false, false, false);
    for part in params.with.as_deref().unwrap_or("").split(',') {
        match part.trim() {
            "" => {}
            "queued" => wanted.0 = true,
            "completed" => wanted.1 = true,
            "idle_segments" => wanted.2 = true,
            other => {
                return Err(ApiError::Engine(EngineError::BadRequest(format!(
                    "Wrong input: unknown `with` value `{other}` (queued, completed, idle_segments)"
                ))))
            }
        }
    }
    let report = state.db.get(&name)?.optimizations();
    let queued_segments: Vec<&SegmentInfo> =
        report.queued.iter().flat_map(|q| &q.segments).collect();
    let mut body = json!({
        "summary": {
            "queued_optimizations": report.queued.len(),
            "queued_segments": queued_segments.len(),
            "queued_points": queued_segments.iter().map(|s| s.points).sum::<u64>(),
            "idle_segments": report.idle.len(),
        },
        "running": report.running.iter().map(optimization).collect::<Vec<_>>(),
    });
    if wanted.0 {
        body["queued"] = report
            .queued
            .iter()
            .map(|q| json!({"optimizer": q.optimizer, "segments": segments(&q.segments)}))
            .collect();
    }
    if wanted.1 {
        let limit = params.completed_limit.unwrap_or(COMPLETED_LIMIT);
        body["completed"] = report
            .completed
            .iter()
            .take(limit)
            .map(optimization)
            .collect();
    }
    if wanted.2 {
        body["idle_segments"] = segments(&report.idle);
    }
    Ok(ok(started, body))
}

fn segments(list: &[SegmentInfo]) -> Value {
    list.iter()
        .map(|s| json!({"uuid": s.id, "points_count": s.points}))
        .collect()
}

fn optimization(o: &Optimization) -> Value {
    let status = match &o.state {
        OptimizationState::Running => json!("optimizing"),
        OptimizationState::Done => json!("done"),
        OptimizationState::Failed(e) => json!({"error": e}),
    };
    // Points are the unit of work; how far a running build is, the graph
    // builder does not say.
    let total: u64 = o.segments.iter().map(|s| s.points).sum();
    let done = matches!(o.state, OptimizationState::Done).then_some(total);
    let duration = o
        .finished
        .map(|f| (f - o.started).num_milliseconds() as f64 / 1e3);
    json!({
        "uuid": o.id,
        "optimizer": o.optimizer,
        "status": status,
        "segments": segments(&o.segments),
        "progress": {
            "name": o.optimizer,
            "started_at": o.started.to_rfc3339(),
            "finished_at": o.finished.map(|f| f.to_rfc3339()),
            "duration_sec": duration,
            "done": done,
            "total": total,
        },
    })
}
