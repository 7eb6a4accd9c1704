//! Append-only vector storage: fixed-size memory-mapped chunk files, one
//! slot per [`Offset`]. A new vector always goes to a fresh slot past every
//! slot that SQLite references, so a torn write is never visible.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;

use super::sync_dir;
use crate::engine::error::{EngineError, Result};
use crate::engine::types::Offset;

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
}
