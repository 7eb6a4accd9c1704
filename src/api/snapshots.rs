//! Snapshot routes: create, list, download and delete a collection's
//! snapshots; recover a collection from an uploaded file or from a
//! snapshot already in the storage's `snapshots/` directory; the same for
//! full-storage snapshots (`/snapshots`), which are restored only at
//! start-up (`helio serve --storage-snapshot`), as Qdrant restores them.
//!
//! Recovery from a URL is refused: it would make the server fetch
//! anything on the network on a client's word.

use std::path::PathBuf;
use std::time::Instant;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::engine::database::sha256_file;
use crate::engine::EngineError;

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::models::WriteParams;
use super::{accepted, blocking, ok, AppState};

fn bad(msg: String) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg))
}

pub async fn create(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    let made = blocking(move || db.create_snapshot(&name)).await?;
    Ok(ok(started, made))
}

pub async fn list(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    let all = blocking(move || db.list_snapshots(&name)).await?;
    Ok(ok(started, all))
}

pub async fn download(
    State(state): State<AppState>,
    QPath((name, snapshot)): QPath<(String, String)>,
) -> Result<Response, ApiError> {
    let path = state.db.snapshot_path(&name, &snapshot)?;
    send_file(&path, &snapshot).await
}

/// Streams a snapshot file; `name` has been checked to be a plain file name.
async fn send_file(path: &std::path::Path, name: &str) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::Engine(e.into()))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::Engine(e.into()))?
        .len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    QPath((name, snapshot)): QPath<(String, String)>,
    QQuery(_params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    blocking(move || db.delete_snapshot(&name, &snapshot)).await?;
    Ok(ok(started, true))
}

#[derive(Debug, Default, Deserialize)]
pub struct UploadParams {
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub priority: Option<String>,
    /// SHA-256 the upload must have.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// `POST /collections/{c}/snapshots/upload`: multipart form, file field
/// `snapshot`; the collection is created or replaced from it.
pub async fn upload(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<UploadParams>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // Not a multipart body at all (wrong content type, no boundary): the
    // same envelope as every other error, not axum's plain text.
    let mut form = form.map_err(|e| {
        bad(format!(
            "Wrong input: a snapshot upload is a multipart/form-data body with a `snapshot` file field ({e})"
        ))
    })?;
    let dir = state.db.root().join("snapshots").join(".uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Engine(e.into()))?;
    let tmp = dir.join(format!("{}.snapshot", uuid::Uuid::new_v4().simple()));
    let mut received = false;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("Wrong input: multipart body: {e}")))?
    {
        if field.name() != Some("snapshot") {
            continue;
        }
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| ApiError::Engine(e.into()))?;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| bad(format!("Wrong input: multipart body: {e}")))?
        {
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::Engine(e.into()))?;
        }
        file.flush().await.map_err(|e| ApiError::Engine(e.into()))?;
        received = true;
        break;
    }
    if !received {
        return Err(bad(
            "Wrong input: no `snapshot` file field in the multipart body".into(),
        ));
    }
    let result = recover_file(&state, name, tmp.clone(), params.checksum).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    result?;
    Ok(ok(started, true))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    pub location: String,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
}

/// `PUT /collections/{c}/snapshots/recover`: from a snapshot in this
/// storage's `snapshots/` directory (`file:///…` or a plain path).
pub async fn recover(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<WriteParams>,
    QJson(body): QJson<RecoverRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let location = body.location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Err(bad(
            "Wrong input: recovery from a URL is disabled on this server; upload the file to /collections/{name}/snapshots/upload or place it in the storage's snapshots/ directory".into(),
        ));
    }
    let path = PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
    let allowed = state.db.root().join("snapshots");
    let real = std::fs::canonicalize(&path).map_err(|_| {
        ApiError::Engine(EngineError::NotFound(format!(
            "Snapshot file {} not found",
            path.display()
        )))
    })?;
    let base = std::fs::canonicalize(&allowed).unwrap_or(allowed);
    if !real.starts_with(&base) {
        return Err(bad(format!(
            "Wrong input: snapshots are recovered only from {}",
            base.display()
        )));
    }
    recover_file(&state, name, real, body.checksum).await?;
    Ok(ok(started, true))
}

async fn recover_file(
    state: &AppState,
    name: String,
    path: PathBuf,
    checksum: Option<String>,
) -> Result<(), ApiError> {
    let db = state.db.clone();
    blocking(move || {
        if let Some(want) = checksum {
            let got = sha256_file(&path)?;
            if !got.eq_ignore_ascii_case(want.trim()) {
                return Err(EngineError::BadRequest(format!(
                    "Wrong input: snapshot checksum mismatch: expected {want}, got {got}"
                )));
            }
        }
        db.recover(&name, &path)
    })
    .await
}

/// `POST /snapshots`: every collection and alias in one file. With
/// `wait=false` the snapshot is written in the background and the answer
/// is Qdrant's 202 `accepted`.
pub async fn create_full(
    State(state): State<AppState>,
    QQuery(params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    if params.wait == Some(false) {
        tokio::task::spawn_blocking(move || {
            if let Err(e) = db.create_storage_snapshot() {
                tracing::error!(error = %e, "full storage snapshot failed");
            }
        });
        return Ok(accepted(started));
    }
    let made = blocking(move || db.create_storage_snapshot()).await?;
    Ok(ok(started, made))
}

pub async fn list_full(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    let all = blocking(move || db.list_storage_snapshots()).await?;
    Ok(ok(started, all))
}

pub async fn download_full(
    State(state): State<AppState>,
    QPath(snapshot): QPath<String>,
) -> Result<Response, ApiError> {
    let path = state.db.storage_snapshot_path(&snapshot)?;
    send_file(&path, &snapshot).await
}

pub async fn delete_full(
    State(state): State<AppState>,
    QPath(snapshot): QPath<String>,
    QQuery(_params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    blocking(move || db.delete_storage_snapshot(&snapshot)).await?;
    Ok(ok(started, true))
}
