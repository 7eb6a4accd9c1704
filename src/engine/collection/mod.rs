//! One collection: its configuration, durable storage and in-memory view,
//! opened here; written through [`Collection::update`] (`update.rs`) and
//! read through [`Collection::read`] (`view.rs`, with the reads themselves
//! in `engine/query/`).
//!
//! - `points.rs`: the in-memory view derived from storage.
//! - `update.rs`: the write path.
//! - `view.rs`: the one entry of every read, and the view it runs on.
//! - `admission.rs`: strict mode's checks against the collection, and its
//!   rate limits.
//! - `optimizer.rs`: background indexing, vacuum and merging.
//! - `vector_names.rs`: adding and dropping named vectors.
//! - `snapshot.rs`: the collection as one tar file, and back.
//! - `payload.rs`: payload edits and projections.

pub mod admission;
pub mod optimizer;
pub mod payload;
pub mod points;
pub mod snapshot;
pub mod update;
pub mod vector_names;
pub mod view;

pub use update::{check_vector, PointInsert, Selector, UpdateOp};
pub(in crate::engine) use update::{wrong_multi, StoredVectors};
pub use view::{ReadRequest, View};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use roaring::RoaringBitmap;
use serde_json::Value;

use crate::engine::collection::points::{DenseSpace, Points, Segment, Slot};
use crate::engine::config::{CollectionConfig, ConfigUpdate, HnswConfigDiff};
use crate::engine::error::{EngineError, Result};
use crate::engine::index::hnsw::{FrozenGraph, VectorSource};
use crate::engine::index::multivector::MultiSpace;
use crate::engine::index::payload::{PayloadFieldSchema, PayloadIndexInfo};
use crate::engine::index::sparse::SparseIndex;
use crate::engine::storage::{sync_dir, Arena, Store};
use crate::engine::types::{NamedVectors, Offset, Payload, PointId, VectorData};
use crate::engine::EngineOptions;

/// A point as read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: PointId,
    pub version: u64,
    pub score: Option<f32>,
    pub payload: Option<Payload>,
    /// The vectors asked for; the API renders a collection with one
    /// unnamed vector as a plain array, as Qdrant does.
    pub vector: Option<NamedVectors>,
    pub order_value: Option<Value>,
}

/// Summary for the collection info route.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    pub config: CollectionConfig,
    pub points_count: usize,
    pub indexed_vectors_count: u64,
    pub segments_count: usize,
    pub optimizing: bool,
    pub payload_schema: std::collections::BTreeMap<String, PayloadIndexInfo>,
}

/// Writer-only state, behind the write mutex.
pub(in crate::engine) struct WriteState {
    pub(in crate::engine) next_offset: Offset,
    pub(in crate::engine) next_version: u64,
}

pub struct Collection {
    pub(in crate::engine) name: String,
    pub(in crate::engine) dir: PathBuf,
    pub(in crate::engine) config: RwLock<CollectionConfig>,
    pub(in crate::engine) store: Store,
    pub(in crate::engine) points: RwLock<Points>,
    pub(in crate::engine) writer: Mutex<WriteState>,
    pub(in crate::engine) options: EngineOptions,
    /// Wakes the optimizer thread; `true` in the mutex means "work to do".
    pub(in crate::engine) wake: (Mutex<bool>, Condvar),
    pub(in crate::engine) stopped: AtomicBool,
    pub(in crate::engine) optimizing: AtomicBool,
    /// When the last write committed, for the optimizer's batching.
    pub(in crate::engine) last_write: Mutex<std::time::Instant>,
    /// What the optimizer runs and has run, for the optimizations route.
    pub(in crate::engine) tracker: Mutex<crate::engine::collection::optimizer::Tracker>,
    /// Strict mode's read and write rate buckets.
    pub(in crate::engine) rate_limits: Mutex<admission::RateLimits>,
}

impl VectorSource for Arena {
    fn dim(&self) -> usize {
        Arena::dim(self)
    }

    fn vector(&self, offset: Offset) -> &[f32] {
        self.get(offset)
    }
}

pub(in crate::engine) const META_CONFIG: &str = "config";
pub(in crate::engine) const META_NEXT_OFFSET: &str = "next_offset";
pub(in crate::engine) const META_NEXT_VERSION: &str = "next_version";
/// Graph segments of the unnamed vector, as storage before named vectors
/// recorded them; read at start-up, never written.
const META_SEGMENTS_V1: &str = "segments";
pub(in crate::engine) const META_SEGMENTS: &str = "vector_segments";
const META_INDEXES: &str = "payload_indexes";
const META_INFERENCE_MODEL: &str = "inference_model";

impl Collection {
    /// Creates the on-disk layout of a new collection.
    pub fn create(
        dir: &Path,
        name: &str,
        config: CollectionConfig,
        options: EngineOptions,
    ) -> Result<Collection> {
        config.validate()?;
        std::fs::create_dir_all(dir.join("segments"))?;
        let store = Store::open(&dir.join("points.db"), options.fsync)?;
        store.set_meta(META_CONFIG, &json(&config))?;
        sync_dir(dir)?;
        Self::open(dir, name, options)
    }

    /// Opens a collection and rebuilds its in-memory view from storage.
    pub fn open(dir: &Path, name: &str, options: EngineOptions) -> Result<Collection> {
        let store = Store::open(&dir.join("points.db"), options.fsync)?;
        let config: CollectionConfig = parse_meta(&store, META_CONFIG)?
            .ok_or_else(|| EngineError::Storage(format!("collection {name} has no config")))?;
        let next_offset = parse_meta(&store, META_NEXT_OFFSET)?.unwrap_or(0);
        let next_version = parse_meta(&store, META_NEXT_VERSION)?.unwrap_or(0);

        let mut points = Points::default();
        for (name, params) in config.dense() {
            if params.is_multi() {
                points
                    .multi
                    .insert(name.to_string(), MultiSpace::new(params.distance));
                continue;
            }
            let arena = Arena::open(&dir.join(arena_dir(name)), params.size)?;
            let space = DenseSpace::new(Arc::new(arena), params.distance);
            points.dense.insert(name.to_string(), space);
        }
        for name in config.sparse_vectors.iter().flat_map(|s| s.keys()) {
            points.sparse.insert(name.clone(), SparseIndex::default());
        }
        let dense_names: Vec<String> = points.dense.keys().cloned().collect();
        // Points stored before a vector name was added lack it.
        let since = crate::engine::collection::vector_names::since(&store)?;
        let lacks = |name: &str, offset: Offset| since.get(name).is_some_and(|&s| offset < s);
        let schemas: Vec<(String, PayloadFieldSchema)> =
            parse_meta(&store, META_INDEXES)?.unwrap_or_default();
        for stored in store.load_points()? {
            let payload: Payload = serde_json::from_str(&stored.payload).map_err(|e| {
                EngineError::Storage(format!("corrupt payload of {}: {e}", stored.id))
            })?;
            let extra: StoredVectors = match &stored.vectors {
                None => StoredVectors::default(),
                Some(text) => serde_json::from_str(text).map_err(|e| {
                    EngineError::Storage(format!("corrupt vectors of {}: {e}", stored.id))
                })?,
            };
            let dense: Vec<&str> = dense_names
                .iter()
                .filter(|n| !extra.missing.contains(n) && !lacks(n, stored.offset))
                .map(String::as_str)
                .collect();
            let held: Vec<(String, VectorData)> = extra
                .held()
                .map_err(|e| {
                    EngineError::Storage(format!("corrupt vectors of {}: {e}", stored.id))
                })?
                .into_iter()
                .filter(|(n, _)| !lacks(n, stored.offset))
                .collect();
            points.insert(
                stored.offset,
                Slot {
                    id: stored.id,
                    version: stored.version,
                    payload,
                },
                &dense,
                held,
            );
        }
        for (field, schema) in schemas {
            let Points { indexes, slots, .. } = &mut points;
            let live = slots
                .iter()
                .enumerate()
                .filter_map(|(o, s)| s.as_ref().map(|s| (o as Offset, &s.payload)));
            indexes
                .create(&field, schema, live)
                .map_err(|e| EngineError::Storage(format!("payload index {field}: {e}")))?;
        }
        let segments: Vec<SegmentMeta> = match parse_meta(&store, META_SEGMENTS)? {
            Some(list) => list,
            None => parse_meta::<Vec<(String, (usize, usize))>>(&store, META_SEGMENTS_V1)?
                .unwrap_or_default()
                .into_iter()
                .map(|(id, built_with)| SegmentMeta {
                    vector: String::new(),
                    id,
                    built_with,
                })
                .collect(),
        };
        load_segments(dir, &segments, &config, &mut points);

        tracing::info!(
            collection = name,
            points = points.len(),
            segments = points.segment_count(),
            unindexed = points.unindexed_count(),
            "collection opened"
        );
        Ok(Collection {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            store,
            points: RwLock::new(points),
            writer: Mutex::new(WriteState {
                next_offset,
                next_version,
            }),
            options,
            wake: (Mutex::new(true), Condvar::new()),
            stopped: AtomicBool::new(false),
            optimizing: AtomicBool::new(false),
            last_write: Mutex::new(std::time::Instant::now()),
            tracker: Mutex::new(Default::default()),
            rate_limits: Mutex::new(Default::default()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> CollectionConfig {
        self.config.read().clone()
    }

    /// Whether points have one unnamed dense vector and nothing else.
    pub fn single_vector(&self) -> bool {
        self.config.read().is_single_unnamed()
    }

    pub fn info(&self) -> CollectionInfo {
        let points = self.points.read();
        CollectionInfo {
            config: self.config(),
            points_count: points.len(),
            indexed_vectors_count: points.indexed_count(),
            segments_count: points.segment_count()
                + usize::from(points.unindexed_count() > 0 || points.segment_count() == 0),
            optimizing: self.optimizing.load(Ordering::Relaxed) || self.needs_indexing(&points),
            payload_schema: points.indexes.schema_info(),
        }
    }

    fn needs_indexing(&self, points: &Points) -> bool {
        let config = self.config.read();
        points.dense.iter().any(
            |(name, space)| match config.indexing_threshold_points(name) {
                Some(threshold) => space.tail.len() as usize >= threshold,
                None => false,
            },
        )
    }

    /// Applies the collection update route's diffs; the optimizer picks up
    /// hnsw changes and rebuilds graphs built with other parameters.
    pub fn update_config(&self, update: &ConfigUpdate) -> Result<()> {
        let _writer = self.writer.lock();
        let mut config = self.config.read().clone();
        if let Some(d) = &update.hnsw {
            config.hnsw_config.apply(d);
        }
        if let Some(d) = &update.optimizers {
            config.optimizer_config.apply(d)?;
        }
        for (name, diff) in &update.vectors {
            let params = config.dense_params_mut(name).ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "Wrong input: Not existing vector name error: {name}"
                ))
            })?;
            if let Some(d) = &diff.hnsw_config {
                let mut merged = params.hnsw_config.clone().unwrap_or_default();
                merge_hnsw_diff(&mut merged, d);
                params.hnsw_config = Some(merged);
            }
            if diff.on_disk.is_some() {
                params.on_disk = diff.on_disk;
            }
            if let Some(q) = &diff.quantization_config {
                params.quantization_config = Some(q.clone()).filter(|q| !q.is_null());
            }
        }
        for (name, sparse) in &update.sparse_vectors {
            let target = config
                .sparse_vectors
                .as_mut()
                .and_then(|s| s.get_mut(name))
                .ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "Wrong input: Not existing vector name error: {name}"
                    ))
                })?;
            if sparse.modifier.is_some() {
                target.modifier = sparse.modifier;
            }
            if sparse.index.is_some() {
                target.index = sparse.index.clone();
            }
        }
        if let Some(s) = &update.strict_mode {
            config
                .strict_mode_config
                .get_or_insert_with(Default::default)
                .merge(s);
        }
        if let Some(m) = &update.metadata {
            let target = config.metadata.get_or_insert_with(Default::default);
            for (k, v) in m {
                target.insert(k.clone(), v.clone());
            }
        }
        config.validate()?;
        self.store.set_meta(META_CONFIG, &json(&config))?;
        *self.config.write() = config;
        self.notify_optimizer();
        Ok(())
    }

    /// The embedding model whose vectors fill dense vector `vector`,
    /// recorded at the first write that had the server embed text for it.
    /// `None` when every vector so far came from the client.
    pub fn inference_model(&self, vector: &str) -> Result<Option<String>> {
        self.store.get_meta(&inference_key(vector))
    }

    /// Records `model` as the embedding model of `vector`, or refuses it
    /// when another model's vectors are already there: vectors from two
    /// models in one space make every search answer nonsense.
    pub fn record_inference_model(&self, vector: &str, model: &str) -> Result<()> {
        let _writer = self.writer.lock();
        match self.store.get_meta(&inference_key(vector))? {
            Some(existing) if existing != model => {
                Err(mixed_models(&self.name, vector, &existing, model))
            }
            Some(_) => Ok(()),
            None => self.store.set_meta(&inference_key(vector), model),
        }
    }

    /// Refuses a query embedded by another model than the vector's.
    pub fn check_inference_model(&self, vector: &str, model: &str) -> Result<()> {
        match self.inference_model(vector)? {
            Some(existing) if existing != model => {
                Err(mixed_models(&self.name, vector, &existing, model))
            }
            _ => Ok(()),
        }
    }

    /// Blocks until the optimizer has nothing left to do (or `timeout`
    /// passes); returns whether it got there. For tests and benchmarks.
    pub fn wait_optimized(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if !self.info().optimizing {
                // Two quiet looks in a row: the optimizer may be between steps.
                std::thread::sleep(std::time::Duration::from_millis(20));
                if !self.info().optimizing {
                    return true;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    }

    pub fn notify_optimizer(&self) {
        let (lock, cvar) = &self.wake;
        *lock.lock() = true;
        cvar.notify_one();
    }

    // ----------------------------------------------------------- payload index

    pub fn create_payload_index(&self, field: &str, schema: PayloadFieldSchema) -> Result<u64> {
        let writer = self.writer.lock();
        let mut points = self.points.write();
        let mut schemas = self.stored_index_schemas()?;
        schemas.retain(|(f, _)| f != field);
        schemas.push((field.to_string(), schema.clone()));
        {
            let Points { indexes, slots, .. } = &mut *points;
            indexes.drop(field);
            let live = slots
                .iter()
                .enumerate()
                .filter_map(|(o, s)| s.as_ref().map(|s| (o as Offset, &s.payload)));
            indexes
                .create(field, schema, live)
                .map_err(|e| EngineError::BadRequest(e.0))?;
        }
        self.store.set_meta(META_INDEXES, &json(&schemas))?;
        Ok(writer.next_version)
    }

    pub fn delete_payload_index(&self, field: &str) -> Result<u64> {
        let writer = self.writer.lock();
        let mut points = self.points.write();
        let mut schemas = self.stored_index_schemas()?;
        schemas.retain(|(f, _)| f != field);
        points.indexes.drop(field);
        self.store.set_meta(META_INDEXES, &json(&schemas))?;
        Ok(writer.next_version)
    }

    fn stored_index_schemas(&self) -> Result<Vec<(String, PayloadFieldSchema)>> {
        Ok(parse_meta(&self.store, META_INDEXES)?.unwrap_or_default())
    }

    // ----------------------------------------------------------------- reads

    /// The stored (normalised, for Cosine) vector `name` of a point: `None`
    /// when the point does not exist, `Some(None)` when it lacks the vector.
    pub fn vector_of(&self, id: &PointId, name: &str) -> Option<Option<VectorData>> {
        let points = self.points.read();
        let offset = *points.ids.get(id)?;
        Some(points.vectors(offset).remove(name))
    }

    /// The size of dense vector `name`, `None` if there is no such dense vector.
    pub fn dim(&self, name: &str) -> Option<usize> {
        self.config.read().dense_params(name).map(|p| p.size)
    }

    /// The optimizer's running, queued and completed work.
    pub fn optimizations(&self) -> crate::engine::collection::optimizer::OptimizationsReport {
        crate::engine::collection::optimizer::report(self)
    }

    /// Marks the collection dropped: the optimizer thread exits.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify_optimizer();
    }

    /// Persists the segment lists of every dense vector.
    pub(in crate::engine) fn save_segments_meta(&self, points: &Points) -> Result<()> {
        let list: Vec<SegmentMeta> = points
            .dense
            .iter()
            .flat_map(|(name, space)| {
                space.segments.iter().map(|s| SegmentMeta {
                    vector: name.clone(),
                    id: s.id.clone(),
                    built_with: s.built_with,
                })
            })
            .collect();
        self.store.set_meta(META_SEGMENTS, &json(&list))
    }
}

fn merge_hnsw_diff(target: &mut HnswConfigDiff, d: &HnswConfigDiff) {
    macro_rules! take {
        ($($f:ident),*) => { $( if d.$f.is_some() { target.$f = d.$f; } )* };
    }
    take!(
        m,
        ef_construct,
        full_scan_threshold,
        max_indexing_threads,
        on_disk,
        payload_m,
        inline_storage
    );
}

fn load_segments(dir: &Path, list: &[SegmentMeta], config: &CollectionConfig, points: &mut Points) {
    let seg_dir = dir.join("segments");
    for meta in list {
        let (Some(params), Some(space)) = (
            config.dense_params(&meta.vector),
            points.dense.get_mut(&meta.vector),
        ) else {
            continue;
        };
        let path = seg_dir.join(format!("{}.hnsw", meta.id));
        let opened = FrozenGraph::open(&path, params.distance)
            .map_err(EngineError::from)
            .and_then(|g| {
                if g.distance() == params.distance && g.dim() == params.size {
                    Ok(g)
                } else {
                    Err(EngineError::Storage(
                        "graph built for another vector config".into(),
                    ))
                }
            });
        match opened {
            Ok(graph) => {
                let members: RoaringBitmap = graph.offsets().iter().copied().collect();
                space.tail -= &members;
                space.segments.push(Arc::new(Segment {
                    id: meta.id.clone(),
                    graph,
                    members,
                    built_with: meta.built_with,
                }));
            }
            // The graph is derived data: its points fall back to the exact
            // tail and the optimizer rebuilds it.
            Err(e) => {
                tracing::warn!(segment = %meta.id, error = %e, "segment graph unreadable; will rebuild")
            }
        }
    }
    // Files no longer listed are leftovers of a crash mid-optimisation.
    if let Ok(entries) = std::fs::read_dir(&seg_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let listed = list.iter().any(|m| name == format!("{}.hnsw", m.id));
            if !listed {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A graph segment as listed in the collection's metadata.
#[derive(serde::Serialize, serde::Deserialize)]
struct SegmentMeta {
    /// The dense vector the graph indexes (`""` for the unnamed one).
    vector: String,
    id: String,
    built_with: (usize, usize),
}

/// The arena directory of a dense vector: `vectors` for the unnamed one
/// (the layout before named vectors), else the name in hex, since a
/// vector name may hold any character.
pub(in crate::engine) fn arena_dir(name: &str) -> String {
    if name.is_empty() {
        "vectors".to_string()
    } else {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        format!("vectors-{hex}")
    }
}

pub(in crate::engine) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("in-memory values serialise")
}

pub(in crate::engine) fn parse_meta<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &str,
) -> Result<Option<T>> {
    match store.get_meta(key)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EngineError::Storage(format!("corrupt metadata {key}: {e}"))),
    }
}

fn mixed_models(collection: &str, vector: &str, existing: &str, wanted: &str) -> EngineError {
    let which = if vector.is_empty() {
        format!("collection `{collection}`")
    } else {
        format!("vector `{vector}` of collection `{collection}`")
    };
    EngineError::BadRequest(format!(
        "Wrong input: {which} holds vectors embedded by `{existing}`; \
         text embedded by `{wanted}` is not comparable with them (use `{existing}`, or another collection)"
    ))
}

/// Metadata key of a vector's inference model; the unnamed vector keeps
/// the key it had before named vectors.
pub(in crate::engine) fn inference_key(vector: &str) -> String {
    if vector.is_empty() {
        META_INFERENCE_MODEL.to_string()
    } else {
        format!("{META_INFERENCE_MODEL}:{vector}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::VectorParams;
    use crate::engine::types::Distance;

    #[test]
    fn inference_model_is_recorded_once_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let config = CollectionConfig::new(VectorParams::new(4, Distance::Cosine));
        let c = Collection::create(dir.path(), "c", config, options).unwrap();
        assert_eq!(c.inference_model("").unwrap(), None);
        // Any model may query a collection filled with client vectors.
        c.check_inference_model("", "a").unwrap();
        c.record_inference_model("", "a").unwrap();
        c.record_inference_model("", "a").unwrap();
        let err = c.record_inference_model("", "b").unwrap_err().to_string();
        assert!(err.contains("`a`") && err.contains("`b`"), "{err}");
        assert!(c.check_inference_model("", "b").is_err());
        c.stop();
        drop(c);
        let c = Collection::open(dir.path(), "c", options).unwrap();
        assert_eq!(c.inference_model("").unwrap().as_deref(), Some("a"));
        assert!(c.check_inference_model("", "b").is_err());
    }
}
