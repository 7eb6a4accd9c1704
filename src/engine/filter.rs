//! Qdrant's filter model (`Filter`, `Condition`, ...) and its evaluation
//! against a point's payload.
//!
//! Deserialization accepts exactly Qdrant's JSON and fails with a message
//! naming what is wrong; [`Filter::validate`] then catches the semantic
//! errors serde cannot (a range without bounds, out-of-range coordinates,
//! an open polygon, ...). Evaluation is [`Filter::check`] (no payload
//! indexes: full-text conditions are substring matches) or
//! [`Filter::check_with`] (a [`FilterContext`], usually the collection's
//! payload indexes, supplies the tokenizer of full-text indexed fields).
//!
//! # Semantics (Qdrant 1.18)
//! - `must`: all conditions; `must_not`: none; `should`: at least one
//!   (as in Qdrant, an explicit empty `should: []` matches nothing, while a
//!   missing or `null` one adds no constraint); `min_should`: at least
//!   `min_count` of its conditions. An empty filter (`{}`) matches every
//!   point.
//! - Keys are JSON paths: `a.b`, `a[].b` (every element of the array `a`),
//!   `a[0].b` (one element), `"a.b".c` (quoted key). As in Qdrant, a plain
//!   key does not step into an array: `a.b` finds nothing when `a` is an
//!   array; write `a[].b`. A value found at the end of the path that is an
//!   array is matched element-wise: the condition holds when any element
//!   matches (see [`values_at`]).
//! - `match.value`: string equality, integer equality only against integer
//!   JSON numbers (`1.0` does not match `1`), or bool equality.
//! - `match.except`: like Qdrant, holds when at least one value is *not* in
//!   the list. A missing field, `null` or an empty array does not match.
//!   Values of another type than the list (a bool, an object, a float when
//!   the list holds integers, a string when it holds integers, a nested
//!   array) count as "not in the list" and so match.
//! - `is_empty`: the field is missing, `null` or `[]` (for every value the
//!   path reaches). `is_null`: some value is `null` or an array holding a
//!   `null` (so `[null]` and `[1, null]` are null, `[]` is not).
//! - `values_count`: the number of values: an array counts its elements, a
//!   scalar counts 1, a missing field counts 0. When the path reaches
//!   several values (`a[].b`), the condition holds if it holds for any one
//!   of them (Qdrant's behaviour).
//! - `nested {key, filter}`: some element of the array at `key` that is an
//!   object satisfies the whole inner filter (keys relative to the
//!   element); non-object elements are skipped; `has_id` is rejected inside.
//! - A field condition carrying several of `match`/`range`/geo holds when
//!   any of them does (Qdrant's behaviour); `values_count`, `is_empty`,
//!   `is_null` take precedence in that order when present.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::datetime;
pub use super::geo::GeoPoint;
use super::geo::{haversine_m, ring_contains};
use super::payload_index::TextTokenizer;
use super::types::{Payload, PointId};

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// A Qdrant filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must: Option<Vec<Condition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub should: Option<Vec<Condition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must_not: Option<Vec<Condition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
}

/// At least `min_count` of `conditions` must hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

/// One condition of a filter clause.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Condition {
    Field(FieldCondition),
    IsEmpty(IsEmptyCondition),
    IsNull(IsNullCondition),
    HasId(HasIdCondition),
    HasVector(HasVectorCondition),
    Nested(NestedCondition),
    Filter(Filter),
}

/// `{"key": ..., "match" | "range" | "geo_*" | "values_count" | "is_empty" | "is_null": ...}`
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FieldCondition {
    pub key: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeInterface>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_bounding_box: Option<GeoBoundingBox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<GeoRadius>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_polygon: Option<GeoPolygon>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_count: Option<ValuesCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_empty: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_null: Option<bool>,
}

/// The `match` part of a field condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// `{"value": "x" | 1 | true}`
    Value(ValueVariants),
    /// `{"text": "..."}`: full-text match (all tokens / substring).
    Text(String),
    /// `{"text_any": "..."}`: full-text match of at least one token.
    TextAny(String),
    /// `{"phrase": "..."}`: tokens consecutive and in order.
    Phrase(String),
    /// `{"any": [...]}`
    Any(AnyVariants),
    /// `{"except": [...]}`
    Except(AnyVariants),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ValueVariants {
    String(String),
    Integer(i64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnyVariants {
    Strings(Vec<String>),
    Integers(Vec<i64>),
}

/// Numeric or datetime range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RangeInterface {
    Float(Range<f64>),
    DateTime(Range<DateTime<Utc>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gte: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lte: Option<T>,
}

impl<T> Default for Range<T> {
    fn default() -> Self {
        Range {
            lt: None,
            gt: None,
            gte: None,
            lte: None,
        }
    }
}

impl<T: PartialOrd + Copy> Range<T> {
    pub fn check(&self, v: T) -> bool {
        self.lt.is_none_or(|b| v < b)
            && self.gt.is_none_or(|b| v > b)
            && self.lte.is_none_or(|b| v <= b)
            && self.gte.is_none_or(|b| v >= b)
    }

    pub fn has_bound(&self) -> bool {
        self.lt.is_some() || self.gt.is_some() || self.gte.is_some() || self.lte.is_some()
    }

    pub fn map<U>(&self, f: impl Fn(T) -> U) -> Range<U> {
        Range {
            lt: self.lt.map(&f),
            gt: self.gt.map(&f),
            gte: self.gte.map(&f),
            lte: self.lte.map(&f),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoBoundingBox {
    pub top_left: GeoPoint,
    pub bottom_right: GeoPoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRadius {
    pub center: GeoPoint,
    /// Meters.
    pub radius: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoLineString {
    pub points: Vec<GeoPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPolygon {
    pub exterior: GeoLineString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interiors: Option<Vec<GeoLineString>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesCount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<usize>,
}

impl ValuesCount {
    pub fn check_count(&self, n: usize) -> bool {
        self.lt.is_none_or(|b| n < b)
            && self.gt.is_none_or(|b| n > b)
            && self.lte.is_none_or(|b| n <= b)
            && self.gte.is_none_or(|b| n >= b)
    }
}

/// `{"key": "..."}` inside `is_empty` / `is_null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadField {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsEmptyCondition {
    pub is_empty: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsNullCondition {
    pub is_null: PayloadField,
}

/// `{"has_id": [1, "uuid", ...]}`
#[derive(Clone, Serialize)]
pub struct HasIdCondition {
    pub has_id: Vec<PointId>,
    #[serde(skip)]
    set: OnceLock<HashSet<PointId>>,
}

impl HasIdCondition {
    pub fn new(ids: Vec<PointId>) -> Self {
        HasIdCondition {
            has_id: ids,
            set: OnceLock::new(),
        }
    }

    pub fn contains(&self, id: &PointId) -> bool {
        if self.has_id.len() <= 16 {
            return self.has_id.contains(id);
        }
        self.set
            .get_or_init(|| self.has_id.iter().copied().collect())
            .contains(id)
    }
}

impl fmt::Debug for HasIdCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HasIdCondition")
            .field("has_id", &self.has_id)
            .finish()
    }
}

impl PartialEq for HasIdCondition {
    fn eq(&self, other: &Self) -> bool {
        self.has_id == other.has_id
    }
}

/// `{"has_vector": "name"}`; `""` is the default unnamed vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HasVectorCondition {
    pub has_vector: String,
}

/// `{"nested": {"key": ..., "filter": ...}}`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NestedCondition {
    pub nested: Nested,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nested {
    pub key: String,
    pub filter: Filter,
}

// ---------------------------------------------------------------------------
// Constructors (handy for callers and tests)
// ---------------------------------------------------------------------------

impl Filter {
    pub fn new_must(c: Condition) -> Self {
        Filter {
            must: Some(vec![c]),
            ..Default::default()
        }
    }

    pub fn new_should(c: Condition) -> Self {
        Filter {
            should: Some(vec![c]),
            ..Default::default()
        }
    }

    pub fn new_must_not(c: Condition) -> Self {
        Filter {
            must_not: Some(vec![c]),
            ..Default::default()
        }
    }

    /// True when the filter has no condition at all (matches everything).
    pub fn is_empty(&self) -> bool {
        self.must.as_ref().is_none_or(|v| v.is_empty())
            && self.should.as_ref().is_none_or(|v| v.is_empty())
            && self.must_not.as_ref().is_none_or(|v| v.is_empty())
            && self.min_should.is_none()
    }
}

impl FieldCondition {
    pub fn new_match(key: impl Into<String>, m: Match) -> Self {
        FieldCondition {
            key: key.into(),
            r#match: Some(m),
            ..Default::default()
        }
    }

    pub fn new_range(key: impl Into<String>, range: Range<f64>) -> Self {
        FieldCondition {
            key: key.into(),
            range: Some(RangeInterface::Float(range)),
            ..Default::default()
        }
    }
}

impl Condition {
    pub fn field(fc: FieldCondition) -> Self {
        Condition::Field(fc)
    }

    pub fn has_id(ids: Vec<PointId>) -> Self {
        Condition::HasId(HasIdCondition::new(ids))
    }

    pub fn is_empty(key: impl Into<String>) -> Self {
        Condition::IsEmpty(IsEmptyCondition {
            is_empty: PayloadField { key: key.into() },
        })
    }

    pub fn is_null(key: impl Into<String>) -> Self {
        Condition::IsNull(IsNullCondition {
            is_null: PayloadField { key: key.into() },
        })
    }

    pub fn has_vector(name: impl Into<String>) -> Self {
        Condition::HasVector(HasVectorCondition {
            has_vector: name.into(),
        })
    }

    pub fn nested(key: impl Into<String>, filter: Filter) -> Self {
        Condition::Nested(NestedCondition {
            nested: Nested {
                key: key.into(),
                filter,
            },
        })
    }
}

// ---------------------------------------------------------------------------
// Deserialization (hand-written for precise error messages)
// ---------------------------------------------------------------------------

const FILTER_FIELDS: [&str; 4] = ["must", "should", "must_not", "min_should"];
const CONDITION_KINDS: &str =
    "key, has_id, has_vector, nested, is_empty, is_null, must, should, must_not, min_should";
const MATCH_KINDS: &str = "value, text, text_any, phrase, any, except";

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Filter {
    /// Parse a filter from JSON with a precise error message.
    pub fn from_value(v: Value) -> Result<Filter, String> {
        let Value::Object(map) = v else {
            return Err(format!("filter must be an object, got {}", kind_of(&v)));
        };
        let mut f = Filter::default();
        for (k, v) in map {
            match k.as_str() {
                "must" => f.must = parse_clause(v, "must")?,
                "should" => f.should = parse_clause(v, "should")?,
                "must_not" => f.must_not = parse_clause(v, "must_not")?,
                "min_should" => {
                    f.min_should = match v {
                        Value::Null => None,
                        v => Some(MinShould::from_value(v)?),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown field `{other}` in filter, expected one of must, should, must_not, min_should"
                    ))
                }
            }
        }
        Ok(f)
    }
}

fn parse_clause(v: Value, name: &str) -> Result<Option<Vec<Condition>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, c)| Condition::from_value(c).map_err(|e| format!("{name}[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Object(_) => Condition::from_value(v)
            .map(|c| Some(vec![c]))
            .map_err(|e| format!("{name}: {e}")),
        other => Err(format!(
            "{name} must be a condition, an array of conditions or null, got {}",
            kind_of(&other)
        )),
    }
}

impl MinShould {
    fn from_value(v: Value) -> Result<MinShould, String> {
        let Value::Object(map) = v else {
            return Err(format!(
                "min_should must be an object with conditions and min_count, got {}",
                kind_of(&v)
            ));
        };
        let mut conditions = None;
        let mut min_count = None;
        for (k, v) in map {
            match k.as_str() {
                "conditions" => match v {
                    Value::Array(items) => {
                        conditions = Some(
                            items
                                .into_iter()
                                .enumerate()
                                .map(|(i, c)| {
                                    Condition::from_value(c)
                                        .map_err(|e| format!("min_should.conditions[{i}]: {e}"))
                                })
                                .collect::<Result<Vec<_>, _>>()?,
                        )
                    }
                    other => {
                        return Err(format!(
                            "min_should.conditions must be an array, got {}",
                            kind_of(&other)
                        ))
                    }
                },
                "min_count" => {
                    min_count = Some(v.as_u64().ok_or_else(|| {
                        format!("min_should.min_count must be a non-negative integer, got {v}")
                    })? as usize)
                }
                other => {
                    return Err(format!(
                        "unknown field `{other}` in min_should, expected conditions, min_count"
                    ))
                }
            }
        }
        Ok(MinShould {
            conditions: conditions.ok_or("min_should is missing field `conditions`")?,
            min_count: min_count.ok_or("min_should is missing field `min_count`")?,
        })
    }
}

fn single_key<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a Value, String> {
    if let Some(extra) = map.keys().find(|k| k.as_str() != name) {
        return Err(format!(
            "unknown field `{extra}` in {name} condition, expected only `{name}`"
        ));
    }
    Ok(&map[name])
}

fn parse_payload_field(v: &Value, name: &str) -> Result<PayloadField, String> {
    match v {
        // Accept the short form `{"is_empty": "field"}` too? Qdrant does not:
        // the schema requires `{"key": ...}`.
        Value::Object(_) => serde_json::from_value(v.clone()).map_err(|e| format!("{name}: {e}")),
        other => Err(format!(
            "{name} must be an object like {{\"key\": \"field\"}}, got {}",
            kind_of(other)
        )),
    }
}

fn parse_point_id(v: &Value) -> Result<PointId, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(PointId::Num)
            .ok_or_else(|| format!("point id {n} must be an unsigned integer or a UUID")),
        Value::String(s) => uuid::Uuid::parse_str(s)
            .map(PointId::Uuid)
            .map_err(|_| format!("point id `{s}` is not a valid UUID")),
        other => Err(format!(
            "point id must be an unsigned integer or a UUID string, got {}",
            kind_of(other)
        )),
    }
}

impl Condition {
    /// Parse a condition from JSON with a precise error message.
    pub fn from_value(v: Value) -> Result<Condition, String> {
        let Value::Object(map) = v else {
            return Err(format!("condition must be an object, got {}", kind_of(&v)));
        };
        if map.contains_key("key") {
            return FieldCondition::from_map(map).map(Condition::Field);
        }
        if map.contains_key("has_id") {
            let v = single_key(&map, "has_id")?;
            let Value::Array(ids) = v else {
                return Err(format!(
                    "has_id must be an array of point ids, got {}",
                    kind_of(v)
                ));
            };
            let ids = ids
                .iter()
                .map(parse_point_id)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("has_id: {e}"))?;
            return Ok(Condition::has_id(ids));
        }
        if map.contains_key("has_vector") {
            let v = single_key(&map, "has_vector")?;
            let Value::String(name) = v else {
                return Err(format!(
                    "has_vector must be a vector name (string), got {}",
                    kind_of(v)
                ));
            };
            return Ok(Condition::has_vector(name.clone()));
        }
        if map.contains_key("nested") {
            let v = single_key(&map, "nested")?;
            let Value::Object(inner) = v else {
                return Err(format!(
                    "nested must be an object with key and filter, got {}",
                    kind_of(v)
                ));
            };
            let mut key = None;
            let mut filter = None;
            for (k, v) in inner {
                match k.as_str() {
                    "key" => {
                        key = Some(
                            v.as_str()
                                .ok_or_else(|| {
                                    format!("nested.key must be a string, got {}", kind_of(v))
                                })?
                                .to_string(),
                        )
                    }
                    "filter" => {
                        filter = Some(
                            Filter::from_value(v.clone())
                                .map_err(|e| format!("nested.filter: {e}"))?,
                        )
                    }
                    other => {
                        return Err(format!(
                            "unknown field `{other}` in nested, expected key, filter"
                        ))
                    }
                }
            }
            return Ok(Condition::nested(
                key.ok_or("nested is missing field `key`")?,
                filter.ok_or("nested is missing field `filter`")?,
            ));
        }
        if map.contains_key("is_empty") {
            let v = single_key(&map, "is_empty")?;
            return Ok(Condition::IsEmpty(IsEmptyCondition {
                is_empty: parse_payload_field(v, "is_empty")?,
            }));
        }
        if map.contains_key("is_null") {
            let v = single_key(&map, "is_null")?;
            return Ok(Condition::IsNull(IsNullCondition {
                is_null: parse_payload_field(v, "is_null")?,
            }));
        }
        if map.is_empty() || map.keys().any(|k| FILTER_FIELDS.contains(&k.as_str())) {
            return Filter::from_value(Value::Object(map)).map(Condition::Filter);
        }
        let got: Vec<&str> = map.keys().map(String::as_str).collect();
        Err(format!(
            "condition must have one of {CONDITION_KINDS} fields; got {}",
            got.join(", ")
        ))
    }
}

impl FieldCondition {
    fn from_map(map: Map<String, Value>) -> Result<FieldCondition, String> {
        fn typed<T: serde::de::DeserializeOwned>(
            v: Value,
            name: &str,
        ) -> Result<Option<T>, String> {
            if v.is_null() {
                return Ok(None);
            }
            serde_json::from_value(v)
                .map(Some)
                .map_err(|e| format!("{name}: {e}"))
        }
        let mut fc = FieldCondition::default();
        let mut key = None;
        for (k, v) in map {
            match k.as_str() {
                "key" => match v {
                    Value::String(s) => key = Some(s),
                    other => return Err(format!("key must be a string, got {}", kind_of(&other))),
                },
                "match" => {
                    fc.r#match = match v {
                        Value::Null => None,
                        v => Some(Match::from_value(v)?),
                    }
                }
                "range" => {
                    fc.range = match v {
                        Value::Null => None,
                        v => Some(RangeInterface::from_value(v)?),
                    }
                }
                "geo_bounding_box" => fc.geo_bounding_box = typed(v, "geo_bounding_box")?,
                "geo_radius" => fc.geo_radius = typed(v, "geo_radius")?,
                "geo_polygon" => fc.geo_polygon = typed(v, "geo_polygon")?,
                "values_count" => fc.values_count = typed(v, "values_count")?,
                "is_empty" => fc.is_empty = typed(v, "is_empty")?,
                "is_null" => fc.is_null = typed(v, "is_null")?,
                other => {
                    return Err(format!(
                        "unknown field `{other}` in field condition, expected one of key, match, range, geo_bounding_box, geo_radius, geo_polygon, values_count, is_empty, is_null"
                    ))
                }
            }
        }
        fc.key = key.ok_or("field condition is missing `key`")?;
        Ok(fc)
    }
}

impl Match {
    pub fn from_value(v: Value) -> Result<Match, String> {
        let Value::Object(map) = v else {
            return Err(format!(
                "match must be an object with one of {MATCH_KINDS}, got {}",
                kind_of(&v)
            ));
        };
        if map.len() != 1 {
            let got: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(format!(
                "match must have exactly one of {MATCH_KINDS}; got {}",
                if got.is_empty() {
                    "none".to_string()
                } else {
                    got.join(", ")
                }
            ));
        }
        let (k, v) = map.into_iter().next().expect("one entry");
        let text = |v: Value, name: &str| match v {
            Value::String(s) => Ok(s),
            other => Err(format!(
                "match.{name} must be a string, got {}",
                kind_of(&other)
            )),
        };
        match k.as_str() {
            "value" => match v {
                Value::String(s) => Ok(Match::Value(ValueVariants::String(s))),
                Value::Bool(b) => Ok(Match::Value(ValueVariants::Bool(b))),
                Value::Number(n) => n
                    .as_i64()
                    .map(|i| Match::Value(ValueVariants::Integer(i)))
                    .ok_or_else(|| {
                        format!("match.value must be a string, an integer or a boolean; {n} is not an integer (use range for floats)")
                    }),
                other => Err(format!(
                    "match.value must be a string, an integer or a boolean, got {}",
                    kind_of(&other)
                )),
            },
            "text" => text(v, "text").map(Match::Text),
            "text_any" => text(v, "text_any").map(Match::TextAny),
            "phrase" => text(v, "phrase").map(Match::Phrase),
            "any" => AnyVariants::from_value(v, "any").map(Match::Any),
            "except" => AnyVariants::from_value(v, "except").map(Match::Except),
            other => Err(format!(
                "unknown field `{other}` in match; match must have one of {MATCH_KINDS}"
            )),
        }
    }
}

impl AnyVariants {
    fn from_value(v: Value, name: &str) -> Result<AnyVariants, String> {
        let Value::Array(items) = v else {
            return Err(format!(
                "match.{name} must be an array of strings or of integers, got {}",
                kind_of(&v)
            ));
        };
        if items.iter().all(Value::is_string) {
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for s in items.into_iter().filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            }) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            return Ok(AnyVariants::Strings(out));
        }
        if items.iter().all(|v| v.as_i64().is_some()) {
            let mut out: Vec<i64> = Vec::with_capacity(items.len());
            for i in items.iter().filter_map(Value::as_i64) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            return Ok(AnyVariants::Integers(out));
        }
        Err(format!(
            "match.{name} must be an array of only strings or only integers"
        ))
    }

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

impl RangeInterface {
    pub fn from_value(v: Value) -> Result<RangeInterface, String> {
        let Value::Object(map) = v else {
            return Err(format!(
                "range must be an object with gt, gte, lt, lte, got {}",
                kind_of(&v)
            ));
        };
        let mut nums: Range<f64> = Range::default();
        let mut dts: Range<DateTime<Utc>> = Range::default();
        let (mut any_num, mut any_dt) = (false, false);
        for (k, v) in map {
            let (num_slot, dt_slot) = match k.as_str() {
                "lt" => (&mut nums.lt, &mut dts.lt),
                "gt" => (&mut nums.gt, &mut dts.gt),
                "gte" => (&mut nums.gte, &mut dts.gte),
                "lte" => (&mut nums.lte, &mut dts.lte),
                other => {
                    return Err(format!(
                        "unknown field `{other}` in range, expected one of gt, gte, lt, lte"
                    ))
                }
            };
            match v {
                Value::Null => {}
                Value::Number(n) => {
                    any_num = true;
                    *num_slot = n.as_f64();
                }
                Value::String(s) => {
                    any_dt = true;
                    *dt_slot = Some(datetime::parse_datetime(&s).ok_or_else(|| {
                        format!("range.{k}: `{s}` is not a valid datetime (expected RFC 3339, e.g. 2023-02-08T10:49:00Z)")
                    })?);
                }
                other => {
                    return Err(format!(
                        "range.{k} must be a number or a datetime string, got {}",
                        kind_of(&other)
                    ))
                }
            }
        }
        match (any_num, any_dt) {
            (true, true) => Err(
                "range bounds must be all numbers or all datetime strings, not a mix".to_string(),
            ),
            (false, true) => Ok(RangeInterface::DateTime(dts)),
            _ => Ok(RangeInterface::Float(nums)),
        }
    }

    pub fn has_bound(&self) -> bool {
        match self {
            RangeInterface::Float(r) => r.has_bound(),
            RangeInterface::DateTime(r) => r.has_bound(),
        }
    }

    /// Datetime range as microseconds since the epoch.
    pub fn datetime_micros(&self) -> Option<Range<i64>> {
        match self {
            RangeInterface::DateTime(r) => Some(r.map(|d| d.timestamp_micros())),
            RangeInterface::Float(_) => None,
        }
    }
}

impl Serialize for Match {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Match::Value(v) => m.serialize_entry("value", v)?,
            Match::Text(t) => m.serialize_entry("text", t)?,
            Match::TextAny(t) => m.serialize_entry("text_any", t)?,
            Match::Phrase(t) => m.serialize_entry("phrase", t)?,
            Match::Any(a) => m.serialize_entry("any", a)?,
            Match::Except(a) => m.serialize_entry("except", a)?,
        }
        m.end()
    }
}

macro_rules! deserialize_via_value {
    ($ty:ty, $f:path) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                $f(v).map_err(D::Error::custom)
            }
        }
    };
}

deserialize_via_value!(Filter, Filter::from_value);
deserialize_via_value!(Condition, Condition::from_value);
deserialize_via_value!(Match, Match::from_value);
deserialize_via_value!(RangeInterface, RangeInterface::from_value);
deserialize_via_value!(MinShould, MinShould::from_value);

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

impl Filter {
    /// Semantic checks that deserialization cannot make. The error names
    /// the offending clause.
    pub fn validate(&self) -> Result<(), String> {
        validate_filter(self, false)
    }
}

fn validate_filter(f: &Filter, in_nested: bool) -> Result<(), String> {
    for (name, clause) in [
        ("must", &f.must),
        ("should", &f.should),
        ("must_not", &f.must_not),
    ] {
        for (i, c) in clause.iter().flatten().enumerate() {
            validate_condition(c, in_nested).map_err(|e| format!("{name}[{i}]: {e}"))?;
        }
    }
    if let Some(ms) = &f.min_should {
        if ms.min_count == 0 {
            return Err("min_should.min_count must be at least 1".to_string());
        }
        if ms.min_count > ms.conditions.len() {
            return Err(format!(
                "min_should.min_count ({}) is greater than the number of conditions ({})",
                ms.min_count,
                ms.conditions.len()
            ));
        }
        for (i, c) in ms.conditions.iter().enumerate() {
            validate_condition(c, in_nested)
                .map_err(|e| format!("min_should.conditions[{i}]: {e}"))?;
        }
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err("key must not be empty".to_string());
    }
    parse_path(key).map(|_| ())
}

fn validate_ring(ring: &GeoLineString, what: &str) -> Result<(), String> {
    let pts = &ring.points;
    if pts.len() < 4 {
        return Err(format!(
            "{what} must have at least 4 points, got {}",
            pts.len()
        ));
    }
    if pts.first() != pts.last() {
        return Err(format!(
            "{what} must be closed: the first and last points must be the same"
        ));
    }
    for p in pts {
        p.check_range().map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

fn validate_condition(c: &Condition, in_nested: bool) -> Result<(), String> {
    match c {
        Condition::Field(fc) => {
            validate_key(&fc.key)?;
            let FieldCondition {
                key: _,
                r#match,
                range,
                geo_bounding_box,
                geo_radius,
                geo_polygon,
                values_count,
                is_empty,
                is_null,
            } = fc;
            if r#match.is_none()
                && range.is_none()
                && geo_bounding_box.is_none()
                && geo_radius.is_none()
                && geo_polygon.is_none()
                && values_count.is_none()
                && is_empty.is_none()
                && is_null.is_none()
            {
                return Err(format!(
                    "field condition on `{}` must have at least one of match, range, geo_bounding_box, geo_radius, geo_polygon, values_count, is_empty, is_null",
                    fc.key
                ));
            }
            if let Some(r) = range {
                if !r.has_bound() {
                    return Err(format!(
                        "range on `{}` must have at least one of gt, gte, lt, lte",
                        fc.key
                    ));
                }
                if let RangeInterface::Float(r) = r {
                    for b in [r.lt, r.gt, r.gte, r.lte].into_iter().flatten() {
                        if b.is_nan() {
                            return Err("range bound must be a number".to_string());
                        }
                    }
                }
            }
            if let Some(g) = geo_radius {
                g.center
                    .check_range()
                    .map_err(|e| format!("geo_radius.center: {e}"))?;
                if g.radius.is_nan() || g.radius < 0.0 {
                    return Err(format!(
                        "geo_radius.radius must be non-negative, got {}",
                        g.radius
                    ));
                }
            }
            if let Some(b) = geo_bounding_box {
                b.top_left
                    .check_range()
                    .map_err(|e| format!("geo_bounding_box.top_left: {e}"))?;
                b.bottom_right
                    .check_range()
                    .map_err(|e| format!("geo_bounding_box.bottom_right: {e}"))?;
            }
            if let Some(p) = geo_polygon {
                validate_ring(&p.exterior, "geo_polygon.exterior")?;
                for (i, ring) in p.interiors.iter().flatten().enumerate() {
                    validate_ring(ring, &format!("geo_polygon.interiors[{i}]"))?;
                }
            }
            Ok(())
        }
        Condition::IsEmpty(c) => validate_key(&c.is_empty.key),
        Condition::IsNull(c) => validate_key(&c.is_null.key),
        Condition::HasId(_) if in_nested => {
            Err("has_id is not supported inside a nested filter".to_string())
        }
        Condition::HasId(_) | Condition::HasVector(_) => Ok(()),
        Condition::Nested(n) => {
            validate_key(&n.nested.key).map_err(|e| format!("nested: {e}"))?;
            validate_filter(&n.nested.filter, true).map_err(|e| format!("nested.filter.{e}"))
        }
        Condition::Filter(f) => validate_filter(f, in_nested),
    }
}

// ---------------------------------------------------------------------------
// JSON paths
// ---------------------------------------------------------------------------

/// One step of a parsed key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathItem {
    Key(String),
    Index(usize),
    /// `[]`: every element of an array.
    Wildcard,
}

/// Parse a key such as `a.b[].c[0]` or `a."b.c"`.
pub fn parse_path(path: &str) -> Result<Vec<PathItem>, String> {
    let bad = |why: &str| Err(format!("invalid key `{path}`: {why}"));
    let mut items = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        if expect_key {
            let mut key = String::new();
            if chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    key.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return bad("unterminated quote");
                }
                i += 1;
            } else {
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == ']' || chars[i] == '"' {
                        return bad("unexpected character");
                    }
                    key.push(chars[i]);
                    i += 1;
                }
                if key.is_empty() {
                    return bad("empty key segment");
                }
            }
            items.push(PathItem::Key(key));
            expect_key = false;
        } else if chars[i] == '.' {
            i += 1;
            expect_key = true;
            if i >= chars.len() {
                return bad("ends with `.`");
            }
        } else if chars[i] == '[' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|c| *c == ']') else {
                return bad("unterminated `[`");
            };
            let inner: String = chars[start..start + len].iter().collect();
            if inner.is_empty() {
                items.push(PathItem::Wildcard);
            } else {
                match inner.parse::<usize>() {
                    Ok(n) => items.push(PathItem::Index(n)),
                    Err(_) => return bad("array index must be a number or empty"),
                }
            }
            i = start + len + 1;
        } else {
            return bad("expected `.` or `[`");
        }
    }
    if items.is_empty() {
        return bad("empty");
    }
    Ok(items)
}

fn collect_raw<'a>(items: &[PathItem], value: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((head, tail)) = items.split_first() else {
        out.push(value);
        return;
    };
    match (head, value) {
        (PathItem::Key(k), Value::Object(map)) => {
            if let Some(v) = map.get(k) {
                collect_raw(tail, v, out);
            }
        }
        (PathItem::Index(n), Value::Array(arr)) => {
            if let Some(v) = arr.get(*n) {
                collect_raw(tail, v, out);
            }
        }
        (PathItem::Wildcard, Value::Array(arr)) => {
            for v in arr {
                collect_raw(tail, v, out);
            }
        }
        _ => {}
    }
}

/// The values a key path reaches, without flattening the arrays found at
/// its end (`[]` steps flatten the arrays they walk through).
pub fn raw_values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    if !path.contains(['[', '"']) {
        // Fast path: plain `a.b.c`, no allocation for the path.
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or_default();
        if first.is_empty() {
            return Vec::new();
        }
        let Some(mut cur) = payload.get(first) else {
            return Vec::new();
        };
        for part in parts {
            match cur {
                Value::Object(map) if !part.is_empty() => match map.get(part) {
                    Some(v) => cur = v,
                    None => return Vec::new(),
                },
                _ => return Vec::new(),
            }
        }
        return vec![cur];
    }
    let Ok(items) = parse_path(path) else {
        return Vec::new();
    };
    raw_values_parsed(payload, &items)
}

fn raw_values_parsed<'a>(payload: &'a Payload, items: &[PathItem]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some((PathItem::Key(first), rest)) = items.split_first() {
        if let Some(v) = payload.get(first) {
            collect_raw(rest, v, &mut out);
        }
    }
    out
}

/// The leaf values a key path reaches, arrays found at the end of the path
/// flattened one level: `{"a": [1, 2]}` at `a` gives `1, 2`. This is what
/// value conditions (`match`, `range`, geo) and payload indexes look at.
pub fn values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    flatten(raw_values_at(payload, path))
}

fn flatten(raw: Vec<&Value>) -> Vec<&Value> {
    let mut out = Vec::with_capacity(raw.len());
    for v in raw {
        match v {
            Value::Array(arr) => out.extend(arr.iter()),
            v => out.push(v),
        }
    }
    out
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

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
    fn text_tokenizer(&self, key: &str) -> Option<&TextTokenizer>;
}

/// A context with no payload index.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIndexes;

impl FilterContext for NoIndexes {
    fn text_tokenizer(&self, _key: &str) -> Option<&TextTokenizer> {
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
        tokenizer: &'a TextTokenizer,
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
    fn new(m: &'a Match, tokenizer: Option<&'a TextTokenizer>) -> Self {
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
    pub fn rect(&self) -> super::geo::LatLonRect {
        super::geo::LatLonRect {
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct P {
        id: PointId,
        payload: Payload,
        vectors: Vec<&'static str>,
    }

    impl PointView for P {
        fn id(&self) -> PointId {
            self.id
        }
        fn payload(&self) -> &Payload {
            &self.payload
        }
        fn has_vector(&self, name: &str) -> bool {
            self.vectors.contains(&name)
        }
    }

    fn point(payload: Value) -> P {
        P {
            id: PointId::Num(1),
            payload: payload.as_object().unwrap().clone(),
            vectors: vec![""],
        }
    }

    fn filter(v: Value) -> Filter {
        let f: Filter = serde_json::from_value(v).unwrap();
        f.validate().unwrap();
        f
    }

    fn matches(f: Value, p: Value) -> bool {
        filter(f).check(&point(p))
    }

    fn must(c: Value) -> Value {
        json!({ "must": [c] })
    }

    fn parse_err(v: Value) -> String {
        serde_json::from_value::<Filter>(v).unwrap_err().to_string()
    }

    fn validate_err(v: Value) -> String {
        serde_json::from_value::<Filter>(v)
            .unwrap()
            .validate()
            .unwrap_err()
    }

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
    fn key_paths() {
        let p = json!({
            "country": {
                "name": "Germany",
                "cities": [
                    {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
                    {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"]}
                ]
            },
            "matrix": [[1, 2], [3]]
        });
        let payload = p.as_object().unwrap();
        assert_eq!(values_at(payload, "country.name"), vec![&json!("Germany")]);
        assert_eq!(
            values_at(payload, "country.cities[].name"),
            vec![&json!("Berlin"), &json!("Munich")]
        );
        assert_eq!(
            values_at(payload, "country.cities[1].population"),
            vec![&json!(1.5)]
        );
        assert_eq!(values_at(payload, "country.cities[].sightseeing").len(), 4);
        assert!(values_at(payload, "country.cities.name").is_empty());
        assert!(values_at(payload, "country.cities[5].name").is_empty());
        assert_eq!(values_at(payload, "matrix[]").len(), 3);
        assert_eq!(raw_values_at(payload, "matrix").len(), 1);

        let m = |key: &str, v: Value| {
            matches(must(json!({"key": key, "match": {"value": v}})), p.clone())
        };
        assert!(m("country.cities[].name", json!("Munich")));
        assert!(m("country.cities[].sightseeing", json!("Reichstag")));
        assert!(!m("country.cities[0].name", json!("Munich")));
        assert!(m("country.cities[1].name", json!("Munich")));

        assert!(values_at(payload, "country.").is_empty());
        assert!(values_at(payload, ".country").is_empty());
        assert!(values_at(payload, "country..name").is_empty());
        assert_eq!(
            values_at(payload, "country.name"),
            raw_values_parsed(payload, &parse_path("country.name").unwrap())
        );
        let q = json!({"a.b": {"c": 1}});
        assert_eq!(
            values_at(q.as_object().unwrap(), "\"a.b\".c"),
            vec![&json!(1)]
        );
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

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
        json!({"points": [
            {"lon": x0, "lat": y0}, {"lon": x1, "lat": y0}, {"lon": x1, "lat": y1},
            {"lon": x0, "lat": y1}, {"lon": x0, "lat": y0}
        ]})
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

    #[test]
    fn serde_round_trip() {
        let v = json!({
            "must": [
                {"key": "a", "match": {"value": "x"}},
                {"key": "b", "range": {"gte": 1.5}},
                {"key": "d", "range": {"lt": "2023-02-08T10:49:00Z"}},
                {"key": "c", "match": {"except": [1, 2]}},
                {"has_id": [1, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]},
                {"is_empty": {"key": "e"}},
                {"is_null": {"key": "f"}},
                {"has_vector": "img"},
                {"nested": {"key": "n", "filter": {"must": [{"key": "x", "match": {"any": ["p"]}}]}}},
                {"should": [{"key": "t", "match": {"text": "hi"}}]},
                {"key": "g", "geo_radius": {"center": {"lon": 1.0, "lat": 2.0}, "radius": 5.0}},
                {"key": "h", "values_count": {"gt": 1}}
            ],
            "min_should": {"conditions": [{"key": "a", "match": {"phrase": "p q"}}], "min_count": 1}
        });
        let f = filter(v.clone());
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(back, v);
        let again: Filter = serde_json::from_value(back).unwrap();
        assert_eq!(again, f);
    }

    #[test]
    fn deserialization_errors_are_precise() {
        let e = parse_err(json!({"must": [{"foo": 1}]}));
        assert!(e.contains("condition must have one of key, has_id"), "{e}");
        assert!(e.contains("must[0]"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "match": {"val": 1}}]}));
        assert!(
            e.contains("value, text, text_any, phrase, any, except"),
            "{e}"
        );
        let e = parse_err(json!({"must": [{"key": "a", "match": {"value": 1.5}}]}));
        assert!(e.contains("not an integer"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "match": {"any": [1, "x"]}}]}));
        assert!(e.contains("only strings or only integers"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "mtch": {"value": 1}}]}));
        assert!(e.contains("unknown field `mtch`"), "{e}");
        let e = parse_err(json!({"mus": []}));
        assert!(e.contains("unknown field `mus`"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gt": 1, "lt": "2023-01-01"}}]}));
        assert!(e.contains("not a mix"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gt": "soon"}}]}));
        assert!(e.contains("not a valid datetime"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gtx": 1}}]}));
        assert!(e.contains("unknown field `gtx`"), "{e}");
        let e = parse_err(
            json!({"must": [{"key": "a", "geo_radius": {"center": {"lon": 1, "lat": 2}}}]}),
        );
        assert!(e.contains("geo_radius") && e.contains("radius"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": [-1]}]}));
        assert!(e.contains("unsigned integer"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": ["not-a-uuid"]}]}));
        assert!(e.contains("UUID"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": [1], "extra": 1}]}));
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = parse_err(json!({"must": 5}));
        assert!(e.contains("must must be a condition"), "{e}");
        let e = parse_err(json!({"must": [{"nested": {"key": "a"}}]}));
        assert!(e.contains("filter"), "{e}");
        let e = parse_err(json!({"min_should": {"conditions": []}}));
        assert!(e.contains("min_count"), "{e}");
        let e = parse_err(json!({"must": [{"is_empty": "a"}]}));
        assert!(e.contains("is_empty must be an object"), "{e}");
    }

    #[test]
    fn validation_errors() {
        let e = validate_err(must(json!({"key": "a", "range": {}})));
        assert!(e.contains("at least one of gt"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": -1}}),
        ));
        assert!(e.contains("non-negative"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 91}, "radius": 1}}),
        ));
        assert!(e.contains("latitude"), "{e}");
        let e = validate_err(must(json!({"key": "a", "geo_bounding_box": {
            "top_left": {"lon": -181, "lat": 1}, "bottom_right": {"lon": 1, "lat": 0}}})));
        assert!(e.contains("longitude"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_polygon": {"exterior": {"points": [
            {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 0, "lat": 0}]}}}),
        ));
        assert!(e.contains("at least 4 points"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_polygon": {"exterior": {"points": [
            {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}),
        ));
        assert!(e.contains("closed"), "{e}");
        let e = validate_err(must(json!({"key": "a", "geo_polygon": {
            "exterior": square(0.0, 0.0, 1.0, 1.0),
            "interiors": [{"points": [{"lon": 0, "lat": 0}]}]}})));
        assert!(e.contains("interiors[0]"), "{e}");
        let e =
            validate_err(json!({"min_should": {"conditions": [{"has_id": [1]}], "min_count": 2}}));
        assert!(e.contains("greater than"), "{e}");
        let e =
            validate_err(json!({"min_should": {"conditions": [{"has_id": [1]}], "min_count": 0}}));
        assert!(e.contains("at least 1"), "{e}");
        let e = validate_err(must(json!({"key": "", "match": {"value": 1}})));
        assert!(e.contains("empty"), "{e}");
        let e = validate_err(must(json!({"key": "a[x]", "match": {"value": 1}})));
        assert!(e.contains("invalid key"), "{e}");
        let e = validate_err(must(json!({"key": "a"})));
        assert!(e.contains("at least one of match"), "{e}");
        let e = validate_err(must(json!({"is_empty": {"key": ""}})));
        assert!(e.contains("empty"), "{e}");
    }
}
