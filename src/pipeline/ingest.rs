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
    pub outcome: &'static str,
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
            outcome: "rejected",
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
        if outcome == Outcome::Processed {
            report.outcome = "processed";
        } else {
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

/// Records how long the processed files of one scan took to become
/// searchable and to be fully embedded.
fn observe_latency(
    metrics: &crate::observe::metrics::Metrics,
    reports: &[FileReport],
    (searchable, embedded): (Option<std::time::SystemTime>, Option<std::time::SystemTime>),
) {
    for report in reports.iter().filter(|r| r.outcome == "processed") {
        let Some(landed) = report.landed_at else {
            continue;
        };
        let since = |t: Option<std::time::SystemTime>| {
            t.and_then(|t| t.duration_since(landed).ok())
                .map(|d| d.as_secs_f64())
        };
        if let Some(s) = since(searchable) {
            metrics.ingest_searchable_seconds.observe(s);
        }
        if let Some(s) = since(embedded) {
            metrics.ingest_embedded_seconds.observe(s);
        }
    }
}

/// Runs the drop-folder loop until `stop` is set. First it catches the
/// catalog collections up with the catalog (what a crash or a missing
/// model left pending) and runs each scheduled asset whose run was missed
/// while the server was down. Then it waits for a file event or the
/// rescan interval, ingests what is ready (re-materializing the catalog
/// assets after), and runs assets as their schedules come due.
/// Runs on its own thread; embedding is CPU work that must not block the
/// HTTP runtime.
pub fn run_watcher(
    assets: Arc<super::assets::Assets>,
    schedules: Vec<super::schedule::Schedule>,
    metrics: Arc<crate::observe::metrics::Metrics>,
    rescan: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering::Relaxed;
    std::thread::Builder::new()
        .name("helio-pipeline".into())
        .spawn(move || {
            let pipeline = assets.pipeline().clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let _watcher = match super::inbox::watch(pipeline.inbox.inbox_dir(), tx) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no file events for the inbox; rescanning only");
                    None
                }
            };
            if let Err(e) = pipeline.sync() {
                tracing::warn!(error = %e, "catalog catch-up failed");
            }
            // When each schedule is next looked at; due ones first.
            let mut next_check: Vec<chrono::DateTime<chrono::Utc>> =
                schedules.iter().map(|_| chrono::Utc::now()).collect();
            while !stop.load(Relaxed) {
                let now = chrono::Utc::now();
                for (schedule, next) in schedules.iter().zip(next_check.iter_mut()) {
                    if now < *next || stop.load(Relaxed) {
                        continue;
                    }
                    let asset = schedule.asset.as_str();
                    if assets.has_input(asset) && schedule.due(assets.last_start(asset), now) {
                        // The outcome is recorded in the asset's history.
                        let _ = assets.materialize(asset);
                    }
                    *next = schedule
                        .next(now)
                        .unwrap_or(now + chrono::Duration::days(1));
                }
                // An event means a file is being written; wait for it to
                // settle, then drain the burst of events it caused.
                if rx.recv_timeout(rescan).is_ok() {
                    std::thread::sleep(SETTLE);
                    while rx.try_recv().is_ok() {}
                }
                let reports = pipeline.scan_inbox();
                // Only a new snapshot gives the assets something new: retrying while no model is loaded
                // recorded two failed runs (and two warnings) every rescan, four times a second.
                if reports.iter().any(|r| r.outcome == "processed") {
                    for asset in ["catalog_kb", "pricing_kb"] {
                        let _ = assets.materialize(asset);
                    }
                    observe_latency(&metrics, &reports, pipeline.indexer.last_sync());
                }
            }
        })
        .expect("spawn pipeline thread")
}
