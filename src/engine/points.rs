//! The in-memory view of a collection's points: id map, payloads, live
//! set, unindexed tail, payload indexes and sealed graph segments.
//!
//! It is derived entirely from storage and rebuilt at start-up; writers
//! change it only after the change is durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::filter::PointView;
use super::hnsw::FrozenGraph;
use super::payload_index::PayloadIndexes;
use super::types::{Offset, Payload, PointId};

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

#[derive(Default)]
pub struct Points {
    pub ids: BTreeMap<PointId, Offset>,
    pub slots: Vec<Option<Slot>>,
    pub live: RoaringBitmap,
    /// Live offsets not yet in any segment: searched exactly.
    pub tail: RoaringBitmap,
    pub indexes: PayloadIndexes,
    pub segments: Vec<Arc<Segment>>,
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
        self.slot(offset).map(|slot| View { slot })
    }

    /// Makes `offset` the live home of `slot`, replacing any older offset of
    /// the same id.
    pub fn insert(&mut self, offset: Offset, slot: Slot) {
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
        self.tail.insert(offset);
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
        self.tail.remove(offset);
    }

    pub fn indexed_count(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.members.intersection_len(&self.live))
            .sum()
    }
}

/// A point as the filter sees it.
pub struct View<'a> {
    slot: &'a Slot,
}

impl<'a> View<'a> {
    pub fn new(slot: &'a Slot) -> View<'a> {
        View { slot }
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
        // One unnamed dense vector per point for now; every point has it.
        name.is_empty()
    }
}
