//! The search workload: upload, wait for the index, query at each `ef` and
//! concurrency, score against exact answers. With `--vs` both servers get
//! the same requests, interleaved batch by batch and block by block (the
//! order alternating) so that noise on the shared machine hits both alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::client::{Client, QueryRun};
use super::data::{self, Selection, Source};
use super::report::Report;
use super::truth;
use super::SearchArgs;
use crate::engine::dataset;
use crate::engine::index::distance;
use crate::engine::types::{Distance, SparseVector};

/// Buckets of the filter field: a filter `sel < s·BUCKETS` keeps a share s.
const BUCKETS: u64 = 1_000_000;
/// Queries per interleaving block.
const BLOCK: usize = 100;
/// Terms per synthetic sparse document and query.
const SPARSE_DOC_TERMS: usize = 60;
const SPARSE_QUERY_TERMS: usize = 6;

/// One server under test.
pub struct Target {
    pub label: &'static str,
    pub url: String,
    pub server: String,
    pub pid: Option<u32>,
    client: Client,
}

/// A set of query bodies and, per target, the exact answers to score them
/// against.
struct Scenario {
    label: String,
    /// Serialised `/points/query` bodies.
    bodies: Vec<String>,
    truth: Vec<Arc<Vec<Vec<usize>>>>,
}

/// The data and how it maps onto Qdrant's JSON.
struct Workload {
    dim: usize,
    distance: Distance,
    /// Named vectors `dense` and `sparse` (for `--sparse` / `--hybrid`),
    /// else one unnamed dense vector.
    named: bool,
    filtered: bool,
    kind: Kind,
}

enum Kind {
    Vectors {
        data: data::Vectors,
        /// Documents and queries, with `--sparse` or `--hybrid`.
        sparse: Option<(Vec<SparseVector>, Vec<SparseVector>)>,
    },
    Texts {
        texts: data::Texts,
        model: String,
    },
}

pub fn run(args: &SearchArgs) -> Result<Report> {
    validate(args)?;
    let timeout = Duration::from_secs(args.timeout);
    let mut targets = vec![connect("A", &args.url, args, args.pid, timeout)?];
    if let Some(vs) = &args.vs {
        targets.push(connect("B", vs, args, args.vs_pid, timeout)?);
    }
    let work = Workload::load(args, &targets[0])?;
    let mut report = Report::new(args, &targets, work.points(), work.dim);

    upload(args, &targets, &work, &mut report)?;
    report.memory(&targets);

    let scenarios = scenarios(args, &targets, &work)?;
    if let Some(first) = scenarios.first() {
        // Warm-up so the first measured row does not pay for cold caches.
        let warm = &first.bodies[..first.bodies.len().min(BLOCK)];
        for t in &targets {
            t.client.query_all(warm, 1)?;
        }
    }
    for sc in &scenarios {
        for &workers in &args.concurrency {
            let runs = measure(&targets, &sc.bodies, workers)?;
            report.search(&sc.label, workers, &runs, &sc.truth, args.top_k);
        }
    }
    report.memory(&targets);
    report.finish();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

fn validate(args: &SearchArgs) -> Result<()> {
    ensure!(
        args.top_k > 0 && args.queries > 0 && args.batch > 0,
        "--top-k, --queries and --batch must be positive"
    );
    ensure!(!args.ef.is_empty(), "--ef needs at least one value");
    ensure!(!args.ef.contains(&0), "--ef values must be positive");
    ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "--concurrency values must be positive"
    );
    ensure!(args.m >= 2, "--m must be at least 2");
    ensure!(args.prefetch_limit > 0, "--prefetch-limit must be positive");
    if let Some(s) = args
        .filter_selectivity
        .iter()
        .find(|s| !(**s > 0.0 && **s <= 1.0))
    {
        bail!("--filter-selectivity {s}: each share must be in (0, 1]");
    }
    if args.texts.is_none() {
        data::parse_source(&args.dataset)?;
    }
    if args.index_payload && args.filter_selectivity.is_empty() {
        bail!("--index-payload goes with --filter-selectivity");
    }
    Ok(())
}

fn connect(
    label: &'static str,
    url: &str,
    args: &SearchArgs,
    pid: Option<u32>,
    timeout: Duration,
) -> Result<Target> {
    let client = Client::new(url, &args.collection, timeout)?;
    let server = client.version()?;
    eprintln!("{label}: {url} ({server})");
    Ok(Target {
        label,
        url: url.to_string(),
        server,
        pid,
        client,
    })
}

/// Deterministic bucket of point `i` for the filter field (splitmix64).
fn bucket(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % BUCKETS
}

fn threshold(selectivity: f64) -> u64 {
    ((selectivity * BUCKETS as f64).round() as u64).max(1)
}

/// `cosine` → `Distance::Cosine`, through the engine's own serde names.
fn parse_distance(name: &str) -> Result<Distance> {
    let mut chars = name.chars();
    let titled: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    serde_json::from_value(json!(titled)).with_context(|| format!("unknown distance {name:?}"))
}

impl Workload {
    fn load(args: &SearchArgs, first: &Target) -> Result<Workload> {
        let sel = Selection {
            queries: args.queries,
            query_file: args.query_file.as_deref(),
            ground_truth: args.ground_truth.as_deref(),
            max_points: args.max_points,
        };
        let distance = parse_distance(&args.distance)?;
        let named = args.sparse || args.hybrid;
        let filtered = !args.filter_selectivity.is_empty();
        if let Some(path) = &args.texts {
            ensure!(
                args.ground_truth.is_none(),
                "--ground-truth goes with vector datasets, not --texts"
            );
            let texts = data::load_texts(path, &sel)?;
            let dim = match args.dim {
                Some(d) => d,
                None => model_dim(&first.client, &args.model)?,
            };
            eprintln!(
                "{} documents and {} queries from {}, embedded by the server with {} ({dim} dimensions)",
                texts.docs.len(),
                texts.queries.len(),
                path.display(),
                args.model
            );
            return Ok(Workload {
                dim,
                distance,
                named,
                filtered,
                kind: Kind::Texts {
                    texts,
                    model: args.model.clone(),
                },
            });
        }
        let source = data::parse_source(&args.dataset)?;
        if let Source::Synthetic { n, dim } = source {
            eprintln!(
                "generating {n} x {dim} vectors and {} queries",
                args.queries
            );
        }
        let mut vectors = data::load_vectors(&source, &sel)?;
        if distance == Distance::Cosine {
            // The server normalises Cosine vectors; the exact neighbours
            // must be computed on the same vectors.
            for v in vectors.base.iter_mut().chain(vectors.queries.iter_mut()) {
                distance::normalize(v);
            }
        }
        let dim = vectors.base[0].len();
        let sparse = named.then(|| {
            (
                dataset::sparse(vectors.base.len(), SPARSE_DOC_TERMS, 1),
                dataset::sparse(vectors.queries.len(), SPARSE_QUERY_TERMS, 2),
            )
        });
        Ok(Workload {
            dim,
            distance,
            named,
            filtered,
            kind: Kind::Vectors {
                data: vectors,
                sparse,
            },
        })
    }

    fn points(&self) -> usize {
        match &self.kind {
            Kind::Vectors { data, .. } => data.base.len(),
            Kind::Texts { texts, .. } => texts.docs.len(),
        }
    }

    fn queries(&self) -> usize {
        match &self.kind {
            Kind::Vectors { data, .. } => data.queries.len(),
            Kind::Texts { texts, .. } => texts.queries.len(),
        }
    }

    fn collection_config(&self, args: &SearchArgs) -> Value {
        let dense = json!({"size": self.dim, "distance": self.distance});
        let mut config = json!({
            "hnsw_config": {"m": args.m, "ef_construct": args.ef_construct},
        });
        if let Some(kb) = args.indexing_threshold {
            config["optimizers_config"] = json!({ "indexing_threshold": kb });
        }
        if self.named {
            config["vectors"] = json!({ "dense": dense });
            let sparse = match self.kind {
                Kind::Texts { .. } => json!({"modifier": "idf"}),
                Kind::Vectors { .. } => json!({}),
            };
            config["sparse_vectors"] = json!({ "sparse": sparse });
        } else {
            config["vectors"] = dense;
        }
        config
    }

    fn point(&self, i: usize) -> Value {
        let (dense, sparse) = match &self.kind {
            Kind::Vectors { data, sparse } => (
                json!(data.base[i]),
                sparse.as_ref().map(|(docs, _)| sparse_json(&docs[i])),
            ),
            Kind::Texts { texts, model } => (
                json!({"text": texts.docs[i], "model": model}),
                self.named
                    .then(|| json!({"text": texts.docs[i], "model": "qdrant/bm25"})),
            ),
        };
        let vector = if self.named {
            let mut v = json!({ "dense": dense });
            if let Some(s) = sparse {
                v["sparse"] = s;
            }
            v
        } else {
            dense
        };
        let mut point = json!({"id": i, "vector": vector});
        if self.filtered {
            point["payload"] = json!({"sel": bucket(i)});
        }
        point
    }

    fn dense_query(&self, q: usize) -> Value {
        match &self.kind {
            Kind::Vectors { data, .. } => json!(data.queries[q]),
            Kind::Texts { texts, model } => json!({"text": texts.queries[q], "model": model}),
        }
    }

    fn sparse_query(&self, q: usize) -> Value {
        match &self.kind {
            Kind::Vectors { sparse, .. } => {
                sparse_json(&sparse.as_ref().expect("sparse workload").1[q])
            }
            Kind::Texts { texts, .. } => json!({"text": texts.queries[q], "model": "qdrant/bm25"}),
        }
    }

    /// A dense `/points/query` body: `ef` for graph search, `None` for
    /// `exact=true`.
    fn dense_body(&self, q: usize, k: usize, ef: Option<usize>, filter: Option<f64>) -> Value {
        let mut body = json!({"query": self.dense_query(q), "limit": k, "params": params(ef)});
        if self.named {
            body["using"] = json!("dense");
        }
        if let Some(s) = filter {
            body["filter"] = json!({"must": [{"key": "sel", "range": {"lt": threshold(s)}}]});
        }
        body
    }

    fn sparse_body(&self, q: usize, k: usize) -> Value {
        json!({"query": self.sparse_query(q), "using": "sparse", "limit": k})
    }

    fn hybrid_body(&self, q: usize, k: usize, ef: Option<usize>, prefetch: usize) -> Value {
        json!({
            "prefetch": [
                {"query": self.dense_query(q), "using": "dense", "limit": prefetch, "params": params(ef)},
                {"query": self.sparse_query(q), "using": "sparse", "limit": prefetch},
            ],
            "query": {"fusion": "rrf"},
            "limit": k,
        })
    }

    /// Exact answers computed here, when the vectors are known locally.
    fn local_dense_truth(&self, k: usize, filter: Option<f64>) -> Option<Vec<Vec<usize>>> {
        let Kind::Vectors { data, .. } = &self.kind else {
            return None;
        };
        if filter.is_none() && k <= data.truth.as_ref().map_or(0, |t| t[0].len()) {
            let truth = data.truth.as_ref().expect("checked above");
            return Some(truth.iter().map(|t| t[..k].to_vec()).collect());
        }
        let cut = filter.map(threshold);
        Some(dataset::brute_force_knn_filtered(
            &data.base,
            &data.queries,
            k,
            self.distance,
            |i| cut.is_none_or(|c| bucket(i) < c),
        ))
    }

    fn local_sparse_truth(&self, k: usize) -> Option<Vec<Vec<usize>>> {
        let Kind::Vectors {
            sparse: Some((docs, queries)),
            ..
        } = &self.kind
        else {
            return None;
        };
        Some(truth::sparse_knn(docs, queries, k, |_| true))
    }
}

fn sparse_json(v: &SparseVector) -> Value {
    json!({"indices": v.indices, "values": v.values})
}

fn params(ef: Option<usize>) -> Value {
    match ef {
        Some(ef) => json!({"hnsw_ef": ef, "exact": false}),
        None => json!({"exact": true}),
    }
}

/// The vector size of `model`, from one call to the server's
/// OpenAI-compatible embeddings route.
fn model_dim(client: &Client, model: &str) -> Result<usize> {
    let v = client
        .post(
            "/v1/embeddings",
            &json!({"input": "dimension probe", "model": model}),
        )
        .context("asking the server for the model's dimension (pass --dim to skip)")?;
    v["data"][0]["embedding"]
        .as_array()
        .map(Vec::len)
        .filter(|&n| n > 0)
        .context("the /v1/embeddings answer has no embedding (pass --dim)")
}

fn upload(
    args: &SearchArgs,
    targets: &[Target],
    work: &Workload,
    report: &mut Report,
) -> Result<()> {
    let n = work.points();
    if args.reuse {
        let mut all = true;
        for t in targets {
            all &= t.client.points_count()? == Some(n) && t.client.layout_matches(work.named)?;
        }
        if all {
            eprintln!("reusing collection {} ({n} points)", args.collection);
            return Ok(());
        }
    }
    let config = work.collection_config(args);
    for t in targets {
        t.client.recreate(&config)?;
        if args.index_payload {
            t.client.create_index("sel", "integer")?;
        }
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("upload {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template"),
    );
    let mut spent = vec![Duration::ZERO; targets.len()];
    let ids: Vec<usize> = (0..n).collect();
    for (b, chunk) in ids.chunks(args.batch).enumerate() {
        let points: Vec<Value> = chunk.iter().map(|&i| work.point(i)).collect();
        for j in 0..targets.len() {
            let t = (j + b) % targets.len();
            let started = Instant::now();
            targets[t]
                .client
                .upsert(&points)
                .with_context(|| format!("upload to {}", targets[t].label))?;
            spent[t] += started.elapsed();
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    // Each server indexes on its own: wait for both at once.
    let waited: Vec<Result<(Duration, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| s.spawn(|| t.client.wait_green(Duration::from_secs(3600))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("wait thread panicked"))
            .collect()
    });
    for (t, w) in waited.into_iter().enumerate() {
        let (green, indexed) = w?;
        report.upload(t, spent[t], green, indexed);
    }
    Ok(())
}

/// The query sets the flags ask for, each with its exact answers.
fn scenarios(args: &SearchArgs, targets: &[Target], work: &Workload) -> Result<Vec<Scenario>> {
    let k = args.top_k;
    let nq = work.queries();
    let each =
        |f: &dyn Fn(usize) -> Value| -> Vec<String> { (0..nq).map(|q| f(q).to_string()).collect() };
    // Per target, exact answers: computed locally when the vectors are
    // known, else the server's own `exact=true` answers to `exact_bodies`.
    let truth_for = |local: Option<Vec<Vec<usize>>>,
                     exact_bodies: &dyn Fn() -> Vec<String>|
     -> Result<Vec<Arc<Vec<Vec<usize>>>>> {
        if let Some(local) = local {
            let shared = Arc::new(local);
            return Ok(targets.iter().map(|_| shared.clone()).collect());
        }
        let bodies = exact_bodies();
        targets
            .iter()
            .map(|t| Ok(Arc::new(t.client.query_all(&bodies, 1)?.results)))
            .collect()
    };

    eprintln!("computing exact answers");
    let mut out = Vec::new();
    let mut filters: Vec<Option<f64>> = vec![None];
    filters.extend(args.filter_selectivity.iter().map(|&s| Some(s)));
    for filter in filters {
        let truth = truth_for(work.local_dense_truth(k, filter), &|| {
            each(&|q| work.dense_body(q, k, None, filter))
        })?;
        let suffix = filter.map_or(String::new(), |s| format!(" sel={s}"));
        if args.exact && filter.is_none() {
            out.push(Scenario {
                label: "exact".into(),
                bodies: each(&|q| work.dense_body(q, k, None, None)),
                truth: truth.clone(),
            });
        }
        for &ef in &args.ef {
            out.push(Scenario {
                label: format!("ef={ef}{suffix}"),
                bodies: each(&|q| work.dense_body(q, k, Some(ef), filter)),
                truth: truth.clone(),
            });
        }
    }
    if args.sparse {
        out.push(Scenario {
            label: "sparse".into(),
            bodies: each(&|q| work.sparse_body(q, k)),
            truth: truth_for(work.local_sparse_truth(k), &|| {
                each(&|q| work.sparse_body(q, k))
            })?,
        });
    }
    if args.hybrid {
        let p = args.prefetch_limit;
        let local = match (work.local_dense_truth(p, None), work.local_sparse_truth(p)) {
            (Some(d), Some(s)) => Some(
                d.iter()
                    .zip(&s)
                    .map(|(d, s)| truth::rrf(&[d, s], k))
                    .collect(),
            ),
            _ => None,
        };
        let truth = truth_for(local, &|| each(&|q| work.hybrid_body(q, k, None, p)))?;
        for &ef in &args.ef {
            out.push(Scenario {
                label: format!("hybrid ef={ef}"),
                bodies: each(&|q| work.hybrid_body(q, k, Some(ef), p)),
                truth: truth.clone(),
            });
        }
    }
    Ok(out)
}

/// Runs `bodies` on every target with `workers` client threads, in blocks
/// whose target order alternates.
fn measure(targets: &[Target], bodies: &[String], workers: usize) -> Result<Vec<QueryRun>> {
    let mut runs: Vec<QueryRun> = targets.iter().map(|_| QueryRun::empty()).collect();
    let block = BLOCK.max(workers * 10);
    for (b, chunk) in bodies.chunks(block).enumerate() {
        for j in 0..targets.len() {
            let t = (j + b) % targets.len();
            let run = targets[t]
                .client
                .query_all(chunk, workers)
                .with_context(|| format!("querying {}", targets[t].label))?;
            runs[t].extend(run);
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_give_the_asked_selectivity() {
        let n = 200_000;
        for s in [0.001, 0.01, 0.1, 0.5] {
            let kept = (0..n).filter(|&i| bucket(i) < threshold(s)).count();
            let share = kept as f64 / n as f64;
            assert!((share - s).abs() < s * 0.2 + 0.0005, "{s}: {share}");
        }
    }
}
