//! Text to vectors: the local sentence-transformers model (candle), BM25
//! sparse vectors computed as Qdrant computes them, and OpenAI as an opt-in
//! remote backend. The server's inference (Qdrant `Document`s in upserts and
//! queries), `/v1/embeddings` and `helio embed` all go through [`Models`].
//!
//! Nothing here knows about HTTP routes; [`EmbedError`] says what went
//! wrong and the API maps it to a status once.

pub mod bm25;
pub mod cache;
pub mod local;
pub mod models;
pub mod openai;

pub use bm25::{Bm25, Bm25Options};
pub use cache::EmbedCache;
pub use models::{ModelInfo, ModelKind, Models, ModelsConfig};

/// A dense text embedder. Implementations are shared between request
/// threads, so `embed` takes `&self` and must be safe to call concurrently.
pub trait Embedder: Send + Sync {
    /// The model's canonical name, as clients send it.
    fn name(&self) -> &str;
    /// Length of every vector `embed` returns (before any `dimensions`
    /// truncation a backend supports).
    fn dim(&self) -> usize;
    /// One vector per text, in input order.
    fn embed(&self, texts: &[&str], dimensions: Option<usize>)
        -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Tokens `text` counts as for this model, for usage reports. The
    /// default is a word count, for backends whose tokenizer Helio lacks.
    fn token_count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
    /// Tokens the model reads of a text; the rest is cut. `None` when the
    /// backend does not say.
    fn max_tokens(&self) -> Option<usize> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The request names a model this server doesn't have.
    #[error("Wrong input: model `{model}` is not available on this server; available models: {available}")]
    UnknownModel { model: String, available: String },
    /// The request is wrong (bad options, empty input, unsupported
    /// `dimensions`): the client can fix it.
    #[error("Wrong input: {0}")]
    BadInput(String),
    /// The backend is there but failed or could not be reached (an
    /// OpenAI outage, a rejected key): not the client's fault.
    #[error("Embedding backend error: {0}")]
    Backend(String),
}

/// A sparse vector: `indices` sorted ascending without duplicates,
/// `values` aligned with them.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}
