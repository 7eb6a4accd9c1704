//! Nearest-neighbour search over one collection, and the query planner
//! that picks between the graph and an exact scan.
//!
//! A search sees three kinds of points: those in sealed graph segments,
//! the unindexed tail (scored exactly, so a point is findable as soon as its
//! upsert returns), and tombstones (old offsets of updated or deleted
//! points), which the `accept` check filters out during graph traversal.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::collection::{check_vector, Collection, Record};
use super::distance;
use super::error::Result;
use super::filter::Filter;
use super::payload::PayloadSelector;
use super::points::Points;
use super::types::{Distance, Offset, PointId};

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub vector: Vec<f32>,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    /// Beam width of the graph search; defaults to the collection's ef_construct.
    pub ef: Option<usize>,
    /// Score every matching point instead of searching the graph.
    pub exact: bool,
    /// Skip points that are not yet in a graph.
    pub indexed_only: bool,
    pub with_payload: PayloadSelector,
    pub with_vector: bool,
    /// Points never returned (the query point itself, when searching by id).
    pub exclude: Vec<PointId>,
}

/// How a search will be answered; exposed for tests and telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Score the points matching the filter (or all) exactly.
    Exact,
    /// Search each segment's graph, filtering inside the traversal, and
    /// score the unindexed tail exactly.
    Graph,
}

/// Number of live points sampled to estimate how selective an unindexed
/// filter is.
const SAMPLE: usize = 256;

impl Collection {
    #[tracing::instrument(skip_all, fields(collection = %self.name, limit = req.limit))]
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Record>> {
        let config = self.config.read().clone();
        let distance = config.vectors.distance;
        check_vector(&req.vector, config.vectors.size)?;
        if let Some(f) = &req.filter {
            f.validate()
                .map_err(super::error::EngineError::BadRequest)?;
        }
        let mut query = req.vector.clone();
        if distance == Distance::Cosine {
            distance::normalize(&mut query);
        }
        let k = req.limit.saturating_add(req.offset);
        if k == 0 {
            return Ok(Vec::new());
        }

        let points = self.points.read();
        let excluded: HashSet<Offset> = req
            .exclude
            .iter()
            .filter_map(|id| points.ids.get(id).copied())
            .collect();
        let accept = |o: Offset| -> bool {
            points.live.contains(o)
                && !excluded.contains(&o)
                && match &req.filter {
                    None => true,
                    Some(f) => points
                        .view(o)
                        .is_some_and(|v| f.check_with(&v, &points.indexes)),
                }
        };

        let plan = self.plan(&points, req, config.full_scan_threshold_points());
        let mut found: Vec<(Offset, f32)> = match plan {
            Plan::Exact => {
                let pool = match &req.filter {
                    Some(f) => self.matching(&points, f),
                    None => points.live.clone(),
                };
                let pool = pool.into_iter().filter(|o| !excluded.contains(o));
                self.score_exact(&query, pool, distance)
            }
            Plan::Graph => {
                let ef = req.ef.unwrap_or(config.graph_hnsw().ef_construct).max(k);
                let mut found = Vec::new();
                for segment in &points.segments {
                    found.extend(
                        segment
                            .graph
                            .search(&self.arena, &query, k, ef, Some(&accept)),
                    );
                }
                if !req.indexed_only {
                    let tail = points.tail.iter().filter(|&o| accept(o));
                    found.extend(self.score_exact(&query, tail, distance));
                }
                found
            }
        };

        if let Some(t) = req.score_threshold {
            let higher = distance.higher_is_better();
            found.retain(|&(_, s)| if higher { s >= t } else { s <= t });
        }
        best_first(&mut found, k, distance);
        // Defensive: an offset is in one segment or the tail, never both,
        // but a duplicate must never reach a client.
        let mut seen: Vec<Offset> = Vec::with_capacity(k);
        Ok(found
            .into_iter()
            .filter(|(o, _)| {
                let new = !seen.contains(o);
                seen.push(*o);
                new
            })
            .skip(req.offset)
            .take(req.limit)
            .filter_map(|(o, s)| {
                self.record(&points, o, Some(s), &req.with_payload, req.with_vector)
            })
            .collect())
    }

    /// Picks exact scan or graph search. A filter expected to match fewer
    /// points than `full_scan_threshold` is cheaper, and exact, to scan; a
    /// graph search with a very selective filter would lose recall.
    pub(super) fn plan(
        &self,
        points: &Points,
        req: &SearchRequest,
        full_scan_threshold: usize,
    ) -> Plan {
        if req.exact || points.segments.is_empty() {
            return Plan::Exact;
        }
        let Some(filter) = &req.filter else {
            return Plan::Graph;
        };
        let estimate = match points.indexes.candidates(filter) {
            Some(c) => c.intersection_len(&points.live) as usize,
            None => sample_estimate(points, filter),
        };
        if estimate < full_scan_threshold {
            Plan::Exact
        } else {
            Plan::Graph
        }
    }

    fn score_exact(
        &self,
        query: &[f32],
        pool: impl Iterator<Item = Offset>,
        distance: Distance,
    ) -> Vec<(Offset, f32)> {
        pool.map(|o| (o, distance::score(distance, self.arena.get(o), query)))
            .collect()
    }
}

/// Estimates how many live points match `filter` from a strided sample.
fn sample_estimate(points: &Points, filter: &Filter) -> usize {
    let total = points.live.len() as usize;
    if total == 0 {
        return 0;
    }
    let step = (total / SAMPLE).max(1);
    let sample: Vec<Offset> = points.live.iter().step_by(step).take(SAMPLE).collect();
    let hits = sample
        .iter()
        .filter(|&&o| {
            points
                .view(o)
                .is_some_and(|v| filter.check_with(&v, &points.indexes))
        })
        .count();
    (hits * total).div_ceil(sample.len())
}

/// Keeps the best `2k` candidates (enough for `k` after removing
/// duplicates) in order, without sorting everything an exact scan found.
fn best_first(found: &mut Vec<(Offset, f32)>, k: usize, distance: Distance) {
    let higher = distance.higher_is_better();
    let cmp = |a: &(Offset, f32), b: &(Offset, f32)| {
        let ord = if higher {
            b.1.total_cmp(&a.1)
        } else {
            a.1.total_cmp(&b.1)
        };
        if ord == Ordering::Equal {
            a.0.cmp(&b.0)
        } else {
            ord
        }
    };
    let keep = k.saturating_mul(2).max(1);
    if found.len() > keep {
        found.select_nth_unstable_by(keep - 1, cmp);
        found.truncate(keep);
    }
    found.sort_unstable_by(cmp);
}
