//! The distance matrix routes, `/points/search/matrix/pairs` and
//! `/points/search/matrix/offsets`: one engine call, two layouts of its
//! answer.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::filter::Filter;
use crate::engine::query::matrix::{Matrix, MatrixRequest};
use crate::engine::EngineError;

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::models::{ReadParams, WireId};
use super::read_off_thread;
use super::{ok, AppState};

/// Qdrant's defaults.
const DEFAULT_SAMPLE: usize = 10;
const DEFAULT_LIMIT: usize = 3;

/// The largest sample served. Every pair of sampled points is scored:
/// 10,000 points are 50 million pairs, seconds of one core at 384
/// dimensions (a request's `timeout` stops it early). Qdrant has no cap
/// (it runs one search per sampled point).
pub const MAX_SAMPLE: usize = 10_000;

/// The most neighbour pairs one answer may hold (`sample` times `limit`,
/// with `limit` counted up to `sample - 1`, the most a point can have):
/// a full 1,000-point matrix, or 10,000 points with 100 neighbours each.
/// Past it the answer alone would be hundreds of megabytes of JSON.
pub const MAX_PAIRS: usize = 1_000_000;

/// Qdrant's `SearchMatrixRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchMatrixRequestWire {
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    sample: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    using: Option<String>,
    /// Accepted for compatibility: one node holds every shard.
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

/// Checks the request against the schema's minimums (as Qdrant's
/// validator does: 422) and Helio's caps (400).
fn matrix_request(
    w: SearchMatrixRequestWire,
    params: &ReadParams,
) -> Result<MatrixRequest, ApiError> {
    let sample = w.sample.unwrap_or(DEFAULT_SAMPLE);
    let limit = w.limit.unwrap_or(DEFAULT_LIMIT);
    if sample < 2 {
        return Err(ApiError::validation(format!(
            "[sample: value {sample} invalid, must be 2 or larger]"
        )));
    }
    if limit < 1 {
        return Err(ApiError::validation(format!(
            "[limit: value {limit} invalid, must be 1 or larger]"
        )));
    }
    let bad = |msg: String| ApiError::Engine(EngineError::BadRequest(msg));
    if sample > MAX_SAMPLE {
        return Err(bad(format!("sample must be at most {MAX_SAMPLE}")));
    }
    if sample * limit.min(sample - 1) > MAX_PAIRS {
        return Err(bad(format!(
            "sample × limit must be at most {MAX_PAIRS} neighbour pairs; ask for fewer"
        )));
    }
    let deadline = match params.timeout {
        Some(0) => return Err(bad("timeout must be at least 1 second".into())),
        Some(s) => Some(Instant::now() + Duration::from_secs(s)),
        None => None,
    };
    Ok(MatrixRequest {
        filter: w.filter,
        sample,
        limit,
        using: w.using.unwrap_or_default(),
        deadline,
    })
}

/// `SearchMatrixPairsResponse`: each sampled point with each neighbour.
#[derive(Debug, Serialize)]
struct PairsOut {
    pairs: Vec<PairOut>,
}

#[derive(Debug, Serialize)]
struct PairOut {
    a: WireId,
    b: WireId,
    score: f32,
}

impl From<Matrix> for PairsOut {
    fn from(m: Matrix) -> PairsOut {
        let ids = &m.ids;
        let pairs = m
            .rows
            .iter()
            .zip(ids)
            .flat_map(|(row, &a)| {
                row.iter().map(move |&(j, score)| PairOut {
                    a: WireId(a),
                    b: WireId(ids[j]),
                    score,
                })
            })
            .collect();
        PairsOut { pairs }
    }
}

/// `SearchMatrixOffsetsResponse`: a sparse matrix in coordinate form,
/// rows and columns indexing `ids`.
#[derive(Debug, Serialize)]
struct OffsetsOut {
    offsets_row: Vec<u64>,
    offsets_col: Vec<u64>,
    scores: Vec<f32>,
    ids: Vec<WireId>,
}

impl From<Matrix> for OffsetsOut {
    fn from(m: Matrix) -> OffsetsOut {
        let cells = || {
            m.rows
                .iter()
                .enumerate()
                .flat_map(|(i, row)| row.iter().map(move |&(j, s)| (i, j, s)))
        };
        OffsetsOut {
            offsets_row: cells().map(|(i, _, _)| i as u64).collect(),
            offsets_col: cells().map(|(_, j, _)| j as u64).collect(),
            scores: cells().map(|(_, _, s)| s).collect(),
            ids: m.ids.iter().copied().map(WireId).collect(),
        }
    }
}

/// Runs the matrix on the blocking pool: a large sample scores for
/// seconds, too long to hold an async worker.
async fn run(
    state: &AppState,
    name: &str,
    params: &ReadParams,
    body: SearchMatrixRequestWire,
) -> Result<Matrix, ApiError> {
    let collection = state.db.get(name)?;
    let req = matrix_request(body, params)?;
    read_off_thread(state, collection, req, params.timeout).await
}

pub async fn pairs(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<SearchMatrixRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let matrix = run(&state, &name, &params, body).await?;
    Ok(ok(started, PairsOut::from(matrix)))
}

pub async fn offsets(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<SearchMatrixRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let matrix = run(&state, &name, &params, body).await?;
    Ok(ok(started, OffsetsOut::from(matrix)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::types::PointId;

    fn wire(v: Value) -> SearchMatrixRequestWire {
        serde_json::from_value(v).unwrap()
    }

    fn fixture() -> Matrix {
        Matrix {
            ids: vec![PointId::Num(3), PointId::Num(5), PointId::Num(8)],
            rows: vec![vec![(2, 0.9), (1, 0.5)], vec![(0, 0.5)], vec![]],
        }
    }

    #[test]
    fn pairs_and_offsets_lay_out_the_same_rows() {
        let pairs = serde_json::to_value(PairsOut::from(fixture())).unwrap();
        assert_eq!(
            pairs,
            json!({"pairs": [
                {"a": 3, "b": 8, "score": 0.9f32},
                {"a": 3, "b": 5, "score": 0.5},
                {"a": 5, "b": 3, "score": 0.5},
            ]})
        );
        let offsets = serde_json::to_value(OffsetsOut::from(fixture())).unwrap();
        assert_eq!(
            offsets,
            json!({
                "offsets_row": [0, 0, 1],
                "offsets_col": [2, 1, 0],
                "scores": [0.9f32, 0.5, 0.5],
                "ids": [3, 5, 8],
            })
        );
    }

    #[test]
    fn defaults_minimums_and_caps() {
        let params = ReadParams::default();
        let req = matrix_request(wire(json!({})), &params).unwrap();
        assert_eq!((req.sample, req.limit, req.using.as_str()), (10, 3, ""));
        assert!(req.deadline.is_none());
        let status = |v: Value| {
            let err = matrix_request(wire(v), &params).unwrap_err();
            axum::response::IntoResponse::into_response(err)
                .status()
                .as_u16()
        };
        assert_eq!(status(json!({"sample": 1})), 422);
        assert_eq!(status(json!({"limit": 0})), 422);
        assert_eq!(status(json!({"sample": MAX_SAMPLE + 1})), 400);
        // A limit past the sample counts as `sample - 1`.
        assert!(matrix_request(wire(json!({"sample": 1000, "limit": 100_000})), &params).is_ok());
        assert_eq!(status(json!({"sample": 10_000, "limit": 101})), 400);
        let timed = ReadParams {
            consistency: None,
            timeout: Some(5),
        };
        assert!(matrix_request(wire(json!({})), &timed)
            .unwrap()
            .deadline
            .is_some());
        assert!(serde_json::from_value::<SearchMatrixRequestWire>(json!({"samples": 3})).is_err());
    }
}
