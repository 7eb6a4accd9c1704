//! The [`HnswRsBuilder`]: our builder API over the `hnsw_rs` crate, the
//! `hnsw_rs` [`BuilderKind`](super::BuilderKind).
//!
//! `hnsw_rs` is the crate the project brief names, so deployments can keep
//! to it; it builds slower than the native builder and its raw graph needs
//! re-pruning at freeze time (see [`HnswRsBuilder::freeze`]). `hnsw_rs`
//! owns its graph behind its own locks, so the freeze reads it through
//! `hnsw_rs`'s layer iterators rather than sharing memory with it.

use hnsw_rs::anndists::dist::Distance as _;
use hnsw_rs::hnsw::Hnsw;
use parking_lot::Mutex;

use super::frozen::{FrozenGraph, Meta};
use super::{GraphParams, HNSW_MAX_LAYERS};
use crate::engine::index::distance::HnswDistance;
use crate::engine::types::{Distance, Offset};

/// Inserts into an `hnsw_rs` graph (in parallel over rayon's pool) and
/// freezes snapshots of it. It keeps its own copy of every vector, as
/// `hnsw_rs` does. Inserts may continue after a freeze; a later freeze holds
/// every point inserted so far.
pub struct HnswRsBuilder {
    params: GraphParams,
    distance: Distance,
    dim: usize,
    hnsw: Hnsw<'static, f32, HnswDistance>,
    /// Builder id (the `hnsw_rs` data id) → arena offset. The lock also
    /// keeps `insert` and `freeze` apart: `hnsw_rs`'s layer iterators take
    /// nested read locks that must not meet a waiting writer.
    offsets: Mutex<Vec<Offset>>,
}

impl HnswRsBuilder {
    pub fn new(params: GraphParams, distance: Distance, dim: usize, capacity_hint: usize) -> Self {
        let params = params.clamped();
        let hnsw = Hnsw::new(
            params.m,
            capacity_hint.max(1),
            HNSW_MAX_LAYERS,
            params.ef_construct,
            HnswDistance::new(distance),
        );
        HnswRsBuilder {
            params,
            distance,
            dim,
            hnsw,
            offsets: Mutex::new(Vec::with_capacity(capacity_hint)),
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.lock().len()
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

    /// Indexes `items` (arena offset, vector), using every rayon thread.
    /// Cosine vectors must already be normalised.
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
        let mut offsets = self.offsets.lock();
        let base = offsets.len();
        offsets.extend(items.iter().map(|(o, _)| *o));
        let data: Vec<(&[f32], usize)> = items
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (*v, base + i))
            .collect();
        // Into an empty graph, the first points go in one by one: hnsw_rs
        // leaves a point unlinked if it finds no entry point yet, which
        // parallel first inserts can race into.
        let serial = if base == 0 { data.len().min(64) } else { 0 };
        for item in &data[..serial] {
            self.hnsw.insert_slice(*item);
        }
        if serial < data.len() {
            self.hnsw.parallel_insert_slice(&data[serial..].to_vec());
        }
    }

    /// A read-optimised copy of the graph as it is now.
    ///
    /// `hnsw_rs` fills every level-0 list to `2 * m` with the nearest nodes
    /// it has seen and never prunes reverse links for diversity, so a walk
    /// over its lists computes many redundant distances. The copy re-applies
    /// the HNSW neighbour-selection heuristic to each list (a neighbour is
    /// kept only if it is closer to the node than to every neighbour already
    /// kept), as hnswlib does when a list overflows.
    pub fn freeze(&self) -> FrozenGraph {
        let offsets = self.offsets.lock();
        let ids = offsets.len();
        let mut points: Vec<Option<HnswPoint>> = vec![None; ids];
        let indexation = self.hnsw.get_point_indexation();
        let mut top: Option<(usize, usize)> = None; // (level, builder id)
        for layer in 0..HNSW_MAX_LAYERS {
            for point in indexation.get_layer_iterator(layer) {
                let id = point.get_origin_id();
                let level = point.get_point_id().0 as usize;
                if id < ids {
                    if top.is_none_or(|(l, _)| level > l) {
                        top = Some((level, id));
                    }
                    points[id] = Some(point);
                }
            }
        }
        // Dense local numbering in builder-id order (the identity unless a
        // point is missing).
        let mut local_of = vec![u32::MAX; ids];
        let mut local_offsets = Vec::with_capacity(ids);
        let mut present = Vec::with_capacity(ids);
        for (id, point) in points.iter().enumerate() {
            if let Some(p) = point {
                local_of[id] = local_offsets.len() as u32;
                local_offsets.push(offsets[id]);
                present.push(p.clone());
            }
        }
        drop(offsets);
        drop(points);
        let levels_of: Vec<usize> = present
            .iter()
            .map(|p| p.get_point_id().0 as usize)
            .collect();
        let ctx = PruneContext {
            dist: self.hnsw.get_distance(),
            points: &present,
            local_of: &local_of,
            levels_of: &levels_of,
            m: self.params.m,
        };
        // Per node, per level up to its own, its pruned list.
        let per_node: Vec<Vec<Vec<u32>>> = parallel_map(present.len(), |local| ctx.lists(local));
        let max_level = top.map_or(0, |(l, _)| l);
        let mut adjacency: Vec<Vec<Vec<u32>>> = vec![Vec::new(); max_level + 1];
        for lists in per_node {
            for (l, list) in lists.into_iter().enumerate() {
                adjacency[l].push(list);
            }
        }
        let entry = top.map_or(0, |(_, id)| local_of[id]);
        FrozenGraph::assemble(
            Meta {
                distance: self.distance,
                dim: self.dim,
                m: self.params.m,
                ef_construct: self.params.ef_construct,
                n: local_offsets.len(),
                entry,
                max_level,
            },
            &local_offsets,
            &levels_of,
            adjacency,
        )
    }
}

type HnswPoint = std::sync::Arc<hnsw_rs::hnsw::Point<'static, f32>>;

struct PruneContext<'a> {
    dist: &'a HnswDistance,
    points: &'a [HnswPoint],
    local_of: &'a [u32],
    levels_of: &'a [usize],
    m: usize,
}

impl PruneContext<'_> {
    /// The node's lists on levels `0..=level`, mapped to local ids and
    /// pruned with the selection heuristic.
    fn lists(&self, local: usize) -> Vec<Vec<u32>> {
        let point = &self.points[local];
        let level = self.levels_of[local];
        let me = point.get_v();
        // hnsw_rs also records hints above a point's own level: skip them.
        let hood = point.get_neighborhood_id();
        let mut out = Vec::with_capacity(level + 1);
        for (l, list) in hood.into_iter().take(level + 1).enumerate() {
            let mut cands: Vec<(f32, u32)> = list
                .iter()
                .filter_map(|n| {
                    let local_n = *self.local_of.get(n.get_origin_id())?;
                    let ok = local_n != u32::MAX
                        && local_n as usize != local
                        && self.levels_of[local_n as usize] >= l;
                    ok.then(|| {
                        (
                            self.dist.eval(me, self.points[local_n as usize].get_v()),
                            local_n,
                        )
                    })
                })
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            cands.dedup_by_key(|c| c.1);
            let cap = if l == 0 { 2 * self.m } else { self.m };
            let mut kept: Vec<u32> = Vec::with_capacity(cap);
            for &(d, c) in &cands {
                if kept.len() >= cap {
                    break;
                }
                let cv = self.points[c as usize].get_v();
                let diverse = kept
                    .iter()
                    .all(|&k| self.dist.eval(cv, self.points[k as usize].get_v()) > d);
                if diverse {
                    kept.push(c);
                }
            }
            out.push(kept);
        }
        out
    }
}

/// `f(0..n)` on up to the available cores, in order.
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads.max(1)).max(1024);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || (start..(start + chunk).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("freeze worker panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{data, incremental_finds_every_point, DIM};
    use super::super::{BuilderKind, FlatVectors, VectorSource};
    use super::*;

    #[test]
    fn incremental_hnsw_rs_builder_finds_every_point() {
        incremental_finds_every_point(BuilderKind::HnswRs);
    }

    /// The freeze re-prunes `hnsw_rs`'s lists: none exceeds its cap, and
    /// every list holds distinct ids other than its own node.
    #[test]
    fn freeze_prunes_lists_within_caps() {
        let d = Distance::Euclid;
        let rows = data(2_000, 31, d);
        let src = FlatVectors::from_rows(DIM, &rows);
        let params = GraphParams::default();
        let builder = HnswRsBuilder::new(params, d, DIM, rows.len());
        let items: Vec<(Offset, &[f32])> = (0..rows.len() as Offset)
            .map(|o| (o, src.vector(o)))
            .collect();
        builder.insert(&items);
        let g = builder.freeze();
        assert_eq!(g.len(), rows.len());
        for local in 0..g.len() as u32 {
            let list = g.neighbours(local);
            assert!(list.len() <= 2 * params.m);
            assert!(!list.contains(&local));
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len());
        }
    }

    #[test]
    #[should_panic(expected = "dimension")]
    fn insert_checks_dimension() {
        let builder = HnswRsBuilder::new(GraphParams::default(), Distance::Cosine, DIM, 1);
        builder.insert(&[(5, &[0.0; 3][..])]);
    }
}
