//! The five knowledge-base assets and their materialization history.
//!
//! An asset is a collection Helio derives from data it owns:
//! - `catalog_kb` → `helio-catalog` and `pricing_kb` → `helio-pricing`,
//!   both synced from the catalog database (`pricing_kb` depends on
//!   `catalog_kb`);
//! - `regulatory_kb`, `technical_kb`, `sales_kb` → `helio-regulatory`,
//!   `helio-technical`, `helio-sales`, from the Markdown documents in
//!   `data/kb/<kb>/`.
//!
//! Every run is recorded in `storage/assets.sqlite` (start, end, status,
//! rows in/out/rejected, error) and survives restarts; a run a crash cut
//! short is marked failed at the next start. Two runs of one asset never
//! overlap.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde_json::json;

use super::index::{ensure_collection, IndexError, BM25_VECTOR};
use super::kb::{load_dir, Chunk, Sizing};
use super::Pipeline;
use crate::embed::Models;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::{PointInsert, Selector, UpdateOp};
use crate::engine::query::scroll::ScrollRequest;
use crate::engine::types::{NamedVectors, PointId, SparseVector, VectorData, VectorSelector};
use crate::engine::{Database, EngineError};

/// (asset, collection, upstream asset, document folder under data/kb).
type Spec = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const ASSETS: [Spec; 6] = [
    ("catalog_kb", "helio-catalog", None, None),
    ("pricing_kb", "helio-pricing", Some("catalog_kb"), None),
    (
        "regulatory_kb",
        "helio-regulatory",
        None,
        Some("regulatory"),
    ),
    ("technical_kb", "helio-technical", None, Some("technical")),
    ("sales_kb", "helio-sales", None, Some("sales")),
    // The concessionárias' tariffs (CSV tables), on the seed's own
    // schedule: daily at 06:00.
    ("tariffs", "helio-tariffs", None, Some("tarifas")),
];

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("unknown asset `{0}` (assets: catalog_kb, pricing_kb, regulatory_kb, technical_kb, sales_kb, tariffs)")]
    Unknown(String),
    #[error("asset `{0}` is already being materialized")]
    Running(String),
    #[error("asset `{asset}` cannot run: its upstream `{upstream}` last failed")]
    UpstreamFailed { asset: String, upstream: String },
    #[error("asset records: {0}")]
    Records(#[from] rusqlite::Error),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Pipeline(#[from] super::ingest::PipelineError),
    #[error("no dense model is loaded; run scripts/fetch-model.sh")]
    NoModel,
}

impl From<EngineError> for AssetError {
    fn from(e: EngineError) -> Self {
        AssetError::Index(IndexError::Engine(e))
    }
}

/// One recorded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub asset: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `success` or `failed`.
    pub status: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AssetInfo {
    pub name: &'static str,
    pub collection: &'static str,
    pub depends_on: Vec<&'static str>,
    pub last_run: Option<Run>,
    /// When the last successful run finished.
    pub fresh_as_of: Option<String>,
}

pub struct Assets {
    db: Arc<Database>,
    models: Arc<Models>,
    pipeline: Arc<Pipeline>,
    kb_dir: PathBuf,
    records: Mutex<Connection>,
    running: Mutex<BTreeSet<String>>,
}

/// What a run measured, before it is recorded.
#[derive(Default)]
struct Counts {
    rows_in: u64,
    rows_out: u64,
    rows_rejected: u64,
}

impl Assets {
    pub fn open(
        records: &Path,
        kb_dir: &Path,
        db: Arc<Database>,
        models: Arc<Models>,
        pipeline: Arc<Pipeline>,
    ) -> Result<Assets, AssetError> {
        let conn = Connection::open(records)?;
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
        // Runs a crash interrupted never finished.
        conn.execute(
            "UPDATE runs SET status = 'failed', finished_at = ?1,
                 error = 'interrupted: the server stopped during the run'
             WHERE status = 'running'",
            params![now()],
        )?;
        Ok(Assets {
            db,
            models,
            pipeline,
            kb_dir: kb_dir.to_path_buf(),
            records: Mutex::new(conn),
            running: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn names() -> impl Iterator<Item = &'static str> {
        ASSETS.iter().map(|a| a.0)
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Whether `asset` has anything to work from here: documents in its
    /// folder, or products in the catalog. Start-up only runs those, so a
    /// server without data creates no empty collections.
    pub fn has_input(&self, asset: &str) -> bool {
        match spec(asset) {
            Ok((_, _, _, Some(folder))) => self.kb_dir.join(folder).is_dir(),
            Ok(_) => self
                .pipeline
                .catalog()
                .stats()
                .is_ok_and(|s| s.products > 0),
            Err(_) => false,
        }
    }

    /// Every asset with its upstream and last run.
    pub fn list(&self) -> Result<Vec<AssetInfo>, AssetError> {
        ASSETS
            .iter()
            .map(|&(name, collection, upstream, _)| {
                let last_run = self.runs(name, 1)?.into_iter().next();
                let fresh_as_of = self
                    .records
                    .lock()
                    .query_row(
                        "SELECT finished_at FROM runs WHERE asset = ?1 AND status = 'success'
                         ORDER BY id DESC LIMIT 1",
                        params![name],
                        |r| r.get(0),
                    )
                    .ok();
                Ok(AssetInfo {
                    name,
                    collection,
                    depends_on: upstream.into_iter().collect(),
                    last_run,
                    fresh_as_of,
                })
            })
            .collect()
    }

    /// When the last run of `asset` started, whatever its outcome.
    pub fn last_start(&self, asset: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let started: String = self
            .records
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

    /// The last `limit` runs of `asset`, newest first.
    pub fn runs(&self, asset: &str, limit: usize) -> Result<Vec<Run>, AssetError> {
        spec(asset)?;
        let conn = self.records.lock();
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
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `asset` now and records the run. An asset whose upstream last
    /// failed is not run on its bad data: the refusal is recorded too.
    pub fn materialize(&self, asset: &str) -> Result<Run, AssetError> {
        let (name, collection, upstream, folder) = spec(asset)?;
        if !self.running.lock().insert(name.to_string()) {
            return Err(AssetError::Running(name.to_string()));
        }
        let id = self.start(name)?;
        let result = match upstream.map(|u| self.upstream_failed(u)) {
            Some(Ok(true)) => Err(AssetError::UpstreamFailed {
                asset: name.to_string(),
                upstream: upstream.unwrap_or_default().to_string(),
            }),
            Some(Err(e)) => Err(e),
            _ => match folder {
                Some(folder) => self.documents(folder, collection),
                None => self.catalog(collection),
            },
        };
        self.running.lock().remove(name);
        let (status, counts, error) = match &result {
            Ok(c) => ("success", c, None),
            Err(e) => ("failed", &Counts::default(), Some(e.to_string())),
        };
        self.records.lock().execute(
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
        match &error {
            None => tracing::info!(
                asset = name,
                rows_out = counts.rows_out,
                "asset materialized"
            ),
            Some(e) => tracing::warn!(asset = name, error = %e, "asset materialization failed"),
        }
        let run = self.runs(name, 1)?.into_iter().next();
        run.ok_or_else(|| AssetError::Records(rusqlite::Error::QueryReturnedNoRows))
    }

    fn start(&self, asset: &str) -> Result<i64, AssetError> {
        let conn = self.records.lock();
        conn.execute(
            "INSERT INTO runs (asset, started_at, status) VALUES (?1, ?2, 'running')",
            params![asset, now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn upstream_failed(&self, upstream: &str) -> Result<bool, AssetError> {
        Ok(self
            .runs(upstream, 1)?
            .first()
            .is_some_and(|r| r.status == "failed"))
    }

    /// `catalog_kb` and `pricing_kb`: catch the collections up with the
    /// catalog database. One sync serves both, so the second of the two to
    /// run often has nothing left to change: its rows out are the points
    /// its collection holds, what the asset produces, not what this run
    /// happened to write.
    fn catalog(&self, collection: &str) -> Result<Counts, AssetError> {
        let report = self.pipeline.sync()?;
        if report.waiting_for_model > 0 {
            return Err(AssetError::NoModel);
        }
        let stats = self.pipeline.catalog().stats().map_err(IndexError::from)?;
        let points = self.db.get(collection).map_or(0, |c| c.info().points_count);
        Ok(Counts {
            rows_in: stats.products as u64,
            rows_out: points as u64,
            rows_rejected: 0,
        })
    }

    /// A document knowledge base: load, chunk, embed (cached), upsert, and
    /// delete the chunks of documents that are gone.
    fn documents(&self, folder: &str, collection: &str) -> Result<Counts, AssetError> {
        let embedder = self.models.default_dense().ok_or(AssetError::NoModel)?;
        let count = |text: &str| embedder.token_count(text);
        let sizing = Sizing::for_model(embedder.max_tokens(), &count);
        let (chunks, problems) = load_dir(&self.kb_dir.join(folder), folder, &sizing);
        for p in &problems {
            tracing::warn!(kb = folder, problem = %p, "document skipped");
        }
        let target = ensure_collection(&self.db, collection, embedder.dim())?;
        let bm25 = self.models.bm25(None).map_err(IndexError::from)?;
        let mut keep: BTreeSet<PointId> = BTreeSet::new();
        for batch in chunks.chunks(64) {
            let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
            let dense = self
                .models
                .embed_with(embedder.as_ref(), &texts, None)
                .map_err(IndexError::from)?;
            let points: Vec<PointInsert> = batch
                .iter()
                .zip(dense)
                .map(|(chunk, v)| {
                    let id = chunk_id(chunk);
                    keep.insert(id);
                    let sparse = bm25.embed(&chunk.text);
                    let vectors = NamedVectors::from([
                        (String::new(), VectorData::Dense(v)),
                        (
                            BM25_VECTOR.to_string(),
                            VectorData::Sparse(SparseVector {
                                indices: sparse.indices,
                                values: sparse.values,
                            }),
                        ),
                    ]);
                    let payload = match json!(chunk) {
                        serde_json::Value::Object(map) => map,
                        _ => Default::default(),
                    };
                    PointInsert {
                        id,
                        vectors,
                        payload,
                    }
                })
                .collect();
            target.update(vec![UpdateOp::Upsert(points)])?;
        }
        let stale: Vec<PointId> = all_ids(&target)?
            .into_iter()
            .filter(|id| !keep.contains(id))
            .collect();
        if !stale.is_empty() {
            target.update(vec![UpdateOp::Delete(Selector::Ids(stale))])?;
        }
        Ok(Counts {
            rows_in: (chunks.len() + problems.len()) as u64,
            rows_out: chunks.len() as u64,
            rows_rejected: problems.len() as u64,
        })
    }
}

fn spec(asset: &str) -> Result<Spec, AssetError> {
    ASSETS
        .iter()
        .find(|a| a.0 == asset)
        .copied()
        .ok_or_else(|| AssetError::Unknown(asset.to_string()))
}

/// A chunk's point id: its document and position, so an edited document
/// overwrites its own chunks.
fn chunk_id(chunk: &Chunk) -> PointId {
    let key = format!("{}\u{0}{}", chunk.doc_id, chunk.index);
    PointId::Uuid(uuid::Uuid::from_u128(xxhash_rust::xxh3::xxh3_128(
        key.as_bytes(),
    )))
}

fn all_ids(collection: &crate::engine::Collection) -> Result<Vec<PointId>, EngineError> {
    let mut ids = Vec::new();
    let mut offset = None;
    loop {
        let (page, next) = collection.read(
            &ScrollRequest {
                filter: None,
                limit: 1000,
                offset,
                order_by: None,
                with_payload: PayloadSelector::None,
                with_vector: VectorSelector::None,
            },
            None,
        )?;
        ids.extend(page.into_iter().map(|r| r.id));
        match next {
            Some(n) => offset = Some(n),
            None => return Ok(ids),
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
