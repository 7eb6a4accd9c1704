//! The engine in-process, through `Collection` as the HTTP layer uses it:
//! search at several ef, filtered search at several selectivities (indexed
//! integer field), batch inserts with and without fsync, and sparse search
//! over 100,000 synthetic sparse vectors.
//!
//! `HELIO_BENCH_N=5000 cargo bench --bench engine` shrinks the dense set
//! (default 20,000 x 384, big enough to be indexed by a graph).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use helio::engine::collection::{PointInsert, UpdateOp};
use helio::engine::config::{CollectionConfig, VectorParams};
use helio::engine::dataset;
use helio::engine::filter::Filter;
use helio::engine::index::payload::PayloadFieldSchema;
use helio::engine::index::sparse::SparseIndex;
use helio::engine::query::search::{QueryVector, SearchRequest};
use helio::engine::types::{Distance, PointId};
use helio::engine::{Collection, Database, EngineOptions};
use serde_json::json;

const DIM: usize = 384;
const K: usize = 10;
const BUCKETS: usize = 1000;

fn points(first: usize, vectors: &[Vec<f32>]) -> Vec<PointInsert> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id = first + i;
            let payload = json!({"bucket": (id * 7919) % BUCKETS});
            PointInsert::dense(
                PointId::Num(id as u64),
                v.clone(),
                payload.as_object().unwrap().clone(),
            )
        })
        .collect()
}

fn below(share: f64) -> Filter {
    let cut = (share * BUCKETS as f64) as usize;
    serde_json::from_value(json!({"must": [{"key": "bucket", "range": {"lt": cut}}]})).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    collection: Arc<Collection>,
    queries: Vec<Vec<f32>>,
}

fn fixture() -> Fixture {
    let n: usize = std::env::var("HELIO_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions {
        fsync: false,
        ..Default::default()
    };
    let db = Database::open(dir.path(), options).unwrap();
    db.create(
        "bench",
        CollectionConfig::new(VectorParams::new(DIM, Distance::Cosine)),
    )
    .unwrap();
    let c = db.get("bench").unwrap();
    c.create_payload_index(
        "bucket",
        serde_json::from_value::<PayloadFieldSchema>(json!("integer")).unwrap(),
    )
    .unwrap();
    let data = dataset::clustered(n, DIM, 2_000, 0.06, 1);
    for (b, chunk) in data.chunks(1000).enumerate() {
        c.update(vec![UpdateOp::Upsert(points(b * 1000, chunk))])
            .unwrap();
    }
    let indexed = c.wait_optimized(Duration::from_secs(1800));
    eprintln!(
        "engine bench: {n} x {DIM} points, optimizer done: {indexed}, {} vectors indexed",
        c.info().indexed_vectors_count
    );
    Fixture {
        _dir: dir,
        collection: c,
        queries: dataset::clustered(200, DIM, 2_000, 0.06, 2),
    }
}

fn request(q: &[f32], ef: usize, filter: Option<Filter>) -> SearchRequest {
    let mut req = SearchRequest::new("", QueryVector::Dense(q.to_vec()), K);
    req.ef = Some(ef);
    req.filter = filter;
    req
}

fn bench_search(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("collection_search");
    group.sample_size(30);
    for ef in [32, 64, 128] {
        group.bench_with_input(BenchmarkId::new("ef", ef), &ef, |b, &ef| {
            let mut i = 0;
            b.iter(|| {
                i += 1;
                let q = &f.queries[i % f.queries.len()];
                f.collection.read(&request(q, ef, None), None).unwrap()
            })
        });
    }
    for share in [0.001, 0.01, 0.1, 0.5] {
        group.bench_with_input(
            BenchmarkId::new("filtered_ef64", share),
            &share,
            |b, &share| {
                let mut i = 0;
                b.iter(|| {
                    i += 1;
                    let q = &f.queries[i % f.queries.len()];
                    f.collection
                        .read(&request(q, 64, Some(below(share))), None)
                        .unwrap()
                })
            },
        );
    }
    group.finish();
}

fn bench_insert(c: &mut Criterion) {
    let batch = dataset::clustered(100, DIM, 2_000, 0.06, 3);
    let mut group = c.benchmark_group("insert_100_points");
    group.sample_size(20);
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            dir.path(),
            EngineOptions {
                fsync,
                ..Default::default()
            },
        )
        .unwrap();
        db.create(
            "insert",
            CollectionConfig::new(VectorParams::new(DIM, Distance::Cosine)),
        )
        .unwrap();
        let col = db.get("insert").unwrap();
        let mut next = 0;
        let label = if fsync { "fsync" } else { "no_fsync" };
        group.bench_function(label, |b| {
            b.iter_batched(
                || {
                    next += batch.len();
                    points(next, &batch)
                },
                |pts| col.update(vec![UpdateOp::Upsert(pts)]).unwrap(),
                BatchSize::SmallInput,
            )
        });
        col.stop();
    }
    group.finish();
}

fn bench_sparse(c: &mut Criterion) {
    let n = 100_000;
    let docs = dataset::sparse(n, 60, 1);
    let queries = dataset::sparse(200, 6, 2);
    let mut index = SparseIndex::default();
    for (i, d) in docs.into_iter().enumerate() {
        index.insert(i as u32, d);
    }
    eprintln!(
        "engine bench: sparse index of {n} vectors (~60 terms each), {} MiB",
        index.memory_bytes() / (1 << 20)
    );
    let mut group = c.benchmark_group("sparse_search_100k");
    group.sample_size(30);
    // What a search runs: pruned top-k (MaxScore over the lists' bounds).
    group.bench_function("top10", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            index.top_k(&queries[i % queries.len()], K, |_| true)
        })
    });
    // Every match scored, then the best 10 selected: the unpruned path.
    group.bench_function("top10_all_matches", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            let mut hits = index.search(&queries[i % queries.len()], |_| true);
            let k = K.min(hits.len());
            if k > 0 {
                hits.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                hits.truncate(k);
            }
            hits
        })
    });
    group.finish();
}

criterion_group!(benches, bench_search, bench_insert, bench_sparse);
criterion_main!(benches);
