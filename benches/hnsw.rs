//! Frozen-graph search on the default synthetic recipe: 100,000 clustered,
//! normalised 384-d vectors (Cosine), 1,000 queries, M=16, ef_construct=100.
//!
//! `HELIO_BENCH_N=20000 cargo bench --bench hnsw` shrinks the data set.
//! Build time, graph bytes and recall@10 per ef go to stderr.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use helio::engine::dataset;
use helio::engine::index::distance;
use helio::engine::index::hnsw::{self, BuilderKind, FlatVectors, FrozenGraph, GraphParams};
use helio::engine::types::{Distance, Offset};

const DIM: usize = 384;
const QUERIES: usize = 1_000;
const K: usize = 10;
const EFS: [usize; 4] = [16, 32, 64, 128];

struct Fixture {
    source: FlatVectors,
    queries: Vec<Vec<f32>>,
    truth: Vec<Vec<usize>>,
    graph: FrozenGraph,
}

/// This process's CPU seconds (user + system) from /proc, where there is
/// one: on a shared machine it says more than wall time.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn fixture() -> Fixture {
    let n: usize = std::env::var("HELIO_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let data = dataset::clustered(n, DIM, 2_000, 0.06, 1);
    let queries = dataset::clustered(QUERIES, DIM, 2_000, 0.06, 2);
    let t = Instant::now();
    let truth = dataset::brute_force_knn(&data, &queries, K, Distance::Cosine);
    eprintln!(
        "hnsw bench: n={n} dim={DIM} kernels={} brute force {:.1}s",
        distance::kernels().name,
        t.elapsed().as_secs_f64()
    );
    let source = FlatVectors::from_rows(DIM, &data);
    drop(data);
    let offsets: Vec<Offset> = (0..n as Offset).collect();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let t = Instant::now();
    let cpu = cpu_seconds();
    // HELIO_BENCH_BUILDER=hnsw_rs (or hnsw-rs) builds with the hnsw_rs
    // wrapper instead of the native builder.
    let kind = match std::env::var("HELIO_BENCH_BUILDER") {
        Ok(name) => <BuilderKind as clap::ValueEnum>::from_str(&name, true)
            .unwrap_or_else(|e| panic!("HELIO_BENCH_BUILDER: {e}")),
        Err(_) => BuilderKind::default(),
    };
    eprintln!("hnsw bench: building with {kind:?}");
    let graph = hnsw::build_with(
        kind,
        GraphParams::default(),
        Distance::Cosine,
        &source,
        &offsets,
    );
    eprintln!(
        "hnsw bench: build {:.1}s wall, {:.1}s cpu on {threads} threads (m=16, ef_construct=100); frozen graph {} bytes, max level {}",
        t.elapsed().as_secs_f64(),
        cpu.zip(cpu_seconds()).map_or(f64::NAN, |(a, b)| b - a),
        graph.memory_bytes(),
        graph.max_level()
    );
    Fixture {
        source,
        queries,
        truth,
        graph,
    }
}

fn bench_search(c: &mut Criterion) {
    let f = fixture();
    for ef in EFS {
        let mut latencies = Vec::with_capacity(QUERIES);
        let found: Vec<Vec<usize>> = f
            .queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let hits = f.graph.search(&f.source, q, K, ef, None);
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
                hits.into_iter().map(|(o, _)| o as usize).collect()
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        eprintln!(
            "hnsw bench: ef={ef:<4} recall@10 {:.4}  p50 {:.0} us  p99 {:.0} us (one pass, single thread)",
            dataset::recall_at_k(&found, &f.truth, K),
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100],
        );
    }

    let mut group = c.benchmark_group("frozen_search");
    group.sample_size(20);
    for ef in EFS {
        group.bench_with_input(BenchmarkId::new("ef", ef), &ef, |b, &ef| {
            let mut i = 0;
            b.iter(|| {
                let q = &f.queries[i % f.queries.len()];
                i += 1;
                f.graph.search(&f.source, q, K, ef, None)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
