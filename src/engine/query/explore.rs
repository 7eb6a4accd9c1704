//! Discovery and context queries: search steered by pairs of examples
//! instead of one query vector, as Qdrant's `discover` and `context`.
//!
//! Each pair (positive, negative) splits the space in two: the half
//! closer to the positive is the pair's good zone. A *context* query scores
//! a point by how far it is from the good zone of each pair (0 inside, down
//! to -1 far outside), which makes it an exploration tool: everything in
//! every good zone ties. A *discovery* query ranks by how many good zones a
//! point is in first (+1 per pair won, -1 per pair lost), and by closeness
//! to its target second, squeezed into (0, 1) so it never outweighs a zone.
//!
//! Neither is a distance to one vector, so no graph helps: every candidate
//! that passes the filter is scored, as for recommend's custom strategies.

use crate::engine::collection::points::Points;
use crate::engine::collection::View;
use crate::engine::error::{EngineError, Result};
use crate::engine::query::search::{best_first, Prepared};
use crate::engine::query::stages::{Example, Query, Stage};
use crate::engine::types::{Offset, PointId};

/// One (positive, negative) pair of a discovery or context query.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextPair {
    pub positive: Example,
    pub negative: Example,
}

/// A discovery or context query with its examples prepared.
pub(in crate::engine) struct Exploration {
    /// Discovery's target; `None` for a context query.
    target: Option<Prepared>,
    pairs: Vec<(Prepared, Prepared)>,
    /// Points named as examples, left out of the results.
    exclude: Vec<Offset>,
}

/// `x / (1 + |x|)`: a cheap sigmoid onto (-1, 1).
fn fast_sigmoid(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// The sigmoid above moved onto (0, 1).
fn scaled_fast_sigmoid(x: f32) -> f32 {
    0.5 * (fast_sigmoid(x) + 1.0)
}

impl View<'_> {
    pub(in crate::engine) fn exploration(
        &self,
        stage: &Stage,
        query: &Query,
    ) -> Result<Exploration> {
        let (target, pairs) = match query {
            Query::Discover { target, context } => (Some(target), context),
            Query::Context(pairs) => (None, pairs),
            _ => unreachable!("exploration of a query that is neither discover nor context"),
        };
        if target.is_none() && pairs.is_empty() {
            return Err(EngineError::BadRequest(
                "Wrong input: a context query needs at least one pair".into(),
            ));
        }
        let mut exclude = Vec::new();
        let mut exclude_ids: Vec<PointId> = Vec::new();
        let mut prepare = |example: &Example| -> Result<Prepared> {
            let vector =
                self.example_vector(&stage.using, example, &mut exclude, &mut exclude_ids)?;
            self.prepare(&stage.using, &vector)
        };
        let target = target.map(&mut prepare).transpose()?;
        let pairs = pairs
            .iter()
            .map(|p| Ok((prepare(&p.positive)?, prepare(&p.negative)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Exploration {
            target,
            pairs,
            exclude,
        })
    }
}

impl Exploration {
    /// The score of one point; `None` when it lacks the vector.
    fn score(&self, points: &Points, using: &str, o: Offset) -> Option<f32> {
        let sim = |p: &Prepared| p.similarity(points, using, o);
        match &self.target {
            Some(target) => {
                let mut rank = 0i32;
                for (pos, neg) in &self.pairs {
                    rank += sim(pos)?.total_cmp(&sim(neg)?) as i32;
                }
                Some(rank as f32 + scaled_fast_sigmoid(sim(target)?))
            }
            None => {
                let mut loss = 0.0;
                for (pos, neg) in &self.pairs {
                    // The margin makes a point exactly on the boundary
                    // count as outside, by the smallest step.
                    let margin = sim(pos)? - sim(neg)? - f32::EPSILON;
                    loss += fast_sigmoid(margin.min(0.0));
                }
                Some(loss)
            }
        }
    }

    /// Scores `pool`; the best `limit`, best first.
    pub(in crate::engine) fn score_pool(
        &self,
        points: &Points,
        using: &str,
        pool: impl IntoIterator<Item = Offset>,
        limit: usize,
    ) -> Vec<(Offset, f32)> {
        let mut found: Vec<(Offset, f32)> = pool
            .into_iter()
            .filter(|o| !self.exclude.contains(o))
            .filter_map(|o| self.score(points, using, o).map(|s| (o, s)))
            .collect();
        let keep = limit.min(found.len());
        best_first(&mut found, keep, true);
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::collection::payload::PayloadSelector;
    use crate::engine::collection::Collection;
    use crate::engine::collection::{PointInsert, UpdateOp};
    use crate::engine::config::CollectionConfig;
    use crate::engine::config::VectorParams;
    use crate::engine::query::search::QueryVector;
    use crate::engine::query::stages::QueryRequest;
    use crate::engine::types::{Distance, VectorSelector};
    use crate::engine::EngineOptions;

    /// A 2-d grid of points (x, y) for x, y in 0..10, id 10·x + y.
    fn grid(dir: &std::path::Path, distance: Distance) -> Collection {
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let config = CollectionConfig::new(VectorParams::new(2, distance));
        let c = Collection::create(dir, "explore", config, options).unwrap();
        let inserts = (0..100u64)
            .map(|i| {
                let v = vec![(i / 10) as f32, (i % 10) as f32];
                PointInsert::dense(PointId::Num(i), v, Default::default())
            })
            .collect();
        c.update(vec![UpdateOp::Upsert(inserts)]).unwrap();
        c
    }

    fn run(c: &Collection, query: Query, limit: usize) -> Vec<(u64, f32)> {
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

    fn at(x: f32, y: f32) -> Example {
        Example::Vector(QueryVector::Dense(vec![x, y]))
    }

    #[test]
    fn context_scores_zero_inside_every_good_zone() {
        let dir = tempfile::tempdir().unwrap();
        let c = grid(dir.path(), Distance::Euclid);
        // Good zones: x < 4.5 (pair 1) and y > 4.5 (pair 2).
        let pairs = vec![
            ContextPair {
                positive: at(0.0, 0.0),
                negative: at(9.0, 0.0),
            },
            ContextPair {
                positive: at(0.0, 9.0),
                negative: at(0.0, 0.0),
            },
        ];
        let found = run(&c, Query::Context(pairs), 100);
        assert_eq!(found.len(), 100);
        let inside: Vec<u64> = found
            .iter()
            .filter(|(_, s)| *s == 0.0)
            .map(|p| p.0)
            .collect();
        let mut want: Vec<u64> = (0..100).filter(|i| i / 10 <= 4 && i % 10 >= 5).collect();
        let mut got = inside.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // Everything else scores below zero, by at most one per pair, and
        // the farthest corner from both zones is last.
        assert!(found[inside.len()..]
            .iter()
            .all(|(_, s)| *s < 0.0 && *s > -2.0));
        assert_eq!(found.last().unwrap().0, 90);
    }

    #[test]
    fn discovery_ranks_zones_first_then_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let c = grid(dir.path(), Distance::Cosine);
        let dir2 = tempfile::tempdir().unwrap();
        let e = grid(dir2.path(), Distance::Euclid);
        // Zone: closer to (0, 9) than to (9, 9), i.e. x < 4.5. Target (9, 0)
        // lies outside it: the best points are the zone's nearest to it.
        let query = Query::Discover {
            target: at(9.0, 0.0),
            context: vec![ContextPair {
                positive: at(0.0, 9.0),
                negative: at(9.0, 9.0),
            }],
        };
        let found = run(&e, query.clone(), 3);
        assert_eq!(
            found.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![40, 41, 42]
        );
        // Score: one zone won, plus the target term in (0, 1) of the
        // similarity, for Euclid minus the squared distance.
        let d: f32 = 5.0 * 5.0;
        assert!((found[0].1 - (1.0 + 0.5 * (-d / (1.0 + d) + 1.0))).abs() < 1e-5);
        // Cosine works the same way, by angle.
        assert!(!run(&c, query, 5).is_empty());
    }

    #[test]
    fn example_points_are_left_out_and_missing_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = grid(dir.path(), Distance::Euclid);
        let query = Query::Discover {
            target: Example::Id(PointId::Num(55)),
            context: vec![ContextPair {
                positive: Example::Id(PointId::Num(56)),
                negative: Example::Id(PointId::Num(0)),
            }],
        };
        let found = run(&c, query, 100);
        assert_eq!(found.len(), 97);
        assert!(found.iter().all(|(id, _)| ![55, 56, 0].contains(id)));

        let req = QueryRequest {
            root: Stage::new(
                Some(Query::Context(vec![ContextPair {
                    positive: Example::Id(PointId::Num(1000)),
                    negative: at(0.0, 0.0),
                }])),
                5,
            ),
            offset: 0,
            with_payload: PayloadSelector::None,
            with_vector: VectorSelector::None,
        };
        assert!(matches!(c.read(&req, None), Err(EngineError::NotFound(_))));
        let mut empty = req.clone();
        empty.root.query = Some(Query::Context(Vec::new()));
        assert!(matches!(
            c.read(&empty, None),
            Err(EngineError::BadRequest(_))
        ));
    }
}
