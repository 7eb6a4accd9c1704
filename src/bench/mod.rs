//! `helio bench`: latency, recall and throughput of any Qdrant-compatible
//! server, measured through its public REST API, optionally against a
//! second server in the same run (`--vs`).
//!
//! - [`search`]: the default workload. Uploads a dataset, waits for the
//!   index, runs the queries at each `ef` and client concurrency (dense,
//!   filtered, sparse, hybrid) and scores them against exact answers.
//! - [`durability`]: kills a server at random instants while it
//!   acknowledges writes, and checks that none of them is lost.
//! - [`embed`]: embedding latency and throughput of a server's models.

pub mod assistant;
mod client;
mod data;
pub mod durability;
pub mod embed;
mod report;
pub mod search;
mod truth;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

pub use report::Report;

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub mode: Option<BenchMode>,
    #[command(flatten)]
    pub search: SearchArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchMode {
    /// SIGKILL a server at random instants while it acknowledges writes;
    /// check that every acknowledged change survived.
    Durability(durability::DurabilityArgs),
    /// Embedding latency and throughput of a running server's models.
    Embed(embed::EmbedBenchArgs),
    /// Latency of the assistant's routes (`/store/helio/search`, `/ask`).
    Assistant(assistant::AssistantBenchArgs),
}

/// The search workload's options.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Server to measure.
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    pub url: String,
    /// A second server: the same workload runs against both, interleaved,
    /// and every figure is printed for both with the ratio.
    #[arg(long)]
    pub vs: Option<String>,
    /// Collection to (re)create for the run, on each server.
    #[arg(long, default_value = "helio-bench")]
    pub collection: String,
    /// `synthetic:NxDIM` (clustered, normalised, seeded) or a `.fvecs`,
    /// `.bvecs` or `.npy` file.
    #[arg(long, default_value = "synthetic:100000x384")]
    pub dataset: String,
    /// Query vectors for a dataset file (same formats). Without it the
    /// last `--queries` vectors of the dataset are held out as queries.
    #[arg(long)]
    pub query_file: Option<PathBuf>,
    /// `.ivecs` exact neighbours of `--query-file` in the dataset (skips
    /// computing them locally).
    #[arg(long)]
    pub ground_truth: Option<PathBuf>,
    /// Use at most this many dataset vectors (or text lines).
    #[arg(long)]
    pub max_points: Option<usize>,
    /// Texts to upload as `Document`s, one per line, embedded by the
    /// server with `--model` (instead of `--dataset`). Recall is then
    /// measured against the server's own `exact=true` answers.
    #[arg(long, conflicts_with = "dataset")]
    pub texts: Option<PathBuf>,
    /// Embedding model for `--texts`.
    #[arg(long, default_value = "sentence-transformers/all-minilm-l6-v2")]
    pub model: String,
    /// Vector size of `--model` (asked of the server's /v1/embeddings
    /// when not given).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Distance for the collection and the exact neighbours.
    #[arg(long, default_value = "cosine", value_parser = ["cosine", "dot", "euclid", "manhattan"])]
    pub distance: String,
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
    /// Comma-separated shares of points a filter keeps (0 < s <= 1): adds
    /// filtered queries at each ef, on an integer payload field the bench
    /// writes itself.
    #[arg(long, value_delimiter = ',')]
    pub filter_selectivity: Vec<f64>,
    /// Index the filter's payload field (before the upload).
    #[arg(long)]
    pub index_payload: bool,
    /// Add a sparse-vector workload (synthetic sparse vectors, or BM25
    /// `Document`s with `--texts`).
    #[arg(long)]
    pub sparse: bool,
    /// Add hybrid queries: dense and sparse prefetches fused with RRF.
    #[arg(long)]
    pub hybrid: bool,
    /// Candidates each hybrid prefetch returns.
    #[arg(long, default_value_t = 50)]
    pub prefetch_limit: usize,
    /// Points per upsert request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// The collection's `optimizers_config.indexing_threshold` (KB of
    /// vectors left unindexed); small values make small runs build graphs.
    #[arg(long)]
    pub indexing_threshold: Option<usize>,
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    #[arg(long, default_value_t = 100)]
    pub ef_construct: usize,
    /// Also run the queries with `exact=true` (Helio's recall must be 1.0).
    #[arg(long)]
    pub exact: bool,
    /// Process id of the `--url` server, to report its resident memory.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Process id of the `--vs` server.
    #[arg(long)]
    pub vs_pid: Option<u32>,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Reuse the collection if it already holds the dataset.
    #[arg(long)]
    pub reuse: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.mode {
        None => search::run(&args.search).map(|_| ()),
        Some(BenchMode::Durability(d)) => durability::run(d).map(|_| ()),
        Some(BenchMode::Embed(e)) => embed::run(e).map(|_| ()),
        Some(BenchMode::Assistant(a)) => assistant::run(a),
    }
}
