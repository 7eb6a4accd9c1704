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
//! * **Our own register-tiled matrix kernel** (`kernels::avx2::tile_avx2`, AVX2+FMA+F16C, picked at run time) for the dense
//!   layers and both attention products. Weights are re-laid out at load time into panels of 16 output columns,
//!   so a tile streams them from one contiguous block, and the rows they multiply are regrouped six at a time
//!   (`PackedRows`) so the tile reads them as one sequential stream too. Measured on the 2-core EPYC (Zen 3)
//!   dev machine it beats candle's matmul engine (the `gemm` crate) by ~10% on batches and ~2x on a single
//!   query. A single query is bound by reading the weights, which do not fit the L3 cache: splitting the
//!   columns over the threads lets each core stream its share, and keeping them in half precision (21 MB
//!   instead of 42, widened to f32 as they are loaded; all arithmetic stays f32) halves what there is to
//!   read. The vectors move by less than 1e-6 in cosine (see the tests).
//! * **Portable fallback**: on CPUs without AVX2/FMA/F16C the same products go through `gemm` on f32
//!   weights, which picks its own SIMD at run time ([`Kernels::Portable`], also covered by the tests).
//! * **Everything else** (GELU, residual + LayerNorm, softmax, pooling) is a few fused row-wise loops written
//!   so the compiler vectorises them, compiled a second time for AVX2 (see `kernels::with_simd`): Rust targets
//!   baseline x86-64 (SSE2) unless told `-C target-cpu`, and one binary must run everywhere.
//! * **candle** (`candle-core`) loads the checkpoint: safetensors parsing, shape checks, and conversion of
//!   f16/bf16/f64 checkpoints to f32. The candle-transformers `BertModel` gives the same vectors but ran at
//!   47 texts/s on 2 threads here (vs ~100 for this code then) and 9.8 ms for one query (vs ~4.5 ms).
//!
//! # Threads
//!
//! Each embedder owns two thread pools (`pools.rs`): calls of at most [`INTERACTIVE_TEXTS`] texts run on
//! the interactive one, bigger ones on a bulk pool at Linux's `SCHED_IDLE` priority, so a query never
//! queues behind a batch. Everything parallel runs on the current pool; the hot path uses no candle op.
//!
//! # Layout
//! - this file: [`LocalEmbedder`] (loading a model directory, `embed`, pooling) and its
//!   [`Embedder`] impl;
//! - `config.rs`: the sentence-transformers configuration files;
//! - `checkpoint.rs`: the safetensors checkpoint (through candle-core) into a `Bert`;
//! - `bert.rs`: the forward pass over packed sequences;
//! - `kernels/`: the AVX2 and portable kernels and the run-time choice between them
//!   ([`Kernels`], `HELIO_PORTABLE_KERNELS=1`), and the row-wise passes;
//! - `activation.rs`: GELU and friends;
//! - `pools.rs`: the interactive and the bulk thread pools;
//! - `error.rs`: [`LocalError`].

mod activation;
mod bert;
mod checkpoint;
mod config;
mod error;
mod kernels;
mod pools;

use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use self::bert::{Bert, Scratch};
use self::config::{read_json, BertConfig, ModuleEntry, Pooling, SentenceBertConfig};
use self::kernels::MC;
use self::pools::Pools;
use super::{EmbedError, Embedder};

pub use self::error::LocalError;
pub use self::kernels::Kernels;
pub use self::pools::INTERACTIVE_TEXTS;

type Result<T> = std::result::Result<T, LocalError>;

/// Upper bound on the tokens of one forward pass. A call with more is split into chunks of consecutive texts.
/// It bounds the scratch memory (~15 KB per token) and keeps the working set cache-friendly; 2048 rows are
/// already plenty for gemm to reach full speed.
const MAX_CHUNK_TOKENS: usize = 2048;

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
    /// Calls of at most [`INTERACTIVE_TEXTS`] texts run on one, bigger ones on the other.
    pools: Pools,
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
            .field("kernels", &self.bert.kernels)
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

    /// [`LocalEmbedder::load`] with the given kernels rather than the detected ones (to compare
    /// them); the AVX2 kernels on a CPU without AVX2, FMA and F16C are an error.
    pub fn load_with(
        dir: &Path,
        name: &str,
        threads: usize,
        kernels: Kernels,
    ) -> Result<LocalEmbedder> {
        if !kernels.available() {
            return Err(LocalError::KernelsUnavailable);
        }
        if !dir.is_dir() {
            return Err(LocalError::NoDirectory(dir.to_path_buf()));
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
                return Err(LocalError::Unsupported {
                    path: modules_path,
                    what: format!(
                        "module type {} is not supported (only Transformer, Pooling, Normalize)",
                        m.kind
                    ),
                });
            }
        }
        let no_module = |module| LocalError::NoModule {
            path: modules_path.clone(),
            module,
        };
        let transformer = find("Transformer").ok_or_else(|| no_module("Transformer"))?;
        let pooling_module = find("Pooling").ok_or_else(|| no_module("Pooling"))?;
        let normalize = find("Normalize").is_some();

        let model_dir = dir.join(&transformer.path);
        let config: BertConfig = read_json(&model_dir.join("config.json"))?;
        let activation = config.validate(&model_dir.join("config.json"))?;

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
            return Err(LocalError::Missing {
                path: tokenizer_path,
                note: "",
            });
        }
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|error| LocalError::Tokenizer {
                path: tokenizer_path.clone(),
                error,
            })?;
        // tokenizer.json often carries its own settings (all-MiniLM-L6-v2's: truncate at 128, pad to 128).
        // sentence-transformers overrides them: truncate at max_seq_length, and we pack instead of padding.
        tokenizer.with_padding(None);
        let mut counter = tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|error| LocalError::TokenizerSettings {
                path: tokenizer_path.clone(),
                what: None,
                error,
            })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|error| LocalError::TokenizerSettings {
                path: tokenizer_path.clone(),
                what: Some(max_seq_length),
                error,
            })?;

        let weights_path = model_dir.join("model.safetensors");
        if !weights_path.is_file() {
            return Err(LocalError::Missing {
                path: weights_path,
                note: " (only safetensors checkpoints are read)",
            });
        }
        let bert = Bert::load(&weights_path, &config, activation, kernels)?;

        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let pools = Pools::new(threads)?;

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
            pools,
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

    /// The kernels this embedder runs.
    pub fn kernels(&self) -> Kernels {
        self.bert.kernels
    }

    /// Cores this embedder uses at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Embeds `texts`, returning one vector per text, in order.
    ///
    /// Any number of texts is fine: they are processed in chunks of at most [`MAX_CHUNK_TOKENS`] tokens.
    /// Empty and whitespace-only texts are valid (they become `[CLS] [SEP]`, as in sentence-transformers).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pools
            .for_texts(texts.len())
            .install(|| self.embed_in_pool(texts))
    }

    fn embed_in_pool(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = if self.lower_case {
            let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
            self.tokenizer
                .encode_batch_fast(lowered.iter().map(String::as_str).collect(), true)
        } else {
            self.tokenizer.encode_batch_fast(texts.to_vec(), true)
        }
        .map_err(LocalError::Tokenize)?;
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
            .collect::<Result<_>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Embeds tokenised texts, splitting each product over `threads` threads of the current pool.
    fn embed_ids(&self, ids: &[&[u32]], threads: usize) -> Result<Vec<Vec<f32>>> {
        let mut scratch = self
            .scratch
            .lock()
            .map_err(|_| LocalError::ScratchPoisoned)?
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

impl Embedder for LocalEmbedder {
    fn name(&self) -> &str {
        LocalEmbedder::name(self)
    }

    fn dim(&self) -> usize {
        LocalEmbedder::dim(self)
    }

    fn embed(
        &self,
        texts: &[&str],
        dimensions: Option<usize>,
    ) -> std::result::Result<Vec<Vec<f32>>, EmbedError> {
        if let Some(d) = dimensions {
            if d != LocalEmbedder::dim(self) {
                return Err(EmbedError::BadInput(format!(
                    "model `{}` produces {}-dimensional vectors and cannot shorten them (dimensions: {d})",
                    LocalEmbedder::name(self),
                    LocalEmbedder::dim(self)
                )));
            }
        }
        LocalEmbedder::embed(self, texts).map_err(|e| EmbedError::Backend(e.to_string()))
    }

    fn token_count(&self, text: &str) -> usize {
        LocalEmbedder::token_count(self, text)
    }

    fn max_tokens(&self) -> Option<usize> {
        Some(LocalEmbedder::max_seq_length(self))
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};

    use serde::Deserialize;

    use super::*;

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
        // The detected kernels, or the portable ones under HELIO_PORTABLE_KERNELS=1.
        assert_eq!(e.kernels(), Kernels::detect());
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
        assert_eq!(portable.kernels(), Kernels::Portable);
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
}
