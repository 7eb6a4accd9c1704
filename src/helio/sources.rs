//! The numbered sources an answer rests on, as the client sees them and
//! as the prompt and the verifier read them.

use serde::Serialize;
use serde_json::Value;

use super::question::Topic;
use super::retrieve::Hit;

/// One source of an answer.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Its number in the answer's citations (`[1]`).
    pub n: usize,
    /// The knowledge base: `catalog_kb`, `regulatory_kb`, `technical_kb`,
    /// `sales_kb`, `tariffs`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The point id in its collection (for a product, its `product_id`).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_brl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// A document's title, and its id in the knowledge base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// The passage: a document's chunk, or a product's catalog text.
    pub chunk: String,
    /// Cosine similarity of the passage to the question, 0 to 1.
    pub relevance: f32,
    /// The full payload, for the answer writers; not sent.
    #[serde(skip)]
    pub payload: serde_json::Map<String, Value>,
    #[serde(skip)]
    pub topic: Option<Topic>,
}

impl Source {
    pub fn from_hit(n: usize, hit: &Hit) -> Source {
        let s = |k: &str| hit.str(k).map(str::to_string);
        let product = hit.topic == Topic::Products;
        Source {
            n,
            kind: hit.topic.source_type(),
            id: hit.id.to_string(),
            product: product.then(|| s("name")).flatten(),
            sku: s("sku"),
            model: product.then(|| s("model")).flatten(),
            manufacturer: product.then(|| s("manufacturer")).flatten(),
            distributor: product.then(|| s("distributor")).flatten(),
            price_brl: product.then(|| hit.num("price_brl")).flatten(),
            available: product.then(|| hit.in_stock()),
            doc: (!product).then(|| s("title")).flatten(),
            doc_id: (!product).then(|| s("doc_id")).flatten(),
            chunk: s("text").unwrap_or_default(),
            relevance: (hit.cosine.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
            payload: hit.payload.clone(),
            topic: Some(hit.topic),
        }
    }

    pub fn is_product(&self) -> bool {
        self.topic == Some(Topic::Products)
    }

    /// Every price this source holds for its product, in centavos: the
    /// current one and its history.
    pub fn prices(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .price_brl
            .iter()
            .map(|p| super::money::centavos(*p))
            .collect();
        if let Some(Value::Array(history)) = self.payload.get("price_history") {
            for h in history {
                if let Some(p) = h.get("price_brl").and_then(Value::as_f64) {
                    out.push(super::money::centavos(p));
                }
            }
        }
        out
    }

    /// Whether `code` (as a buyer or a model writes it) names this
    /// product: its SKU or its model, ignoring case.
    pub fn named_by(&self, code: &str) -> bool {
        let code = code.to_ascii_uppercase();
        [&self.sku, &self.model, &self.product]
            .into_iter()
            .flatten()
            .any(|v| v.to_ascii_uppercase().contains(&code))
    }

    /// The label a citation line shows: the product's name, or the
    /// document's title and id.
    pub fn label(&self) -> String {
        match (&self.product, &self.doc) {
            (Some(p), _) => p.clone(),
            (None, Some(d)) => match &self.doc_id {
                Some(id) => format!("{d} ({id})"),
                None => d.clone(),
            },
            _ => self.sku.clone().unwrap_or_else(|| self.id.clone()),
        }
    }
}
