//! Strict mode's configuration: per-collection limits on what a request
//! may ask for.
//!
//! Qdrant lets an operator cap a collection's requests (query limit,
//! timeout, `hnsw_ef`, exact search, filters on fields without a payload
//! index, batch sizes, collection size, request rates) so that one client
//! cannot make every other client slow. Helio enforces every limit a single
//! node can judge; the config is stored and echoed whole either way.
//!
//! The checks here need nothing but the request's own numbers; those that
//! look at the collection (payload indexes, its size, the rate buckets)
//! are its admission, in `collection/admission.rs`. Refusals read as
//! Qdrant's do (`Bad request: Limit exceeded 50 > 5 for "limit". Help: ...`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};

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
    pub(in crate::engine) fn within(value: usize, max: Option<usize>, what: &str) -> Result<()> {
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

    pub(in crate::engine) fn sparse_max_length(&self, name: &str) -> Option<usize> {
        self.sparse_config.as_ref()?.get(name)?.max_length
    }

    /// The largest number of rows a multivector `name` may have.
    pub(in crate::engine) fn multivector_max_rows(&self, name: &str) -> Option<usize> {
        self.multivector_config.as_ref()?.get(name)?.max_vectors
    }
}

/// A strict-mode refusal, in Qdrant's words: the problem, then the help.
pub(in crate::engine) fn refusal(problem: impl AsRef<str>, help: impl AsRef<str>) -> EngineError {
    EngineError::BadRequest(format!("{}. Help: {}", problem.as_ref(), help.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
