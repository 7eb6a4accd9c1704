//! A document knowledge base into its collection: the Markdown, CSV and
//! PDF files of one `data/kb/<kb>/` folder, cut into chunks by [`kb`],
//! embedded (through the cache, so an unchanged chunk costs nothing),
//! upserted, and the chunks of documents that are gone deleted.
//!
//! A chunk's id is its document and position, so an edited document
//! overwrites its own chunks and a re-run with nothing changed rewrites
//! the same points.
//!
//! [`kb`]: super::kb

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;

use super::index::{ensure_collection, IndexError};
use super::kb::{load_dir, Chunk, Sizing};
use super::points;
use crate::embed::{Embedder, Models};
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::{PointInsert, Selector, UpdateOp};
use crate::engine::query::scroll::ScrollRequest;
use crate::engine::types::{PointId, VectorSelector};
use crate::engine::{Collection, Database, EngineError};

/// Chunks embedded and upserted per batch.
const BATCH: usize = 64;

/// What one run over a folder found.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentsReport {
    /// Chunks now in the collection.
    pub chunks: usize,
    /// Files skipped (unreadable, malformed), each logged.
    pub problems: usize,
}

/// Brings `collection` in step with the documents in `dir` (knowledge
/// base `kb`), embedding with `embedder`.
pub fn index_documents(
    db: &Database,
    models: &Models,
    embedder: &dyn Embedder,
    dir: &Path,
    kb: &str,
    collection: &str,
) -> Result<DocumentsReport, IndexError> {
    let count = |text: &str| embedder.token_count(text);
    let sizing = Sizing::for_model(embedder.max_tokens(), &count);
    let (chunks, problems) = load_dir(dir, kb, &sizing);
    for p in &problems {
        tracing::warn!(kb, problem = %p, "document skipped");
    }
    let target = ensure_collection(db, collection, embedder.dim())?;
    let bm25 = models.bm25(None)?;
    let mut keep: BTreeSet<PointId> = BTreeSet::new();
    for batch in chunks.chunks(BATCH) {
        let texts: Vec<&str> = batch.iter().map(|c| c.text.as_str()).collect();
        let dense = models.embed_with(embedder, &texts, None)?;
        let upserts: Vec<PointInsert> = batch
            .iter()
            .zip(dense)
            .map(|(chunk, v)| {
                let id = chunk_id(chunk);
                keep.insert(id);
                let payload = match json!(chunk) {
                    serde_json::Value::Object(map) => map,
                    _ => Default::default(),
                };
                PointInsert {
                    id,
                    vectors: points::vectors(Some(v), bm25.embed(&chunk.text)),
                    payload,
                }
            })
            .collect();
        target.update(vec![UpdateOp::Upsert(upserts)])?;
    }
    let stale: Vec<PointId> = all_ids(&target)?
        .into_iter()
        .filter(|id| !keep.contains(id))
        .collect();
    if !stale.is_empty() {
        target.update(vec![UpdateOp::Delete(Selector::Ids(stale))])?;
    }
    Ok(DocumentsReport {
        chunks: chunks.len(),
        problems: problems.len(),
    })
}

/// A chunk's point id: its document and position.
fn chunk_id(chunk: &Chunk) -> PointId {
    points::stable_id(&chunk.doc_id, &chunk.index.to_string())
}

fn all_ids(collection: &Collection) -> Result<Vec<PointId>, EngineError> {
    let mut ids = Vec::new();
    let mut offset = None;
    loop {
        let (page, next) = collection.read(
            &ScrollRequest {
                filter: None,
                limit: 1000,
                offset,
                order_by: None,
                with_payload: PayloadSelector::None,
                with_vector: VectorSelector::None,
            },
            None,
        )?;
        ids.extend(page.into_iter().map(|r| r.id));
        match next {
            Some(n) => offset = Some(n),
            None => return Ok(ids),
        }
    }
}
