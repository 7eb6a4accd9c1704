//! The embedded vector store. Knows nothing about HTTP, models or the
//! assistant, and depends on nothing of ours but the text analysis leaf.
//!
//! Folders in the order a write meets them, then a read:
//! - [`types`], [`config`], [`error`]: plain engine types, a collection's
//!   configuration (Qdrant's shape and defaults, strict mode's limits), the
//!   one error enum.
//! - [`storage`]: the durable part of a collection: the SQLite log and
//!   payload store, the memory-mapped vector arena.
//! - [`index`]: derived indexes rebuilt from storage: HNSW graphs, sparse
//!   and multivector indexes, payload indexes, the distance kernels.
//! - [`filter`]: Qdrant's filter model and its evaluation.
//! - [`collection`]: one collection: opening it, the in-memory view, the
//!   write path, the optimizer, snapshots, strict mode's admission.
//! - [`query`]: every read (search, universal query, discovery, MMR,
//!   formulas, groups, matrix, scroll, facets), through one entry,
//!   [`Collection::read`].
//! - [`database`]: all collections of one storage directory, aliases,
//!   snapshot files and full-storage snapshots.
//! - [`dataset`]: seeded synthetic data for tests and benchmarks.

pub mod collection;
pub mod config;
pub mod database;
pub mod dataset;
pub mod error;
pub mod filter;
pub mod index;
pub mod query;
pub mod storage;
pub mod types;

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
    pub builder: index::hnsw::BuilderKind,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            fsync: true,
            builder: index::hnsw::BuilderKind::default(),
        }
    }
}
