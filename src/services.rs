//! What Helio runs on, opened in one place for `helio serve` and every
//! command: the engine's database, the embedding models (with their
//! cache), the catalog pipeline and the knowledge-base assets.
//!
//! The storage and data directories hold these files, named here and
//! nowhere else:
//!
//! ```text
//! storage/            the engine's collections (Database::open), and
//!   catalog.sqlite          the pipeline's catalog: products, prices, ingest log
//!   assets.sqlite           the assets' materialization records
//!   embedding-cache.sqlite  the embedding cache
//! data/
//!   inbox/ processed/ rejected/   the drop folder (pipeline::inbox)
//!   kb/<kb>/                      the document knowledge bases
//! ```
//!
//! [`Services::open`] opens everything. A command that needs only a part
//! opens the parts in the same order through the same functions:
//! [`Services::open_database`] (so `helio ingest` can tell a storage a
//! running server holds), then [`Services::open_models`] and
//! [`Services::open_pipeline`], or [`Services::on_database`] for the rest.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::assets::Assets;
use crate::config::Config;
use crate::embed::{EmbedCache, Models};
use crate::engine::{Database, EngineError, EngineOptions};
use crate::pipeline::Pipeline;

/// The catalog database, in the storage directory.
const CATALOG_DB: &str = "catalog.sqlite";
/// The assets' materialization records, in the storage directory.
const ASSET_RECORDS: &str = "assets.sqlite";
/// The embedding cache, in the storage directory.
const EMBEDDING_CACHE: &str = "embedding-cache.sqlite";
/// The document knowledge bases, in the data directory.
const KB_DIR: &str = "kb";

/// The long-lived parts, as cheap-to-clone handles.
pub struct Services {
    pub db: Arc<Database>,
    pub models: Arc<Models>,
    pub pipeline: Arc<Pipeline>,
    pub assets: Arc<Assets>,
}

impl Services {
    /// Opens everything for `config`.
    pub fn open(config: &Config) -> anyhow::Result<Services> {
        let db = Self::open_database(config)
            .with_context(|| format!("opening storage at {}", config.storage.display()))?;
        Self::on_database(config, Arc::new(db))
    }

    /// The engine's storage alone. `EngineError::Locked` means another
    /// process (a running server) holds it.
    pub fn open_database(config: &Config) -> Result<Database, EngineError> {
        let options = EngineOptions {
            fsync: config.fsync,
            builder: config.graph_builder,
        };
        Database::open(&config.storage, options)
    }

    /// Everything else, over an opened (and possibly just restored)
    /// database.
    pub fn on_database(config: &Config, db: Arc<Database>) -> anyhow::Result<Services> {
        let models = Self::open_models(config)?;
        let pipeline = Arc::new(Self::open_pipeline(config, db.clone(), models.clone())?);
        let assets = Assets::open(
            &config.storage.join(ASSET_RECORDS),
            &config.data_dir.join(KB_DIR),
            db.clone(),
            models.clone(),
            pipeline.clone(),
        )
        .context("opening the asset records")?;
        Ok(Services {
            db,
            models,
            pipeline,
            assets: Arc::new(assets),
        })
    }

    /// The embedding models, behind the persistent cache.
    pub fn open_models(config: &Config) -> anyhow::Result<Arc<Models>> {
        let cache_path = config.storage.join(EMBEDDING_CACHE);
        let cache = EmbedCache::open(&cache_path, config.models.cache_entries)
            .with_context(|| format!("opening the embedding cache {}", cache_path.display()))?;
        Ok(Arc::new(Models::load(&config.models, cache)))
    }

    /// The catalog pipeline: the catalog database and the drop folder.
    pub fn open_pipeline(
        config: &Config,
        db: Arc<Database>,
        models: Arc<Models>,
    ) -> anyhow::Result<Pipeline> {
        Pipeline::open(
            &config.storage.join(CATALOG_DB),
            &config.data_dir,
            db,
            models,
        )
        .with_context(|| {
            format!(
                "opening the catalog pipeline in {}",
                config.data_dir.display()
            )
        })
    }

    /// The drop folder a running server watches, for commands that hand
    /// it files without opening the pipeline.
    pub fn inbox_dir(config: &Config) -> PathBuf {
        crate::pipeline::inbox::Inbox::dir(&config.data_dir)
    }
}
