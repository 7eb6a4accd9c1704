//! Search routes: the universal `/points/query` (its query read by
//! `query_input`; prefetch stages, listings by id, payload order or at
//! random) and the legacy `/points/search`, `/points/recommend` and
//! `/points/discover`, with their batch forms.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use serde::Deserialize;

use crate::engine::collection::Record;
use crate::engine::filter::Filter;
use crate::engine::payload::PayloadSelector;
use crate::engine::query::{QueryRequest, Stage};
use crate::engine::scroll::{OrderBy, ScrollRequest};
use crate::engine::search::{QueryVector, SearchRequest};
use crate::engine::types::VectorSelector;
use crate::engine::{Collection, Database, EngineError};

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_query;
use super::models::{
    LookupLocation, NamedVector, OrderByWire, PointOut, QueryBatchWire, QueryInput,
    QueryRequestWire, ReadParams, SearchBatchWire, SearchParams, SearchRequestWire, WithPayload,
    WithVector,
};
use super::points::MAX_LIMIT;
use super::query_input::{look_up, parse_query, recommend_query};
use super::{ok, read_within, AppState};

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

/// What a `/points/query` asks for.
enum QueryPlan {
    Query(QueryRequest),
    /// No `query` and no prefetch: points in id order, as Qdrant does; or
    /// an `order_by` query: in the order of a payload field. The number
    /// is the `offset` to skip.
    List(ScrollRequest, usize),
    /// `{"sample": "random"}`: matching points drawn at random.
    Sample(ScrollRequest),
}

/// The root-level queries that list points instead of scoring them: no
/// query at all, `{"order_by": ...}` and `{"sample": "random"}` (without
/// prefetches; over prefetches the latter two are query stages).
enum Listing {
    IdOrder,
    OrderBy(OrderBy),
    Random,
}

fn listing(query: &Option<QueryInput>) -> Result<Option<Listing>, ApiError> {
    let Some(QueryInput::Other(Value::Object(map))) = query else {
        return Ok(None);
    };
    if let Some(order_by) = map.get("order_by") {
        let wire: OrderByWire = serde_json::from_value(order_by.clone())
            .map_err(|e| ApiError::validation(format!("query.order_by: {e}")))?;
        return Ok(Some(Listing::OrderBy(wire.into_engine()?)));
    }
    match map.get("sample") {
        None => Ok(None),
        Some(Value::String(s)) if s == "random" => Ok(Some(Listing::Random)),
        Some(other) => Err(ApiError::validation(format!(
            "query.sample: expected \"random\", got {other}"
        ))),
    }
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
fn prefetches(value: Option<Value>, depth: usize, db: &Database) -> Result<Vec<Stage>, ApiError> {
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
                prefetch: prefetches(w.prefetch, depth + 1, db)?,
                query: look_up(parse_query(w.query)?, w.lookup_from.as_ref(), db)?,
                using: w.using.unwrap_or_default(),
                filter: w.filter,
                score_threshold: w.score_threshold,
                limit,
                ef: params.hnsw_ef,
                exact: params.exact.unwrap_or(false),
                indexed_only: params.indexed_only.unwrap_or(false),
            })
        })
        .collect()
}

fn unsupported(what: &str) -> ApiError {
    bad(format!("{what} is not supported by this Helio release yet"))
}

fn query_plan(mut w: QueryRequestWire, db: &Database) -> Result<QueryPlan, ApiError> {
    let limit = w.limit.unwrap_or(10);
    check_limit(limit)?;
    let with_payload = WithPayload::into_selector(w.with_payload.take(), false)?;
    let with_vector = WithVector::selector(&w.with_vector);
    let prefetch = prefetches(w.prefetch.take(), 1, db)?;
    let listing = match listing(&w.query)? {
        // Over prefetches, order_by and sample are stages like any query.
        Some(_) if !prefetch.is_empty() => None,
        Some(l) => Some(l),
        // No query and no prefetch: points in id order.
        None if w.query.is_none() && prefetch.is_empty() => Some(Listing::IdOrder),
        None => None,
    };
    if let Some(listing) = listing {
        let skip = w.offset.unwrap_or(0);
        let mut req = ScrollRequest {
            filter: w.filter,
            limit: limit + skip,
            offset: None,
            order_by: None,
            with_payload,
            with_vector,
        };
        return Ok(match listing {
            Listing::IdOrder => QueryPlan::List(req, skip),
            Listing::OrderBy(order_by) => {
                req.order_by = Some(order_by);
                QueryPlan::List(req, skip)
            }
            Listing::Random => {
                req.limit = limit;
                QueryPlan::Sample(req)
            }
        });
    }
    Ok(QueryPlan::Query(scored_query(
        w,
        prefetch,
        with_payload,
        with_vector,
        db,
    )?))
}

/// A `/points/query` body that scores points (not a listing).
fn scored_query(
    w: QueryRequestWire,
    prefetch: Vec<Stage>,
    with_payload: PayloadSelector,
    with_vector: VectorSelector,
    db: &Database,
) -> Result<QueryRequest, ApiError> {
    let query = look_up(parse_query(w.query)?, w.lookup_from.as_ref(), db)?;
    let params = w.params.unwrap_or_default();
    Ok(QueryRequest {
        root: Stage {
            prefetch,
            query,
            using: w.using.unwrap_or_default(),
            filter: w.filter,
            score_threshold: w.score_threshold,
            limit: w.limit.unwrap_or(10),
            ef: params.hnsw_ef,
            exact: params.exact.unwrap_or(false),
            indexed_only: params.indexed_only.unwrap_or(false),
        },
        offset: w.offset.unwrap_or(0),
        with_payload,
        with_vector,
    })
}

/// The query of a `/points/query/groups` body: anything `/points/query`
/// scores; with no query and no prefetch, points in id order.
pub(super) fn grouped_query(
    mut w: QueryRequestWire,
    db: &Database,
) -> Result<QueryRequest, ApiError> {
    if listing(&w.query)?.is_some() {
        return Err(unsupported("order_by or sample in a grouped query"));
    }
    let with_payload = WithPayload::into_selector(w.with_payload.take(), false)?;
    let with_vector = WithVector::selector(&w.with_vector);
    let prefetch = prefetches(w.prefetch.take(), 1, db)?;
    scored_query(w, prefetch, with_payload, with_vector, db)
}

/// What strict mode says of a planned query.
fn check_plan(collection: &Collection, plan: &QueryPlan) -> Result<(), EngineError> {
    match plan {
        QueryPlan::Query(req) => collection.check_query(req),
        QueryPlan::List(req, _) | QueryPlan::Sample(req) => {
            collection.check_listing(Some(req.limit), req.filter.as_ref())
        }
    }
}

fn run_query(collection: &Collection, plan: QueryPlan) -> Result<Vec<PointOut>, EngineError> {
    let single = collection.single_vector();
    Ok(match plan {
        QueryPlan::Query(req) => collection
            .query(&req)?
            .into_iter()
            .map(|r| PointOut::scored(r, single))
            .collect(),
        QueryPlan::List(req, skip) => {
            let (records, _) = collection.scroll(&req)?;
            records
                .into_iter()
                .skip(skip)
                .map(|r: Record| {
                    PointOut::scored(
                        Record {
                            score: Some(0.0),
                            ..r
                        },
                        single,
                    )
                })
                .collect()
        }
        QueryPlan::Sample(req) => collection
            .sample(
                req.filter.as_ref(),
                req.limit,
                &req.with_payload,
                &req.with_vector,
            )?
            .into_iter()
            .map(|r| PointOut::scored(r, single))
            .collect(),
    })
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
    collection.check_query(&req.clone().into())?;
    collection.admit_read(params.timeout, 1)?;
    let single = collection.single_vector();
    let found = read_within(params.timeout, move || collection.search(&req)).await?;
    Ok(ok(
        started,
        found
            .into_iter()
            .map(|r| PointOut::scored(r, single))
            .collect::<Vec<_>>(),
    ))
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
    for r in &reqs {
        collection.check_query(&r.clone().into())?;
    }
    collection.admit_read(params.timeout, reqs.len())?;
    let single = collection.single_vector();
    let results = read_within(params.timeout, move || {
        reqs.iter()
            .map(|r| {
                Ok(collection
                    .search(r)?
                    .into_iter()
                    .map(|p| PointOut::scored(p, single))
                    .collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>, EngineError>>()
    })
    .await?;
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
    let collection: Arc<Collection> = state.db.get(&name)?;
    embed_query(
        &state,
        &collection,
        &mut body.query,
        body.using.as_deref(),
        &mut body.prefetch,
    )
    .await?;
    let plan = query_plan(body, &state.db)?;
    check_plan(&collection, &plan)?;
    collection.admit_read(params.timeout, 1)?;
    let points = read_within(params.timeout, move || run_query(&collection, plan)).await?;
    Ok(ok(started, ScoredPoints { points }))
}

pub async fn query_batch(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(mut body): QJson<QueryBatchWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection: Arc<Collection> = state.db.get(&name)?;
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
    let plans = body
        .searches
        .into_iter()
        .map(|w| query_plan(w, &state.db))
        .collect::<Result<Vec<_>, _>>()?;
    for plan in &plans {
        check_plan(&collection, plan)?;
    }
    collection.admit_read(params.timeout, plans.len())?;
    let results = read_within(params.timeout, move || {
        plans
            .into_iter()
            .map(|p| {
                Ok(ScoredPoints {
                    points: run_query(&collection, p)?,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()
    })
    .await?;
    Ok(ok(started, results))
}

/// Runs legacy requests already read as universal queries, under the
/// request's `timeout`; one list of points per request.
async fn run_scored(
    collection: Arc<Collection>,
    reqs: Vec<QueryRequest>,
    timeout: Option<u64>,
) -> Result<Vec<Vec<PointOut>>, ApiError> {
    for r in &reqs {
        collection.check_query(r)?;
    }
    collection.admit_read(timeout, reqs.len())?;
    read_within(timeout, move || {
        reqs.into_iter()
            .map(|r| run_query(&collection, QueryPlan::Query(r)))
            .collect()
    })
    .await
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

pub(super) fn legacy_recommend(
    w: RecommendRequestWire,
    db: &Database,
) -> Result<QueryRequest, ApiError> {
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
            query: look_up(Some(query), w.lookup_from.as_ref(), db)?,
            using: w.using.unwrap_or_default(),
            filter: w.filter,
            score_threshold: w.score_threshold,
            limit: w.limit,
            ef: params.hnsw_ef,
            exact: params.exact.unwrap_or(false),
            indexed_only: params.indexed_only.unwrap_or(false),
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
    let req = legacy_recommend(body, &state.db)?;
    let mut results = run_scored(collection, vec![req], params.timeout).await?;
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
        .map(|w| legacy_recommend(w, &state.db))
        .collect::<Result<Vec<_>, _>>()?;
    let results = run_scored(collection, reqs, params.timeout).await?;
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
fn legacy_discover(w: DiscoverRequestWire, db: &Database) -> Result<QueryRequest, ApiError> {
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
    let with_payload = WithPayload::into_selector(w.with_payload, false)?;
    let with_vector = WithVector::selector(&body.with_vector);
    scored_query(body, Vec::new(), with_payload, with_vector, db)
}

pub async fn discover(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<DiscoverRequestWire>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let req = legacy_discover(body, &state.db)?;
    let mut results = run_scored(collection, vec![req], params.timeout).await?;
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
        .map(|w| legacy_discover(w, &state.db))
        .collect::<Result<Vec<_>, _>>()?;
    let results = run_scored(collection, reqs, params.timeout).await?;
    Ok(ok(started, results))
}
