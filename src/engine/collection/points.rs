//! The in-memory view of a collection's points: id map, payloads, live
//! set, unindexed tail, payload indexes and sealed graph segments.
//!
//! It is derived entirely from storage and rebuilt at start-up; writers
//! change it only after the change is durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::Record;
use crate::engine::filter::Filter;
use crate::engine::filter::PointView;
use crate::engine::index::hnsw::FrozenGraph;
use crate::engine::index::multivector::MultiSpace;
use crate::engine::index::payload::Candidates;
use crate::engine::index::payload::PayloadIndexes;
use crate::engine::index::sparse::SparseIndex;
use crate::engine::storage::Arena;
use crate::engine::types::VectorSelector;
use crate::engine::types::{Distance, NamedVectors, Offset, Payload, PointId, VectorData};

/// What is stored about a live point, by offset.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: PointId,
    pub version: u64,
    pub payload: Payload,
}

/// A sealed, immutable graph over a set of offsets.
pub struct Segment {
    pub id: String,
    pub graph: FrozenGraph,
    /// The offsets the graph holds, for live/deleted accounting.
    pub members: RoaringBitmap,
    /// (m, ef_construct) it was built with; a config change rebuilds it.
    pub built_with: (usize, usize),
}

impl Segment {
    pub fn deleted_share(&self, live: &RoaringBitmap) -> f64 {
        let total = self.members.len();
        if total == 0 {
            return 0.0;
        }
        let alive = self.members.intersection_len(live);
        (total - alive) as f64 / total as f64
    }
}

/// One dense vector name: its arena and graphs. Every name shares the
/// point's offset, so a point's vectors sit at the same slot of each arena.
pub struct DenseSpace {
    pub arena: Arc<Arena>,
    pub distance: Distance,
    /// Live offsets that have this vector (a point may lack a named one).
    pub present: RoaringBitmap,
    /// Present offsets not yet in any segment: searched exactly.
    pub tail: RoaringBitmap,
    pub segments: Vec<Arc<Segment>>,
}

impl DenseSpace {
    pub fn new(arena: Arc<Arena>, distance: Distance) -> DenseSpace {
        DenseSpace {
            arena,
            distance,
            present: RoaringBitmap::new(),
            tail: RoaringBitmap::new(),
            segments: Vec::new(),
        }
    }

    pub fn indexed_count(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.members.intersection_len(&self.present))
            .sum()
    }
}

#[derive(Default)]
pub struct Points {
    pub ids: BTreeMap<PointId, Offset>,
    pub slots: Vec<Option<Slot>>,
    pub live: RoaringBitmap,
    pub indexes: PayloadIndexes,
    pub dense: BTreeMap<String, DenseSpace>,
    pub sparse: BTreeMap<String, SparseIndex>,
    pub multi: BTreeMap<String, MultiSpace>,
}

impl Points {
    pub fn slot(&self, offset: Offset) -> Option<&Slot> {
        self.slots.get(offset as usize).and_then(|s| s.as_ref())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn view(&self, offset: Offset) -> Option<View<'_>> {
        self.slot(offset).map(|slot| View {
            slot,
            vectors: Presence::Stored(self, offset),
        })
    }

    /// Whether the point at `offset` has the vector `name`, of any kind.
    pub fn has_vector(&self, offset: Offset, name: &str) -> bool {
        match self.dense.get(name) {
            Some(space) => space.present.contains(offset),
            None => {
                self.sparse.get(name).is_some_and(|s| s.contains(offset))
                    || self.multi.get(name).is_some_and(|m| m.contains(offset))
            }
        }
    }

    /// Copies of every vector the point at `offset` has.
    pub fn vectors(&self, offset: Offset) -> NamedVectors {
        let mut out = NamedVectors::new();
        for (name, space) in &self.dense {
            if space.present.contains(offset) {
                let v = space.arena.get(offset).to_vec();
                out.insert(name.clone(), VectorData::Dense(v));
            }
        }
        for (name, index) in &self.sparse {
            if let Some(v) = index.get(offset) {
                out.insert(name.clone(), VectorData::Sparse(v.clone()));
            }
        }
        for (name, space) in &self.multi {
            if let Some(v) = space.get(offset) {
                out.insert(name.clone(), VectorData::Multi(v.clone()));
            }
        }
        out
    }

    /// Makes `offset` the live home of `slot`, replacing any older offset of
    /// the same id. The dense vectors named in `dense` must already be in
    /// their arenas at `offset`; `held` are the sparse and multivectors,
    /// which live in memory.
    pub fn insert(
        &mut self,
        offset: Offset,
        slot: Slot,
        dense: &[&str],
        held: Vec<(String, VectorData)>,
    ) {
        if let Some(old) = self.ids.get(&slot.id).copied() {
            self.remove_offset(old);
        }
        let idx = offset as usize;
        if self.slots.len() <= idx {
            self.slots.resize(idx + 1, None);
        }
        self.indexes.on_insert(offset, &slot.payload);
        self.ids.insert(slot.id, offset);
        self.slots[idx] = Some(slot);
        self.live.insert(offset);
        for name in dense {
            if let Some(space) = self.dense.get_mut(*name) {
                space.present.insert(offset);
                space.tail.insert(offset);
            }
        }
        for (name, vector) in held {
            match vector {
                VectorData::Sparse(v) => {
                    if let Some(index) = self.sparse.get_mut(&name) {
                        index.insert(offset, v);
                    }
                }
                VectorData::Multi(v) => {
                    if let Some(space) = self.multi.get_mut(&name) {
                        space.insert(offset, v);
                    }
                }
                VectorData::Dense(_) => {}
            }
        }
    }

    pub fn set_payload(&mut self, offset: Offset, version: u64, payload: Payload) {
        if let Some(Some(slot)) = self.slots.get_mut(offset as usize) {
            self.indexes.on_remove(offset, &slot.payload);
            self.indexes.on_insert(offset, &payload);
            slot.payload = payload;
            slot.version = version;
        }
    }

    pub fn delete(&mut self, id: &PointId) {
        if let Some(offset) = self.ids.remove(id) {
            self.remove_offset(offset);
        }
    }

    fn remove_offset(&mut self, offset: Offset) {
        if let Some(slot) = self.slots.get_mut(offset as usize).and_then(Option::take) {
            self.indexes.on_remove(offset, &slot.payload);
        }
        self.live.remove(offset);
        for space in self.dense.values_mut() {
            space.present.remove(offset);
            space.tail.remove(offset);
        }
        for index in self.sparse.values_mut() {
            index.remove(offset);
        }
        for space in self.multi.values_mut() {
            space.remove(offset);
        }
    }

    /// Vectors in graphs, over every dense name (Qdrant sums them too).
    pub fn indexed_count(&self) -> u64 {
        self.dense.values().map(DenseSpace::indexed_count).sum()
    }

    /// Vectors still searched exactly, over every dense name.
    pub fn unindexed_count(&self) -> u64 {
        self.dense.values().map(|s| s.tail.len()).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.dense
            .values()
            .map(|s| s.segments.len())
            .max()
            .unwrap_or(0)
    }
}

/// Where a filter learns which vectors a point has.
enum Presence<'a> {
    Stored(&'a Points, Offset),
    /// A point planned by a write batch, not yet stored.
    Pending(&'a [&'a str]),
}

/// A point as the filter sees it.
pub struct View<'a> {
    slot: &'a Slot,
    vectors: Presence<'a>,
}

impl<'a> View<'a> {
    /// A point planned by a write batch, with the names of its vectors.
    pub fn pending(slot: &'a Slot, vectors: &'a [&'a str]) -> View<'a> {
        View {
            slot,
            vectors: Presence::Pending(vectors),
        }
    }
}

impl PointView for View<'_> {
    fn id(&self) -> PointId {
        self.slot.id
    }

    fn payload(&self) -> &Payload {
        &self.slot.payload
    }

    fn has_vector(&self, name: &str) -> bool {
        match &self.vectors {
            Presence::Stored(points, offset) => points.has_vector(*offset, name),
            Presence::Pending(names) => names.contains(&name),
        }
    }
}
impl Points {
    /// The point at `offset` as a read returns it.
    pub fn record(
        &self,
        offset: Offset,
        score: Option<f32>,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Option<Record> {
        let slot = self.slot(offset)?;
        let vector = with_vector.any().then(|| {
            let mut all = self.vectors(offset);
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

    /// The live points matching `filter`, narrowed by payload indexes
    /// first (`candidates`, when the caller already has them); only
    /// inexact candidates are checked against payloads.
    pub fn matching(&self, filter: &Filter, candidates: Option<Candidates>) -> RoaringBitmap {
        let candidates = match candidates.or_else(|| self.indexes.candidates(filter)) {
            Some(c) if c.exact => return c.points & &self.live,
            Some(c) => c.points & &self.live,
            None => self.live.clone(),
        };
        candidates
            .iter()
            .filter(|&o| {
                self.view(o)
                    .is_some_and(|v| filter.check_with(&v, &self.indexes))
            })
            .collect()
    }
}
