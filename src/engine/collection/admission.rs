//! Strict mode's admission: the checks that judge a request against the
//! collection (its payload indexes, its size) and the read and write rate
//! buckets. The limits themselves are configuration
//! (`config/strict_mode.rs`).
//!
//! The checks judge a request before it runs, so a refused request changes
//! nothing. They apply to what clients send over the API; Helio's own
//! pipeline writes are not rate limited. An exhausted rate limit answers
//! 429 with the seconds to wait.

use std::time::Instant;

use crate::engine::collection::{Collection, Selector, UpdateOp};
use crate::engine::config::strict_mode::{refusal, StrictModeConfig};
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::{
    AnyVariants, Condition, FieldCondition, Filter, Match, RangeInterface, ValueVariants,
};
use crate::engine::index::payload::{PayloadIndexes, PayloadSchemaType};
use crate::engine::types::VectorData;

impl Collection {
    /// The collection's strict mode when it is enabled.
    pub fn strict_mode(&self) -> Option<StrictModeConfig> {
        self.config
            .read()
            .strict_mode_config
            .clone()
            .filter(StrictModeConfig::is_enabled)
    }

    /// Admits a batch of writes: batch sizes, vector limits, filters of
    /// filtered updates, collection size and the write rate limit (one
    /// token per point written or selected).
    pub fn admit_write(&self, ops: &[UpdateOp]) -> Result<()> {
        let Some(strict) = self.strict_mode() else {
            return Ok(());
        };
        let points = self.points.read();
        let mut cost = 0;
        let mut added = 0;
        for op in ops {
            check_points_in(&strict, op)?;
            match op {
                UpdateOp::Upsert(p) => {
                    cost += p.len();
                    added += p.iter().filter(|p| !points.ids.contains_key(&p.id)).count();
                }
                UpdateOp::UpdateVectors(p) => cost += p.len(),
                other => match selector_of(other) {
                    Some(Selector::Ids(ids)) => cost += ids.len(),
                    Some(Selector::Filter(f)) => {
                        check_filter(&strict, f, &points.indexes, true)?;
                        cost += (points.matching(f, None).len() as usize).max(1);
                    }
                    None => {}
                },
            }
        }
        if added > 0 {
            let total = points.len() + added;
            if let Some(max) = strict.max_points_count {
                if total > max {
                    return Err(refusal(
                        format!("Max points count limit of {max} reached!"),
                        "Delete points or raise the limit.",
                    ));
                }
            }
            if let Some(max) = strict.max_collection_vector_size_bytes {
                let bytes = total * self.config.read().dense_bytes_per_point();
                if bytes > max {
                    return Err(refusal(
                        format!("Max vector storage size limit of {max} bytes reached!"),
                        "Delete points or raise the limit.",
                    ));
                }
            }
        }
        drop(points);
        let mut limits = self.rate_limits.lock();
        RateLimits::take(&mut limits.write, strict.write_rate_limit, cost, "Write")
    }

    /// A new payload index, against `max_payload_index_count`.
    pub fn check_new_index(&self, field: &str) -> Result<()> {
        let Some(max) = self.strict_mode().and_then(|s| s.max_payload_index_count) else {
            return Ok(());
        };
        let points = self.points.read();
        let existing = points.indexes.fields().count();
        if points.indexes.get(field).is_none() && existing + 1 > max {
            return Err(refusal(
                format!(
                    "Limit exceeded {} > {max} for \"payload index count\"",
                    existing + 1
                ),
                "Delete an index or raise the limit.",
            ));
        }
        Ok(())
    }
}

fn selector_of(op: &UpdateOp) -> Option<&Selector> {
    match op {
        UpdateOp::Delete(s) | UpdateOp::ClearPayload(s) => Some(s),
        UpdateOp::SetPayload { selector, .. }
        | UpdateOp::OverwritePayload { selector, .. }
        | UpdateOp::DeletePayload { selector, .. }
        | UpdateOp::DeleteVectors { selector, .. } => Some(selector),
        UpdateOp::Upsert(_) | UpdateOp::UpdateVectors(_) => None,
    }
}

/// A listing, facet or count: its result count and its filter.
pub(in crate::engine) fn check_listing(
    strict: &StrictModeConfig,
    limit: Option<usize>,
    filter: Option<&Filter>,
    indexes: &PayloadIndexes,
) -> Result<()> {
    if let Some(limit) = limit {
        strict.check_limit(limit)?;
    }
    match filter {
        Some(f) => check_filter(strict, f, indexes, false),
        None => Ok(()),
    }
}

/// Condition count, condition size and, unless unindexed filtering is
/// allowed for this `purpose`, a payload index behind every field.
pub(in crate::engine) fn check_filter(
    strict: &StrictModeConfig,
    filter: &Filter,
    indexes: &PayloadIndexes,
    update: bool,
) -> Result<()> {
    if let Some(max) = strict.filter_max_conditions {
        let n = count_conditions(filter);
        if n > max {
            return Err(refusal(
                format!("Filter condition limit exceeded: {n} > {max}"),
                "Reduce the number of conditions.",
            ));
        }
    }
    if let Some(max) = strict.condition_max_size {
        let n = largest_condition(filter);
        if n > max {
            return Err(refusal(
                format!("Condition size limit exceeded: {n} > {max}"),
                "Reduce the number of values in the condition.",
            ));
        }
    }
    let allowed = if update {
        strict.unindexed_filtering_update
    } else {
        strict.unindexed_filtering_retrieve
    };
    if allowed == Some(false) {
        if let Some((key, types)) = unindexed_field(filter, indexes, "") {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            return Err(refusal(
                format!(
                    "Index required but not found for \"{key}\" of one of the following types: [{}]",
                    names.join(", ")
                ),
                "Create an index for this key or use a different filter.",
            ));
        }
    }
    Ok(())
}

/// Every limit on the vectors and size of an upsert.
fn check_points_in(strict: &StrictModeConfig, op: &UpdateOp) -> Result<()> {
    let (points, what) = match op {
        UpdateOp::Upsert(p) => (
            p.iter().map(|p| &p.vectors).collect::<Vec<_>>(),
            "upsert limit",
        ),
        UpdateOp::UpdateVectors(p) => (p.iter().map(|(_, v)| v).collect(), "update limit"),
        _ => return Ok(()),
    };
    StrictModeConfig::within(points.len(), strict.upsert_max_batchsize, what)?;
    for vectors in points {
        for (name, data) in vectors {
            if let (VectorData::Multi(m), Some(max)) = (data, strict.multivector_max_rows(name)) {
                if m.len() > max {
                    return Err(refusal(
                        format!(
                            "Multivector '{name}' has a limit of {max} vectors, but {} were provided!",
                            m.len()
                        ),
                        "Send fewer rows or raise the limit.",
                    ));
                }
            }
            if let (VectorData::Sparse(s), Some(max)) = (data, strict.sparse_max_length(name)) {
                if s.indices.len() > max {
                    return Err(refusal(
                        format!(
                            "Sparse vector '{name}' has a limit of {max} indices, but {} were provided!",
                            s.indices.len()
                        ),
                        "Split the sparse vector or raise the limit.",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Conditions in a filter, nested filters and `nested` ones included.
fn count_conditions(filter: &Filter) -> usize {
    clauses(filter)
        .map(|c| match c {
            Condition::Filter(f) => count_conditions(f),
            Condition::Nested(n) => count_conditions(&n.nested.filter),
            _ => 1,
        })
        .sum()
}

/// The most values any one condition lists (`match.any`, `except`, polygon
/// vertices count as one each).
fn largest_condition(filter: &Filter) -> usize {
    clauses(filter)
        .map(|c| match c {
            Condition::Filter(f) => largest_condition(f),
            Condition::Nested(n) => largest_condition(&n.nested.filter),
            Condition::HasId(h) => h.has_id.len(),
            Condition::Field(f) => match &f.r#match {
                Some(Match::Any(v)) | Some(Match::Except(v)) => match v {
                    AnyVariants::Strings(s) => s.len(),
                    AnyVariants::Integers(i) => i.len(),
                },
                _ => 1,
            },
            _ => 1,
        })
        .max()
        .unwrap_or(0)
}

fn clauses(filter: &Filter) -> impl Iterator<Item = &Condition> {
    [&filter.must, &filter.should, &filter.must_not]
        .into_iter()
        .flatten()
        .flatten()
        .chain(filter.min_should.iter().flat_map(|m| m.conditions.iter()))
}

/// The first field condition whose key has no index able to answer it,
/// with the index types that could.
fn unindexed_field(
    filter: &Filter,
    indexes: &PayloadIndexes,
    prefix: &str,
) -> Option<(String, Vec<PayloadSchemaType>)> {
    clauses(filter).find_map(|c| match c {
        Condition::Filter(f) => unindexed_field(f, indexes, prefix),
        Condition::Nested(n) => {
            let prefix = format!("{prefix}{}[].", n.nested.key);
            unindexed_field(&n.nested.filter, indexes, &prefix)
        }
        Condition::Field(f) => {
            let types = index_types_for(f);
            let key = format!("{prefix}{}", f.key);
            let served = types.is_empty()
                || indexes
                    .get(&key)
                    .is_some_and(|i| types.contains(&i.schema().data_type()));
            (!served).then_some((key, types))
        }
        _ => None,
    })
}

/// The index types that can answer a field condition; empty when the
/// condition needs none (`values_count`, `is_empty`, `is_null`).
fn index_types_for(f: &FieldCondition) -> Vec<PayloadSchemaType> {
    use PayloadSchemaType::*;
    if let Some(m) = &f.r#match {
        return match m {
            Match::Value(ValueVariants::String(_)) => vec![Keyword, Uuid],
            Match::Value(ValueVariants::Integer(_)) => vec![Integer],
            Match::Value(ValueVariants::Bool(_)) => vec![Bool],
            Match::Text(_) | Match::TextAny(_) | Match::Phrase(_) => vec![Text],
            Match::Any(AnyVariants::Strings(_)) | Match::Except(AnyVariants::Strings(_)) => {
                vec![Keyword, Uuid]
            }
            Match::Any(_) | Match::Except(_) => vec![Integer],
        };
    }
    match &f.range {
        Some(RangeInterface::Float(_)) => return vec![Integer, Float],
        Some(RangeInterface::DateTime(_)) => return vec![Datetime],
        None => {}
    }
    if f.geo_bounding_box.is_some() || f.geo_radius.is_some() || f.geo_polygon.is_some() {
        return vec![Geo];
    }
    Vec::new()
}

/// A token bucket per direction: `limit` tokens a minute, refilled
/// continuously, starting full.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: usize) -> Bucket {
        Bucket {
            capacity: per_minute as f64,
            tokens: per_minute as f64,
            at: Instant::now(),
        }
    }

    fn take(&mut self, cost: usize, what: &str) -> Result<()> {
        let now = Instant::now();
        let rate = self.capacity / 60.0;
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(self.capacity);
        self.at = now;
        let cost = cost as f64;
        if cost > self.capacity {
            return Err(EngineError::RateLimited {
                message: format!(
                    "{what} rate limit exceeded, request larger than rate limiter capacity, please try to split your request"
                ),
                retry_after: None,
            });
        }
        if cost > self.tokens {
            let wait = ((cost - self.tokens) / rate).ceil().max(1.0) as u64;
            return Err(EngineError::RateLimited {
                message: format!(
                    "{what} rate limit exceeded: Operation requires {cost} tokens but only {:.1} were available. Retry after {wait}s",
                    self.tokens.max(0.0)
                ),
                retry_after: Some(wait),
            });
        }
        self.tokens -= cost;
        Ok(())
    }
}

/// The read and write buckets of one collection, rebuilt when its limits
/// change.
#[derive(Debug, Default)]
pub struct RateLimits {
    read: Option<(usize, Bucket)>,
    write: Option<(usize, Bucket)>,
}

impl RateLimits {
    /// Takes `cost` tokens of the read bucket.
    pub(in crate::engine) fn take_read(
        limits: &mut RateLimits,
        strict: &StrictModeConfig,
        cost: usize,
    ) -> Result<()> {
        Self::take(&mut limits.read, strict.read_rate_limit, cost, "Read")
    }

    fn take(
        slot: &mut Option<(usize, Bucket)>,
        limit: Option<usize>,
        cost: usize,
        what: &str,
    ) -> Result<()> {
        let Some(limit) = limit else {
            *slot = None;
            return Ok(());
        };
        if slot.as_ref().map(|(l, _)| *l) != Some(limit) {
            *slot = Some((limit, Bucket::new(limit)));
        }
        slot.as_mut().expect("just set").1.take(cost, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conditions_are_counted_through_nesting() {
        let f = filter(serde_json::json!({
            "must": [
                {"key": "a", "match": {"value": 1}},
                {"nested": {"key": "c", "filter": {"must": [
                    {"key": "x", "match": {"any": [1, 2, 3]}},
                    {"key": "y", "match": {"value": "z"}}
                ]}}}
            ],
            "should": [{"must_not": [{"has_id": [1, 2, 3, 4]}]}]
        }));
        assert_eq!(count_conditions(&f), 4);
        assert_eq!(largest_condition(&f), 4);
    }

    #[test]
    fn unindexed_fields_are_named_with_the_index_types_that_would_serve() {
        let mut indexes = PayloadIndexes::new();
        let none: [(u32, &serde_json::Map<String, serde_json::Value>); 0] = [];
        indexes
            .create("city", PayloadSchemaType::Keyword.into(), none.into_iter())
            .unwrap();
        let by_city =
            filter(serde_json::json!({"must": [{"key": "city", "match": {"value": "Recife"}}]}));
        assert!(unindexed_field(&by_city, &indexes, "").is_none());
        let by_price = filter(serde_json::json!({"must": [{"key": "price", "range": {"gt": 1}}]}));
        let (key, types) = unindexed_field(&by_price, &indexes, "").unwrap();
        assert_eq!(key, "price");
        assert_eq!(
            types,
            vec![PayloadSchemaType::Integer, PayloadSchemaType::Float]
        );
        // A keyword index does not serve an integer match.
        let by_int = filter(serde_json::json!({"must": [{"key": "city", "match": {"value": 3}}]}));
        assert!(unindexed_field(&by_int, &indexes, "").is_some());
        // Conditions that need no index pass.
        let empty = filter(serde_json::json!({"must": [{"is_empty": {"key": "price"}}]}));
        assert!(unindexed_field(&empty, &indexes, "").is_none());
    }

    #[test]
    fn a_bucket_refuses_past_its_tokens_and_says_how_long_to_wait() {
        let mut b = Bucket::new(10);
        assert!(b.take(10, "Write").is_ok());
        match b.take(10, "Write").unwrap_err() {
            EngineError::RateLimited {
                message,
                retry_after,
            } => {
                assert!(
                    message.starts_with("Write rate limit exceeded: Operation requires 10 tokens")
                );
                assert!(retry_after.unwrap() >= 59);
            }
            other => panic!("unexpected {other}"),
        }
        let e = b.take(11, "Write").unwrap_err().to_string();
        assert!(e.contains("larger than rate limiter capacity"));
    }
}
