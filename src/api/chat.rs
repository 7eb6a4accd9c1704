//! OpenAI's chat completions protocol over the in-process model
//! (`POST /v1/chat/completions`, streaming and not), so the binary that
//! stores the vectors and computes the embeddings is also the LLM server
//! an OpenAI client, or another Helio's `openai` backend, talks to.
//! Errors use OpenAI's envelope.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::OpenAiApiError;
use super::AppState;
use crate::helio::llm::{ChatMessage, Completion, FinishReason, Generation, LlmError};

/// Most new tokens one request may ask for.
const MAX_TOKENS_LIMIT: usize = 4096;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    max_completion_tokens: Option<usize>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<Value>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    n: Option<usize>,
}

fn generation(req: &ChatRequest) -> Result<Generation, OpenAiApiError> {
    let mut g = Generation::default();
    if let Some(n) = req.max_completion_tokens.or(req.max_tokens) {
        if n == 0 || n > MAX_TOKENS_LIMIT {
            return Err(OpenAiApiError::invalid(
                &format!("max_tokens must be 1 to {MAX_TOKENS_LIMIT}"),
                Some("max_tokens"),
            ));
        }
        g.max_tokens = n;
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(OpenAiApiError::invalid(
                "temperature must be between 0 and 2",
                Some("temperature"),
            ));
        }
        g.temperature = t;
    }
    if let Some(p) = req.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(OpenAiApiError::invalid(
                "top_p must be in (0, 1]",
                Some("top_p"),
            ));
        }
        g.top_p = Some(p);
    }
    g.stop = match &req.stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.len() <= 4 => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| OpenAiApiError::invalid("stop must be strings", Some("stop")))?,
        Some(_) => {
            return Err(OpenAiApiError::invalid(
                "stop must be a string or a list of up to 4 strings",
                Some("stop"),
            ))
        }
    };
    if let Some(seed) = req.seed {
        g.seed = seed;
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(OpenAiApiError::invalid(
            "only n = 1 is supported",
            Some("n"),
        ));
    }
    if req.messages.is_empty() {
        return Err(OpenAiApiError::invalid(
            "messages must not be empty",
            Some("messages"),
        ));
    }
    Ok(g)
}

fn llm_error(e: LlmError) -> OpenAiApiError {
    match e {
        LlmError::BadRequest(m) => OpenAiApiError::invalid(&m, Some("messages")),
        other => OpenAiApiError::server(&other.to_string()),
    }
}

fn finish(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

pub async fn completions(
    State(state): State<AppState>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, OpenAiApiError> {
    let Json(req) = body.map_err(|e| OpenAiApiError::invalid(&e.body_text(), None))?;
    let Some(llm) = state.chat.clone() else {
        return Err(OpenAiApiError::not_found(
            "no chat model is loaded on this server (start it with --llm gguf or --chat-model PATH)",
        ));
    };
    if req.model != llm.model() && req.model != "default" {
        return Err(OpenAiApiError::not_found(&format!(
            "model `{}` is not available on this server; available: {}",
            req.model,
            llm.model()
        )));
    }
    let params = generation(&req)?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    let model = llm.model().to_string();
    let started = Instant::now();
    if !req.stream {
        let messages = req.messages;
        let done = tokio::task::spawn_blocking(move || llm.chat(&messages, &params, &mut |_| true))
            .await
            .map_err(|e| OpenAiApiError::server(&e.to_string()))?
            .map_err(llm_error)?;
        state
            .metrics
            .observe_llm(done.completion_tokens, started.elapsed().as_secs_f64());
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text},
                         "finish_reason": finish(done.finish_reason), "logprobs": null}],
            "usage": usage(&done),
        }))
        .into_response());
    }
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (tx, rx) = mpsc::channel::<Event>(64);
    let chunk = move |delta: Value, finish_reason: Option<&str>| {
        Event::default()
            .json_data(json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}],
            }))
            .unwrap_or_default()
    };
    let metrics = state.metrics.clone();
    let messages = req.messages;
    tokio::task::spawn_blocking(move || {
        let _ = tx.blocking_send(chunk(json!({"role": "assistant", "content": ""}), None));
        let result = llm.chat(&messages, &params, &mut |text| {
            // A client that went away stops the generation.
            tx.blocking_send(chunk(json!({ "content": text }), None))
                .is_ok()
        });
        match result {
            Ok(done) => {
                metrics.observe_llm(done.completion_tokens, started.elapsed().as_secs_f64());
                let _ = tx.blocking_send(chunk(json!({}), Some(finish(done.finish_reason))));
                if include_usage {
                    let usage_chunk = Event::default()
                        .json_data(json!({"object": "chat.completion.chunk", "choices": [], "usage": usage(&done)}))
                        .unwrap_or_default();
                    let _ = tx.blocking_send(usage_chunk);
                }
            }
            Err(e) => {
                let err = Event::default()
                    .json_data(json!({"error": {"message": e.to_string(), "type": "server_error"}}))
                    .unwrap_or_default();
                let _ = tx.blocking_send(err);
            }
        }
        let _ = tx.blocking_send(Event::default().data("[DONE]"));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(stream).into_response())
}

fn usage(c: &Completion) -> Value {
    json!({
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    })
}
