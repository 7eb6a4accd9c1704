//! Keeps the `helio-catalog` and `helio-pricing` collections in step with
//! the catalog database.
//!
//! Each product is one point in each collection, with the same id (a hash
//! of distributor and SKU) and the same text. `helio-catalog` holds the
//! products on offer; `helio-pricing` holds every product ever offered,
//! with its current price, availability and price history.
//!
//! Indexing runs in two passes so a new file is searchable at once:
//! 1. every pending product is upserted with its payload and its BM25
//!    vector (tens of thousands of texts a second), so keyword and hybrid
//!    search find it straight away;
//! 2. the dense vectors follow in batches (about a hundred texts a second
//!    on two cores for MiniLM; unchanged texts come from the embedding
//!    cache). A product is marked indexed in the catalog only after both.

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::catalog::{Catalog, CatalogError, CatalogProduct, IndexMark};
use super::points::{self, BM25_VECTOR};
use super::validate::{product_type, Product, ProductKind};
use crate::embed::{EmbedError, Models};
use crate::engine::collection::{PointInsert, Selector, UpdateOp};
use crate::engine::config::{CollectionConfig, SparseVectorParams, VectorParams, VectorsConfig};
use crate::engine::index::payload::PayloadFieldSchema;
use crate::engine::types::{Distance, NamedVectors, Payload, PointId, VectorData};
use crate::engine::{Database, EngineError};

pub const CATALOG_COLLECTION: &str = "helio-catalog";
pub const PRICING_COLLECTION: &str = "helio-pricing";
/// Products embedded per dense batch: small enough that a sync gives the
/// write lock back often, large enough to keep the model busy.
const DENSE_BATCH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// What one sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub upserted: usize,
    pub withdrawn: usize,
    pub embedded: usize,
    /// Products left pending because no dense model is loaded.
    pub waiting_for_model: usize,
}

pub struct Indexer {
    catalog: Arc<Catalog>,
    db: Arc<Database>,
    models: Arc<Models>,
    /// One sync at a time: the watcher thread and `helio ingest` may both
    /// ask, and two would embed the same products twice.
    running: Mutex<()>,
    /// When the last sync finished its BM25 pass and its dense pass.
    finished: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl Indexer {
    pub fn new(catalog: Arc<Catalog>, db: Arc<Database>, models: Arc<Models>) -> Indexer {
        Indexer {
            catalog,
            db,
            models,
            running: Mutex::new(()),
            finished: Mutex::new((None, None)),
        }
    }

    /// When the last sync made every pending product searchable by BM25,
    /// and when it finished their dense vectors.
    pub fn last_sync(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        *self.finished.lock()
    }

    /// Indexes every product the catalog reports pending.
    pub fn sync(&self) -> Result<SyncReport, IndexError> {
        let _one = self.running.lock();
        let pending = self.catalog.pending_index()?;
        let mut report = SyncReport::default();
        if pending.is_empty() {
            return Ok(report);
        }
        // The models are fixed for the life of the process, so without a dense one the products wait for a
        // restart with a model installed; the next sync (at start-up or after a drop) says so again.
        let Some(embedder) = self.models.default_dense() else {
            tracing::warn!(
                pending = pending.len(),
                "catalog products wait for a dense model to be indexed (run scripts/fetch-model.sh, then restart)"
            );
            report.waiting_for_model = pending.len();
            return Ok(report);
        };
        let dim = embedder.dim();
        let catalog = ensure_collection(&self.db, CATALOG_COLLECTION, dim)?;
        let pricing = ensure_collection(&self.db, PRICING_COLLECTION, dim)?;
        let bm25 = self.models.bm25(None)?;
        let texts: Vec<String> = pending.iter().map(|p| product_text(&p.product)).collect();

        // Pass 1: payloads and BM25, every pending product at once.
        let mut on_offer = Vec::new();
        let mut priced = Vec::new();
        let mut withdrawn = Vec::new();
        for (p, text) in pending.iter().zip(&texts) {
            let id = point_id(&p.distributor, &p.product.sku);
            let vectors = points::vectors(None, bm25.embed(text));
            let history = self.catalog.price_history(&p.distributor, &p.product.sku)?;
            let mut pricing_payload = payload(p, text);
            pricing_payload.insert(
                "price_history".into(),
                json!(history
                    .iter()
                    .map(|h| json!({
                        "price_brl": h.price_brl,
                        "valid_from": rfc3339(h.valid_from),
                        "valid_to": h.valid_to.map(rfc3339),
                    }))
                    .collect::<Vec<_>>()),
            );
            priced.push(PointInsert {
                id,
                vectors: vectors.clone(),
                payload: pricing_payload,
            });
            if p.available {
                on_offer.push(PointInsert {
                    id,
                    vectors,
                    payload: payload(p, text),
                });
            } else {
                withdrawn.push(id);
            }
        }
        report.upserted = on_offer.len();
        report.withdrawn = withdrawn.len();
        let mut ops = vec![UpdateOp::Upsert(on_offer)];
        if !withdrawn.is_empty() {
            ops.push(UpdateOp::Delete(Selector::Ids(withdrawn)));
        }
        catalog.update(ops)?;
        pricing.update(vec![UpdateOp::Upsert(priced)])?;
        self.finished.lock().0 = Some(SystemTime::now());

        // Pass 2: dense vectors, in batches; each batch is marked indexed.
        let all: Vec<usize> = (0..pending.len()).collect();
        for batch in all.chunks(DENSE_BATCH) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self
                .models
                .embed_with(embedder.as_ref(), &batch_texts, None)?;
            report.embedded += batch.len();
            let mut catalog_ops = Vec::new();
            let mut pricing_ops = Vec::new();
            for (&i, v) in batch.iter().zip(vectors) {
                let p = &pending[i];
                let id = point_id(&p.distributor, &p.product.sku);
                let named = NamedVectors::from([(String::new(), VectorData::Dense(v))]);
                if p.available {
                    catalog_ops.push((id, named.clone()));
                }
                pricing_ops.push((id, named));
            }
            if !catalog_ops.is_empty() {
                catalog.update(vec![UpdateOp::UpdateVectors(catalog_ops)])?;
            }
            pricing.update(vec![UpdateOp::UpdateVectors(pricing_ops)])?;
            let marks: Vec<IndexMark> = batch
                .iter()
                .map(|&i| IndexMark::from(&pending[i]))
                .collect();
            self.catalog.mark_indexed(&marks)?;
        }
        self.finished.lock().1 = Some(SystemTime::now());
        tracing::info!(
            upserted = report.upserted,
            withdrawn = report.withdrawn,
            embedded = report.embedded,
            "knowledge bases synced with the catalog"
        );
        Ok(report)
    }
}

/// The knowledge-base collection `name`, created on first use with the
/// unnamed dense vector of the default model, the BM25 sparse vector and
/// payload indexes on the fields Hélio filters by. Shared by the catalog
/// and the document knowledge bases.
pub fn ensure_collection(
    db: &Database,
    name: &str,
    dim: usize,
) -> Result<Arc<crate::engine::Collection>, IndexError> {
    if !db.exists(name) {
        let sparse = [(
            BM25_VECTOR.to_string(),
            SparseVectorParams {
                index: None,
                modifier: Some(crate::engine::config::Modifier::Idf),
            },
        )];
        let config = CollectionConfig::with_vectors(
            VectorsConfig::Single(VectorParams::new(dim, Distance::Cosine)),
            Some(sparse.into_iter().collect()),
        );
        match db.create(name, config) {
            Ok(()) | Err(EngineError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let collection = db.get(name)?;
    // Every start: a collection made by an older build gets the indexes added since.
    let indexed = collection.info().payload_schema;
    for (field, schema) in [
        ("distributor", "keyword"),
        ("sku", "keyword"),
        ("category", "keyword"),
        ("manufacturer", "keyword"),
        ("kind", "keyword"),
        ("product_type", "keyword"),
        ("available", "bool"),
        ("price_brl", "float"),
        ("power_w", "float"),
        ("doc_id", "keyword"),
    ] {
        if !indexed.contains_key(field) {
            let schema: PayloadFieldSchema =
                serde_json::from_value(json!(schema)).expect("known schema names parse");
            collection.create_payload_index(field, schema)?;
        }
    }
    if collection.dim("") != Some(dim) {
        return Err(EngineError::BadRequest(format!(
            "collection `{name}` holds vectors of size {:?}, but the model makes {dim}; delete it to rebuild it",
            collection.dim("")
        ))
        .into());
    }
    Ok(collection)
}

/// The point id of a product in both collections: stable across files
/// and restarts, unique per distributor and SKU.
pub fn point_id(distributor: &str, sku: &str) -> PointId {
    points::stable_id(distributor, sku)
}

/// The text a product is embedded and keyword-searched by: what a buyer
/// would type, in Portuguese, with the specs that tell products apart.
pub fn product_text(p: &Product) -> String {
    let mut parts = vec![p.name.clone()];
    for s in [&p.category, &p.manufacturer, &p.model]
        .into_iter()
        .flatten()
    {
        if !p.name.to_lowercase().contains(&s.to_lowercase()) {
            parts.push(s.clone());
        }
    }
    let mut specs = Vec::new();
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v}").replace('.', ",")
        }
    };
    if let Some(w) = p.power_w {
        specs.push(if w >= 1000.0 {
            format!("{} kW", num(w / 1000.0))
        } else {
            format!("{} W", num(w))
        });
    }
    if let Some(e) = p.efficiency_pct {
        specs.push(format!("eficiência {}%", num(e)));
    }
    if let Some(ph) = p.phases {
        specs.push(match ph {
            1 => "monofásico".to_string(),
            2 => "bifásico".to_string(),
            3 => "trifásico".to_string(),
            n => format!("{n} fases"),
        });
    }
    if let Some(v) = p.voltage {
        specs.push(format!("{} V", num(v)));
    }
    if let (Some(lo), Some(hi)) = (p.mppt_min_v, p.mppt_max_v) {
        specs.push(format!("MPPT {}–{} V", num(lo), num(hi)));
    }
    if let Some(g) = p.warranty_years {
        specs.push(format!("garantia {g} anos"));
    }
    if !specs.is_empty() {
        parts.push(specs.join(", "));
    }
    parts.join(". ")
}

fn payload(p: &CatalogProduct, text: &str) -> Payload {
    let mut out = match serde_json::to_value(&p.product) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    out.remove("line");
    out.retain(|_, v| !v.is_null());
    out.insert("distributor".into(), json!(p.distributor));
    out.insert("available".into(), json!(p.available));
    let product_type = product_type(p.product.category.as_deref(), &p.product.name);
    let kind = match product_type.kind {
        ProductKind::Panel => "panel",
        ProductKind::Inverter => "inverter",
        ProductKind::Other => "other",
    };
    out.insert("kind".into(), json!(kind));
    out.insert("product_type".into(), json!(product_type.slug));
    out.insert("text".into(), json!(text));
    out.insert("updated_at".into(), json!(rfc3339(p.last_seen)));
    out
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_stable_and_distinct() {
        assert_eq!(point_id("a", "1"), point_id("a", "1"));
        assert_ne!(point_id("a", "1"), point_id("b", "1"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(point_id("ab", "c"), point_id("a", "bc"));
    }
}
