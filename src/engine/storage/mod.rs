//! Durable state of one collection.
//!
//! Two stores, written in a fixed order so that a crash at any instant
//! leaves a consistent state:
//!
//! 1. [`Arena`]: vectors in fixed-size memory-mapped chunk files, one slot
//!    per offset. A new vector always goes to a fresh slot past every
//!    slot that SQLite references, so a torn write is never visible.
//! 2. [`Store`]: a SQLite database in WAL mode holding the id → offset
//!    map, payloads and metadata. Its commit is the moment a write becomes
//!    durable; the arena is flushed before it when `fsync` is on.
//!
//! Everything else (HNSW graphs, payload indexes, the in-memory id map) is
//! derived from these two and rebuilt or caught up at start-up.

use std::fs::File;
use std::path::Path;

use crate::engine::error::Result;

mod arena;
mod store;

pub use arena::Arena;
pub use store::{Store, StoreOp, StoredPoint};

/// fsync a directory so that a rename or a new file in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}
