//! Embeddings from OpenAI's API, or any server that speaks its
//! `POST /embeddings` protocol (vLLM, Ollama, LiteLLM, ...).
//!
//! The client is blocking on purpose: embedding runs on worker threads
//! next to the engine, and one HTTP request per batch is the unit of work.
//! Everything the network can do wrong is sorted into a few errors the
//! caller can act on: a key problem (fix the config), a bad request (fix
//! the input), or an outage (try later). Only outages are retried here.

use std::io::Read;
use std::ops::Range;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// OpenAI's models: name, native dimension, and whether the request may
/// shorten the vectors with `dimensions` (only the Matryoshka-trained
/// text-embedding-3 family can).
const KNOWN_MODELS: &[(&str, usize, bool)] = &[
    ("text-embedding-3-large", 3072, true),
    ("text-embedding-3-small", 1536, true),
    ("text-embedding-ada-002", 1536, false),
];

/// Known models and their native dimensions: text-embedding-3-large 3072,
/// text-embedding-3-small 1536, text-embedding-ada-002 1536. `None` for
/// anything else, which an OpenAI-compatible server may still serve.
pub fn native_dimension(model: &str) -> Option<usize> {
    known_model(model).map(|&(_, dim, _)| dim)
}

fn known_model(model: &str) -> Option<&'static (&'static str, usize, bool)> {
    KNOWN_MODELS.iter().find(|(name, _, _)| *name == model)
}

#[derive(Clone)]
pub struct OpenAiConfig {
    /// Up to and including the API version, e.g. `https://api.openai.com/v1`
    /// or `http://localhost:8000/v1` for a compatible server.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`. The caller reads it from
    /// `OPENAI_API_KEY`; servers that ignore auth accept any placeholder.
    pub api_key: Option<String>,
    /// For one HTTP request, connecting through reading the whole body.
    pub timeout: Duration,
    /// Retries after the first attempt, so a batch is tried at most
    /// `max_retries + 1` times.
    pub max_retries: u32,
    /// OpenAI accepts at most 2048 inputs in one request.
    pub max_batch_inputs: usize,
    /// Estimated tokens per request. OpenAI refuses requests over 300k
    /// tokens in total. We do not ship a tokenizer, so a text counts as
    /// `bytes / 3` tokens: English runs about 4 bytes a token and CJK
    /// about 3, so the estimate is high for most text. The default leaves
    /// headroom under 300k for text that tokenizes worse (codes, hashes).
    pub max_batch_tokens: usize,
    /// First retry waits up to this long; each further retry doubles it.
    pub backoff_base: Duration,
    /// No backoff wait exceeds this.
    pub backoff_cap: Duration,
    /// A server's `Retry-After` is obeyed up to this long, so a confused
    /// proxy cannot park a worker for an hour.
    pub max_retry_after: Duration,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: None,
            timeout: Duration::from_secs(30),
            max_retries: 5,
            max_batch_inputs: 2048,
            max_batch_tokens: 250_000,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Hand-written so that logging a config never prints the key.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_batch_inputs", &self.max_batch_inputs)
            .field("max_batch_tokens", &self.max_batch_tokens)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_cap", &self.backoff_cap)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum OpenAiError {
    /// No key configured; found before any request is made.
    #[error("no OpenAI API key configured (set OPENAI_API_KEY)")]
    MissingKey,
    /// The caller's input can never succeed (empty text, `dimensions` on a
    /// model without it); found before any request is made.
    #[error("invalid embedding request: {0}")]
    InvalidInput(String),
    /// `base_url` cannot be used at all (bad URL, unknown scheme).
    #[error("invalid embeddings URL: {0}")]
    InvalidUrl(String),
    /// 401/403: the key is wrong, revoked, or lacks access. Not retried.
    #[error("embeddings server rejected the API key (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 429 with code `insufficient_quota`: the account is out of credit,
    /// which waiting does not fix, so it is not retried.
    #[error("embeddings quota exhausted: {message}")]
    QuotaExceeded { message: String },
    /// Any other 4xx (400, 404 unknown model, 422, ...). Not retried.
    #[error("embeddings server refused the request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 429, 5xx, timeouts or connection failures on every attempt.
    #[error("embeddings server unavailable after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    /// A success status whose body is not what the protocol promises:
    /// not JSON, wrong count, bad indices, wrong or mixed dimensions.
    #[error("malformed embeddings response: {0}")]
    Malformed(String),
}

pub struct OpenAiClient {
    config: OpenAiConfig,
    agent: ureq::Agent,
    url: String,
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
    /// Explicit because some compatible servers default differently, and
    /// floats are the one format every one of them supports.
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

/// How one attempt went wrong: either give up now, or maybe retry.
enum Failure {
    Fatal(OpenAiError),
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl OpenAiClient {
    pub fn new(mut config: OpenAiConfig) -> OpenAiClient {
        // Zero limits would make no batch able to hold a text.
        config.max_batch_inputs = config.max_batch_inputs.max(1);
        config.max_batch_tokens = config.max_batch_tokens.max(1);
        let agent = ureq::AgentBuilder::new().timeout(config.timeout).build();
        let url = format!("{}/embeddings", config.base_url.trim_end_matches('/'));
        OpenAiClient { config, agent, url }
    }

    /// Embeds texts with `model` (e.g. text-embedding-3-small / -large /
    /// ada-002), one vector per text, in input order.
    ///
    /// `dimensions` shortens the vectors server-side. OpenAI's ada-002
    /// refuses it, so that is an error before any request; models we do
    /// not know are passed through, since a compatible server decides for
    /// itself. Empty strings are refused up front too: OpenAI answers
    /// them with a 400 that would fail the whole batch.
    ///
    /// Texts are sent in batches within `max_batch_inputs` and
    /// `max_batch_tokens`. 429s (other than an exhausted quota), 5xx,
    /// timeouts and connection failures are retried with exponential
    /// backoff and full jitter, or after the server's `Retry-After`;
    /// other 4xx are not. The first batch that fails fails the call.
    pub fn embed(
        &self,
        model: &str,
        texts: &[&str],
        dimensions: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, OpenAiError> {
        let key = match self.config.api_key.as_deref() {
            Some(key) if !key.is_empty() => key,
            _ => return Err(OpenAiError::MissingKey),
        };
        check_request(model, texts, dimensions)?;

        let mut want_dim = dimensions.or_else(|| native_dimension(model));
        let mut vectors = Vec::with_capacity(texts.len());
        for range in batches(
            texts,
            self.config.max_batch_inputs,
            self.config.max_batch_tokens,
        ) {
            tracing::debug!(model, inputs = range.len(), "embedding batch");
            let batch = self.embed_batch(key, model, &texts[range], dimensions)?;
            // Unknown models fix their dimension with the first vector, so
            // a server cannot mix sizes across batches either.
            let dim = *want_dim.get_or_insert(batch[0].len());
            check_vectors(&batch, dim)?;
            vectors.extend(batch);
        }
        Ok(vectors)
    }

    /// One batch, with retries. The result has exactly one vector per
    /// input, in input order.
    fn embed_batch(
        &self,
        key: &str,
        model: &str,
        input: &[&str],
        dimensions: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, OpenAiError> {
        let body = serde_json::to_vec(&EmbeddingRequest {
            model,
            input,
            dimensions,
            encoding_format: "float",
        })
        .map_err(|e| OpenAiError::InvalidInput(format!("cannot encode request: {e}")))?;

        let attempts = self.config.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (reason, retry_after) = match self.attempt(key, &body, input.len()) {
                Ok(vectors) => return Ok(vectors),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            if attempt >= attempts {
                return Err(OpenAiError::Unavailable {
                    attempts: attempt,
                    last: reason,
                });
            }
            let delay = match retry_after {
                Some(wait) => wait.min(self.config.max_retry_after),
                None => backoff(
                    self.config.backoff_base,
                    self.config.backoff_cap,
                    attempt - 1,
                ),
            };
            tracing::warn!(
                attempt,
                attempts,
                delay_ms = delay.as_millis() as u64,
                %reason,
                "embeddings request failed; retrying"
            );
            std::thread::sleep(delay);
        }
    }

    fn attempt(&self, key: &str, body: &[u8], expected: usize) -> Result<Vec<Vec<f32>>, Failure> {
        let sent = self
            .agent
            .post(&self.url)
            .set("Authorization", &format!("Bearer {key}"))
            .set("Content-Type", "application/json")
            .send_bytes(body);
        match sent {
            Ok(response) => {
                // Streamed rather than `into_string`, which stops at 10 MiB:
                // 2048 vectors of 3072 floats as JSON are over 100 MB.
                let parsed = serde_json::from_reader(response.into_reader());
                match parsed {
                    Ok(parsed) => order_response(parsed, expected).map_err(Failure::Fatal),
                    // The body was cut off (timeout, dropped connection):
                    // the server may well answer in full next time.
                    Err(e) if e.is_io() => Err(Failure::Transient {
                        reason: format!("reading response: {e}"),
                        retry_after: None,
                    }),
                    Err(e) => Err(Failure::Fatal(OpenAiError::Malformed(e.to_string()))),
                }
            }
            Err(ureq::Error::Status(status, response)) => Err(status_failure(status, response)),
            Err(ureq::Error::Transport(t)) => Err(match t.kind() {
                ureq::ErrorKind::InvalidUrl
                | ureq::ErrorKind::UnknownScheme
                | ureq::ErrorKind::InsecureRequestHttpsOnly
                | ureq::ErrorKind::InvalidProxyUrl => {
                    Failure::Fatal(OpenAiError::InvalidUrl(t.to_string()))
                }
                _ => Failure::Transient {
                    reason: t.to_string(),
                    retry_after: None,
                },
            }),
        }
    }
}

/// Refuses what can never succeed, so it costs no request.
fn check_request(
    model: &str,
    texts: &[&str],
    dimensions: Option<usize>,
) -> Result<(), OpenAiError> {
    let invalid = |msg: String| Err(OpenAiError::InvalidInput(msg));
    if model.is_empty() {
        return invalid("no model named".into());
    }
    if let Some(dim) = dimensions {
        if dim == 0 {
            return invalid("dimensions must be at least 1".into());
        }
        if let Some(&(_, native, shortens)) = known_model(model) {
            if !shortens {
                return invalid(format!(
                    "model {model} does not accept `dimensions` (only text-embedding-3-* do)"
                ));
            }
            if dim > native {
                return invalid(format!(
                    "model {model} has {native} dimensions; cannot return {dim}"
                ));
            }
        }
    }
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return invalid(format!(
            "text {i} is empty; OpenAI does not embed empty strings"
        ));
    }
    Ok(())
}

/// Tokens a text may cost, without a tokenizer: see `max_batch_tokens`.
fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3).max(1)
}

/// Consecutive ranges of `texts`, each within both limits. A text over
/// the token limit on its own gets a batch of its own; the server judges it.
fn batches(texts: &[&str], max_inputs: usize, max_tokens: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (i, text) in texts.iter().enumerate() {
        let cost = estimate_tokens(text);
        let full = i - start == max_inputs || tokens + cost > max_tokens;
        if i > start && full {
            out.push(start..i);
            start = i;
            tokens = 0;
        }
        tokens += cost;
    }
    if start < texts.len() {
        out.push(start..texts.len());
    }
    out
}

/// The response's vectors in input order. OpenAI returns `data` in order
/// today, but `index` is what the protocol promises, so we go by that.
fn order_response(
    response: EmbeddingResponse,
    expected: usize,
) -> Result<Vec<Vec<f32>>, OpenAiError> {
    if response.data.len() != expected {
        return Err(OpenAiError::Malformed(format!(
            "sent {expected} texts, got {} embeddings",
            response.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for item in response.data {
        match slots.get_mut(item.index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            Some(Some(_)) => {
                return Err(OpenAiError::Malformed(format!(
                    "index {} appears twice",
                    item.index
                )))
            }
            None => {
                return Err(OpenAiError::Malformed(format!(
                    "index {} out of range for {expected} texts",
                    item.index
                )))
            }
        }
    }
    // Every slot is filled: `expected` distinct in-range indices.
    Ok(slots.into_iter().flatten().collect())
}

/// Every vector must have the expected dimension and finite values: a
/// NaN or a short vector would otherwise corrupt the index silently.
fn check_vectors(vectors: &[Vec<f32>], dim: usize) -> Result<(), OpenAiError> {
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != dim || dim == 0 {
            return Err(OpenAiError::Malformed(format!(
                "embedding {i} has dimension {}, expected {dim}",
                v.len()
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(OpenAiError::Malformed(format!(
                "embedding {i} has a non-finite value"
            )));
        }
    }
    Ok(())
}

/// Sorts an error status into give-up or retry, with OpenAI's message.
fn status_failure(status: u16, response: ureq::Response) -> Failure {
    let retry_after = retry_after(&response);
    let mut body = String::new();
    // Error bodies are small; a broken one still leaves us the status.
    let _ = response
        .into_reader()
        .take(64 * 1024)
        .read_to_string(&mut body);
    let (message, code) = error_message(&body);
    let message = message.unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        401 | 403 => Failure::Fatal(OpenAiError::Rejected { status, message }),
        429 if code.as_deref() == Some("insufficient_quota") => {
            Failure::Fatal(OpenAiError::QuotaExceeded { message })
        }
        429 | 500..=599 => Failure::Transient {
            reason: format!("HTTP {status}: {message}"),
            retry_after,
        },
        _ => Failure::Fatal(OpenAiError::BadRequest { status, message }),
    }
}

/// `error.message` and `error.code` from OpenAI's error body, or the start
/// of whatever else a proxy sent instead.
pub fn error_message(body: &str) -> (Option<String>, Option<String>) {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let error = &value["error"];
        let message = error["message"].as_str().or_else(|| error.as_str());
        if let Some(message) = message {
            let code = error["code"].as_str().map(str::to_string);
            return (Some(message.to_string()), code);
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return (None, None);
    }
    (Some(trimmed.chars().take(200).collect()), None)
}

/// How long the server asked us to wait: OpenAI's `retry-after-ms`, or
/// `Retry-After` in seconds. The HTTP-date form is ignored (the backoff
/// applies instead); OpenAI does not send it.
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let parse = |name: &str, unit: f64| {
        let value: f64 = response.header(name)?.trim().parse().ok()?;
        Duration::try_from_secs_f64(value * unit).ok()
    };
    parse("retry-after-ms", 1e-3).or_else(|| parse("retry-after", 1.0))
}

/// Exponential backoff with full jitter: uniformly random up to
/// `base * 2^retry`, capped, so clients that failed together do not
/// all come back together.
pub fn backoff(base: Duration, cap: Duration, retry: u32) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(retry)).min(cap);
    rand::thread_rng().gen_range(Duration::ZERO..=ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_input_limit_and_order() {
        let texts = ["a"; 7];
        assert_eq!(batches(&texts, 3, 1000), vec![0..3, 3..6, 6..7]);
        assert_eq!(batches(&texts, 7, 1000), vec![0..7]);
        assert_eq!(batches(&[], 3, 1000), Vec::<Range<usize>>::new());
    }

    #[test]
    fn batches_respect_token_limit() {
        // 9 bytes = 3 tokens each.
        let texts = ["abcdefghi"; 5];
        assert_eq!(batches(&texts, 100, 6), vec![0..2, 2..4, 4..5]);
        // A text over the limit alone still goes, in a batch of its own.
        let long = "x".repeat(30);
        let texts = ["ab", long.as_str(), "cd"];
        assert_eq!(batches(&texts, 100, 5), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn token_estimate_is_bytes_over_three_rounded_up() {
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 2);
        assert_eq!(estimate_tokens("日本"), 2); // 6 bytes
    }

    #[test]
    fn backoff_stays_under_the_growing_ceiling() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(8);
        for retry in 0..40 {
            let ceiling = (base * 2u32.saturating_pow(retry)).min(cap);
            for _ in 0..20 {
                assert!(backoff(base, cap, retry) <= ceiling);
            }
        }
    }

    #[test]
    fn dimensions_checked_before_sending() {
        let err = check_request("text-embedding-ada-002", &["x"], Some(256)).unwrap_err();
        assert!(
            err.to_string().contains("does not accept `dimensions`"),
            "{err}"
        );
        assert!(check_request("text-embedding-3-small", &["x"], Some(2000)).is_err());
        assert!(check_request("text-embedding-3-small", &["x"], Some(0)).is_err());
        assert!(check_request("text-embedding-3-large", &["x"], Some(256)).is_ok());
        // Unknown models are the compatible server's call.
        assert!(check_request("nomic-embed-text", &["x"], Some(256)).is_ok());
        assert!(check_request("text-embedding-3-small", &["x", ""], None).is_err());
    }

    #[test]
    fn error_message_prefers_openai_error_body() {
        let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let (message, code) = error_message(body);
        assert_eq!(message.as_deref(), Some("You exceeded your current quota"));
        assert_eq!(code.as_deref(), Some("insufficient_quota"));
        assert_eq!(
            error_message("<html>bad gateway</html>").0.as_deref(),
            Some("<html>bad gateway</html>")
        );
        assert_eq!(error_message("  ").0, None);
    }

    #[test]
    fn debug_hides_the_key() {
        let config = OpenAiConfig {
            api_key: Some("sk-secret".into()),
            ..OpenAiConfig::default()
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn native_dimensions() {
        assert_eq!(native_dimension("text-embedding-3-large"), Some(3072));
        assert_eq!(native_dimension("text-embedding-3-small"), Some(1536));
        assert_eq!(native_dimension("text-embedding-ada-002"), Some(1536));
        assert_eq!(native_dimension("bge-m3"), None);
    }
}
