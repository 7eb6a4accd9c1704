//! One distributor file through the pipeline: read, validate, store as a
//! snapshot in the catalog, report the rejected rows, archive the file.
//!
//! The order makes a crash harmless. The catalog commit is the moment a
//! file counts as ingested; the file leaves the inbox only after it, so a
//! crash before the commit leaves the previous snapshot and the file in
//! place (ingested again at restart), and a crash after it re-ingests the
//! same snapshot, which changes nothing. Indexing runs after, from the
//! catalog, and catches up whatever a crash left pending.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::catalog::{sha256_hex, Catalog, CatalogError, FileMeta, SnapshotOutcome};
use super::inbox::{Inbox, Outcome};
use super::index::{IndexError, Indexer, SyncReport};
use super::parse::read_table;
use super::validate::validate;
use crate::embed::Models;
use crate::engine::Database;

/// How long a file's size and mtime must stay unchanged before it is read:
/// a copy in progress keeps changing them.
pub const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// What happened to one file, for logs, the CLI and the API.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    /// `processed`: its valid rows are the distributor's new offer;
    /// `rejected`: nothing of it was loaded.
    pub outcome: Outcome,
    pub distributor: Option<String>,
    pub encoding: Option<String>,
    pub rows: usize,
    pub valid: usize,
    pub rejected: usize,
    /// Why the whole file was refused, when it was.
    pub error: Option<String>,
    pub snapshot: Option<SnapshotOutcome>,
    /// The per-row error report, when some rows were rejected.
    pub report: Option<PathBuf>,
    /// Where the original file was moved (inbox files only).
    pub archived: Option<PathBuf>,
    /// The file's modification time: when it landed, for the latency metric.
    #[serde(skip)]
    pub landed_at: Option<std::time::SystemTime>,
}

/// The pipeline's long-lived parts: the catalog, the drop folder and the
/// indexer that keeps the knowledge-base collections in step.
pub struct Pipeline {
    catalog: Arc<Catalog>,
    inbox: Inbox,
    indexer: Indexer,
}

impl Pipeline {
    /// Opens the catalog at `catalog_path` and the drop folder under
    /// `data_dir` (`inbox/`, `processed/`, `rejected/`).
    pub fn open(
        catalog_path: &Path,
        data_dir: &Path,
        db: Arc<Database>,
        models: Arc<Models>,
    ) -> Result<Pipeline, PipelineError> {
        let catalog = Arc::new(Catalog::open(catalog_path)?);
        let inbox = Inbox::open(data_dir).map_err(|e| io(data_dir, e))?;
        let indexer = Indexer::new(catalog.clone(), db, models);
        Ok(Pipeline {
            catalog,
            inbox,
            indexer,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    pub fn indexer(&self) -> &Indexer {
        &self.indexer
    }

    /// Ingests every file that is ready in the inbox and archives it.
    /// One bad file never stops the others.
    pub fn scan_inbox(&self) -> Vec<FileReport> {
        let files = match self.inbox.ready_files(SETTLE) {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the inbox");
                return Vec::new();
            }
        };
        let mut reports = Vec::new();
        for file in files {
            match self.ingest(&file, true) {
                Ok(report) => reports.push(report),
                // The catalog or the disk failed, not the file: it stays
                // in the inbox and is tried again on the next scan.
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "ingest failed; will retry")
                }
            }
        }
        reports
    }

    /// Ingests one file. With `archive`, the file (which must be in the
    /// inbox) is moved to `processed/` or `rejected/` afterwards; without,
    /// it is left where it is (`helio ingest FILE`).
    pub fn ingest(&self, path: &Path, archive: bool) -> Result<FileReport, PipelineError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unnamed".into());
        let landed_at = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        let now = chrono::Utc::now().timestamp();
        let mut report = FileReport {
            file: name.clone(),
            outcome: Outcome::Rejected,
            distributor: None,
            encoding: None,
            rows: 0,
            valid: 0,
            rejected: 0,
            error: None,
            snapshot: None,
            report: None,
            archived: None,
            landed_at,
        };

        let table = match read_table(&bytes) {
            Ok(table) => table,
            Err(e) => {
                report.error = Some(e.to_string());
                self.inbox
                    .write_failure(&name, &e.to_string())
                    .map_err(|e| io(path, e))?;
                return self.finish(path, archive, report, Outcome::Rejected, now);
            }
        };
        report.encoding = Some(table.encoding.to_string());
        let validated = validate(&table);
        report.rows = table.rows.len();
        report.valid = validated.products.len();
        report.rejected = report.rows - report.valid.min(report.rows);
        if !validated.errors.is_empty() {
            let written = self
                .inbox
                .write_report(&name, &validated.errors)
                .map_err(|e| io(path, e))?;
            report.report = Some(written);
        }
        if validated.products.is_empty() {
            let reason = if report.rows == 0 {
                "the file has a header but no rows".to_string()
            } else {
                format!("none of its {} rows is valid", report.rows)
            };
            report.error = Some(reason);
            return self.finish(path, archive, report, Outcome::Rejected, now);
        }

        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let distributor = super::catalog::distributor_for(&stem, &validated.products);
        let meta = FileMeta {
            name: name.clone(),
            sha256: sha256_hex(&bytes),
            received_at: now,
        };
        let outcome = self.catalog.apply_snapshot(
            &distributor,
            &meta,
            report.rows,
            report.rejected,
            &validated.products,
            chrono::Utc::now().timestamp(),
        )?;
        tracing::info!(
            file = %name,
            distributor = %distributor,
            valid = report.valid,
            rejected = report.rejected,
            added = outcome.added.len(),
            changed = outcome.changed.len(),
            withdrawn = outcome.withdrawn.len(),
            "catalog file ingested"
        );
        report.distributor = Some(distributor);
        report.snapshot = Some(outcome);
        self.finish(path, archive, report, Outcome::Processed, now)
    }

    fn finish(
        &self,
        path: &Path,
        archive: bool,
        mut report: FileReport,
        outcome: Outcome,
        now: i64,
    ) -> Result<FileReport, PipelineError> {
        report.outcome = outcome;
        if outcome == Outcome::Rejected {
            tracing::warn!(file = %report.file, reason = ?report.error, "catalog file rejected");
        }
        if archive {
            let moved = self
                .inbox
                .archive(path, outcome, now)
                .map_err(|e| io(path, e))?;
            report.archived = Some(moved);
        }
        Ok(report)
    }

    /// Brings the knowledge-base collections up to date with the catalog.
    pub fn sync(&self) -> Result<SyncReport, PipelineError> {
        Ok(self.indexer.sync()?)
    }
}

fn io(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::Io(path.display().to_string(), e)
}
