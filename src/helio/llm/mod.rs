//! The LLM seam: one trait, [`Llm`], behind which the assistant's answers
//! are written. Three backends implement it, chosen in config:
//! * `extractive` ([`super::extractive`]): no model at all; the answer is
//!   composed from the sources. It is also the fallback of the others.
//! * `openai` ([`openai`]): any server speaking OpenAI's chat completions
//!   (OpenAI, Ollama, llama.cpp's server, vLLM, or a second Helio).
//! * `gguf` ([`gguf`]): a quantized model inside this process, through
//!   `candle-transformers`; Helio also serves it as `/v1/chat/completions`.
//!
//! Calls are blocking (run them on the blocking pool): both real backends
//! spend their time in a socket read or a matrix product, and a callback
//! for text deltas is simpler to thread through than a stream type.

pub mod gguf;
pub mod openai;

use serde::{Deserialize, Serialize};

/// Who wrote a chat message, in OpenAI's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Most new tokens to produce.
    pub max_tokens: usize,
    /// 0 is greedy (the same answer every time).
    pub temperature: f32,
    /// Nucleus sampling; `None` samples from the whole distribution.
    pub top_p: Option<f32>,
    /// Extra strings that end the answer (not included in it).
    pub stop: Vec<String>,
    /// Seed of the sampler, for reproducible non-greedy answers.
    pub seed: u64,
}

impl Default for Generation {
    fn default() -> Self {
        Generation {
            max_tokens: 512,
            temperature: 0.0,
            top_p: None,
            stop: Vec::new(),
            seed: 299_792_458,
        }
    }
}

/// Why generation ended, in OpenAI's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn, or a stop string was met.
    Stop,
    /// `max_tokens` was reached.
    Length,
}

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish_reason: FinishReason,
}

/// What went wrong. None of these is the assistant's caller's fault: the
/// assistant answers extractively instead (`degraded`); only the
/// `/v1/chat/completions` route shows them, `BadRequest` as a 400.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request itself is wrong (empty messages, a prompt longer than
    /// the model's context).
    #[error("{0}")]
    BadRequest(String),
    /// The backend could not be reached or answered an error.
    #[error("LLM backend unavailable: {0}")]
    Unavailable(String),
    /// No answer within the configured timeout.
    #[error("LLM backend timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The backend answered something that is not the protocol (broken
    /// JSON, broken server-sent events).
    #[error("LLM backend answered out of protocol: {0}")]
    Protocol(String),
    /// The model file could not be loaded or run.
    #[error("model error: {0}")]
    Model(String),
    /// The caller's delta callback asked to stop (a client went away).
    #[error("generation cancelled")]
    Cancelled,
}

/// Loads a GGUF chat model file for the `gguf` backend and
/// `/v1/chat/completions`.
pub fn load_gguf(path: &std::path::Path) -> Result<std::sync::Arc<dyn Llm>, LlmError> {
    Ok(std::sync::Arc::new(gguf::GgufLlm::load(
        path,
        gguf::GgufOptions::default(),
    )?))
}

/// A chat model. Shared between request threads: `chat` takes `&self`;
/// a backend that can run one generation at a time queues the others.
pub trait Llm: Send + Sync {
    /// The model's name, as `/v1/models` lists it and clients send it.
    fn model(&self) -> &str;
    /// The backend's name in config and responses: `openai`, `gguf`.
    fn backend(&self) -> &'static str;
    /// Answers `messages`. Each piece of new text is passed to `on_delta`
    /// as soon as it is known (a token, an SSE chunk); returning `false`
    /// from it stops generation with [`LlmError::Cancelled`]. The returned
    /// [`Completion`] holds the whole text, deltas concatenated.
    fn chat(
        &self,
        messages: &[ChatMessage],
        params: &Generation,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, LlmError>;
}
