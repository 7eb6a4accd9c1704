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

use crate::engine::collection::admission::check_listing;
use crate::engine::collection::ReadRequest;
use crate::engine::collection::View;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::{values_at, Filter};
use crate::engine::index::payload::PayloadSchemaType;

/// The `limit` most frequent values of `key` among the points `filter`
/// selects.
#[derive(Debug, Clone)]
pub struct FacetRequest {
    pub key: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    /// Counts are always exact here; strict mode may still refuse
    /// `exact: true`, as Qdrant's does.
    pub exact: bool,
}

impl ReadRequest for FacetRequest {
    /// Values with their counts.
    type Output = Vec<(Value, usize)>;

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        strict.check_search_params(None, self.exact)?;
        check_listing(
            strict,
            Some(self.limit),
            self.filter.as_ref(),
            &view.points.indexes,
        )
    }

    fn run(&self, view: View) -> Result<Self::Output> {
        view.facet(&self.key, self.filter.as_ref(), self.limit)
    }
}

impl View<'_> {
    /// The `limit` most frequent values of `key`, most frequent first, ties
    /// by value (strings and numbers in their natural order).
    pub fn facet(
        &self,
        key: &str,
        filter: Option<&Filter>,
        limit: usize,
    ) -> Result<Vec<(Value, usize)>> {
        let points = &*self.points;
        if let Some(f) = filter {
            f.validate().map_err(EngineError::from)?;
        }
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
            Some(f) => points.matching(f, None),
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
