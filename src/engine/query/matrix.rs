//! The distance matrix (Qdrant's `/points/search/matrix`): a random sample
//! of points and, for each, its nearest neighbours among the sample.
//!
//! Clients use it to cluster or draw a collection without pulling every
//! vector. As in Qdrant, the sample is drawn among the points that match
//! the filter *and* have the vector `using`; fewer than two such points
//! make an empty matrix; rows come in id order, and each row's neighbours
//! best first, scored as `/points/query` scores them (Euclid and Manhattan
//! are distances, smaller is better). Qdrant runs one filtered search per
//! sampled point; here the sample is small enough to score every pair
//! exactly, each dense pair once (the scores are symmetric).
//!
//! The sampled vectors are copied out under the read lock and scored after
//! it is released: a large sample scores for seconds, and writers must not
//! wait that long.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::engine::collection::admission::check_listing;
use crate::engine::collection::points::Points;
use crate::engine::collection::ReadRequest;
use crate::engine::collection::View;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::config::VectorKind;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::Filter;
use crate::engine::index::distance;
use crate::engine::types::{Distance, Offset, PointId, SparseVector};

#[derive(Debug, Clone)]
pub struct MatrixRequest {
    pub filter: Option<Filter>,
    /// How many points to draw.
    pub sample: usize,
    /// Neighbours per sampled point (at most `sample - 1` are found).
    pub limit: usize,
    /// The vector name scored (`""` for the unnamed one).
    pub using: String,
    /// Past this instant the scoring stops with [`EngineError::Timeout`].
    pub deadline: Option<Instant>,
}

/// The sampled ids in id order, and for each its neighbours as (index
/// into `ids`, score), best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    pub ids: Vec<PointId>,
    pub rows: Vec<Vec<(usize, f32)>>,
}

/// The sampled vectors, copied out of the collection.
enum Sampled {
    Dense {
        distance: Distance,
        vectors: Vec<Vec<f32>>,
    },
    /// Each point's vector as stored and as a query (IDF-weighted when the
    /// vector has the modifier), so that a row scores as a query by that
    /// point would.
    Sparse {
        docs: Vec<SparseVector>,
        queries: Vec<SparseVector>,
    },
}

/// Draws the sample under the view, then lets the view go: scoring every
/// pair of a large sample takes a while, and writers need not wait for it.
#[tracing::instrument(skip_all, fields(collection = %view.name, sample = req.sample, limit = req.limit))]
fn distance_matrix(view: View, req: &MatrixRequest) -> Result<Matrix> {
    if let Some(f) = &req.filter {
        f.validate().map_err(EngineError::from)?;
    }
    let kind = view.config.kind_of(&req.using)?;
    if kind == VectorKind::Multi {
        return Err(EngineError::BadRequest(format!(
                "Wrong input: the distance matrix of multivector `{}` is not supported by this Helio release",
                req.using
            )));
    }
    if req.sample == 0 || req.limit == 0 {
        return Ok(Matrix::default());
    }
    let (ids, sampled) = draw(&view, req, kind)?;
    drop(view);
    if ids.len() < 2 {
        return Ok(Matrix::default());
    }
    let limit = req.limit.min(ids.len() - 1);
    let rows = match sampled {
        Sampled::Dense { distance, vectors } => {
            dense_rows(distance, &vectors, limit, req.deadline)?
        }
        Sampled::Sparse { docs, queries } => sparse_rows(&docs, &queries, limit, req.deadline)?,
    };
    Ok(Matrix { ids, rows })
}

/// Up to `req.sample` random points that match the filter and have the
/// vector, in id order, with copies of their vectors.
fn draw(view: &View, req: &MatrixRequest, kind: VectorKind) -> Result<(Vec<PointId>, Sampled)> {
    let points = &*view.points;
    let idf = view
        .config
        .sparse_params(&req.using)
        .is_some_and(|p| p.idf());
    let mut pool = match &req.filter {
        Some(f) => points.matching(f, None),
        None => points.live.clone(),
    };
    match kind {
        VectorKind::Dense | VectorKind::Multi => pool &= &dense_space(points, &req.using)?.present,
        VectorKind::Sparse => {
            let index = points.sparse.get(&req.using);
            pool = pool
                .iter()
                .filter(|&o| index.is_some_and(|i| i.contains(o)))
                .collect();
        }
    }
    let n = pool.len() as usize;
    let picks = rand::seq::index::sample(&mut rand::thread_rng(), n, req.sample.min(n));
    let mut chosen: Vec<(PointId, Offset)> = picks
        .into_iter()
        .filter_map(|i| pool.select(i as u32))
        .filter_map(|o| points.slot(o).map(|s| (s.id, o)))
        .collect();
    // Id order makes the answer's layout deterministic, as in Qdrant.
    chosen.sort_unstable();
    let ids = chosen.iter().map(|c| c.0).collect();
    let sampled = match kind {
        VectorKind::Dense | VectorKind::Multi => {
            let space = dense_space(points, &req.using)?;
            Sampled::Dense {
                distance: space.distance,
                vectors: chosen
                    .iter()
                    .map(|&(_, o)| space.arena.get(o).to_vec())
                    .collect(),
            }
        }
        VectorKind::Sparse => {
            let index = points.sparse.get(&req.using);
            let docs: Vec<SparseVector> = chosen
                .iter()
                .map(|&(_, o)| index.and_then(|i| i.get(o)).cloned().unwrap_or_default())
                .collect();
            let queries = match index {
                Some(index) => docs.iter().map(|d| index.weigh(d, idf)).collect(),
                None => docs.clone(),
            };
            Sampled::Sparse { docs, queries }
        }
    };
    Ok((ids, sampled))
}

fn dense_space<'a>(
    points: &'a Points,
    using: &str,
) -> Result<&'a crate::engine::collection::points::DenseSpace> {
    points.dense.get(using).ok_or_else(|| {
        EngineError::BadRequest(format!(
            "Wrong input: Not existing vector name error: {using}"
        ))
    })
}

fn check_deadline(deadline: Option<Instant>) -> Result<()> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(EngineError::Timeout(
            "the distance matrix did not finish within the request's timeout; ask for a smaller sample".into(),
        )),
        _ => Ok(()),
    }
}

/// Every pair scored once; both rows learn the score.
fn dense_rows(
    distance: Distance,
    vectors: &[Vec<f32>],
    limit: usize,
    deadline: Option<Instant>,
) -> Result<Vec<Vec<(usize, f32)>>> {
    let higher = distance.higher_is_better();
    let mut rows: Vec<TopK> = (0..vectors.len()).map(|_| TopK::new(limit)).collect();
    for i in 0..vectors.len() {
        check_deadline(deadline)?;
        for j in i + 1..vectors.len() {
            let score = distance::score(distance, &vectors[i], &vectors[j]);
            rows[i].push(j, score, higher);
            rows[j].push(i, score, higher);
        }
    }
    Ok(rows.into_iter().map(|r| r.best_first()).collect())
}

/// Row `i` scores the others with point `i`'s weighted query. A pair that
/// shares no index is no neighbour, as a sparse search never finds it.
fn sparse_rows(
    docs: &[SparseVector],
    queries: &[SparseVector],
    limit: usize,
    deadline: Option<Instant>,
) -> Result<Vec<Vec<(usize, f32)>>> {
    let mut rows = Vec::with_capacity(queries.len());
    for (i, query) in queries.iter().enumerate() {
        check_deadline(deadline)?;
        let mut row = TopK::new(limit);
        for (j, doc) in docs.iter().enumerate() {
            if j != i {
                if let Some(score) = shared_dot(doc, query) {
                    row.push(j, score, true);
                }
            }
        }
        rows.push(row.best_first());
    }
    Ok(rows)
}

/// The dot product of two sorted sparse vectors, `None` when they share no
/// index. Accumulates in the order `SparseVector::dot` does, so the scores
/// equal those of a sparse query.
fn shared_dot(a: &SparseVector, b: &SparseVector) -> Option<f32> {
    let (mut i, mut j, mut sum, mut shared) = (0, 0, 0.0f32, false);
    while i < a.indices.len() && j < b.indices.len() {
        match a.indices[i].cmp(&b.indices[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                sum += a.values[i] * b.values[j];
                shared = true;
                i += 1;
                j += 1;
            }
        }
    }
    shared.then_some(sum)
}

/// A candidate neighbour; `rank` is lower-is-better (the score, negated
/// for similarities), ties go to the lower index, i.e. the lower id.
#[derive(Clone, Copy)]
struct Candidate {
    rank: f32,
    index: usize,
    score: f32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    /// Worse is greater, so the heap's top is the candidate to drop.
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .total_cmp(&other.rank)
            .then(self.index.cmp(&other.index))
    }
}

/// The best `k` candidates seen, in a max-heap on "worse".
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn push(&mut self, index: usize, score: f32, higher_is_better: bool) {
        let rank = if higher_is_better { -score } else { score };
        let candidate = Candidate { rank, index, score };
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    fn best_first(self) -> Vec<(usize, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.index, c.score))
            .collect()
    }
}

impl ReadRequest for MatrixRequest {
    type Output = Matrix;

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        check_listing(
            strict,
            Some(self.sample),
            self.filter.as_ref(),
            &view.points.indexes,
        )
    }

    fn run(&self, view: View) -> Result<Matrix> {
        distance_matrix(view, self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::engine::collection::Collection;

    use rand::{rngs::StdRng, Rng, SeedableRng};
    use serde_json::json;

    use super::*;
    use crate::engine::collection::{PointInsert, UpdateOp};
    use crate::engine::config::{
        CollectionConfig, Modifier, SparseVectorParams, VectorParams, VectorsConfig,
    };
    use crate::engine::query::stages::{Query, QueryRequest, Stage};
    use crate::engine::types::{NamedVectors, Payload, VectorData, VectorSelector};
    use crate::engine::EngineOptions;

    const DIM: usize = 8;

    fn open(config: CollectionConfig) -> (tempfile::TempDir, Collection) {
        let dir = tempfile::tempdir().unwrap();
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let c = Collection::create(dir.path(), "m", config, options).unwrap();
        (dir, c)
    }

    fn random_vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
            .collect()
    }

    fn upsert(c: &Collection, points: Vec<PointInsert>) {
        c.update(vec![UpdateOp::Upsert(points)]).unwrap();
    }

    fn payload(v: serde_json::Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn request(sample: usize, limit: usize, using: &str) -> MatrixRequest {
        MatrixRequest {
            filter: None,
            sample,
            limit,
            using: using.to_string(),
            deadline: None,
        }
    }

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    fn stored_dense(c: &Collection, id: PointId, using: &str) -> Vec<f32> {
        match c.vector_of(&id, using) {
            Some(Some(VectorData::Dense(v))) => v,
            other => panic!("point {id} has no dense `{using}`: {other:?}"),
        }
    }

    /// Every pair scored with `distance::score` on the stored vectors,
    /// sorted best first (ties by id), cut at `limit`.
    fn brute_force(
        c: &Collection,
        ids: &[PointId],
        using: &str,
        distance: Distance,
        limit: usize,
    ) -> Vec<Vec<(usize, f32)>> {
        let vectors: Vec<Vec<f32>> = ids.iter().map(|&id| stored_dense(c, id, using)).collect();
        (0..ids.len())
            .map(|i| {
                let mut row: Vec<(usize, f32)> = (0..ids.len())
                    .filter(|&j| j != i)
                    .map(|j| (j, distance::score(distance, &vectors[i], &vectors[j])))
                    .collect();
                row.sort_by(|a, b| {
                    let ord = if distance.higher_is_better() {
                        b.1.total_cmp(&a.1)
                    } else {
                        a.1.total_cmp(&b.1)
                    };
                    ord.then(a.0.cmp(&b.0))
                });
                row.truncate(limit);
                row
            })
            .collect()
    }

    /// What `/points/query` answers for "nearest to point `id`, among `ids`".
    fn query_by_id(
        c: &Collection,
        id: PointId,
        ids: &[PointId],
        using: &str,
        limit: usize,
    ) -> Vec<(PointId, f32)> {
        let among: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| match id {
                PointId::Num(n) => json!(n),
                PointId::Uuid(u) => json!(u.to_string()),
            })
            .collect();
        let mut stage = Stage::new(Some(Query::NearestId(id)), limit);
        stage.using = using.to_string();
        stage.filter = Some(filter(json!({"must": [{"has_id": among}]})));
        stage.exact = true;
        let req = QueryRequest {
            root: stage,
            offset: 0,
            with_payload: crate::engine::collection::payload::PayloadSelector::None,
            with_vector: VectorSelector::None,
        };
        c.read(&req, None)
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.score.unwrap()))
            .collect()
    }

    #[test]
    fn every_distance_matches_brute_force_and_the_query_api() {
        for distance in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let (_dir, c) = open(CollectionConfig::new(VectorParams::new(DIM, distance)));
            let n = 40;
            let points = random_vectors(n, 7)
                .into_iter()
                .enumerate()
                .map(|(i, v)| PointInsert::dense(PointId::Num(i as u64), v, Payload::new()))
                .collect();
            upsert(&c, points);
            // A sample larger than the collection takes every point.
            let m = c.read(&request(100, 5, ""), None).unwrap();
            let all: Vec<PointId> = (0..n as u64).map(PointId::Num).collect();
            assert_eq!(m.ids, all, "{distance:?}: every point, in id order");
            assert_eq!(
                m.rows,
                brute_force(&c, &m.ids, "", distance, 5),
                "{distance:?}"
            );
            for (i, row) in m.rows.iter().enumerate() {
                assert!(
                    row.iter().all(|&(j, _)| j != i),
                    "a point is not its own neighbour"
                );
                let expected = query_by_id(&c, m.ids[i], &m.ids, "", 5);
                assert_eq!(row.len(), expected.len());
                for (&(j, score), &(id, want)) in row.iter().zip(&expected) {
                    assert_eq!(m.ids[j], id, "{distance:?} row {i}");
                    assert!(
                        (score - want).abs() < 1e-5,
                        "{distance:?}: {score} vs {want}"
                    );
                }
                if !distance.higher_is_better() {
                    assert!(row.iter().all(|&(_, s)| s >= 0.0));
                }
            }
        }
    }

    #[test]
    fn a_smaller_sample_is_random_and_scored_within_itself() {
        let (_dir, c) = open(CollectionConfig::new(VectorParams::new(
            DIM,
            Distance::Euclid,
        )));
        let points = random_vectors(60, 11)
            .into_iter()
            .enumerate()
            .map(|(i, v)| PointInsert::dense(PointId::Num(i as u64), v, Payload::new()))
            .collect();
        upsert(&c, points);
        let mut draws = Vec::new();
        for _ in 0..5 {
            let m = c.read(&request(10, 3, ""), None).unwrap();
            assert_eq!(m.ids.len(), 10);
            assert!(
                m.ids.windows(2).all(|w| w[0] < w[1]),
                "distinct, in id order"
            );
            assert_eq!(m.rows, brute_force(&c, &m.ids, "", Distance::Euclid, 3));
            draws.push(m.ids);
        }
        // 5 draws of 10 among 60 points are all the same with odds ~1e-40.
        assert!(
            draws.windows(2).any(|w| w[0] != w[1]),
            "the sample is random"
        );
    }

    #[test]
    fn the_filter_and_the_vector_decide_who_is_sampled() {
        let named: BTreeMap<String, VectorParams> = [
            ("a".to_string(), VectorParams::new(DIM, Distance::Cosine)),
            ("b".to_string(), VectorParams::new(DIM, Distance::Dot)),
        ]
        .into();
        let (_dir, c) = open(CollectionConfig::with_vectors(
            VectorsConfig::Named(named),
            None,
        ));
        let vectors = random_vectors(30, 3);
        let points = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut named = NamedVectors::new();
                named.insert("a".into(), VectorData::Dense(v.clone()));
                // Every third point lacks `b`.
                if i % 3 != 0 {
                    let b = v.iter().map(|x| x * 2.0).collect();
                    named.insert("b".into(), VectorData::Dense(b));
                }
                PointInsert {
                    id: PointId::Num(i as u64),
                    vectors: named,
                    payload: payload(json!({"keep": i % 2 == 0})),
                }
            })
            .collect();
        upsert(&c, points);

        let mut req = request(1000, 4, "b");
        req.filter = Some(filter(
            json!({"must": [{"key": "keep", "match": {"value": true}}]}),
        ));
        let m = c.read(&req, None).unwrap();
        let expected: Vec<PointId> = (0..30u64)
            .filter(|i| i % 2 == 0 && i % 3 != 0)
            .map(PointId::Num)
            .collect();
        assert_eq!(m.ids, expected);
        assert_eq!(m.rows, brute_force(&c, &m.ids, "b", Distance::Dot, 4));

        // `a` is on every point: the filter alone decides.
        req.using = "a".into();
        let m = c.read(&req, None).unwrap();
        assert_eq!(m.ids.len(), 15);
        assert_eq!(m.rows, brute_force(&c, &m.ids, "a", Distance::Cosine, 4));

        // The unnamed vector does not exist here.
        req.using = String::new();
        let err = c.read(&req, None).unwrap_err();
        assert!(matches!(err, EngineError::BadRequest(_)), "{err}");
        assert!(
            err.to_string().contains("Not existing vector name"),
            "{err}"
        );
    }

    #[test]
    fn few_points_make_a_small_or_empty_matrix() {
        let (_dir, c) = open(CollectionConfig::new(VectorParams::new(
            DIM,
            Distance::Cosine,
        )));
        assert_eq!(
            c.read(&request(10, 3, ""), None).unwrap(),
            Matrix::default()
        );
        let vectors = random_vectors(3, 5);
        upsert(
            &c,
            vec![PointInsert::dense(
                PointId::Num(9),
                vectors[0].clone(),
                Payload::new(),
            )],
        );
        // One point has no neighbours: Qdrant answers an empty matrix.
        assert_eq!(
            c.read(&request(10, 3, ""), None).unwrap(),
            Matrix::default()
        );
        upsert(
            &c,
            vec![
                PointInsert::dense(PointId::Num(4), vectors[1].clone(), Payload::new()),
                PointInsert::dense(PointId::Num(7), vectors[2].clone(), Payload::new()),
            ],
        );
        // Three points, 5 asked: each row has the other two.
        let m = c.read(&request(10, 5, ""), None).unwrap();
        assert_eq!(
            m.ids,
            vec![PointId::Num(4), PointId::Num(7), PointId::Num(9)]
        );
        assert!(m.rows.iter().all(|r| r.len() == 2));
        assert_eq!(m.rows, brute_force(&c, &m.ids, "", Distance::Cosine, 2));
        // Degenerate sizes (the API refuses them first) ask for nothing.
        assert_eq!(c.read(&request(0, 3, ""), None).unwrap(), Matrix::default());
        assert_eq!(
            c.read(&request(10, 0, ""), None).unwrap(),
            Matrix::default()
        );
        // Deleted points are not sampled.
        c.update(vec![UpdateOp::Delete(crate::engine::Selector::Ids(vec![
            PointId::Num(7),
        ]))])
        .unwrap();
        let m = c.read(&request(10, 5, ""), None).unwrap();
        assert_eq!(m.ids, vec![PointId::Num(4), PointId::Num(9)]);
    }

    #[test]
    fn sparse_rows_score_as_a_sparse_query_by_id() {
        let sparse: BTreeMap<String, SparseVectorParams> = [(
            "s".to_string(),
            SparseVectorParams {
                index: None,
                modifier: Some(Modifier::Idf),
            },
        )]
        .into();
        let (_dir, c) = open(CollectionConfig::with_vectors(
            VectorsConfig::Named(BTreeMap::new()),
            Some(sparse),
        ));
        let docs: [&[(u32, f32)]; 6] = [
            &[(1, 1.0), (2, 0.5)],
            &[(1, 0.3), (5, 2.0)],
            &[(2, 1.5), (5, 0.2), (9, 1.0)],
            &[(9, 0.7)],
            &[(40, 1.0)], // shares nothing: nobody's neighbour
            &[(1, 0.1), (2, 0.1), (5, 0.1), (9, 0.1)],
        ];
        let points = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let v = SparseVector::new(
                    d.iter().map(|p| p.0).collect(),
                    d.iter().map(|p| p.1).collect(),
                )
                .unwrap();
                PointInsert {
                    id: PointId::Num(i as u64),
                    vectors: [("s".to_string(), VectorData::Sparse(v))].into(),
                    payload: Payload::new(),
                }
            })
            .collect();
        upsert(&c, points);
        let m = c.read(&request(10, 3, "s"), None).unwrap();
        assert_eq!(m.ids.len(), 6);
        assert!(m.rows[4].is_empty());
        assert!(m.rows.iter().flatten().all(|&(j, _)| j != 4));
        for (i, row) in m.rows.iter().enumerate() {
            let expected = query_by_id(&c, m.ids[i], &m.ids, "s", 3);
            let got: Vec<(PointId, f32)> = row.iter().map(|&(j, s)| (m.ids[j], s)).collect();
            assert_eq!(got, expected, "row {i}");
        }
        // IDF weighs the rows: point 3 (term 9, in 3 of 6 points) is
        // closer to 2 than to 5 by more than the raw weights say.
        let idf9 = ((6.0f32 - 3.0 + 0.5) / (3.0 + 0.5)).ln_1p();
        let (j, s) = m.rows[3][0];
        assert_eq!(m.ids[j], PointId::Num(2));
        assert!((s - 0.7 * idf9 * 1.0).abs() < 1e-6, "{s}");
    }

    #[test]
    fn a_passed_deadline_stops_the_scoring() {
        let (_dir, c) = open(CollectionConfig::new(VectorParams::new(DIM, Distance::Dot)));
        let points = random_vectors(5, 1)
            .into_iter()
            .enumerate()
            .map(|(i, v)| PointInsert::dense(PointId::Num(i as u64), v, Payload::new()))
            .collect();
        upsert(&c, points);
        let mut req = request(5, 2, "");
        req.deadline = Some(Instant::now());
        let err = c.read(&req, None).unwrap_err();
        assert!(matches!(err, EngineError::Timeout(_)), "{err}");
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_index() {
        let mut top = TopK::new(2);
        for (i, s) in [(0, 0.5), (1, 0.9), (2, 0.9), (3, 0.1)] {
            top.push(i, s, true);
        }
        assert_eq!(top.best_first(), vec![(1, 0.9), (2, 0.9)]);
        let mut top = TopK::new(2);
        for (i, s) in [(0, 0.5), (1, 0.9), (2, 0.1), (3, 0.1)] {
            top.push(i, s, false);
        }
        assert_eq!(top.best_first(), vec![(2, 0.1), (3, 0.1)]);
        assert_eq!(shared_dot(&sv(&[(1, 2.0)]), &sv(&[(2, 3.0)])), None);
        assert_eq!(
            shared_dot(&sv(&[(1, 2.0), (2, 1.0)]), &sv(&[(2, 3.0)])),
            Some(3.0)
        );
    }

    fn sv(pairs: &[(u32, f32)]) -> SparseVector {
        SparseVector::new(
            pairs.iter().map(|p| p.0).collect(),
            pairs.iter().map(|p| p.1).collect(),
        )
        .unwrap()
    }
}
