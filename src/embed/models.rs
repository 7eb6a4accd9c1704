//! The models a server offers, found by name the way Qdrant matches them
//! (case-insensitively), with the embedding cache in front of every dense
//! model.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::cache::EmbedCache;
use super::local::LocalEmbedder;
use super::openai::{OpenAiClient, OpenAiConfig, OpenAiError};
use super::{Bm25, Bm25Options, EmbedError, Embedder, SparseVector};

/// Qdrant's name for its BM25 sparse model.
pub const BM25_MODEL: &str = "qdrant/bm25";
/// The default local model's name, as Qdrant Cloud Inference spells it.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Where the README's commands install the default model.
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

/// The embedding part of the server's configuration.
#[derive(Debug, Clone)]
pub struct ModelsConfig {
    /// A sentence-transformers directory; missing means "no local model".
    pub model_dir: PathBuf,
    /// The name clients use for the local model.
    pub model_name: String,
    /// CPU threads for local inference.
    pub threads: usize,
    /// BM25 language when a request's `options.language` is absent.
    /// Qdrant's own default is English; Helio's is Portuguese.
    pub bm25_language: String,
    /// OpenAI (or a compatible server) as a remote backend, when enabled.
    pub openai: Option<OpenAiConfig>,
    /// Embedding cache size in entries (0: off).
    pub cache_entries: usize,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
            model_name: DEFAULT_MODEL.into(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            bm25_language: "portuguese".into(),
            openai: None,
            cache_entries: 200_000,
        }
    }
}

/// The OpenAI models Helio knows, with their native dimensions.
const OPENAI_MODELS: [&str; 3] = [
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Dense,
    Sparse,
}

/// What `GET /models` style listings and error messages show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: ModelKind,
    pub dim: Option<usize>,
    pub backend: &'static str,
}

/// A model found by name.
pub enum Resolved {
    Dense(Arc<dyn Embedder>),
    Bm25,
}

/// An OpenAI model seen through the [`Embedder`] trait.
struct OpenAiEmbedder {
    client: Arc<OpenAiClient>,
    name: String,
    model: &'static str,
    dim: usize,
}

impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(
        &self,
        texts: &[&str],
        dimensions: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.client
            .embed(self.model, texts, dimensions)
            .map_err(|e| match e {
                OpenAiError::BadRequest { .. } | OpenAiError::InvalidInput(_) => {
                    EmbedError::BadInput(e.to_string())
                }
                other => EmbedError::Backend(other.to_string()),
            })
    }
}

pub struct Models {
    dense: Vec<Arc<dyn Embedder>>,
    bm25_language: String,
    cache: EmbedCache,
    /// Why the local model is absent, for error messages.
    local_missing: Option<String>,
}

impl Models {
    /// Loads what the configuration asks for. A missing local model is not
    /// fatal: the vector API and BM25 work without it, and the log (and
    /// every request naming it) says how to install it.
    pub fn load(config: &ModelsConfig, cache: EmbedCache) -> Models {
        let mut dense: Vec<Arc<dyn Embedder>> = Vec::new();
        let local_missing = match LocalEmbedder::load(
            &config.model_dir,
            &config.model_name,
            config.threads,
        ) {
            Ok(model) => {
                tracing::info!(
                    model = model.name(),
                    dir = %config.model_dir.display(),
                    dim = model.dim(),
                    max_seq_length = model.max_seq_length(),
                    threads = model.threads(),
                    "local embedding model loaded"
                );
                dense.push(Arc::new(model));
                None
            }
            Err(e) => {
                let msg = format!(
                    "the local model `{}` is not installed ({e:#}); install it with scripts/fetch-model.sh {}",
                    config.model_name,
                    config.model_dir.display()
                );
                tracing::warn!("{msg}; serving vectors and BM25 only");
                Some(msg)
            }
        };
        if let Some(openai) = &config.openai {
            let client = Arc::new(OpenAiClient::new(openai.clone()));
            for model in OPENAI_MODELS {
                let dim = super::openai::native_dimension(model).unwrap_or(1536);
                dense.push(Arc::new(OpenAiEmbedder {
                    client: client.clone(),
                    name: format!("openai/{model}"),
                    model,
                    dim,
                }));
            }
            tracing::info!(base_url = %openai.base_url, "OpenAI embedding backend enabled");
        }
        Models {
            dense,
            bm25_language: config.bm25_language.clone(),
            cache,
            local_missing,
        }
    }

    /// Every model this server can run.
    pub fn list(&self) -> Vec<ModelInfo> {
        let mut out: Vec<ModelInfo> = self
            .dense
            .iter()
            .map(|m| ModelInfo {
                name: m.name().to_string(),
                kind: ModelKind::Dense,
                dim: Some(m.dim()),
                backend: if m.name().starts_with("openai/") {
                    "openai"
                } else {
                    "local"
                },
            })
            .collect();
        out.push(ModelInfo {
            name: BM25_MODEL.into(),
            kind: ModelKind::Sparse,
            dim: None,
            backend: "local",
        });
        out
    }

    /// The default dense model, if one is loaded.
    pub fn default_dense(&self) -> Option<Arc<dyn Embedder>> {
        self.dense.first().cloned()
    }

    pub fn cache(&self) -> &EmbedCache {
        &self.cache
    }

    /// Finds a model by name, case-insensitively; an OpenAI model may be
    /// named with or without its `openai/` prefix, the local model with or
    /// without its organisation.
    pub fn resolve(&self, name: &str) -> Result<Resolved, EmbedError> {
        let wanted = name.trim().to_lowercase();
        if wanted == BM25_MODEL {
            return Ok(Resolved::Bm25);
        }
        let short = |s: &str| s.rsplit('/').next().unwrap_or(s).to_lowercase();
        let found = self
            .dense
            .iter()
            .find(|m| m.name().to_lowercase() == wanted)
            .or_else(|| {
                (!wanted.contains('/'))
                    .then(|| self.dense.iter().find(|m| short(m.name()) == wanted))
                    .flatten()
            });
        match found {
            Some(m) => Ok(Resolved::Dense(m.clone())),
            None => {
                let mut available: Vec<String> = self.list().into_iter().map(|m| m.name).collect();
                available.sort();
                let mut available = available.join(", ");
                if let Some(why) = &self.local_missing {
                    available.push_str(&format!(" ({why})"));
                }
                Err(EmbedError::UnknownModel {
                    model: name.to_string(),
                    available,
                })
            }
        }
    }

    /// `embedder` through the cache.
    pub fn embed_with(
        &self,
        embedder: &dyn Embedder,
        texts: &[&str],
        dimensions: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let cache_key = match dimensions {
            Some(d) => format!("{}@{d}", embedder.name()),
            None => embedder.name().to_string(),
        };
        let mut out = self.cache.get_many(&cache_key, texts);
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let todo: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let fresh = embedder.embed(&todo, dimensions)?;
            if fresh.len() != todo.len() {
                return Err(EmbedError::Backend(format!(
                    "model `{}` returned {} vectors for {} texts",
                    embedder.name(),
                    fresh.len(),
                    todo.len()
                )));
            }
            let entries: Vec<(&str, &[f32])> = todo
                .iter()
                .zip(&fresh)
                .map(|(t, v)| (*t, v.as_slice()))
                .collect();
            self.cache.put_many(&cache_key, &entries);
            for (i, v) in missing.into_iter().zip(fresh) {
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().map(|v| v.unwrap_or_default()).collect())
    }

    /// A BM25 encoder for a request's `options` (a JSON object or null).
    pub fn bm25(&self, options: Option<&Value>) -> Result<Bm25, EmbedError> {
        let options: Bm25Options = match options {
            None | Some(Value::Null) => Bm25Options::default(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                EmbedError::BadInput(format!("invalid options for `{BM25_MODEL}`: {e}"))
            })?,
        };
        Bm25::new(&options, &self.bm25_language).map_err(|e| EmbedError::BadInput(e.to_string()))
    }

    /// BM25 vectors for `texts`.
    pub fn embed_sparse(
        &self,
        texts: &[&str],
        options: Option<&Value>,
    ) -> Result<Vec<SparseVector>, EmbedError> {
        let bm25 = self.bm25(options)?;
        Ok(texts.iter().map(|t| bm25.embed(t)).collect())
    }
}
