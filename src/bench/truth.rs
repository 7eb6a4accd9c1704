//! Exact answers the server's results are scored against, beyond the dense
//! k-NN of [`crate::engine::dataset`]: the exact top-k of sparse vectors by dot
//! product, and Qdrant's reciprocal rank fusion for hybrid queries.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::engine::types::SparseVector;

/// Exact top-`k` of each query by dot product over the points `accept`
/// keeps, through an inverted index. Points sharing no term with the query
/// are not results (as in Qdrant's sparse search).
pub fn sparse_knn(
    data: &[SparseVector],
    queries: &[SparseVector],
    k: usize,
    accept: impl Fn(usize) -> bool + Sync,
) -> Vec<Vec<usize>> {
    let mut postings: HashMap<u32, Vec<(usize, f32)>> = HashMap::new();
    for (i, v) in data.iter().enumerate() {
        for (&t, &w) in v.indices.iter().zip(&v.values) {
            postings.entry(t).or_default().push((i, w));
        }
    }
    queries
        .par_iter()
        .map(|q| {
            let mut scores: HashMap<usize, f32> = HashMap::new();
            for (t, w) in q.indices.iter().zip(&q.values) {
                for &(i, x) in postings.get(t).map_or(&[][..], Vec::as_slice) {
                    if accept(i) {
                        *scores.entry(i).or_default() += w * x;
                    }
                }
            }
            let mut ranked: Vec<(usize, f32)> = scores.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.into_iter().take(k).map(|(i, _)| i).collect()
        })
        .collect()
}

/// Reciprocal rank fusion as Qdrant computes it (k = 2: a point at
/// 0-based rank r in a list scores 1 / (r + 2)), returning the fused top
/// `limit` followed by every further point tied with the last, so a
/// server's different tie-break is not counted as a miss.
pub fn rrf(lists: &[&[usize]], limit: usize) -> Vec<usize> {
    let mut scores: HashMap<usize, f64> = HashMap::new();
    for list in lists {
        for (rank, &id) in list.iter().enumerate() {
            *scores.entry(id).or_default() += 1.0 / (rank as f64 + 2.0);
        }
    }
    let mut ranked: Vec<(usize, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if ranked.len() > limit && limit > 0 {
        let last = ranked[limit - 1].1;
        let end = limit
            + ranked[limit..]
                .iter()
                .take_while(|(_, s)| (s - last).abs() < 1e-12)
                .count();
        ranked.truncate(end);
    }
    ranked.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dataset::recall_at_k;

    #[test]
    fn sparse_knn_scores_by_dot_product() {
        let s = |i: &[u32], v: &[f32]| SparseVector::new(i.to_vec(), v.to_vec()).unwrap();
        let data = vec![s(&[1, 2], &[1.0, 1.0]), s(&[2], &[3.0]), s(&[7], &[9.0])];
        let q = vec![s(&[1, 2], &[2.0, 1.0])];
        // 0: 2+1 = 3, 1: 3, 2: no overlap. Tie broken by id.
        assert_eq!(sparse_knn(&data, &q, 5, |_| true), vec![vec![0, 1]]);
        assert_eq!(sparse_knn(&data, &q, 5, |i| i != 0), vec![vec![1]]);
    }

    #[test]
    fn rrf_keeps_ties_at_the_cut() {
        // 1 is first in both lists: 1/2 + 1/2.
        let fused = rrf(&[&[1, 2, 3], &[1, 4, 5]], 2);
        assert_eq!(fused[0], 1);
        // 2 and 4 tie at 1/3 for the second place: both kept.
        assert_eq!(fused.len(), 3);
        assert!(fused.contains(&2) && fused.contains(&4));
        assert_eq!(
            recall_at_k(&[vec![1, 4]], std::slice::from_ref(&fused), 2),
            1.0
        );
        assert_eq!(recall_at_k(&[vec![1, 9]], &[fused], 2), 0.5);
    }
}
