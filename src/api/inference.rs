//! Server-side inference, as Qdrant Cloud Inference does it: a `Document`
//! wherever a vector is accepted is embedded here, before the engine sees
//! the request. Texts are batched per model, one backend call each.
//!
//! The first write that has the server embed text records the model on
//! the collection; a later write or query with another model is refused,
//! since vectors from two models share no space.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::embed::Models;
use crate::engine::{Collection, EngineError};

use super::error::ApiError;
use super::models::{DocumentWire, QueryInput, VectorInput};
use super::AppState;

/// Whether the embeddings will be stored (and so fix the collection's
/// model) or only searched with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Write,
    Query,
}

/// Replaces every `Document` among `inputs` by its vector.
pub async fn embed_vectors(
    state: &AppState,
    collection: &Arc<Collection>,
    inputs: Vec<&mut VectorInput>,
) -> Result<(), ApiError> {
    let mut slots = Vec::new();
    let mut docs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if let VectorInput::Document(d) = &**input {
            slots.push(i);
            docs.push(d.clone());
        }
    }
    if docs.is_empty() {
        return Ok(());
    }
    let vectors = run(state, collection, docs, Use::Write).await?;
    let mut inputs = inputs;
    for (i, v) in slots.into_iter().zip(vectors) {
        *inputs[i] = VectorInput::Dense(v);
    }
    Ok(())
}

/// Replaces a `Document` query (bare or as `{"nearest": Document}`) by its
/// vector; anything else is left for the query planner.
pub async fn embed_query(
    state: &AppState,
    collection: &Arc<Collection>,
    query: &mut Option<QueryInput>,
) -> Result<(), ApiError> {
    let Some(QueryInput::Other(value)) = query else {
        return Ok(());
    };
    let doc = match DocumentWire::from_value(value) {
        Some(doc) => doc?,
        None => match value.get("nearest").and_then(DocumentWire::from_value) {
            Some(doc) => {
                let others = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(k, v)| k != "nearest" && !v.is_null());
                if others {
                    return Err(ApiError::Engine(EngineError::BadRequest(
                        "nearest query options other than the vector are not supported yet".into(),
                    )));
                }
                doc?
            }
            None => return Ok(()),
        },
    };
    let mut vectors = run(state, collection, vec![doc], Use::Query).await?;
    *query = Some(QueryInput::Vector(vectors.pop().unwrap_or_default()));
    Ok(())
}

async fn run(
    state: &AppState,
    collection: &Arc<Collection>,
    docs: Vec<DocumentWire>,
    use_: Use,
) -> Result<Vec<Vec<f32>>, ApiError> {
    let models = state.models.clone();
    let collection = collection.clone();
    match tokio::task::spawn_blocking(move || embed_documents(&models, &collection, &docs, use_))
        .await
    {
        Ok(result) => result,
        Err(join) => {
            tracing::error!(error = %join, "embedding task panicked");
            Err(ApiError::Engine(EngineError::Storage(
                "embedding task failed".into(),
            )))
        }
    }
}

/// Embeds `docs` for `collection`'s (unnamed, dense) vector, in order.
fn embed_documents(
    models: &Models,
    collection: &Collection,
    docs: &[DocumentWire],
    use_: Use,
) -> Result<Vec<Vec<f32>>, ApiError> {
    // Model name (as matched) -> positions of its documents.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        if d.options.as_ref().is_some_and(|o| match o {
            Value::Object(m) => !m.is_empty(),
            Value::Null => false,
            _ => true,
        }) && !d
            .model
            .eq_ignore_ascii_case(crate::embed::models::BM25_MODEL)
        {
            return Err(ApiError::Engine(EngineError::BadRequest(format!(
                "Wrong input: model `{}` takes no options (got {})",
                d.model,
                d.options.as_ref().map(Value::to_string).unwrap_or_default()
            ))));
        }
        groups.entry(d.model.to_lowercase()).or_default().push(i);
    }
    let mut out = vec![Vec::new(); docs.len()];
    for positions in groups.values() {
        let model = &docs[positions[0]].model;
        let texts: Vec<&str> = positions.iter().map(|&i| docs[i].text.as_str()).collect();
        let embedder = match models.resolve(model)? {
            crate::embed::models::Resolved::Dense(m) => m,
            crate::embed::models::Resolved::Bm25 => {
                return Err(ApiError::Engine(EngineError::BadRequest(format!(
                    "Wrong input: `{model}` produces sparse vectors, but this collection's vector is dense"
                ))))
            }
        };
        if embedder.dim() != collection.dim() {
            return Err(ApiError::Engine(EngineError::VectorDimension {
                expected: collection.dim(),
                got: embedder.dim(),
            }));
        }
        match use_ {
            Use::Write => collection.record_inference_model(embedder.name())?,
            Use::Query => collection.check_inference_model(embedder.name())?,
        }
        let vectors = models.embed_with(embedder.as_ref(), &texts, None)?;
        for (&i, v) in positions.iter().zip(vectors) {
            out[i] = v;
        }
    }
    Ok(out)
}
