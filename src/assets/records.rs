//! The materialization records: every run of every asset in
//! `storage/assets.sqlite` (start, end, status, rows in/out/rejected,
//! error), kept across restarts. A run a crash cut short is marked failed
//! when the records are next opened.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection};

/// Where a run is. Stored, and served by `/assets`, as `running`,
/// `success` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Success,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for RunStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "running" => Ok(RunStatus::Running),
            "success" => Ok(RunStatus::Success),
            "failed" => Ok(RunStatus::Failed),
            other => Err(FromSqlError::Other(
                format!("unknown run status `{other}`").into(),
            )),
        }
    }
}

/// One recorded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub asset: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub error: Option<String>,
}

/// What a run measured, before it is recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
}

/// The runs table.
pub struct Records {
    conn: Mutex<Connection>,
}

impl Records {
    /// Opens (or creates) the records at `path` and marks the runs a crash
    /// interrupted as failed.
    pub fn open(path: &Path) -> rusqlite::Result<Records> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 asset TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 finished_at TEXT,
                 status TEXT NOT NULL,
                 rows_in INTEGER NOT NULL DEFAULT 0,
                 rows_out INTEGER NOT NULL DEFAULT 0,
                 rows_rejected INTEGER NOT NULL DEFAULT 0,
                 error TEXT
             );
             CREATE INDEX IF NOT EXISTS runs_by_asset ON runs (asset, id);",
        )?;
        conn.execute(
            "UPDATE runs SET status = ?2, finished_at = ?1,
                 error = 'interrupted: the server stopped during the run'
             WHERE status = ?3",
            params![now(), RunStatus::Failed, RunStatus::Running],
        )?;
        Ok(Records {
            conn: Mutex::new(conn),
        })
    }

    /// Records the start of a run of `asset`; returns its id.
    pub fn start(&self, asset: &str) -> rusqlite::Result<i64> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO runs (asset, started_at, status) VALUES (?1, ?2, ?3)",
            params![asset, now(), RunStatus::Running],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Records how run `id` ended: `Ok` with what it measured, or the
    /// error that failed it.
    pub fn finish(&self, id: i64, outcome: Result<Counts, String>) -> rusqlite::Result<()> {
        let (status, counts, error) = match outcome {
            Ok(c) => (RunStatus::Success, c, None),
            Err(e) => (RunStatus::Failed, Counts::default(), Some(e)),
        };
        self.conn.lock().execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, rows_in = ?4, rows_out = ?5,
                 rows_rejected = ?6, error = ?7 WHERE id = ?1",
            params![
                id,
                now(),
                status,
                counts.rows_in as i64,
                counts.rows_out as i64,
                counts.rows_rejected as i64,
                error
            ],
        )?;
        Ok(())
    }

    /// The last `limit` runs of `asset`, newest first.
    pub fn runs(&self, asset: &str, limit: usize) -> rusqlite::Result<Vec<Run>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(
            "SELECT id, asset, started_at, finished_at, status, rows_in, rows_out,
                    rows_rejected, error
             FROM runs WHERE asset = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![asset, limit as i64], |r| {
            Ok(Run {
                id: r.get(0)?,
                asset: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                status: r.get(4)?,
                rows_in: r.get::<_, i64>(5)? as u64,
                rows_out: r.get::<_, i64>(6)? as u64,
                rows_rejected: r.get::<_, i64>(7)? as u64,
                error: r.get(8)?,
            })
        })?;
        rows.collect()
    }

    /// When the last successful run of `asset` finished.
    pub fn fresh_as_of(&self, asset: &str) -> Option<String> {
        self.conn
            .lock()
            .query_row(
                "SELECT finished_at FROM runs WHERE asset = ?1 AND status = ?2
                 ORDER BY id DESC LIMIT 1",
                params![asset, RunStatus::Success],
                |r| r.get(0),
            )
            .ok()
    }

    /// When the last run of `asset` started, whatever its outcome.
    pub fn last_start(&self, asset: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let started: String = self
            .conn
            .lock()
            .query_row(
                "SELECT started_at FROM runs WHERE asset = ?1 ORDER BY id DESC LIMIT 1",
                params![asset],
                |r| r.get(0),
            )
            .ok()?;
        chrono::DateTime::parse_from_rfc3339(&started)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written by the build that stored statuses as strings read
    /// back; an interrupted run is marked failed at the next open.
    #[test]
    fn statuses_are_the_strings_older_builds_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assets.sqlite");
        {
            let records = Records::open(&path).unwrap();
            let id = records.start("catalog_kb").unwrap();
            let counts = Counts {
                rows_in: 3,
                rows_out: 2,
                rows_rejected: 1,
            };
            records.finish(id, Ok(counts)).unwrap();
            records.start("sales_kb").unwrap();
            let conn = records.conn.lock();
            let stored: Vec<String> = conn
                .prepare("SELECT status FROM runs ORDER BY id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(stored, ["success", "running"]);
        }
        let records = Records::open(&path).unwrap();
        let run = &records.runs("catalog_kb", 1).unwrap()[0];
        assert_eq!(run.status, RunStatus::Success);
        assert_eq!(serde_json::to_value(run).unwrap()["status"], "success");
        assert!(records.fresh_as_of("catalog_kb").is_some());
        let interrupted = &records.runs("sales_kb", 1).unwrap()[0];
        assert_eq!(interrupted.status, RunStatus::Failed);
        assert_eq!(
            interrupted.error.as_deref(),
            Some("interrupted: the server stopped during the run")
        );
    }
}
