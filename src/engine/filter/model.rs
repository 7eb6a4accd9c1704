//! The filter types, shaped after Qdrant's JSON schema, with the small
//! helpers evaluation and the planner need on them (`Range::check`, ...).
//!
//! Kept free of parsing and evaluation logic so the shape of a filter can
//! be read in one place; deserialization is in [`super::de`] because it is
//! hand-written for error messages, evaluation in [`super::eval`].

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::GeoPoint;
use crate::engine::types::PointId;

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

impl Filter {
    /// A filter that holds when every one of `filters` does.
    pub fn all_of(filters: Vec<Filter>) -> Filter {
        Filter {
            must: Some(filters.into_iter().map(Condition::Filter).collect()),
            should: None,
            must_not: None,
            min_should: None,
        }
    }
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

impl RangeInterface {
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

// By hand to mirror `Match::from_value` in `de.rs`: a one-key map
// (`{"value": ...}`, `{"text": ...}`, ...).
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
