//! Search routes: the universal `/points/query` (nearest by vector or by
//! point id) and the legacy `/points/search`, with their batch forms.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use crate::engine::collection::Record;
use crate::engine::scroll::ScrollRequest;
use crate::engine::search::SearchRequest;
use crate::engine::types::PointId;
use crate::engine::{Collection, EngineError};

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_query;
use super::models::{
    parse_id, NamedVector, PointOut, QueryBatchWire, QueryInput, QueryRequestWire, ReadParams,
    SearchBatchWire, SearchRequestWire, WithPayload, WithVector,
};
use super::points::MAX_LIMIT;
use super::{compute, ok, AppState};

fn bad(msg: String) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg))
}

fn check_vector_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        None | Some("") => Ok(()),
        Some(other) => Err(bad(format!(
            "Wrong input: Not existing vector name error: {other}"
        ))),
    }
}

fn check_limit(limit: usize) -> Result<(), ApiError> {
    if limit > MAX_LIMIT {
        return Err(bad(format!("limit must be at most {MAX_LIMIT}")));
    }
    Ok(())
}

fn legacy_request(w: SearchRequestWire) -> Result<SearchRequest, ApiError> {
    let vector = match w.vector {
        NamedVector::Plain(v) => v,
        NamedVector::Named { name, vector } => {
            check_vector_name(Some(&name))?;
            vector
        }
    };
    check_limit(w.limit)?;
    let params = w.params.unwrap_or_default();
    Ok(SearchRequest {
        vector,
        filter: w.filter,
        limit: w.limit,
        offset: w.offset.unwrap_or(0),
        score_threshold: w.score_threshold,
        ef: params.hnsw_ef,
        exact: params.exact.unwrap_or(false),
        indexed_only: params.indexed_only.unwrap_or(false),
        with_payload: WithPayload::into_selector(w.with_payload, false)?,
        with_vector: WithVector::wanted(&w.with_vector),
        exclude: Vec::new(),
    })
}

/// What a `/points/query` asks for.
enum QueryPlan {
    Search(SearchRequest),
    /// No `query`: points in id order, as Qdrant does.
    List(ScrollRequest, usize),
}

fn query_plan(collection: &Collection, w: QueryRequestWire) -> Result<QueryPlan, ApiError> {
    check_vector_name(w.using.as_deref())?;
    if w.prefetch.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(bad(
            "prefetch is not supported by this Helio release yet".into()
        ));
    }
    if w.lookup_from.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(bad(
            "lookup_from is not supported by this Helio release yet".into(),
        ));
    }
    let limit = w.limit.unwrap_or(10);
    check_limit(limit)?;
    let with_payload = WithPayload::into_selector(w.with_payload, false)?;
    let with_vector = WithVector::wanted(&w.with_vector);
    let (vector, exclude) = match w.query {
        Some(QueryInput::Vector(v)) => (v, Vec::new()),
        None | Some(QueryInput::Other(Value::Null)) => {
            let skip = w.offset.unwrap_or(0);
            return Ok(QueryPlan::List(
                ScrollRequest {
                    filter: w.filter,
                    limit: limit + skip,
                    offset: None,
                    order_by: None,
                    with_payload,
                    with_vector,
                },
                skip,
            ));
        }
        Some(QueryInput::Other(value)) => nearest_target(collection, value)?,
    };
    let params = w.params.unwrap_or_default();
    Ok(QueryPlan::Search(SearchRequest {
        vector,
        filter: w.filter,
        limit,
        offset: w.offset.unwrap_or(0),
        score_threshold: w.score_threshold,
        ef: params.hnsw_ef,
        exact: params.exact.unwrap_or(false),
        indexed_only: params.indexed_only.unwrap_or(false),
        with_payload,
        with_vector,
        exclude,
    }))
}

/// The vector a non-vector `query` stands for: a point id (whose vector is
/// used, and the point itself left out of the results, as Qdrant does) or
/// `{"nearest": vector | id}`. Returns the vector and the ids to exclude.
fn nearest_target(
    collection: &Collection,
    query: Value,
) -> Result<(Vec<f32>, Vec<PointId>), ApiError> {
    match query {
        Value::Array(_) => {
            let v = serde_json::from_value(query)
                .map_err(|e| ApiError::validation(format!("query: {e}")))?;
            Ok((v, Vec::new()))
        }
        Value::Number(_) | Value::String(_) => {
            let id = parse_id(&query).map_err(bad)?;
            let vector = collection.vector_of(&id).ok_or_else(|| {
                ApiError::NotFound(format!("Not found: No point with id {id} found"))
            })?;
            Ok((vector, vec![id]))
        }
        Value::Object(mut map) if map.contains_key("nearest") => {
            let nearest = map.remove("nearest").unwrap_or(Value::Null);
            if map.iter().any(|(k, v)| k != "mmr" || !v.is_null()) {
                return Err(bad(
                    "nearest query options other than the vector are not supported yet".into(),
                ));
            }
            if nearest.is_object() {
                return Err(ApiError::validation(
                    "query.nearest: expected a vector or a point id",
                ));
            }
            nearest_target(collection, nearest)
        }
        Value::Object(map) => {
            let kind = map.keys().next().cloned().unwrap_or_default();
            Err(bad(format!(
                "query `{kind}` is not supported by this Helio release yet (supported: nearest by vector or point id)"
            )))
        }
        other => Err(ApiError::validation(format!(
            "query: unexpected value {other}"
        ))),
    }
}

fn run_query(collection: &Collection, plan: QueryPlan) -> Result<Vec<PointOut>, EngineError> {
    Ok(match plan {
        QueryPlan::Search(req) => collection
            .search(&req)?
            .into_iter()
            .map(PointOut::scored)
            .collect(),
        QueryPlan::List(req, skip) => {
            let (records, _) = collection.scroll(&req)?;
            records
                .into_iter()
                .skip(skip)
                .map(|r: Record| {
                    PointOut::scored(Record {
                        score: Some(0.0),
                        ..r
                    })
                })
                .collect()
        }
    })
}

pub async fn search(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<ReadParams>,
    QJson(body): QJson<SearchRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = legacy_request(body)?;
    let found = compute(|| collection.search(&req))?;
    Ok(ok(
        started,
        found.into_iter().map(PointOut::scored).collect::<Vec<_>>(),
    ))
}

pub async fn search_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<ReadParams>,
    QJson(body): QJson<SearchBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let reqs = body
        .searches
        .into_iter()
        .map(legacy_request)
        .collect::<Result<Vec<_>, _>>()?;
    let results = compute(|| {
        reqs.iter()
            .map(|r| {
                Ok(collection
                    .search(r)?
                    .into_iter()
                    .map(PointOut::scored)
                    .collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>, EngineError>>()
    })?;
    Ok(ok(started, results))
}

pub async fn query(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<ReadParams>,
    QJson(mut body): QJson<QueryRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection: Arc<Collection> = state.db.get(&name)?;
    embed_query(&state, &collection, &mut body.query).await?;
    let plan = query_plan(&collection, body)?;
    let points = compute(|| run_query(&collection, plan))?;
    Ok(ok(started, json!({"points": points})))
}

pub async fn query_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<ReadParams>,
    QJson(mut body): QJson<QueryBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection: Arc<Collection> = state.db.get(&name)?;
    for search in &mut body.searches {
        embed_query(&state, &collection, &mut search.query).await?;
    }
    let plans = body
        .searches
        .into_iter()
        .map(|w| query_plan(&collection, w))
        .collect::<Result<Vec<_>, _>>()?;
    let results = compute(|| {
        plans
            .into_iter()
            .map(|p| Ok(json!({"points": run_query(&collection, p)?})))
            .collect::<Result<Vec<_>, EngineError>>()
    })?;
    Ok(ok(started, results))
}
