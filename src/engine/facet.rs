//! Facets: how many points hold each value of a payload field, among the
//! points a filter selects — the counts behind "Inversores (42)" in a
//! catalog's sidebar.
//!
//! As in Qdrant, the field needs a keyword, integer, bool or uuid payload
//! index: facets are a cheap view of an index, not a scan of payloads the
//! user never declared. Counting is exact; a point with a value twice in an
//! array counts once for it.

use std::collections::HashMap;

use serde_json::Value;

use super::collection::Collection;
use super::error::{EngineError, Result};
use super::filter::{values_at, Filter};
use super::payload_index::PayloadSchemaType;

impl Collection {
    /// The `limit` most frequent values of `key`, most frequent first, ties
    /// by value (strings and numbers in their natural order).
    pub fn facet(
        &self,
        key: &str,
        filter: Option<&Filter>,
        limit: usize,
    ) -> Result<Vec<(Value, usize)>> {
        if let Some(f) = filter {
            f.validate().map_err(EngineError::BadRequest)?;
        }
        let points = self.points.read();
        let indexed = points.indexes.fields().find(|(field, _)| *field == key);
        match indexed.map(|(_, schema)| schema.data_type()) {
            Some(
                PayloadSchemaType::Keyword
                | PayloadSchemaType::Integer
                | PayloadSchemaType::Bool
                | PayloadSchemaType::Uuid,
            ) => {}
            _ => {
                return Err(EngineError::BadRequest(format!(
                    "Bad request: Index required but not found for \"{key}\" of one of the following types: [keyword, integer, bool, uuid]. Help: Create an index for this key or use a different filter."
                )))
            }
        }
        let pool = match filter {
            Some(f) => self.matching(&points, f, None),
            None => points.live.clone(),
        };
        let mut counts: HashMap<String, (Value, usize)> = HashMap::new();
        for offset in pool {
            let Some(slot) = points.slot(offset) else {
                continue;
            };
            let mut seen: Vec<&Value> = Vec::new();
            for v in values_at(&slot.payload, key) {
                let countable =
                    matches!(v, Value::String(_) | Value::Bool(_)) || v.as_i64().is_some();
                if countable && !seen.contains(&v) {
                    seen.push(v);
                    counts
                        .entry(v.to_string())
                        .or_insert_with(|| (v.clone(), 0))
                        .1 += 1;
                }
            }
        }
        let mut hits: Vec<(Value, usize)> = counts.into_values().collect();
        hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| order(&a.0, &b.0)));
        hits.truncate(limit);
        Ok(hits)
    }
}

fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_i64()
            .unwrap_or_default()
            .cmp(&y.as_i64().unwrap_or_default()),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}
