//! Embedding speed: the local model (one short query; a batch of 32
//! product texts) and BM25 (one text), on the fixture product texts.
//!
//! ```text
//! HELIO_MODEL_DIR=models/all-MiniLM-L6-v2 cargo bench --bench embed
//! ```
//! Threads: `HELIO_EMBED_THREADS` (default 2, the issue's setting). Without
//! a model only the BM25 bench runs (scripts/fetch-model.sh installs it).
//! Texts per second for the batch bench = 32 / the reported time.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use helio::embed::bm25::{Bm25, Bm25Options};
use helio::embed::local::LocalEmbedder;

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
    let model = match LocalEmbedder::load(dir.as_ref(), "bench", threads) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("local model benches skipped: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("minilm");
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

criterion_group!(benches, bench);
criterion_main!(benches);
