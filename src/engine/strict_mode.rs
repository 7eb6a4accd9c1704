//! Strict mode: per-collection limits on what a request may ask for.
//!
//! Qdrant lets an operator cap a collection's requests (query limit,
//! timeout, `hnsw_ef`, exact search, filters on fields without a payload
//! index, batch sizes, collection size, request rates) so that one client
//! cannot make every other client slow. Helio enforces every limit a single
//! node can judge; the config is stored and echoed whole either way.
//!
//! The checks judge a request before it runs, so a refused request changes
//! nothing. They apply to what clients send over the API; Helio's own
//! pipeline writes are not rate limited. Refusals read as Qdrant's do
//! (`Bad request: Limit exceeded 50 > 5 for "limit". Help: ...`), and an
//! exhausted rate limit answers 429 with the seconds to wait.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::collection::{Collection, Selector, UpdateOp};
use super::error::{EngineError, Result};
use super::filter::{
    AnyVariants, Condition, FieldCondition, Filter, Match, RangeInterface, ValueVariants,
};
use super::formula::{Expr, Variable};
use super::payload_index::{PayloadIndexes, PayloadSchemaType};
use super::query::{Query, QueryRequest, Stage};
use super::types::VectorData;

/// The `strict_mode_config` of a collection. Every field is optional; an
/// update merges the fields it sets into the stored config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrictModeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_retrieve: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_hnsw_ef: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_allow_exact: Option<bool>,
    /// Stored and echoed; Helio keeps vectors unquantized, so there is
    /// no oversampling to limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_oversampling: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_vector_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_rate_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_rate_limit: Option<usize>,
    /// Stored and echoed; not enforced (see README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_payload_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_max_conditions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_max_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<BTreeMap<String, MultivectorLimits>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_config: Option<BTreeMap<String, SparseLimits>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_index_count: Option<usize>,
    /// Stored and echoed; not enforced (see README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resident_memory_percent: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultivectorLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vectors: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

impl StrictModeConfig {
    /// Sets every field `diff` sets. As in Qdrant, a `null` in an update
    /// leaves the stored value alone rather than clearing it.
    pub fn merge(&mut self, diff: &StrictModeConfig) {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if diff.$field.is_some() { self.$field = diff.$field.clone(); })*
            };
        }
        take!(
            enabled,
            max_query_limit,
            max_timeout,
            unindexed_filtering_retrieve,
            unindexed_filtering_update,
            search_max_hnsw_ef,
            search_allow_exact,
            search_max_oversampling,
            upsert_max_batchsize,
            search_max_batchsize,
            max_collection_vector_size_bytes,
            read_rate_limit,
            write_rate_limit,
            max_collection_payload_size_bytes,
            max_points_count,
            filter_max_conditions,
            condition_max_size,
            max_payload_index_count,
            max_resident_memory_percent
        );
        if let Some(m) = &diff.multivector_config {
            self.multivector_config
                .get_or_insert_with(Default::default)
                .extend(m.clone());
        }
        if let Some(s) = &diff.sparse_config {
            self.sparse_config
                .get_or_insert_with(Default::default)
                .extend(s.clone());
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// Refuses `value` when it passes `max`, naming the parameter.
    fn within(value: usize, max: Option<usize>, what: &str) -> Result<()> {
        match max {
            Some(max) if value > max => Err(refusal(
                format!("Limit exceeded {value} > {max} for \"{what}\""),
                format!("Reduce the \"{what}\" parameter to or below {max}."),
            )),
            _ => Ok(()),
        }
    }

    /// A result count (`limit` of a query, scroll, facet or group query).
    pub fn check_limit(&self, limit: usize) -> Result<()> {
        Self::within(limit, self.max_query_limit, "limit")
    }

    pub fn check_timeout(&self, timeout: Option<u64>) -> Result<()> {
        match timeout {
            Some(t) => Self::within(t as usize, self.max_timeout.map(|m| m as usize), "timeout"),
            None => Ok(()),
        }
    }

    /// `hnsw_ef` and `exact` of one search.
    pub fn check_search_params(&self, ef: Option<usize>, exact: bool) -> Result<()> {
        if exact && self.search_allow_exact == Some(false) {
            return Err(refusal("Exact search disabled!", "Set exact=false."));
        }
        if let Some(ef) = ef {
            Self::within(ef, self.search_max_hnsw_ef, "hnsw_ef")?;
        }
        Ok(())
    }

    /// The number of searches in one batch request.
    pub fn check_search_batch(&self, n: usize) -> Result<()> {
        Self::within(n, self.search_max_batchsize, "search limit")
    }

    /// Condition count, condition size and, unless unindexed filtering is
    /// allowed for this `purpose`, a payload index behind every field.
    fn check_filter(&self, filter: &Filter, indexes: &PayloadIndexes, update: bool) -> Result<()> {
        if let Some(max) = self.filter_max_conditions {
            let n = count_conditions(filter);
            if n > max {
                return Err(refusal(
                    format!("Filter condition limit exceeded: {n} > {max}"),
                    "Reduce the number of conditions.",
                ));
            }
        }
        if let Some(max) = self.condition_max_size {
            let n = largest_condition(filter);
            if n > max {
                return Err(refusal(
                    format!("Condition size limit exceeded: {n} > {max}"),
                    "Reduce the number of values in the condition.",
                ));
            }
        }
        let allowed = if update {
            self.unindexed_filtering_update
        } else {
            self.unindexed_filtering_retrieve
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
    fn check_points_in(&self, op: &UpdateOp) -> Result<()> {
        let (points, what) = match op {
            UpdateOp::Upsert(p) => (
                p.iter().map(|p| &p.vectors).collect::<Vec<_>>(),
                "upsert limit",
            ),
            UpdateOp::UpdateVectors(p) => (p.iter().map(|(_, v)| v).collect(), "update limit"),
            _ => return Ok(()),
        };
        Self::within(points.len(), self.upsert_max_batchsize, what)?;
        for vectors in points {
            for (name, data) in vectors {
                if let (VectorData::Multi(m), Some(max)) = (data, self.multivector_max_rows(name)) {
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
                if let (VectorData::Sparse(s), Some(max)) = (data, self.sparse_max_length(name)) {
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

    fn sparse_max_length(&self, name: &str) -> Option<usize> {
        self.sparse_config.as_ref()?.get(name)?.max_length
    }

    /// The largest number of rows a multivector `name` may have.
    fn multivector_max_rows(&self, name: &str) -> Option<usize> {
        self.multivector_config.as_ref()?.get(name)?.max_vectors
    }
}

/// A strict-mode refusal, in Qdrant's words: the problem, then the help.
fn refusal(problem: impl AsRef<str>, help: impl AsRef<str>) -> EngineError {
    EngineError::BadRequest(format!("{}. Help: {}", problem.as_ref(), help.as_ref()))
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

impl Collection {
    /// The collection's strict mode when it is enabled.
    pub fn strict_mode(&self) -> Option<StrictModeConfig> {
        self.config
            .read()
            .strict_mode_config
            .clone()
            .filter(StrictModeConfig::is_enabled)
    }

    /// Admits a read of `cost` searches: timeout, batch size and the read
    /// rate limit.
    pub fn admit_read(&self, timeout: Option<u64>, cost: usize) -> Result<()> {
        let Some(strict) = self.strict_mode() else {
            return Ok(());
        };
        strict.check_timeout(timeout)?;
        if cost > 1 {
            strict.check_search_batch(cost)?;
        }
        let mut limits = self.rate_limits.lock();
        RateLimits::take(&mut limits.read, strict.read_rate_limit, cost, "Read")
    }

    /// Checks every stage of a query: limits, search params, filters.
    pub fn check_query(&self, req: &QueryRequest) -> Result<()> {
        let Some(strict) = self.strict_mode() else {
            return Ok(());
        };
        let points = self.points.read();
        check_stage(&strict, &req.root, &points.indexes)
    }

    /// A listing, facet or count: its result count and its filter.
    pub fn check_listing(&self, limit: Option<usize>, filter: Option<&Filter>) -> Result<()> {
        let Some(strict) = self.strict_mode() else {
            return Ok(());
        };
        if let Some(limit) = limit {
            strict.check_limit(limit)?;
        }
        match filter {
            Some(f) => strict.check_filter(f, &self.points.read().indexes, false),
            None => Ok(()),
        }
    }

    /// An exact count or facet, which strict mode may forbid.
    pub fn check_exact(&self, exact: bool) -> Result<()> {
        match self.strict_mode() {
            Some(strict) => strict.check_search_params(None, exact),
            None => Ok(()),
        }
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
            strict.check_points_in(op)?;
            match op {
                UpdateOp::Upsert(p) => {
                    cost += p.len();
                    added += p.iter().filter(|p| !points.ids.contains_key(&p.id)).count();
                }
                UpdateOp::UpdateVectors(p) => cost += p.len(),
                other => match selector_of(other) {
                    Some(Selector::Ids(ids)) => cost += ids.len(),
                    Some(Selector::Filter(f)) => {
                        strict.check_filter(f, &points.indexes, true)?;
                        cost += (self.matching(&points, f, None).len() as usize).max(1);
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

fn check_stage(strict: &StrictModeConfig, stage: &Stage, indexes: &PayloadIndexes) -> Result<()> {
    strict.check_limit(stage.limit)?;
    strict.check_search_params(stage.ef, stage.exact)?;
    if let Some(f) = &stage.filter {
        strict.check_filter(f, indexes, false)?;
    }
    if let Some(Query::Formula(formula)) = &stage.query {
        check_formula(strict, &formula.expr, indexes)?;
    }
    stage
        .prefetch
        .iter()
        .try_for_each(|p| check_stage(strict, p, indexes))
}

/// A formula's payload variables need an index when unindexed filtering
/// is off, as its conditions do: scoring reads them for every candidate.
fn check_formula(strict: &StrictModeConfig, expr: &Expr, indexes: &PayloadIndexes) -> Result<()> {
    use PayloadSchemaType::*;
    let needs = |key: &str, types: Vec<PayloadSchemaType>| -> Result<()> {
        let served = indexes
            .get(key)
            .is_some_and(|i| types.contains(&i.schema().data_type()));
        if served || strict.unindexed_filtering_retrieve != Some(false) {
            return Ok(());
        }
        let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
        Err(refusal(
            format!(
                "Index required but not found for \"{key}\" of one of the following types: [{}]",
                names.join(", ")
            ),
            "Create an index for this key or use a different formula expression.",
        ))
    };
    let all = |list: &[Expr]| {
        list.iter()
            .try_for_each(|e| check_formula(strict, e, indexes))
    };
    match expr {
        Expr::Const(_) | Expr::Datetime(_) | Expr::Var(Variable::Score(_)) => Ok(()),
        Expr::Var(Variable::Payload(key)) => needs(key, vec![Integer, Float]),
        Expr::GeoDistance { key, .. } => needs(key, vec![Geo]),
        Expr::DatetimeKey(key) => needs(key, vec![Datetime]),
        Expr::Condition(f) => strict.check_filter(f, indexes, false),
        Expr::Mult(list) | Expr::Sum(list) => all(list),
        Expr::Neg(e)
        | Expr::Abs(e)
        | Expr::Sqrt(e)
        | Expr::Exp(e)
        | Expr::Log10(e)
        | Expr::Ln(e) => check_formula(strict, e, indexes),
        Expr::Div {
            left: a, right: b, ..
        }
        | Expr::Pow {
            base: a,
            exponent: b,
        } => {
            check_formula(strict, a, indexes)?;
            check_formula(strict, b, indexes)
        }
        Expr::Decay { x, target, .. } => {
            check_formula(strict, x, indexes)?;
            target
                .as_deref()
                .map_or(Ok(()), |t| check_formula(strict, t, indexes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    fn enabled() -> StrictModeConfig {
        StrictModeConfig {
            enabled: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn merge_keeps_what_the_update_leaves_out() {
        let mut c = enabled();
        c.max_query_limit = Some(10);
        c.merge(&StrictModeConfig {
            max_timeout: Some(2),
            ..Default::default()
        });
        assert_eq!(c.max_query_limit, Some(10));
        assert_eq!(c.max_timeout, Some(2));
        assert!(c.is_enabled());
        c.merge(&StrictModeConfig {
            enabled: Some(false),
            ..Default::default()
        });
        assert!(!c.is_enabled());
    }

    #[test]
    fn limits_name_the_parameter_and_the_bound() {
        let mut c = enabled();
        c.max_query_limit = Some(5);
        assert!(c.check_limit(5).is_ok());
        let e = c.check_limit(50).unwrap_err().to_string();
        assert_eq!(
            e,
            "Bad request: Limit exceeded 50 > 5 for \"limit\". Help: Reduce the \"limit\" parameter to or below 5."
        );
        c.search_allow_exact = Some(false);
        let e = c.check_search_params(None, true).unwrap_err().to_string();
        assert_eq!(
            e,
            "Bad request: Exact search disabled!. Help: Set exact=false."
        );
        c.search_max_hnsw_ef = Some(4);
        assert!(c.check_search_params(Some(4), false).is_ok());
        assert!(c
            .check_search_params(Some(5), false)
            .unwrap_err()
            .to_string()
            .contains("hnsw_ef"));
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
