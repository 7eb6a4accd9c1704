//! The write path: every change to a collection's points is a batch of
//! [`UpdateOp`]s through [`Collection::update`].
//!
//! The batch is planned against the current state first, so one bad point
//! rejects the whole batch before anything is written; new vectors go to
//! fresh arena slots no reader can see; the SQLite transaction commits
//! (the durability point); only then does the in-memory view change.

use std::collections::HashMap;
use std::sync::Arc;

use super::points::{Points, Slot};
use super::{json, Collection, META_NEXT_OFFSET, META_NEXT_VERSION};
use crate::engine::collection::payload;
use crate::engine::config::CollectionConfig;
use crate::engine::config::VectorKind;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::{Filter, PointView};
use crate::engine::index::multivector::Packed;
use crate::engine::storage::{Arena, StoreOp};
use crate::engine::types::{
    InvalidValue, NamedVectors, Offset, Payload, PointId, SparseVector, VectorData,
};

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

impl Collection {
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
}

/// The `vectors` column of a point: what its dense vectors do not say.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(in crate::engine) struct StoredVectors {
    /// Dense vector names the point does not have (multivector names are
    /// never listed: a point has a multivector when `multi` holds it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) missing: Vec<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(super) sparse: std::collections::BTreeMap<String, SparseVector>,
    /// Multivectors as stored (rounded, normalised for Cosine): their rows
    /// vary in number, so they are kept here rather than in an arena.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(super) multi: std::collections::BTreeMap<String, Packed>,
}

impl StoredVectors {
    pub(super) fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.sparse.is_empty() && self.multi.is_empty()
    }

    /// The vectors kept in memory rather than in an arena.
    pub(super) fn held(self) -> std::result::Result<Vec<(String, VectorData)>, InvalidValue> {
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
                filter.validate().map_err(EngineError::from)?;
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
                        if filter.check(&crate::engine::collection::points::View::pending(
                            &slot, &names,
                        )) {
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
pub(in crate::engine) fn wrong_multi(name: &str, multi_given: bool) -> EngineError {
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
fn check_stored(
    vector: &[f32],
    dim: usize,
    datatype: crate::engine::config::Datatype,
) -> Result<()> {
    check_vector(vector, dim)?;
    if let Some(i) = datatype.unrepresentable(vector) {
        return Err(EngineError::BadRequest(format!(
            "Wrong input: vector component {i} ({}) is out of the range of the vector's datatype",
            vector[i]
        )));
    }
    Ok(())
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
