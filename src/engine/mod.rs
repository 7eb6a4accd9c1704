//! The embedded vector store. Knows nothing about HTTP.
//!
//! - `types`: point ids, payloads, offsets, distances.
//! - `params`: a collection's configuration (Qdrant's shape and defaults).
//! - `storage`: the durable log and payload store (SQLite) and the vector arena (mmap).
//! - `points`: the in-memory view derived from storage.
//! - `collection`: the write path and point reads; `search` and `scroll`: the read paths.
//! - `query`: the universal query's stages: prefetch, rescoring and fusion.
//! - `explore`: discovery and context queries, steered by pairs of examples.
//! - `mmr`: maximal marginal relevance, nearest results reranked for diversity.
//! - `formula`: score boosting, prefetched points rescored by an expression.
//! - `matrix`: the distance matrix of a random sample of points.
//! - `filter`: Qdrant's filter model; `payload_index`: per-field indexes for the planner.
//! - `payload`: payload edits and projections; `facet`: value counts of a field.
//! - `groups`: grouped queries, at most so many hits per value of a field.
//! - `sparse`: the inverted index of sparse vectors, with IDF.
//! - `multivector`: rows per point (ColBERT-style), scored by MaxSim.
//! - `distance`: SIMD distance kernels picked at run time.
//! - `hnsw`: graph construction with `hnsw_rs` and a frozen, read-optimised copy for search.
//! - `optimizer`: background indexing, vacuum and merging.
//! - `database`: all collections of one storage directory, aliases, snapshot files.
//! - `snapshot`: a collection as one tar file, and back.
//! - `storage_snapshot`: every collection and alias as one tar file, and back.

pub mod collection;
pub mod database;
pub mod datetime;
pub mod distance;
pub mod error;
pub mod explore;
pub mod facet;
pub mod filter;
pub mod formula;
pub mod geo;
pub mod groups;
pub mod hnsw;
pub mod matrix;
pub mod mmr;
pub mod multivector;
pub mod optimizer;
pub mod params;
pub mod payload;
pub mod payload_index;
pub mod points;
pub mod query;
pub mod scroll;
pub mod search;
pub mod snapshot;
pub mod sparse;
pub mod storage;
pub mod storage_snapshot;
pub mod strict_mode;
pub mod types;
pub mod vector_names;

pub use collection::{Collection, PointInsert, Record, Selector, UpdateOp};
pub use database::Database;
pub use error::EngineError;

/// Engine-wide settings, the same for every collection of a database.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// fsync the vector arena and SQLite on every write, so acknowledged
    /// writes survive a power loss and not only a killed process.
    pub fsync: bool,
    /// Which HNSW construction builds the graphs.
    pub builder: hnsw::BuilderKind,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            fsync: true,
            builder: hnsw::BuilderKind::default(),
        }
    }
}
