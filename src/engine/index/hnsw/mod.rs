//! HNSW: graph construction, and search over a frozen copy.
//!
//! Two builders with one API, chosen per deployment through
//! [`BuilderKind`] and driven through [`Builder`]:
//!
//! - [`GraphBuilder`] (`native.rs`), our own parallel HNSW construction
//!   (Malkov & Yashunin with hnswlib's neighbour heuristic, SIMD distances,
//!   per-node locks, one worker per core). It is the default because it
//!   builds faster and gives better recall at a given `ef`; the measurements
//!   are in its docs.
//! - [`HnswRsBuilder`] (`hnsw_rs_builder.rs`), the same API over the
//!   `hnsw_rs` crate (fed with our distance). It was the first plan and is
//!   the crate the project brief names, so it stays selectable for
//!   deployments that want it and as a reference to compare against.
//!
//! Either builder's `freeze` copies the layered neighbour lists into a
//! [`FrozenGraph`] (`frozen.rs`): flat `u32` arrays, no locks, vectors read
//! from the collection's arena through a [`VectorSource`], so search never
//! contends with construction. A frozen graph is saved to and opened from
//! one checksummed file (`file.rs`).
//!
//! Node numbering: a frozen graph numbers its nodes densely (`local`
//! index); `offsets[local]` is the node's arena [`Offset`].

use std::io;

use crate::engine::types::{Distance, Offset};

mod file;
mod frozen;
mod hnsw_rs_builder;
mod native;

pub use frozen::FrozenGraph;
pub use hnsw_rs_builder::HnswRsBuilder;
pub use native::GraphBuilder;

/// Where graph search reads vectors: the collection's arena, or a plain
/// list in tests. Graphs store only offsets, so the vectors are not held
/// twice. Vectors of a Cosine graph must be normalised.
pub trait VectorSource: Sync {
    fn dim(&self) -> usize;
    fn vector(&self, offset: Offset) -> &[f32];
}

impl VectorSource for Vec<Vec<f32>> {
    fn dim(&self) -> usize {
        self.first().map_or(0, Vec::len)
    }
    fn vector(&self, offset: Offset) -> &[f32] {
        &self[offset as usize]
    }
}

/// Vectors stored back to back in one allocation, as the arena does, so
/// benches and tests see the arena's memory behaviour.
pub struct FlatVectors {
    dim: usize,
    data: Vec<f32>,
}

impl FlatVectors {
    pub fn new(dim: usize) -> Self {
        FlatVectors {
            dim,
            data: Vec::new(),
        }
    }

    pub fn from_rows(dim: usize, rows: &[Vec<f32>]) -> Self {
        let mut flat = FlatVectors::new(dim);
        flat.data.reserve(dim * rows.len());
        rows.iter().for_each(|r| flat.push(r));
        flat
    }

    /// Appends a vector; its offset is the previous [`len`](Self::len).
    pub fn push(&mut self, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "vector dimension");
        self.data.extend_from_slice(v);
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl VectorSource for FlatVectors {
    fn dim(&self) -> usize {
        self.dim
    }
    #[inline]
    fn vector(&self, offset: Offset) -> &[f32] {
        let start = offset as usize * self.dim;
        &self.data[start..start + self.dim]
    }
}

/// Graph construction parameters, as Qdrant names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParams {
    /// Links per node on upper levels; level 0 keeps up to `2 * m`.
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construct: usize,
}

impl GraphParams {
    /// `m` within 2..=128 (`hnsw_rs` allows at most 256 links on level 0,
    /// and both builders must accept the same parameters) and
    /// `ef_construct` at least 1.
    pub fn clamped(self) -> Self {
        GraphParams {
            m: self.m.clamp(2, 128),
            ef_construct: self.ef_construct.max(1),
        }
    }
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            m: 16,
            ef_construct: 100,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("graph file i/o: {0}")]
    Io(#[from] io::Error),
    #[error("graph file is corrupt: {0}")]
    Corrupt(String),
    #[error("graph was built for {found:?}, the collection uses {expected:?}")]
    DistanceMismatch { expected: Distance, found: Distance },
}

fn corrupt(msg: impl Into<String>) -> GraphError {
    GraphError::Corrupt(msg.into())
}

/// `hnsw_rs` caps its layer count at 16; the native builder keeps to the
/// same cap so that both produce graphs of the same shape.
const HNSW_MAX_LAYERS: usize = 16;

/// Which HNSW construction builds a deployment's graphs. Both freeze into
/// the same [`FrozenGraph`] and file format, so the choice affects build
/// time and graph quality only, and can change between restarts: graphs
/// built by either are opened and searched alike.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum BuilderKind {
    /// [`GraphBuilder`]: faster to build, better recall at a given `ef`.
    #[default]
    Native,
    /// [`HnswRsBuilder`], over the `hnsw_rs` crate. On the command line
    /// `hnsw-rs`; `hnsw_rs` (the config file's spelling) is accepted too.
    #[value(alias = "hnsw_rs")]
    HnswRs,
}

/// A graph builder of either kind, so callers hold one type whatever the
/// deployment chose. Every method forwards to the chosen builder; both
/// allow inserts after a freeze.
pub enum Builder {
    Native(GraphBuilder),
    HnswRs(HnswRsBuilder),
}

impl Builder {
    pub fn new(
        kind: BuilderKind,
        params: GraphParams,
        distance: Distance,
        dim: usize,
        capacity_hint: usize,
    ) -> Builder {
        match kind {
            BuilderKind::Native => {
                Builder::Native(GraphBuilder::new(params, distance, dim, capacity_hint))
            }
            BuilderKind::HnswRs => {
                Builder::HnswRs(HnswRsBuilder::new(params, distance, dim, capacity_hint))
            }
        }
    }

    pub fn kind(&self) -> BuilderKind {
        match self {
            Builder::Native(_) => BuilderKind::Native,
            Builder::HnswRs(_) => BuilderKind::HnswRs,
        }
    }

    /// Indexes `items` (arena offset, vector) on every core. Cosine vectors
    /// must already be normalised.
    ///
    /// # Panics
    /// If a vector's length is not the builder's dimension.
    pub fn insert(&self, items: &[(Offset, &[f32])]) {
        match self {
            Builder::Native(b) => b.insert(items),
            Builder::HnswRs(b) => b.insert(items),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Builder::Native(b) => b.len(),
            Builder::HnswRs(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn params(&self) -> GraphParams {
        match self {
            Builder::Native(b) => b.params(),
            Builder::HnswRs(b) => b.params(),
        }
    }

    pub fn distance(&self) -> Distance {
        match self {
            Builder::Native(b) => b.distance(),
            Builder::HnswRs(b) => b.distance(),
        }
    }

    /// A read-optimised snapshot of every point inserted so far.
    pub fn freeze(&self) -> FrozenGraph {
        match self {
            Builder::Native(b) => b.freeze(),
            Builder::HnswRs(b) => b.freeze(),
        }
    }
}

/// Builds and freezes a native graph over `offsets` read from `source`.
pub fn build(
    params: GraphParams,
    distance: Distance,
    source: &dyn VectorSource,
    offsets: &[Offset],
) -> FrozenGraph {
    build_with(BuilderKind::Native, params, distance, source, offsets)
}

/// Builds and freezes a graph of the given kind over `offsets` read from
/// `source`.
pub fn build_with(
    kind: BuilderKind,
    params: GraphParams,
    distance: Distance,
    source: &dyn VectorSource,
    offsets: &[Offset],
) -> FrozenGraph {
    let builder = Builder::new(kind, params, distance, source.dim(), offsets.len());
    let items: Vec<(Offset, &[f32])> = offsets.iter().map(|&o| (o, source.vector(o))).collect();
    builder.insert(&items);
    builder.freeze()
}

/// Data and checks shared by the tests of every file in this module.
impl From<GraphError> for crate::engine::error::EngineError {
    fn from(e: GraphError) -> Self {
        crate::engine::error::EngineError::Storage(format!("graph: {e}"))
    }
}

#[cfg(test)]
mod test_support {
    use super::*;
    use crate::engine::dataset;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::ops::Range;

    pub const DIM: usize = 32;

    /// Clustered data; unnormalised (random scale) for Euclid and
    /// Manhattan, and for Dot to exercise maximum inner product.
    pub fn data(n: usize, seed: u64, d: Distance) -> Vec<Vec<f32>> {
        let mut rows = dataset::clustered(n, DIM, 100, 0.2, seed);
        if d != Distance::Cosine {
            let mut rng = StdRng::seed_from_u64(seed ^ 99);
            for r in &mut rows {
                let s: f32 = rng.gen_range(0.5..2.0);
                r.iter_mut().for_each(|x| *x *= s);
            }
        }
        rows
    }

    /// A native graph over `rows`, offsets `0..rows.len()`.
    pub fn graph(rows: &[Vec<f32>], d: Distance) -> (FlatVectors, FrozenGraph) {
        let src = FlatVectors::from_rows(DIM, rows);
        let offsets: Vec<Offset> = (0..rows.len() as Offset).collect();
        let g = build(GraphParams::default(), d, &src, &offsets);
        (src, g)
    }

    pub fn ids(hits: &[(Offset, f32)]) -> Vec<usize> {
        hits.iter().map(|(o, _)| *o as usize).collect()
    }

    /// Recall@10 of `g` at `ef` against brute force over `rows`.
    pub fn recall(
        g: &FrozenGraph,
        src: &FlatVectors,
        rows: &[Vec<f32>],
        queries: &[Vec<f32>],
        d: Distance,
        ef: usize,
    ) -> f64 {
        let truth = dataset::brute_force_knn(rows, queries, 10, d);
        let found: Vec<Vec<usize>> = queries
            .iter()
            .map(|q| ids(&g.search(src, q, 10, ef, None)))
            .collect();
        dataset::recall_at_k(&found, &truth, 10)
    }

    /// Insert, freeze, insert more, freeze: the second snapshot has every
    /// point, the first is unaffected.
    pub fn incremental_finds_every_point(kind: BuilderKind) {
        let d = Distance::Cosine;
        let rows = data(3_000, 7, d);
        let src = FlatVectors::from_rows(DIM, &rows);
        let builder = Builder::new(kind, GraphParams::default(), d, DIM, 1_000);
        assert_eq!(builder.kind(), kind);
        assert!(builder.freeze().is_empty());
        let items = |r: Range<usize>| -> Vec<(Offset, &[f32])> {
            r.map(|i| (i as Offset, src.vector(i as Offset))).collect()
        };
        builder.insert(&items(0..1_000));
        let first = builder.freeze();
        assert_eq!(first.len(), 1_000);
        builder.insert(&items(1_000..3_000));
        let second = builder.freeze();
        assert_eq!(second.len(), 3_000);
        assert_eq!(builder.len(), 3_000);
        let mut found = 0;
        for i in (0..3_000).step_by(7) {
            let hits = second.search(&src, &rows[i], 1, 32, None);
            found += usize::from(hits[0].0 == i as Offset);
        }
        let total = (0..3_000).step_by(7).count();
        assert!(
            found * 100 >= total * 98,
            "{kind:?}: {found}/{total} found themselves"
        );
        let hits = first.search(&src, &rows[2_500], 5, 32, None);
        assert!(hits.iter().all(|(o, _)| *o < 1_000));
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use clap::ValueEnum;

    /// Either kind, through [`Builder`], gives a graph with good recall.
    /// `hnsw_rs`'s graph is measurably worse at a given `ef` (on this data,
    /// Euclid: 0.948 against native 0.971 at ef 64) and its parallel
    /// insertion is not reproducible, so its floor is lower.
    #[test]
    fn every_builder_kind_recalls_against_brute_force() {
        for d in [Distance::Cosine, Distance::Euclid] {
            let rows = data(4_000, 21, d);
            let queries = data(100, 22, d);
            let src = FlatVectors::from_rows(DIM, &rows);
            let offsets: Vec<Offset> = (0..rows.len() as Offset).collect();
            for kind in [BuilderKind::Native, BuilderKind::HnswRs] {
                let t = std::time::Instant::now();
                let g = build_with(kind, GraphParams::default(), d, &src, &offsets);
                let took = t.elapsed();
                assert_eq!(g.len(), rows.len());
                assert_eq!(g.distance(), d);
                assert_eq!(g.params(), GraphParams::default());
                let r = recall(&g, &src, &rows, &queries, d, 64);
                eprintln!("{kind:?} {d:?}: recall@10 {r:.3} at ef 64, built in {took:?}");
                let floor = match kind {
                    BuilderKind::Native => 0.94,
                    BuilderKind::HnswRs => 0.90,
                };
                assert!(r >= floor, "{kind:?} {d:?}: recall {r}");
            }
        }
    }

    #[test]
    fn builder_kind_names() {
        assert_eq!(BuilderKind::default(), BuilderKind::Native);
        for (kind, serde_name, cli_name) in [
            (BuilderKind::Native, "native", "native"),
            (BuilderKind::HnswRs, "hnsw_rs", "hnsw-rs"),
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{serde_name}\""));
            assert_eq!(serde_json::from_str::<BuilderKind>(&json).unwrap(), kind);
            assert_eq!(BuilderKind::from_str(cli_name, false), Ok(kind));
            assert_eq!(BuilderKind::from_str(serde_name, false), Ok(kind));
        }
        assert!(serde_json::from_str::<BuilderKind>("\"hnsw-rs\"").is_err());
    }
}
