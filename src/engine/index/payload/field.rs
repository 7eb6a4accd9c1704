//! [`FieldIndex`]: the inverted index of one payload field, one variant per
//! payload type (keyword/uuid map, integer/float/datetime B-trees, bool
//! bitmaps, geo grid, text tokens). Each answers the conditions it can
//! with a *superset* of the matching offsets and `None` for the rest.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use roaring::{MultiOps, RoaringBitmap};

use super::ordered::{bitmap_of, Column, Ordered};
use super::schema::{PayloadFieldSchema, PayloadSchemaParams, PayloadSchemaType, TextIndexParams};
use super::text::analyzer;
use super::Candidates;
use crate::engine::filter::datetime;
use crate::engine::filter::geo::{radius_bounds, ring_bounds, GeoPoint, LatLonRect};
use crate::engine::filter::{
    values_at, AnyVariants, FieldCondition, Match, Range, RangeInterface, ValueVariants,
};
use crate::engine::types::{Offset, Payload};
use crate::text::Analyzer;

/// `f64` with a total order; `-0.0` is stored as `0.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);

impl OrdF64 {
    fn new(v: f64) -> Self {
        OrdF64(if v == 0.0 { 0.0 } else { v })
    }
}

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Geo grid cell size in degrees.
const GEO_CELL_DEG: f64 = 0.1;

fn geo_cell(p: &GeoPoint) -> (i32, i32) {
    (
        (p.lat / GEO_CELL_DEG).floor() as i32,
        (p.lon / GEO_CELL_DEG).floor() as i32,
    )
}

#[derive(Debug, Clone)]
enum IndexData {
    /// Keyword and uuid: value → offsets.
    Keyword(HashMap<String, RoaringBitmap>),
    Integer {
        map: Ordered<i64>,
        /// Every number of each point, as filter evaluation reads them.
        column: Column,
        /// Points with numbers that are not i64 (floats, huge u64): they
        /// may satisfy a range, so ranges always include them.
        other_numbers: RoaringBitmap,
    },
    Float {
        map: Ordered<OrdF64>,
        column: Column,
    },
    Datetime(Ordered<i64>),
    Bool {
        yes: RoaringBitmap,
        no: RoaringBitmap,
    },
    Geo(BTreeMap<(i32, i32), RoaringBitmap>),
    Text {
        tokenizer: Analyzer,
        map: HashMap<String, RoaringBitmap>,
    },
}

/// The index of one payload field.
#[derive(Debug, Clone)]
pub struct FieldIndex {
    field: String,
    schema: PayloadFieldSchema,
    /// Offsets with at least one indexed value.
    points: RoaringBitmap,
    data: IndexData,
}

fn uuid_key(s: &str) -> String {
    match uuid::Uuid::parse_str(s) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => s.to_string(),
    }
}

fn map_insert<K: Eq + std::hash::Hash>(map: &mut HashMap<K, RoaringBitmap>, k: K, o: Offset) {
    map.entry(k).or_default().insert(o);
}

fn map_remove<K: Eq + std::hash::Hash>(map: &mut HashMap<K, RoaringBitmap>, k: &K, o: Offset) {
    if let Some(b) = map.get_mut(k) {
        b.remove(o);
        if b.is_empty() {
            map.remove(k);
        }
    }
}

fn tree_insert<K: Ord>(map: &mut BTreeMap<K, RoaringBitmap>, k: K, o: Offset) {
    map.entry(k).or_default().insert(o);
}

fn tree_remove<K: Ord>(map: &mut BTreeMap<K, RoaringBitmap>, k: &K, o: Offset) {
    if let Some(b) = map.get_mut(k) {
        b.remove(o);
        if b.is_empty() {
            map.remove(k);
        }
    }
}

/// The union of many bitmaps. Folding them with `|=` one by one copies the
/// growing result each time, and even roaring's multi-way union pays per
/// bitmap: a `match any` over a keyword with a distinct value per point
/// (SKUs) unions one small bitmap per listed value. Past a few, their
/// points are gathered directly.
fn union_of<'a>(bitmaps: impl IntoIterator<Item = &'a RoaringBitmap>) -> RoaringBitmap {
    let list: Vec<&RoaringBitmap> = bitmaps.into_iter().collect();
    if list.len() < 64 {
        return MultiOps::union(list);
    }
    bitmap_of(list.into_iter().flat_map(|b| b.iter()))
}

/// The bounds of a float range as B-tree bounds over `OrdF64` keys.
fn float_bounds(r: &Range<f64>) -> (Bound<OrdF64>, Bound<OrdF64>) {
    // Of a strict and an inclusive bound, the tighter one wins; equal
    // values make the strict one tighter.
    let tighter =
        |strict: Option<f64>, inclusive: Option<f64>, lower: bool| match (strict, inclusive) {
            (Some(s), Some(i)) if (lower && s >= i) || (!lower && s <= i) => {
                Bound::Excluded(OrdF64::new(s))
            }
            (_, Some(i)) => Bound::Included(OrdF64::new(i)),
            (Some(s), None) => Bound::Excluded(OrdF64::new(s)),
            (None, None) => Bound::Unbounded,
        };
    (tighter(r.gt, r.gte, true), tighter(r.lt, r.lte, false))
}

/// Integers up to this magnitude convert to `f64` exactly, so comparing
/// them as integers or as floats (as filter evaluation does) agrees.
const EXACT_INT: f64 = 9.0e15;

/// The integer bounds of a float range: `gt 2.5` is `>= 3`, `lt 3` is
/// `<= 2`. Exact while the bounds are below [`EXACT_INT`]; beyond, they
/// are widened and the second value says the result is only a superset.
fn integer_bounds(r: &Range<f64>) -> (Bound<i64>, Bound<i64>, bool) {
    let mut exact = true;
    // `up` rounds a lower bound up, else an upper bound down; past
    // `EXACT_INT` the bound moves outwards by a margin instead.
    let mut int = |x: f64, up: bool| -> i64 {
        let margin = if x.abs() >= EXACT_INT {
            exact = false;
            4096
        } else {
            0
        };
        if up {
            (x.ceil() as i64).saturating_sub(margin)
        } else {
            (x.floor() as i64).saturating_add(margin)
        }
    };
    let lo = [
        r.gt.map(|x| int(x, false).saturating_add(1)),
        r.gte.map(|x| int(x, true)),
    ]
    .into_iter()
    .flatten()
    .max();
    let hi = [
        r.lt.map(|x| int(x, true).saturating_sub(1)),
        r.lte.map(|x| int(x, false)),
    ]
    .into_iter()
    .flatten()
    .min();
    (
        lo.map_or(Bound::Unbounded, Bound::Included),
        hi.map_or(Bound::Unbounded, Bound::Included),
        exact,
    )
}

impl FieldIndex {
    pub fn new(field: &str, schema: PayloadFieldSchema) -> Self {
        let data = match schema.data_type() {
            PayloadSchemaType::Keyword | PayloadSchemaType::Uuid => {
                IndexData::Keyword(HashMap::new())
            }
            PayloadSchemaType::Integer => IndexData::Integer {
                map: Ordered::new(),
                column: Column::default(),
                other_numbers: RoaringBitmap::new(),
            },
            PayloadSchemaType::Float => IndexData::Float {
                map: Ordered::new(),
                column: Column::default(),
            },
            PayloadSchemaType::Datetime => IndexData::Datetime(Ordered::new()),
            PayloadSchemaType::Bool => IndexData::Bool {
                yes: RoaringBitmap::new(),
                no: RoaringBitmap::new(),
            },
            PayloadSchemaType::Geo => IndexData::Geo(BTreeMap::new()),
            PayloadSchemaType::Text => {
                let params = match schema.params() {
                    Some(PayloadSchemaParams::Text(p)) => p.clone(),
                    _ => TextIndexParams::default(),
                };
                // `create` refuses parameters the tokenizer rejects. A stored index whose stop words or stemmer
                // an older build accepted without applying them (any language but English) keeps working as
                // it did then: without them.
                let tokenizer = analyzer(&params).unwrap_or_else(|e| {
                    tracing::warn!(field, error = %e, "text index: stop words and stemmer not applied");
                    let plain = TextIndexParams {
                        stopwords: None,
                        stemmer: None,
                        ..params.clone()
                    };
                    analyzer(&plain).unwrap_or_default()
                });
                IndexData::Text {
                    tokenizer,
                    map: HashMap::new(),
                }
            }
        };
        FieldIndex {
            field: field.to_string(),
            schema,
            points: RoaringBitmap::new(),
            data,
        }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn schema(&self) -> &PayloadFieldSchema {
        &self.schema
    }

    /// Number of points with at least one indexed value.
    pub fn indexed_points(&self) -> usize {
        self.points.len() as usize
    }

    /// The tokenizer, for a text index.
    pub fn tokenizer(&self) -> Option<&Analyzer> {
        match &self.data {
            IndexData::Text { tokenizer, .. } => Some(tokenizer),
            _ => None,
        }
    }

    fn is_uuid(&self) -> bool {
        self.schema.data_type() == PayloadSchemaType::Uuid
    }

    /// Index the point's values of this field.
    pub fn add(&mut self, offset: Offset, payload: &Payload) {
        self.update(offset, payload, true)
    }

    /// Remove the point; `payload` must be the one it was added with.
    pub fn remove(&mut self, offset: Offset, payload: &Payload) {
        self.update(offset, payload, false)
    }

    fn update(&mut self, o: Offset, payload: &Payload, add: bool) {
        let values = values_at(payload, &self.field);
        let is_uuid = self.is_uuid();
        let mut any = false;
        match &mut self.data {
            IndexData::Keyword(map) => {
                for s in values.iter().filter_map(|v| v.as_str()) {
                    any = true;
                    let k = if is_uuid { uuid_key(s) } else { s.to_string() };
                    if add {
                        map_insert(map, k, o)
                    } else {
                        map_remove(map, &k, o)
                    }
                }
            }
            IndexData::Integer {
                map,
                column,
                other_numbers,
            } => {
                if add {
                    column.set(o, values.iter().filter_map(|v| v.as_f64()).collect());
                } else {
                    column.clear(o);
                }
                for n in values.iter().filter_map(|v| v.as_number()) {
                    any = true;
                    match n.as_i64() {
                        Some(i) if add => map.insert(i, o),
                        Some(i) => map.remove(i, o),
                        None if add => {
                            other_numbers.insert(o);
                        }
                        None => {
                            other_numbers.remove(o);
                        }
                    }
                }
            }
            IndexData::Float { map, column } => {
                if add {
                    column.set(o, values.iter().filter_map(|v| v.as_f64()).collect());
                } else {
                    column.clear(o);
                }
                for f in values.iter().filter_map(|v| v.as_f64()) {
                    any = true;
                    if add {
                        map.insert(OrdF64::new(f), o)
                    } else {
                        map.remove(OrdF64::new(f), o)
                    }
                }
            }
            IndexData::Datetime(map) => {
                for t in values
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(datetime::parse_micros)
                {
                    any = true;
                    if add {
                        map.insert(t, o)
                    } else {
                        map.remove(t, o)
                    }
                }
            }
            IndexData::Bool { yes, no } => {
                for b in values.iter().filter_map(|v| v.as_bool()) {
                    any = true;
                    let target = if b { &mut *yes } else { &mut *no };
                    if add {
                        target.insert(o);
                    } else {
                        target.remove(o);
                    }
                }
            }
            IndexData::Geo(map) => {
                for p in values.iter().filter_map(|v| GeoPoint::from_value(v)) {
                    if !p.lat.is_finite() || !p.lon.is_finite() {
                        continue;
                    }
                    any = true;
                    let cell = geo_cell(&p);
                    if add {
                        tree_insert(map, cell, o)
                    } else {
                        tree_remove(map, &cell, o)
                    }
                }
            }
            IndexData::Text { tokenizer, map } => {
                for s in values.iter().filter_map(|v| v.as_str()) {
                    let tokens = tokenizer.index_tokens(s);
                    any |= !tokens.is_empty();
                    for t in tokens {
                        if add {
                            map_insert(map, t, o)
                        } else {
                            map_remove(map, &t, o)
                        }
                    }
                }
            }
        }
        if add {
            if any {
                self.points.insert(o);
            }
        } else {
            self.points.remove(o);
        }
    }

    /// Superset of the offsets whose values satisfy `m`, or `None` if this
    /// index cannot answer that kind of match. Keyword (not uuid, whose keys
    /// are normalised), integer and bool matches are exact.
    pub fn match_candidates(&self, m: &Match) -> Option<Candidates> {
        let exact = matches!(
            (&self.data, m),
            (
                IndexData::Keyword(_) | IndexData::Integer { .. } | IndexData::Bool { .. },
                Match::Value(_) | Match::Any(_)
            )
        ) && !self.is_uuid();
        self.match_points(m).map(|b| Candidates::new(b, exact))
    }

    fn match_points(&self, m: &Match) -> Option<RoaringBitmap> {
        let is_uuid = self.is_uuid();
        match (&self.data, m) {
            (IndexData::Keyword(map), Match::Value(ValueVariants::String(s))) => {
                let k = if is_uuid { uuid_key(s) } else { s.clone() };
                Some(map.get(&k).cloned().unwrap_or_default())
            }
            (IndexData::Keyword(map), Match::Any(AnyVariants::Strings(list))) => {
                Some(union_of(list.iter().filter_map(|s| {
                    map.get(&if is_uuid { uuid_key(s) } else { s.clone() })
                })))
            }
            (IndexData::Integer { map, .. }, Match::Value(ValueVariants::Integer(i))) => {
                Some(map.equal(*i))
            }
            (IndexData::Integer { map, .. }, Match::Any(AnyVariants::Integers(list))) => {
                Some(MultiOps::union(list.iter().map(|i| map.equal(*i))))
            }
            (IndexData::Float { map, .. }, Match::Value(ValueVariants::Integer(i))) => {
                Some(map.equal(OrdF64::new(*i as f64)))
            }
            (IndexData::Float { map, .. }, Match::Any(AnyVariants::Integers(list))) => Some(
                MultiOps::union(list.iter().map(|i| map.equal(OrdF64::new(*i as f64)))),
            ),
            (IndexData::Bool { yes, no }, Match::Value(ValueVariants::Bool(b))) => {
                Some(if *b { yes.clone() } else { no.clone() })
            }
            (IndexData::Text { tokenizer, map }, Match::Text(t) | Match::Phrase(t)) => {
                let tokens = tokenizer.query_tokens(t);
                if tokens.is_empty() {
                    return Some(RoaringBitmap::new());
                }
                let mut out: Option<RoaringBitmap> = None;
                for tok in &tokens {
                    let b = map.get(tok).cloned().unwrap_or_default();
                    out = Some(match out {
                        None => b,
                        Some(acc) => acc & b,
                    });
                }
                out
            }
            (IndexData::Text { tokenizer, map }, Match::TextAny(t)) => {
                let mut out = RoaringBitmap::new();
                for tok in tokenizer.query_tokens(t) {
                    if let Some(b) = map.get(&tok) {
                        out |= b;
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// Superset of the offsets with a value in the range, or `None`.
    /// Number ranges are exact unless an integer field also holds
    /// non-integer numbers or values too large for `f64` to hold exactly.
    pub fn range_candidates(&self, r: &RangeInterface, budget: usize) -> Option<Candidates> {
        match (&self.data, r) {
            (IndexData::Float { map, .. }, RangeInterface::Float(r)) => {
                let (lo, hi) = float_bounds(r);
                Some(Candidates::new(map.range(lo, hi, budget)?, true))
            }
            (
                IndexData::Integer {
                    map, other_numbers, ..
                },
                RangeInterface::Float(r),
            ) => {
                // Filter evaluation compares integers as f64.
                let (lo, hi, bounds_exact) = integer_bounds(r);
                let keys_exact = [map.first_key(), map.last_key()]
                    .into_iter()
                    .flatten()
                    .all(|k| (k as f64).abs() < EXACT_INT);
                let exact = bounds_exact && keys_exact && other_numbers.is_empty();
                let points = map.range(lo, hi, budget)? | other_numbers;
                Some(Candidates::new(points, exact))
            }
            (IndexData::Datetime(map), RangeInterface::DateTime(_)) => {
                let r = r.datetime_micros()?;
                let lo = [r.gt, r.gte].into_iter().flatten().max();
                let hi = [r.lt, r.lte].into_iter().flatten().min();
                let lo = lo.map_or(Bound::Unbounded, Bound::Included);
                let hi = hi.map_or(Bound::Unbounded, Bound::Included);
                Some(Candidates::new(map.range(lo, hi, budget)?, false))
            }
            _ => None,
        }
    }

    /// Whether [`range_check`](Self::range_check) answers `r` here: a
    /// number range on an integer or float index.
    pub fn checks_range(&self, r: &RangeInterface) -> bool {
        matches!(
            (&self.data, r),
            (
                IndexData::Integer { .. } | IndexData::Float { .. },
                RangeInterface::Float(_)
            )
        )
    }

    /// Whether the point at `offset` has a number in the range, read from
    /// the index instead of the payload: exactly what filter evaluation
    /// decides. False where [`checks_range`](Self::checks_range) is.
    pub fn range_check(&self, r: &RangeInterface, offset: Offset) -> bool {
        match (&self.data, r) {
            (
                IndexData::Integer { column, .. } | IndexData::Float { column, .. },
                RangeInterface::Float(r),
            ) => column.any(offset, |v| r.check(v)),
            _ => false,
        }
    }

    /// Superset of the offsets with a geo point in the rectangle, or `None`
    /// for a non-geo index.
    pub fn geo_candidates(&self, rect: &LatLonRect) -> Option<RoaringBitmap> {
        let IndexData::Geo(map) = &self.data else {
            return None;
        };
        let eps = 1e-9;
        let mut out = RoaringBitmap::new();
        for (&(la, lo), b) in map {
            let lat0 = la as f64 * GEO_CELL_DEG - eps;
            let lat1 = (la as f64 + 1.0) * GEO_CELL_DEG + eps;
            let lon0 = lo as f64 * GEO_CELL_DEG - eps;
            let lon1 = (lo as f64 + 1.0) * GEO_CELL_DEG + eps;
            if rect.overlaps(lat0, lat1, lon0, lon1) {
                out |= b;
            }
        }
        Some(out)
    }

    /// Superset of the offsets satisfying a field condition, or `None`.
    /// Exact when the condition has one part and that part is exact.
    pub fn condition_candidates(&self, fc: &FieldCondition, budget: usize) -> Option<Candidates> {
        if fc.values_count.is_some() || fc.is_empty.is_some() || fc.is_null.is_some() {
            return None;
        }
        let inexact = |b| Candidates::new(b, false);
        let mut parts: Vec<Candidates> = Vec::new();
        if let Some(m) = &fc.r#match {
            parts.push(self.match_candidates(m)?);
        }
        if let Some(r) = &fc.range {
            parts.push(self.range_candidates(r, budget)?);
        }
        if let Some(g) = &fc.geo_radius {
            parts.push(inexact(
                self.geo_candidates(&radius_bounds(&g.center, g.radius))?,
            ));
        }
        if let Some(g) = &fc.geo_bounding_box {
            parts.push(inexact(self.geo_candidates(&g.rect())?));
        }
        if let Some(g) = &fc.geo_polygon {
            parts.push(inexact(
                self.geo_candidates(&ring_bounds(&g.exterior.points))?,
            ));
        }
        parts
            .into_iter()
            .reduce(|a, b| Candidates::new(a.points | b.points, false))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_text_index_with_unsupported_stop_words_keeps_its_tokenizer() {
        // What an older build stored: it accepted French stop words without applying them.
        let schema: super::PayloadFieldSchema = serde_json::from_value(serde_json::json!(
            {"type": "text", "tokenizer": "prefix", "min_token_len": 2, "stopwords": "french"}
        ))
        .unwrap();
        let index = super::FieldIndex::new("t", schema);
        let tokens = index.tokenizer().unwrap().index_tokens("Le soleil");
        assert!(tokens.contains("le") && tokens.contains("so"), "{tokens:?}");
    }

    #[test]
    fn union_of_many_small_bitmaps_is_the_union() {
        use roaring::RoaringBitmap;
        // Distinct values per point: thousands of one- or two-element maps.
        let maps: Vec<RoaringBitmap> = (0..5000u32)
            .map(|i| [i * 7 % 40_000, i * 13 % 40_000 + 3].into_iter().collect())
            .collect();
        let mut folded = RoaringBitmap::new();
        for m in &maps {
            folded |= m;
        }
        assert_eq!(super::union_of(&maps), folded);
        // Few, large maps take roaring's own path.
        assert_eq!(super::union_of(&maps[..10]), {
            let mut f = RoaringBitmap::new();
            maps[..10].iter().for_each(|m| f |= m);
            f
        });
        assert!(super::union_of(std::iter::empty()).is_empty());
    }

    use serde_json::{json, Value};

    use super::super::test_support::{build, cands, payloads, scan, P};
    use crate::engine::filter::Filter;

    #[test]
    fn keyword_and_uuid() {
        let u = "5C56C793-69F3-4FBF-87E6-C4BF54C28C26";
        let points = payloads(vec![
            json!({"k": "a", "u": u}),
            json!({"k": ["b", "a"], "u": "not-a-uuid"}),
            json!({"k": 5}),
            json!({}),
        ]);
        let mut idx = build(&[("k", json!("keyword")), ("u", json!("uuid"))], &points);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            Some(vec![0, 1])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "k", "match": {"any": ["b", "q"]}}})
            ),
            Some(vec![1])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "k", "match": {"except": ["b"]}}})
            ),
            None
        );
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": 5}}})),
            None
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "u", "match": {"value": u.to_lowercase()}}})
            ),
            Some(vec![0])
        );
        assert_eq!(
            cands(
                &idx,
                json!({"must": {"key": "u", "match": {"value": "not-a-uuid"}}})
            ),
            Some(vec![1])
        );
        assert_eq!(idx.get("k").unwrap().indexed_points(), 2);
        idx.on_remove(1, &points[1]);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            Some(vec![0])
        );
        assert_eq!(idx.get("k").unwrap().indexed_points(), 1);
        idx.on_insert(7, &points[1]);
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "b"}}})),
            Some(vec![7])
        );
        assert!(idx.drop("k"));
        assert!(!idx.drop("k"));
        assert_eq!(
            cands(&idx, json!({"must": {"key": "k", "match": {"value": "a"}}})),
            None
        );
    }

    #[test]
    fn integer_float_datetime_bool() {
        let points = payloads(vec![
            json!({"i": 1, "f": 1.5, "d": "2023-02-08T10:00:00Z", "b": true}),
            json!({"i": [5, 10], "f": -0.0, "d": "2023-02-08T12:00:00+01:00", "b": false}),
            json!({"i": 2.5, "f": 3, "d": "not a date", "b": [true, false]}),
            json!({"i": "7", "f": "x", "d": 5}),
        ]);
        let idx = build(
            &[
                ("i", json!("integer")),
                ("f", json!("float")),
                ("d", json!("datetime")),
                ("b", json!("bool")),
            ],
            &points,
        );
        let c = |f: Value| cands(&idx, f);
        assert_eq!(
            c(json!({"must": {"key": "i", "match": {"value": 10}}})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"must": {"key": "i", "match": {"any": [1, 5]}}})),
            Some(vec![0, 1])
        );
        // Float values in an integer field stay candidates for ranges.
        assert_eq!(
            c(json!({"must": {"key": "i", "range": {"gte": 2, "lt": 3}}})),
            Some(vec![2])
        );
        assert_eq!(
            c(json!({"must": {"key": "i", "range": {"gt": 4.5}}})),
            Some(vec![1, 2])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"gte": 0}}})),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"lte": 0}}})),
            Some(vec![1])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "range": {"gt": 5, "lt": 1}}})),
            Some(vec![])
        );
        assert_eq!(
            c(json!({"must": {"key": "f", "match": {"value": 3}}})),
            Some(vec![2])
        );
        assert_eq!(
            c(json!({"must": {"key": "d", "range": {"gte": "2023-02-08T10:30:00Z"}}})),
            Some(vec![1])
        );
        assert_eq!(c(json!({"must": {"key": "d", "range": {"gte": 5}}})), None);
        assert_eq!(
            c(json!({"must": {"key": "b", "match": {"value": false}}})),
            Some(vec![1, 2])
        );
        assert_eq!(idx.get("i").unwrap().indexed_points(), 3);
        assert_eq!(idx.get("d").unwrap().indexed_points(), 2);
        // Cross-check against a scan.
        for f in [
            json!({"must": {"key": "i", "range": {"gt": 4.5}}}),
            json!({"must": {"key": "f", "range": {"gte": 0}}}),
            json!({"must": {"key": "d", "range": {"lt": "2023-02-08T11:30:00+01:00"}}}),
        ] {
            let parsed: Filter = serde_json::from_value(f.clone()).unwrap();
            let got: Vec<u32> = idx
                .candidates(&parsed)
                .unwrap()
                .points
                .iter()
                .filter(|o| parsed.check(&P(*o, &points[*o as usize])))
                .collect();
            assert_eq!(got, scan(&idx, &points, &parsed), "{f}");
        }
    }

    #[test]
    fn geo_index() {
        let points = payloads(vec![
            json!({"loc": {"lon": 13.404954, "lat": 52.520008}}),
            json!({"loc": {"lon": 37.617298, "lat": 55.755825}}),
            json!({"loc": [{"lon": 2.35, "lat": 48.85}, {"lon": 179.99, "lat": 0.0}]}),
            json!({"loc": "nowhere"}),
        ]);
        let idx = build(&[("loc", json!("geo"))], &points);
        assert_eq!(idx.get("loc").unwrap().indexed_points(), 3);
        let check = |f: Value, expect_cands_contains: &[u32]| {
            let parsed: Filter = serde_json::from_value(f.clone()).unwrap();
            let c = idx.candidates(&parsed).unwrap();
            for o in expect_cands_contains {
                assert!(c.contains(*o), "{f}: {o}");
            }
            let exact: Vec<u32> = c
                .points
                .iter()
                .filter(|o| parsed.check(&P(*o, &points[*o as usize])))
                .collect();
            assert_eq!(exact, scan(&idx, &points, &parsed), "{f}");
            assert!(c.len() < 4);
        };
        check(
            json!({"must": {"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 5000}}}),
            &[0],
        );
        check(
            json!({"must": {"key": "loc", "geo_radius": {"center": {"lon": -179.99, "lat": 0.0}, "radius": 5000}}}),
            &[2],
        );
        check(
            json!({"must": {"key": "loc", "geo_bounding_box": {"top_left": {"lon": 170, "lat": 1}, "bottom_right": {"lon": -170, "lat": -1}}}}),
            &[2],
        );
        check(
            json!({"must": {"key": "loc", "geo_polygon": {"exterior": {"points": [
                {"lon": 0, "lat": 40}, {"lon": 40, "lat": 40}, {"lon": 40, "lat": 60}, {"lon": 0, "lat": 60}, {"lon": 0, "lat": 40}
            ]}}}}),
            &[0, 1, 2],
        );
    }

    #[test]
    fn text_index_tokens_and_phrase() {
        let points = payloads(vec![
            json!({"t": "The quick brown fox"}),
            json!({"t": "Brown quick dogs"}),
            json!({"t": ["nothing here", "QUICK thinking"]}),
        ]);
        let idx = build(
            &[(
                "t",
                json!({"type": "text", "tokenizer": "word", "stopwords": "english"}),
            )],
            &points,
        );
        let run = |m: Value| {
            let f: Filter =
                serde_json::from_value(json!({"must": {"key": "t", "match": m}})).unwrap();
            let c: Vec<u32> = idx.candidates(&f).unwrap().points.iter().collect();
            let exact: Vec<u32> = c
                .iter()
                .copied()
                .filter(|o| f.check_with(&P(*o, &points[*o as usize]), &idx))
                .collect();
            assert_eq!(exact, scan(&idx, &points, &f));
            exact
        };
        assert_eq!(run(json!({"text": "quick brown"})), vec![0, 1]);
        assert_eq!(run(json!({"text": "QUICK"})), vec![0, 1, 2]);
        assert_eq!(
            run(json!({"text": "quick the"})),
            vec![0, 1, 2],
            "stopword ignored"
        );
        assert_eq!(run(json!({"phrase": "quick brown"})), vec![0]);
        assert_eq!(run(json!({"phrase": "brown quick"})), vec![1]);
        assert_eq!(run(json!({"text_any": "fox thinking"})), vec![0, 2]);
        assert_eq!(
            run(json!({"text": "qui"})),
            Vec::<u32>::new(),
            "word tokenizer: no partial words"
        );
        // Without the index (plain check) it is a substring match.
        let f: Filter =
            serde_json::from_value(json!({"must": {"key": "t", "match": {"text": "qui"}}}))
                .unwrap();
        assert!(f.check(&P(0, &points[0])));
    }
}
