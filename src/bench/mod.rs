//! `helio bench`: latency, recall and throughput of any Qdrant-compatible
//! server, measured through its public REST API.
//!
//! The workload: a deterministic synthetic dataset (the recipe of
//! [`crate::dataset`]), uploaded in batches with `wait=true`, then queries
//! at each `ef` and client concurrency. Recall is measured against exact
//! neighbours computed locally.

mod client;
mod report;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::dataset;
use crate::engine::types::Distance;
use client::Client;
pub use report::Report;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Server to measure.
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    pub url: String,
    /// Collection to (re)create for the run.
    #[arg(long, default_value = "helio-bench")]
    pub collection: String,
    /// `synthetic:NxDIM` (clustered, normalised, seeded).
    #[arg(long, default_value = "synthetic:100000x384")]
    pub dataset: String,
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// Comma-separated `hnsw_ef` values.
    #[arg(long, default_value = "32,64", value_delimiter = ',')]
    pub ef: Vec<usize>,
    /// Comma-separated client worker counts.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Points per upsert request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    #[arg(long, default_value_t = 100)]
    pub ef_construct: usize,
    /// Also run every query with `exact=true` (its recall must be 1.0).
    #[arg(long)]
    pub exact: bool,
    /// Server process id, to report its resident memory.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Reuse the collection if it already holds the dataset.
    #[arg(long)]
    pub reuse: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// Parses `synthetic:100000x384`.
pub fn parse_dataset(spec: &str) -> Result<(usize, usize)> {
    let rest = spec
        .strip_prefix("synthetic:")
        .with_context(|| format!("unknown dataset {spec:?}: expected synthetic:NxDIM"))?;
    let (n, d) = rest
        .split_once('x')
        .with_context(|| format!("dataset {spec:?}: expected synthetic:NxDIM"))?;
    let n: usize = n
        .parse()
        .with_context(|| format!("dataset size {n:?} is not a number"))?;
    let d: usize = d
        .parse()
        .with_context(|| format!("dataset dimension {d:?} is not a number"))?;
    if n == 0 || d == 0 {
        bail!("dataset {spec:?}: size and dimension must be positive");
    }
    Ok((n, d))
}

pub fn run(args: &BenchArgs) -> Result<Report> {
    let (n, dim) = parse_dataset(&args.dataset)?;
    if args.top_k == 0 || args.queries == 0 || args.batch == 0 {
        bail!("--top-k, --queries and --batch must be positive");
    }
    if args.ef.is_empty() || args.concurrency.contains(&0) {
        bail!("--ef needs at least one value and --concurrency values must be positive");
    }
    let client = Client::new(
        &args.url,
        &args.collection,
        Duration::from_secs(args.timeout),
    )?;
    let server = client.version()?;
    eprintln!("server: {} ({})", args.url, server);

    eprintln!(
        "generating {n} x {dim} vectors and {} queries",
        args.queries
    );
    let data = dataset::clustered(n, dim, 2000, 0.06, 1);
    let queries = dataset::clustered(args.queries, dim, 2000, 0.06, 2);
    let mut report = Report::new(args, &server, n, dim);

    let existing = if args.reuse {
        client.points_count()?
    } else {
        None
    };
    if existing == Some(n) {
        eprintln!("reusing collection {} ({n} points)", args.collection);
    } else {
        client.recreate(dim, args.m, args.ef_construct)?;
        let started = Instant::now();
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "upload {bar:40} {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        for (b, chunk) in data.chunks(args.batch).enumerate() {
            let first = b * args.batch;
            let ids: Vec<usize> = (first..first + chunk.len()).collect();
            client.upsert(&ids, chunk)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let upload = started.elapsed();
        let (_, indexed) = client.wait_green(Duration::from_secs(3600))?;
        report.upload(upload, started.elapsed(), indexed);
    }
    report.memory(args.pid);

    eprintln!("computing exact neighbours locally");
    let truth = dataset::brute_force_knn(&data, &queries, args.top_k, Distance::Cosine);
    if args.exact {
        let run = client.query_all(&queries, args.top_k, None, true, 1)?;
        report.search("exact", 1, &run, &truth, args.top_k);
    }
    // Warm-up pass so the first measured ef does not pay for cold caches.
    client.query_all(
        &queries[..queries.len().min(100)],
        args.top_k,
        Some(args.ef[0]),
        false,
        1,
    )?;
    for &ef in &args.ef {
        for &workers in &args.concurrency {
            let run = client.query_all(&queries, args.top_k, Some(ef), false, workers)?;
            report.search(&format!("ef={ef}"), workers, &run, &truth, args.top_k);
        }
    }
    report.memory(args.pid);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}
