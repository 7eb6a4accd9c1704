//! Points by id, and counts: the reads that score nothing.

use crate::engine::collection::admission::check_listing;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::{ReadRequest, Record, View};
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::error::Result;
use crate::engine::filter::Filter;
use crate::engine::types::{PointId, VectorSelector};

/// Points by id, in the order asked, skipping ids that do not exist.
#[derive(Debug, Clone)]
pub struct Retrieve {
    pub ids: Vec<PointId>,
    pub with_payload: PayloadSelector,
    pub with_vector: VectorSelector,
}

impl ReadRequest for Retrieve {
    type Output = Vec<Record>;

    fn run(&self, view: View) -> Result<Vec<Record>> {
        let points = &*view.points;
        Ok(self
            .ids
            .iter()
            .filter_map(|id| points.ids.get(id).copied())
            .filter_map(|o| points.record(o, None, &self.with_payload, &self.with_vector))
            .collect())
    }
}

/// How many points match a filter (all points without one). An inexact
/// count is the payload indexes' estimate, as Qdrant's is.
#[derive(Debug, Clone, Default)]
pub struct Count {
    pub filter: Option<Filter>,
    pub exact: bool,
}

impl ReadRequest for Count {
    type Output = usize;

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        strict.check_search_params(None, self.exact)?;
        check_listing(strict, None, self.filter.as_ref(), &view.points.indexes)
    }

    fn run(&self, view: View) -> Result<usize> {
        let points = &*view.points;
        Ok(match &self.filter {
            None => points.len(),
            Some(f) if !self.exact => points.indexes.estimate(f, points.len()).min(points.len()),
            Some(f) => points.matching(f, None).len() as usize,
        })
    }
}
