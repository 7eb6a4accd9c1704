//! Adding a named vector to a collection that already holds points, and
//! dropping one.
//!
//! Vectors live at append-only offsets: every write puts a point's vectors
//! at a fresh offset. So a vector added when the next free offset is `K`
//! cannot belong to any point stored below `K`; the collection records `K`
//! for the name (`vector_since`), and reopening treats older points as
//! lacking it. That also keeps a name that is dropped and added again from
//! bringing the old values back. Dropping removes the name from the config
//! first (durable), then from memory, then its files.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::collection::points::DenseSpace;
use crate::engine::collection::{arena_dir, json, parse_meta, Collection};
use crate::engine::config::{SparseVectorParams, VectorParams, VectorsConfig};
use crate::engine::error::{EngineError, Result};
use crate::engine::index::multivector::MultiSpace;
use crate::engine::index::sparse::SparseIndex;
use crate::engine::storage::Arena;
use crate::engine::types::Offset;

/// Offsets below which a vector name holds no values, by name.
pub(in crate::engine) const META_VECTOR_SINCE: &str = "vector_since";

/// A new vector name's config: dense or sparse.
#[derive(Debug, Clone)]
pub enum NewVector {
    Dense(VectorParams),
    Sparse(SparseVectorParams),
}

/// The recorded `vector_since` offsets of a collection.
pub(in crate::engine) fn since(
    store: &crate::engine::storage::Store,
) -> Result<BTreeMap<String, Offset>> {
    Ok(parse_meta(store, META_VECTOR_SINCE)?.unwrap_or_default())
}

impl Collection {
    /// Adds vector `name`; every existing point lacks it until written
    /// with it. Returns the operation id.
    pub fn create_vector_name(&self, name: &str, vector: NewVector) -> Result<u64> {
        let writer = self.writer.lock();
        let mut config = self.config.read().clone();
        if config.dense_params(name).is_some() || config.sparse_params(name).is_some() {
            return Err(EngineError::AlreadyExists(format!(
                "Vector name `{name}` already exists in collection `{}`",
                self.name
            )));
        }
        if name.is_empty() {
            return Err(EngineError::BadRequest(
                "a vector name must not be empty".into(),
            ));
        }
        match &vector {
            NewVector::Dense(params) => match &mut config.vectors {
                VectorsConfig::Named(map) => {
                    map.insert(name.to_string(), params.clone());
                }
                VectorsConfig::Single(_) => {
                    return Err(EngineError::BadRequest(format!(
                        "collection `{}` has one unnamed vector; a named dense vector needs a collection created with named vectors",
                        self.name
                    )))
                }
            },
            NewVector::Sparse(params) => {
                config
                    .sparse_vectors
                    .get_or_insert_with(Default::default)
                    .insert(name.to_string(), params.clone());
            }
        }
        config.validate()?;
        let mut since = since(&self.store)?;
        since.insert(name.to_string(), writer.next_offset);
        let space = match &vector {
            NewVector::Dense(params) if params.is_multi() => None,
            NewVector::Dense(params) => {
                // A leftover arena of an earlier vector of this name is
                // stale: start empty.
                let dir = self.dir.join(arena_dir(name));
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                let arena = Arena::open(&dir, params.size)?;
                Some(DenseSpace::new(Arc::new(arena), params.distance))
            }
            NewVector::Sparse(_) => None,
        };
        self.store.apply(
            &[],
            &[
                (crate::engine::collection::META_CONFIG, json(&config)),
                (META_VECTOR_SINCE, json(&since)),
            ],
        )?;
        {
            let mut points = self.points.write();
            match (space, &vector) {
                (Some(space), _) => {
                    points.dense.insert(name.to_string(), space);
                }
                (None, NewVector::Dense(params)) => {
                    points
                        .multi
                        .insert(name.to_string(), MultiSpace::new(params.distance));
                }
                (None, NewVector::Sparse(_)) => {
                    points
                        .sparse
                        .insert(name.to_string(), SparseIndex::default());
                }
            }
            *self.config.write() = config;
        }
        tracing::info!(collection = %self.name, vector = name, "vector name added");
        Ok(writer.next_version)
    }

    /// Drops vector `name` and every value stored under it. A collection
    /// keeps at least its unnamed vector.
    pub fn delete_vector_name(&self, name: &str) -> Result<u64> {
        let writer = self.writer.lock();
        let mut config = self.config.read().clone();
        let dense = config.dense_params(name).is_some();
        if dense {
            match &mut config.vectors {
                VectorsConfig::Named(map) => {
                    map.remove(name);
                }
                VectorsConfig::Single(_) => {
                    return Err(EngineError::BadRequest(format!(
                        "the unnamed vector of collection `{}` cannot be dropped",
                        self.name
                    )))
                }
            }
        } else if let Some(sparse) = config
            .sparse_vectors
            .as_mut()
            .filter(|s| s.contains_key(name))
        {
            sparse.remove(name);
            if sparse.is_empty() {
                config.sparse_vectors = None;
            }
        } else {
            return Err(EngineError::NotFound(format!(
                "Vector name `{name}` does not exist in collection `{}`",
                self.name
            )));
        }
        let mut points = self.points.write();
        let removed = if dense {
            points.multi.remove(name);
            points.dense.remove(name)
        } else {
            points.sparse.remove(name);
            None
        };
        let committed = self
            .store
            .apply(
                &[],
                &[(crate::engine::collection::META_CONFIG, json(&config))],
            )
            .and_then(|_| self.save_segments_meta(&points))
            .and_then(|_| {
                self.store
                    .delete_meta(&crate::engine::collection::inference_key(name))
            });
        if let Err(e) = committed {
            if let Some(space) = removed {
                points.dense.insert(name.to_string(), space);
            }
            return Err(e);
        }
        *self.config.write() = config;
        drop(points);
        if let Some(space) = removed {
            let seg_dir = self.dir.join("segments");
            for s in &space.segments {
                let _ = std::fs::remove_file(seg_dir.join(format!("{}.hnsw", s.id)));
            }
            drop(space);
            let _ = std::fs::remove_dir_all(self.dir.join(arena_dir(name)));
        }
        tracing::info!(collection = %self.name, vector = name, "vector name dropped");
        Ok(writer.next_version)
    }
}
