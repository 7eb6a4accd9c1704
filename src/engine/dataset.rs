//! Deterministic synthetic vectors for tests and benches, and the exact
//! k-nearest-neighbour oracle that graph search is measured against.
//!
//! The default recipe (the one the README figures use): 2,000 centres,
//! noise 0.06, 384 dimensions, data seed 1, query seed 2.

use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::engine::types::{Distance, SparseVector};

/// Mixed into the centre stream so that centres depend only on `centres`
/// and `dim`: data and queries drawn with different seeds come from the same
/// mixture.
const CENTRE_SEED: u64 = 0x5eed_c3a7_7e55_0001;

/// One standard normal sample (Box-Muller; rand 0.8 has no normal
/// distribution without `rand_distr`).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `centres` random unit vectors, the same for every caller with the same
/// `centres` and `dim`.
pub fn centres(centres: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(CENTRE_SEED ^ ((centres as u64) << 20) ^ (dim as u64));
    (0..centres)
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| gaussian(&mut rng)).collect();
            normalize(&mut c);
            c
        })
        .collect()
}

/// `n` L2-normalised vectors from a Gaussian mixture: a centre picked
/// uniformly from [`centres`], plus per-coordinate Gaussian noise of
/// standard deviation `noise`. Deterministic for a given `seed`.
pub fn clustered(n: usize, dim: usize, centres: usize, noise: f32, seed: u64) -> Vec<Vec<f32>> {
    let cs = self::centres(centres.max(1), dim);
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let c = &cs[rng.gen_range(0..cs.len())];
            let mut v: Vec<f32> = c.iter().map(|x| x + noise * gaussian(&mut rng)).collect();
            normalize(&mut v);
            v
        })
        .collect()
}

/// Vocabulary size of the synthetic sparse vectors.
const SPARSE_VOCAB: f64 = 30_000.0;

/// `n` sparse vectors of about `nnz` terms each, deterministic for a given
/// `seed`. Term ids are skewed towards small ids (id = 30,000·u³) so that,
/// as with words, a few terms are in many documents and most in few;
/// weights are uniform in (0, 1].
pub fn sparse(n: usize, nnz: usize, seed: u64) -> Vec<SparseVector> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5a5a_0000_0000_0001);
    (0..n)
        .map(|_| {
            let mut terms: Vec<u32> = (0..nnz)
                .map(|_| (SPARSE_VOCAB * rng.gen::<f64>().powi(3)) as u32)
                .collect();
            terms.sort_unstable();
            terms.dedup();
            let values = terms.iter().map(|_| 1.0 - rng.gen::<f32>()).collect();
            SparseVector {
                indices: terms,
                values,
            }
        })
        .collect()
}

/// Exact top-`k` neighbours (indices into `data`, best first) of each query
/// under `distance`, one query per rayon task.
pub fn brute_force_knn(
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    k: usize,
    distance: Distance,
) -> Vec<Vec<usize>> {
    brute_force_knn_filtered(data, queries, k, distance, |_| true)
}

/// As [`brute_force_knn`], over the points `accept` keeps.
pub fn brute_force_knn_filtered(
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    k: usize,
    distance: Distance,
    accept: impl Fn(usize) -> bool + Sync,
) -> Vec<Vec<usize>> {
    let one = |q: &Vec<f32>| {
        let mut scored: Vec<(f32, usize)> = data
            .iter()
            .enumerate()
            .filter(|(i, _)| accept(*i))
            .map(|(i, v)| (ordering_distance(distance, q, v), i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.truncate(k);
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    };
    use rayon::prelude::*;
    queries.par_iter().map(one).collect()
}

/// Mean recall@k of `found` against `truth`. A truth list may be longer
/// than `k` when it includes points tied with the k-th: a query then needs
/// min(k, truth length) of its first `k` found ids to be in the list. A
/// query with no true neighbours counts 1.
pub fn recall_at_k(found: &[Vec<usize>], truth: &[Vec<usize>], k: usize) -> f64 {
    assert_eq!(found.len(), truth.len());
    if truth.is_empty() {
        return 1.0;
    }
    let total: f64 = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let need = k.min(t.len());
            if need == 0 {
                return 1.0;
            }
            let hits = f.iter().take(k).filter(|x| t.contains(x)).count();
            hits.min(need) as f64 / need as f64
        })
        .sum();
    total / truth.len() as f64
}

/// Plain scalar arithmetic, not the engine's kernels: the data and the
/// brute-force truth the graphs are checked against must not rest on the
/// code under test.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Lower is nearer, for every distance (the engine's ordering distance).
fn ordering_distance(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => -dot(a, b),
        Distance::Euclid => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        Distance::Manhattan => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_normalised() {
        let a = clustered(50, 16, 5, 0.06, 1);
        let b = clustered(50, 16, 5, 0.06, 1);
        let c = clustered(50, 16, 5, 0.06, 2);
        assert_eq!(a, b);
        assert_ne!(a, c);
        for v in &a {
            assert!((dot(v, v) - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn sparse_is_deterministic_and_sorted() {
        let a = sparse(20, 30, 1);
        assert_eq!(a, sparse(20, 30, 1));
        assert_ne!(a, sparse(20, 30, 2));
        for v in &a {
            assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
            assert!(v.values.iter().all(|&x| x > 0.0 && x <= 1.0));
        }
    }

    #[test]
    fn brute_force_finds_itself() {
        let data = clustered(300, 8, 10, 0.06, 3);
        let queries: Vec<Vec<f32>> = data[..20].to_vec();
        let knn = brute_force_knn(&data, &queries, 5, Distance::Euclid);
        for (i, nn) in knn.iter().enumerate() {
            assert_eq!(nn[0], i);
            assert_eq!(nn.len(), 5);
        }
        assert_eq!(recall_at_k(&knn, &knn, 5), 1.0);
    }
}
