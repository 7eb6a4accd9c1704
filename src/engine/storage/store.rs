//! The SQLite side of a collection's durable state (WAL mode): the
//! id → offset map, payloads, sparse and multivectors, and metadata. Its
//! commit is the moment a write becomes durable.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use crate::engine::error::{EngineError, Result};
use crate::engine::types::{Offset, PointId};

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
