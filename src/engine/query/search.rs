//! Nearest-neighbour search over one collection, and the query planner
//! that picks between the graph and an exact scan.
//!
//! A search sees three kinds of points: those in sealed graph segments,
//! the unindexed tail (scored exactly, so a point is findable as soon as its
//! upsert returns), and tombstones (old offsets of updated or deleted
//! points), which the `accept` check filters out during graph traversal.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use crate::engine::collection::admission::check_filter;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::points::{DenseSpace, Points, Segment};
use crate::engine::collection::ReadRequest;
use crate::engine::collection::View;
use crate::engine::collection::{check_vector, wrong_multi, Record};
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::config::VectorKind;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::Filter;
use crate::engine::index::distance;
use crate::engine::index::payload::Candidates;
use crate::engine::types::MultiVector;
use crate::engine::types::{Distance, Offset, PointId, SparseVector, VectorData, VectorSelector};

/// What a query vector is compared with: a dense vector, a sparse one or
/// a multivector.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryVector {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(MultiVector),
}

/// A stored vector searched with, as a query by point id does.
impl From<VectorData> for QueryVector {
    fn from(v: VectorData) -> QueryVector {
        match v {
            VectorData::Dense(v) => QueryVector::Dense(v),
            VectorData::Sparse(v) => QueryVector::Sparse(v),
            VectorData::Multi(v) => QueryVector::Multi(v),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The vector name searched (`""` for the unnamed one).
    pub using: String,
    pub vector: QueryVector,
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
    pub with_vector: VectorSelector,
    /// Points never returned (the query point itself, when searching by id).
    pub exclude: Vec<PointId>,
}

impl SearchRequest {
    /// A search for `vector` in `using` with Qdrant's defaults.
    pub fn new(using: &str, vector: QueryVector, limit: usize) -> SearchRequest {
        SearchRequest {
            using: using.to_string(),
            vector,
            filter: None,
            limit,
            offset: 0,
            score_threshold: None,
            ef: None,
            exact: false,
            indexed_only: false,
            with_payload: PayloadSelector::None,
            with_vector: VectorSelector::None,
            exclude: Vec::new(),
        }
    }
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

/// The narrowest beam a filtered graph search is priced at when choosing
/// between it and a scan. A walk that rejects most of what it visits needs
/// a wider beam than an unfiltered one for the same recall (at ef=16 a
/// filter keeping 10% of the clustered benchmark set recalled 0.73), so a
/// low `hnsw_ef` must not talk the planner out of an exact scan.
const FILTERED_EF: usize = 64;

/// Number of live points sampled to estimate how selective an unindexed
/// filter is.
const SAMPLE: usize = 256;

/// A query prepared against one vector name: normalised for Cosine,
/// IDF-weighted for sparse vectors with the modifier.
pub(in crate::engine) enum Prepared {
    Dense {
        query: Vec<f32>,
        distance: Distance,
    },
    Sparse(SparseVector),
    /// Rows normalised for Cosine; scored by MaxSim.
    Multi {
        query: MultiVector,
        distance: Distance,
    },
}

impl Prepared {
    pub(in crate::engine) fn higher_is_better(&self) -> bool {
        match self {
            Prepared::Dense { distance, .. } | Prepared::Multi { distance, .. } => {
                distance.higher_is_better()
            }
            Prepared::Sparse(_) => true,
        }
    }

    /// The score as a similarity, higher always better, as Qdrant scores
    /// internally: minus the squared distance for Euclid, minus the
    /// distance for Manhattan. Objectives built from several examples
    /// (recommend's best score and sum, discovery, context, MMR) compare
    /// and report these, so their scores match Qdrant's.
    pub(in crate::engine) fn similarity(
        &self,
        points: &Points,
        using: &str,
        offset: Offset,
    ) -> Option<f32> {
        let s = self.score(points, using, offset)?;
        Some(match self {
            Prepared::Dense {
                distance: Distance::Euclid,
                ..
            }
            | Prepared::Multi {
                distance: Distance::Euclid,
                ..
            } => -(s * s),
            _ if self.higher_is_better() => s,
            _ => -s,
        })
    }

    /// The score of the point at `offset`, `None` when it lacks the vector.
    pub(in crate::engine) fn score(
        &self,
        points: &Points,
        using: &str,
        offset: Offset,
    ) -> Option<f32> {
        match self {
            Prepared::Dense { query, distance } => {
                let space = points.dense.get(using)?;
                space
                    .present
                    .contains(offset)
                    .then(|| distance::score(*distance, space.arena.get(offset), query))
            }
            Prepared::Sparse(q) => points.sparse.get(using)?.score(offset, q),
            Prepared::Multi { query, .. } => points.multi.get(using)?.score(offset, query),
        }
    }
}

impl View<'_> {
    #[tracing::instrument(skip_all, fields(collection = %self.name, limit = req.limit))]
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Record>> {
        let points = &*self.points;
        let found = self.nearest(req)?;
        Ok(found
            .into_iter()
            .skip(req.offset)
            .take(req.limit)
            .filter_map(|(o, s)| points.record(o, Some(s), &req.with_payload, &req.with_vector))
            .collect())
    }

    /// Checks `vector` against the config of `using` and prepares it.
    pub(in crate::engine) fn prepare(&self, using: &str, vector: &QueryVector) -> Result<Prepared> {
        let (config, points) = (&self.config, &*self.points);
        let kind = config.kind_of(using)?;
        // A plain vector searches a multivector field as one row, as in Qdrant.
        let rows = match (kind, vector) {
            (VectorKind::Multi, QueryVector::Multi(m)) => Some(m.clone()),
            (VectorKind::Multi, QueryVector::Dense(v)) => Some(MultiVector::single(v.clone())),
            _ => None,
        };
        if let Some(mut query) = rows {
            let params = config.dense_params(using).expect("kind_of checked it");
            if query.is_empty() {
                return Err(EngineError::VectorDimension {
                    expected: params.size,
                    got: 0,
                });
            }
            for row in query.rows_mut() {
                check_vector(row, params.size)?;
                params.to_query(row);
            }
            return Ok(Prepared::Multi {
                query,
                distance: params.distance,
            });
        }
        match (kind, vector) {
            (VectorKind::Dense, QueryVector::Dense(v)) => {
                let params = config.dense_params(using).expect("kind_of checked it");
                check_vector(v, params.size)?;
                let mut query = v.clone();
                params.to_query(&mut query);
                Ok(Prepared::Dense {
                    query,
                    distance: params.distance,
                })
            }
            (VectorKind::Dense, QueryVector::Multi(_)) => Err(wrong_multi(using, true)),
            (VectorKind::Multi, _) | (VectorKind::Sparse, QueryVector::Multi(_)) => {
                Err(EngineError::BadRequest(format!(
                    "Wrong input: vector `{using}` is {}; this query cannot search it",
                    match kind {
                        VectorKind::Sparse => "sparse",
                        _ => "a multivector",
                    }
                )))
            }
            (VectorKind::Sparse, QueryVector::Sparse(v)) => {
                let idf = config.sparse_params(using).is_some_and(|p| p.idf());
                Ok(match points.sparse.get(using) {
                    Some(index) => Prepared::Sparse(index.weigh(v, idf)),
                    None => Prepared::Sparse(v.clone()),
                })
            }
            (VectorKind::Dense, QueryVector::Sparse(_)) => Err(EngineError::BadRequest(format!(
                "Wrong input: vector `{using}` is dense; a sparse query cannot search it"
            ))),
            (VectorKind::Sparse, QueryVector::Dense(_)) => Err(EngineError::BadRequest(format!(
                "Wrong input: vector `{using}` is sparse; a dense query cannot search it"
            ))),
        }
    }

    /// The best `limit + offset` points for `req`, best first, as
    /// (offset, score). Shared by search and the query API's stages.
    pub(in crate::engine) fn nearest(&self, req: &SearchRequest) -> Result<Vec<(Offset, f32)>> {
        let (config, points) = (&self.config, &*self.points);
        if let Some(f) = &req.filter {
            f.validate().map_err(EngineError::from)?;
        }
        let prepared = self.prepare(&req.using, &req.vector)?;
        let k = req.limit.saturating_add(req.offset);
        if k == 0 {
            return Ok(Vec::new());
        }
        let excluded: HashSet<Offset> = req
            .exclude
            .iter()
            .filter_map(|id| points.ids.get(id).copied())
            .collect();
        let ef = req
            .ef
            .unwrap_or(config.graph_hnsw(&req.using).ef_construct)
            .max(k);
        // Below this many matching points an exact scan is chosen.
        let scan_limit = match &prepared {
            Prepared::Dense { .. } => scan_limit(
                config.full_scan_threshold_points(&req.using),
                config.graph_hnsw(&req.using).m,
                ef.max(FILTERED_EF),
                points.len(),
            ),
            Prepared::Sparse(_) | Prepared::Multi { .. } => usize::MAX,
        };
        // What the payload indexes can say about the filter, computed once:
        // a superset of the matching points, maybe exact. Testing a bitmap
        // spares the payload read for rejected points (most of what a
        // filtered graph search visits), and for all when it is exact.
        // Gathering a range costs tens of nanoseconds per point in it: past
        // `scan_limit` points the search is a graph walk, which visits few
        // points when most pass, and checking those one by one costs about
        // the same (measured at 50% of 100,000 points) without the memory.
        let candidates = req
            .filter
            .as_ref()
            .and_then(|f| points.indexes.candidates_within(f, scan_limit));
        let trusted = candidates.as_ref().is_some_and(|c| c.exact);
        // Otherwise a filter of number ranges is still checked from the
        // index columns rather than the payloads.
        let point_check = match &req.filter {
            Some(f) if !trusted => points.indexes.point_check(f),
            _ => None,
        };
        // Liveness is checked by each index below (a space's `present` and
        // a sparse index's docs only hold live offsets).
        let accept = |o: Offset| -> bool {
            !excluded.contains(&o)
                && candidates.as_ref().is_none_or(|c| c.contains(o))
                && (trusted
                    || match (&point_check, &req.filter) {
                        (Some(check), _) => check.matches(o),
                        (None, None) => true,
                        (None, Some(f)) => points
                            .view(o)
                            .is_some_and(|v| f.check_with(&v, &points.indexes)),
                    })
        };

        let mut found: Vec<(Offset, f32)> = match &prepared {
            Prepared::Sparse(query) => match points.sparse.get(&req.using) {
                Some(index) => index.top_k(query, k, accept),
                None => Vec::new(),
            },
            // No graph over multivectors: every matching point is scored.
            Prepared::Multi { query, .. } => match points.multi.get(&req.using) {
                Some(space) => {
                    let pool = match &req.filter {
                        Some(f) => points.matching(f, candidates.clone()),
                        None => points.live.clone(),
                    };
                    pool.iter()
                        .filter(|o| !excluded.contains(o))
                        .filter_map(|o| space.score(o, query).map(|s| (o, s)))
                        .collect()
                }
                None => Vec::new(),
            },
            Prepared::Dense { query, distance } => {
                let space = points.dense.get(&req.using).ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "Wrong input: Not existing vector name error: {}",
                        req.using
                    ))
                })?;
                match self.plan(&space.segments, req, candidates.as_ref(), scan_limit) {
                    Plan::Exact => {
                        let mut pool = match &req.filter {
                            Some(f) => points.matching(f, candidates.clone()),
                            None => points.live.clone(),
                        };
                        pool &= &space.present;
                        let pool = pool.into_iter().filter(|o| !excluded.contains(o));
                        score_exact(space, query, pool, *distance)
                    }
                    Plan::Graph => {
                        let mut found = Vec::new();
                        let present = |o: Offset| space.present.contains(o) && accept(o);

                        for segment in &space.segments {
                            // A segment no larger than the beam is scanned:
                            // the walk would visit every node it can reach
                            // anyway, and a scan reaches the nodes pruned
                            // links can leave without an incoming edge.
                            if segment.members.len() as usize <= ef {
                                let pool = segment.members.iter().filter(|&o| present(o));
                                found.extend(score_exact(space, query, pool, *distance));
                                continue;
                            }
                            found.extend(segment.graph.search(
                                space.arena.as_ref(),
                                query,
                                k,
                                ef,
                                Some(&present),
                            ));
                        }
                        if !req.indexed_only {
                            let tail = space.tail.iter().filter(|&o| accept(o));
                            found.extend(score_exact(space, query, tail, *distance));
                        }
                        found
                    }
                }
            }
        };

        let higher = prepared.higher_is_better();
        if let Some(t) = req.score_threshold {
            found.retain(|&(_, s)| if higher { s >= t } else { s <= t });
        }
        best_first(&mut found, k, higher);
        // Defensive: an offset is in one segment or the tail, never both,
        // but a duplicate must never reach a client.
        let mut seen: HashSet<Offset> = HashSet::with_capacity(found.len());
        found.retain(|(o, _)| seen.insert(*o));
        found.truncate(k);
        Ok(found)
    }

    /// Picks exact scan or graph search: a filter expected to match fewer
    /// than `scan_limit` points (see [`scan_limit`]) is scanned, which is
    /// cheaper there and exact; a graph search under such a filter would
    /// also lose recall.
    pub(in crate::engine) fn plan(
        &self,
        segments: &[Arc<Segment>],
        req: &SearchRequest,
        candidates: Option<&Candidates>,
        scan_limit: usize,
    ) -> Plan {
        let points = &*self.points;
        if req.exact || segments.is_empty() {
            return Plan::Exact;
        }
        let Some(filter) = &req.filter else {
            return Plan::Graph;
        };
        let estimate = match candidates {
            Some(c) => c.points.intersection_len(&points.live) as usize,
            None => sample_estimate(points, filter),
        };
        if estimate < scan_limit {
            Plan::Exact
        } else {
            Plan::Graph
        }
    }
}

/// The number of matching points below which a filtered search scans
/// them exactly instead of searching the graph.
///
/// Below `full_scan_threshold` (in points), always, as Qdrant does. Above
/// it, while the scan is the cheaper plan: it scores the `c` matching
/// points, while a graph search where a share `c / n` of points passes
/// expands about `ef · n / c` nodes before its beam holds `ef` of them,
/// scoring the unvisited ones among each node's up to `2m` level-0 links
/// (about `m`). The scan reads its vectors in storage order and the graph
/// at random, with heap work for each, which counts double: the scan wins
/// while `c < 2m · ef · n / c`, that is `c < sqrt(2m · ef · n)` (14,300 of
/// 100,000 points at m=16, ef=64). It is also exact, where on clustered
/// data a graph search that keeps one point in ten misses some of the
/// best ones, which lie in other clusters.
pub(in crate::engine) fn scan_limit(
    full_scan_threshold: usize,
    m: usize,
    ef: usize,
    n: usize,
) -> usize {
    let crossover = (2.0 * (m.max(1) as f64) * (ef as f64) * (n as f64)).sqrt() as usize;
    full_scan_threshold.max(crossover)
}

fn score_exact(
    space: &DenseSpace,
    query: &[f32],
    pool: impl Iterator<Item = Offset>,
    distance: Distance,
) -> Vec<(Offset, f32)> {
    // A filtered scan reads scattered vectors: load the next while scoring
    // this one.
    let mut pool = pool.peekable();
    let mut out = Vec::with_capacity(pool.size_hint().0);
    while let Some(o) = pool.next() {
        if let Some(&next) = pool.peek() {
            distance::prefetch(space.arena.get(next));
        }
        out.push((o, distance::score(distance, space.arena.get(o), query)));
    }
    out
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
pub(in crate::engine) fn best_first(found: &mut Vec<(Offset, f32)>, k: usize, higher: bool) {
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

impl ReadRequest for SearchRequest {
    type Output = Vec<Record>;

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        strict.check_limit(self.limit)?;
        strict.check_search_params(self.ef, self.exact)?;
        match &self.filter {
            Some(f) => check_filter(strict, f, &view.points.indexes, false),
            None => Ok(()),
        }
    }

    fn run(&self, view: View) -> Result<Vec<Record>> {
        view.search(self)
    }
}

#[cfg(test)]
mod tests {
    use super::scan_limit;

    #[test]
    fn scan_limit_is_the_threshold_or_the_crossover() {
        // 100,000 points, m=16, ef=64: sqrt(2 * 16 * 64 * 100,000).
        assert_eq!(scan_limit(6_500, 16, 64, 100_000), 14_310);
        // Small collections: Qdrant's threshold decides.
        assert_eq!(scan_limit(6_500, 16, 64, 5_000), 6_500);
        // m = 0 (no graph) still gives a finite limit.
        assert!(scan_limit(0, 0, 10, 1_000) > 0);
    }
}
