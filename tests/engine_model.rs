//! Random sequences of upsert / delete / set-payload / delete-by-filter /
//! restart against the engine, compared with a plain in-memory model.

use std::collections::BTreeMap;

use helio::engine::collection::payload::PayloadSelector;
use helio::engine::collection::{PointInsert, Selector, UpdateOp};
use helio::engine::config::{CollectionConfig, OptimizersConfig, VectorParams};
use helio::engine::filter::Filter;
use helio::engine::query::scroll::ScrollRequest;
use helio::engine::query::search::{QueryVector, SearchRequest};
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
        .read(
            &ScrollRequest {
                filter: None,
                limit: 1000,
                offset: None,
                order_by: None,
                with_payload: PayloadSelector::All,
                with_vector: VectorSelector::All,
            },
            None,
        )
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

/// Runs `ops` on a fresh database and on the model, comparing after each.
fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Database::open(
        dir.path(),
        EngineOptions {
            fsync: false,
            ..Default::default()
        },
    )
    .unwrap();
    db.create("m", config()).unwrap();
    let mut model = Model::new();
    for op in ops {
        if let Op::Restart = op {
            drop(db);
            db = Database::open(
                dir.path(),
                EngineOptions {
                    fsync: false,
                    ..Default::default()
                },
            )
            .unwrap();
        } else if let Op::Optimize = op {
            prop_assert!(db
                .get("m")
                .unwrap()
                .wait_optimized(std::time::Duration::from_secs(20)));
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
    prop_assert!(
        model.len() < 4 || info.indexed_vectors_count > 0,
        "nothing was indexed: {:?}",
        info.indexed_vectors_count
    );
    for (id, (v, _)) in &model {
        let mut req = SearchRequest::new("", QueryVector::Dense(v.clone()), 40);
        req.score_threshold = Some(0.0);
        let found = c.read(&req, None).unwrap();
        prop_assert!(
            found.iter().any(|r| r.id == PointId::Num(*id)),
            "point {} not found by its own vector",
            id
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check(&ops)?;
    }
}

/// A sequence that once lost a point from search (a CI failure, shrunk
/// by proptest): the parallel build can leave a node of a small graph
/// without an incoming link, which a walk never reaches. Replayed a few
/// times since the build is not deterministic.
#[test]
fn regression_point_found_after_optimize_and_restart() {
    let ops = vec![
        Op::Upsert(vec![
            (12, [-87, 84, -43], 3),
            (22, [48, -14, 47], 4),
            (14, [-64, 103, -111], 0),
            (33, [-28, -98, -114], 3),
            (27, [54, -40, 125], 7),
            (20, [-84, 49, 80], 7),
            (2, [-2, 127, 24], 7),
            (3, [-81, 37, -119], 0),
        ]),
        Op::DeleteWhereTagBelow(1),
        Op::SetPayload(vec![17, 17], 0),
        Op::Upsert(vec![
            (4, [120, 42, 37], 7),
            (37, [-71, 16, 106], 4),
            (30, [6, 4, 116], 8),
            (17, [54, -2, -74], 6),
            (13, [19, -56, -120], 5),
            (5, [-90, 90, 85], 0),
            (9, [-67, -27, 49], 6),
            (28, [-97, -7, -93], 1),
            (32, [45, 39, -6], 5),
            (15, [-13, -11, 119], 6),
            (17, [-87, -41, -65], 5),
            (23, [-101, -25, 54], 8),
            (36, [-112, -56, -4], 9),
            (32, [-77, 61, 27], 7),
            (19, [-6, -121, 31], 9),
            (6, [-121, -108, -43], 4),
        ]),
        Op::Upsert(vec![
            (7, [83, -59, 70], 0),
            (11, [-119, -10, 71], 7),
            (18, [-45, 29, 80], 8),
            (26, [-32, 25, 87], 2),
            (37, [-2, -77, -49], 7),
            (22, [-91, -62, -72], 6),
            (8, [-71, -88, 104], 8),
            (7, [-63, 2, 59], 5),
            (0, [118, -83, 59], 4),
            (38, [-80, 71, -14], 1),
            (14, [-79, -15, -95], 0),
            (10, [22, -62, -103], 0),
            (32, [-110, -9, 66], 0),
            (25, [18, 13, 21], 9),
            (11, [47, 54, -55], 9),
            (12, [101, 101, -29], 4),
            (24, [47, -12, -96], 9),
            (14, [-57, -22, -126], 4),
        ]),
        Op::DeleteWhereTagBelow(1),
        Op::Upsert(vec![
            (25, [42, 8, 9], 1),
            (38, [76, -65, -4], 1),
            (5, [24, -72, 35], 2),
            (34, [-16, 105, -28], 4),
            (25, [-12, 100, 0], 6),
            (25, [6, 30, 107], 5),
            (24, [77, 40, 40], 6),
            (26, [-111, -61, 18], 1),
            (0, [83, 121, 55], 0),
            (26, [-22, -102, 116], 4),
            (35, [41, 103, 34], 2),
            (32, [-117, 74, -57], 6),
            (38, [57, -97, -18], 7),
            (36, [-2, -32, 9], 8),
            (24, [-16, -56, 47], 8),
            (4, [-25, -37, -39], 9),
        ]),
        Op::Upsert(vec![
            (7, [-73, 67, 39], 7),
            (33, [-18, -21, 73], 4),
            (32, [27, -83, -73], 9),
            (2, [-78, -47, -8], 2),
            (7, [64, -63, 105], 5),
            (11, [103, 112, 46], 1),
            (28, [-12, -65, 25], 3),
            (3, [-52, 75, 84], 0),
            (35, [-20, -4, 46], 9),
            (18, [-46, 44, 0], 4),
            (22, [79, -88, -102], 7),
            (1, [-64, 53, -61], 4),
            (4, [-44, -119, 83], 0),
            (13, [-41, -83, -122], 7),
            (7, [26, 57, 62], 6),
        ]),
        Op::Upsert(vec![
            (26, [-75, -10, -127], 2),
            (6, [35, 103, -127], 2),
            (31, [115, -14, 117], 7),
            (22, [-67, -37, -67], 5),
            (34, [-47, -94, -104], 3),
            (5, [86, 51, 0], 7),
            (9, [65, -100, 40], 7),
            (4, [105, -70, -12], 2),
            (20, [41, 89, -105], 1),
            (19, [31, -75, -127], 6),
            (35, [98, 70, -106], 3),
            (2, [63, -103, -18], 0),
            (30, [40, -20, -9], 8),
        ]),
        Op::SetPayload(vec![23, 24], 1),
        Op::Delete(vec![15, 21, 8]),
        Op::Optimize,
        Op::DeleteWhereTagBelow(0),
        Op::Optimize,
        Op::Upsert(vec![
            (36, [87, -73, -10], 4),
            (29, [63, -50, -124], 6),
            (3, [-117, 83, -53], 7),
            (24, [120, -64, -70], 7),
            (15, [-43, -101, 11], 6),
            (33, [-50, 43, 90], 8),
        ]),
        Op::SetPayload(vec![1, 9, 5], 8),
        Op::Restart,
        Op::Upsert(vec![(13, [79, 87, -62], 8), (15, [-17, -8, -65], 1)]),
        Op::DeleteWhereTagBelow(1),
    ];
    for _ in 0..5 {
        check(&ops).unwrap();
    }
}
