//! Filtered search keeps its recall at every selectivity: graph search
//! (with the filter inside the traversal, or an exact scan the planner
//! picks for selective filters) against brute force over matching points.

use helio::engine::collection::{PointInsert, UpdateOp};
use helio::engine::config::{CollectionConfig, HnswConfig, OptimizersConfig, VectorParams};
use helio::engine::dataset::clustered;
use helio::engine::filter::Filter;
use helio::engine::index::payload::PayloadFieldSchema;
use helio::engine::query::search::{QueryVector, SearchRequest};
use helio::engine::types::{Distance, PointId};
use helio::engine::{Database, EngineOptions};
use serde_json::json;

const N: usize = 10_000;
const DIM: usize = 32;
const K: usize = 10;
const QUERIES: usize = 40;

fn config() -> CollectionConfig {
    CollectionConfig {
        hnsw_config: HnswConfig {
            // 10,000 KB of 32-d vectors = 80,000 points: lower it so that
            // the planner's choice between scan and graph is exercised here.
            full_scan_threshold: 100,
            ..HnswConfig::default()
        },
        optimizer_config: OptimizersConfig {
            indexing_threshold: Some(100),
            ..OptimizersConfig::default()
        },
        ..CollectionConfig::new(VectorParams::new(DIM, Distance::Cosine))
    }
}

/// Bucket `b` of 1000 holds 0.1% of points; `b < 10` is 1%, etc.
fn filter(field: &str, below: i64) -> Filter {
    serde_json::from_value(json!({"must": [{"key": field, "range": {"lt": below}}]})).unwrap()
}

#[test]
fn filtered_recall_at_every_selectivity() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path(),
        EngineOptions {
            fsync: false,
            ..Default::default()
        },
    )
    .unwrap();
    db.create("f", config()).unwrap();
    let c = db.get("f").unwrap();
    let data = clustered(N, DIM, 200, 0.06, 1);
    let queries = clustered(QUERIES, DIM, 200, 0.06, 2);
    for (chunk_no, chunk) in data.chunks(2000).enumerate() {
        let points = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = chunk_no * 2000 + i;
                // Two copies of the bucket: one indexed, one not.
                let bucket = (id * 7919) % 1000;
                PointInsert::dense(
                    PointId::Num(id as u64),
                    v.clone(),
                    json!({"b": bucket, "u": bucket})
                        .as_object()
                        .unwrap()
                        .clone(),
                )
            })
            .collect();
        c.update(vec![UpdateOp::Upsert(points)]).unwrap();
    }
    c.create_payload_index(
        "b",
        serde_json::from_value::<PayloadFieldSchema>(json!("integer")).unwrap(),
    )
    .unwrap();
    assert!(c.wait_optimized(std::time::Duration::from_secs(300)));
    assert_eq!(c.info().indexed_vectors_count, N as u64);

    for field in ["b", "u"] {
        for (selectivity, below) in [(0.001, 1), (0.01, 10), (0.1, 100), (0.5, 500)] {
            let mut hits = 0;
            let mut total = 0;
            for q in &queries {
                let req = |exact| {
                    let mut req = SearchRequest::new("", QueryVector::Dense(q.clone()), K);
                    req.filter = Some(filter(field, below));
                    req.ef = Some(64);
                    req.exact = exact;
                    req
                };
                let truth: Vec<PointId> = c
                    .read(&req(true), None)
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                let found = c.read(&req(false), None).unwrap();
                for r in &found {
                    let b = r.id;
                    let PointId::Num(n) = b else { unreachable!() };
                    assert!(
                        ((n as usize * 7919) % 1000) < below as usize,
                        "result violates the filter"
                    );
                }
                hits += found.iter().filter(|r| truth.contains(&r.id)).count();
                total += truth.len();
            }
            let recall = hits as f64 / total as f64;
            eprintln!("field {field} selectivity {selectivity}: recall@{K} {recall:.3}");
            assert!(
                recall >= 0.95,
                "field {field} selectivity {selectivity}: recall {recall}"
            );
        }
    }
}
