//! The one shape of a knowledge-base point, for the catalog's products
//! and the documents' chunks alike: an id hashed from two stable keys, the
//! model's dense vector under the unnamed name, `qdrant/bm25` under
//! [`BM25_VECTOR`], and a JSON payload.
//!
//! This is also the one place where the embedder's sparse vector becomes
//! the engine's: `embed` and `engine` do not know each other, so each has
//! its own `SparseVector`, and the pipeline, which uses both, converts.

use crate::embed::SparseVector as Bm25Vector;
use crate::engine::types::{NamedVectors, PointId, SparseVector, VectorData};

/// The sparse vector of every knowledge-base collection, filled with
/// `qdrant/bm25`.
pub const BM25_VECTOR: &str = "bm25";

impl From<Bm25Vector> for SparseVector {
    fn from(v: Bm25Vector) -> Self {
        SparseVector {
            indices: v.indices,
            values: v.values,
        }
    }
}

/// A point id stable across files and restarts, unique per `(a, b)`: a
/// product's distributor and SKU, a chunk's document and position. The
/// separator keeps `("ab", "c")` and `("a", "bc")` apart.
pub fn stable_id(a: &str, b: &str) -> PointId {
    let key = format!("{a}\u{0}{b}");
    PointId::Uuid(uuid::Uuid::from_u128(xxhash_rust::xxh3::xxh3_128(
        key.as_bytes(),
    )))
}

/// The vectors of a knowledge-base point. Without `dense`, the point is
/// searchable by keywords at once and gets its dense vector later (the
/// catalog's second pass).
pub fn vectors(dense: Option<Vec<f32>>, bm25: Bm25Vector) -> NamedVectors {
    let mut vectors =
        NamedVectors::from([(BM25_VECTOR.to_string(), VectorData::Sparse(bm25.into()))]);
    if let Some(dense) = dense {
        vectors.insert(String::new(), VectorData::Dense(dense));
    }
    vectors
}
