//! Payload indexes: per-field inverted indexes keyed by [`Offset`], and the
//! planner that uses them to narrow a [`Filter`] to candidate offsets.
//!
//! The planner only ever returns a *superset* of the matching offsets: the
//! caller re-checks the full filter on every candidate (with
//! [`Filter::check_with`], passing the [`PayloadIndexes`] as the
//! [`FilterContext`] so full-text conditions use the index's tokenizer).
//!
//! Every index reads the values of its field with
//! [`values_at`](super::filter::values_at), the same function filter
//! evaluation uses, and ignores values of other types.
//!
//! # Layout
//! - `schema.rs`: Qdrant's `field_schema` / `payload_schema` types;
//! - `text.rs`: the full-text tokenizer (shared with filter evaluation);
//! - `field.rs`: the index of one field, one variant per payload type;
//! - this file: [`PayloadIndexes`], the collection's set of field indexes,
//!   and the planner that turns a [`Filter`] into candidates;
//! - `oracle.rs` (tests only): property tests checking the planner against
//!   a full scan.
//!
//! Everything public is re-exported here, so callers keep using
//! `engine::payload_index::X` whatever file `X` lives in.

mod field;
mod schema;
mod text;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod test_support;

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

pub use field::FieldIndex;
pub use schema::{
    BoolIndexParams, DatetimeIndexParams, FloatIndexParams, GeoIndexParams, IntegerIndexParams,
    KeywordIndexParams, PayloadFieldSchema, PayloadIndexInfo, PayloadSchemaParams,
    PayloadSchemaType, StopwordsInterface, TextIndexParams, TokenizerType, UuidIndexParams,
};
pub use text::TextTokenizer;

use super::filter::{parse_path, Condition, Filter, FilterContext};
use super::types::{Offset, Payload};

/// All payload indexes of a collection.
#[derive(Debug, Clone, Default)]
pub struct PayloadIndexes {
    fields: BTreeMap<String, FieldIndex>,
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn intersect(acc: Option<RoaringBitmap>, b: RoaringBitmap) -> Option<RoaringBitmap> {
    Some(match acc {
        None => b,
        Some(a) => a & b,
    })
}

impl PayloadIndexes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Create (or replace) the index of `field` and fill it from the live
    /// points.
    pub fn create<'a>(
        &mut self,
        field: &str,
        schema: PayloadFieldSchema,
        live_points: impl Iterator<Item = (Offset, &'a Payload)>,
    ) -> Result<(), String> {
        if field.trim().is_empty() {
            return Err("field_name must not be empty".to_string());
        }
        parse_path(field)?;
        let mut index = FieldIndex::new(field, schema);
        for (o, p) in live_points {
            index.add(o, p);
        }
        self.fields.insert(field.to_string(), index);
        Ok(())
    }

    /// Drop the index of `field`; false if there was none.
    pub fn drop(&mut self, field: &str) -> bool {
        self.fields.remove(field).is_some()
    }

    pub fn get(&self, field: &str) -> Option<&FieldIndex> {
        self.fields.get(field)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &PayloadFieldSchema)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.schema()))
    }

    pub fn on_insert(&mut self, offset: Offset, payload: &Payload) {
        for index in self.fields.values_mut() {
            index.add(offset, payload);
        }
    }

    /// `payload` must be the payload the point was inserted with.
    pub fn on_remove(&mut self, offset: Offset, payload: &Payload) {
        for index in self.fields.values_mut() {
            index.remove(offset, payload);
        }
    }

    /// `payload_schema` of collection info: field → type, params, points.
    pub fn schema_info(&self) -> BTreeMap<String, PayloadIndexInfo> {
        self.fields
            .iter()
            .map(|(k, idx)| {
                (
                    k.clone(),
                    PayloadIndexInfo {
                        data_type: idx.schema().data_type(),
                        params: idx.schema().params().cloned(),
                        points: idx.indexed_points(),
                    },
                )
            })
            .collect()
    }

    /// A superset of the offsets (among indexed, live points) that match
    /// `filter`, or `None` when the indexes cannot narrow it. `must`
    /// intersects its narrowable conditions; `should` and `min_should`
    /// narrow only when every one of their conditions is narrowable;
    /// `must_not` is never used.
    pub fn candidates(&self, filter: &Filter) -> Option<RoaringBitmap> {
        self.filter_candidates(filter, "", usize::MAX)
    }

    /// As [`candidates`](Self::candidates), but a range condition spanning
    /// more than `budget` distinct indexed values counts as not narrowable.
    /// Each value is a separate bitmap in memory, and a wide range over a
    /// field with a value per point (a price, a timestamp) would touch tens
    /// of thousands of them: ~10 ms per query at 100k points, where the
    /// search itself takes one. A search that would then scan at least
    /// `budget` points checks the filter point by point instead.
    pub fn candidates_within(&self, filter: &Filter, budget: usize) -> Option<RoaringBitmap> {
        self.filter_candidates(filter, "", budget)
    }

    /// Estimated number of matching points out of `total`.
    pub fn estimate(&self, filter: &Filter, total: usize) -> usize {
        match self.candidates(filter) {
            Some(b) => (b.len() as usize).min(total),
            None => total,
        }
    }

    fn filter_candidates(&self, f: &Filter, prefix: &str, budget: usize) -> Option<RoaringBitmap> {
        let mut acc: Option<RoaringBitmap> = None;
        for c in f.must.iter().flatten() {
            if let Some(b) = self.condition_candidates(c, prefix, budget) {
                acc = intersect(acc, b);
            }
        }
        if let Some(should) = &f.should {
            if let Some(b) = self.union_all(should, prefix, budget) {
                acc = intersect(acc, b);
            }
        }
        if let Some(ms) = &f.min_should {
            if ms.min_count > 0 {
                if let Some(b) = self.union_all(&ms.conditions, prefix, budget) {
                    acc = intersect(acc, b);
                }
            }
        }
        acc
    }

    /// Union of the candidates of every condition, if all are narrowable
    /// (empty for no condition: an empty `should` matches nothing).
    fn union_all(
        &self,
        conditions: &[Condition],
        prefix: &str,
        budget: usize,
    ) -> Option<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        for c in conditions {
            out |= self.condition_candidates(c, prefix, budget)?;
        }
        Some(out)
    }

    fn condition_candidates(
        &self,
        c: &Condition,
        prefix: &str,
        budget: usize,
    ) -> Option<RoaringBitmap> {
        match c {
            Condition::Field(fc) => self
                .fields
                .get(&join_key(prefix, &fc.key))?
                .condition_candidates(fc, budget),
            Condition::Filter(f) => self.filter_candidates(f, prefix, budget),
            Condition::Nested(n) => {
                let inner = format!("{}[]", join_key(prefix, &n.nested.key));
                self.filter_candidates(&n.nested.filter, &inner, budget)
            }
            Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_) => None,
        }
    }
}

impl FilterContext for PayloadIndexes {
    fn text_tokenizer(&self, key: &str) -> Option<&TextTokenizer> {
        self.fields.get(key)?.tokenizer()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::test_support::{build, cands, payloads, scan, P};
    use super::*;

    #[test]
    fn schema_info_shape() {
        let points = payloads(vec![
            json!({"a": "x", "t": "hello"}),
            json!({"a": ["y", "z"]}),
            json!({"b": 1}),
        ]);
        let idx = build(
            &[
                ("a", json!("keyword")),
                ("t", json!({"type": "text", "tokenizer": "word"})),
            ],
            &points,
        );
        let info = serde_json::to_value(idx.schema_info()).unwrap();
        assert_eq!(
            info,
            json!({
                "a": {"data_type": "keyword", "points": 2},
                "t": {"data_type": "text", "params": {"type": "text", "tokenizer": "word"}, "points": 1}
            })
        );
    }

    #[test]
    fn planner_combinations() {
        let points = payloads(vec![
            json!({"k": "a", "i": 1, "n": [{"x": "p", "y": 1}, {"x": "q", "y": 2}]}),
            json!({"k": "b", "i": 2, "n": [{"x": "p", "y": 2}]}),
            json!({"k": "c", "i": 3}),
        ]);
        let idx = build(
            &[
                ("k", json!("keyword")),
                ("i", json!("integer")),
                ("n[].x", json!("keyword")),
            ],
            &points,
        );
        let c = |f: Value| cands(&idx, f);
        let ka = json!({"key": "k", "match": {"value": "a"}});
        let kb = json!({"key": "k", "match": {"value": "b"}});
        let i_ge2 = json!({"key": "i", "range": {"gte": 2}});
        let unindexed = json!({"key": "z", "match": {"value": 1}});
        assert_eq!(c(json!({"must": [ka, i_ge2]})), Some(vec![]));
        assert_eq!(c(json!({"must": [kb, i_ge2]})), Some(vec![1]));
        assert_eq!(c(json!({"must": [kb, unindexed]})), Some(vec![1]));
        assert_eq!(c(json!({"must": [unindexed]})), None);
        assert_eq!(c(json!({"should": [ka, kb]})), Some(vec![0, 1]));
        assert_eq!(c(json!({"should": [ka, unindexed]})), None);
        assert_eq!(c(json!({"must_not": [ka]})), None);
        assert_eq!(c(json!({"should": []})), Some(vec![]));
        assert_eq!(
            c(json!({"must": [{"should": [ka, kb]}, i_ge2]})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"min_should": {"conditions": [ka, kb, i_ge2], "min_count": 2}})),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            c(
                json!({"must": {"nested": {"key": "n", "filter": {"must": {"key": "x", "match": {"value": "q"}}}}}})
            ),
            Some(vec![0])
        );
        let f: Filter = serde_json::from_value(json!({"must": [kb]})).unwrap();
        assert_eq!(idx.estimate(&f, 3), 1);
        assert_eq!(idx.estimate(&Filter::default(), 3), 3);
    }

    #[test]
    fn nested_text_uses_index_tokenizer() {
        let points = payloads(vec![
            json!({"docs": [{"title": "Quick brown fox"}, {"title": "lazy dog"}]}),
            json!({"docs": [{"title": "quickly"}]}),
        ]);
        let idx = build(&[("docs[].title", json!("text"))], &points);
        let f: Filter =
            serde_json::from_value(json!({"must": {"nested": {"key": "docs", "filter": {
            "must": {"key": "title", "match": {"text": "quick"}}}}}}))
            .unwrap();
        // With the index: whole tokens; without: substring.
        assert_eq!(scan(&idx, &points, &f), vec![0]);
        assert!(f.check(&P(1, &points[1])));
        assert_eq!(
            idx.candidates(&f).unwrap().iter().collect::<Vec<_>>(),
            vec![0]
        );
    }
}
