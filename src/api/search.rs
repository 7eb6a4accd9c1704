//! Search routes: the universal `/points/query` (its query read by
//! `query_input`; prefetch stages, listings by id, payload order or at
//! random) and the legacy `/points/search`, `/points/recommend` and
//! `/points/discover`, with their batch forms.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::filter::Filter;
use crate::engine::query::lookup::Lookup;
use crate::engine::query::search::{QueryVector, SearchRequest};
use crate::engine::query::stages::{Query, QueryRequest, Stage};
use crate::engine::{Collection, EngineError, Record};

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_query;
use super::models::{
    LookupLocation, NamedVector, PointOut, QueryBatchWire, QueryInput, QueryRequestWire,
    ReadParams, SearchBatchWire, SearchParams, SearchRequestWire, WithPayload, WithVector,
};
use super::points::MAX_LIMIT;
use super::query_input::{parse_query, recommend_query};
use super::{ok, read, read_batch, AppState};

fn bad(msg: String) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg))
}

fn check_limit(limit: usize) -> Result<(), ApiError> {
    if limit > MAX_LIMIT {
        return Err(bad(format!("limit must be at most {MAX_LIMIT}")));
    }
    Ok(())
}

pub(super) fn legacy_request(w: SearchRequestWire) -> Result<SearchRequest, ApiError> {
    let (using, vector) = match w.vector {
        NamedVector::Plain(v) => (String::new(), QueryVector::Dense(v)),
        NamedVector::Named { name, vector } => (name, QueryVector::Dense(vector)),
        NamedVector::Sparse { name, vector } => (name, QueryVector::Sparse(vector.into_engine()?)),
    };
    check_limit(w.limit)?;
    let params = w.params.unwrap_or_default();
    Ok(SearchRequest {
        using,
        vector,
        filter: w.filter,
        limit: w.limit,
        offset: w.offset.unwrap_or(0),
        score_threshold: w.score_threshold,
        ef: params.hnsw_ef,
        exact: params.exact.unwrap_or(false),
        indexed_only: params.indexed_only.unwrap_or(false),
        with_payload: WithPayload::into_selector(w.with_payload, false)?,
        with_vector: WithVector::selector(&w.with_vector),
        exclude: Vec::new(),
    })
}

/// One `Prefetch` of the wire.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefetchWire {
    #[serde(default)]
    prefetch: Option<Value>,
    #[serde(default)]
    query: Option<QueryInput>,
    #[serde(default)]
    using: Option<String>,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    params: Option<SearchParams>,
    #[serde(default)]
    score_threshold: Option<f32>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    lookup_from: Option<LookupLocation>,
}

/// `prefetch`: one object or a list, each with its own stages below.
fn prefetches(value: Option<Value>, depth: usize) -> Result<Vec<Stage>, ApiError> {
    const MAX_DEPTH: usize = 16;
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(one) => vec![one],
    };
    if depth > MAX_DEPTH {
        return Err(bad(format!(
            "prefetch nested deeper than {MAX_DEPTH} levels"
        )));
    }
    list.into_iter()
        .map(|v| {
            let w: PrefetchWire = serde_json::from_value(v)
                .map_err(|e| ApiError::validation(format!("prefetch: {e}")))?;
            let limit = w.limit.unwrap_or(10);
            check_limit(limit)?;
            let params = w.params.unwrap_or_default();
            Ok(Stage {
                prefetch: prefetches(w.prefetch, depth + 1)?,
                query: parse_query(w.query)?,
                using: w.using.unwrap_or_default(),
                filter: w.filter,
                score_threshold: w.score_threshold,
                limit,
                ef: params.hnsw_ef,
                exact: params.exact.unwrap_or(false),
                indexed_only: params.indexed_only.unwrap_or(false),
                lookup: w.lookup_from.map(Lookup::from),
            })
        })
        .collect()
}

fn unsupported(what: &str) -> ApiError {
    bad(format!("{what} is not supported by this Helio release yet"))
}

/// A `/points/query` body as the engine's query: a tree of stages, or at
/// the root without prefetches a listing (no query: id order; `order_by`;
/// `sample`), which the engine tells apart.
pub(super) fn query_request(w: QueryRequestWire) -> Result<QueryRequest, ApiError> {
    check_limit(w.limit.unwrap_or(10))?;
    stages(w)
}

/// The stages of a query body, its root `limit` unchecked: a grouped
/// query bounds `limit × group_size` instead.
fn stages(mut w: QueryRequestWire) -> Result<QueryRequest, ApiError> {
    let limit = w.limit.unwrap_or(10);
    let with_payload = WithPayload::into_selector(w.with_payload.take(), false)?;
    let with_vector = WithVector::selector(&w.with_vector);
    let prefetch = prefetches(w.prefetch.take(), 1)?;
    let params = w.params.unwrap_or_default();
    Ok(QueryRequest {
        root: Stage {
            prefetch,
            query: parse_query(w.query)?,
            using: w.using.unwrap_or_default(),
            filter: w.filter,
            score_threshold: w.score_threshold,
            limit,
            ef: params.hnsw_ef,
            exact: params.exact.unwrap_or(false),
            indexed_only: params.indexed_only.unwrap_or(false),
            lookup: w.lookup_from.map(Lookup::from),
        },
        offset: w.offset.unwrap_or(0),
        with_payload,
        with_vector,
    })
}

/// The query of a `/points/query/groups` body: anything `/points/query`
/// scores; with no query and no prefetch, points in id order.
pub(super) fn grouped_query(w: QueryRequestWire) -> Result<QueryRequest, ApiError> {
    let req = stages(w)?;
    if matches!(req.root.query, Some(Query::OrderBy(_) | Query::Sample)) {
        return Err(unsupported("order_by or sample in a grouped query"));
    }
    Ok(req)
}

/// Records as the query routes answer them.
fn scored(records: Vec<Record>, single: bool) -> Vec<PointOut> {
    records
        .into_iter()
        .map(|r| PointOut::scored(r, single))
        .collect()
}

pub async fn search(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<SearchRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = legacy_request(body)?;
    let single = collection.single_vector();
    let found = read(&state, collection, req, params.timeout).await?;
    Ok(ok(started, scored(found, single)))
}

pub async fn search_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<SearchBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let reqs = body
        .searches
        .into_iter()
        .map(legacy_request)
        .collect::<Result<Vec<_>, _>>()?;
    let single = collection.single_vector();
    let results = read_batch(&state, collection, reqs, params.timeout).await?;
    let results: Vec<_> = results.into_iter().map(|r| scored(r, single)).collect();
    Ok(ok(started, results))
}

/// The `{"points": [...]}` result of the query routes, serialised as is.
#[derive(serde::Serialize)]
struct ScoredPoints<T> {
    points: T,
}

pub async fn query(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(mut body): QJson<QueryRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    embed_query(
        &state,
        &collection,
        &mut body.query,
        body.using.as_deref(),
        &mut body.prefetch,
    )
    .await?;
    let req = query_request(body)?;
    let single = collection.single_vector();
    let found = read(&state, collection, req, params.timeout).await?;
    Ok(ok(
        started,
        ScoredPoints {
            points: scored(found, single),
        },
    ))
}

pub async fn query_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(mut body): QJson<QueryBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    for search in &mut body.searches {
        embed_query(
            &state,
            &collection,
            &mut search.query,
            search.using.as_deref(),
            &mut search.prefetch,
        )
        .await?;
    }
    let reqs = body
        .searches
        .into_iter()
        .map(query_request)
        .collect::<Result<Vec<_>, _>>()?;
    let single = collection.single_vector();
    let results = read_batch(&state, collection, reqs, params.timeout).await?;
    let results: Vec<_> = results
        .into_iter()
        .map(|found| ScoredPoints {
            points: scored(found, single),
        })
        .collect();
    Ok(ok(started, results))
}

/// Runs legacy requests already read as universal queries; one list of
/// points per request.
async fn run_scored(
    state: &AppState,
    collection: Arc<Collection>,
    reqs: Vec<QueryRequest>,
    timeout: Option<u64>,
) -> Result<Vec<Vec<PointOut>>, ApiError> {
    let single = collection.single_vector();
    let results = read_batch(state, collection, reqs, timeout).await?;
    Ok(results.into_iter().map(|r| scored(r, single)).collect())
}

/// Legacy `/points/recommend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequestWire {
    #[serde(default)]
    positive: Option<Vec<Value>>,
    #[serde(default)]
    negative: Option<Vec<Value>>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    params: Option<SearchParams>,
    limit: usize,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    with_vector: Option<WithVector>,
    #[serde(default)]
    score_threshold: Option<f32>,
    #[serde(default)]
    using: Option<String>,
    #[serde(default)]
    lookup_from: Option<LookupLocation>,
    /// Accepted for compatibility: one node holds every shard.
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendBatchWire {
    searches: Vec<RecommendRequestWire>,
}

pub(super) fn legacy_recommend(w: RecommendRequestWire) -> Result<QueryRequest, ApiError> {
    check_limit(w.limit)?;
    let query = recommend_query(serde_json::json!({
        "positive": w.positive,
        "negative": w.negative,
        "strategy": w.strategy,
    }))?;
    let params = w.params.unwrap_or_default();
    Ok(QueryRequest {
        root: Stage {
            prefetch: Vec::new(),
            query: Some(query),
            using: w.using.unwrap_or_default(),
            filter: w.filter,
            score_threshold: w.score_threshold,
            limit: w.limit,
            ef: params.hnsw_ef,
            exact: params.exact.unwrap_or(false),
            indexed_only: params.indexed_only.unwrap_or(false),
            lookup: w.lookup_from.map(Lookup::from),
        },
        offset: w.offset.unwrap_or(0),
        with_payload: WithPayload::into_selector(w.with_payload, false)?,
        with_vector: WithVector::selector(&w.with_vector),
    })
}

pub async fn recommend(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<RecommendRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = legacy_recommend(body)?;
    let mut results = run_scored(&state, collection, vec![req], params.timeout).await?;
    Ok(ok(started, results.pop().unwrap_or_default()))
}

pub async fn recommend_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<RecommendBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let reqs = body
        .searches
        .into_iter()
        .map(legacy_recommend)
        .collect::<Result<Vec<_>, _>>()?;
    let results = run_scored(&state, collection, reqs, params.timeout).await?;
    Ok(ok(started, results))
}

/// Legacy `/points/discover` body: a target and context pairs (a context
/// search without the target).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequestWire {
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    context: Option<Vec<Value>>,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    params: Option<SearchParams>,
    limit: usize,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    with_vector: Option<WithVector>,
    #[serde(default)]
    using: Option<String>,
    #[serde(default)]
    lookup_from: Option<LookupLocation>,
    /// Accepted for compatibility: one node holds every shard.
    #[serde(default)]
    #[allow(dead_code)]
    shard_key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverBatchWire {
    searches: Vec<DiscoverRequestWire>,
}

/// The legacy body read as the universal query it stands for.
fn legacy_discover(w: DiscoverRequestWire) -> Result<QueryRequest, ApiError> {
    check_limit(w.limit)?;
    let context = Value::from(w.context.unwrap_or_default());
    let query = match w.target {
        Some(target) if !target.is_null() => {
            serde_json::json!({"discover": {"target": target, "context": context}})
        }
        _ => serde_json::json!({ "context": context }),
    };
    let body = QueryRequestWire {
        query: Some(QueryInput::Other(query)),
        using: w.using,
        filter: w.filter,
        params: w.params,
        limit: Some(w.limit),
        offset: w.offset,
        with_payload: None,
        with_vector: w.with_vector,
        score_threshold: None,
        prefetch: None,
        lookup_from: w.lookup_from,
        shard_key: None,
    };
    let mut req = query_request(body)?;
    req.with_payload = WithPayload::into_selector(w.with_payload, false)?;
    Ok(req)
}

pub async fn discover(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<DiscoverRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = legacy_discover(body)?;
    let mut results = run_scored(&state, collection, vec![req], params.timeout).await?;
    Ok(ok(started, results.pop().unwrap_or_default()))
}

pub async fn discover_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<DiscoverBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let reqs = body
        .searches
        .into_iter()
        .map(legacy_discover)
        .collect::<Result<Vec<_>, _>>()?;
    let results = run_scored(&state, collection, reqs, params.timeout).await?;
    Ok(ok(started, results))
}
