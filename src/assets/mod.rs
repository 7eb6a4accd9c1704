//! The knowledge-base assets, as in Dagster: six collections Helio derives
//! from data it owns, their dependency graph, their materialization
//! history and their schedules.
//!
//! - [`graph`]: the assets. `catalog_kb` → `helio-catalog` and
//!   `pricing_kb` → `helio-pricing`, both synced from the catalog database
//!   (`pricing_kb` depends on `catalog_kb`); `regulatory_kb`,
//!   `technical_kb`, `sales_kb` and `tariffs` → `helio-regulatory`,
//!   `helio-technical`, `helio-sales`, `helio-tariffs`, from the documents
//!   in `data/kb/<folder>/`.
//! - [`records`]: every run in `storage/assets.sqlite` (start, end,
//!   status, rows in/out/rejected, error); a run a crash cut short is
//!   marked failed at the next start.
//! - [`schedule`]: when each asset runs on its own (cron, time zone).
//!
//! [`Assets`] runs an asset and records the run; two runs of one asset
//! never overlap. The work itself is the pipeline's
//! ([`crate::pipeline::index`], [`crate::pipeline::documents`]): this
//! module decides what runs when and remembers how it went. Above it, the
//! drop-folder watcher ([`crate::watch`]) calls it after a new file and
//! when a schedule comes due.

pub mod graph;
pub mod records;
pub mod schedule;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use self::graph::{spec, AssetSpec, Source, ASSETS};
use self::records::{Counts, Records};
pub use self::records::{Run, RunStatus};
use crate::embed::Models;
use crate::engine::{Database, EngineError};
use crate::pipeline::documents::index_documents;
use crate::pipeline::index::{IndexError, SyncReport};
use crate::pipeline::Pipeline;

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
    Pipeline(#[from] crate::pipeline::ingest::PipelineError),
    #[error("no dense model is loaded; run scripts/fetch-model.sh")]
    NoModel,
}

impl From<EngineError> for AssetError {
    fn from(e: EngineError) -> Self {
        AssetError::Index(IndexError::Engine(e))
    }
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
    records: Records,
    running: Mutex<BTreeSet<String>>,
}

impl Assets {
    pub fn open(
        records: &Path,
        kb_dir: &Path,
        db: Arc<Database>,
        models: Arc<Models>,
        pipeline: Arc<Pipeline>,
    ) -> Result<Assets, AssetError> {
        Ok(Assets {
            db,
            models,
            pipeline,
            kb_dir: kb_dir.to_path_buf(),
            records: Records::open(records)?,
            running: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn names() -> impl Iterator<Item = &'static str> {
        ASSETS.iter().map(|a| a.name)
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Whether `asset` has anything to work from here: documents in its
    /// folder, or products in the catalog. Start-up only runs those, so a
    /// server without data creates no empty collections.
    pub fn has_input(&self, asset: &str) -> bool {
        match spec(asset).map(|s| s.source) {
            Ok(Source::Documents { folder }) => self.kb_dir.join(folder).is_dir(),
            Ok(Source::Catalog) => self
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
            .map(|a| {
                Ok(AssetInfo {
                    name: a.name,
                    collection: a.collection,
                    depends_on: a.upstream.into_iter().collect(),
                    last_run: self.records.runs(a.name, 1)?.into_iter().next(),
                    fresh_as_of: self.records.fresh_as_of(a.name),
                })
            })
            .collect()
    }

    /// When the last run of `asset` started, whatever its outcome.
    pub fn last_start(&self, asset: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.records.last_start(asset)
    }

    /// The last `limit` runs of `asset`, newest first.
    pub fn runs(&self, asset: &str, limit: usize) -> Result<Vec<Run>, AssetError> {
        spec(asset)?;
        Ok(self.records.runs(asset, limit)?)
    }

    /// Runs `asset` now and records the run. An asset whose upstream last
    /// failed is not run on its bad data: the refusal is recorded too.
    pub fn materialize(&self, asset: &str) -> Result<Run, AssetError> {
        self.run(spec(asset)?, &mut None)
    }

    /// Runs `assets` in order, each recorded as by [`Assets::materialize`],
    /// with one catalog sync for all the catalog assets among them (after
    /// a dropped file: `catalog_kb` and `pricing_kb`).
    pub fn materialize_all<'a>(
        &self,
        assets: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&'a str, Result<Run, AssetError>)> {
        let mut synced = None;
        assets
            .into_iter()
            .map(|name| (name, spec(name).and_then(|s| self.run(s, &mut synced))))
            .collect()
    }

    /// One run of `asset`. `synced` is the catalog sync this batch of runs
    /// already made, if any.
    fn run(&self, asset: &AssetSpec, synced: &mut Option<SyncReport>) -> Result<Run, AssetError> {
        let name = asset.name;
        if !self.running.lock().insert(name.to_string()) {
            return Err(AssetError::Running(name.to_string()));
        }
        let id = match self.records.start(name) {
            Ok(id) => id,
            Err(e) => {
                self.running.lock().remove(name);
                return Err(e.into());
            }
        };
        let result = match asset.upstream.map(|u| self.upstream_failed(u)) {
            Some(Ok(true)) => Err(AssetError::UpstreamFailed {
                asset: name.to_string(),
                upstream: asset.upstream.unwrap_or_default().to_string(),
            }),
            Some(Err(e)) => Err(e),
            _ => match asset.source {
                Source::Documents { folder } => self.documents(folder, asset.collection),
                Source::Catalog => self.catalog(asset.collection, synced),
            },
        };
        self.running.lock().remove(name);
        match &result {
            Ok(counts) => tracing::info!(
                asset = name,
                rows_out = counts.rows_out,
                "asset materialized"
            ),
            Err(e) => tracing::warn!(asset = name, error = %e, "asset materialization failed"),
        }
        self.records.finish(id, result.map_err(|e| e.to_string()))?;
        let run = self.records.runs(name, 1)?.into_iter().next();
        run.ok_or(AssetError::Records(rusqlite::Error::QueryReturnedNoRows))
    }

    fn upstream_failed(&self, upstream: &str) -> Result<bool, AssetError> {
        Ok(self
            .records
            .runs(upstream, 1)?
            .first()
            .is_some_and(|r| r.status == RunStatus::Failed))
    }

    /// `catalog_kb` and `pricing_kb`: catch the collections up with the
    /// catalog database. One sync serves both (`synced`), so its rows out
    /// are the points the asset's collection holds, what the asset
    /// produces, not what this run happened to write.
    fn catalog(
        &self,
        collection: &str,
        synced: &mut Option<SyncReport>,
    ) -> Result<Counts, AssetError> {
        let report = match synced {
            Some(report) => report.clone(),
            None => synced.insert(self.pipeline.sync()?).clone(),
        };
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

    /// A document knowledge base, through `pipeline::documents`.
    fn documents(&self, folder: &str, collection: &str) -> Result<Counts, AssetError> {
        let embedder = self.models.default_dense().ok_or(AssetError::NoModel)?;
        let report = index_documents(
            &self.db,
            &self.models,
            embedder.as_ref(),
            &self.kb_dir.join(folder),
            folder,
            collection,
        )?;
        Ok(Counts {
            rows_in: (report.chunks + report.problems) as u64,
            rows_out: report.chunks as u64,
            rows_rejected: report.problems as u64,
        })
    }
}
