//! One collection: its configuration, durable storage, in-memory view and
//! the write path.
//!
//! Every write goes through [`Collection::update`]: the batch is planned
//! against the current state (so a bad point rejects the whole batch before
//! anything is written), new vectors go to fresh arena slots, the SQLite
//! transaction commits, and only then does the in-memory view change.
//! Reads (`points`, `scroll`, `count`, `search`) take the view's read lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use roaring::RoaringBitmap;
use serde_json::Value;

use super::error::{EngineError, Result};
use super::filter::{Filter, PointView};
use super::hnsw::{FrozenGraph, VectorSource};
use super::multivector::{MultiSpace, Packed};
use super::params::{CollectionConfig, ConfigUpdate, HnswConfigDiff, VectorKind};
use super::payload::{self, PayloadSelector};
use super::payload_index::{Candidates, PayloadFieldSchema, PayloadIndexInfo};
use super::points::{DenseSpace, Points, Segment, Slot};
use super::sparse::SparseIndex;
use super::storage::{sync_dir, Arena, Store, StoreOp};
use super::types::{
    NamedVectors, Offset, Payload, PointId, SparseVector, VectorData, VectorSelector,
};
use super::EngineOptions;

/// A point as written by a client, already validated for shape.
#[derive(Debug, Clone)]
pub struct PointInsert {
    pub id: PointId,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

impl PointInsert {
    /// A point with only the unnamed dense vector.
    pub fn dense(id: PointId, vector: Vec<f32>, payload: Payload) -> PointInsert {
        PointInsert {
            id,
            vectors: NamedVectors::from([(String::new(), VectorData::Dense(vector))]),
            payload,
        }
    }
}

/// Which points an operation applies to.
#[derive(Debug, Clone)]
pub enum Selector {
    Ids(Vec<PointId>),
    Filter(Filter),
}

/// One write operation; a batch of them commits atomically.
#[derive(Debug, Clone)]
pub enum UpdateOp {
    Upsert(Vec<PointInsert>),
    Delete(Selector),
    /// Merge `payload` into the points' payloads, at `key` when given.
    SetPayload {
        selector: Selector,
        payload: Payload,
        key: Option<String>,
    },
    OverwritePayload {
        selector: Selector,
        payload: Payload,
    },
    DeletePayload {
        selector: Selector,
        keys: Vec<String>,
    },
    ClearPayload(Selector),
    /// Replace the named vectors of existing points, keeping their other
    /// vectors and their payloads.
    UpdateVectors(Vec<(PointId, NamedVectors)>),
    /// Remove the named vectors from the selected points.
    DeleteVectors {
        selector: Selector,
        names: Vec<String>,
    },
}

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
pub(super) struct WriteState {
    pub(super) next_offset: Offset,
    pub(super) next_version: u64,
}

pub struct Collection {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) config: RwLock<CollectionConfig>,
    pub(super) store: Store,
    pub(super) points: RwLock<Points>,
    pub(super) writer: Mutex<WriteState>,
    pub(super) options: EngineOptions,
    /// Wakes the optimizer thread; `true` in the mutex means "work to do".
    pub(super) wake: (Mutex<bool>, Condvar),
    pub(super) stopped: AtomicBool,
    pub(super) optimizing: AtomicBool,
    /// When the last write committed, for the optimizer's batching.
    pub(super) last_write: Mutex<std::time::Instant>,
    /// What the optimizer runs and has run, for the optimizations route.
    pub(super) tracker: Mutex<super::optimizer::Tracker>,
    /// Strict mode's read and write rate buckets.
    pub(super) rate_limits: Mutex<super::strict_mode::RateLimits>,
}

impl VectorSource for Arena {
    fn dim(&self) -> usize {
        Arena::dim(self)
    }

    fn vector(&self, offset: Offset) -> &[f32] {
        self.get(offset)
    }
}

pub(super) const META_CONFIG: &str = "config";
const META_NEXT_OFFSET: &str = "next_offset";
const META_NEXT_VERSION: &str = "next_version";
/// Graph segments of the unnamed vector, as storage before named vectors
/// recorded them; read at start-up, never written.
const META_SEGMENTS_V1: &str = "segments";
pub(super) const META_SEGMENTS: &str = "vector_segments";
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
        let since = super::vector_names::since(&store)?;
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

    // ---------------------------------------------------------------- writes

    /// Applies a batch of operations atomically and returns its operation id.
    #[tracing::instrument(skip_all, fields(collection = %self.name, ops = ops.len()))]
    pub fn update(&self, ops: Vec<UpdateOp>) -> Result<u64> {
        let mut writer = self.writer.lock();
        let config = self.config.read().clone();
        let version = writer.next_version;

        // 1. Plan every change against the current state plus earlier ops.
        let mut plan = Plan::default();
        let arenas: Vec<(String, Arc<Arena>)> = {
            let points = self.points.read();
            for op in ops {
                plan.add(&points, op, &config)?;
            }
            points
                .dense
                .iter()
                .map(|(n, s)| (n.clone(), s.arena.clone()))
                .collect()
        };

        // 2. New vectors go to fresh slots that no reader can see.
        let first_offset = writer.next_offset;
        let mut next_offset = first_offset;
        let mut store_ops = Vec::new();
        let mut placed: HashMap<PointId, Placed> = HashMap::new();
        let payload_texts: Vec<(PointId, String)> = plan
            .order
            .iter()
            .filter_map(|id| match plan.changes.get(id) {
                Some(Change::Put { payload, .. }) => Some((*id, json(payload))),
                _ => None,
            })
            .collect();
        for id in &plan.order {
            let Some(Change::Put {
                vectors: Some(vectors),
                ..
            }) = plan.changes.get(id)
            else {
                continue;
            };
            let mut entry = Placed {
                offset: next_offset,
                dense: Vec::new(),
                held: Vec::new(),
                stored: None,
            };
            let mut extra = StoredVectors::default();
            for (name, data) in vectors {
                let params = config.dense_params(name);
                match data {
                    VectorData::Dense(v) => {
                        let (_, arena) = arenas
                            .iter()
                            .find(|(n, _)| n == name)
                            .ok_or_else(|| missing_vector(name))?;
                        let mut v = v.clone();
                        if let Some(p) = params {
                            p.to_stored(&mut v);
                        }
                        arena.put(next_offset, &v)?;
                        entry.dense.push(name.clone());
                    }
                    VectorData::Sparse(v) => {
                        extra.sparse.insert(name.clone(), v.clone());
                        entry.held.push((name.clone(), data.clone()));
                    }
                    VectorData::Multi(v) => {
                        let mut v = v.clone();
                        if let Some(p) = params {
                            v.rows_mut().for_each(|row| p.to_stored(row));
                        }
                        extra.multi.insert(name.clone(), Packed::from(&v));
                        entry.held.push((name.clone(), VectorData::Multi(v)));
                    }
                }
            }
            extra.missing = arenas
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| !entry.dense.contains(n))
                .collect();
            if !extra.is_empty() {
                entry.stored = Some(json(&extra));
            }
            placed.insert(*id, entry);
            next_offset = next_offset
                .checked_add(1)
                .ok_or_else(|| EngineError::Storage("offset space exhausted".into()))?;
        }
        if self.options.fsync {
            for (_, arena) in &arenas {
                arena.flush(first_offset, next_offset)?;
            }
        }
        let texts: HashMap<PointId, &str> = payload_texts
            .iter()
            .map(|(id, t)| (*id, t.as_str()))
            .collect();
        for id in &plan.order {
            match plan.changes.get(id) {
                Some(Change::Put { existing, .. }) => {
                    let payload = texts[id];
                    match placed.get(id) {
                        Some(p) => store_ops.push(StoreOp::Upsert {
                            id: *id,
                            offset: p.offset,
                            version,
                            payload,
                            vectors: p.stored.as_deref(),
                        }),
                        None => {
                            debug_assert!(existing.is_some());
                            store_ops.push(StoreOp::SetPayload {
                                id: *id,
                                version,
                                payload,
                            })
                        }
                    }
                }
                Some(Change::Delete) => store_ops.push(StoreOp::Delete { id: *id }),
                None => {}
            }
        }

        // 3. Commit: from here on the change is durable.
        self.store.apply(
            &store_ops,
            &[
                (META_NEXT_OFFSET, next_offset.to_string()),
                (META_NEXT_VERSION, (version + 1).to_string()),
            ],
        )?;
        writer.next_offset = next_offset;
        writer.next_version = version + 1;

        // 4. Publish to readers.
        {
            let mut points = self.points.write();
            for id in &plan.order {
                match plan.changes.remove(id) {
                    Some(Change::Put {
                        payload, existing, ..
                    }) => match placed.remove(id) {
                        Some(p) => {
                            let dense: Vec<&str> = p.dense.iter().map(String::as_str).collect();
                            let slot = Slot {
                                id: *id,
                                version,
                                payload,
                            };
                            points.insert(p.offset, slot, &dense, p.held)
                        }
                        None => {
                            if let Some(offset) = existing {
                                points.set_payload(offset, version, payload);
                            }
                        }
                    },
                    Some(Change::Delete) => points.delete(id),
                    None => {}
                }
            }
        }
        drop(writer);
        *self.last_write.lock() = std::time::Instant::now();
        self.notify_optimizer();
        Ok(version)
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
                .map_err(EngineError::BadRequest)?;
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

    /// Points by id, in the order asked, skipping ids that do not exist.
    pub fn retrieve(
        &self,
        ids: &[PointId],
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Vec<Record> {
        let points = self.points.read();
        ids.iter()
            .filter_map(|id| points.ids.get(id).copied())
            .filter_map(|o| self.record(&points, o, None, with_payload, with_vector))
            .collect()
    }

    pub(super) fn record(
        &self,
        points: &Points,
        offset: Offset,
        score: Option<f32>,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Option<Record> {
        let slot = points.slot(offset)?;
        let vector = with_vector.any().then(|| {
            let mut all = points.vectors(offset);
            all.retain(|name, _| with_vector.wants(name));
            all
        });
        Some(Record {
            id: slot.id,
            version: slot.version,
            score,
            payload: with_payload.select(&slot.payload),
            vector,
            order_value: None,
        })
    }

    /// The stored (normalised, for Cosine) vector `name` of a point: `None`
    /// when the point does not exist, `Some(None)` when it lacks the vector.
    pub fn vector_of(&self, id: &PointId, name: &str) -> Option<Option<VectorData>> {
        let points = self.points.read();
        let offset = *points.ids.get(id)?;
        Some(points.vectors(offset).remove(name))
    }

    pub fn count(&self, filter: Option<&Filter>, exact: bool) -> usize {
        let points = self.points.read();
        match filter {
            None => points.len(),
            Some(f) if !exact => points.indexes.estimate(f, points.len()).min(points.len()),
            Some(f) => self.matching(&points, f, None).len() as usize,
        }
    }

    /// The live points matching `filter`, narrowed by payload indexes
    /// first (`candidates`, when the caller already has them); only
    /// inexact candidates are checked against payloads.
    pub(super) fn matching(
        &self,
        points: &Points,
        filter: &Filter,
        candidates: Option<Candidates>,
    ) -> RoaringBitmap {
        let candidates = match candidates.or_else(|| points.indexes.candidates(filter)) {
            Some(c) if c.exact => return c.points & &points.live,
            Some(c) => c.points & &points.live,
            None => points.live.clone(),
        };
        candidates
            .iter()
            .filter(|&o| {
                points
                    .view(o)
                    .is_some_and(|v| filter.check_with(&v, &points.indexes))
            })
            .collect()
    }

    /// The size of dense vector `name`, `None` if there is no such dense vector.
    pub fn dim(&self, name: &str) -> Option<usize> {
        self.config.read().dense_params(name).map(|p| p.size)
    }

    /// The optimizer's running, queued and completed work.
    pub fn optimizations(&self) -> super::optimizer::OptimizationsReport {
        super::optimizer::report(self)
    }

    /// Marks the collection dropped: the optimizer thread exits.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify_optimizer();
    }

    /// Persists the segment lists of every dense vector.
    pub(super) fn save_segments_meta(&self, points: &Points) -> Result<()> {
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

/// The `vectors` column of a point: what its dense vectors do not say.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct StoredVectors {
    /// Dense vector names the point does not have (multivector names are
    /// never listed: a point has a multivector when `multi` holds it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    missing: Vec<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    sparse: std::collections::BTreeMap<String, SparseVector>,
    /// Multivectors as stored (rounded, normalised for Cosine): their rows
    /// vary in number, so they are kept here rather than in an arena.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    multi: std::collections::BTreeMap<String, Packed>,
}

impl StoredVectors {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.sparse.is_empty() && self.multi.is_empty()
    }

    /// The vectors kept in memory rather than in an arena.
    fn held(self) -> std::result::Result<Vec<(String, VectorData)>, String> {
        let mut out: Vec<(String, VectorData)> = self
            .sparse
            .into_iter()
            .map(|(n, v)| (n, VectorData::Sparse(v)))
            .collect();
        for (name, packed) in self.multi {
            out.push((name, VectorData::Multi(packed.try_into()?)));
        }
        Ok(out)
    }
}

/// Where a write batch put a point's new vectors.
struct Placed {
    offset: Offset,
    dense: Vec<String>,
    /// Sparse and multivectors, for the in-memory indexes.
    held: Vec<(String, VectorData)>,
    stored: Option<String>,
}

/// The arena directory of a dense vector: `vectors` for the unnamed one
/// (the layout before named vectors), else the name in hex, since a
/// vector name may hold any character.
pub(super) fn arena_dir(name: &str) -> String {
    if name.is_empty() {
        "vectors".to_string()
    } else {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        format!("vectors-{hex}")
    }
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("in-memory values serialise")
}

pub(super) fn parse_meta<T: serde::de::DeserializeOwned>(
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

/// The net effect of a batch on each touched point.
enum Change {
    /// The point exists after the batch with this payload; `vectors` is
    /// set (to the point's complete new set) when vectors must be written.
    Put {
        vectors: Option<NamedVectors>,
        payload: Payload,
        /// Offset of the point before the batch, if it existed.
        existing: Option<Offset>,
    },
    Delete,
}

#[derive(Default)]
struct Plan {
    changes: HashMap<PointId, Change>,
    /// Touched ids in first-touch order, so storage sees a stable order.
    order: Vec<PointId>,
}

impl Plan {
    fn touch(&mut self, id: PointId) {
        if !self.changes.contains_key(&id) {
            self.order.push(id);
        }
    }

    /// Current payload of `id` as earlier ops in this batch left it.
    fn current<'a>(
        &'a self,
        points: &'a Points,
        id: &PointId,
    ) -> Option<(Option<Offset>, &'a Payload)> {
        match self.changes.get(id) {
            Some(Change::Put {
                payload, existing, ..
            }) => Some((*existing, payload)),
            Some(Change::Delete) => None,
            None => {
                let offset = *points.ids.get(id)?;
                Some((Some(offset), &points.slot(offset)?.payload))
            }
        }
    }

    /// Current vectors of `id` as earlier ops in this batch left them.
    fn current_vectors(&self, points: &Points, id: &PointId) -> Option<NamedVectors> {
        match self.changes.get(id) {
            Some(Change::Put {
                vectors: Some(v), ..
            }) => Some(v.clone()),
            Some(Change::Put {
                existing: Some(o), ..
            }) => Some(points.vectors(*o)),
            Some(_) => None,
            None => points.ids.get(id).map(|&o| points.vectors(o)),
        }
    }

    fn resolve(&self, points: &Points, selector: &Selector) -> Result<Vec<PointId>> {
        match selector {
            Selector::Ids(ids) => Ok(ids.clone()),
            Selector::Filter(filter) => {
                filter.validate().map_err(EngineError::BadRequest)?;
                // Points as they stand before the batch, unless changed by
                // it; payload indexes narrow the candidates when they can.
                let mut ids: Vec<PointId> = Vec::new();
                let candidates = match points.indexes.candidates(filter) {
                    Some(c) => c.points & &points.live,
                    None => points.live.clone(),
                };
                for offset in candidates {
                    let Some(view) = points.view(offset) else {
                        continue;
                    };
                    let id = view.id();
                    if !self.changes.contains_key(&id) && filter.check_with(&view, &points.indexes)
                    {
                        ids.push(id);
                    }
                }
                for id in &self.order {
                    if let Some(Change::Put { payload, .. }) = self.changes.get(id) {
                        let slot = Slot {
                            id: *id,
                            version: 0,
                            payload: payload.clone(),
                        };
                        let vectors = self.current_vectors(points, id).unwrap_or_default();
                        let names: Vec<&str> = vectors.keys().map(String::as_str).collect();
                        if filter.check(&super::points::View::pending(&slot, &names)) {
                            ids.push(*id);
                        }
                    }
                }
                Ok(ids)
            }
        }
    }

    fn put_vectors(&mut self, points: &Points, id: PointId, vectors: NamedVectors) -> Result<()> {
        let (existing, payload) = self
            .current(points, &id)
            .map(|(o, p)| (o, p.clone()))
            .ok_or_else(|| missing_point(&id))?;
        self.touch(id);
        self.changes.insert(
            id,
            Change::Put {
                vectors: Some(vectors),
                payload,
                existing,
            },
        );
        Ok(())
    }

    fn add(&mut self, points: &Points, op: UpdateOp, config: &CollectionConfig) -> Result<()> {
        match op {
            UpdateOp::Upsert(list) => {
                for p in list {
                    check_vectors(&p.vectors, config)?;
                    let existing = points.ids.get(&p.id).copied();
                    self.touch(p.id);
                    self.changes.insert(
                        p.id,
                        Change::Put {
                            vectors: Some(p.vectors),
                            payload: p.payload,
                            existing,
                        },
                    );
                }
            }
            UpdateOp::UpdateVectors(list) => {
                for (id, given) in list {
                    check_vectors(&given, config)?;
                    let mut vectors = self
                        .current_vectors(points, &id)
                        .ok_or_else(|| missing_point(&id))?;
                    vectors.extend(given);
                    self.put_vectors(points, id, vectors)?;
                }
            }
            UpdateOp::DeleteVectors { selector, names } => {
                for name in &names {
                    config.kind_of(name)?;
                }
                for id in self.resolve(points, &selector)? {
                    let mut vectors = self
                        .current_vectors(points, &id)
                        .ok_or_else(|| missing_point(&id))?;
                    vectors.retain(|n, _| !names.contains(n));
                    self.put_vectors(points, id, vectors)?;
                }
            }
            UpdateOp::Delete(selector) => {
                for id in self.resolve(points, &selector)? {
                    if self.current(points, &id).is_some() {
                        self.touch(id);
                        self.changes.insert(id, Change::Delete);
                    }
                }
            }
            UpdateOp::SetPayload {
                selector,
                payload,
                key,
            } => self.edit_payloads(points, &selector, |p| {
                payload::set_at(p, key.as_deref(), &payload)
            })?,
            UpdateOp::OverwritePayload { selector, payload } => {
                self.edit_payloads(points, &selector, |p| {
                    *p = payload.clone();
                    Ok(())
                })?
            }
            UpdateOp::DeletePayload { selector, keys } => {
                self.edit_payloads(points, &selector, |p| {
                    for key in &keys {
                        payload::delete_at(p, key);
                    }
                    Ok(())
                })?
            }
            UpdateOp::ClearPayload(selector) => self.edit_payloads(points, &selector, |p| {
                p.clear();
                Ok(())
            })?,
        }
        Ok(())
    }

    /// Applies `edit` to the payload of every selected point. Qdrant
    /// rejects payload changes on ids that do not exist when they are named
    /// explicitly; with a filter only matching points are touched.
    fn edit_payloads(
        &mut self,
        points: &Points,
        selector: &Selector,
        edit: impl Fn(&mut Payload) -> Result<()>,
    ) -> Result<()> {
        for id in self.resolve(points, selector)? {
            let (existing, mut payload, vectors) = match self.changes.get(&id) {
                Some(Change::Put {
                    vectors,
                    payload,
                    existing,
                }) => (*existing, payload.clone(), vectors.clone()),
                Some(Change::Delete) => return Err(missing_point(&id)),
                None => {
                    let (o, p) = self
                        .current(points, &id)
                        .ok_or_else(|| missing_point(&id))?;
                    (o, p.clone(), None)
                }
            };
            edit(&mut payload)?;
            self.touch(id);
            self.changes.insert(
                id,
                Change::Put {
                    vectors,
                    payload,
                    existing,
                },
            );
        }
        Ok(())
    }
}

fn missing_point(id: &PointId) -> EngineError {
    EngineError::NotFound(format!("No point with id {id} found"))
}

fn missing_vector(name: &str) -> EngineError {
    EngineError::BadRequest(format!(
        "Wrong input: Not existing vector name error: {name}"
    ))
}

/// Checks each vector against the collection's config: the name exists,
/// each kind goes to its kind, sizes match, values are finite (and fit
/// the datatype).
fn check_vectors(vectors: &NamedVectors, config: &CollectionConfig) -> Result<()> {
    for (name, data) in vectors {
        let params = config.dense_params(name);
        let dim = params.map_or(0, |p| p.size);
        let datatype = params.and_then(|p| p.datatype).unwrap_or_default();
        let given = match data {
            VectorData::Dense(_) => "a dense vector",
            VectorData::Sparse(_) => "a sparse vector",
            VectorData::Multi(_) => "a multivector",
        };
        match (config.kind_of(name)?, data) {
            (VectorKind::Dense, VectorData::Dense(v)) => check_stored(v, dim, datatype)?,
            (VectorKind::Sparse, VectorData::Sparse(_)) => {}
            (VectorKind::Multi, VectorData::Multi(m)) => {
                if m.is_empty() {
                    return Err(EngineError::VectorDimension {
                        expected: dim,
                        got: 0,
                    });
                }
                for row in m.rows() {
                    check_stored(row, dim, datatype)?;
                }
            }
            // `[]` reads as an empty dense vector: an empty multivector.
            (VectorKind::Multi, VectorData::Dense(v)) if v.is_empty() => {
                return Err(EngineError::VectorDimension {
                    expected: dim,
                    got: 0,
                })
            }
            (VectorKind::Multi, VectorData::Dense(_))
            | (VectorKind::Dense, VectorData::Multi(_)) => {
                return Err(wrong_multi(name, matches!(data, VectorData::Multi(_))))
            }
            (kind, _) => {
                let kind = match kind {
                    VectorKind::Dense => "dense",
                    VectorKind::Sparse => "sparse",
                    VectorKind::Multi => "a multivector",
                };
                return Err(EngineError::BadRequest(format!(
                    "Wrong input: vector `{name}` is {kind}, but {given} was given"
                )));
            }
        }
    }
    Ok(())
}

/// Qdrant's error for a plain vector where a multivector belongs, or (when
/// `multi_given`) the other way round, with what was expected.
pub(super) fn wrong_multi(name: &str, multi_given: bool) -> EngineError {
    let detail = if multi_given {
        format!("vector `{name}` is a plain dense vector, not a multivector")
    } else {
        format!("vector `{name}` is a multivector: give a list of rows")
    };
    EngineError::BadRequest(format!(
        "Wrong input: Conversion between multi and regular vectors failed ({detail})"
    ))
}

/// [`check_vector`], and that the datatype can hold every component.
fn check_stored(vector: &[f32], dim: usize, datatype: super::params::Datatype) -> Result<()> {
    check_vector(vector, dim)?;
    if let Some(i) = datatype.unrepresentable(vector) {
        return Err(EngineError::BadRequest(format!(
            "Wrong input: vector component {i} ({}) is out of the range of the vector's datatype",
            vector[i]
        )));
    }
    Ok(())
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
pub(super) fn inference_key(vector: &str) -> String {
    if vector.is_empty() {
        META_INFERENCE_MODEL.to_string()
    } else {
        format!("{META_INFERENCE_MODEL}:{vector}")
    }
}

/// Rejects vectors of the wrong size and non-finite components.
pub fn check_vector(vector: &[f32], dim: usize) -> Result<()> {
    if vector.len() != dim {
        return Err(EngineError::VectorDimension {
            expected: dim,
            got: vector.len(),
        });
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(EngineError::BadRequest(format!(
            "vector component {i} is not a finite number ({})",
            vector[i]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::params::VectorParams;
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
