//! Catalog CSV ingest in-process. Criterion measures the catalog stage
//! (read, detect the encoding and separator, parse, validate, store the
//! distributor's snapshot) in rows per second. With `HELIO_BENCH_FULL=1`
//! and the default model installed, one full pass first prints when the
//! rows became searchable by BM25 and by their dense vectors.
//!
//! `HELIO_BENCH_ROWS=100000 cargo bench --bench ingest` for the 100k-row
//! figure (default 10,000 rows).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use helio::embed::{EmbedCache, Models, ModelsConfig};
use helio::engine::{Database, EngineOptions};
use helio::pipeline::Pipeline;

/// A Brazilian-Excel-style file: `;`, decimal commas, "R$" prices,
/// Portuguese headers; panels and inverters alternating.
fn write_csv(path: &Path, rows: usize) {
    let mut out = String::from(
        "Código;Descrição;Categoria;Fabricante;Modelo;Preço (R$);Estoque;Potência (W);Eficiência (%);Voc (V);Vmp (V);Isc (A);Imp (A);Garantia (anos)\n",
    );
    for i in 0..rows {
        let w = 400 + (i % 30) * 5;
        let price = 600.0 + (i % 97) as f64 * 3.5;
        let line = if i % 2 == 0 {
            format!(
                "BN-{i:06};Módulo Fotovoltaico Mono PERC {w}W série {i};Módulo Fotovoltaico;Fabricante {f};MOD-{i};R$ {p};{s};{w};21,{d};49,9;41,9;13,9;13,1;12\n",
                f = i % 17,
                p = format!("{price:.2}").replace('.', ","),
                s = i % 500,
                d = i % 9,
            )
        } else {
            format!(
                "BN-{i:06};Inversor String {w}0W trifásico {i};Inversor;Fabricante {f};INV-{i};R$ {p};{s};{w}0;98,{d};;;;;10\n",
                f = i % 11,
                p = format!("{:.2}", price * 6.0).replace('.', ","),
                s = i % 80,
                d = i % 9,
            )
        };
        out.push_str(&line);
    }
    std::fs::write(path, out).unwrap();
}

fn model_dir() -> PathBuf {
    std::env::var_os("HELIO_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        })
}

/// A fresh storage, catalog and inbox with `models`.
fn open(models: &Arc<Models>) -> (tempfile::TempDir, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let db =
        Arc::new(Database::open(&dir.path().join("storage"), EngineOptions::default()).unwrap());
    let pipeline = Pipeline::open(
        &dir.path().join("catalog.sqlite"),
        &dir.path().join("data"),
        db,
        models.clone(),
    )
    .unwrap();
    (dir, pipeline)
}

fn secs(a: Instant, b: Option<SystemTime>, start: SystemTime) -> f64 {
    b.and_then(|b| b.duration_since(start).ok())
        .map_or(a.elapsed().as_secs_f64(), |d| d.as_secs_f64())
}

/// One full pass with the default model, when it is installed: the catalog
/// stage, BM25-searchable, dense-searchable, each as rows per second.
fn full_pass(csv: &Path, rows: usize) {
    let config = ModelsConfig {
        model_dir: model_dir(),
        ..ModelsConfig::default()
    };
    let models = Arc::new(Models::load(&config, EmbedCache::in_memory(0)));
    if models.default_dense().is_none() {
        eprintln!(
            "ingest bench: no local model at {}: skipping the full pass",
            config.model_dir.display()
        );
        return;
    }
    let (_dir, pipeline) = open(&models);
    let (t, start) = (Instant::now(), SystemTime::now());
    let report = pipeline.ingest(csv, false).unwrap();
    assert_eq!(report.valid, rows, "every generated row must be valid");
    let catalog = t.elapsed().as_secs_f64();
    let synced = pipeline.sync().unwrap();
    let (bm25, dense) = pipeline.indexer().last_sync();
    let (bm25, dense) = (secs(t, bm25, start), secs(t, dense, start));
    eprintln!(
        "ingest bench: {rows} rows, full pass: catalog {catalog:.2} s ({:.0} rows/s); BM25-searchable at {bm25:.2} s ({:.0} rows/s); dense at {dense:.1} s ({:.0} rows/s, {} embedded)",
        rows as f64 / catalog,
        rows as f64 / bm25,
        rows as f64 / dense,
        synced.embedded
    );
    let t = Instant::now();
    pipeline.ingest(csv, false).unwrap();
    let again = pipeline.sync().unwrap();
    eprintln!(
        "ingest bench: the same file again: {:.2} s, {} products re-embedded",
        t.elapsed().as_secs_f64(),
        again.embedded
    );
}

fn bench_ingest(c: &mut Criterion) {
    let rows: usize = std::env::var("HELIO_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("bench-nordeste.csv");
    write_csv(&csv, rows);
    if std::env::var_os("HELIO_BENCH_FULL").is_some() {
        full_pass(&csv, rows);
    }

    // The catalog stage alone (read, detect, parse, validate, store the
    // snapshot): no model needed, and what every drop pays first.
    let no_model = ModelsConfig {
        model_dir: files.path().join("no-model"),
        ..ModelsConfig::default()
    };
    let models = Arc::new(Models::load(&no_model, EmbedCache::in_memory(0)));
    let mut group = c.benchmark_group("csv_ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function(format!("catalog_stage_{rows}_rows"), |b| {
        b.iter_batched(
            || open(&models),
            |(dir, pipeline)| {
                let report = pipeline.ingest(&csv, false).unwrap();
                assert_eq!(report.valid, rows);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
