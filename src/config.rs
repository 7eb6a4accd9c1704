//! The one configuration struct. Sources, lowest priority first: the
//! config file (`helio.toml`, or `--config`), `HELIO_*` environment
//! variables, command-line flags.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::embed::models::ModelsConfig;
use crate::embed::openai::OpenAiConfig;
use crate::engine::index::hnsw::BuilderKind;

/// Settings of `helio serve`. Every field is optional here so that a
/// value not given on the command line or in the environment can come from
/// the file; [`Config::resolve`] fills in defaults.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// Address to listen on. Off-box exposure is a choice: default 127.0.0.1.
    #[arg(long, env = "HELIO_HOST")]
    pub host: Option<String>,
    /// REST port (Qdrant's default).
    #[arg(long, env = "HELIO_PORT")]
    pub port: Option<u16>,
    /// Seconds to keep retrying while the address is in use (default 10;
    /// 0 gives up at once). A process killed with `kill -9` while a thread
    /// is inside fsync lives on a moment, listening socket included, so a
    /// supervisor's immediate restart would otherwise fail.
    #[arg(long, env = "HELIO_BIND_RETRY_SECS")]
    pub bind_retry_secs: Option<u64>,
    /// Storage directory.
    #[arg(long, env = "HELIO_STORAGE")]
    pub storage: Option<PathBuf>,
    /// Data directory of the catalog pipeline: CSVs dropped into its
    /// `inbox/` are ingested, then moved to `processed/` or `rejected/`.
    #[arg(long, env = "HELIO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// fsync every acknowledged write, so it also survives a power loss.
    /// Off, writes still survive a killed process but the last second or so
    /// may be lost if the machine loses power.
    #[arg(long, env = "HELIO_FSYNC")]
    pub fsync: Option<bool>,
    /// Largest request body in bytes (Qdrant's default: 32 MiB).
    #[arg(long, env = "HELIO_MAX_REQUEST_SIZE")]
    pub max_request_size: Option<usize>,
    /// Log filter, e.g. `info` or `helio=debug`.
    #[arg(long, env = "HELIO_LOG")]
    pub log: Option<String>,
    /// A knowledge-base asset's schedule, `ASSET=CRON` (`ASSET=off` to
    /// disable); repeatable. Default: every asset at `0 2 * * *`.
    #[arg(long = "schedule", env = "HELIO_SCHEDULES", value_delimiter = ';')]
    #[serde(default)]
    pub schedules: Vec<String>,
    /// Time zone the schedules are read in (IANA name).
    #[arg(long, env = "HELIO_SCHEDULE_TZ")]
    pub schedule_tz: Option<String>,
    /// HNSW construction: `native` (Helio's own, parallel; default) or
    /// `hnsw-rs` (the hnsw_rs crate). Both produce the same frozen graph.
    #[arg(long, env = "HELIO_GRAPH_BUILDER", value_enum)]
    pub graph_builder: Option<BuilderKind>,
    /// Read from the file's `[embed]` table, not `[serve]`.
    #[command(flatten)]
    #[serde(skip)]
    pub embed: EmbedArgs,
    /// Read from the file's `[assistant]` table, not `[serve]`.
    #[command(flatten)]
    #[serde(skip)]
    pub assistant: AssistantArgs,
}

/// Which model writes the assistant's answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    /// No model: answers composed from the sources.
    #[default]
    Extractive,
    /// Any OpenAI-compatible chat-completions server (--llm-url).
    Openai,
    /// A GGUF model inside this process (--chat-model).
    Gguf,
}

/// The assistant's model settings.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantArgs {
    /// Who writes the assistant's answers: `extractive` (default, no
    /// model), `openai` (an OpenAI-compatible server at --llm-url) or
    /// `gguf` (the --chat-model file, in this process).
    #[arg(long, env = "HELIO_LLM", value_enum)]
    pub llm: Option<LlmBackend>,
    /// Base URL of the OpenAI-compatible server, up to the version
    /// (`http://127.0.0.1:11434/v1` for Ollama). The key is read from
    /// HELIO_LLM_API_KEY, else OPENAI_API_KEY.
    #[arg(long, env = "HELIO_LLM_URL")]
    pub llm_url: Option<String>,
    /// Model name sent to that server (default `default`).
    #[arg(long, env = "HELIO_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Seconds an answer may take before the extractive one is given
    /// instead (default 30).
    #[arg(long, env = "HELIO_LLM_TIMEOUT_SECS")]
    pub llm_timeout_secs: Option<u64>,
    /// Most tokens a model may write per answer (default 384).
    #[arg(long, env = "HELIO_LLM_MAX_TOKENS")]
    pub llm_max_tokens: Option<usize>,
    /// Sampling temperature (default 0: the same answer every time).
    #[arg(long, env = "HELIO_LLM_TEMPERATURE")]
    pub llm_temperature: Option<f32>,
    /// A GGUF chat model (llama architecture: SmolLM2, TinyLlama, Llama
    /// 3.x; Qwen2) loaded in this process and served as
    /// `/v1/chat/completions`; the model of `--llm gguf` (default
    /// models/SmolLM2-135M-Instruct.Q4_1.gguf, from scripts/fetch-llm.sh).
    #[arg(long, env = "HELIO_CHAT_MODEL")]
    pub chat_model: Option<PathBuf>,
}

/// Resolved [`AssistantArgs`].
#[derive(Debug, Clone)]
pub struct AssistantConfig {
    pub backend: LlmBackend,
    pub openai: crate::helio::llm::openai::OpenAiChatConfig,
    /// Loaded when set (always set for `gguf`).
    pub chat_model: Option<PathBuf>,
    pub generation: crate::helio::llm::Generation,
}

impl Default for AssistantConfig {
    fn default() -> Self {
        AssistantArgs::default().resolve(AssistantArgs::default())
    }
}

/// Where scripts/fetch-llm.sh installs the small default chat model.
pub const DEFAULT_CHAT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

impl AssistantArgs {
    pub fn resolve(self, file: AssistantArgs) -> AssistantConfig {
        let backend = self.llm.or(file.llm).unwrap_or_default();
        let mut openai = crate::helio::llm::openai::OpenAiChatConfig::default();
        if let Some(url) = self.llm_url.or(file.llm_url) {
            openai.base_url = url;
        }
        if let Some(model) = self.llm_model.or(file.llm_model) {
            openai.model = model;
        }
        if let Some(secs) = self.llm_timeout_secs.or(file.llm_timeout_secs) {
            openai.timeout = std::time::Duration::from_secs(secs.max(1));
        }
        openai.api_key = ["HELIO_LLM_API_KEY", "OPENAI_API_KEY"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let chat_model = self
            .chat_model
            .or(file.chat_model)
            .or_else(|| (backend == LlmBackend::Gguf).then(|| PathBuf::from(DEFAULT_CHAT_MODEL)));
        let generation = crate::helio::llm::Generation {
            max_tokens: self.llm_max_tokens.or(file.llm_max_tokens).unwrap_or(384),
            temperature: self.llm_temperature.or(file.llm_temperature).unwrap_or(0.0),
            ..Default::default()
        };
        AssistantConfig {
            backend,
            openai,
            chat_model,
            generation,
        }
    }
}

/// A one-off restore `helio serve` does before serving. Flags and
/// environment only: a restore in `helio.toml` would run at every start.
#[derive(Debug, Clone, Default, Args)]
pub struct RestoreArgs {
    /// Full-storage snapshot (a file from `POST /snapshots`) whose
    /// collections and aliases are restored into the storage before the
    /// server starts. A damaged file stops the start-up and changes nothing.
    #[arg(long, env = "HELIO_STORAGE_SNAPSHOT")]
    pub storage_snapshot: Option<PathBuf>,
    /// Let --storage-snapshot replace collections and aliases of the same
    /// names; without it, a name already taken stops the start-up and
    /// changes nothing. Other collections are kept either way. (Not a
    /// clap `requires`: that would also refuse HELIO_FORCE_SNAPSHOT=false.)
    #[arg(long, env = "HELIO_FORCE_SNAPSHOT")]
    pub force_snapshot: bool,
}

/// Embedding settings, shared by `helio serve` and `helio embed`.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedArgs {
    /// The local model: a sentence-transformers directory
    /// (default models/all-MiniLM-L6-v2, installed by scripts/fetch-model.sh).
    #[arg(long, env = "HELIO_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// The name clients use for the local model
    /// (default sentence-transformers/all-MiniLM-L6-v2).
    #[arg(long, env = "HELIO_MODEL_NAME")]
    pub model_name: Option<String>,
    /// CPU threads for local inference (default: all cores).
    #[arg(long, env = "HELIO_EMBED_THREADS")]
    pub embed_threads: Option<usize>,
    /// BM25 language when a request gives none (default portuguese;
    /// Qdrant's own default is english).
    #[arg(long, env = "HELIO_BM25_LANGUAGE")]
    pub bm25_language: Option<String>,
    /// Entries kept in the embedding cache (default 200000; 0 turns it off).
    #[arg(long, env = "HELIO_EMBED_CACHE_ENTRIES")]
    pub embed_cache_entries: Option<usize>,
    /// Offer OpenAI's embedding models (the key comes from OPENAI_API_KEY).
    #[arg(long, env = "HELIO_OPENAI")]
    pub openai: Option<bool>,
    /// OpenAI-compatible API base URL (default https://api.openai.com/v1).
    #[arg(long, env = "HELIO_OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
}

impl EmbedArgs {
    /// Flags and environment over the file's values, then defaults.
    pub fn resolve(self, file: EmbedArgs) -> ModelsConfig {
        let d = ModelsConfig::default();
        let openai = self.openai.or(file.openai).unwrap_or(false).then(|| {
            let mut c = OpenAiConfig {
                api_key: std::env::var("OPENAI_API_KEY")
                    .ok()
                    .filter(|k| !k.is_empty()),
                ..OpenAiConfig::default()
            };
            if let Some(url) = self.openai_base_url.or(file.openai_base_url) {
                c.base_url = url;
            }
            c
        });
        ModelsConfig {
            model_dir: self.model_dir.or(file.model_dir).unwrap_or(d.model_dir),
            model_name: self.model_name.or(file.model_name).unwrap_or(d.model_name),
            threads: self
                .embed_threads
                .or(file.embed_threads)
                .unwrap_or(d.threads)
                .max(1),
            bm25_language: self
                .bm25_language
                .or(file.bm25_language)
                .unwrap_or(d.bm25_language),
            openai,
            cache_entries: self
                .embed_cache_entries
                .or(file.embed_cache_entries)
                .unwrap_or(d.cache_entries),
        }
    }
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// How long `helio serve` retries binding a port still in use.
    pub bind_retry: std::time::Duration,
    pub storage: PathBuf,
    pub data_dir: PathBuf,
    pub fsync: bool,
    pub max_request_size: usize,
    pub log: String,
    /// Asset → cron expression (`off` disables), every asset listed.
    pub schedules: Vec<(String, String)>,
    pub schedule_tz: String,
    pub graph_builder: BuilderKind,
    pub models: ModelsConfig,
    pub assistant: AssistantConfig,
    /// Restored before serving; see [`RestoreArgs`].
    pub restore: RestoreArgs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 6333,
            bind_retry: std::time::Duration::from_secs(10),
            storage: PathBuf::from("./storage"),
            data_dir: PathBuf::from("./data"),
            fsync: true,
            max_request_size: 32 * 1024 * 1024,
            log: "info".into(),
            schedules: crate::assets::Assets::names()
                .map(|a| {
                    (
                        a.to_string(),
                        crate::assets::schedule::default_cron(a).to_string(),
                    )
                })
                .collect(),
            schedule_tz: crate::assets::schedule::DEFAULT_TZ.to_string(),
            graph_builder: BuilderKind::default(),
            models: ModelsConfig::default(),
            assistant: AssistantConfig::default(),
            restore: RestoreArgs::default(),
        }
    }
}

/// The `[serve]` table of `helio.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    serve: ServeArgs,
    #[serde(default)]
    embed: EmbedArgs,
    #[serde(default)]
    assistant: AssistantArgs,
}

impl Config {
    /// Merges file < env/flags (clap already merged env under flags).
    /// A missing default file is fine; a missing explicit one is an error.
    pub fn resolve(args: ServeArgs, file: Option<&Path>) -> anyhow::Result<Config> {
        let FileConfig {
            serve: from_file,
            embed: embed_file,
            assistant: assistant_file,
        } = load_file(file)?;
        let d = Config::default();
        Ok(Config {
            host: args.host.or(from_file.host).unwrap_or(d.host),
            port: args.port.or(from_file.port).unwrap_or(d.port),
            bind_retry: args
                .bind_retry_secs
                .or(from_file.bind_retry_secs)
                .map_or(d.bind_retry, std::time::Duration::from_secs),
            storage: args.storage.or(from_file.storage).unwrap_or(d.storage),
            data_dir: args.data_dir.or(from_file.data_dir).unwrap_or(d.data_dir),
            fsync: args.fsync.or(from_file.fsync).unwrap_or(d.fsync),
            max_request_size: args
                .max_request_size
                .or(from_file.max_request_size)
                .unwrap_or(d.max_request_size),
            log: args.log.or(from_file.log).unwrap_or(d.log),
            schedules: merge_schedules(d.schedules, &from_file.schedules, &args.schedules)?,
            schedule_tz: args
                .schedule_tz
                .or(from_file.schedule_tz)
                .unwrap_or(d.schedule_tz),
            graph_builder: args
                .graph_builder
                .or(from_file.graph_builder)
                .unwrap_or(d.graph_builder),
            models: args.embed.resolve(embed_file),
            assistant: args.assistant.resolve(assistant_file),
            restore: RestoreArgs::default(),
        })
    }
}

/// Applies `ASSET=CRON` overrides, the file's first, then the flags'.
fn merge_schedules(
    mut schedules: Vec<(String, String)>,
    file: &[String],
    flags: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    for entry in file.iter().chain(flags) {
        let (asset, cron) = entry
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("schedule `{entry}` is not ASSET=CRON"))?;
        let slot = schedules
            .iter_mut()
            .find(|(a, _)| a == asset.trim())
            .ok_or_else(|| anyhow::anyhow!("schedule `{entry}`: no asset `{}`", asset.trim()))?;
        slot.1 = cron.trim().to_string();
    }
    Ok(schedules)
}

/// The embedding settings alone, for `helio embed`.
pub fn resolve_embed(args: EmbedArgs, file: Option<&Path>) -> anyhow::Result<ModelsConfig> {
    Ok(args.resolve(load_file(file)?.embed))
}

/// The explicit file, else ./helio.toml when present, else nothing. A
/// missing default file is fine; a missing explicit one is an error.
fn load_file(file: Option<&Path>) -> anyhow::Result<FileConfig> {
    match file {
        Some(path) => read_file(path),
        None if Path::new("helio.toml").exists() => read_file(Path::new("helio.toml")),
        None => Ok(FileConfig::default()),
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helio.toml");
        std::fs::write(&path, "[serve]\nport = 7000\nhost = \"0.0.0.0\"\n").unwrap();
        let args = ServeArgs {
            port: Some(7001),
            ..Default::default()
        };
        let c = Config::resolve(args, Some(&path)).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.host, "0.0.0.0");
        assert!(c.fsync);
        assert!(
            Config::resolve(ServeArgs::default(), Some(&dir.path().join("missing.toml"))).is_err()
        );
    }

    #[test]
    fn schedules_default_to_two_am_and_take_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helio.toml");
        std::fs::write(
            &path,
            "[serve]\nschedules = [\"sales_kb=0 6 * * *\"]\nschedule_tz = \"UTC\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            schedules: vec!["catalog_kb=off".into()],
            ..Default::default()
        };
        let c = Config::resolve(args, Some(&path)).unwrap();
        let get = |a: &str| c.schedules.iter().find(|(x, _)| x == a).unwrap().1.clone();
        assert_eq!(get("sales_kb"), "0 6 * * *");
        assert_eq!(get("catalog_kb"), "off");
        assert_eq!(get("regulatory_kb"), "0 2 * * *");
        assert_eq!(get("tariffs"), "0 6 * * *");
        assert_eq!(c.schedule_tz, "UTC");
        let bad = ServeArgs {
            schedules: vec!["nope=0 1 * * *".into()],
            ..Default::default()
        };
        assert!(Config::resolve(bad, Some(&path)).is_err());
    }
}
