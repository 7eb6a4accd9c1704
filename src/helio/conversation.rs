//! Conversations, kept durably so a follow-up ("e o de 8 kW?") is read
//! with the turns before it, across restarts and `kill -9`.
//!
//! One SQLite file in the storage directory, WAL mode; a turn is committed
//! (with `synchronous=FULL` when the server fsyncs) before the answer
//! that carries its `conversation_id` is sent.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Turns read back into a prompt: enough for a follow-up, few enough to
/// keep the prompt short.
pub const TURNS_KEPT: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("conversation store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("unknown conversation_id `{0}`")]
    Unknown(String),
}

/// One question and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    pub question: String,
    pub answer: String,
    /// What the retrieval searched for (the question, completed from the
    /// turns before it when it was a follow-up).
    pub retrieval_text: String,
    pub recommendations: Vec<String>,
    pub at: String,
}

pub struct Conversations {
    conn: Mutex<Connection>,
}

impl Conversations {
    pub fn open(path: &Path, fsync: bool) -> Result<Conversations, ConversationError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS conversations (
                 id         TEXT PRIMARY KEY,
                 context    TEXT NOT NULL,
                 created_at TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS turns (
                 conversation_id TEXT NOT NULL REFERENCES conversations(id),
                 n               INTEGER NOT NULL,
                 question        TEXT NOT NULL,
                 answer          TEXT NOT NULL,
                 retrieval_text  TEXT NOT NULL,
                 recommendations TEXT NOT NULL,
                 at              TEXT NOT NULL,
                 PRIMARY KEY (conversation_id, n)
             );",
        )?;
        Ok(Conversations {
            conn: Mutex::new(conn),
        })
    }

    /// A new conversation's id.
    pub fn start(&self, context: &serde_json::Value) -> Result<String, ConversationError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.conn.lock().execute(
            "INSERT INTO conversations (id, context, created_at) VALUES (?1, ?2, ?3)",
            params![id, context.to_string(), now()],
        )?;
        Ok(id)
    }

    /// The last [`TURNS_KEPT`] turns of `id`, oldest first.
    pub fn recent(&self, id: &str) -> Result<Vec<Turn>, ConversationError> {
        self.turns(id, Some(TURNS_KEPT))
    }

    /// The newest `limit` turns of `id` (all of them for `None`), oldest
    /// first; an id never started is [`ConversationError::Unknown`].
    fn turns(&self, id: &str, limit: Option<usize>) -> Result<Vec<Turn>, ConversationError> {
        let conn = self.conn.lock();
        let exists: Option<String> = conn
            .query_row(
                "SELECT id FROM conversations WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(ConversationError::Unknown(id.to_string()));
        }
        let mut stmt = conn.prepare(
            "SELECT question, answer, retrieval_text, recommendations, at FROM turns
             WHERE conversation_id = ?1 ORDER BY n DESC LIMIT ?2",
        )?;
        // SQLite reads a negative LIMIT as none.
        let limit = limit.map_or(-1, |n| n as i64);
        let mut turns = stmt
            .query_map(params![id, limit], |r| {
                let recs: String = r.get(3)?;
                Ok(Turn {
                    question: r.get(0)?,
                    answer: r.get(1)?,
                    retrieval_text: r.get(2)?,
                    recommendations: serde_json::from_str(&recs).unwrap_or_default(),
                    at: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        turns.reverse();
        Ok(turns)
    }

    /// Appends a turn; durable when this returns.
    pub fn append(&self, id: &str, turn: &Turn) -> Result<(), ConversationError> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO turns (conversation_id, n, question, answer, retrieval_text, recommendations, at)
             VALUES (?1, (SELECT COALESCE(MAX(n), 0) + 1 FROM turns WHERE conversation_id = ?1),
                     ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                turn.question,
                turn.answer,
                turn.retrieval_text,
                serde_json::to_string(&turn.recommendations).unwrap_or_else(|_| "[]".into()),
                turn.at,
            ],
        )?;
        Ok(())
    }

    /// Every turn of `id`, oldest first (for `GET /store/helio/conversations/{id}`).
    pub fn all(&self, id: &str) -> Result<Vec<Turn>, ConversationError> {
        self.turns(id, None)
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_survive_reopening_and_unknown_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        let id = {
            let c = Conversations::open(&path, true).unwrap();
            let id = c.start(&serde_json::json!({})).unwrap();
            for i in 0..8 {
                let turn = Turn {
                    question: format!("q{i}"),
                    answer: format!("a{i}"),
                    retrieval_text: format!("q{i}"),
                    recommendations: vec![format!("p{i}")],
                    at: now(),
                };
                c.append(&id, &turn).unwrap();
            }
            id
        };
        let c = Conversations::open(&path, true).unwrap();
        let recent = c.recent(&id).unwrap();
        assert_eq!(recent.len(), TURNS_KEPT);
        assert_eq!(recent.last().unwrap().question, "q7");
        assert_eq!(recent[0].question, "q2");
        assert_eq!(c.all(&id).unwrap().len(), 8);
        assert!(matches!(
            c.recent("nope"),
            Err(ConversationError::Unknown(_))
        ));
    }
}
