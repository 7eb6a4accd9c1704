//! Our own parallel HNSW construction, the default [`BuilderKind`](super::BuilderKind).
//!
//! Why not just `hnsw_rs`: measured on 20k points of the bench set
//! (`benches/hnsw.rs`, 384-d, m=16, ef_construct=100), `hnsw_rs` built
//! about 2x slower than an earlier, costlier version of this builder, and
//! its graph (every level-0 list filled to `2 * m`, reverse links never
//! pruned for diversity) gave lower recall at a given ef. The changes since
//! (hnswlib's "m links per new node" rule, distances through the SIMD
//! kernels of `distance`) only made this builder cheaper. Run the bench with
//! `HELIO_BENCH_BUILDER=hnsw_rs` to compare on your machine.
//!
//! Construction follows Malkov & Yashunin with hnswlib's neighbour
//! heuristic for both new and overflowing lists. Every worker links its own
//! nodes concurrently; each node's lists sit behind their own lock, so
//! workers only contend when they touch the same node.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use parking_lot::{Mutex, RwLock};

use super::frozen::{FrozenGraph, Meta, Scored, SearchContext};
use super::{GraphParams, HNSW_MAX_LAYERS};
use crate::engine::index::distance;
use crate::engine::types::{Distance, Offset};

/// Our own HNSW construction (Malkov & Yashunin, with hnswlib's neighbour
/// heuristic for both new and overflowing lists), parallel over the cores.
/// It keeps a copy of every vector (contiguous, so distance evaluations
/// during linking stay in cache and do not depend on the arena) and
/// per-node locked lists while building; [`freeze`](Self::freeze) copies
/// the lists out.
pub struct GraphBuilder {
    params: GraphParams,
    distance: Distance,
    dim: usize,
    kernel: distance::Kernel,
    /// Appended to under the write lock, linked under the read lock; the
    /// op lock keeps `insert` and `freeze` apart.
    inner: RwLock<NativeInner>,
    op: Mutex<()>,
}

struct NativeInner {
    vectors: Vec<f32>,
    offsets: Vec<Offset>,
    levels: Vec<u8>,
    /// Per node, its lists on levels `0..=level`.
    links: Vec<Mutex<Vec<Vec<u32>>>>,
    /// (entry node, its level), once a node is linked.
    entry: Mutex<Option<(u32, usize)>>,
}

impl GraphBuilder {
    pub fn new(params: GraphParams, distance: Distance, dim: usize, capacity_hint: usize) -> Self {
        let params = params.clamped();
        GraphBuilder {
            params,
            distance,
            dim,
            kernel: distance::kernels().ordering(distance),
            inner: RwLock::new(NativeInner {
                vectors: Vec::with_capacity(capacity_hint * dim),
                offsets: Vec::with_capacity(capacity_hint),
                levels: Vec::with_capacity(capacity_hint),
                links: Vec::with_capacity(capacity_hint),
                entry: Mutex::new(None),
            }),
            op: Mutex::new(()),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn params(&self) -> GraphParams {
        self.params
    }

    pub fn distance(&self) -> Distance {
        self.distance
    }

    /// Level for node `id`: exponential with scale 1/ln(m), from a hash of
    /// the id so that builds are reproducible whatever the thread timing.
    fn level_for(&self, id: u64) -> u8 {
        let mut h = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let level = -u.ln() / (self.params.m as f64).ln();
        (level.floor() as usize).min(HNSW_MAX_LAYERS - 1) as u8
    }

    /// Indexes `items` (arena offset, vector) with one worker per core.
    /// Cosine vectors must already be normalised. Inserts may continue
    /// after a [`freeze`](Self::freeze).
    ///
    /// # Panics
    /// If a vector's length is not the builder's dimension: the collection
    /// checks dimensions before anything reaches a graph.
    pub fn insert(&self, items: &[(Offset, &[f32])]) {
        if let Some((o, v)) = items.iter().find(|(_, v)| v.len() != self.dim) {
            panic!(
                "vector at offset {o} has dimension {}, the graph expects {}",
                v.len(),
                self.dim
            );
        }
        let _op = self.op.lock();
        let base = {
            let mut w = self.inner.write();
            let base = w.offsets.len();
            for (i, (o, v)) in items.iter().enumerate() {
                let level = self.level_for((base + i) as u64);
                w.vectors.extend_from_slice(v);
                w.offsets.push(*o);
                w.levels.push(level);
                w.links
                    .push(Mutex::new(vec![Vec::new(); level as usize + 1]));
            }
            base
        };
        let inner = self.inner.read();
        let n = inner.offsets.len();
        let next = AtomicUsize::new(base);
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let work = |ctx: &mut SearchContext| loop {
            let start = next.fetch_add(8, AtomicOrdering::Relaxed);
            if start >= n {
                break;
            }
            for id in start..(start + 8).min(n) {
                self.link(&inner, id as u32, ctx);
            }
        };
        // The first node of an empty graph goes in alone: it becomes the
        // entry point the others start from.
        let mut ctx = SearchContext::new(n);
        if base == 0 && n > 0 {
            next.store(1, AtomicOrdering::Relaxed);
            self.link(&inner, 0, &mut ctx);
        }
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|| work(&mut SearchContext::new(n)));
            }
            work(&mut ctx);
        });
    }

    #[inline]
    fn vector<'a>(&self, inner: &'a NativeInner, id: u32) -> &'a [f32] {
        let s = id as usize * self.dim;
        &inner.vectors[s..s + self.dim]
    }

    #[inline]
    fn dist(&self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the kernel table holds kernels this CPU supports.
        unsafe { (self.kernel)(a, b) }
    }

    fn link(&self, inner: &NativeInner, q: u32, ctx: &mut SearchContext) {
        let level = inner.levels[q as usize] as usize;
        let qv = self.vector(inner, q);
        let current = *inner.entry.lock();
        let Some((entry, top)) = current else {
            let mut e = inner.entry.lock();
            if e.is_none() {
                *e = Some((q, level));
                return;
            }
            drop(e);
            return self.link(inner, q, ctx);
        };
        let mut cur = entry;
        let mut cur_d = self.dist(qv, self.vector(inner, cur));
        let mut buf: Vec<u32> = Vec::with_capacity(2 * self.params.m);
        for l in (level + 1..=top).rev() {
            loop {
                let mut moved = false;
                buf.clear();
                buf.extend_from_slice(&inner.links[cur as usize].lock()[l]);
                for &nb in &buf {
                    let d = self.dist(qv, self.vector(inner, nb));
                    if d < cur_d {
                        (cur, cur_d) = (nb, d);
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        let mut eps = vec![Scored(cur_d, cur)];
        for l in (0..=level.min(top)).rev() {
            let found = self.search_layer(inner, qv, &eps, l, ctx, &mut buf);
            let cap = if l == 0 {
                2 * self.params.m
            } else {
                self.params.m
            };
            // As hnswlib: a new node links to at most m nodes on every
            // level; only reverse links grow a level-0 list up to 2m. This
            // halves the overflow pruning that dominates build time.
            let chosen = self.select(inner, &found, self.params.m);
            inner.links[q as usize].lock()[l] = chosen.iter().map(|s| s.1).collect();
            for &Scored(d, nb) in &chosen {
                let mut links = inner.links[nb as usize].lock();
                let list = &mut links[l];
                if list.contains(&q) {
                    continue;
                }
                if list.len() < cap {
                    list.push(q);
                    continue;
                }
                let nv = self.vector(inner, nb);
                let mut cands: Vec<Scored> = list
                    .iter()
                    .map(|&x| Scored(self.dist(nv, self.vector(inner, x)), x))
                    .collect();
                cands.push(Scored(d, q));
                cands.sort_unstable();
                *list = self
                    .select(inner, &cands, cap)
                    .iter()
                    .map(|s| s.1)
                    .collect();
            }
            eps = found;
        }
        if level > top {
            let mut e = inner.entry.lock();
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((q, level));
            }
        }
    }

    /// Beam search with width ef_construct on level `l`; sorted nearest
    /// first.
    fn search_layer(
        &self,
        inner: &NativeInner,
        qv: &[f32],
        eps: &[Scored],
        l: usize,
        ctx: &mut SearchContext,
        buf: &mut Vec<u32>,
    ) -> Vec<Scored> {
        let ef = self.params.ef_construct;
        ctx.begin();
        for &e in eps {
            if ctx.visit(e.1) {
                ctx.candidates.push(Reverse(e));
                ctx.results.push(e);
            }
        }
        while ctx.results.len() > ef {
            ctx.results.pop();
        }
        while let Some(Reverse(Scored(c_d, c))) = ctx.candidates.pop() {
            if ctx.results.len() >= ef && c_d > ctx.results.peek().map_or(f32::INFINITY, |r| r.0) {
                break;
            }
            buf.clear();
            buf.extend_from_slice(&inner.links[c as usize].lock()[l]);
            for &nb in buf.iter() {
                if !ctx.visit(nb) {
                    continue;
                }
                let d = self.dist(qv, self.vector(inner, nb));
                if ctx.results.len() < ef || d < ctx.results.peek().map_or(f32::INFINITY, |r| r.0) {
                    ctx.candidates.push(Reverse(Scored(d, nb)));
                    ctx.results.push(Scored(d, nb));
                    if ctx.results.len() > ef {
                        ctx.results.pop();
                    }
                }
            }
        }
        ctx.candidates.clear();
        let mut found: Vec<Scored> = ctx.results.drain().collect();
        found.sort_unstable();
        found
    }

    /// hnswlib's heuristic over `cands` (sorted nearest first): keep a
    /// candidate only if it is closer to the base node than to every
    /// candidate already kept.
    fn select(&self, inner: &NativeInner, cands: &[Scored], cap: usize) -> Vec<Scored> {
        let mut kept: Vec<Scored> = Vec::with_capacity(cap);
        for &c in cands {
            if kept.len() >= cap {
                break;
            }
            let cv = self.vector(inner, c.1);
            if kept
                .iter()
                .all(|k| self.dist(cv, self.vector(inner, k.1)) > c.0)
            {
                kept.push(c);
            }
        }
        kept
    }

    /// A read-optimised copy of the graph as it is now: every point
    /// inserted so far. Waits for a running `insert` to finish.
    pub fn freeze(&self) -> FrozenGraph {
        let _op = self.op.lock();
        let inner = self.inner.read();
        let n = inner.offsets.len();
        let levels_of: Vec<usize> = inner.levels.iter().map(|&l| l as usize).collect();
        let entry = *inner.entry.lock();
        let max_level = entry.map_or(0, |(_, l)| l);
        let mut adjacency: Vec<Vec<Vec<u32>>> = vec![Vec::new(); max_level + 1];
        for node in &inner.links {
            for (l, list) in node.lock().iter().enumerate().take(max_level + 1) {
                adjacency[l].push(list.clone());
            }
        }
        // Nodes above the entry's level (only possible mid-insert) are
        // clipped to it by `take` above; `levels_of` must agree.
        let levels_of: Vec<usize> = levels_of.into_iter().map(|l| l.min(max_level)).collect();
        FrozenGraph::assemble(
            Meta {
                distance: self.distance,
                dim: self.dim,
                m: self.params.m,
                ef_construct: self.params.ef_construct,
                n,
                entry: entry.map_or(0, |(e, _)| e),
                max_level,
            },
            &inner.offsets,
            &levels_of,
            adjacency,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{incremental_finds_every_point, DIM};
    use super::super::BuilderKind;
    use super::*;

    #[test]
    fn incremental_builder_finds_every_point() {
        incremental_finds_every_point(BuilderKind::Native);
    }

    #[test]
    #[should_panic(expected = "dimension")]
    fn insert_checks_dimension() {
        let builder = GraphBuilder::new(GraphParams::default(), Distance::Dot, DIM, 1);
        builder.insert(&[(5, &[0.0; 3][..])]);
    }

    /// The level of a node depends on its id only, so builds are
    /// reproducible; about 1/m of the nodes reach level 1.
    #[test]
    fn levels_are_deterministic_and_geometric() {
        let a = GraphBuilder::new(GraphParams::default(), Distance::Dot, DIM, 0);
        let b = GraphBuilder::new(GraphParams::default(), Distance::Dot, DIM, 0);
        let n = 100_000u64;
        let upper = (0..n).filter(|&i| a.level_for(i) > 0).count();
        assert!((0..1_000).all(|i| a.level_for(i) == b.level_for(i)));
        let expected = n as usize / 16;
        assert!(
            upper.abs_diff(expected) < expected / 10,
            "{upper} above level 0"
        );
    }
}
