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
use crate::config::LlmBackend;
use crate::embed::{EmbedCache, Models};
use crate::engine::{Database, EngineError, EngineOptions};
use crate::helio::conversation::Conversations;
use crate::helio::llm::openai::OpenAiChat;
use crate::helio::llm::{load_gguf, Llm};
use crate::helio::retrieve::Retriever;
use crate::helio::Assistant;
use crate::pipeline::Pipeline;

/// The catalog database, in the storage directory.
const CATALOG_DB: &str = "catalog.sqlite";
/// The assets' materialization records, in the storage directory.
const ASSET_RECORDS: &str = "assets.sqlite";
/// The embedding cache, in the storage directory.
const EMBEDDING_CACHE: &str = "embedding-cache.sqlite";
/// The assistant's conversations, in the storage directory.
const CONVERSATIONS: &str = "conversations.sqlite";
/// The document knowledge bases, in the data directory.
const KB_DIR: &str = "kb";

/// The long-lived parts, as cheap-to-clone handles.
pub struct Services {
    pub db: Arc<Database>,
    pub models: Arc<Models>,
    pub pipeline: Arc<Pipeline>,
    pub assets: Arc<Assets>,
    pub assistant: Arc<Assistant>,
    /// The in-process chat model, when one is configured: the `gguf`
    /// backend's model, served as `/v1/chat/completions` too.
    pub chat: Option<Arc<dyn Llm>>,
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
        let chat = Self::open_chat_model(config)?;
        let assistant = Arc::new(Self::open_assistant(
            config,
            db.clone(),
            models.clone(),
            chat.clone(),
        )?);
        Ok(Services {
            db,
            models,
            pipeline,
            assets: Arc::new(assets),
            assistant,
            chat,
        })
    }

    /// The in-process chat model, when the configuration names one. A
    /// configured model that does not load stops the start-up: the
    /// operator asked for it.
    pub fn open_chat_model(config: &Config) -> anyhow::Result<Option<Arc<dyn Llm>>> {
        let Some(path) = &config.assistant.chat_model else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let llm = load_gguf(path).with_context(|| {
            format!(
                "loading the chat model {} (install the default one with scripts/fetch-llm.sh)",
                path.display()
            )
        })?;
        tracing::info!(model = llm.model(), file = %path.display(), ms = started.elapsed().as_millis() as u64, "chat model loaded");
        Ok(Some(llm))
    }

    /// The assistant over the engine and the models, with the configured
    /// backend.
    pub fn open_assistant(
        config: &Config,
        db: Arc<Database>,
        models: Arc<Models>,
        chat: Option<Arc<dyn Llm>>,
    ) -> anyhow::Result<Assistant> {
        let a = &config.assistant;
        let llm: Option<Arc<dyn Llm>> = match a.backend {
            LlmBackend::Extractive => None,
            LlmBackend::Openai => Some(Arc::new(OpenAiChat::new(a.openai.clone()))),
            LlmBackend::Gguf => Some(chat.context("the gguf backend needs --chat-model")?),
        };
        let path = config.storage.join(CONVERSATIONS);
        let conversations = Conversations::open(&path, config.fsync)
            .with_context(|| format!("opening {}", path.display()))?;
        tracing::info!(
            backend = llm.as_ref().map_or("extractive", |l| l.backend()),
            "assistant ready"
        );
        Ok(Assistant::new(
            Retriever::new(db, models),
            llm,
            a.generation.clone(),
            conversations,
        ))
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
