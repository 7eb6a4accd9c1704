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

use crate::embed::models::{Resolved, BM25_MODEL};
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

/// Where a Document's vector goes once embedded.
enum Slot {
    /// The whole vector input of point `i` (the unnamed vector).
    Whole(usize),
    /// The named vector `name` of point `i`.
    Named(usize, String),
}

/// Replaces every `Document` among `inputs` by its vector: a bare one
/// fills the unnamed vector, one inside a named map fills that name.
pub async fn embed_vectors(
    state: &AppState,
    collection: &Arc<Collection>,
    inputs: Vec<&mut VectorInput>,
) -> Result<(), ApiError> {
    let mut slots = Vec::new();
    let mut docs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match &**input {
            VectorInput::Document(d) => {
                slots.push(Slot::Whole(i));
                docs.push((String::new(), d.clone()));
            }
            VectorInput::Named(map) => {
                for (name, v) in map {
                    if let Some(doc) = DocumentWire::from_value(v) {
                        slots.push(Slot::Named(i, name.clone()));
                        docs.push((name.clone(), doc?));
                    }
                }
            }
            VectorInput::Dense(_) | VectorInput::Multi(_) => {}
        }
    }
    if docs.is_empty() {
        return Ok(());
    }
    let vectors = run(state, collection, docs, Use::Write).await?;
    let mut inputs = inputs;
    for (slot, v) in slots.into_iter().zip(vectors) {
        match slot {
            Slot::Whole(i) => {
                *inputs[i] = VectorInput::Named(serde_json::Map::from_iter([(String::new(), v)]))
            }
            Slot::Named(i, name) => {
                if let VectorInput::Named(map) = &mut *inputs[i] {
                    map.insert(name, v);
                }
            }
        }
    }
    Ok(())
}

/// Replaces every `Document` in a query and its prefetches by its vector,
/// embedded for the `using` vector of the stage it sits in.
pub async fn embed_query(
    state: &AppState,
    collection: &Arc<Collection>,
    query: &mut Option<QueryInput>,
    using: Option<&str>,
    prefetch: &mut Option<Value>,
) -> Result<(), ApiError> {
    let mut found: Vec<(String, &mut Value)> = Vec::new();
    if let Some(QueryInput::Other(value)) = query {
        collect_documents(value, using.unwrap_or(""), &mut found);
    }
    if let Some(p) = prefetch {
        collect_prefetch(p, &mut found);
    }
    if found.is_empty() {
        return Ok(());
    }
    let docs = found
        .iter()
        .map(|(using, v)| {
            let doc = DocumentWire::from_value(v).expect("collected as a Document")?;
            Ok((using.clone(), doc))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let vectors = run(state, collection, docs, Use::Query).await?;
    for ((_, slot), v) in found.into_iter().zip(vectors) {
        *slot = v;
    }
    Ok(())
}

/// Every Document inside a query value (bare, under `nearest`, among
/// recommend or discover examples), with the vector name it targets.
fn collect_documents<'a>(v: &'a mut Value, using: &str, out: &mut Vec<(String, &'a mut Value)>) {
    if DocumentWire::from_value(v).is_some() {
        out.push((using.to_string(), v));
        return;
    }
    match v {
        Value::Array(items) => {
            for x in items {
                collect_documents(x, using, out);
            }
        }
        Value::Object(map) => {
            for x in map.values_mut() {
                collect_documents(x, using, out);
            }
        }
        _ => {}
    }
}

/// Documents in a `prefetch` (one object or a list), recursively, each
/// for its own stage's `using`.
fn collect_prefetch<'a>(p: &'a mut Value, out: &mut Vec<(String, &'a mut Value)>) {
    match p {
        Value::Array(items) => {
            for x in items {
                collect_prefetch(x, out);
            }
        }
        Value::Object(map) => {
            let using = map
                .get("using")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for (key, x) in map.iter_mut() {
                match key.as_str() {
                    "query" => collect_documents(x, &using, out),
                    "prefetch" => collect_prefetch(x, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

async fn run(
    state: &AppState,
    collection: &Arc<Collection>,
    docs: Vec<(String, DocumentWire)>,
    use_: Use,
) -> Result<Vec<Value>, ApiError> {
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

fn bad(msg: String) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg))
}

/// Embeds each `(vector name, Document)` for that vector of `collection`,
/// in order, as wire JSON: floats for dense vectors, `{indices, values}`
/// for sparse ones (`qdrant/bm25`, document side on writes and query side
/// on queries, as Qdrant does).
fn embed_documents(
    models: &Models,
    collection: &Collection,
    docs: &[(String, DocumentWire)],
    use_: Use,
) -> Result<Vec<Value>, ApiError> {
    let config = collection.config();
    // (model as matched, options) -> positions of its documents.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, (_, d)) in docs.iter().enumerate() {
        let options = d.options.as_ref().filter(|o| match o {
            Value::Object(m) => !m.is_empty(),
            Value::Null => false,
            _ => true,
        });
        if options.is_some() && !d.model.eq_ignore_ascii_case(BM25_MODEL) {
            return Err(bad(format!(
                "Wrong input: model `{}` takes no options (got {})",
                d.model,
                options.map(Value::to_string).unwrap_or_default()
            )));
        }
        let key = (
            d.model.to_lowercase(),
            options.map(Value::to_string).unwrap_or_default(),
        );
        groups.entry(key).or_default().push(i);
    }
    let mut out = vec![Value::Null; docs.len()];
    for positions in groups.values() {
        let first = &docs[positions[0]].1;
        let model = &first.model;
        let texts: Vec<&str> = positions.iter().map(|&i| docs[i].1.text.as_str()).collect();
        match models.resolve(model)? {
            Resolved::Dense(embedder) => {
                for &i in positions {
                    let using = &docs[i].0;
                    let params = config.dense_params(using).ok_or_else(|| {
                        if config.sparse_params(using).is_some() {
                            bad(format!(
                                "Wrong input: `{}` produces dense vectors, but vector `{using}` is sparse (use `{BM25_MODEL}`)",
                                embedder.name()
                            ))
                        } else {
                            bad(format!("Wrong input: Not existing vector name error: {using}"))
                        }
                    })?;
                    if embedder.dim() != params.size {
                        return Err(ApiError::Engine(EngineError::VectorDimension {
                            expected: params.size,
                            got: embedder.dim(),
                        }));
                    }
                    match use_ {
                        Use::Write => collection.record_inference_model(using, embedder.name())?,
                        Use::Query => collection.check_inference_model(using, embedder.name())?,
                    }
                }
                let vectors = models.embed_with(embedder.as_ref(), &texts, None)?;
                for (&i, v) in positions.iter().zip(vectors) {
                    out[i] = Value::from(v);
                }
            }
            Resolved::Bm25 => {
                for &i in positions {
                    let using = &docs[i].0;
                    if config.sparse_params(using).is_none() {
                        return Err(bad(if config.dense_params(using).is_some() {
                            format!(
                                "Wrong input: `{BM25_MODEL}` produces sparse vectors, but vector `{using}` is dense"
                            )
                        } else {
                            format!("Wrong input: Not existing vector name error: {using}")
                        }));
                    }
                }
                let bm25 = models.bm25(first.options.as_ref())?;
                for (&i, text) in positions.iter().zip(&texts) {
                    let v = match use_ {
                        Use::Write => bm25.embed(text),
                        Use::Query => bm25.embed_query(text),
                    };
                    out[i] = serde_json::json!({"indices": v.indices, "values": v.values});
                }
            }
        }
    }
    Ok(out)
}
