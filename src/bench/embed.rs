//! `helio bench embed`: how fast a running server embeds, measured through
//! its OpenAI-compatible `/v1/embeddings` route and through `Document`
//! inference in `/points/query` — what a client of either waits for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use super::client::Client;
use super::report::percentile_ms;

#[derive(Debug, Clone, Args)]
pub struct EmbedBenchArgs {
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    pub url: String,
    #[arg(long, default_value = "sentence-transformers/all-minilm-l6-v2")]
    pub model: String,
    /// Texts to embed, one per line (default: generated product phrases).
    #[arg(long)]
    pub texts: Option<PathBuf>,
    /// Requests per latency measurement.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Texts per request in the throughput measurement.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Batches in the throughput measurement.
    #[arg(long, default_value_t = 10)]
    pub batches: usize,
    /// Collection created (and dropped) for the Document query latency.
    #[arg(long, default_value = "helio-bench-embed")]
    pub collection: String,
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Write the figures as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Picks the generated phrases (default: drawn for each run, so a run
    /// does not meet the texts an earlier one left in the server's cache).
    #[arg(long)]
    pub seed: Option<u32>,
}

/// Distinct texts, so a server-side cache does not answer the latency runs.
/// Generated phrases shift their power ratings by `run` (1..400, from
/// `--seed` or drawn for each run), so a second run against the same
/// server, whose cache kept the first run's texts, still measures the model
/// (a drawn shift comes back once in 399 runs) while the phrases keep their
/// length; the texts of a `--texts` file are sent as they are.
fn texts(args: &EmbedBenchArgs, n: usize, run: u32) -> Result<Vec<String>> {
    if let Some(path) = &args.texts {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        ensure!(!lines.is_empty(), "{} has no text lines", path.display());
        return Ok(lines.iter().cycle().take(n).cloned().collect());
    }
    const KINDS: [&str; 6] = [
        "Painel solar monocristalino",
        "Inversor string trifásico",
        "Microinversor para telhado",
        "Bateria de lítio para sistema híbrido",
        "Estrutura de fixação em solo",
        "String box com proteção CC",
    ];
    Ok((0..n)
        .map(|i| {
            format!(
                "{} {} W, modelo {i}",
                KINDS[i % KINDS.len()],
                300 + (i * 7 + run as usize) % 400,
            )
        })
        .collect())
}

struct Timing {
    sorted: Vec<Duration>,
}

impl Timing {
    fn measure(n: usize, mut call: impl FnMut(usize) -> Result<()>) -> Result<Timing> {
        let mut sorted = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            call(i)?;
            sorted.push(t.elapsed());
        }
        sorted.sort();
        Ok(Timing { sorted })
    }

    fn json(&self) -> Value {
        json!({
            "requests": self.sorted.len(),
            "p50_ms": percentile_ms(&self.sorted, 0.5),
            "p95_ms": percentile_ms(&self.sorted, 0.95),
            "p99_ms": percentile_ms(&self.sorted, 0.99),
        })
    }

    fn print(&self, what: &str) {
        println!(
            "{what:<50} p50 {:>8.2} ms  p95 {:>8.2} ms  p99 {:>8.2} ms",
            percentile_ms(&self.sorted, 0.5),
            percentile_ms(&self.sorted, 0.95),
            percentile_ms(&self.sorted, 0.99)
        );
    }
}

pub fn run(args: &EmbedBenchArgs) -> Result<Value> {
    ensure!(
        args.requests > 0 && args.batch > 0 && args.batches > 0,
        "--requests, --batch and --batches must be positive"
    );
    let client = Client::new(
        &args.url,
        &args.collection,
        Duration::from_secs(args.timeout),
    )?;
    let server = client.version()?;
    println!("server: {} ({server}), model {}", args.url, args.model);
    // Three disjoint stretches of texts: single requests, batches, Document
    // queries, so no measurement is answered by a cache the one before
    // filled.
    let run = 1 + args.seed.unwrap_or_else(rand::random) % 399;
    let pool = texts(args, 2 * args.requests + args.batch * args.batches, run)?;
    let (singles, rest) = pool.split_at(args.requests);
    let (batches, queries) = rest.split_at(args.batch * args.batches);
    let embed = |input: Value| -> Result<Vec<Value>> {
        let v = client.post(
            "/v1/embeddings",
            &json!({"input": input, "model": args.model}),
        )?;
        v["data"]
            .as_array()
            .cloned()
            .context("the /v1/embeddings answer has no data list")
    };
    let first = embed(json!("dimension probe"))?;
    let dim = first
        .first()
        .and_then(|d| d["embedding"].as_array())
        .map(Vec::len)
        .context("the /v1/embeddings answer has no embedding")?;
    // Warm up on texts of this run only, so the model (not the cache) answers them and the first
    // timed requests do not pay for waking the server's threads and caches.
    for i in 0..10 {
        embed(json!(format!("aquecimento {run} {i}")))?;
    }

    let single = Timing::measure(args.requests, |i| embed(json!(singles[i])).map(|_| ()))?;
    single.print("/v1/embeddings, one new text per request");
    let repeated = Timing::measure(args.requests, |_| embed(json!(singles[0])).map(|_| ()))?;
    repeated.print("/v1/embeddings, the same text again");

    let started = Instant::now();
    for chunk in batches.chunks(args.batch) {
        let got = embed(json!(chunk))?;
        ensure!(
            got.len() == chunk.len(),
            "asked for {} embeddings, got {}",
            chunk.len(),
            got.len()
        );
    }
    let batch_texts = batches.len();
    let per_s = batch_texts as f64 / started.elapsed().as_secs_f64();
    println!(
        "{:<50} {per_s:.0} texts/s",
        format!("/v1/embeddings, batches of {}", args.batch)
    );

    // Document inference: what a cloud_inference client's query costs.
    client.recreate(&json!({"vectors": {"size": dim, "distance": "Cosine"}}))?;
    let document = Timing::measure(args.requests, |i| {
        client
            .query(
                &json!({"query": {"text": queries[i], "model": args.model}, "limit": 1})
                    .to_string(),
            )
            .map(|_| ())
    });
    let _ = client.collection_call("DELETE", "", &json!({}));
    let document = document.context("querying with a Document")?;
    document.print("/points/query with a Document (empty collection)");

    let report = json!({
        "url": args.url, "server": server, "model": args.model, "dim": dim,
        "single": single.json(), "repeated": repeated.json(),
        "batch": {"size": args.batch, "texts": batch_texts, "texts_per_s": per_s},
        "document_query": document.json(),
    });
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}
