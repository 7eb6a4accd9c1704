//! Point routes: writes (upsert, delete, payload edits, batch) and reads
//! (retrieve, scroll, count).

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::{PointInsert, Selector, UpdateOp};
use crate::engine::query::points::{Count, Retrieve};
use crate::engine::query::scroll::ScrollRequest;
use crate::engine::types::VectorSelector;
use crate::engine::EngineError;

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_vectors;
use super::models::VectorInput;
use super::models::{
    parse_id, BatchOperation, BatchRequest, CountRequest, DeleteVectorsRequest, OrderByWire,
    PointOut, ReadParams, RetrieveRequest, ScrollRequestWire, SelectorRequest, UpdateResult,
    UpdateVectorsRequest, UpsertRequest, WithPayload, WithVector, WriteParams,
};
use super::{blocking, ok, read, read_off_thread, AppState};

/// Largest `limit` a read accepts, so one request cannot ask for the world.
pub const MAX_LIMIT: usize = 100_000;

fn upsert_op(req: UpsertRequest) -> Result<UpdateOp, ApiError> {
    if req.update_filter.is_some() {
        return Err(bad(
            "update_filter is not supported by this Helio release yet",
        ));
    }
    let points = match (req.points, req.batch) {
        (Some(points), None) => points
            .into_iter()
            .map(|p| {
                Ok(PointInsert {
                    id: p.id.0,
                    vectors: p.vector.into_named()?,
                    payload: p.payload.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        (None, Some(batch)) => {
            let n = batch.ids.len();
            if batch.vectors.len() != n {
                return Err(bad(&format!(
                    "batch has {n} ids but {} vectors",
                    batch.vectors.len()
                )));
            }
            let payloads = batch.payloads.unwrap_or_default();
            if !payloads.is_empty() && payloads.len() != n {
                return Err(bad(&format!(
                    "batch has {n} ids but {} payloads",
                    payloads.len()
                )));
            }
            let mut payloads = payloads.into_iter();
            batch
                .ids
                .into_iter()
                .zip(batch.vectors)
                .map(|(id, v)| {
                    Ok(PointInsert {
                        id: id.0,
                        vectors: v.into_named()?,
                        payload: payloads.next().flatten().unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?
        }
        _ => {
            return Err(ApiError::validation(
                "expected exactly one of `points` or `batch`",
            ))
        }
    };
    Ok(UpdateOp::Upsert(points))
}

/// Every vector of an upsert, for server-side inference to fill in.
fn upsert_inputs(req: &mut UpsertRequest) -> Vec<&mut VectorInput> {
    let listed = req.points.iter_mut().flatten().map(|p| &mut p.vector);
    let columns = req.batch.iter_mut().flat_map(|b| b.vectors.iter_mut());
    listed.chain(columns).collect()
}

fn vector_update_inputs(req: &mut UpdateVectorsRequest) -> Vec<&mut VectorInput> {
    req.points.iter_mut().map(|p| &mut p.vector).collect()
}

fn selector(req: &mut SelectorRequest) -> Result<Selector, ApiError> {
    match (req.points.take(), req.filter.take()) {
        (Some(ids), None) => Ok(Selector::Ids(ids.into_iter().map(|i| i.0).collect())),
        (None, Some(filter)) => Ok(Selector::Filter(filter)),
        (Some(_), Some(_)) => Err(ApiError::validation(
            "give either `points` or `filter`, not both",
        )),
        (None, None) => Err(ApiError::validation(
            "one of `points` or `filter` is required",
        )),
    }
}

fn payload_op(kind: &str, mut req: SelectorRequest) -> Result<UpdateOp, ApiError> {
    let selector = selector(&mut req)?;
    Ok(match kind {
        "delete" => UpdateOp::Delete(selector),
        "set" => UpdateOp::SetPayload {
            selector,
            payload: req
                .payload
                .ok_or_else(|| ApiError::validation("payload: missing field `payload`"))?,
            key: req.key,
        },
        "overwrite" => UpdateOp::OverwritePayload {
            selector,
            payload: req
                .payload
                .ok_or_else(|| ApiError::validation("payload: missing field `payload`"))?,
        },
        "delete_payload" => UpdateOp::DeletePayload {
            selector,
            keys: req
                .keys
                .ok_or_else(|| ApiError::validation("keys: missing field `keys`"))?,
        },
        _ => UpdateOp::ClearPayload(selector),
    })
}

fn vectors_op(req: UpdateVectorsRequest) -> Result<UpdateOp, ApiError> {
    let list = req
        .points
        .into_iter()
        .map(|p| Ok((p.id.0, p.vector.into_named()?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(UpdateOp::UpdateVectors(list))
}

fn delete_vectors_op(mut req: DeleteVectorsRequest) -> Result<UpdateOp, ApiError> {
    let selector = match (req.points.take(), req.filter.take()) {
        (Some(ids), None) => Selector::Ids(ids.into_iter().map(|i| i.0).collect()),
        (None, Some(filter)) => Selector::Filter(filter),
        _ => {
            return Err(ApiError::validation(
                "give exactly one of `points` or `filter`",
            ))
        }
    };
    Ok(UpdateOp::DeleteVectors {
        selector,
        names: req.vector,
    })
}

fn bad(msg: &str) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg.to_string()))
}

/// Runs a write and answers with Qdrant's `UpdateResult`.
async fn write(
    state: &AppState,
    name: &str,
    params: &WriteParams,
    ops: Vec<UpdateOp>,
    started: Instant,
) -> Result<Response, ApiError> {
    let collection = state.db.get(name)?;
    collection.admit_write(&ops)?;
    let op = blocking(move || collection.update(ops)).await?;
    Ok(ok(
        started,
        UpdateResult::new(op, params.wait.unwrap_or(false)),
    ))
}

pub async fn upsert(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<WriteParams>,
    QJson(mut body): QJson<UpsertRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    embed_vectors(&state, &collection, upsert_inputs(&mut body)).await?;
    let op = upsert_op(body)?;
    write(&state, &name, &params, vec![op], started).await
}

macro_rules! selector_route {
    ($fn_name:ident, $kind:literal) => {
        pub async fn $fn_name(
            State(state): State<AppState>,
            QPath(name): QPath<String>,
            QQuery(params): QQuery<WriteParams>,
            QJson(body): QJson<SelectorRequest>,
        ) -> Result<Response, ApiError> {
            let started = Instant::now();
            let op = payload_op($kind, body)?;
            write(&state, &name, &params, vec![op], started).await
        }
    };
}

selector_route!(delete_points, "delete");
selector_route!(set_payload, "set");
selector_route!(overwrite_payload, "overwrite");
selector_route!(delete_payload, "delete_payload");
selector_route!(clear_payload, "clear");

pub async fn update_vectors(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<WriteParams>,
    QJson(mut body): QJson<UpdateVectorsRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    embed_vectors(&state, &collection, vector_update_inputs(&mut body)).await?;
    let op = vectors_op(body)?;
    write(&state, &name, &params, vec![op], started).await
}

pub async fn delete_vectors(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<WriteParams>,
    QJson(body): QJson<DeleteVectorsRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let op = delete_vectors_op(body)?;
    write(&state, &name, &params, vec![op], started).await
}

pub async fn batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<WriteParams>,
    QJson(mut body): QJson<BatchRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let inputs: Vec<&mut VectorInput> = body
        .operations
        .iter_mut()
        .flat_map(|op| match op {
            BatchOperation::Upsert(u) => upsert_inputs(u),
            BatchOperation::UpdateVectors(v) => vector_update_inputs(v),
            _ => Vec::new(),
        })
        .collect();
    embed_vectors(&state, &collection, inputs).await?;
    let ops = body
        .operations
        .into_iter()
        .map(|op| match op {
            BatchOperation::Upsert(u) => upsert_op(u),
            BatchOperation::Delete(s) => payload_op("delete", s),
            BatchOperation::SetPayload(s) => payload_op("set", s),
            BatchOperation::OverwritePayload(s) => payload_op("overwrite", s),
            BatchOperation::DeletePayload(s) => payload_op("delete_payload", s),
            BatchOperation::ClearPayload(s) => payload_op("clear", s),
            BatchOperation::UpdateVectors(v) => vectors_op(v),
            BatchOperation::DeleteVectors(d) => delete_vectors_op(d),
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let n = ops.len();
    collection.admit_write(&ops)?;
    let op = blocking(move || collection.update(ops)).await?;
    // Qdrant answers a batch with one UpdateResult per operation; here they
    // commit together, so they share one operation id.
    let wait = params.wait.unwrap_or(false);
    let results: Vec<UpdateResult> = (0..n).map(|_| UpdateResult::new(op, wait)).collect();
    Ok(ok(started, results))
}

pub async fn get_point(
    State(state): State<AppState>,
    QPath((name, id)): QPath<(String, String)>,
    QQuery(params): QQuery<ReadParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let value = match id.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(id),
    };
    let id = parse_id(&value).map_err(|e| bad(&e))?;
    let req = Retrieve {
        ids: vec![id],
        with_payload: PayloadSelector::All,
        with_vector: VectorSelector::All,
    };
    let single = collection.single_vector();
    let records = read(&state, collection, req, params.timeout).await?;
    let record = records.into_iter().next().ok_or_else(|| {
        ApiError::NotFound(format!("Not found: Point with id {id} does not exists!"))
    })?;
    Ok(ok(started, PointOut::record(record, single)))
}

pub async fn retrieve(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<RetrieveRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = Retrieve {
        ids: body.ids.into_iter().map(|i| i.0).collect(),
        with_payload: WithPayload::into_selector(body.with_payload, true)?,
        with_vector: WithVector::selector(&body.with_vector),
    };
    let single = collection.single_vector();
    let records = read(&state, collection, req, params.timeout).await?;
    Ok(ok(
        started,
        records
            .into_iter()
            .map(|r| PointOut::record(r, single))
            .collect::<Vec<_>>(),
    ))
}

pub async fn scroll(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<ScrollRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let limit = body.limit.unwrap_or(10);
    if limit > MAX_LIMIT {
        return Err(bad(&format!("limit must be at most {MAX_LIMIT}")));
    }
    let order_by = body.order_by.map(OrderByWire::into_engine).transpose()?;
    let req = ScrollRequest {
        filter: body.filter,
        limit,
        offset: body.offset.map(|o| o.0),
        order_by,
        with_payload: WithPayload::into_selector(body.with_payload, true)?,
        with_vector: WithVector::selector(&body.with_vector),
    };
    let single = collection.single_vector();
    let (records, next) = read_off_thread(&state, collection, req, params.timeout).await?;
    Ok(ok(
        started,
        json!({
            "points": records.into_iter().map(|r| PointOut::record(r, single)).collect::<Vec<_>>(),
            "next_page_offset": next.map(super::models::WireId),
        }),
    ))
}

/// `start_from` is a number or an RFC 3339 datetime.
pub async fn count(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<CountRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    if let Some(f) = &body.filter {
        f.validate().map_err(EngineError::from)?;
    }
    let req = Count {
        filter: body.filter,
        exact: body.exact.unwrap_or(true),
    };
    let count = read_off_thread(&state, collection, req, params.timeout).await?;
    Ok(ok(started, json!({"count": count})))
}

/// `POST /collections/{c}/facet`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetRequest {
    key: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    filter: Option<crate::engine::filter::Filter>,
    /// Counts are always exact here; strict mode may still refuse
    /// `exact: true`, as Qdrant's does.
    #[serde(default)]
    exact: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<serde_json::Value>,
}

pub async fn facet(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<FacetRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let limit = body.limit.unwrap_or(10);
    if limit > MAX_LIMIT {
        return Err(bad(&format!("limit must be at most {MAX_LIMIT}")));
    }
    let req = crate::engine::query::facet::FacetRequest {
        key: body.key,
        filter: body.filter,
        limit,
        exact: body.exact.unwrap_or(false),
    };
    let hits = read_off_thread(&state, collection, req, params.timeout).await?;
    let hits: Vec<serde_json::Value> = hits
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    Ok(ok(started, json!({ "hits": hits })))
}
