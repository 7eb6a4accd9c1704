//! The universal query: a tree of stages, each a nearest-neighbour search
//! or a combination of the results of its `prefetch` stages.
//!
//! A stage without prefetches searches the collection (graph or exact, as
//! [`Collection::search`] does). A stage with prefetches works only on the
//! points they found: `nearest` rescores them exactly with another vector
//! (a cheap dense first pass, then a precise second one), and fusion (RRF,
//! DBSF) merges their rankings, which is how dense and BM25 results become
//! one hybrid list; a formula rescores them from their scores and payloads;
//! `order_by` and `sample` list them by a payload field or at random. The
//! root's filter applies to every stage below it.

use std::collections::HashMap;

use crate::engine::collection::admission::check_filter;
use crate::engine::collection::admission::check_listing;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::points::Points;
use crate::engine::collection::view::Collections;
use crate::engine::collection::ReadRequest;
use crate::engine::collection::Record;
use crate::engine::collection::View;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::Filter;
use crate::engine::index::payload::PayloadIndexes;
use crate::engine::query::explore::ContextPair;
use crate::engine::query::formula::{self, Formula};
use crate::engine::query::lookup::Lookup;
use crate::engine::query::scroll::ScrollRequest;
use crate::engine::query::scroll::{ordered, sample_pool, OrderBy};
use crate::engine::query::search::{best_first, Prepared, QueryVector, SearchRequest};
use crate::engine::types::{Offset, PointId, VectorSelector};

/// Qdrant's default `k` for reciprocal rank fusion: small, so the first
/// places of each list weigh much more than the tail.
pub const DEFAULT_RRF_K: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: each list adds `w / (rank / w' + k)`.
    Rrf { k: usize, weights: Option<Vec<f32>> },
    /// Distribution-based score fusion: each list's scores are scaled by
    /// its mean ± 3 standard deviations to [0, 1], then summed.
    Dbsf,
}

/// How `recommend` turns examples into scores (Qdrant's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// One query vector, `2·avg(positive) − avg(negative)`, searched as usual.
    #[default]
    AverageVector,
    /// Each point scores its best similarity to a positive example; if a
    /// negative is closer, minus that similarity squared.
    BestScore,
    /// Similarities to positives added, to negatives subtracted.
    SumScores,
}

/// A recommend example: a stored point (left out of the results) or a vector.
#[derive(Debug, Clone, PartialEq)]
pub enum Example {
    Id(PointId),
    Vector(QueryVector),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Nearest(QueryVector),
    /// The stored vector of a point (which is left out of the results).
    NearestId(PointId),
    Fusion(Fusion),
    Recommend {
        positive: Vec<Example>,
        negative: Vec<Example>,
        strategy: Strategy,
    },
    /// Near `target`, within the zones the pairs mark out.
    Discover {
        target: Example,
        context: Vec<ContextPair>,
    },
    /// Anywhere closer to the positive than to the negative of each pair.
    Context(Vec<ContextPair>),
    /// Nearest to a vector or point, reranked for diversity among the
    /// best `candidates` (default: the stage's limit).
    Mmr {
        nearest: Example,
        diversity: f32,
        candidates: Option<usize>,
    },
    /// Score boosting: the prefetched points rescored by a formula.
    Formula(Box<Formula>),
    /// Points in the order of a payload field (score 0). Over prefetches,
    /// the score threshold does not apply, as in Qdrant.
    OrderBy(OrderBy),
    /// Points drawn at random (score 0).
    Sample,
}

/// One stage of a query.
#[derive(Debug, Clone)]
pub struct Stage {
    pub prefetch: Vec<Stage>,
    pub query: Option<Query>,
    pub using: String,
    pub filter: Option<Filter>,
    pub score_threshold: Option<f32>,
    pub limit: usize,
    pub ef: Option<usize>,
    pub exact: bool,
    pub indexed_only: bool,
    /// Where the point ids of `query` are read, when not in the collection
    /// searched; resolved before the query runs.
    pub lookup: Option<Lookup>,
}

impl Stage {
    pub fn new(query: Option<Query>, limit: usize) -> Stage {
        Stage {
            prefetch: Vec::new(),
            query,
            using: String::new(),
            filter: None,
            score_threshold: None,
            limit,
            ef: None,
            exact: false,
            indexed_only: false,
            lookup: None,
        }
    }
}

impl Stage {
    /// The plain search this stage runs for `vector`, with its own
    /// threshold and search params.
    fn search(
        &self,
        vector: QueryVector,
        limit: usize,
        filter: Option<Filter>,
        exclude: Vec<PointId>,
    ) -> SearchRequest {
        let mut req = SearchRequest::new(&self.using, vector, limit);
        req.filter = filter;
        req.score_threshold = self.score_threshold;
        req.ef = self.ef;
        req.exact = self.exact;
        req.indexed_only = self.indexed_only;
        req.exclude = exclude;
        req
    }
}

/// A legacy search is a one-stage query for its vector.
impl From<SearchRequest> for QueryRequest {
    fn from(search: SearchRequest) -> QueryRequest {
        let mut root = Stage::new(Some(Query::Nearest(search.vector)), search.limit);
        root.using = search.using;
        root.filter = search.filter;
        root.score_threshold = search.score_threshold;
        root.ef = search.ef;
        root.exact = search.exact;
        root.indexed_only = search.indexed_only;
        QueryRequest {
            root,
            offset: search.offset,
            with_payload: search.with_payload,
            with_vector: search.with_vector,
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub root: Stage,
    pub offset: usize,
    pub with_payload: PayloadSelector,
    pub with_vector: VectorSelector,
}

impl View<'_> {
    #[tracing::instrument(skip_all, fields(collection = %self.name, limit = req.root.limit))]
    pub fn query(&self, req: &QueryRequest) -> Result<Vec<Record>> {
        let points = &*self.points;
        let mut root = req.root.clone();
        root.limit = root.limit.saturating_add(req.offset);
        if let (Some(Query::OrderBy(order)), false) = (&root.query, root.prefetch.is_empty()) {
            return self.ordered_prefetches(&root, order, req);
        }
        let found = self.run_stage(&root, None)?;
        Ok(found
            .into_iter()
            .skip(req.offset)
            .take(req.root.limit)
            .filter_map(|(o, s)| points.record(o, Some(s), &req.with_payload, &req.with_vector))
            .collect())
    }

    /// A root `order_by` over prefetches: their points in the order of the
    /// field, each with the value it is ordered by, as a listing has.
    fn ordered_prefetches(
        &self,
        root: &Stage,
        order: &OrderBy,
        req: &QueryRequest,
    ) -> Result<Vec<Record>> {
        let points = &*self.points;
        let lists = self.prefetch_lists(root, root.filter.as_ref())?;
        let pool = union(&lists).into_iter().map(|(o, _)| o);
        Ok(ordered(points, order, pool, root.limit)?
            .into_iter()
            .skip(req.offset)
            .filter_map(|(o, value)| {
                let mut r = points.record(o, Some(0.0), &req.with_payload, &req.with_vector)?;
                r.order_value = Some(value);
                Some(r)
            })
            .collect())
    }

    /// The best `stage.limit` points of a stage, best first.
    pub(in crate::engine) fn run_stage(
        &self,
        stage: &Stage,
        outer: Option<&Filter>,
    ) -> Result<Vec<(Offset, f32)>> {
        let points = &*self.points;
        let filter = combine(outer, stage.filter.as_ref());
        if stage.prefetch.is_empty() {
            return self.search_stage(stage, filter);
        }
        let lists = self.prefetch_lists(stage, filter.as_ref())?;
        let mut found = match &stage.query {
            None => {
                // No query over prefetches: their points as they came, each once.
                union(&lists)
            }
            Some(Query::Fusion(fusion)) => fuse(fusion, &lists)?,
            Some(Query::Nearest(vector)) => self.rescore(stage, vector, &lists, None)?,
            Some(Query::NearestId(id)) => {
                let vector = self.stored_query(id, &stage.using)?;
                self.rescore(stage, &vector, &lists, Some(id))?
            }
            Some(Query::Mmr {
                nearest,
                diversity,
                candidates,
            }) => {
                let (vector, exclude) = self.mmr_vector(&stage.using, nearest)?;
                let mut first = stage.clone();
                first.limit = candidates.unwrap_or(stage.limit);
                let pool = self.rescore(&first, &vector, &lists, exclude.first())?;
                self.mmr(stage, &vector, pool, *diversity)?
            }
            Some(Query::Recommend {
                positive,
                negative,
                strategy,
            }) => {
                let reco = self.recommendation(stage, positive, negative)?;
                let pool = union(&lists).into_iter().map(|(o, _)| o);
                reco.score_pool(points, &stage.using, *strategy, pool, stage.limit)
            }
            Some(q @ (Query::Discover { .. } | Query::Context(_))) => {
                let exploration = self.exploration(stage, q)?;
                let pool = union(&lists).into_iter().map(|(o, _)| o);
                exploration.score_pool(points, &stage.using, pool, stage.limit)
            }
            Some(Query::Formula(f)) => formula::rescore(points, f, &lists, stage.limit)?,
            Some(q @ (Query::OrderBy(_) | Query::Sample)) => {
                let pool = union(&lists).into_iter().map(|(o, _)| o).collect();
                return listed(points, q, pool, stage.limit);
            }
        };
        if let Some(t) = stage.score_threshold {
            let higher = self.stage_higher_is_better(stage);
            found.retain(|&(_, s)| if higher { s >= t } else { s <= t });
        }
        found.truncate(stage.limit);
        Ok(found)
    }

    /// The results of a stage's prefetches, one list each.
    fn prefetch_lists(
        &self,
        stage: &Stage,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<(Offset, f32)>>> {
        stage
            .prefetch
            .iter()
            .map(|p| self.run_stage(p, filter))
            .collect()
    }

    fn stage_higher_is_better(&self, stage: &Stage) -> bool {
        let config = &self.config;
        match &stage.query {
            Some(Query::Nearest(_))
            | Some(Query::NearestId(_))
            | Some(Query::Mmr { .. })
            | Some(Query::Recommend {
                strategy: Strategy::AverageVector,
                ..
            }) => config
                .dense_params(&stage.using)
                .is_none_or(|p| p.distance.higher_is_better()),
            _ => true,
        }
    }

    /// A stage without prefetches: a plain search.
    fn search_stage(&self, stage: &Stage, filter: Option<Filter>) -> Result<Vec<(Offset, f32)>> {
        let points = &*self.points;
        let (vector, exclude) = match &stage.query {
            Some(Query::Recommend {
                positive,
                negative,
                strategy,
            }) => {
                let reco = self.recommendation(stage, positive, negative)?;
                if *strategy == Strategy::AverageVector {
                    (reco.average()?, reco.exclude_ids)
                } else {
                    // A custom objective has no graph to walk: score every
                    // candidate the filter lets through.
                    let pool = self.filtered(filter.as_ref());
                    let mut found =
                        reco.score_pool(points, &stage.using, *strategy, pool, usize::MAX);
                    if let Some(t) = stage.score_threshold {
                        found.retain(|&(_, s)| s >= t);
                    }
                    found.truncate(stage.limit);
                    return Ok(found);
                }
            }
            Some(q @ (Query::Discover { .. } | Query::Context(_))) => {
                // Like a custom recommend objective: every candidate the
                // filter lets through is scored.
                let exploration = self.exploration(stage, q)?;
                let pool = self.filtered(filter.as_ref());
                let mut found = exploration.score_pool(points, &stage.using, pool, usize::MAX);
                if let Some(t) = stage.score_threshold {
                    found.retain(|&(_, s)| s >= t);
                }
                found.truncate(stage.limit);
                return Ok(found);
            }
            Some(Query::Mmr {
                nearest,
                diversity,
                candidates,
            }) => {
                let (vector, exclude) = self.mmr_vector(&stage.using, nearest)?;
                let limit = candidates.unwrap_or(stage.limit);
                let req = stage.search(vector.clone(), limit, filter, exclude);
                let pool = self.nearest(&req)?;
                return self.mmr(stage, &vector, pool, *diversity);
            }
            Some(Query::Nearest(v)) => (v.clone(), Vec::new()),
            Some(Query::NearestId(id)) => (self.stored_query(id, &stage.using)?, vec![*id]),
            Some(Query::Fusion(_)) => {
                return Err(EngineError::BadRequest(
                    "Wrong input: fusion needs at least one prefetch to fuse".into(),
                ))
            }
            Some(Query::Formula(_)) => {
                return Err(EngineError::BadRequest(
                    "cannot apply Formula without prefetches".into(),
                ))
            }
            Some(q @ (Query::OrderBy(_) | Query::Sample)) => {
                let pool = self.filtered(filter.as_ref()).iter().collect();
                return listed(points, q, pool, stage.limit);
            }
            None => {
                // Points in id order, as Qdrant answers a query without one.
                return Ok(points
                    .ids
                    .values()
                    .filter(|&&o| {
                        filter.as_ref().is_none_or(|f| {
                            points
                                .view(o)
                                .is_some_and(|v| f.check_with(&v, &points.indexes))
                        })
                    })
                    .take(stage.limit)
                    .map(|&o| (o, 0.0))
                    .collect());
            }
        };
        let req = stage.search(vector, stage.limit, filter, exclude);
        self.nearest(&req)
    }

    /// The vector an MMR query searches with, and the point it names, if
    /// any, which is left out of the results as a nearest-id query's is.
    fn mmr_vector(&self, using: &str, nearest: &Example) -> Result<(QueryVector, Vec<PointId>)> {
        let mut ids = Vec::new();
        let vector = self.example_vector(using, nearest, &mut Vec::new(), &mut ids)?;
        Ok((vector, ids))
    }

    /// The vector `using` of point `id`, to search with.
    pub(in crate::engine) fn stored_query(&self, id: &PointId, using: &str) -> Result<QueryVector> {
        let points = &*self.points;
        let offset = points
            .ids
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("No point with id {id} found")))?;
        match points.vectors(*offset).remove(using) {
            Some(v) => Ok(QueryVector::from(v)),
            None => Err(EngineError::BadRequest(format!(
                "Wrong input: point {id} has no vector `{using}`"
            ))),
        }
    }

    /// Scores the union of the prefetch results with `vector`, exactly.
    fn rescore(
        &self,
        stage: &Stage,
        vector: &QueryVector,
        lists: &[Vec<(Offset, f32)>],
        exclude: Option<&PointId>,
    ) -> Result<Vec<(Offset, f32)>> {
        let points = &*self.points;
        let prepared = self.prepare(&stage.using, vector)?;
        let excluded = exclude.and_then(|id| points.ids.get(id).copied());
        let mut found: Vec<(Offset, f32)> = union(lists)
            .into_iter()
            .filter(|(o, _)| Some(*o) != excluded)
            .filter_map(|(o, _)| prepared.score(points, &stage.using, o).map(|s| (o, s)))
            .collect();
        best_first(&mut found, stage.limit, prepared.higher_is_better());
        found.truncate(stage.limit);
        Ok(found)
    }
}

/// Recommend examples resolved to vectors of one name.
struct Recommendation {
    positive: Vec<Prepared>,
    negative: Vec<Prepared>,
    raw_positive: Vec<QueryVector>,
    raw_negative: Vec<QueryVector>,
    exclude: Vec<Offset>,
    exclude_ids: Vec<PointId>,
}

impl View<'_> {
    fn recommendation(
        &self,
        stage: &Stage,
        positive: &[Example],
        negative: &[Example],
    ) -> Result<Recommendation> {
        if positive.is_empty() && negative.is_empty() {
            return Err(EngineError::BadRequest(
                "Wrong input: recommend needs at least one positive or negative example".into(),
            ));
        }
        let mut reco = Recommendation {
            positive: Vec::new(),
            negative: Vec::new(),
            raw_positive: Vec::new(),
            raw_negative: Vec::new(),
            exclude: Vec::new(),
            exclude_ids: Vec::new(),
        };
        for (examples, is_positive) in [(positive, true), (negative, false)] {
            for example in examples {
                let vector = self.example_vector(
                    &stage.using,
                    example,
                    &mut reco.exclude,
                    &mut reco.exclude_ids,
                )?;
                let prepared = self.prepare(&stage.using, &vector)?;
                if is_positive {
                    reco.positive.push(prepared);
                    reco.raw_positive.push(vector);
                } else {
                    reco.negative.push(prepared);
                    reco.raw_negative.push(vector);
                }
            }
        }
        Ok(reco)
    }
}

impl View<'_> {
    /// The vector of an example: given, or stored under `using` by a point
    /// of this collection, which is then left out of the results.
    pub(in crate::engine) fn example_vector(
        &self,
        using: &str,
        example: &Example,
        exclude: &mut Vec<Offset>,
        exclude_ids: &mut Vec<PointId>,
    ) -> Result<QueryVector> {
        let points = &*self.points;
        match example {
            Example::Vector(v) => Ok(v.clone()),
            Example::Id(id) => {
                exclude_ids.push(*id);
                if let Some(&o) = points.ids.get(id) {
                    exclude.push(o);
                }
                self.stored_query(id, using)
            }
        }
    }
}

impl Recommendation {
    /// `avg(positive) + (avg(positive) − avg(negative))`: a point past the
    /// positives, away from the negatives.
    fn average(&self) -> Result<QueryVector> {
        let dense = |list: &[QueryVector]| -> Result<Option<Vec<f32>>> {
            let mut sum: Option<Vec<f32>> = None;
            for v in list {
                let QueryVector::Dense(v) = v else {
                    return Err(EngineError::BadRequest(
                        "Wrong input: the average_vector strategy needs dense vectors; use best_score or sum_scores for sparse and multivectors".into(),
                    ));
                };
                match &mut sum {
                    None => sum = Some(v.clone()),
                    Some(s) => s.iter_mut().zip(v).for_each(|(a, b)| *a += b),
                }
            }
            let n = list.len().max(1) as f32;
            Ok(sum.map(|s| s.into_iter().map(|x| x / n).collect()))
        };
        let pos = dense(&self.raw_positive)?;
        let neg = dense(&self.raw_negative)?;
        Ok(QueryVector::Dense(match (pos, neg) {
            (Some(p), None) => p,
            (Some(p), Some(n)) => p.iter().zip(&n).map(|(p, n)| 2.0 * p - n).collect(),
            (None, Some(n)) => n.into_iter().map(|x| -x).collect(),
            (None, None) => {
                return Err(EngineError::BadRequest(
                    "Wrong input: recommend needs at least one example".into(),
                ))
            }
        }))
    }

    /// Scores `pool` by a custom objective; best `limit`, best first.
    fn score_pool(
        &self,
        points: &Points,
        using: &str,
        strategy: Strategy,
        pool: impl IntoIterator<Item = Offset>,
        limit: usize,
    ) -> Vec<(Offset, f32)> {
        let sim = |p: &Prepared, o: Offset| p.similarity(points, using, o);
        let mut found: Vec<(Offset, f32)> = pool
            .into_iter()
            .filter(|o| !self.exclude.contains(o))
            .filter_map(|o| {
                let pos = self.positive.iter().map(|p| sim(p, o));
                let neg = self.negative.iter().map(|p| sim(p, o));
                let pos: Option<Vec<f32>> = pos.collect();
                let neg: Option<Vec<f32>> = neg.collect();
                let (pos, neg) = (pos?, neg?);
                let score = match strategy {
                    Strategy::SumScores => pos.iter().sum::<f32>() - neg.iter().sum::<f32>(),
                    _ => {
                        let best_pos = pos.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let best_neg = neg.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        if best_pos >= best_neg {
                            best_pos
                        } else {
                            -(best_neg * best_neg)
                        }
                    }
                };
                Some((o, score))
            })
            .collect();
        let keep = limit.min(found.len());
        best_first(&mut found, keep, true);
        found.truncate(limit);
        found
    }
}

/// The points of the prefetch lists, each once, in the order first seen.
fn union(lists: &[Vec<(Offset, f32)>]) -> Vec<(Offset, f32)> {
    let mut seen = std::collections::HashSet::new();
    lists
        .iter()
        .flatten()
        .filter(|(o, _)| seen.insert(*o))
        .copied()
        .collect()
}

/// Both filters, when both are given: a stage sees its own and its parents'.
fn combine(outer: Option<&Filter>, inner: Option<&Filter>) -> Option<Filter> {
    match (outer, inner) {
        (None, None) => None,
        (Some(f), None) | (None, Some(f)) => Some(f.clone()),
        (Some(a), Some(b)) => Some(Filter::all_of(vec![a.clone(), b.clone()])),
    }
}

/// Merges ranked lists (each best first) into one, best first.
pub fn fuse(fusion: &Fusion, lists: &[Vec<(Offset, f32)>]) -> Result<Vec<(Offset, f32)>> {
    let mut scores: HashMap<Offset, f32> = HashMap::new();
    match fusion {
        Fusion::Rrf { k, weights } => {
            if let Some(w) = weights {
                if w.len() != lists.len() {
                    return Err(EngineError::BadRequest(format!(
                        "Wrong input: rrf has {} weights for {} prefetches",
                        w.len(),
                        lists.len()
                    )));
                }
                if w.iter().any(|w| !w.is_finite() || *w <= 0.0) {
                    return Err(EngineError::BadRequest(
                        "Wrong input: rrf weights must be positive numbers".into(),
                    ));
                }
            }
            for (i, list) in lists.iter().enumerate() {
                let w = weights.as_ref().map_or(1.0, |w| w[i]);
                for (rank, (o, _)) in list.iter().enumerate() {
                    // rank 0 of an unweighted list scores 1 / k.
                    let score = 1.0 / ((rank as f32 + 1.0) / w + *k as f32 - 1.0);
                    *scores.entry(*o).or_default() += score;
                }
            }
        }
        Fusion::Dbsf => {
            for list in lists {
                let n = list.len() as f32;
                if list.is_empty() {
                    continue;
                }
                let mean = list.iter().map(|(_, s)| s).sum::<f32>() / n;
                let var = list.iter().map(|(_, s)| (s - mean).powi(2)).sum::<f32>() / n;
                let std = var.sqrt();
                let (low, high) = (mean - 3.0 * std, mean + 3.0 * std);
                for (o, s) in list {
                    let normalised = if high > low {
                        ((s - low) / (high - low)).clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    *scores.entry(*o).or_default() += normalised;
                }
            }
        }
    }
    let mut fused: Vec<(Offset, f32)> = scores.into_iter().collect();
    let n = fused.len();
    best_first(&mut fused, n, true);
    Ok(fused)
}

/// An `order_by` or `sample` stage over `pool`: the points it lists, each
/// with score 0 (a listing has no score).
fn listed(
    points: &Points,
    query: &Query,
    pool: Vec<Offset>,
    limit: usize,
) -> Result<Vec<(Offset, f32)>> {
    let picked: Vec<Offset> = match query {
        Query::OrderBy(order) => ordered(points, order, pool, limit)?
            .into_iter()
            .map(|(o, _)| o)
            .collect(),
        _ => sample_pool(&pool, limit),
    };
    Ok(picked.into_iter().map(|o| (o, 0.0)).collect())
}

/// The root-level queries that list points instead of scoring them, when
/// there are no prefetches (over prefetches they are stages like any
/// other): no query at all (id order), `order_by` and `sample`.
enum Listing<'a> {
    IdOrder,
    OrderBy(&'a OrderBy),
    Random,
}

impl QueryRequest {
    fn listing(&self) -> Option<Listing<'_>> {
        if !self.root.prefetch.is_empty() {
            return None;
        }
        match &self.root.query {
            None => Some(Listing::IdOrder),
            Some(Query::OrderBy(order)) => Some(Listing::OrderBy(order)),
            Some(Query::Sample) => Some(Listing::Random),
            Some(_) => None,
        }
    }

    /// How many points a listing reads: a page past `offset`, or the sample.
    fn listed(&self, listing: &Listing) -> usize {
        match listing {
            Listing::Random => self.root.limit,
            _ => self.root.limit.saturating_add(self.offset),
        }
    }
}

impl ReadRequest for QueryRequest {
    type Output = Vec<Record>;

    fn resolve(&mut self, collections: &Collections) -> Result<()> {
        // A listing reads no examples, wherever `lookup_from` points.
        if self.listing().is_some() {
            return Ok(());
        }
        self.root.resolve(collections)
    }

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        let indexes = &view.points.indexes;
        match self.listing() {
            Some(listing) => check_listing(
                strict,
                Some(self.listed(&listing)),
                self.root.filter.as_ref(),
                indexes,
            ),
            None => check_stage(strict, &self.root, indexes),
        }
    }

    fn run(&self, view: View) -> Result<Vec<Record>> {
        let Some(listing) = self.listing() else {
            return view.query(self);
        };
        let root = &self.root;
        let limit = self.listed(&listing);
        let listed = |order_by: Option<OrderBy>| -> Result<Vec<Record>> {
            let req = ScrollRequest {
                filter: root.filter.clone(),
                limit,
                offset: None,
                order_by,
                with_payload: self.with_payload.clone(),
                with_vector: self.with_vector.clone(),
            };
            let (records, _) = view.scroll(&req)?;
            Ok(records
                .into_iter()
                .skip(self.offset)
                .map(|r| Record {
                    score: Some(0.0),
                    ..r
                })
                .collect())
        };
        match listing {
            Listing::IdOrder => listed(None),
            Listing::OrderBy(order) => listed(Some(order.clone())),
            Listing::Random => view.sample(
                root.filter.as_ref(),
                limit,
                &self.with_payload,
                &self.with_vector,
            ),
        }
    }
}

/// Strict mode on every stage of a query: limits, search params,
/// filters, formulas.
fn check_stage(strict: &StrictModeConfig, stage: &Stage, indexes: &PayloadIndexes) -> Result<()> {
    strict.check_limit(stage.limit)?;
    strict.check_search_params(stage.ef, stage.exact)?;
    if let Some(f) = &stage.filter {
        check_filter(strict, f, indexes, false)?;
    }
    if let Some(Query::Formula(formula)) = &stage.query {
        formula::check(strict, &formula.expr, indexes)?;
    }
    stage
        .prefetch
        .iter()
        .try_for_each(|p| check_stage(strict, p, indexes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_points_ranked_well_in_several_lists() {
        let dense = vec![(1, 0.9), (2, 0.8), (3, 0.7)];
        let sparse = vec![(3, 12.0), (4, 9.0), (1, 1.0)];
        let fused = fuse(
            &Fusion::Rrf {
                k: DEFAULT_RRF_K,
                weights: None,
            },
            &[dense, sparse],
        )
        .unwrap();
        let order: Vec<Offset> = fused.iter().map(|f| f.0).collect();
        // 1: 1/2 + 1/4; 3: 1/4 + 1/2; tie broken by offset; then 2 and 4 (1/3 each).
        assert_eq!(order, vec![1, 3, 2, 4]);
        assert!((fused[0].1 - 0.75).abs() < 1e-6);
        assert!((fused[2].1 - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn rrf_weights_favour_a_list_and_must_match_the_lists() {
        // Unweighted, two lists' first places tie; weight 3 on the first
        // list puts its point ahead.
        let a = vec![(2, 1.0)];
        let b = vec![(1, 1.0)];
        let fused = fuse(
            &Fusion::Rrf {
                k: 2,
                weights: Some(vec![3.0, 1.0]),
            },
            &[a.clone(), b.clone()],
        )
        .unwrap();
        assert_eq!(fused[0].0, 2);
        assert!((fused[0].1 - 0.75).abs() < 1e-6);
        let err = fuse(
            &Fusion::Rrf {
                k: 2,
                weights: Some(vec![1.0]),
            },
            &[a, b],
        );
        assert!(err.is_err());
    }

    #[test]
    fn dbsf_normalises_each_list_before_summing() {
        // BM25 scores are an order of magnitude larger than cosine ones;
        // after normalisation neither list dominates by scale alone.
        let dense = vec![(1, 0.91), (2, 0.90), (3, 0.20)];
        let sparse = vec![(2, 30.0), (1, 29.0), (4, 1.0)];
        let fused = fuse(&Fusion::Dbsf, &[dense, sparse]).unwrap();
        let top: Vec<Offset> = fused.iter().take(2).map(|f| f.0).collect();
        assert!(top.contains(&1) && top.contains(&2), "{fused:?}");
        assert!(fused.iter().all(|(_, s)| (0.0..=2.0).contains(s)));
        // A list whose scores are all equal contributes the middle of the range.
        let flat = fuse(&Fusion::Dbsf, &[vec![(7, 1.0), (8, 1.0)]]).unwrap();
        assert_eq!(flat[0].1, 0.5);
    }
}
