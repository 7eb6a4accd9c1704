//! A collection's configuration, shaped like Qdrant's `CollectionConfig` so
//! that it can be persisted as JSON and echoed back unchanged.
//!
//! Defaults are Qdrant 1.18's. Fields Helio accepts but does not act on
//! (sharding, replication, WAL sizes) are kept so clients see them echoed.

pub mod strict_mode;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::types::Distance;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    pub size: usize,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
    /// Set when each point holds a list of rows of `size` (a multivector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<MultiVectorConfig>,
}

/// How a dense vector's components are stored. Helio keeps every value as
/// an f32 but rounds it as Qdrant's storage would, so that reads and
/// scores match: `uint8` truncates towards zero and saturates to 0..=255
/// (Qdrant's float-to-byte cast), `float16` rounds to half precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    #[default]
    Float32,
    Uint8,
    Float16,
}

impl Datatype {
    /// Rounds `v` to what this datatype can hold.
    pub fn round(self, v: &mut [f32]) {
        match self {
            Datatype::Float32 => {}
            Datatype::Uint8 => v.iter_mut().for_each(|x| *x = f32::from(*x as u8)),
            Datatype::Float16 => v
                .iter_mut()
                .for_each(|x| *x = half::f16::from_f32(*x).to_f32()),
        }
    }

    /// The first component this datatype cannot hold as a finite value.
    pub fn unrepresentable(self, v: &[f32]) -> Option<usize> {
        match self {
            Datatype::Float16 => v.iter().position(|x| !half::f16::from_f32(*x).is_finite()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiVectorConfig {
    pub comparator: MultiVectorComparator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiVectorComparator {
    MaxSim,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswConfig {
    pub m: usize,
    pub ef_construct: usize,
    /// Filters estimated to match fewer points than this (in KB of vector
    /// data, as Qdrant counts it) are answered by an exact scan.
    pub full_scan_threshold: usize,
    #[serde(default)]
    pub max_indexing_threads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            max_indexing_threads: 0,
            on_disk: Some(false),
            payload_m: None,
            inline_storage: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
}

impl HnswConfig {
    pub fn apply(&mut self, d: &HnswConfigDiff) {
        set(&mut self.m, d.m);
        set(&mut self.ef_construct, d.ef_construct);
        set(&mut self.full_scan_threshold, d.full_scan_threshold);
        set(&mut self.max_indexing_threads, d.max_indexing_threads);
        if d.on_disk.is_some() {
            self.on_disk = d.on_disk;
        }
        if d.payload_m.is_some() {
            self.payload_m = d.payload_m;
        }
        if d.inline_storage.is_some() {
            self.inline_storage = d.inline_storage;
        }
    }

    fn validate(&self) -> Result<()> {
        if self.m < 2 || self.m > 128 {
            return Err(bad("hnsw_config.m must be between 2 and 128"));
        }
        if self.ef_construct < 4 {
            return Err(bad("hnsw_config.ef_construct must be at least 4"));
        }
        if self.full_scan_threshold == 0 {
            // Qdrant allows 0 for "always use the graph"; keep it.
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizersConfig {
    /// Share of deleted points in a segment that triggers its rebuild.
    pub deleted_threshold: f64,
    pub vacuum_min_vector_number: usize,
    pub default_segment_number: usize,
    pub max_segment_size: Option<usize>,
    pub memmap_threshold: Option<usize>,
    /// KB of vectors that may stay unindexed; past it the optimizer builds
    /// a graph. 0 disables indexing.
    pub indexing_threshold: Option<usize>,
    pub flush_interval_sec: u64,
    pub max_optimization_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_unoptimized: Option<bool>,
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        OptimizersConfig {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            memmap_threshold: None,
            indexing_threshold: Some(10_000),
            flush_interval_sec: 5,
            max_optimization_threads: None,
            prevent_unoptimized: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizersConfigDiff {
    #[serde(default)]
    pub deleted_threshold: Option<f64>,
    #[serde(default)]
    pub vacuum_min_vector_number: Option<usize>,
    #[serde(default)]
    pub default_segment_number: Option<usize>,
    #[serde(default)]
    pub max_segment_size: Option<usize>,
    #[serde(default)]
    pub memmap_threshold: Option<usize>,
    #[serde(default)]
    pub indexing_threshold: Option<usize>,
    #[serde(default)]
    pub flush_interval_sec: Option<u64>,
    /// A number, or the string "auto" (Qdrant's `MaxOptimizationThreads`).
    #[serde(default)]
    pub max_optimization_threads: Option<serde_json::Value>,
    #[serde(default)]
    pub prevent_unoptimized: Option<bool>,
}

impl OptimizersConfig {
    pub fn apply(&mut self, d: &OptimizersConfigDiff) -> Result<()> {
        set(&mut self.deleted_threshold, d.deleted_threshold);
        set(
            &mut self.vacuum_min_vector_number,
            d.vacuum_min_vector_number,
        );
        set(&mut self.default_segment_number, d.default_segment_number);
        set(&mut self.flush_interval_sec, d.flush_interval_sec);
        if d.max_segment_size.is_some() {
            self.max_segment_size = d.max_segment_size;
        }
        if d.memmap_threshold.is_some() {
            self.memmap_threshold = d.memmap_threshold;
        }
        if d.indexing_threshold.is_some() {
            self.indexing_threshold = d.indexing_threshold;
        }
        if d.prevent_unoptimized.is_some() {
            self.prevent_unoptimized = d.prevent_unoptimized;
        }
        match &d.max_optimization_threads {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if s == "auto" => {
                self.max_optimization_threads = None
            }
            Some(v) => match v.as_u64() {
                Some(n) => self.max_optimization_threads = Some(n as usize),
                None => return Err(bad("max_optimization_threads must be a number or \"auto\"")),
            },
        }
        if !(0.0..=1.0).contains(&self.deleted_threshold) {
            return Err(bad(
                "optimizers_config.deleted_threshold must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalConfig {
    pub wal_capacity_mb: usize,
    pub wal_segments_ahead: usize,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            wal_capacity_mb: 32,
            wal_segments_ahead: 0,
        }
    }
}

/// The dense vectors of a collection: one unnamed vector (Qdrant's
/// default) or any number of named ones. Serialised in the shape it came
/// in, so clients see their own config echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one per collection; boxing buys nothing
pub enum VectorsConfig {
    Single(VectorParams),
    Named(BTreeMap<String, VectorParams>),
}

/// The collection update route's change to one dense vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorParamsDiff {
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default)]
    pub on_disk: Option<bool>,
}

/// Everything the collection update route can change.
#[derive(Debug, Clone, Default)]
pub struct ConfigUpdate {
    pub hnsw: Option<HnswConfigDiff>,
    pub optimizers: Option<OptimizersConfigDiff>,
    pub vectors: BTreeMap<String, VectorParamsDiff>,
    pub sparse_vectors: BTreeMap<String, SparseVectorParams>,
    pub strict_mode: Option<crate::engine::config::strict_mode::StrictModeConfig>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How sparse vector values are weighted at query time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modifier {
    #[default]
    None,
    /// Multiply each query weight by the token's inverse document frequency
    /// over the collection, as BM25 needs.
    Idf,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorParams {
    /// Accepted and echoed: the inverted index always lives in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<Modifier>,
}

impl SparseVectorParams {
    pub fn idf(&self) -> bool {
        self.modifier == Some(Modifier::Idf)
    }
}

/// Everything a collection is created with, as stored and as echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    pub vectors: VectorsConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_vectors: Option<BTreeMap<String, SparseVectorParams>>,
    pub shard_number: u32,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    pub on_disk_payload: bool,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: OptimizersConfig,
    pub wal_config: WalConfig,
    pub quantization_config: Option<serde_json::Value>,
    pub strict_mode_config: Option<crate::engine::config::strict_mode::StrictModeConfig>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl VectorParams {
    pub fn new(size: usize, distance: Distance) -> VectorParams {
        VectorParams {
            size,
            distance,
            hnsw_config: None,
            quantization_config: None,
            on_disk: None,
            datatype: None,
            multivector_config: None,
        }
    }
}

impl VectorParams {
    pub fn is_multi(&self) -> bool {
        self.multivector_config.is_some()
    }

    /// A vector as stored: rounded to the datatype and, for Cosine, scaled
    /// to unit length. A `uint8` vector is rounded before it is normalised
    /// (so its scores are the cosine of the byte values, as in Qdrant), a
    /// `float16` one after.
    pub fn to_stored(&self, v: &mut [f32]) {
        self.convert(v, true);
    }

    /// A query as compared with stored vectors: as [`Self::to_stored`],
    /// except that a Cosine `uint8` query is not rounded to bytes, since a
    /// query by point id is a stored vector that is already normalised
    /// (and cosine ignores the scale anyway).
    pub fn to_query(&self, v: &mut [f32]) {
        self.convert(v, self.distance != Distance::Cosine);
    }

    fn convert(&self, v: &mut [f32], bytes: bool) {
        let datatype = self.datatype.unwrap_or_default();
        if datatype == Datatype::Uint8 && bytes {
            datatype.round(v);
        }
        if self.distance == Distance::Cosine {
            crate::engine::index::distance::normalize(v);
        }
        if datatype == Datatype::Float16 {
            datatype.round(v);
        }
    }
}

impl CollectionConfig {
    /// Qdrant's defaults for everything but the vectors.
    pub fn new(vectors: VectorParams) -> CollectionConfig {
        CollectionConfig::with_vectors(VectorsConfig::Single(vectors), None)
    }

    pub fn with_vectors(
        vectors: VectorsConfig,
        sparse_vectors: Option<BTreeMap<String, SparseVectorParams>>,
    ) -> CollectionConfig {
        CollectionConfig {
            vectors,
            sparse_vectors,
            shard_number: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            on_disk_payload: true,
            hnsw_config: HnswConfig::default(),
            optimizer_config: OptimizersConfig::default(),
            wal_config: WalConfig::default(),
            quantization_config: None,
            strict_mode_config: None,
            metadata: None,
        }
    }

    /// The bytes one point's dense vectors take (f32 components), for
    /// strict mode's vector storage limit.
    pub fn dense_bytes_per_point(&self) -> usize {
        self.dense().iter().map(|(_, p)| p.size * 4).sum()
    }

    /// Every dense vector with its name (`""` for the unnamed one).
    pub fn dense(&self) -> Vec<(&str, &VectorParams)> {
        match &self.vectors {
            VectorsConfig::Single(p) => vec![("", p)],
            VectorsConfig::Named(map) => map.iter().map(|(n, p)| (n.as_str(), p)).collect(),
        }
    }

    pub fn dense_params(&self, name: &str) -> Option<&VectorParams> {
        match &self.vectors {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Named(map) => map.get(name),
        }
    }

    pub fn dense_params_mut(&mut self, name: &str) -> Option<&mut VectorParams> {
        match &mut self.vectors {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Named(map) => map.get_mut(name),
        }
    }

    pub fn sparse_params(&self, name: &str) -> Option<&SparseVectorParams> {
        self.sparse_vectors.as_ref()?.get(name)
    }

    /// Whether points carry exactly one unnamed dense vector, which Qdrant
    /// returns as a plain array rather than a map of names.
    pub fn is_single_unnamed(&self) -> bool {
        matches!(self.vectors, VectorsConfig::Single(_))
            && self.sparse_vectors.as_ref().is_none_or(|s| s.is_empty())
    }

    /// The vector `using` names: the unnamed one when omitted.
    pub fn kind_of(&self, name: &str) -> Result<VectorKind> {
        if let Some(p) = self.dense_params(name) {
            Ok(if p.is_multi() {
                VectorKind::Multi
            } else {
                VectorKind::Dense
            })
        } else if self.sparse_params(name).is_some() {
            Ok(VectorKind::Sparse)
        } else {
            Err(EngineError::BadRequest(format!(
                "Wrong input: Not existing vector name error: {name}"
            )))
        }
    }

    /// The hnsw parameters a vector's graph is built with: collection-wide
    /// values overridden by the vector's own `hnsw_config`.
    pub fn graph_hnsw(&self, name: &str) -> HnswConfig {
        let mut h = self.hnsw_config.clone();
        if let Some(d) = self.dense_params(name).and_then(|p| p.hnsw_config.as_ref()) {
            h.apply(d);
        }
        h
    }

    fn dim_of(&self, name: &str) -> usize {
        self.dense_params(name).map(|p| p.size).unwrap_or(1)
    }

    /// Vector count that may stay unindexed (Qdrant counts KB of vectors).
    pub fn indexing_threshold_points(&self, name: &str) -> Option<usize> {
        match self.optimizer_config.indexing_threshold {
            Some(0) => None,
            kb => Some(kb_to_points(kb.unwrap_or(10_000), self.dim_of(name))),
        }
    }

    /// Filter cardinality below which a filtered search scans exactly.
    pub fn full_scan_threshold_points(&self, name: &str) -> usize {
        kb_to_points(self.graph_hnsw(name).full_scan_threshold, self.dim_of(name))
    }

    pub fn validate(&self) -> Result<()> {
        for (name, p) in self.dense() {
            if p.size == 0 || p.size > 65_536 {
                return Err(bad("vector size must be between 1 and 65536"));
            }
            // A multivector is scored exactly, never through a graph: any
            // graph settings are accepted, m = 0 (Qdrant's "no graph") too.
            if !(p.is_multi() && self.graph_hnsw(name).m == 0) {
                self.graph_hnsw(name).validate()?;
            }
            if self.sparse_params(name).is_some() {
                return Err(EngineError::BadRequest(format!(
                    "vector name `{name}` is used by both a dense and a sparse vector"
                )));
            }
        }
        self.hnsw_config.validate()?;
        if self.shard_number == 0
            || self.replication_factor == 0
            || self.write_consistency_factor == 0
        {
            return Err(bad(
                "shard_number, replication_factor and write_consistency_factor must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Dense, sparse or multivector: decides which index a query goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    Dense,
    Sparse,
    Multi,
}

fn kb_to_points(kb: usize, dim: usize) -> usize {
    (kb.saturating_mul(1024) / (dim.max(1) * 4)).max(1)
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn bad(msg: &str) -> EngineError {
    EngineError::BadRequest(msg.to_string())
}
