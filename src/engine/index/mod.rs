//! Derived indexes: everything here is rebuilt from storage when lost, so
//! none of it is the source of truth.
//!
//! - [`distance`]: the distance kernels, SIMD picked at run time.
//! - [`hnsw`]: graph construction, and search over a frozen, read-optimised copy.
//! - [`sparse`]: the inverted index of one sparse vector name, with IDF.
//! - [`multivector`]: rows per point (ColBERT-style), scored by MaxSim.
//! - [`payload`]: per-field payload indexes, and the planner that narrows a
//!   filter to candidate points with them.

pub mod distance;
pub mod hnsw;
pub mod multivector;
pub mod payload;
pub mod sparse;
