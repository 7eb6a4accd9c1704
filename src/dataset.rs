//! Deterministic synthetic vectors for tests and benches, and the exact
//! k-nearest-neighbour oracle that graph search is measured against.
//!
//! The default recipe (the one the README figures use): 2,000 centres,
//! noise 0.06, 384 dimensions, data seed 1, query seed 2.

use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::engine::distance;
use crate::engine::types::Distance;

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
            distance::normalize(&mut c);
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
            distance::normalize(&mut v);
            v
        })
        .collect()
}

/// Exact top-`k` neighbours (indices into `data`, best first) of each query
/// under `distance`, on up to two threads.
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
            .map(|(i, v)| (distance::ordering_distance(distance, q, v), i))
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
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    let chunk = queries.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(chunk)
            .map(|qs| s.spawn(move || qs.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("brute force thread panicked"))
            .collect()
    })
}

/// Mean share of each `truth` list found in the matching `found` list,
/// counting at most `k` of each. A query with no true neighbours counts 1.
pub fn recall_at_k(found: &[Vec<usize>], truth: &[Vec<usize>], k: usize) -> f64 {
    assert_eq!(found.len(), truth.len());
    if truth.is_empty() {
        return 1.0;
    }
    let total: f64 = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t = &t[..t.len().min(k)];
            if t.is_empty() {
                return 1.0;
            }
            let f = &f[..f.len().min(k)];
            t.iter().filter(|x| f.contains(x)).count() as f64 / t.len() as f64
        })
        .sum();
    total / truth.len() as f64
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
            assert!((distance::dot(v, v) - 1.0).abs() < 1e-4);
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
