//! Prometheus metrics (`prometheus-client`), rendered at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::embed::Models;
use crate::engine::Database;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub endpoint: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectionLabels {
    pub collection: String,
}

/// Every metric Helio exports. Request metrics are updated by a
/// middleware; collection gauges are refreshed when scraped.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RequestLabels, Histogram>,
    collections: Gauge,
    points: Family<CollectionLabels, Gauge>,
    indexed: Family<CollectionLabels, Gauge>,
    segments: Family<CollectionLabels, Gauge>,
    /// Mirrors of the embedding cache's own counters, set when scraped.
    embed_cache_hits: Gauge,
    embed_cache_misses: Gauge,
    /// From a catalog file landing in the inbox (its mtime) to every valid
    /// product of it being searchable by keyword (BM25) …
    pub ingest_searchable_seconds: Histogram,
    /// … and to every one having its dense vector too.
    pub ingest_embedded_seconds: Histogram,
    /// Assistant answers by backend and grounding outcome.
    asks: Family<AskLabels, Counter>,
    ask_seconds: Histogram,
    /// In-process chat model: tokens generated and generation time.
    llm_tokens: Counter,
    llm_seconds: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AskLabels {
    backend: String,
    /// `grounded`, `corrected` (the verifier removed claims) or `degraded`
    /// (the model failed; the extractive answer was given).
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("helio");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let collections = Gauge::default();
        let points = Family::<CollectionLabels, Gauge>::default();
        let indexed = Family::<CollectionLabels, Gauge>::default();
        let segments = Family::<CollectionLabels, Gauge>::default();
        registry.register("rest_requests", "REST requests served", requests.clone());
        registry.register(
            "rest_request_duration_seconds",
            "REST request latency",
            request_seconds.clone(),
        );
        registry.register("collections", "Number of collections", collections.clone());
        registry.register("collection_points", "Points per collection", points.clone());
        registry.register(
            "collection_indexed_vectors",
            "Vectors in a graph index per collection",
            indexed.clone(),
        );
        registry.register(
            "collection_segments",
            "Graph segments per collection",
            segments.clone(),
        );
        let embed_cache_hits = Gauge::default();
        let embed_cache_misses = Gauge::default();
        registry.register(
            "embedding_cache_hits",
            "Texts whose embedding came from the cache",
            embed_cache_hits.clone(),
        );
        registry.register(
            "embedding_cache_misses",
            "Texts sent to an embedding model",
            embed_cache_misses.clone(),
        );
        let ingest_searchable_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        let ingest_embedded_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        registry.register(
            "ingest_searchable_seconds",
            "From a catalog file landing in the inbox to its products being searchable by BM25",
            ingest_searchable_seconds.clone(),
        );
        registry.register(
            "ingest_embedded_seconds",
            "From a catalog file landing in the inbox to its products having dense vectors",
            ingest_embedded_seconds.clone(),
        );
        let asks = Family::<AskLabels, Counter>::default();
        let ask_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let llm_tokens = Counter::default();
        let llm_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "assistant_answers",
            "Assistant answers by backend and outcome",
            asks.clone(),
        );
        registry.register(
            "assistant_answer_seconds",
            "Assistant answer latency, retrieval and generation",
            ask_seconds.clone(),
        );
        registry.register(
            "llm_completion_tokens",
            "Tokens generated by the in-process chat model",
            llm_tokens.clone(),
        );
        registry.register(
            "llm_completion_seconds",
            "Chat completion latency of the in-process model",
            llm_seconds.clone(),
        );
        Metrics {
            asks,
            ask_seconds,
            llm_tokens,
            llm_seconds,
            ingest_searchable_seconds,
            ingest_embedded_seconds,
            embed_cache_hits,
            embed_cache_misses,
            registry,
            requests,
            request_seconds,
            collections,
            points,
            indexed,
            segments,
        }
    }

    /// One assistant answer.
    pub fn observe_ask(&self, backend: &str, grounded: bool, degraded: bool, seconds: f64) {
        let outcome = match (degraded, grounded) {
            (true, _) => "degraded",
            (false, true) => "grounded",
            (false, false) => "corrected",
        };
        self.asks
            .get_or_create(&AskLabels {
                backend: backend.to_string(),
                outcome,
            })
            .inc();
        self.ask_seconds.observe(seconds);
    }

    /// One chat completion of the in-process model.
    pub fn observe_llm(&self, completion_tokens: usize, seconds: f64) {
        self.llm_tokens.inc_by(completion_tokens as u64);
        self.llm_seconds.observe(seconds);
    }

    pub fn render(&self, db: &Database, models: &Models) -> String {
        self.embed_cache_hits.set(models.cache().hits() as i64);
        self.embed_cache_misses.set(models.cache().misses() as i64);
        self.collections.set(db.names().len() as i64);
        for c in db.all() {
            let info = c.info();
            let labels = CollectionLabels {
                collection: c.name().to_string(),
            };
            self.points
                .get_or_create(&labels)
                .set(info.points_count as i64);
            self.indexed
                .get_or_create(&labels)
                .set(info.indexed_vectors_count as i64);
            self.segments
                .get_or_create(&labels)
                .set(info.segments_count as i64);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
