//! A persistent, size-bounded cache of dense embeddings, so unchanged text
//! is never embedded twice (a catalog re-ingested every night is mostly
//! unchanged; a query typed twice is common).
//!
//! Keyed by model name and the 128-bit xxh3 hash of the text (stable
//! across builds, unlike std's hasher). Stored in its own SQLite file with
//! `synchronous=OFF`: losing the cache on a power cut costs only time.
//! Eviction is first-in first-out by insertion once `max_entries` is
//! passed, a tenth at a time, which keeps inserts cheap.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

pub struct EmbedCache {
    conn: Mutex<Connection>,
    max_entries: usize,
    hits: AtomicU64,
    misses: AtomicU64,
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
        Ok(EmbedCache {
            conn: Mutex::new(conn),
            max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
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

    pub fn len(&self) -> usize {
        let conn = self.conn.lock();
        conn.query_row("SELECT COUNT(*) FROM embeddings", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_or(0, |n| n as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks every text up; `None` where it is not cached. Counts hits and
    /// misses. A cache that fails to read behaves as a miss (it is a cache).
    pub fn get_many(&self, model: &str, texts: &[&str]) -> Vec<Option<Vec<f32>>> {
        if self.max_entries == 0 {
            self.misses.fetch_add(texts.len() as u64, Ordering::Relaxed);
            return vec![None; texts.len()];
        }
        let conn = self.conn.lock();
        let mut stmt = match conn
            .prepare_cached("SELECT vector FROM embeddings WHERE model = ?1 AND key = ?2")
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "embedding cache unreadable");
                return vec![None; texts.len()];
            }
        };
        let found: Vec<Option<Vec<f32>>> = texts
            .iter()
            .map(|t| {
                stmt.query_row(params![model, &key(t)[..]], |r| r.get::<_, Vec<u8>>(0))
                    .optional()
                    .ok()
                    .flatten()
                    .and_then(|b| decode(&b))
            })
            .collect();
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(texts.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    /// Stores fresh embeddings, then trims the oldest entries if the cache
    /// grew past its bound. Failures are logged, never returned: the
    /// caller already has its vectors.
    pub fn put_many(&self, model: &str, entries: &[(&str, &[f32])]) {
        if self.max_entries == 0 || entries.is_empty() {
            return;
        }
        let mut conn = self.conn.lock();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO embeddings (model, key, vector) VALUES (?1, ?2, ?3)",
                )?;
                for (text, vector) in entries {
                    stmt.execute(params![model, &key(text)[..], encode(vector)])?;
                }
            }
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM embeddings", [], |r| r.get(0))?;
            if count as usize > self.max_entries {
                let excess = count as usize - self.max_entries + self.max_entries / 10;
                tx.execute(
                    "DELETE FROM embeddings WHERE seq IN
                         (SELECT seq FROM embeddings ORDER BY seq LIMIT ?1)",
                    params![excess as i64],
                )?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "embedding cache write failed");
        }
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
