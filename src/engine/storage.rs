//! Durable state of one collection.
//!
//! Two stores, written in a fixed order so that a crash at any instant
//! leaves a consistent state:
//!
//! 1. [`Arena`]: vectors in fixed-size memory-mapped chunk files, one slot
//!    per [`Offset`]. A new vector always goes to a fresh slot past every
//!    slot that SQLite references, so a torn write is never visible.
//! 2. [`Store`]: a SQLite database in WAL mode holding the id → offset
//!    map, payloads and metadata. Its commit is the moment a write becomes
//!    durable; the arena is flushed before it when `fsync` is on.
//!
//! Everything else (HNSW graphs, payload indexes, the in-memory id map) is
//! derived from these two and rebuilt or caught up at start-up.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{EngineError, Result};
use super::types::{Offset, PointId};

/// Largest number of chunk files one arena may have. With 65,536 slots per
/// chunk that is 268 million vectors, far beyond one box.
const MAX_CHUNKS: usize = 4096;
/// Slots per chunk file: small vectors make small files, 384-d ones 96 MiB.
const SLOTS_PER_CHUNK: usize = 65_536;

/// Append-only vector storage in memory-mapped chunk files.
///
/// Chunks are created on demand and never unmapped while the arena lives,
/// so a `&[f32]` handed out by [`Arena::get`] stays valid for `&self`.
pub struct Arena {
    dir: PathBuf,
    dim: usize,
    chunks: Box<[OnceLock<MmapRaw>]>,
    /// Serialises chunk creation; reads never take it.
    grow: Mutex<()>,
}

impl Arena {
    pub fn open(dir: &Path, dim: usize) -> Result<Arena> {
        fs::create_dir_all(dir)?;
        let arena = Arena {
            dir: dir.to_path_buf(),
            dim,
            chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
            grow: Mutex::new(()),
        };
        for i in 0..MAX_CHUNKS {
            if !arena.chunk_path(i).exists() {
                break;
            }
            arena.chunk(i)?;
        }
        Ok(arena)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    fn chunk_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("chunk-{i:05}.f32"))
    }

    fn chunk_bytes(&self) -> u64 {
        (SLOTS_PER_CHUNK * self.dim * 4) as u64
    }

    /// The mapping of chunk `i`, creating the file if needed.
    fn chunk(&self, i: usize) -> Result<&MmapRaw> {
        let cell = self
            .chunks
            .get(i)
            .ok_or_else(|| EngineError::Storage("vector arena is full".into()))?;
        if let Some(map) = cell.get() {
            return Ok(map);
        }
        let _guard = self.grow.lock();
        if let Some(map) = cell.get() {
            return Ok(map);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.chunk_path(i))?;
        if file.metadata()?.len() != self.chunk_bytes() {
            file.set_len(self.chunk_bytes())?;
            file.sync_all()?;
            sync_dir(&self.dir)?;
        }
        let map = MmapOptions::new().map_raw(&file)?;
        Ok(cell.get_or_init(|| map))
    }

    fn locate(&self, offset: Offset) -> (usize, usize) {
        let offset = offset as usize;
        (
            offset / SLOTS_PER_CHUNK,
            (offset % SLOTS_PER_CHUNK) * self.dim * 4,
        )
    }

    /// The vector in slot `offset`. Slots never written read as zeros.
    pub fn get(&self, offset: Offset) -> &[f32] {
        let (chunk, byte) = self.locate(offset);
        match self.chunks.get(chunk).and_then(|c| c.get()) {
            // SAFETY: the mapping lives as long as `self`, the range is in
            // bounds (chunk_bytes is a multiple of the slot size), the base
            // is page-aligned so `byte` keeps f32 alignment, and a slot is
            // only written before its offset is published to readers.
            Some(map) => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(byte) as *const f32, self.dim)
            },
            None => &[],
        }
    }

    /// Writes a vector into a slot that no reader can see yet.
    pub fn put(&self, offset: Offset, vector: &[f32]) -> Result<()> {
        debug_assert_eq!(vector.len(), self.dim);
        let (chunk, byte) = self.locate(offset);
        let map = self.chunk(chunk)?;
        // SAFETY: in bounds as in `get`; the collection's write lock makes
        // this the only writer, and the slot is past every published offset.
        unsafe {
            std::ptr::copy_nonoverlapping(
                vector.as_ptr() as *const u8,
                map.as_mut_ptr().add(byte),
                vector.len() * 4,
            );
        }
        Ok(())
    }

    /// Forces slots `[from, to)` to disk (msync).
    pub fn flush(&self, from: Offset, to: Offset) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let slot = self.dim * 4;
        let (first, last) = (
            from as usize / SLOTS_PER_CHUNK,
            (to as usize - 1) / SLOTS_PER_CHUNK,
        );
        for c in first..=last {
            let start = if c == first {
                from as usize % SLOTS_PER_CHUNK
            } else {
                0
            };
            let end = if c == last {
                (to as usize - 1) % SLOTS_PER_CHUNK + 1
            } else {
                SLOTS_PER_CHUNK
            };
            if let Some(map) = self.chunks[c].get() {
                map.flush_range(start * slot, (end - start) * slot)?;
            }
        }
        Ok(())
    }

    /// The written prefix of each chunk file holding slots below `until`,
    /// as (file name, bytes), for snapshots. A shorter chunk file reopens
    /// fine: [`Arena::open`] extends it with zeros.
    pub fn export(&self, until: Offset) -> Vec<(String, &[u8])> {
        let slot = self.dim * 4;
        let mut out = Vec::new();
        let mut left = until as usize;
        for i in 0..MAX_CHUNKS {
            if left == 0 {
                break;
            }
            let Some(map) = self.chunks[i].get() else {
                break;
            };
            let slots = left.min(SLOTS_PER_CHUNK);
            // SAFETY: the mapping lives as long as `self` and holds
            // SLOTS_PER_CHUNK slots; the caller holds the write lock, so no
            // slot below `until` is being written.
            let bytes = unsafe { std::slice::from_raw_parts(map.as_ptr(), slots * slot) };
            let name = self
                .chunk_path(i)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, bytes));
            left -= slots;
        }
        out
    }

    /// Bytes of all chunk files (allocated size, sparse files count fully).
    pub fn file_bytes(&self) -> u64 {
        self.chunks.iter().filter(|c| c.get().is_some()).count() as u64 * self.chunk_bytes()
    }
}

/// fsync a directory so that a rename or a new file in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// One change to the points table, applied inside a transaction.
pub enum StoreOp<'a> {
    Upsert {
        id: PointId,
        offset: Offset,
        version: u64,
        payload: &'a str,
        /// JSON of the point's sparse vectors and absent dense vectors, or
        /// `None` when it has every dense vector and no sparse one.
        vectors: Option<&'a str>,
    },
    SetPayload {
        id: PointId,
        version: u64,
        payload: &'a str,
    },
    Delete {
        id: PointId,
    },
}

/// A row of the points table as read at start-up.
pub struct StoredPoint {
    pub id: PointId,
    pub offset: Offset,
    pub version: u64,
    pub payload: String,
    pub vectors: Option<String>,
}

/// SQLite: the write log, id map, payloads and collection metadata.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path, fsync: bool) -> Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // WAL + NORMAL survives a killed process; FULL also a power loss.
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS points (
                 id TEXT PRIMARY KEY,
                 offset INTEGER NOT NULL,
                 version INTEGER NOT NULL,
                 payload TEXT NOT NULL,
                 vectors TEXT
             ) WITHOUT ROWID;",
        )?;
        // Storage written before named and sparse vectors lacks the column.
        let has_vectors: bool = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('points') WHERE name = 'vectors'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_vectors {
            conn.execute_batch("ALTER TABLE points ADD COLUMN vectors TEXT")?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        let conn = self.conn.lock();
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.conn
            .lock()
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.lock().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Applies `ops` and the metadata updates atomically: all or nothing.
    pub fn apply(&self, ops: &[StoreOp<'_>], meta: &[(&str, String)]) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO points (id, offset, version, payload, vectors)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET offset = excluded.offset,
                     version = excluded.version, payload = excluded.payload,
                     vectors = excluded.vectors",
            )?;
            let mut set_payload =
                tx.prepare_cached("UPDATE points SET version = ?2, payload = ?3 WHERE id = ?1")?;
            let mut delete = tx.prepare_cached("DELETE FROM points WHERE id = ?1")?;
            let mut set_meta = tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            for op in ops {
                match op {
                    StoreOp::Upsert {
                        id,
                        offset,
                        version,
                        payload,
                        vectors,
                    } => {
                        upsert.execute(params![
                            id.storage_key(),
                            offset,
                            *version as i64,
                            payload,
                            vectors
                        ])?;
                    }
                    StoreOp::SetPayload {
                        id,
                        version,
                        payload,
                    } => {
                        set_payload.execute(params![id.storage_key(), *version as i64, payload])?;
                    }
                    StoreOp::Delete { id } => {
                        delete.execute(params![id.storage_key()])?;
                    }
                }
            }
            for (key, value) in meta {
                set_meta.execute(params![key, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A consistent, compacted copy of the database at `path` (SQLite's
    /// `VACUUM INTO`), for snapshots.
    pub fn copy_to(&self, path: &Path) -> Result<()> {
        let target = path.to_string_lossy().into_owned();
        self.conn
            .lock()
            .execute("VACUUM INTO ?1", params![target])?;
        Ok(())
    }

    /// Every stored point, for rebuilding the in-memory state at start-up.
    pub fn load_points(&self) -> Result<Vec<StoredPoint>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT id, offset, version, payload, vectors FROM points")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut points = Vec::new();
        for row in rows {
            let (key, offset, version, payload, vectors) = row?;
            let id = PointId::from_storage_key(&key)
                .ok_or_else(|| EngineError::Storage(format!("corrupt point id {key:?}")))?;
            let offset = Offset::try_from(offset)
                .map_err(|_| EngineError::Storage(format!("corrupt offset {offset}")))?;
            points.push(StoredPoint {
                id,
                offset,
                version: version as u64,
                payload,
                vectors,
            });
        }
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_round_trip_across_chunks_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = [
            0u32,
            1,
            SLOTS_PER_CHUNK as u32 - 1,
            SLOTS_PER_CHUNK as u32 + 3,
        ];
        {
            let arena = Arena::open(dir.path(), 3).unwrap();
            for &o in &offsets {
                arena.put(o, &[o as f32, 1.0, -2.5]).unwrap();
            }
            arena.flush(0, SLOTS_PER_CHUNK as u32 + 4).unwrap();
        }
        let arena = Arena::open(dir.path(), 3).unwrap();
        for &o in &offsets {
            assert_eq!(arena.get(o), &[o as f32, 1.0, -2.5]);
        }
        assert_eq!(arena.get(5), &[0.0, 0.0, 0.0]);
        assert!(arena.get(10 * SLOTS_PER_CHUNK as u32).is_empty());
    }

    #[test]
    fn store_apply_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), true).unwrap();
        store
            .apply(
                &[StoreOp::Upsert {
                    id: PointId::Num(1),
                    offset: 0,
                    version: 1,
                    payload: "{}",
                    vectors: None,
                }],
                &[("next_offset", "1".into())],
            )
            .unwrap();
        // A failing statement inside a batch rolls back the whole batch.
        drop(store.conn.lock().execute_batch("CREATE TRIGGER boom BEFORE INSERT ON points WHEN NEW.offset = 99 BEGIN SELECT RAISE(ABORT, 'boom'); END;"));
        let err = store.apply(
            &[
                StoreOp::Delete {
                    id: PointId::Num(1),
                },
                StoreOp::Upsert {
                    id: PointId::Num(2),
                    offset: 99,
                    version: 2,
                    payload: "{}",
                    vectors: None,
                },
            ],
            &[],
        );
        assert!(err.is_err());
        let points = store.load_points().unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(store.get_meta("next_offset").unwrap().as_deref(), Some("1"));
    }
}
