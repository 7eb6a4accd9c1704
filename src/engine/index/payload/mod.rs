//! Payload indexes: per-field inverted indexes keyed by [`Offset`], and the
//! planner that uses them to narrow a [`Filter`] to candidate offsets.
//!
//! The planner returns a *superset* of the matching offsets, and says
//! whether it is exact: the matching set itself. Inexact candidates are
//! re-checked against the full filter (with [`Filter::check_with`],
//! passing the [`PayloadIndexes`] as the [`FilterContext`] so full-text
//! conditions use the index's tokenizer); exact ones need no payload read,
//! which is what makes a filtered graph search or a filtered scan cheap.
//! Only conditions whose index answers exactly what evaluation would
//! (keywords, integers, bools, number ranges) are exact; the oracle checks
//! both properties.
//!
//! Every index reads the values of its field with
//! [`values_at`](super::filter::values_at), the same function filter
//! evaluation uses, and ignores values of other types.
//!
//! # Layout
//! - `schema.rs`: Qdrant's `field_schema` / `payload_schema` types;
//! - `text.rs`: a text index's analyzer ([`crate::text::Analyzer`], shared with filter
//!   evaluation), from its parameters;
//! - `field.rs`: the index of one field, one variant per payload type;
//! - `ordered.rs`: sorted (value, point) pairs for numbers and datetimes;
//! - this file: [`PayloadIndexes`], the collection's set of field indexes,
//!   and the planner that turns a [`Filter`] into candidates;
//! - `oracle.rs` (tests only): property tests checking the planner against
//!   a full scan.
//!
//! Everything public is re-exported here, so callers keep using
//! `engine::payload_index::X` whatever file `X` lives in.

mod field;
mod ordered;
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

use crate::engine::filter::{
    parse_path, Condition, FieldCondition, Filter, FilterContext, RangeInterface,
};
use crate::engine::types::{InvalidValue, Offset, Payload};
use crate::text::Analyzer;

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

/// What the indexes know about the points matching a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// A superset of the matching points (all indexed, so live).
    pub points: RoaringBitmap,
    /// Whether `points` is exactly the matching set.
    pub exact: bool,
}

impl Candidates {
    pub(crate) fn new(points: RoaringBitmap, exact: bool) -> Self {
        Candidates { points, exact }
    }

    /// Whether the point at `offset` may match; when the candidates are
    /// exact, whether it matches.
    pub fn contains(&self, offset: Offset) -> bool {
        self.points.contains(offset)
    }

    pub fn len(&self) -> usize {
        self.points.len() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// A filter answered point by point from the indexes, without payloads:
/// see [`PayloadIndexes::point_check`].
pub struct PointCheck<'a> {
    ranges: Vec<(&'a FieldIndex, &'a RangeInterface)>,
}

impl PointCheck<'_> {
    /// Whether the point at `offset` matches the filter.
    pub fn matches(&self, offset: Offset) -> bool {
        self.ranges
            .iter()
            .all(|(index, r)| index.range_check(r, offset))
    }
}

fn intersect(acc: Option<Candidates>, b: Candidates) -> Option<Candidates> {
    Some(match acc {
        None => b,
        Some(a) => Candidates::new(a.points & b.points, a.exact && b.exact),
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
    ) -> Result<(), InvalidValue> {
        if field.trim().is_empty() {
            return Err("field_name must not be empty".into());
        }
        parse_path(field).map_err(|e| InvalidValue(e.to_string()))?;
        if let Some(PayloadSchemaParams::Text(params)) = schema.params() {
            text::analyzer(params).map_err(|e| InvalidValue(e.to_string()))?;
        }
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
    pub fn candidates(&self, filter: &Filter) -> Option<Candidates> {
        self.filter_candidates(filter, "", usize::MAX)
    }

    /// As [`candidates`](Self::candidates), but a range condition holding
    /// more than `budget` points counts as not narrowable: gathering a
    /// range costs time per point in it, and a search that keeps most
    /// points is cheaper checking the few it visits one by one.
    pub fn candidates_within(&self, filter: &Filter, budget: usize) -> Option<Candidates> {
        self.filter_candidates(filter, "", budget)
    }

    /// The filter as a check of one point against index columns, when it
    /// is a plain `must` list of number ranges on indexed fields (the
    /// shape of a price or date filter). A graph walk under a filter too
    /// wide to gather as candidates checks each visited point this way.
    pub fn point_check<'a>(&'a self, filter: &'a Filter) -> Option<PointCheck<'a>> {
        let only_must = filter.should.is_none()
            && filter.min_should.is_none()
            && filter.must_not.as_ref().is_none_or(|m| m.is_empty());
        let must = filter.must.as_ref()?;
        if !only_must || must.is_empty() {
            return None;
        }
        let ranges = must
            .iter()
            .map(|c| match c {
                Condition::Field(
                    fc @ FieldCondition {
                        range: Some(r),
                        r#match: None,
                        geo_bounding_box: None,
                        geo_radius: None,
                        geo_polygon: None,
                        values_count: None,
                        is_empty: None,
                        is_null: None,
                        ..
                    },
                ) => {
                    let index = self.fields.get(&fc.key)?;
                    index.checks_range(r).then_some((index, r))
                }
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(PointCheck { ranges })
    }

    /// Estimated number of matching points out of `total`.
    pub fn estimate(&self, filter: &Filter, total: usize) -> usize {
        match self.candidates(filter) {
            Some(c) => c.len().min(total),
            None => total,
        }
    }

    fn filter_candidates(&self, f: &Filter, prefix: &str, budget: usize) -> Option<Candidates> {
        let mut acc: Option<Candidates> = None;
        // Whether every clause was narrowed exactly; a clause the indexes
        // cannot narrow leaves a superset.
        let mut exact = f.must_not.as_ref().is_none_or(|m| m.is_empty());
        for c in f.must.iter().flatten() {
            match self.condition_candidates(c, prefix, budget) {
                Some(b) => acc = intersect(acc, b),
                None => exact = false,
            }
        }
        if let Some(should) = &f.should {
            match self.union_all(should, prefix, budget) {
                Some(b) => acc = intersect(acc, b),
                None => exact = false,
            }
        }
        if let Some(ms) = &f.min_should {
            if ms.min_count > 0 {
                match self.union_all(&ms.conditions, prefix, budget) {
                    // Two or more of them: the union is only a superset.
                    Some(b) => {
                        exact &= ms.min_count == 1;
                        acc = intersect(acc, b);
                    }
                    None => exact = false,
                }
            }
        }
        acc.map(|c| Candidates::new(c.points, c.exact && exact))
    }

    /// Union of the candidates of every condition, if all are narrowable
    /// (empty for no condition: an empty `should` matches nothing).
    fn union_all(
        &self,
        conditions: &[Condition],
        prefix: &str,
        budget: usize,
    ) -> Option<Candidates> {
        let mut out = Candidates::new(RoaringBitmap::new(), true);
        for c in conditions {
            let b = self.condition_candidates(c, prefix, budget)?;
            out.points |= b.points;
            out.exact &= b.exact;
        }
        Some(out)
    }

    fn condition_candidates(
        &self,
        c: &Condition,
        prefix: &str,
        budget: usize,
    ) -> Option<Candidates> {
        match c {
            Condition::Field(fc) => self
                .fields
                .get(&join_key(prefix, &fc.key))?
                .condition_candidates(fc, budget),
            Condition::Filter(f) => self.filter_candidates(f, prefix, budget),
            // Conditions on one array element each: per-field candidates
            // ignore which element matched, so never exact.
            Condition::Nested(n) => {
                let inner = format!("{}[]", join_key(prefix, &n.nested.key));
                self.filter_candidates(&n.nested.filter, &inner, budget)
                    .map(|c| Candidates::new(c.points, false))
            }
            Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_) => None,
        }
    }
}

impl FilterContext for PayloadIndexes {
    fn text_tokenizer(&self, key: &str) -> Option<&Analyzer> {
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
    fn exact_only_where_the_index_answers_what_evaluation_would() {
        let points = payloads(vec![
            json!({"k": "a", "i": 1, "f": 0.5, "t": "quick fox", "n": [{"x": "p"}]}),
            json!({"k": "b", "i": 2, "f": 1.5, "mixed": 2.5}),
            json!({"k": "c", "i": 3, "mixed": 3}),
        ]);
        let idx = build(
            &[
                ("k", json!("keyword")),
                ("i", json!("integer")),
                ("f", json!("float")),
                ("t", json!("text")),
                ("mixed", json!("integer")),
                ("n[].x", json!("keyword")),
            ],
            &points,
        );
        let exact = |f: Value| {
            let parsed: Filter = serde_json::from_value(f.clone()).unwrap();
            let c = idx.candidates(&parsed).unwrap_or_else(|| panic!("{f}"));
            if c.exact {
                assert_eq!(
                    c.points.iter().collect::<Vec<_>>(),
                    scan(&idx, &points, &parsed),
                    "{f}"
                );
            }
            c.exact
        };
        let ka = json!({"key": "k", "match": {"value": "a"}});
        let kb = json!({"key": "k", "match": {"any": ["b"]}});
        let i_gt = json!({"key": "i", "range": {"gt": 1.5, "lte": 3}});
        let f_lt = json!({"key": "f", "range": {"lt": 1.5}});
        assert!(exact(json!({"must": [ka]})));
        assert!(exact(json!({"must": [kb, i_gt]})));
        assert!(exact(json!({"must": [f_lt]})));
        assert!(exact(json!({"should": [ka, kb]})));
        assert!(exact(json!({"must": [{"should": [ka, i_gt]}]})));
        assert!(exact(
            json!({"min_should": {"conditions": [ka, kb], "min_count": 1}})
        ));
        // Supersets: a clause left unnarrowed, semantics the index does
        // not track, or a field holding non-integers.
        assert!(!exact(json!({"must": [ka], "must_not": [kb]})));
        assert!(!exact(
            json!({"must": [ka, {"key": "zz", "match": {"value": 1}}]})
        ));
        assert!(!exact(
            json!({"min_should": {"conditions": [ka, kb, i_gt], "min_count": 2}})
        ));
        assert!(!exact(
            json!({"must": [{"key": "t", "match": {"text": "fox"}}]})
        ));
        assert!(!exact(
            json!({"must": [{"key": "mixed", "range": {"gte": 2}}]})
        ));
        assert!(!exact(
            json!({"must": {"nested": {"key": "n", "filter": {"must": {"key": "x", "match": {"value": "p"}}}}}})
        ));
    }

    #[test]
    fn point_checks_answer_number_ranges_from_the_index() {
        let points = payloads(vec![
            json!({"i": 1, "f": 0.5}),
            json!({"i": [2, 7], "f": 1.5}),
            json!({"i": 2.5, "f": [3, -1]}),
            json!({"i": "x"}),
            json!({}),
        ]);
        let idx = build(
            &[
                ("i", json!("integer")),
                ("f", json!("float")),
                ("k", json!("keyword")),
            ],
            &points,
        );
        let check = |f: Value| -> Option<Vec<u32>> {
            let parsed: Filter = serde_json::from_value(f).unwrap();
            let check = idx.point_check(&parsed)?;
            let found: Vec<u32> = (0..points.len() as u32)
                .filter(|o| check.matches(*o))
                .collect();
            assert_eq!(found, scan(&idx, &points, &parsed));
            Some(found)
        };
        let i_range = json!({"key": "i", "range": {"gt": 1, "lt": 3}});
        let f_range = json!({"key": "f", "range": {"gte": 0}});
        assert_eq!(check(json!({"must": [i_range]})), Some(vec![1, 2]));
        assert_eq!(check(json!({"must": [i_range, f_range]})), Some(vec![1, 2]));
        assert_eq!(
            check(json!({"must": [{"key": "f", "range": {"lt": 0}}]})),
            Some(vec![2])
        );
        // Anything else is left to the payload.
        assert_eq!(check(json!({"should": [i_range]})), None);
        assert_eq!(
            check(json!({"must": [i_range], "must_not": [f_range]})),
            None
        );
        assert_eq!(
            check(json!({"must": [{"key": "k", "match": {"value": "a"}}]})),
            None
        );
        assert_eq!(
            check(json!({"must": [{"key": "zz", "range": {"gt": 1}}]})),
            None
        );
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
            idx.candidates(&f)
                .unwrap()
                .points
                .iter()
                .collect::<Vec<_>>(),
            vec![0]
        );
    }
}
