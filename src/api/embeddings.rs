//! OpenAI's embeddings protocol over Helio's models (`POST /v1/embeddings`,
//! `GET /v1/models`), so tools that speak it (the `openai` client,
//! LangChain's `OpenAIEmbeddings` with a base URL, LlamaIndex) can use the
//! local model. Errors use OpenAI's envelope, not Qdrant's.

use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::embed::models::{ModelKind, Resolved};
use crate::embed::EmbedError;

use super::error::OpenAiApiError;
use super::AppState;

#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    input: Value,
    model: String,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default)]
    encoding_format: Option<String>,
    /// Accepted and ignored, as OpenAI uses it only for abuse tracking.
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

/// The texts of `input`: a string or a list of strings. Token arrays
/// (what tiktoken-based clients send by default) cannot be read without
/// OpenAI's tokenizer, so they get an error that says what to change.
fn texts(input: Value) -> Result<Vec<String>, OpenAiApiError> {
    let bad = |m: &str| OpenAiApiError::invalid(m, Some("input"));
    match input {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if items.is_empty() => Err(bad("'input' must not be empty")),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(_) | Value::Array(_) => Err(bad(
                    "token arrays are not supported by this server: send text \
                     (LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))",
                )),
                _ => Err(bad("'input' must be a string or a list of strings")),
            })
            .collect(),
        _ => Err(bad("'input' must be a string or a list of strings")),
    }
}

fn encode_base64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<EmbeddingsRequest>, JsonRejection>,
) -> Result<Response, OpenAiApiError> {
    let started = Instant::now();
    let Json(req) = body.map_err(|e| OpenAiApiError::invalid(&e.body_text(), None))?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(OpenAiApiError::invalid(
                &format!("encoding_format must be `float` or `base64`, not `{other}`"),
                Some("encoding_format"),
            ))
        }
    };
    if req.dimensions == Some(0) {
        return Err(OpenAiApiError::invalid(
            "dimensions must be at least 1",
            Some("dimensions"),
        ));
    }
    let texts = texts(req.input)?;
    let embedder = match state.models.resolve(&req.model)? {
        Resolved::Dense(m) => m,
        Resolved::Bm25 => {
            return Err(EmbedError::BadInput(format!(
                "`{}` produces sparse vectors, which this protocol cannot carry",
                req.model
            ))
            .into())
        }
    };
    let models = state.models.clone();
    let name = embedder.name().to_string();
    let dimensions = req.dimensions;
    let counted = embedder.clone();
    let (vectors, tokens) = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens: usize = refs.iter().map(|t| counted.token_count(t)).sum();
        models
            .embed_with(counted.as_ref(), &refs, dimensions)
            .map(|v| (v, tokens))
    })
    .await
    .map_err(|e| OpenAiApiError::server(&format!("embedding task failed: {e}")))??;
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                Value::String(encode_base64(v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    tracing::debug!(model = %name, inputs = data.len(), elapsed = ?started.elapsed(), "embeddings");
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}

/// OpenAI's model listing, with every model this server runs.
pub async fn list_models(State(state): State<AppState>) -> Response {
    let created = state.started_at.timestamp();
    let data: Vec<Value> = state
        .models
        .list()
        .into_iter()
        .map(|m| {
            json!({
                "id": m.name,
                "object": "model",
                "created": created,
                "owned_by": m.backend,
                "kind": match m.kind { ModelKind::Dense => "dense", ModelKind::Sparse => "sparse" },
                "dimensions": m.dim,
            })
        })
        .collect();
    let mut data = data;
    if let Some(chat) = &state.chat {
        data.push(json!({
            "id": chat.model(),
            "object": "model",
            "created": created,
            "owned_by": chat.backend(),
            "kind": "chat",
        }));
    }
    Json(json!({"object": "list", "data": data})).into_response()
}
