//! The inverted index of one sparse vector name.
//!
//! Sparse vectors (BM25 and similar) have a few non-zero dimensions out of
//! millions, so they are searched by their posting lists: for each query
//! index, the points that have it and their weights. Scores are exact dot
//! products, as Qdrant's are.
//!
//! The index lives in memory and is rebuilt from SQLite at start-up, like
//! the payload indexes. Removing a point leaves its postings in place (a
//! removal would cost a scan of each of its lists); they are skipped by
//! the `docs` check and swept out once they are a large share of the index.

use std::collections::HashMap;

use super::types::{Offset, SparseVector};

#[derive(Debug, Default)]
pub struct SparseIndex {
    /// The live vector of each point, for reads and rescoring.
    docs: HashMap<Offset, SparseVector>,
    /// index → (offset, weight); may hold entries of removed points.
    postings: HashMap<u32, Vec<(Offset, f32)>>,
    /// index → live points that have it, for IDF.
    doc_freq: HashMap<u32, u32>,
    /// Posting entries left by removed points.
    stale: usize,
    entries: usize,
    /// One past the largest offset ever inserted: the size of a dense
    /// score accumulator.
    bound: usize,
}

impl SparseIndex {
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn get(&self, offset: Offset) -> Option<&SparseVector> {
        self.docs.get(&offset)
    }

    pub fn contains(&self, offset: Offset) -> bool {
        self.docs.contains_key(&offset)
    }

    pub fn insert(&mut self, offset: Offset, vector: SparseVector) {
        self.remove(offset);
        for (&i, &w) in vector.indices.iter().zip(&vector.values) {
            self.postings.entry(i).or_default().push((offset, w));
            *self.doc_freq.entry(i).or_default() += 1;
        }
        self.entries += vector.indices.len();
        self.bound = self.bound.max(offset as usize + 1);
        self.docs.insert(offset, vector);
    }

    pub fn remove(&mut self, offset: Offset) -> Option<SparseVector> {
        let vector = self.docs.remove(&offset)?;
        for i in &vector.indices {
            if let Some(n) = self.doc_freq.get_mut(i) {
                *n -= 1;
                if *n == 0 {
                    self.doc_freq.remove(i);
                }
            }
        }
        self.stale += vector.indices.len();
        if self.stale > 1024 && self.stale * 2 > self.entries {
            self.sweep();
        }
        Some(vector)
    }

    /// Drops the postings of removed points.
    fn sweep(&mut self) {
        let docs = &self.docs;
        self.postings.retain(|i, list| {
            list.retain(|(o, _)| {
                docs.get(o)
                    .is_some_and(|v| v.indices.binary_search(i).is_ok())
            });
            !list.is_empty()
        });
        self.entries = self.postings.values().map(Vec::len).sum();
        self.stale = 0;
    }

    /// BM25's inverse document frequency of `index` over the live points.
    pub fn idf(&self, index: u32) -> f32 {
        let n = self.docs.len() as f32;
        let df = self.doc_freq.get(&index).copied().unwrap_or(0) as f32;
        ((n - df + 0.5) / (df + 0.5)).ln_1p()
    }

    /// The query as scored: with the IDF modifier each weight is multiplied
    /// by its index's IDF, so rare terms count more.
    pub fn weigh(&self, query: &SparseVector, idf: bool) -> SparseVector {
        if !idf {
            return query.clone();
        }
        SparseVector {
            indices: query.indices.clone(),
            values: query
                .indices
                .iter()
                .zip(&query.values)
                .map(|(&i, &w)| w * self.idf(i))
                .collect(),
        }
    }

    /// Every live point sharing an index with `query` (already weighed) and
    /// accepted by `accept`, with its dot product. Unordered.
    pub fn search(
        &self,
        query: &SparseVector,
        accept: impl Fn(Offset) -> bool,
    ) -> Vec<(Offset, f32)> {
        let lists: Vec<(&[(Offset, f32)], f32)> = query
            .indices
            .iter()
            .zip(&query.values)
            .filter_map(|(i, &q)| self.postings.get(i).map(|l| (l.as_slice(), q)))
            .collect();
        let work: usize = lists.iter().map(|(l, _)| l.len()).sum();
        // Offsets are never reused, so an offset with a doc is live and
        // every posting under it is the doc's own.
        let keep = |o: Offset| self.docs.contains_key(&o) && accept(o);
        if work * 8 < self.bound {
            // Few postings: a hash map holds only the points they touch.
            let mut scores: HashMap<Offset, f32> = HashMap::with_capacity(work);
            for (list, q) in lists {
                for &(offset, w) in list {
                    *scores.entry(offset).or_default() += q * w;
                }
            }
            return scores.into_iter().filter(|&(o, _)| keep(o)).collect();
        }
        // Common terms cover much of the collection: an array indexed by
        // offset accumulates several times faster than hashing each hit.
        let mut scores = vec![0f32; self.bound];
        let mut seen = vec![false; self.bound];
        let mut touched = Vec::new();
        for (list, q) in lists {
            for &(offset, w) in list {
                let i = offset as usize;
                if !seen[i] {
                    seen[i] = true;
                    touched.push(offset);
                }
                scores[i] += q * w;
            }
        }
        touched
            .into_iter()
            .filter(|&o| keep(o))
            .map(|o| (o, scores[o as usize]))
            .collect()
    }

    /// The dot product of `query` with the point at `offset`, if it has a vector.
    pub fn score(&self, offset: Offset, query: &SparseVector) -> Option<f32> {
        self.docs.get(&offset).map(|d| d.dot(query))
    }

    /// Heap bytes, roughly, for telemetry.
    pub fn memory_bytes(&self) -> usize {
        self.entries * 8
            + self
                .docs
                .values()
                .map(|d| d.indices.len() * 8 + 64)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVector {
        SparseVector::new(
            pairs.iter().map(|p| p.0).collect(),
            pairs.iter().map(|p| p.1).collect(),
        )
        .unwrap()
    }

    #[test]
    fn search_scores_dot_products_and_skips_removed_points() {
        let mut index = SparseIndex::default();
        index.insert(0, sv(&[(1, 1.0), (2, 2.0)]));
        index.insert(1, sv(&[(2, 1.0), (3, 5.0)]));
        index.insert(2, sv(&[(9, 1.0)]));
        let q = sv(&[(2, 1.0), (3, 1.0)]);
        let mut found = index.search(&q, |_| true);
        found.sort_by_key(|f| f.0);
        assert_eq!(found, vec![(0, 2.0), (1, 6.0)]);
        index.remove(1);
        assert_eq!(index.search(&q, |_| true), vec![(0, 2.0)]);
        assert_eq!(index.search(&q, |o| o != 0), vec![]);
        assert_eq!(index.score(0, &q), Some(2.0));
        assert_eq!(index.score(1, &q), None);
    }

    #[test]
    fn idf_follows_document_frequency() {
        let mut index = SparseIndex::default();
        for o in 0..10 {
            // index 1 in every point, index 2 in one.
            let pairs: Vec<(u32, f32)> = if o == 0 {
                vec![(1, 1.0), (2, 1.0)]
            } else {
                vec![(1, 1.0)]
            };
            index.insert(o, sv(&pairs));
        }
        let (common, rare) = (index.idf(1), index.idf(2));
        assert!(rare > common && common > 0.0, "{rare} {common}");
        let expected_rare = ((10.0f32 - 1.0 + 0.5) / 1.5).ln_1p();
        assert!((rare - expected_rare).abs() < 1e-6);
        let q = index.weigh(&sv(&[(1, 1.0), (2, 1.0)]), true);
        assert_eq!(q.values, vec![common, rare]);
        index.remove(0);
        assert_eq!(index.idf(2), (9.5f32 / 0.5).ln_1p());
    }

    #[test]
    fn map_and_array_accumulators_agree_with_brute_force() {
        let docs = crate::dataset::sparse(3000, 40, 5);
        let mut index = SparseIndex::default();
        for (o, d) in docs.iter().enumerate() {
            index.insert(o as Offset, d.clone());
        }
        // Removed points must vanish from both paths.
        for o in (0..3000).step_by(7) {
            index.remove(o);
        }
        let queries = [
            sv(&[(0, 1.0), (1, 0.5)]), // common terms: the array path
            sv(&[(29_000, 1.0)]),      // a rare term: the hash-map path
            sv(&[(3, 2.0), (20_000, 1.0), (25_000, 0.25)]),
        ];
        for q in &queries {
            let mut found = index.search(q, |o| o % 2 == 0);
            found.sort_by_key(|f| f.0);
            let expected: Vec<(Offset, f32)> = docs
                .iter()
                .enumerate()
                .filter(|(o, _)| o % 7 != 0 && o % 2 == 0)
                .filter(|(_, d)| d.indices.iter().any(|i| q.indices.contains(i)))
                .map(|(o, d)| (o as Offset, d.dot(q)))
                .collect();
            assert_eq!(found.len(), expected.len());
            for (a, b) in found.iter().zip(&expected) {
                assert_eq!(a.0, b.0);
                assert!((a.1 - b.1).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn sweep_keeps_results_identical() {
        let mut index = SparseIndex::default();
        for o in 0..5000u32 {
            index.insert(o, sv(&[(o % 7, 1.0), (1000 + o % 13, 0.5)]));
        }
        for o in (0..5000u32).filter(|o| o % 3 != 0) {
            index.remove(o);
        }
        assert!(index.stale < 1024 || index.stale * 2 <= index.entries);
        let q = sv(&[(3, 1.0), (1005, 2.0)]);
        let found = index.search(&q, |_| true);
        assert!(found.iter().all(|(o, _)| o % 3 == 0));
        let expected = (0..5000u32)
            .filter(|o| o % 3 == 0 && (o % 7 == 3 || o % 13 == 5))
            .count();
        assert_eq!(found.len(), expected);
    }
}
