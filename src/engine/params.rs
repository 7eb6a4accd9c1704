//! A collection's configuration, shaped like Qdrant's `CollectionConfig` so
//! that it can be persisted as JSON and echoed back unchanged.
//!
//! Defaults are Qdrant 1.18's. Fields Helio accepts but does not act on
//! (sharding, replication, WAL sizes) are kept so clients see them echoed.

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::types::Distance;

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
    pub datatype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<serde_json::Value>,
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

/// Everything a collection is created with, as stored and as echoed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    pub vectors: VectorParams,
    pub shard_number: u32,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    pub on_disk_payload: bool,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: OptimizersConfig,
    pub wal_config: WalConfig,
    pub quantization_config: Option<serde_json::Value>,
    pub strict_mode_config: Option<serde_json::Value>,
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

impl CollectionConfig {
    /// Qdrant's defaults for everything but the vectors.
    pub fn new(vectors: VectorParams) -> CollectionConfig {
        CollectionConfig {
            vectors,
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

    /// The hnsw parameters a vector's graph is built with: collection-wide
    /// values overridden by the vector's own `hnsw_config`.
    pub fn graph_hnsw(&self) -> HnswConfig {
        let mut h = self.hnsw_config.clone();
        if let Some(d) = &self.vectors.hnsw_config {
            h.apply(d);
        }
        h
    }

    /// Vector count that may stay unindexed (Qdrant counts KB of vectors).
    pub fn indexing_threshold_points(&self) -> Option<usize> {
        match self.optimizer_config.indexing_threshold {
            Some(0) => None,
            kb => Some(kb_to_points(kb.unwrap_or(10_000), self.vectors.size)),
        }
    }

    /// Filter cardinality below which a filtered search scans exactly.
    pub fn full_scan_threshold_points(&self) -> usize {
        kb_to_points(self.graph_hnsw().full_scan_threshold, self.vectors.size)
    }

    pub fn validate(&self) -> Result<()> {
        if self.vectors.size == 0 || self.vectors.size > 65_536 {
            return Err(bad("vector size must be between 1 and 65536"));
        }
        self.hnsw_config.validate()?;
        self.graph_hnsw().validate()?;
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
