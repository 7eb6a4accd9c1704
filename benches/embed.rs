//! Embedding speed: the local model (one short query; a batch of 32
//! product texts) and BM25 (one text), on the fixture product texts.
//!
//! ```text
//! HELIO_MODEL_DIR=models/all-MiniLM-L6-v2 cargo bench --bench embed
//! HELIO_BENCH_KERNELS=both HELIO_MODEL_DIR=models/all-MiniLM-L6-v2 cargo bench --bench embed -- minilm
//! ```
//! Threads: `HELIO_EMBED_THREADS` (default 2, the issue's setting). Without
//! a model only the BM25 bench runs (scripts/fetch-model.sh installs it).
//! Texts per second for the batch bench = 32 / the reported time.
//!
//! Kernels: `HELIO_BENCH_KERNELS` picks the local model's matrix kernels:
//! unset, the ones the CPU gets (group `minilm`; `HELIO_PORTABLE_KERNELS=1`
//! makes that the portable ones); `avx2` or `portable`, that set (group
//! `minilm-avx2` or `minilm-portable`); `both`, one group each, to compare
//! them in one run. Each group prints the kernels it ran.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use helio::embed::bm25::{Bm25, Bm25Options};
use helio::embed::local::{Kernels, LocalEmbedder};

fn texts() -> Vec<String> {
    let dir = std::env::var("HELIO_FIXTURES_DIR").unwrap_or_else(|_| "../shared/fixtures".into());
    let path = std::path::Path::new(&dir).join("product-texts-2000.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        // A stand-in when the shared fixtures are not beside the clone.
        Err(_) => (0..64)
            .map(|i| {
                format!(
                    "Painel solar {} W monocristalino half-cell, eficiência 21,{i}%",
                    400 + i * 5
                )
            })
            .collect(),
    }
}

/// The kernel sets to bench, each with its group name, from `HELIO_BENCH_KERNELS`.
fn kernel_runs() -> Vec<(String, Kernels)> {
    let chosen = std::env::var("HELIO_BENCH_KERNELS").unwrap_or_default();
    let named = |k: Kernels| (format!("minilm-{k}"), k);
    match chosen.as_str() {
        "" => vec![("minilm".to_string(), Kernels::detect())],
        "avx2" => vec![named(Kernels::Avx2)],
        "portable" => vec![named(Kernels::Portable)],
        "both" => vec![named(Kernels::Avx2), named(Kernels::Portable)],
        other => panic!("HELIO_BENCH_KERNELS={other:?}: use avx2, portable or both"),
    }
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let bm25 = Bm25::new(&Bm25Options::default(), "portuguese").expect("default BM25");
    let mut group = c.benchmark_group("bm25");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("one_text", |b| {
        b.iter(|| {
            i = (i + 1) % refs.len();
            bm25.embed(refs[i])
        })
    });
    group.finish();

    let dir = std::env::var("HELIO_MODEL_DIR").unwrap_or_else(|_| "models/all-MiniLM-L6-v2".into());
    let threads = std::env::var("HELIO_EMBED_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    for (group_name, kernels) in kernel_runs() {
        let model = match LocalEmbedder::load_with(dir.as_ref(), "bench", threads, kernels) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{group_name} benches skipped: {e}");
                continue;
            }
        };
        println!(
            "{group_name}: {} kernels, {} threads",
            model.kernels(),
            model.threads()
        );
        let mut group = c.benchmark_group(group_name);
        group.sample_size(20);
        group.bench_function("short_query", |b| {
            b.iter(|| {
                model
                    .embed(&["painel solar 550w monocristalino"])
                    .expect("embed")
            })
        });
        group.throughput(Throughput::Elements(32));
        let mut start = 0;
        group.bench_function("batch_32", |b| {
            b.iter(|| {
                start = (start + 32) % (refs.len().saturating_sub(32).max(1));
                model
                    .embed(&refs[start..(start + 32).min(refs.len())])
                    .expect("embed")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
