//! Grouped search routes: `/points/query/groups` and the legacy
//! `/points/search/groups` and `/points/recommend/groups`. Each takes the
//! body of its ungrouped route plus `group_by`, `group_size` and
//! `with_lookup`, and answers `{"groups": [{"id", "hits", "lookup"}]}`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::query::groups::{GroupId, GroupLookup, GroupsRequest};
use crate::engine::query::stages::QueryRequest;
use crate::engine::{Collection, EngineError};

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_query;
use super::models::{
    PointOut, QueryRequestWire, ReadParams, SearchRequestWire, WithPayload, WithVector,
};
use super::points::MAX_LIMIT;
use super::search::{grouped_query, legacy_recommend, legacy_request, RecommendRequestWire};
use super::{ok, read, AppState};

/// The grouping part of a body, taken out before the rest is read as the
/// ungrouped route's body.
#[derive(Debug, Deserialize)]
struct GroupingWire {
    group_by: String,
    #[serde(default)]
    group_size: Option<usize>,
    #[serde(default)]
    with_lookup: Option<WithLookupWire>,
}

/// `with_lookup`: a collection name, or one with payload and vector selectors.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WithLookupWire {
    Name(String),
    Full {
        collection: String,
        #[serde(default)]
        with_payload: Option<WithPayload>,
        #[serde(default, alias = "with_vector")]
        with_vectors: Option<WithVector>,
    },
}

#[derive(Serialize)]
struct GroupsOut {
    groups: Vec<GroupOut>,
}

#[derive(Serialize)]
struct GroupOut {
    id: GroupId,
    hits: Vec<PointOut>,
    /// Present (a point or null) only when `with_lookup` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    lookup: Option<Option<PointOut>>,
}

/// Splits a grouped body into its grouping fields and the rest, read as
/// `T`. Neither half may carry the other's fields.
fn split<T: serde::de::DeserializeOwned>(body: Value) -> Result<(GroupingWire, T), ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::validation("expected a JSON object"));
    };
    let mut grouping = serde_json::Map::new();
    for key in ["group_by", "group_size", "with_lookup"] {
        if let Some(v) = map.remove(key) {
            grouping.insert(key.into(), v);
        }
    }
    let grouping: GroupingWire = serde_json::from_value(Value::Object(grouping))
        .map_err(|e| ApiError::validation(e.to_string()))?;
    if grouping.group_by.is_empty() {
        return Err(ApiError::validation("group_by: must not be empty"));
    }
    if grouping.group_size == Some(0) {
        return Err(ApiError::validation("group_size: must be at least 1"));
    }
    let rest = serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::validation(e.to_string()))?;
    Ok((grouping, rest))
}

fn groups_request(
    query: QueryRequest,
    grouping: GroupingWire,
    group_size: Option<usize>,
    limit: usize,
) -> Result<GroupsRequest, ApiError> {
    if limit == 0 {
        return Err(ApiError::validation("limit: must be at least 1"));
    }
    let group_size = grouping
        .group_size
        .or(group_size)
        .ok_or_else(|| ApiError::validation("missing field `group_size`"))?;
    // Every group may hold `group_size` hits: the whole answer is bounded
    // like any other query's.
    if limit.saturating_mul(group_size) > MAX_LIMIT {
        return Err(ApiError::Engine(EngineError::BadRequest(format!(
            "limit × group_size must be at most {MAX_LIMIT}"
        ))));
    }
    let with_lookup = match grouping.with_lookup {
        None => None,
        Some(WithLookupWire::Name(name)) => Some(GroupLookup::new(
            name,
            WithPayload::into_selector(None, true)?,
            WithVector::selector(&None),
        )),
        Some(WithLookupWire::Full {
            collection,
            with_payload,
            with_vectors,
        }) => Some(GroupLookup::new(
            collection,
            WithPayload::into_selector(with_payload, true)?,
            WithVector::selector(&with_vectors),
        )),
    };
    Ok(GroupsRequest {
        query,
        group_by: grouping.group_by,
        group_size,
        limit,
        with_lookup,
    })
}

/// Runs the grouped query (with its lookups, when asked for) and renders
/// the groups.
async fn answer(
    state: &AppState,
    collection: Arc<Collection>,
    req: GroupsRequest,
    timeout: Option<u64>,
) -> Result<GroupsOut, ApiError> {
    // How the looked-up points render depends on their collection's vectors.
    let lookup_single = match &req.with_lookup {
        Some(lookup) => state.db.get(lookup.collection())?.single_vector(),
        None => false,
    };
    let single = collection.single_vector();
    let groups = read(state, collection, req, timeout).await?;
    let groups = groups
        .into_iter()
        .map(|g| GroupOut {
            hits: g
                .hits
                .into_iter()
                .map(|r| PointOut::scored(r, single))
                .collect(),
            id: g.id,
            lookup: g
                .lookup
                .map(|found| found.map(|r| PointOut::record(r, lookup_single))),
        })
        .collect();
    Ok(GroupsOut { groups })
}

pub async fn query_groups(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<Value>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let (grouping, mut w): (GroupingWire, QueryRequestWire) = split(body)?;
    embed_query(
        &state,
        &collection,
        &mut w.query,
        w.using.as_deref(),
        &mut w.prefetch,
    )
    .await?;
    // Qdrant's defaults: 10 groups of at most 3 hits.
    let limit = w.limit.unwrap_or(10);
    let query = grouped_query(w)?;
    let req = groups_request(query, grouping, Some(3), limit)?;
    let out = answer(&state, collection, req, params.timeout).await?;
    Ok(ok(started, out))
}

pub async fn search_groups(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<Value>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let (grouping, w): (GroupingWire, SearchRequestWire) = split(body)?;
    let query = QueryRequest::from(legacy_request(w)?);
    let limit = query.root.limit;
    let req = groups_request(query, grouping, None, limit)?;
    let out = answer(&state, collection, req, params.timeout).await?;
    Ok(ok(started, out))
}

pub async fn recommend_groups(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<ReadParams>,
    QJson(body): QJson<Value>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let (grouping, w): (GroupingWire, RecommendRequestWire) = split(body)?;
    let query = legacy_recommend(w)?;
    let limit = query.root.limit;
    let req = groups_request(query, grouping, None, limit)?;
    let out = answer(&state, collection, req, params.timeout).await?;
    Ok(ok(started, out))
}
