//! A persistent, size-bounded cache of dense embeddings, so unchanged text
//! is never embedded twice (a catalog re-ingested every night is mostly
//! unchanged; a query typed twice is common).
//!
//! Keyed by model name and the 128-bit xxh3 hash of the text (stable
//! across builds, unlike std's hasher). Stored in its own SQLite file with
//! `synchronous=OFF`: losing the cache on a power cut costs only time.
//! Eviction is first-in first-out by insertion once `max_entries` is
//! passed, a tenth at a time, which keeps inserts cheap.
//!
//! Writes happen on a background thread: committing a SQLite transaction
//! costs about half a millisecond, which a single-query embedding request
//! (about 4 ms in all) should not wait for. Until the writer has stored
//! them, fresh entries are answered from an in-memory `pending` map, so a
//! text embedded once is a hit on the very next request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rusqlite::{params, Connection, OptionalExtension};

/// `(model, text hash)`: what an entry is stored under.
type Key = (String, [u8; 16]);

/// Entries handed to the writer thread in one go.
type Batch = Vec<(Key, Vec<f32>)>;

pub struct EmbedCache {
    shared: Arc<Shared>,
    max_entries: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Batches for the writer thread; `None` once dropped.
    writes: Option<mpsc::Sender<Batch>>,
    writer: Option<JoinHandle<()>>,
}

/// What the request path and the writer thread both touch.
struct Shared {
    conn: Mutex<Connection>,
    /// Entries handed to the writer and not yet committed.
    pending: Mutex<HashMap<Key, Vec<f32>>>,
    /// Signalled whenever the writer empties a batch out of `pending`.
    drained: Condvar,
}

fn key(text: &str) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes()).to_le_bytes()
}

fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

impl EmbedCache {
    /// Opens (or creates) the cache file. `max_entries == 0` disables
    /// caching but keeps the counters.
    pub fn open(path: &Path, max_entries: usize) -> rusqlite::Result<EmbedCache> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS embeddings (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 model TEXT NOT NULL,
                 key BLOB NOT NULL,
                 vector BLOB NOT NULL,
                 UNIQUE (model, key)
             );",
        )?;
        let stored: i64 = conn.query_row("SELECT COUNT(*) FROM embeddings", [], |r| r.get(0))?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            pending: Mutex::new(HashMap::new()),
            drained: Condvar::new(),
        });
        let (writes, writer) = if max_entries > 0 {
            let (tx, rx) = mpsc::channel();
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name("embed-cache".into())
                .spawn(move || write_loop(&shared, &rx, stored as usize, max_entries))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            (Some(tx), Some(handle))
        } else {
            (None, None)
        };
        Ok(EmbedCache {
            shared,
            max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            writes,
            writer,
        })
    }

    /// An in-memory cache (tests, `helio embed`).
    pub fn in_memory(max_entries: usize) -> EmbedCache {
        Self::open(Path::new(":memory:"), max_entries).expect("in-memory SQLite opens")
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Entries stored, after waiting for queued writes.
    pub fn len(&self) -> usize {
        self.flush();
        let conn = self.shared.conn.lock();
        conn.query_row("SELECT COUNT(*) FROM embeddings", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_or(0, |n| n as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every entry handed to [`EmbedCache::put_many`] so far
    /// is committed (or its write failed and was logged).
    pub fn flush(&self) {
        let Some(writer) = &self.writer else {
            return;
        };
        let mut pending = self.shared.pending.lock();
        // A writer that died (it should not) would never signal: look again
        // every 100 ms.
        while !pending.is_empty() && !writer.is_finished() {
            self.shared
                .drained
                .wait_for(&mut pending, std::time::Duration::from_millis(100));
        }
    }

    /// Looks every text up; `None` where it is not cached. Counts hits and
    /// misses. A cache that fails to read behaves as a miss (it is a cache).
    pub fn get_many(&self, model: &str, texts: &[&str]) -> Vec<Option<Vec<f32>>> {
        if self.max_entries == 0 {
            self.misses.fetch_add(texts.len() as u64, Ordering::Relaxed);
            return vec![None; texts.len()];
        }
        let mut found: Vec<Option<Vec<f32>>> = {
            let pending = self.shared.pending.lock();
            texts
                .iter()
                .map(|t| pending.get(&(model.to_string(), key(t))).cloned())
                .collect()
        };
        if found.iter().any(Option::is_none) {
            let conn = self.shared.conn.lock();
            match conn.prepare_cached("SELECT vector FROM embeddings WHERE model = ?1 AND key = ?2")
            {
                Ok(mut stmt) => {
                    for (slot, t) in found.iter_mut().zip(texts) {
                        if slot.is_none() {
                            *slot = stmt
                                .query_row(params![model, &key(t)[..]], |r| r.get::<_, Vec<u8>>(0))
                                .optional()
                                .ok()
                                .flatten()
                                .and_then(|b| decode(&b));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "embedding cache unreadable"),
            };
        }
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(texts.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    /// Queues fresh embeddings for the writer thread and returns at once;
    /// they are answered from memory until stored.
    pub fn put_many(&self, model: &str, entries: &[(&str, &[f32])]) {
        let Some(writes) = &self.writes else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        let batch: Batch = entries
            .iter()
            .map(|(text, v)| ((model.to_string(), key(text)), v.to_vec()))
            .collect();
        let mut pending = self.shared.pending.lock();
        for (k, v) in &batch {
            pending.insert(k.clone(), v.clone());
        }
        if writes.send(batch).is_err() {
            // The writer is gone (it only stops on drop); keep nothing queued.
            pending.clear();
        }
    }
}

impl Drop for EmbedCache {
    /// Stores what is still queued before the cache goes away.
    fn drop(&mut self) {
        self.writes = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: commits each queued batch, then trims the oldest
/// entries once the table holds more than `max_entries`. `stored` counts
/// rows in memory so no insert pays for a `COUNT(*)`.
fn write_loop(
    shared: &Shared,
    batches: &mpsc::Receiver<Batch>,
    mut stored: usize,
    max_entries: usize,
) {
    while let Ok(mut batch) = batches.recv() {
        // Whatever else is queued goes into the same transaction.
        while let Ok(more) = batches.try_recv() {
            batch.extend(more);
        }
        let mut conn = shared.conn.lock();
        let result = (|| -> rusqlite::Result<usize> {
            let tx = conn.transaction()?;
            let mut added = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO embeddings (model, key, vector) VALUES (?1, ?2, ?3)",
                )?;
                for ((model, key), vector) in &batch {
                    added += stmt.execute(params![model, &key[..], encode(vector)])?;
                }
            }
            let mut removed = 0;
            if stored + added > max_entries {
                let excess = stored + added - max_entries + max_entries / 10;
                removed = tx.execute(
                    "DELETE FROM embeddings WHERE seq IN
                         (SELECT seq FROM embeddings ORDER BY seq LIMIT ?1)",
                    params![excess as i64],
                )?;
            }
            tx.commit()?;
            Ok(stored + added - removed)
        })();
        drop(conn);
        match result {
            Ok(n) => stored = n,
            Err(e) => tracing::warn!(error = %e, "embedding cache write failed"),
        }
        let mut pending = shared.pending.lock();
        for (k, _) in &batch {
            pending.remove(k);
        }
        shared.drained.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_counts_and_bound() {
        let cache = EmbedCache::in_memory(10);
        assert_eq!(cache.get_many("m", &["a"]), vec![None]);
        cache.put_many("m", &[("a", &[1.0, -2.5][..])]);
        assert_eq!(cache.get_many("m", &["a"]), vec![Some(vec![1.0, -2.5])]);
        // Another model's vector for the same text is another entry.
        assert_eq!(cache.get_many("other", &["a"]), vec![None]);
        assert_eq!((cache.hits(), cache.misses()), (1, 2));
        let texts: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
        for t in &texts {
            cache.put_many("m", &[(t.as_str(), &[0.5][..])]);
        }
        assert!(cache.len() <= 10, "bounded: {}", cache.len());
        // The newest survive eviction.
        assert!(cache.get_many("m", &["t24"])[0].is_some());
        assert!(cache.get_many("m", &["t0"])[0].is_none());
    }

    #[test]
    fn a_fresh_entry_is_a_hit_before_and_after_it_is_written() {
        let cache = EmbedCache::in_memory(100);
        cache.put_many("m", &[("q", &[0.25, 4.0][..])]);
        assert_eq!(cache.get_many("m", &["q"]), vec![Some(vec![0.25, 4.0])]);
        cache.flush();
        assert!(cache.shared.pending.lock().is_empty());
        assert_eq!(cache.get_many("m", &["q"]), vec![Some(vec![0.25, 4.0])]);
        assert_eq!(cache.len(), 1);
        // The same text again adds no row.
        cache.put_many("m", &[("q", &[0.25, 4.0][..])]);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        EmbedCache::open(&path, 100)
            .unwrap()
            .put_many("m", &[("x", &[3.0][..])]);
        let cache = EmbedCache::open(&path, 100).unwrap();
        assert_eq!(cache.get_many("m", &["x"]), vec![Some(vec![3.0])]);
    }
}
