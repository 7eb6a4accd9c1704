//! Maximal marginal relevance: from the nearest candidates of a query,
//! pick results one at a time, each time the candidate that is most
//! relevant to the query and least like what was already picked, so that
//! ten near-copies of one product do not fill the page.
//!
//! With `λ = 1 − diversity`, a candidate `c` is worth
//! `λ·sim(query, c) − (1 − λ)·max sim(c, picked)`; the first pick is simply
//! the most relevant. Similarities are Qdrant's internal ones (see
//! [`Prepared::similarity`]); the results keep their ordinary query scores,
//! in the order they were picked, as Qdrant reports them.

use crate::engine::collection::View;
use crate::engine::error::Result;
use crate::engine::query::search::{Prepared, QueryVector};
use crate::engine::query::stages::Stage;
use crate::engine::types::Offset;

/// The largest candidate pool Qdrant accepts for MMR.
pub const MAX_MMR_CANDIDATES: usize = 16_384;

/// A candidate still in the running.
struct Candidate {
    offset: Offset,
    /// The ordinary query score, reported with the result.
    score: f32,
    relevance: f32,
    /// Highest similarity to any pick so far.
    redundancy: f32,
}

impl View<'_> {
    /// Picks at most `stage.limit` of `pool` (points scored by `vector`).
    pub(in crate::engine) fn mmr(
        &self,
        stage: &Stage,
        vector: &QueryVector,
        pool: Vec<(Offset, f32)>,
        diversity: f32,
    ) -> Result<Vec<(Offset, f32)>> {
        let points = &*self.points;
        let (using, limit) = (stage.using.as_str(), stage.limit);
        let query = self.prepare(using, vector)?;
        let lambda = 1.0 - diversity;
        let mut rest: Vec<Candidate> = pool
            .into_iter()
            .filter_map(|(offset, score)| {
                Some(Candidate {
                    offset,
                    score,
                    relevance: query.similarity(points, using, offset)?,
                    redundancy: f32::NEG_INFINITY,
                })
            })
            .collect();
        let mut picked = Vec::with_capacity(limit.min(rest.len()));
        while picked.len() < limit && !rest.is_empty() {
            let worth = |c: &Candidate| {
                if picked.is_empty() {
                    c.relevance
                } else {
                    lambda * c.relevance - (1.0 - lambda) * c.redundancy
                }
            };
            // The first best wins ties, so equal candidates keep query order.
            let mut best = 0;
            for (i, c) in rest.iter().enumerate().skip(1) {
                if worth(c) > worth(&rest[best]) {
                    best = i;
                }
            }
            let chosen = rest.remove(best);
            picked.push((chosen.offset, chosen.score));
            if picked.len() == limit {
                break;
            }
            let Some(own) = self.point_query(using, chosen.offset)? else {
                continue;
            };
            for c in &mut rest {
                if let Some(sim) = own.similarity(points, using, c.offset) {
                    c.redundancy = c.redundancy.max(sim);
                }
            }
        }
        Ok(picked)
    }

    /// The stored vector `using` of the point at `offset`, prepared as a
    /// query; `None` when the point lacks it.
    fn point_query(&self, using: &str, offset: Offset) -> Result<Option<Prepared>> {
        let points = &*self.points;
        let Some(vector) = points.vectors(offset).remove(using).map(QueryVector::from) else {
            return Ok(None);
        };
        self.prepare(using, &vector).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::collection::payload::PayloadSelector;
    use crate::engine::collection::{Collection, PointInsert, UpdateOp};
    use crate::engine::config::{CollectionConfig, VectorParams};
    use crate::engine::query::search::QueryVector;
    use crate::engine::query::stages::{Example, Query, QueryRequest, Stage};
    use crate::engine::types::{Distance, PointId, VectorSelector};
    use crate::engine::EngineOptions;

    /// Three tight clusters on a line: ten copies near 0, ten near 5 and
    /// ten near 10 (ids 0-9, 10-19, 20-29).
    fn clusters(dir: &std::path::Path) -> Collection {
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Euclid));
        let c = Collection::create(dir, "mmr", config, options).unwrap();
        let inserts = (0..30u64)
            .map(|i| {
                let v = vec![(i / 10) as f32 * 5.0 + (i % 10) as f32 * 0.01, 0.0];
                PointInsert::dense(PointId::Num(i), v, Default::default())
            })
            .collect();
        c.update(vec![UpdateOp::Upsert(inserts)]).unwrap();
        c
    }

    fn run(c: &Collection, diversity: f32, limit: usize) -> Vec<(u64, f32)> {
        let query = Query::Mmr {
            nearest: Example::Vector(QueryVector::Dense(vec![-1.0, 0.0])),
            diversity,
            candidates: Some(30),
        };
        let req = QueryRequest {
            root: Stage::new(Some(query), limit),
            offset: 0,
            with_payload: PayloadSelector::None,
            with_vector: VectorSelector::None,
        };
        c.read(&req, None)
            .unwrap()
            .into_iter()
            .map(|r| match r.id {
                PointId::Num(n) => (n, r.score.unwrap()),
                PointId::Uuid(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn no_diversity_is_plain_nearest_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = clusters(dir.path());
        let found = run(&c, 0.0, 3);
        assert_eq!(found.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        // Scores are the ordinary Euclid distances.
        assert!((found[0].1 - 1.0).abs() < 1e-5);
    }

    #[test]
    fn diversity_spreads_the_picks_over_the_clusters() {
        let dir = tempfile::tempdir().unwrap();
        let c = clusters(dir.path());
        // Similarities are minus squared distances: a neighbour cluster 5
        // away is 25 less alike, so it takes a high diversity to prefer it
        // to another copy 1 away from the query.
        let found = run(&c, 0.9, 3);
        let clusters: Vec<u64> = found.iter().map(|p| p.0 / 10).collect();
        assert_eq!(clusters, vec![0, 2, 1], "{found:?}");
        assert_eq!(found[0].0, 0);
        // The picks keep their own distances to the query, in pick order.
        assert!(found[1].1 > found[2].1);
    }
}
