//! Evaluation of a filter against one point: [`Filter::check`] and
//! [`Filter::check_with`], the [`PointView`] a caller provides for the
//! point and the [`FilterContext`] the collection provides (the tokenizers
//! of full-text indexes, so text conditions agree with the index).

use serde_json::Value;

use super::model::{
    AnyVariants, Condition, FieldCondition, Filter, GeoBoundingBox, GeoPolygon, GeoRadius, Match,
    RangeInterface, ValueVariants,
};
use super::path::{flatten, join_key, raw_values_at};
use super::GeoPoint;
use crate::engine::filter::datetime;
use crate::engine::filter::geo::{haversine_m, ring_contains};
use crate::engine::types::{Payload, PointId};
use crate::text::Analyzer;

/// What a filter needs to know about a point.
pub trait PointView {
    fn id(&self) -> PointId;
    fn payload(&self) -> &Payload;
    /// Whether the point has the named vector; `""` is the default
    /// (unnamed) vector.
    fn has_vector(&self, name: &str) -> bool;
}

/// Collection-level knowledge used during evaluation.
pub trait FilterContext {
    /// Tokenizer of the full-text index on `key` (the full key path, e.g.
    /// `items[].title` inside a nested filter on `items`), if there is one.
    /// Text conditions on such keys use token semantics; otherwise they are
    /// substring matches.
    fn text_tokenizer(&self, key: &str) -> Option<&Analyzer>;
}

/// A context with no payload index.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIndexes;

impl FilterContext for NoIndexes {
    fn text_tokenizer(&self, _key: &str) -> Option<&Analyzer> {
        None
    }
}

struct Eval<'a> {
    point: &'a dyn PointView,
    ctx: &'a dyn FilterContext,
    /// Inside a nested filter `has_id` and `has_vector` never match (as in
    /// Qdrant: they do not apply to array elements).
    nested: bool,
}

impl Filter {
    /// Evaluate without payload indexes (text conditions are substring
    /// matches, as in Qdrant on a non-indexed field).
    pub fn check(&self, point: &dyn PointView) -> bool {
        self.check_with(point, &NoIndexes)
    }

    /// Evaluate with the collection's context (text-index tokenizers).
    pub fn check_with(&self, point: &dyn PointView, ctx: &dyn FilterContext) -> bool {
        let ev = Eval {
            point,
            ctx,
            nested: false,
        };
        ev.filter(self, point.payload(), "")
    }
}

impl Eval<'_> {
    fn filter(&self, f: &Filter, payload: &Payload, prefix: &str) -> bool {
        if let Some(must) = &f.must {
            if !must.iter().all(|c| self.condition(c, payload, prefix)) {
                return false;
            }
        }
        if let Some(must_not) = &f.must_not {
            if must_not.iter().any(|c| self.condition(c, payload, prefix)) {
                return false;
            }
        }
        if let Some(should) = &f.should {
            // As Qdrant: an explicit empty `should` list matches nothing.
            if !should.iter().any(|c| self.condition(c, payload, prefix)) {
                return false;
            }
        }
        if let Some(ms) = &f.min_should {
            let mut hits = 0;
            for c in &ms.conditions {
                if hits >= ms.min_count {
                    break;
                }
                if self.condition(c, payload, prefix) {
                    hits += 1;
                }
            }
            if hits < ms.min_count {
                return false;
            }
        }
        true
    }

    fn condition(&self, c: &Condition, payload: &Payload, prefix: &str) -> bool {
        match c {
            Condition::Field(fc) => self.field(fc, payload, prefix),
            Condition::IsEmpty(c) => is_empty_values(&raw_values_at(payload, &c.is_empty.key)),
            Condition::IsNull(c) => is_null_values(&raw_values_at(payload, &c.is_null.key)),
            Condition::HasId(c) => !self.nested && c.contains(&self.point.id()),
            Condition::HasVector(c) => !self.nested && self.point.has_vector(&c.has_vector),
            Condition::Nested(n) => {
                let full = join_key(prefix, &n.nested.key);
                let inner_prefix = format!("{full}[]");
                let inner = Eval {
                    point: self.point,
                    ctx: self.ctx,
                    nested: true,
                };
                // Elements that are not objects are skipped, as in Qdrant.
                raw_values_at(payload, &n.nested.key)
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(Value::as_object)
                    .any(|elem| inner.filter(&n.nested.filter, elem, &inner_prefix))
            }
            Condition::Filter(f) => self.filter(f, payload, prefix),
        }
    }

    fn field(&self, fc: &FieldCondition, payload: &Payload, prefix: &str) -> bool {
        let raw = raw_values_at(payload, &fc.key);
        // As Qdrant: a missing field counts 0 values, is empty and is not
        // null; otherwise the condition holds if it holds for any of the
        // values the path reaches.
        if let Some(vc) = &fc.values_count {
            if raw.is_empty() {
                return vc.check_count(0);
            }
            return raw.iter().any(|v| vc.check_count(count_values(v)));
        }
        if let Some(want) = fc.is_empty {
            if raw.is_empty() {
                return want;
            }
            return raw.iter().any(|v| is_empty_value(v) == want);
        }
        if let Some(want) = fc.is_null {
            if raw.is_empty() {
                return !want;
            }
            return raw.iter().any(|v| is_null_value(v) == want);
        }
        if raw.is_empty() {
            return false;
        }
        let tokenizer = match &fc.r#match {
            Some(Match::Text(_) | Match::TextAny(_) | Match::Phrase(_)) => {
                self.ctx.text_tokenizer(&join_key(prefix, &fc.key))
            }
            _ => None,
        };
        let prepared = fc
            .r#match
            .as_ref()
            .map(|m| PreparedMatch::new(m, tokenizer));
        flatten(raw).into_iter().any(|v| {
            prepared.as_ref().is_some_and(|m| m.check(v))
                || fc.range.as_ref().is_some_and(|r| check_range(r, v))
                || fc
                    .geo_radius
                    .as_ref()
                    .is_some_and(|g| check_geo_radius(g, v))
                || fc
                    .geo_bounding_box
                    .as_ref()
                    .is_some_and(|g| check_geo_bbox(g, v))
                || fc
                    .geo_polygon
                    .as_ref()
                    .is_some_and(|g| check_geo_polygon(g, v))
        })
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn is_null_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(Value::is_null),
        _ => false,
    }
}

/// Missing, `null`, or `[]` everywhere the path reaches.
fn is_empty_values(raw: &[&Value]) -> bool {
    raw.iter().all(|v| is_empty_value(v))
}

/// Some value is `null` or an array holding `null`.
fn is_null_values(raw: &[&Value]) -> bool {
    raw.iter().any(|v| is_null_value(v))
}

fn count_values(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        _ => 1,
    }
}

/// A match condition with its query tokens computed once per point.
enum PreparedMatch<'a> {
    Plain(&'a Match),
    Tokens {
        tokenizer: &'a Analyzer,
        kind: TextKind,
        query: Vec<String>,
    },
}

#[derive(Clone, Copy)]
enum TextKind {
    All,
    Any,
    Phrase,
}

impl<'a> PreparedMatch<'a> {
    fn new(m: &'a Match, tokenizer: Option<&'a Analyzer>) -> Self {
        let (kind, text) = match m {
            Match::Text(t) => (TextKind::All, t),
            Match::TextAny(t) => (TextKind::Any, t),
            Match::Phrase(t) => (TextKind::Phrase, t),
            _ => return PreparedMatch::Plain(m),
        };
        match tokenizer {
            Some(tokenizer) => PreparedMatch::Tokens {
                tokenizer,
                kind,
                query: tokenizer.query_tokens(text),
            },
            None => PreparedMatch::Plain(m),
        }
    }

    fn check(&self, v: &Value) -> bool {
        match self {
            PreparedMatch::Plain(m) => check_match(m, v),
            PreparedMatch::Tokens {
                tokenizer,
                kind,
                query,
            } => {
                let Value::String(s) = v else { return false };
                if query.is_empty() {
                    return false;
                }
                match kind {
                    TextKind::All => {
                        let doc = tokenizer.index_tokens(s);
                        query.iter().all(|q| doc.contains(q))
                    }
                    TextKind::Any => {
                        let doc = tokenizer.index_tokens(s);
                        query.iter().any(|q| doc.contains(q))
                    }
                    TextKind::Phrase => {
                        let doc = tokenizer.doc_tokens(s);
                        doc.windows(query.len()).any(|w| w == query.as_slice())
                    }
                }
            }
        }
    }
}

/// Match semantics on one (flattened) value, without a text index.
pub fn check_match(m: &Match, v: &Value) -> bool {
    match m {
        Match::Value(want) => match (want, v) {
            (ValueVariants::String(w), Value::String(s)) => w == s,
            (ValueVariants::Integer(w), Value::Number(n)) => n.as_i64() == Some(*w),
            (ValueVariants::Bool(w), Value::Bool(b)) => w == b,
            _ => false,
        },
        Match::Text(t) | Match::Phrase(t) => v.as_str().is_some_and(|s| s.contains(t.as_str())),
        Match::TextAny(t) => v
            .as_str()
            .is_some_and(|s| t.split_whitespace().any(|tok| s.contains(tok))),
        Match::Any(list) => list.contains_value(v).unwrap_or(false),
        Match::Except(list) => match v {
            Value::Null => false,
            v => list.contains_value(v).map(|inside| !inside).unwrap_or(true),
        },
    }
}

fn check_range(r: &RangeInterface, v: &Value) -> bool {
    match r {
        RangeInterface::Float(r) => v.as_f64().is_some_and(|x| r.check(x)),
        RangeInterface::DateTime(r) => v
            .as_str()
            .and_then(datetime::parse_datetime)
            .is_some_and(|d| r.check(d)),
    }
}

impl GeoRadius {
    pub fn check_point(&self, p: &GeoPoint) -> bool {
        haversine_m(&self.center, p) < self.radius
    }
}

impl GeoBoundingBox {
    /// Strictly inside (points on the edges do not match, as in Qdrant); a
    /// box whose top-left longitude is east of its bottom-right longitude
    /// crosses the antimeridian.
    pub fn check_point(&self, p: &GeoPoint) -> bool {
        let (tl, br) = (&self.top_left, &self.bottom_right);
        let lon_ok = if tl.lon > br.lon {
            p.lon > tl.lon || p.lon < br.lon
        } else {
            tl.lon < p.lon && p.lon < br.lon
        };
        lon_ok && br.lat < p.lat && p.lat < tl.lat
    }

    /// The box as an inclusive rectangle (used to narrow with the index).
    pub fn rect(&self) -> crate::engine::filter::geo::LatLonRect {
        crate::engine::filter::geo::LatLonRect {
            lat_min: self.bottom_right.lat,
            lat_max: self.top_left.lat,
            lon_min: self.top_left.lon,
            lon_max: self.bottom_right.lon,
        }
    }
}

impl GeoPolygon {
    /// Inside the exterior ring and outside every interior ring.
    pub fn check_point(&self, p: &GeoPoint) -> bool {
        ring_contains(&self.exterior.points, p)
            && !self
                .interiors
                .iter()
                .flatten()
                .any(|ring| ring_contains(&ring.points, p))
    }
}

fn check_geo_radius(g: &GeoRadius, v: &Value) -> bool {
    GeoPoint::from_value(v).is_some_and(|p| g.check_point(&p))
}

fn check_geo_bbox(g: &GeoBoundingBox, v: &Value) -> bool {
    GeoPoint::from_value(v).is_some_and(|p| g.check_point(&p))
}

fn check_geo_polygon(g: &GeoPolygon, v: &Value) -> bool {
    GeoPoint::from_value(v).is_some_and(|p| g.check_point(&p))
}

/// Used by `match.any` / `match.except`: `None` when `v` is not of the
/// list's type.
impl AnyVariants {
    fn contains_value(&self, v: &Value) -> Option<bool> {
        match (self, v) {
            (AnyVariants::Strings(list), Value::String(s)) => Some(list.iter().any(|x| x == s)),
            (AnyVariants::Integers(list), Value::Number(n)) => {
                n.as_i64().map(|i| list.contains(&i))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{filter, matches, must, point, square, validate_err};
    use super::*;

    #[test]
    fn empty_filter_matches_everything() {
        assert!(matches(json!({}), json!({})));
        assert!(matches(
            json!({"must": null, "should": null}),
            json!({"a": 1})
        ));
        // Qdrant: an explicit empty `should` list matches nothing.
        assert!(!matches(json!({"should": []}), json!({"a": 1})));
        assert!(matches(
            json!({"must": [], "must_not": []}),
            json!({"a": 1})
        ));
    }

    #[test]
    fn clauses() {
        let p = json!({"city": "London", "color": "red"});
        let london = json!({"key": "city", "match": {"value": "London"}});
        let berlin = json!({"key": "city", "match": {"value": "Berlin"}});
        let red = json!({"key": "color", "match": {"value": "red"}});
        assert!(matches(json!({"must": [london, red]}), p.clone()));
        assert!(!matches(json!({"must": [london, berlin]}), p.clone()));
        assert!(matches(json!({"should": [berlin, red]}), p.clone()));
        assert!(!matches(json!({"should": [berlin]}), p.clone()));
        assert!(matches(json!({"must_not": [berlin]}), p.clone()));
        assert!(!matches(json!({"must_not": [berlin, red]}), p.clone()));
        // Single condition instead of an array.
        assert!(matches(json!({"must": london}), p.clone()));
        assert!(matches(
            json!({"min_should": {"conditions": [london, red, berlin], "min_count": 2}}),
            p.clone()
        ));
        assert!(!matches(
            json!({"min_should": {"conditions": [london, red, berlin], "min_count": 3}}),
            p.clone()
        ));
        // Nested filter as a condition.
        assert!(matches(
            json!({"must": [{"should": [berlin, london]}, {"must_not": [berlin]}]}),
            p.clone()
        ));
    }

    #[test]
    fn match_value_types() {
        let p = json!({"s": "a", "i": 3, "f": 3.0, "b": true, "arr": ["x", "y"], "n": [1, 2]});
        let m = |key: &str, v: Value| {
            matches(must(json!({"key": key, "match": {"value": v}})), p.clone())
        };
        assert!(m("s", json!("a")));
        assert!(!m("s", json!("A")));
        assert!(m("i", json!(3)));
        assert!(
            !m("f", json!(3)),
            "integer match only against integer numbers"
        );
        assert!(!m("s", json!(3)));
        assert!(m("b", json!(true)));
        assert!(!m("b", json!(false)));
        assert!(m("arr", json!("y")));
        assert!(m("n", json!(2)));
        assert!(!m("missing", json!("a")));
    }

    #[test]
    fn match_any_and_except() {
        let m = |cond: Value, p: Value| matches(must(json!({"key": "c", "match": cond})), p);
        assert!(m(json!({"any": ["red", "blue"]}), json!({"c": "red"})));
        assert!(!m(json!({"any": ["red", "blue"]}), json!({"c": "green"})));
        assert!(m(json!({"any": ["red"]}), json!({"c": ["green", "red"]})));
        assert!(m(json!({"any": [1, 2]}), json!({"c": 2})));
        assert!(!m(json!({"any": []}), json!({"c": 2})));

        assert!(m(
            json!({"except": ["black", "yellow"]}),
            json!({"c": "red"})
        ));
        assert!(!m(
            json!({"except": ["black", "yellow"]}),
            json!({"c": "black"})
        ));
        // Array: at least one value not in the list.
        assert!(m(
            json!({"except": ["black", "yellow"]}),
            json!({"c": ["black", "green"]})
        ));
        assert!(!m(
            json!({"except": ["black", "yellow"]}),
            json!({"c": ["black", "yellow"]})
        ));
        // Missing, null, empty array: no match.
        assert!(!m(json!({"except": ["black"]}), json!({})));
        assert!(!m(json!({"except": ["black"]}), json!({"c": null})));
        assert!(!m(json!({"except": ["black"]}), json!({"c": []})));
        // Other types count as "not in the list".
        assert!(m(json!({"except": ["black"]}), json!({"c": 5})));
        assert!(m(json!({"except": [1]}), json!({"c": 1.5})));
        assert!(!m(json!({"except": [1]}), json!({"c": 1})));
        assert!(m(json!({"except": [1]}), json!({"c": true})));
    }

    #[test]
    fn match_text_without_index_is_substring() {
        let p = json!({"t": "Hello wonderful world"});
        let m = |cond: Value| matches(must(json!({"key": "t", "match": cond})), p.clone());
        assert!(m(json!({"text": "wonder"})));
        assert!(m(json!({"text": "wonderful world"})));
        assert!(!m(json!({"text": "world wonderful"})));
        assert!(m(json!({"phrase": "wonderful world"})));
        assert!(m(json!({"text_any": "nothing world"})));
        assert!(!m(json!({"text_any": "nothing else"})));
    }

    #[test]
    fn ranges() {
        let r = |range: Value, p: Value| matches(must(json!({"key": "x", "range": range})), p);
        assert!(r(json!({"gt": 1}), json!({"x": 2})));
        assert!(!r(json!({"gt": 2}), json!({"x": 2})));
        assert!(r(json!({"gte": 2}), json!({"x": 2})));
        assert!(!r(json!({"lt": 2.5, "gte": 2.5}), json!({"x": [1, 2.5]})));
        assert!(r(json!({"lte": 2.5, "gte": 2.5}), json!({"x": [1, 2.5]})));
        assert!(r(json!({"lt": 0}), json!({"x": -1.5})));
        assert!(!r(json!({"lt": 0}), json!({"x": "-1"})));
        assert!(!r(json!({"lt": 0}), json!({})));
    }

    #[test]
    fn datetime_ranges() {
        let r = |range: Value, p: Value| matches(must(json!({"key": "d", "range": range})), p);
        let gte = json!({"gte": "2023-02-08T10:00:00Z", "lt": "2023-02-08T11:00:00Z"});
        assert!(r(gte.clone(), json!({"d": "2023-02-08T10:49:00Z"})));
        assert!(r(gte.clone(), json!({"d": "2023-02-08T11:49:00+01:00"})));
        assert!(!r(gte.clone(), json!({"d": "2023-02-08T10:49:00-01:00"})));
        assert!(r(gte.clone(), json!({"d": "2023-02-08 10:49:00"})));
        assert!(r(gte.clone(), json!({"d": "2023-02-08T10:00:00"})));
        assert!(!r(gte.clone(), json!({"d": "2023-02-08"})));
        assert!(r(json!({"lte": "2023-02-08"}), json!({"d": "2023-02-08"})));
        assert!(!r(
            json!({"gt": "2023-02-07T23:00:00-02:00"}),
            json!({"d": "2023-02-08"})
        ));
        // Non-datetime strings and numbers never match a datetime range.
        assert!(!r(gte.clone(), json!({"d": "yesterday"})));
        assert!(!r(gte.clone(), json!({"d": 1675850940})));
        // Arrays: any element.
        assert!(r(gte, json!({"d": ["nope", "2023-02-08T10:30:00Z"]})));
    }

    #[test]
    fn is_empty_is_null_values_count() {
        let e = |p: Value| matches(must(json!({"is_empty": {"key": "a"}})), p);
        assert!(e(json!({})));
        assert!(e(json!({"a": null})));
        assert!(e(json!({"a": []})));
        assert!(!e(json!({"a": [null]})));
        assert!(!e(json!({"a": 0})));
        assert!(!e(json!({"a": ""})));
        let n = |p: Value| matches(must(json!({"is_null": {"key": "a"}})), p);
        assert!(n(json!({"a": null})));
        assert!(n(json!({"a": [null]})));
        assert!(n(json!({"a": [1, null]})));
        assert!(!n(json!({})));
        assert!(!n(json!({"a": []})));
        assert!(!n(json!({"a": 1})));
        // Field-condition forms.
        let fe = |b: bool, p: Value| matches(must(json!({"key": "a", "is_empty": b})), p);
        assert!(fe(true, json!({})));
        assert!(fe(false, json!({"a": 1})));
        assert!(!fe(false, json!({"a": []})));
        let fnull = |b: bool, p: Value| matches(must(json!({"key": "a", "is_null": b})), p);
        assert!(fnull(true, json!({"a": null})));
        assert!(fnull(false, json!({})));
        assert!(!fnull(false, json!({"a": null})));

        let vc = |c: Value, p: Value| matches(must(json!({"key": "a", "values_count": c})), p);
        assert!(vc(json!({"gt": 1}), json!({"a": [1, 2]})));
        assert!(!vc(json!({"gt": 2}), json!({"a": [1, 2]})));
        assert!(vc(json!({"gte": 1, "lte": 1}), json!({"a": "x"})));
        assert!(vc(json!({"lt": 1}), json!({})));
        assert!(vc(json!({"lte": 0}), json!({"a": []})));
        assert!(!vc(json!({"gte": 1}), json!({})));
        // Several values reached through `[]`: any of them.
        let many = json!({"a": [{"b": [1, 2, 3]}, {"b": 4}]});
        let vcb = |c: Value| {
            matches(
                must(json!({"key": "a[].b", "values_count": c})),
                many.clone(),
            )
        };
        assert!(vcb(json!({"gte": 3})));
        assert!(vcb(json!({"lt": 2})));
        assert!(!vcb(json!({"gt": 3})));
    }

    #[test]
    fn has_id_and_has_vector() {
        let mut p = point(json!({}));
        p.id = PointId::Num(7);
        p.vectors = vec!["", "image"];
        assert!(filter(must(json!({"has_id": [1, 7]}))).check(&p));
        assert!(!filter(must(json!({"has_id": [1, 2]}))).check(&p));
        let ids: Vec<u64> = (100..200).chain([7]).collect();
        assert!(filter(must(json!({ "has_id": ids }))).check(&p));
        let u = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";
        p.id = PointId::Uuid(uuid::Uuid::parse_str(u).unwrap());
        assert!(filter(must(json!({"has_id": [u]}))).check(&p));
        assert!(filter(must(json!({"has_vector": "image"}))).check(&p));
        assert!(filter(must(json!({"has_vector": ""}))).check(&p));
        assert!(!filter(must(json!({"has_vector": "text"}))).check(&p));
    }

    #[test]
    fn nested_requires_same_element() {
        let p = json!({"dinosaurs": [
            {"name": "t-rex", "likes": "meat"},
            {"name": "diplodocus", "likes": "leaves"}
        ]});
        let plain = json!({"must": [
            {"key": "dinosaurs[].name", "match": {"value": "diplodocus"}},
            {"key": "dinosaurs[].likes", "match": {"value": "meat"}}
        ]});
        assert!(matches(plain, p.clone()));
        let nested = |inner: Value| {
            matches(
                json!({"must": [{"nested": {"key": "dinosaurs", "filter": inner}}]}),
                p.clone(),
            )
        };
        assert!(!nested(json!({"must": [
            {"key": "name", "match": {"value": "diplodocus"}},
            {"key": "likes", "match": {"value": "meat"}}
        ]})));
        assert!(nested(json!({"must": [
            {"key": "name", "match": {"value": "diplodocus"}},
            {"key": "likes", "match": {"value": "leaves"}}
        ]})));
        assert!(nested(
            json!({"must_not": [{"key": "likes", "match": {"value": "meat"}}]})
        ));
        assert!(!nested(
            json!({"must": [{"key": "name", "match": {"value": "raptor"}}]})
        ));
        // Nested inside nested, and not-an-array.
        let deep = json!({"a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 3}]}]});
        let f = json!({"must": {"nested": {"key": "a", "filter": {"must": {
            "nested": {"key": "b", "filter": {"must": {"key": "c", "match": {"value": 3}}}}
        }}}}});
        assert!(matches(f.clone(), deep));
        assert!(!matches(f, json!({"a": {"b": [{"c": 3}]}})));
        // Non-object elements are skipped.
        let only_not = json!({"must": {"nested": {"key": "a", "filter": {"must_not": {"key": "c", "match": {"value": 1}}}}}});
        assert!(!matches(only_not.clone(), json!({"a": [1, "x", null]})));
        assert!(matches(only_not, json!({"a": [1, {"c": 2}]})));
        // has_id inside nested is rejected.
        let err = validate_err(
            json!({"must": {"nested": {"key": "a", "filter": {"must": {"has_id": [1]}}}}}),
        );
        assert!(err.contains("has_id"), "{err}");
    }

    #[test]
    fn geo_conditions() {
        let berlin = json!({"loc": {"lon": 13.404954, "lat": 52.520008}});
        let both = json!({"loc": [{"lon": 37.617298, "lat": 55.755825}, {"lon": 13.404954, "lat": 52.520008}]});
        let radius = |r: f64, p: Value| {
            matches(
                must(
                    json!({"key": "loc", "geo_radius": {"center": {"lon": 13.41, "lat": 52.52}, "radius": r}}),
                ),
                p,
            )
        };
        assert!(radius(1000.0, berlin.clone()));
        assert!(!radius(100.0, berlin.clone()));
        assert!(radius(1000.0, both.clone()));
        assert!(!radius(1000.0, json!({"loc": "Berlin"})));

        let bbox = |tl: (f64, f64), br: (f64, f64), p: Value| {
            matches(
                must(json!({"key": "loc", "geo_bounding_box": {
                    "top_left": {"lon": tl.0, "lat": tl.1},
                    "bottom_right": {"lon": br.0, "lat": br.1}
                }})),
                p,
            )
        };
        assert!(bbox((13.0, 53.0), (14.0, 52.0), berlin.clone()));
        assert!(!bbox((14.0, 53.0), (15.0, 52.0), berlin.clone()));
        // Edges are outside.
        assert!(!bbox((13.404954, 53.0), (14.0, 52.0), berlin.clone()));
        // Crossing the antimeridian.
        assert!(bbox(
            (170.0, 10.0),
            (-170.0, -10.0),
            json!({"loc": {"lon": -175.0, "lat": 0.0}})
        ));
        assert!(!bbox(
            (170.0, 10.0),
            (-170.0, -10.0),
            json!({"loc": {"lon": 0.0, "lat": 0.0}})
        ));

        let poly = json!({"exterior": square(0.0, 0.0, 10.0, 10.0), "interiors": [square(4.0, 4.0, 6.0, 6.0)]});
        let inpoly = |lon: f64, lat: f64| {
            matches(
                must(json!({"key": "loc", "geo_polygon": poly.clone()})),
                json!({"loc": {"lon": lon, "lat": lat}}),
            )
        };
        assert!(inpoly(2.0, 2.0));
        assert!(!inpoly(5.0, 5.0), "inside the hole");
        assert!(!inpoly(11.0, 5.0));
        assert!(inpoly(7.0, 5.0));
    }
}
