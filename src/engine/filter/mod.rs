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
//!
//! # Layout
//! - `model.rs`: the types, their constructors and serialization;
//! - `de.rs`: the hand-written `Deserialize` (precise error messages);
//! - `validate.rs`: [`Filter::validate`], the checks serde cannot make;
//! - `path.rs`: key paths (`a[].b`) and the values they reach;
//! - `eval.rs`: [`Filter::check`] / [`Filter::check_with`].
//!
//! Everything public is re-exported here, so callers keep using
//! `engine::filter::X` whatever file `X` lives in.

mod de;
mod eval;
mod model;
mod path;
mod validate;

#[cfg(test)]
mod test_support;

pub mod datetime;
pub mod geo;

/// A filter that is not one Qdrant would accept; the message names the
/// field and what is wrong with it, and reaches the client as a 400.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

impl From<String> for FilterError {
    fn from(message: String) -> Self {
        FilterError(message)
    }
}

impl From<&str> for FilterError {
    fn from(message: &str) -> Self {
        FilterError(message.to_string())
    }
}

impl From<FilterError> for crate::engine::error::EngineError {
    fn from(e: FilterError) -> Self {
        crate::engine::error::EngineError::BadRequest(e.0)
    }
}

pub use eval::{check_match, FilterContext, NoIndexes, PointView};
pub use geo::GeoPoint;
pub use model::{
    AnyVariants, Condition, FieldCondition, Filter, GeoBoundingBox, GeoLineString, GeoPolygon,
    GeoRadius, HasIdCondition, HasVectorCondition, IsEmptyCondition, IsNullCondition, Match,
    MinShould, Nested, NestedCondition, PayloadField, Range, RangeInterface, ValueVariants,
    ValuesCount,
};
pub use path::{parse_path, raw_values_at, values_at, PathItem};
