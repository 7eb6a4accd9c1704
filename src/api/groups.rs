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

use crate::engine::groups::{Group, GroupId, GroupsRequest};
use crate::engine::query::QueryRequest;
use crate::engine::types::PointId;
use crate::engine::{Collection, Database, EngineError};

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::inference::embed_query;
use super::models::{
    PointOut, QueryRequestWire, ReadParams, SearchRequestWire, WithPayload, WithVector,
};
use super::points::MAX_LIMIT;
use super::search::{grouped_query, legacy_recommend, legacy_request, RecommendRequestWire};
use super::{ok, read_within, AppState};

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
    grouping: &GroupingWire,
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
    Ok(GroupsRequest {
        query,
        group_by: grouping.group_by.clone(),
        group_size,
        limit,
    })
}

/// Runs the grouped query and looks each group's id up in another
/// collection when asked: an integer id or a UUID string names a point
/// there; a group whose id names none gets `lookup: null`.
async fn answer(
    db: &Database,
    collection: Arc<Collection>,
    query: QueryRequest,
    grouping: GroupingWire,
    default_size: Option<usize>,
    limit: usize,
    timeout: Option<u64>,
) -> Result<GroupsOut, ApiError> {
    let req = groups_request(query, &grouping, default_size, limit)?;
    collection.check_query(&req.query)?;
    collection.check_listing(Some(req.limit.saturating_mul(req.group_size)), None)?;
    collection.admit_read(timeout, 1)?;
    let lookup = grouping.with_lookup;
    let lookup = match lookup {
        None => None,
        Some(WithLookupWire::Name(name)) => Some((
            db.get(&name)?,
            WithPayload::into_selector(None, true)?,
            WithVector::selector(&None),
        )),
        Some(WithLookupWire::Full {
            collection,
            with_payload,
            with_vectors,
        }) => Some((
            db.get(&collection)?,
            WithPayload::into_selector(with_payload, true)?,
            WithVector::selector(&with_vectors),
        )),
    };
    let single = collection.single_vector();
    let searched = collection.clone();
    let groups: Vec<Group> = read_within(timeout, move || searched.query_groups(&req)).await?;
    let groups = groups
        .into_iter()
        .map(|g| {
            let lookup = lookup.as_ref().map(|(other, payload, vector)| {
                point_id(&g.id).and_then(|id| {
                    other
                        .retrieve(&[id], payload, vector)
                        .pop()
                        .map(|r| PointOut::record(r, other.single_vector()))
                })
            });
            GroupOut {
                hits: g
                    .hits
                    .into_iter()
                    .map(|r| PointOut::scored(r, single))
                    .collect(),
                id: g.id,
                lookup,
            }
        })
        .collect();
    Ok(GroupsOut { groups })
}

fn point_id(group: &GroupId) -> Option<PointId> {
    match group {
        GroupId::UInt(n) => Some(PointId::Num(*n)),
        GroupId::Int(n) => u64::try_from(*n).ok().map(PointId::Num),
        GroupId::Text(s) => uuid::Uuid::parse_str(s).ok().map(PointId::Uuid),
    }
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
    let query = grouped_query(w, &state.db)?;
    let out = answer(
        &state.db,
        collection,
        query,
        grouping,
        Some(3),
        limit,
        params.timeout,
    )
    .await?;
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
    let out = answer(
        &state.db,
        collection,
        query,
        grouping,
        None,
        limit,
        params.timeout,
    )
    .await?;
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
    let query = legacy_recommend(w, &state.db)?;
    let limit = query.root.limit;
    let out = answer(
        &state.db,
        collection,
        query,
        grouping,
        None,
        limit,
        params.timeout,
    )
    .await?;
    Ok(ok(started, out))
}
