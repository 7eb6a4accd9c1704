//! Hybrid retrieval over the knowledge-base collections: the question's
//! dense vector (the local model) and its BM25 vector searched side by
//! side, fused by reciprocal rank, with the catalog's structure (type,
//! brand, phases, power, availability) as filters and boosts.
//!
//! The fusion is done here rather than by the engine's `fusion: rrf`
//! stage because the assistant needs each hit's cosine similarity too: it
//! is the one score comparable across collections, and what says whether
//! anything relevant was found at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::question::{Question, Topic};
use super::HelioError;
use crate::embed::Models;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::filter::Filter;
use crate::engine::query::facet::FacetRequest;
use crate::engine::query::scroll::ScrollRequest;
use crate::engine::query::search::QueryVector;
use crate::engine::query::stages::{Query, QueryRequest, Stage};
use crate::engine::types::{Payload, PointId, SparseVector, VectorData, VectorSelector};
use crate::engine::{Database, EngineError};
use crate::pipeline::index::CATALOG_COLLECTION;
use crate::pipeline::points::BM25_VECTOR;

/// Reciprocal-rank constant: the usual 60, so a list's first places weigh
/// more than its tail without one list drowning the other.
const RRF_K: f32 = 60.0;
/// How many hits each of the two lists contributes before fusion.
const CANDIDATES: usize = 40;

/// The collection a topic is searched in.
pub fn collection(topic: Topic) -> &'static str {
    match topic {
        Topic::Products => CATALOG_COLLECTION,
        Topic::Regulatory => "helio-regulatory",
        Topic::Technical => "helio-technical",
        Topic::Sales => "helio-sales",
        Topic::Tariffs => "helio-tariffs",
    }
}

/// A question's two query vectors.
pub struct Embedded {
    /// `None` when no dense model is installed: BM25 alone then.
    pub dense: Option<Vec<f32>>,
    pub sparse: SparseVector,
    pub millis: f64,
}

/// One point found, with the scores it was found by.
#[derive(Debug, Clone)]
pub struct Hit {
    pub topic: Topic,
    pub id: PointId,
    pub payload: Payload,
    /// Cosine similarity to the question (0 when no dense model).
    pub cosine: f32,
    /// Whether BM25 found it (it shares a word with the question).
    pub lexical: bool,
    /// Reciprocal-rank fusion of the two lists, plus boosts.
    pub score: f32,
}

impl Hit {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }
    pub fn num(&self, key: &str) -> Option<f64> {
        self.payload.get(key).and_then(Value::as_f64)
    }
    /// On offer and with stock: what the assistant may recommend. A row
    /// without a stock column counts as in stock when it is on offer.
    pub fn in_stock(&self) -> bool {
        let offered = self
            .payload
            .get("available")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        offered && self.num("stock").is_none_or(|s| s > 0.0)
    }
    /// The product's rated power: AC for inverters, DC for the rest.
    pub fn power_w(&self) -> Option<f64> {
        self.num("ac_power_w").or_else(|| self.num("power_w"))
    }
}

/// What narrows a product search, from the question and its context.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub product_types: Vec<String>,
    pub brands: Vec<String>,
    pub phases: Option<u32>,
    pub distributor: Option<String>,
    pub in_stock: bool,
}

impl ProductFilter {
    fn to_filter(&self) -> Option<Filter> {
        self.with(Vec::new())
    }

    /// The filter with `must` conditions of its own added.
    fn with(&self, mut must: Vec<Value>) -> Option<Filter> {
        if !self.product_types.is_empty() {
            must.push(json!({"key": "product_type", "match": {"any": self.product_types}}));
        }
        if !self.brands.is_empty() {
            must.push(json!({"key": "manufacturer", "match": {"any": self.brands}}));
        }
        if let Some(phases) = self.phases {
            must.push(json!({"key": "phases", "match": {"value": phases}}));
        }
        if let Some(d) = &self.distributor {
            must.push(json!({"key": "distributor", "match": {"value": d}}));
        }
        if self.in_stock {
            must.push(json!({"key": "available", "match": {"value": true}}));
            must.push(json!({"key": "stock", "range": {"gt": 0}}));
        }
        if must.is_empty() {
            return None;
        }
        serde_json::from_value(json!({ "must": must })).ok()
    }
}

/// Searches the engine for the assistant. Cheap to clone.
#[derive(Clone)]
pub struct Retriever {
    db: Arc<Database>,
    models: Arc<Models>,
}

impl Retriever {
    pub fn new(db: Arc<Database>, models: Arc<Models>) -> Retriever {
        Retriever { db, models }
    }

    /// The question's dense (through the embedding cache) and BM25 vectors.
    pub fn embed(&self, text: &str) -> Result<Embedded, HelioError> {
        let started = Instant::now();
        let dense = match self.models.default_dense() {
            Some(model) => {
                let mut v = self.models.embed_with(model.as_ref(), &[text], None)?;
                v.pop()
            }
            None => None,
        };
        let bm25 = self.models.bm25(None)?.embed_query(text);
        Ok(Embedded {
            dense,
            sparse: SparseVector {
                indices: bm25.indices,
                values: bm25.values,
            },
            millis: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The catalog's manufacturers, as stored, for reading brands out of
    /// a question. Empty when the catalog is.
    pub fn brands(&self) -> Result<Vec<String>, HelioError> {
        let Some(catalog) = self.collection(CATALOG_COLLECTION)? else {
            return Ok(Vec::new());
        };
        let req = FacetRequest {
            key: "manufacturer".into(),
            filter: None,
            limit: 10_000,
            exact: false,
        };
        let values = self.db.read(&catalog, req, None)?;
        Ok(values
            .into_iter()
            .filter_map(|(v, _)| v.as_str().map(str::to_string))
            .collect())
    }

    /// Hybrid search of one topic's collection. A collection that does not
    /// exist yet (its asset has not run) has nothing to give.
    pub fn search(
        &self,
        topic: Topic,
        emb: &Embedded,
        filter: Option<Filter>,
        limit: usize,
    ) -> Result<Vec<Hit>, HelioError> {
        let Some(coll) = self.collection(collection(topic))? else {
            return Ok(Vec::new());
        };
        let list = |query: QueryVector, using: &str| -> Result<Vec<_>, EngineError> {
            let mut root = Stage::new(Some(Query::Nearest(query)), CANDIDATES.max(limit));
            root.using = using.to_string();
            root.filter = filter.clone();
            let req = QueryRequest {
                root,
                offset: 0,
                with_payload: PayloadSelector::All,
                with_vector: VectorSelector::Names(vec![String::new()]),
            };
            self.db.read(&coll, req, None)
        };
        let dense = match &emb.dense {
            Some(v) => list(QueryVector::Dense(v.clone()), "")?,
            None => Vec::new(),
        };
        let sparse = if emb.sparse.indices.is_empty() {
            Vec::new()
        } else {
            list(QueryVector::Sparse(emb.sparse.clone()), BM25_VECTOR)?
        };
        let mut fused: HashMap<PointId, Hit> = HashMap::new();
        for (lexical, records) in [(false, dense), (true, sparse)] {
            for (rank, r) in records.into_iter().enumerate() {
                let rrf = 1.0 / (RRF_K + rank as f32 + 1.0);
                let cosine = match (&emb.dense, r.vector.as_ref().and_then(|v| v.get(""))) {
                    (Some(q), Some(VectorData::Dense(v))) => cosine(q, v),
                    _ => 0.0,
                };
                let hit = fused.entry(r.id).or_insert_with(|| Hit {
                    topic,
                    id: r.id,
                    payload: r.payload.unwrap_or_default(),
                    cosine,
                    lexical: false,
                    score: 0.0,
                });
                hit.score += rrf;
                hit.lexical |= lexical;
            }
        }
        let mut hits: Vec<Hit> = fused.into_values().collect();
        sort_by_score(&mut hits);
        hits.truncate(limit);
        Ok(hits)
    }

    /// Products for a question: the hybrid search under `filter`, then
    /// boosts for a named power (closest first), a named code, and stock.
    pub fn products(
        &self,
        q: &Question,
        emb: &Embedded,
        filter: &ProductFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, HelioError> {
        let mut hits = self.search(Topic::Products, emb, filter.to_filter(), CANDIDATES)?;
        // A code the buyer typed is the strongest signal there is: the
        // products with that SKU or model come first, found even when the
        // two lists missed them.
        for code in &q.codes {
            for hit in self.by_code(code, filter)? {
                if !hits.iter().any(|h| h.id == hit.id) {
                    hits.push(hit);
                }
            }
        }
        for hit in &mut hits {
            let code_match = q.codes.iter().any(|c| {
                [hit.str("sku"), hit.str("model")]
                    .into_iter()
                    .flatten()
                    .any(|v| v.eq_ignore_ascii_case(c))
            });
            if code_match {
                hit.score += 1.0;
            }
            // "híbrido" narrows inverters without being a type of its own.
            let hybrid = [hit.str("name"), hit.str("text")]
                .into_iter()
                .flatten()
                .any(|t| {
                    crate::text::fold_to_ascii(t)
                        .to_lowercase()
                        .contains("hibrid")
                });
            if q.hybrid && hybrid {
                hit.score += 0.3;
            }
            if let Some(boost) = power_boost(q, hit) {
                hit.score += boost;
            }
            if hit.in_stock() {
                hit.score += 0.002;
            }
        }
        sort_by_score(&mut hits);
        hits.truncate(limit);
        Ok(hits)
    }

    /// Products whose SKU or model is `code`.
    fn by_code(&self, code: &str, filter: &ProductFilter) -> Result<Vec<Hit>, HelioError> {
        let Some(coll) = self.collection(CATALOG_COLLECTION)? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for key in ["sku", "model"] {
            // The code names the product: its type words do not narrow it.
            let mut f = filter.clone();
            f.product_types.clear();
            let req = ScrollRequest {
                filter: f.with(vec![json!({"key": key, "match": {"value": code}})]),
                limit: 20,
                offset: None,
                order_by: None,
                with_payload: PayloadSelector::All,
                with_vector: VectorSelector::None,
            };
            let (records, _) = self.db.read(&coll, req, None)?;
            for r in records {
                found.push(Hit {
                    topic: Topic::Products,
                    id: r.id,
                    payload: r.payload.unwrap_or_default(),
                    cosine: 0.0,
                    lexical: true,
                    score: 0.0,
                });
            }
        }
        Ok(found)
    }

    /// Whether any knowledge base holds the BM25 term of `word` (its
    /// stem): a word no collection has is the name of something Helio
    /// does not sell or document.
    pub fn known_word(&self, word: &str) -> Result<bool, HelioError> {
        self.known_in(word, &Topic::ALL)
    }

    /// [`Retriever::known_word`] over some topics' collections.
    pub fn known_in(&self, word: &str, topics: &[Topic]) -> Result<bool, HelioError> {
        let v = self.models.bm25(None)?.embed_query(word);
        if v.indices.is_empty() {
            return Ok(true);
        }
        for &topic in topics {
            let Some(coll) = self.collection(collection(topic))? else {
                continue;
            };
            let mut root = Stage::new(
                Some(Query::Nearest(QueryVector::Sparse(SparseVector {
                    indices: v.indices.clone(),
                    values: v.values.clone(),
                }))),
                1,
            );
            root.using = BM25_VECTOR.into();
            let req = QueryRequest {
                root,
                offset: 0,
                with_payload: PayloadSelector::None,
                with_vector: VectorSelector::None,
            };
            if !self.db.read(&coll, req, None)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn collection(&self, name: &str) -> Result<Option<Arc<crate::engine::Collection>>, HelioError> {
        match self.db.get(name) {
            Ok(c) => Ok(Some(c)),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A boost for products whose power is the one the question names: 0.5
/// within 2 %, fading to 0 at 30 % off. A peak power (`50 kWp`) sizes a
/// project: for inverters it is read through a DC/AC ratio of 1.2.
fn power_boost(q: &Question, hit: &Hit) -> Option<f32> {
    let have = hit.power_w()?;
    let inverter = hit.str("kind") == Some("inverter");
    q.powers
        .iter()
        .map(|p| {
            let want = if p.peak && inverter {
                p.watts / 1.2
            } else {
                p.watts
            };
            let off = ((have - want) / want).abs() as f32;
            if off <= 0.02 {
                0.5
            } else {
                (0.5 * (1.0 - off / 0.3)).max(0.0)
            }
        })
        .reduce(f32::max)
}

fn sort_by_score(hits: &mut [Hit]) {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.cosine.total_cmp(&a.cosine))
    });
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
