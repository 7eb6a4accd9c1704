//! Random sequences of upsert / delete / set-payload / delete-by-filter /
//! restart against the engine, compared with a plain in-memory model.

use std::collections::BTreeMap;

use helio::engine::collection::{PointInsert, Selector, UpdateOp};
use helio::engine::filter::Filter;
use helio::engine::params::{CollectionConfig, OptimizersConfig, VectorParams};
use helio::engine::payload::PayloadSelector;
use helio::engine::scroll::ScrollRequest;
use helio::engine::search::{QueryVector, SearchRequest};
use helio::engine::types::{Distance, NamedVectors, Payload, PointId, VectorData, VectorSelector};
use helio::engine::{Database, EngineOptions};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Upsert(Vec<(u64, [i8; 3], i64)>),
    Delete(Vec<u64>),
    SetPayload(Vec<u64>, i64),
    DeleteWhereTagBelow(i64),
    Restart,
    /// Let the optimizer index, vacuum and merge before going on.
    Optimize,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u64..40;
    prop_oneof![
        4 => prop::collection::vec((id.clone(), any::<[i8; 3]>(), 0i64..10), 1..20).prop_map(Op::Upsert),
        2 => prop::collection::vec(id.clone(), 1..5).prop_map(Op::Delete),
        2 => (prop::collection::vec(id, 1..5), 0i64..10).prop_map(|(ids, t)| Op::SetPayload(ids, t)),
        1 => (0i64..4).prop_map(Op::DeleteWhereTagBelow),
        1 => Just(Op::Restart),
        2 => Just(Op::Optimize),
    ]
}

fn config() -> CollectionConfig {
    CollectionConfig {
        // Index almost at once, so graphs, vacuum and merges happen too.
        optimizer_config: OptimizersConfig {
            indexing_threshold: Some(1),
            vacuum_min_vector_number: 2,
            ..OptimizersConfig::default()
        },
        ..CollectionConfig::new(VectorParams::new(DIM, Distance::Euclid))
    }
}

fn payload(tag: i64) -> Payload {
    json!({"tag": tag}).as_object().unwrap().clone()
}

/// 64 floats = 256 bytes, so a 1 KB indexing threshold is 4 points and
/// graphs, vacuum and merges all happen within a short sequence.
const DIM: usize = 64;

fn vector(v: &[i8; 3]) -> Vec<f32> {
    let mut out = vec![0.0; DIM];
    for (o, x) in out.iter_mut().zip(v) {
        *o = *x as f32;
    }
    out
}

type Model = BTreeMap<u64, (Vec<f32>, Payload)>;

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Upsert(points) => {
            for (id, v, tag) in points {
                model.insert(*id, (vector(v), payload(*tag)));
            }
        }
        Op::Delete(ids) => ids.iter().for_each(|id| {
            model.remove(id);
        }),
        Op::SetPayload(ids, tag) => {
            for id in ids {
                if let Some((_, p)) = model.get_mut(id) {
                    p.insert("tag".into(), json!(tag));
                    p.insert("touched".into(), json!(true));
                }
            }
        }
        Op::DeleteWhereTagBelow(t) => model.retain(|_, (_, p)| p["tag"].as_i64().unwrap() >= *t),
        Op::Restart | Op::Optimize => {}
    }
}

fn to_engine(op: &Op, model: &Model) -> Option<UpdateOp> {
    Some(match op {
        Op::Upsert(points) => UpdateOp::Upsert(
            points
                .iter()
                .map(|(id, v, tag)| PointInsert {
                    id: PointId::Num(*id),
                    vectors: NamedVectors::from([(String::new(), VectorData::Dense(vector(v)))]),
                    payload: payload(*tag),
                })
                .collect(),
        ),
        Op::Delete(ids) => UpdateOp::Delete(Selector::Ids(
            ids.iter().map(|&i| PointId::Num(i)).collect(),
        )),
        Op::SetPayload(ids, tag) => {
            // Setting the payload of a missing point is an error (as in
            // Qdrant); the model only sends existing ids.
            let ids: Vec<PointId> = ids
                .iter()
                .filter(|i| model.contains_key(i))
                .map(|&i| PointId::Num(i))
                .collect();
            if ids.is_empty() {
                return None;
            }
            UpdateOp::SetPayload {
                selector: Selector::Ids(ids),
                payload: json!({"tag": tag, "touched": true})
                    .as_object()
                    .unwrap()
                    .clone(),
                key: None,
            }
        }
        Op::DeleteWhereTagBelow(t) => {
            let filter: Filter =
                serde_json::from_value(json!({"must": [{"key": "tag", "range": {"lt": t}}]}))
                    .unwrap();
            UpdateOp::Delete(Selector::Filter(filter))
        }
        Op::Restart | Op::Optimize => return None,
    })
}

fn stored(db: &Database) -> Model {
    let c = db.get("m").unwrap();
    let (records, next) = c
        .scroll(&ScrollRequest {
            filter: None,
            limit: 1000,
            offset: None,
            order_by: None,
            with_payload: PayloadSelector::All,
            with_vector: VectorSelector::All,
        })
        .unwrap();
    assert!(next.is_none());
    records
        .into_iter()
        .map(|r| {
            let PointId::Num(id) = r.id else {
                panic!("uuid")
            };
            let Some(VectorData::Dense(v)) = r.vector.unwrap().remove("") else {
                panic!("no unnamed vector")
            };
            (id, (v, r.payload.unwrap()))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::open(dir.path(), EngineOptions { fsync: false, ..Default::default() }).unwrap();
        db.create("m", config()).unwrap();
        let mut model = Model::new();
        for op in &ops {
            if let Op::Restart = op {
                drop(db);
                db = Database::open(dir.path(), EngineOptions { fsync: false, ..Default::default() }).unwrap();
            } else if let Op::Optimize = op {
                prop_assert!(db.get("m").unwrap().wait_optimized(std::time::Duration::from_secs(20)));
            } else if let Some(update) = to_engine(op, &model) {
                db.get("m").unwrap().update(vec![update]).unwrap();
            }
            apply(&mut model, op);
            prop_assert_eq!(&stored(&db), &model);
        }
        // Every stored point is its own nearest neighbour through search.
        let c = db.get("m").unwrap();
        prop_assert!(c.wait_optimized(std::time::Duration::from_secs(20)));
        let info = c.info();
        prop_assert!(model.len() < 4 || info.indexed_vectors_count > 0, "nothing was indexed: {:?}", info.indexed_vectors_count);
        for (id, (v, _)) in &model {
            let mut req = SearchRequest::new("", QueryVector::Dense(v.clone()), 40);
            req.score_threshold = Some(0.0);
            let found = c.search(&req).unwrap();
            prop_assert!(found.iter().any(|r| r.id == PointId::Num(*id)), "point {} not found by its own vector", id);
        }
    }
}
