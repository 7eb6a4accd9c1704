//! The engine's error type. The API layer maps each variant to an HTTP
//! status in exactly one place (`api::error`).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// A collection, point or index that does not exist.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The request is well-formed JSON but asks for something invalid.
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// Creating something that already exists.
    #[error("Wrong input: {0}")]
    AlreadyExists(String),
    #[error("Wrong input: Vector dimension error: expected dim: {expected}, got {got}")]
    VectorDimension { expected: usize, got: usize },
    /// Disk, SQLite or a corrupt file: the detail is logged, not shown.
    #[error("storage error: {0}")]
    Storage(String),
    /// Another process has the storage directory open.
    #[error("storage {0} is in use by another Helio process")]
    Locked(String),
    /// A search that ran past its time budget.
    #[error("Timeout error: {0}")]
    Timeout(String),
    /// A collection's strict-mode rate limit is used up; `retry_after` is
    /// in seconds (none when the request could never fit).
    #[error("Rate limiting exceeded: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<u64>,
    },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Storage(format!("sqlite: {e}"))
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Storage(format!("io: {e}"))
    }
}
