//! Grouped queries: the best hits of a query, at most `group_size` per
//! value of a payload field and at most `limit` groups, so that results
//! are not all chunks of one document or offers of one product.
//!
//! A query cannot know in advance how deep it has to go to fill the
//! groups, so it runs with a growing limit, as Qdrant's does: each round
//! fetches four times as many hits as the last, until every group is full,
//! the query has nothing more to give, or the rounds run out. Only points
//! that have a value at the key are searched at all.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::engine::collection::admission::check_listing;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::points::Points;
use crate::engine::collection::view::Collections;
use crate::engine::collection::ReadRequest;
use crate::engine::collection::View;
use crate::engine::collection::{Collection, Record};
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::values_at;
use crate::engine::filter::{Condition, Filter, IsEmptyCondition, PayloadField};
use crate::engine::query::stages::QueryRequest;
use crate::engine::types::Offset;
use crate::engine::types::PointId;
use crate::engine::types::VectorSelector;
use std::sync::Arc;

/// Rounds of the growing search before grouping settles for what it has.
const MAX_ROUNDS: usize = 5;

/// A grouped query: `query.root.limit` and `query.offset` are ignored.
#[derive(Debug, Clone)]
pub struct GroupsRequest {
    pub query: QueryRequest,
    /// The payload key whose values name the groups.
    pub group_by: String,
    pub group_size: usize,
    /// How many groups at most.
    pub limit: usize,
    /// Qdrant's `with_lookup`: each group id read as a point id in another
    /// collection.
    pub with_lookup: Option<GroupLookup>,
}

/// Where and how the points that group ids name are read.
#[derive(Clone)]
pub struct GroupLookup {
    collection: String,
    with_payload: PayloadSelector,
    with_vector: VectorSelector,
    /// The collection itself, found when the request is resolved.
    found: Option<Arc<Collection>>,
}

impl std::fmt::Debug for GroupLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLookup")
            .field("collection", &self.collection)
            .field("with_payload", &self.with_payload)
            .field("with_vector", &self.with_vector)
            .finish_non_exhaustive()
    }
}

impl GroupLookup {
    pub fn new(
        collection: String,
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
    ) -> GroupLookup {
        GroupLookup {
            collection,
            with_payload,
            with_vector,
            found: None,
        }
    }

    /// The collection the ids are read in.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Reads the point each group's id names: an unsigned integer id or a
    /// UUID string; other ids, and ids no point has, find nothing.
    fn fill(&self, groups: &mut [Group]) -> Result<()> {
        let other = self.found.as_ref().ok_or_else(|| {
            EngineError::NotFound(format!("Collection `{}` doesn't exist!", self.collection))
        })?;
        let view = other.view();
        for g in groups {
            let found =
                g.id.point_id()
                    .and_then(|id| view.points.ids.get(&id).copied())
                    .and_then(|o| {
                        view.points
                            .record(o, None, &self.with_payload, &self.with_vector)
                    });
            g.lookup = Some(found);
        }
        Ok(())
    }
}

/// The value that names a group: a string or an integer, as in Qdrant.
/// A point with several values at the key is a hit of each of their groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum GroupId {
    Text(String),
    Int(i64),
    UInt(u64),
}

impl GroupId {
    /// Strings and integers name groups; other values (floats, booleans,
    /// objects, null) do not.
    fn from_value(v: &Value) -> Option<GroupId> {
        match v {
            Value::String(s) => Some(GroupId::Text(s.clone())),
            Value::Number(n) => n
                .as_i64()
                .map(GroupId::Int)
                .or_else(|| n.as_u64().map(GroupId::UInt)),
            _ => None,
        }
    }

    /// The point id this group id can name in a lookup collection.
    fn point_id(&self) -> Option<PointId> {
        match self {
            GroupId::UInt(n) => Some(PointId::Num(*n)),
            GroupId::Int(n) => u64::try_from(*n).ok().map(PointId::Num),
            GroupId::Text(s) => uuid::Uuid::parse_str(s).ok().map(PointId::Uuid),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: GroupId,
    /// Best first.
    pub hits: Vec<Record>,
    /// With `with_lookup`, the point the id names there (`Some(None)`
    /// when it names none); `None` without.
    pub lookup: Option<Option<Record>>,
}

impl View<'_> {
    #[tracing::instrument(skip_all, fields(collection = %self.name, group_by = %req.group_by))]
    pub fn query_groups(&self, req: &GroupsRequest) -> Result<Vec<Group>> {
        let points = &*self.points;
        if req.group_by.is_empty() {
            return Err(EngineError::BadRequest(
                "Validation error: group_by must not be empty".into(),
            ));
        }
        if req.group_size == 0 || req.limit == 0 {
            return Err(EngineError::BadRequest(
                "Validation error: group_size and limit must be at least 1".into(),
            ));
        }
        let mut root = req.query.root.clone();
        root.filter = Some(with_key(root.filter.take(), &req.group_by));
        let mut fetch = req.limit.saturating_mul(req.group_size).saturating_mul(2);
        let mut groups = Groups::default();
        for round in 1..=MAX_ROUNDS {
            root.limit = fetch;
            let found = self.run_stage(&root, None)?;
            groups = Groups::collect(points, &found, req);
            let exhausted = found.len() < fetch;
            if exhausted || groups.full(req) || round == MAX_ROUNDS {
                break;
            }
            fetch = fetch.saturating_mul(4);
        }
        Ok(groups
            .order
            .into_iter()
            .map(|id| {
                let hits = groups.hits.remove(&id).unwrap_or_default();
                Group {
                    hits: hits
                        .into_iter()
                        .filter_map(|(o, s)| {
                            let q = &req.query;
                            points.record(o, Some(s), &q.with_payload, &q.with_vector)
                        })
                        .collect(),
                    id,
                    lookup: None,
                }
            })
            .collect())
    }
}

/// `filter`, narrowed to points that have some value at `key`.
fn with_key(filter: Option<Filter>, key: &str) -> Filter {
    let has_key = Filter {
        must_not: Some(vec![Condition::IsEmpty(IsEmptyCondition {
            is_empty: PayloadField { key: key.into() },
        })]),
        ..Filter::default()
    };
    match filter {
        None => has_key,
        Some(f) => Filter::all_of(vec![f, has_key]),
    }
}

/// Hits assigned to groups, groups in the order their best hit came.
#[derive(Default)]
struct Groups {
    order: Vec<GroupId>,
    hits: HashMap<GroupId, Vec<(Offset, f32)>>,
}

impl Groups {
    /// Walks `found` (best first): a hit joins each of its groups that has
    /// room, and opens a group when fewer than `limit` exist.
    fn collect(points: &Points, found: &[(Offset, f32)], req: &GroupsRequest) -> Groups {
        let mut groups = Groups::default();
        for &(offset, score) in found {
            let Some(slot) = points.slot(offset) else {
                continue;
            };
            let ids = values_at(&slot.payload, &req.group_by)
                .into_iter()
                .filter_map(GroupId::from_value);
            for id in ids {
                match groups.hits.get_mut(&id) {
                    // A value repeated within one point counts once.
                    Some(hits)
                        if hits.len() < req.group_size && !hits.iter().any(|h| h.0 == offset) =>
                    {
                        hits.push((offset, score));
                    }
                    Some(_) => {}
                    None if groups.order.len() < req.limit => {
                        groups.order.push(id.clone());
                        groups.hits.insert(id, vec![(offset, score)]);
                    }
                    None => {}
                }
            }
        }
        groups
    }

    fn full(&self, req: &GroupsRequest) -> bool {
        self.order.len() == req.limit && self.hits.values().all(|h| h.len() == req.group_size)
    }
}

impl ReadRequest for GroupsRequest {
    type Output = Vec<Group>;

    fn resolve(&mut self, collections: &Collections) -> Result<()> {
        if let Some(lookup) = &mut self.with_lookup {
            lookup.found = Some(collections(&lookup.collection)?);
        }
        self.query.resolve(collections)
    }

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        self.query.check(strict, view)?;
        check_listing(
            strict,
            Some(self.limit.saturating_mul(self.group_size)),
            None,
            &view.points.indexes,
        )
    }

    fn run(&self, view: View) -> Result<Vec<Group>> {
        let mut groups = view.query_groups(self)?;
        // The lookup collection may be this one: its view is taken only
        // after this one is let go.
        drop(view);
        if let Some(lookup) = &self.with_lookup {
            lookup.fill(&mut groups)?;
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::collection::payload::PayloadSelector;
    use crate::engine::collection::{PointInsert, UpdateOp};
    use crate::engine::config::{CollectionConfig, VectorParams};
    use crate::engine::query::search::QueryVector;
    use crate::engine::query::stages::{Query, Stage};
    use crate::engine::types::{Distance, PointId, VectorSelector};
    use crate::engine::EngineOptions;
    use serde_json::json;

    fn collection(dir: &std::path::Path, payload: impl Fn(u64) -> Value) -> Collection {
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Euclid));
        let c = Collection::create(dir, "groups", config, options).unwrap();
        let inserts = (0..60u64)
            .map(|i| {
                let Value::Object(p) = payload(i) else {
                    unreachable!()
                };
                PointInsert::dense(PointId::Num(i), vec![i as f32, 0.0], p)
            })
            .collect();
        c.update(vec![UpdateOp::Upsert(inserts)]).unwrap();
        c
    }

    /// Point i sits at (i, 0); documents of ten chunks each, and a few
    /// points whose key is missing, a float, or a list of values.
    fn documents(dir: &std::path::Path) -> Collection {
        collection(dir, |i| match i {
            50 => json!({}),
            51 => json!({"doc": 1.5}),
            52 => json!({"doc": ["x", "y", "x"]}),
            _ => json!({"doc": format!("d{}", i / 10)}),
        })
    }

    fn request(at: f32, group_size: usize, limit: usize) -> GroupsRequest {
        GroupsRequest {
            query: QueryRequest {
                root: Stage::new(Some(Query::Nearest(QueryVector::Dense(vec![at, 0.0]))), 10),
                offset: 0,
                with_payload: PayloadSelector::All,
                with_vector: VectorSelector::None,
            },
            group_by: "doc".into(),
            group_size,
            limit,
            with_lookup: None,
        }
    }

    fn ids(g: &Group) -> Vec<u64> {
        g.hits
            .iter()
            .map(|r| match r.id {
                PointId::Num(n) => n,
                PointId::Uuid(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn groups_fill_best_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = documents(dir.path());
        let groups = c.read(&request(0.0, 3, 2), None).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].id, GroupId::Text("d0".into()));
        assert_eq!(ids(&groups[0]), vec![0, 1, 2]);
        assert_eq!(groups[1].id, GroupId::Text("d1".into()));
        assert_eq!(ids(&groups[1]), vec![10, 11, 12]);
        // Scores are distances, best (smallest) first.
        assert_eq!(groups[1].hits[0].score, Some(10.0));
    }

    #[test]
    fn a_dominant_group_makes_the_search_go_deeper() {
        let dir = tempfile::tempdir().unwrap();
        let c = documents(dir.path());
        // Near 0 the first 2·limit·size = 4 hits are all d0: the search
        // must grow to reach d1..d4.
        let groups = c.read(&request(0.0, 1, 5), None).unwrap();
        let names: Vec<_> = groups.iter().map(|g| g.id.clone()).collect();
        let want: Vec<_> = (0..5).map(|d| GroupId::Text(format!("d{d}"))).collect();
        assert_eq!(names, want);
        assert!(groups.iter().all(|g| g.hits.len() == 1));
    }

    #[test]
    fn every_value_of_a_list_is_a_group_and_other_values_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let c = documents(dir.path());
        let groups = c.read(&request(52.0, 10, 100), None).unwrap();
        let find = |name: &str| groups.iter().find(|g| g.id == GroupId::Text(name.into()));
        assert_eq!(ids(find("x").unwrap()), vec![52]);
        assert_eq!(ids(find("y").unwrap()), vec![52]);
        // 50 (no key) and 51 (a float) are in no group; every other point
        // is in exactly one.
        let total: usize = groups.iter().map(|g| g.hits.len()).sum();
        assert_eq!(total, 57 + 2);
        assert!(groups.iter().flat_map(ids).all(|id| id != 50 && id != 51));
    }

    #[test]
    fn filters_thresholds_and_bad_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let c = documents(dir.path());
        let mut req = request(0.0, 2, 10);
        req.query.root.filter = Some(
            serde_json::from_value(
                json!({"must": [{"key": "doc", "match": {"any": ["d3", "d4"]}}]}),
            )
            .unwrap(),
        );
        req.query.root.score_threshold = Some(41.0);
        let groups = c.read(&req, None).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(ids(&groups[0]), vec![30, 31]);
        assert_eq!(ids(&groups[1]), vec![40, 41]);

        req.group_size = 0;
        assert!(matches!(
            c.read(&req, None),
            Err(EngineError::BadRequest(_))
        ));
    }

    #[test]
    fn integer_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = collection(dir.path(), |i| json!({"n": (i % 3) as i64 - 1}));
        let mut req = request(0.0, 100, 10);
        req.group_by = "n".into();
        let groups = c.read(&req, None).unwrap();
        let mut names: Vec<_> = groups.iter().map(|g| g.id.clone()).collect();
        names.sort_by_key(|g| format!("{g:?}"));
        assert_eq!(
            names,
            vec![GroupId::Int(-1), GroupId::Int(0), GroupId::Int(1)]
        );
        assert_eq!(groups.iter().map(|g| g.hits.len()).sum::<usize>(), 60);
    }
}
