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
//!
//! A search for the best `k` ([`SparseIndex::top_k`]) skips most postings
//! of skewed vocabularies: each list knows its largest and smallest weight,
//! so each query term has an upper bound on what it can add to a score.
//! Terms are scored list by list, largest bound first, while keeping the
//! best `k` accepted points seen so far; once the bounds of the terms left
//! add up to less than the `k`-th partial score, no point those terms alone
//! reach can enter the top `k`, and the rest of their postings are never
//! read. The points already seen whose partial score plus that bound can
//! still reach the top are then scored exactly from their own vectors,
//! best partial first, until none can. This is MaxScore (Turtle and
//! Flood) over an array accumulator; the answer is exactly the brute-force
//! top `k`, ties included.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::engine::types::{Offset, SparseVector};

/// One index's postings with the bounds of their weights.
#[derive(Debug)]
struct Postings {
    /// (offset, weight) by offset; may hold entries of removed points.
    entries: Vec<(Offset, f32)>,
    /// The largest and smallest weight ever posted (removed points' too, so
    /// bounds, not exact extremes, until the next sweep).
    max: f32,
    min: f32,
}

impl Postings {
    fn new() -> Postings {
        Postings {
            entries: Vec::new(),
            max: f32::NEG_INFINITY,
            min: f32::INFINITY,
        }
    }

    fn push(&mut self, offset: Offset, weight: f32) {
        // Kept in offset order for `seek`. Offsets grow, so this is an
        // append unless a batch was published out of order.
        match self.entries.last() {
            Some(&(last, _)) if last > offset => {
                let at = self.entries.partition_point(|e| e.0 < offset);
                self.entries.insert(at, (offset, weight));
            }
            _ => self.entries.push((offset, weight)),
        }
        self.max = self.max.max(weight);
        self.min = self.min.min(weight);
    }

    /// Recomputes the bounds after entries were dropped.
    fn rebound(&mut self) {
        self.max = f32::NEG_INFINITY;
        self.min = f32::INFINITY;
        for &(_, w) in &self.entries {
            self.max = self.max.max(w);
            self.min = self.min.min(w);
        }
    }
}

#[derive(Debug, Default)]
pub struct SparseIndex {
    /// The live vector of each point, for reads and rescoring.
    docs: HashMap<Offset, SparseVector>,
    /// index → postings; may hold entries of removed points.
    postings: HashMap<u32, Postings>,
    /// index → live points that have it, for IDF.
    doc_freq: HashMap<u32, u32>,
    /// Posting entries left by removed points.
    stale: usize,
    entries: usize,
    /// One past the largest offset ever inserted: the size of a dense
    /// score accumulator.
    bound: usize,
}

/// Scratch state of one top-k search, indexed by offset.
const TOUCHED: u8 = 1;
/// `accept` and liveness were checked…
const CHECKED: u8 = 2;
/// …and passed.
const ACCEPTED: u8 = 4;
/// In the heap of the best partial scores.
const IN_HEAP: u8 = 8;

/// Accumulator arrays larger than this many offsets are not kept between
/// searches (20 MiB with the state bytes).
const KEEP_SCRATCH: usize = 1 << 22;

/// Per-thread accumulator of [`SparseIndex::top_k`]: zeroing a fresh
/// 100,000-entry array costs more than a pruned search of it.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    state: Vec<u8>,
    touched: Vec<Offset>,
}

impl Scratch {
    fn ready(&mut self, bound: usize) {
        if self.scores.len() < bound {
            self.scores.resize(bound, 0.0);
            self.state.resize(bound, 0);
        }
    }

    /// Zeroes what the last search wrote.
    fn clear(&mut self) {
        for &o in &self.touched {
            self.scores[o as usize] = 0.0;
            self.state[o as usize] = 0;
        }
        self.touched.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A scored point in a heap whose top is the worst: the lowest score, and
/// of equal scores the highest offset (results rank ties by offset).
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    offset: Offset,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Ranked) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.offset.cmp(&other.offset))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The best `k` of `heap`, best first, as (offset, score).
fn ranked(heap: BinaryHeap<Ranked>) -> Vec<(Offset, f32)> {
    // Ascending by `Ranked`'s order is best first.
    heap.into_sorted_vec()
        .into_iter()
        .map(|r| (r.offset, r.score))
        .collect()
}

/// Pushes `r` into a heap of at most `k`, dropping the worst; returns the
/// dropped entry.
fn keep_best(heap: &mut BinaryHeap<Ranked>, k: usize, r: Ranked) -> Option<Ranked> {
    heap.push(r);
    (heap.len() > k).then(|| heap.pop()).flatten()
}

/// The score the `k`-th best point has at least, once `heap` holds `k`.
fn floor_of(heap: &BinaryHeap<Ranked>, k: usize) -> f32 {
    match heap.peek() {
        Some(worst) if heap.len() >= k => worst.score,
        _ => f32::NEG_INFINITY,
    }
}

/// The first position from `from` on whose offset is at least `target`,
/// galloping: cheap for a near target, logarithmic for a far one.
fn seek(entries: &[(Offset, f32)], from: usize, target: Offset) -> usize {
    let (mut lo, mut hi, mut step) = (from, from, 1);
    while hi < entries.len() && entries[hi].0 < target {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    let hi = hi.min(entries.len());
    lo + entries[lo..hi].partition_point(|e| e.0 < target)
}

/// One query term during a top-k search.
struct Term<'a> {
    entries: &'a [(Offset, f32)],
    weight: f32,
    /// The most this term adds to any point's score (never below 0: a
    /// point without the index gets 0 from it).
    bound: f32,
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
            self.postings
                .entry(i)
                .or_insert_with(Postings::new)
                .push(offset, w);
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
            list.entries.retain(|(o, _)| {
                docs.get(o)
                    .is_some_and(|v| v.indices.binary_search(i).is_ok())
            });
            list.rebound();
            !list.entries.is_empty()
        });
        self.entries = self.postings.values().map(|l| l.entries.len()).sum();
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
            .filter_map(|(i, &q)| self.postings.get(i).map(|l| (l.entries.as_slice(), q)))
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

    /// The best `k` live points sharing an index with `query` (already
    /// weighed) and accepted by `accept`, best first (equal scores by
    /// offset): the first `k` of [`SparseIndex::search`] ranked, with the
    /// same scores, reading only the postings that can matter (see the
    /// module doc). `accept` is asked only about points that could rank.
    pub fn top_k(
        &self,
        query: &SparseVector,
        k: usize,
        accept: impl Fn(Offset) -> bool,
    ) -> Vec<(Offset, f32)> {
        if k == 0 {
            return Vec::new();
        }
        let mut terms: Vec<Term> = query
            .indices
            .iter()
            .zip(&query.values)
            .filter_map(|(i, &q)| {
                let list = self.postings.get(i)?;
                let (a, b) = (q * list.max, q * list.min);
                // A term that can lower a score breaks the bounds below:
                // partial scores would no longer only grow.
                let bound = if a.min(b) < 0.0 { f32::NAN } else { a.max(b) };
                Some(Term {
                    entries: &list.entries,
                    weight: q,
                    bound,
                })
            })
            .collect();
        if k >= self.docs.len() || terms.iter().any(|t| t.bound.is_nan()) {
            let mut all = self.search(query, accept);
            let cmp =
                |a: &(Offset, f32), b: &(Offset, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            if all.len() > k {
                all.select_nth_unstable_by(k - 1, cmp);
                all.truncate(k);
            }
            all.sort_unstable_by(cmp);
            return all;
        }
        terms.sort_by(|a, b| b.bound.total_cmp(&a.bound));
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let found = self.prune(query, &terms, k, &accept, &mut scratch);
                scratch.clear();
                if scratch.scores.len() > KEEP_SCRATCH {
                    *scratch = Scratch::default();
                }
                found
            }
            // Only if `accept` searched again on this thread.
            Err(_) => self.prune(query, &terms, k, &accept, &mut Scratch::default()),
        })
    }

    /// MaxScore over `terms` (largest bound first); see [`SparseIndex::top_k`].
    fn prune(
        &self,
        query: &SparseVector,
        terms: &[Term],
        k: usize,
        accept: &impl Fn(Offset) -> bool,
        scratch: &mut Scratch,
    ) -> Vec<(Offset, f32)> {
        scratch.ready(self.bound);
        let Scratch {
            scores,
            state,
            touched,
        } = scratch;
        // Bounds are compared with sums rounded in another order: leave
        // them a margin of a few ulps per term so a tie is never pruned.
        let slack = (terms.len() + 4) as f32 * f32::EPSILON * 2.0;
        let loose = |x: f32| x + x.abs() * slack;
        // rest[i]: the most terms i.. add to a point's score.
        let mut rest = vec![0f32; terms.len() + 1];
        for i in (0..terms.len()).rev() {
            rest[i] = rest[i + 1] + terms[i].bound;
        }
        // Asked once per point; offsets are never reused, so a point with
        // a vector is live and all its postings are its own.
        let admit = |o: Offset, state: &mut [u8]| -> bool {
            let s = &mut state[o as usize];
            if *s & CHECKED == 0 {
                *s |= CHECKED;
                if self.docs.contains_key(&o) && accept(o) {
                    *s |= ACCEPTED;
                }
            }
            *s & ACCEPTED != 0
        };

        // Phase 1: score whole lists while a point seen in none of the
        // lists so far could still rank. `heap` holds the best `k`
        // accepted points by partial score (as it was when they entered,
        // refreshed after each list): lower bounds of their final scores,
        // so its worst is a lower bound of the final `k`-th score.
        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        let mut floor = f32::NEG_INFINITY;
        let mut done = terms.len();
        for (i, term) in terms.iter().enumerate() {
            if heap.len() >= k && loose(rest[i]) < floor {
                done = i;
                break;
            }
            let q = term.weight;
            for &(o, w) in term.entries {
                let j = o as usize;
                let s = scores[j] + q * w;
                scores[j] = s;
                let st = state[j];
                if st == 0 {
                    state[j] = TOUCHED;
                    touched.push(o);
                }
                if s > floor && st & IN_HEAP == 0 && admit(o, state) {
                    state[j] |= IN_HEAP;
                    let r = Ranked {
                        score: s,
                        offset: o,
                    };
                    if let Some(out) = keep_best(&mut heap, k, r) {
                        state[out.offset as usize] &= !IN_HEAP;
                    }
                    floor = floor_of(&heap, k);
                }
            }
            let mut entries = std::mem::take(&mut heap).into_vec();
            for r in &mut entries {
                r.score = scores[r.offset as usize];
            }
            heap = BinaryHeap::from(entries);
            floor = floor_of(&heap, k);
        }

        // Phase 2: the terms from `done` on add at most `left`, so only a
        // point whose partial score plus `left` reaches the floor can rank.
        // The best by partial score are scored exactly first, to raise the
        // floor; then every other such point, in offset order, looks up
        // the remaining terms in their lists (largest bound first, each
        // list's cursor moving forward only), and is dropped as soon as
        // what it has plus what the terms after could add is below the
        // floor. Survivors are scored from their vectors.
        let left = rest[done];
        let rest = &rest[done..];
        let terms = &terms[done..];
        let mut best: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        let exact = |o: Offset, best: &mut BinaryHeap<Ranked>, floor: &mut f32| {
            if let Some(doc) = self.docs.get(&o) {
                // The same sum, in the same order, as `search` computes.
                let r = Ranked {
                    score: doc.dot(query),
                    offset: o,
                };
                keep_best(best, k, r);
                *floor = floor.max(floor_of(best, k));
            }
        };
        for r in heap.iter() {
            exact(r.offset, &mut best, &mut floor);
        }
        let open = |o: Offset| {
            let st = state[o as usize];
            st & IN_HEAP == 0 && st & (CHECKED | ACCEPTED) != CHECKED && st != 0
        };
        let mut candidates: Vec<Offset> = if touched.len() * 8 > self.bound {
            // Most of the collection: reading the arrays in order is
            // cheaper than sorting what was touched.
            (0..self.bound as Offset).filter(|&o| open(o)).collect()
        } else {
            let mut c: Vec<Offset> = touched.iter().copied().filter(|&o| open(o)).collect();
            c.sort_unstable();
            c
        };
        candidates.retain(|&o| loose(scores[o as usize] + left) >= floor);
        let mut cursors = vec![0usize; terms.len()];
        'points: for o in candidates {
            let mut s = scores[o as usize];
            for (j, term) in terms.iter().enumerate() {
                if loose(s + rest[j]) < floor {
                    continue 'points;
                }
                let at = seek(term.entries, cursors[j], o);
                cursors[j] = at;
                if let Some(&(p, w)) = term.entries.get(at) {
                    if p == o {
                        s += term.weight * w;
                    }
                }
            }
            if loose(s) >= floor && admit(o, state) {
                exact(o, &mut best, &mut floor);
            }
        }
        ranked(best)
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
        let docs = crate::engine::dataset::sparse(3000, 40, 5);
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

    /// Every accepted live point sharing an index with `q`, ranked as
    /// results are: score descending, then offset.
    fn brute_top_k(
        docs: &HashMap<Offset, SparseVector>,
        q: &SparseVector,
        k: usize,
        accept: impl Fn(Offset) -> bool,
    ) -> Vec<(Offset, f32)> {
        let mut all: Vec<(Offset, f32)> = docs
            .iter()
            .filter(|(&o, d)| accept(o) && d.indices.iter().any(|i| q.indices.contains(i)))
            .map(|(&o, d)| (o, d.dot(q)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn pruned_top_k_equals_brute_force() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(11);
        // Skewed like words: term 0 is in most documents.
        let term = |rng: &mut StdRng| (2_000.0 * rng.gen::<f64>().powi(3)) as u32;
        for case in 0..24 {
            // Weights: continuous; a few values (ties everywhere); some
            // negative (the unpruned path).
            let kind = case % 3;
            let weight = |rng: &mut StdRng| match kind {
                0 => 1.0 - rng.gen::<f32>(),
                1 => [0.5, 1.0][rng.gen_range(0..2)],
                _ => rng.gen::<f32>() - 0.2,
            };
            let mut index = SparseIndex::default();
            let mut live: HashMap<Offset, SparseVector> = HashMap::new();
            let mut next: Offset = 0;
            let n = rng.gen_range(200..3_000);
            for _ in 0..n {
                let mut pairs: Vec<(u32, f32)> = (0..rng.gen_range(1..40))
                    .map(|_| (term(&mut rng), weight(&mut rng)))
                    .collect();
                pairs.sort_by_key(|p| p.0);
                pairs.dedup_by_key(|p| p.0);
                let v = sv(&pairs);
                index.insert(next, v.clone());
                live.insert(next, v);
                next += 1;
            }
            // Delete a share of the points (past half, the postings are
            // swept and the bounds recomputed); update some (new offsets).
            let removed = [0.1, 0.6][case % 2];
            let inserted = next;
            for o in 0..inserted {
                if rng.gen::<f64>() < removed {
                    index.remove(o);
                    if let Some(v) = live.remove(&o) {
                        if rng.gen::<f64>() < 0.2 {
                            index.insert(next, v.clone());
                            live.insert(next, v);
                            next += 1;
                        }
                    }
                }
            }
            for _ in 0..40 {
                let mut pairs: Vec<(u32, f32)> = (0..rng.gen_range(1..9))
                    .map(|_| (term(&mut rng), 1.0 - rng.gen::<f32>()))
                    .collect();
                if kind == 1 {
                    pairs
                        .iter_mut()
                        .for_each(|p| p.1 = [0.5, 1.0][(p.1 > 0.5) as usize]);
                }
                pairs.push((5_000, 1.0)); // an index no point has
                pairs.sort_by_key(|p| p.0);
                pairs.dedup_by_key(|p| p.0);
                let q = index.weigh(&sv(&pairs), rng.gen());
                let k = rng.gen_range(1..40);
                let modulus = [1, 3, 50][rng.gen_range(0..3)];
                let accept = |o: Offset| o.is_multiple_of(modulus);
                let found = index.top_k(&q, k, accept);
                let expected = brute_top_k(&live, &q, k, accept);
                let ids = |v: &[(Offset, f32)]| v.iter().map(|r| r.0).collect::<Vec<_>>();
                assert_eq!(ids(&found), ids(&expected), "case {case}, k {k}, q {q:?}");
                for (a, b) in found.iter().zip(&expected) {
                    assert!((a.1 - b.1).abs() < 1e-5, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn top_k_handles_small_and_empty_answers() {
        let mut index = SparseIndex::default();
        let q = sv(&[(1, 1.0)]);
        assert!(index.top_k(&q, 5, |_| true).is_empty());
        index.insert(0, sv(&[(1, 1.0)]));
        index.insert(1, sv(&[(1, 3.0)]));
        index.insert(2, sv(&[(2, 9.0)]));
        assert_eq!(index.top_k(&q, 0, |_| true), vec![]);
        assert_eq!(index.top_k(&q, 1, |_| true), vec![(1, 3.0)]);
        assert_eq!(index.top_k(&q, 10, |_| true), vec![(1, 3.0), (0, 1.0)]);
        assert_eq!(index.top_k(&q, 10, |o| o != 1), vec![(0, 1.0)]);
        index.remove(1);
        assert_eq!(index.top_k(&q, 1, |_| true), vec![(0, 1.0)]);
    }
}
