//! Qdrant's `lookup_from`: a stage whose examples are point ids of another
//! collection (or another vector name). Before a query runs, each such id
//! is replaced by that point's stored vector, so the stages only ever see
//! vectors of the collection they search.

use super::explore::ContextPair;
use super::search::QueryVector;
use super::stages::{Example, Query, Stage};
use crate::engine::collection::view::Collections;
use crate::engine::error::{EngineError, Result};
use crate::engine::types::PointId;

/// Where a stage's point ids are read.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub collection: String,
    /// The vector name there; `None` is the unnamed vector.
    pub vector: Option<String>,
}

impl Stage {
    /// Resolves the lookups of this stage and of every prefetch below it.
    pub(in crate::engine) fn resolve(&mut self, collections: &Collections) -> Result<()> {
        for p in &mut self.prefetch {
            p.resolve(collections)?;
        }
        let Some(from) = self.lookup.take() else {
            return Ok(());
        };
        let Some(query) = self.query.take() else {
            return Ok(());
        };
        let other = collections(&from.collection)?;
        let name = from.vector.as_deref().unwrap_or("");
        let fetch = |id: &PointId| -> Result<QueryVector> {
            match other.vector_of(id, name) {
                None => Err(EngineError::NotFound(format!(
                    "No point with id {id} found in collection `{}`",
                    from.collection
                ))),
                Some(None) => Err(EngineError::BadRequest(format!(
                    "Wrong input: point {id} of collection `{}` has no vector `{name}`",
                    from.collection
                ))),
                Some(Some(v)) => Ok(QueryVector::from(v)),
            }
        };
        let resolve = |e: Example| match e {
            Example::Id(id) => fetch(&id).map(Example::Vector),
            e => Ok(e),
        };
        let examples = |list: Vec<Example>| -> Result<Vec<Example>> {
            list.into_iter().map(resolve).collect()
        };
        let pairs = |list: Vec<ContextPair>| -> Result<Vec<ContextPair>> {
            list.into_iter()
                .map(|p| {
                    Ok(ContextPair {
                        positive: resolve(p.positive)?,
                        negative: resolve(p.negative)?,
                    })
                })
                .collect()
        };
        self.query = Some(match query {
            Query::NearestId(id) => Query::Nearest(fetch(&id)?),
            Query::Recommend {
                positive,
                negative,
                strategy,
            } => Query::Recommend {
                positive: examples(positive)?,
                negative: examples(negative)?,
                strategy,
            },
            Query::Discover { target, context } => Query::Discover {
                target: resolve(target)?,
                context: pairs(context)?,
            },
            Query::Context(context) => Query::Context(pairs(context)?),
            Query::Mmr {
                nearest,
                diversity,
                candidates,
            } => Query::Mmr {
                nearest: resolve(nearest)?,
                diversity,
                candidates,
            },
            other => other,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::collection::{Collection, PointInsert, UpdateOp};
    use crate::engine::config::{CollectionConfig, VectorParams};
    use crate::engine::types::Distance;
    use crate::engine::EngineOptions;

    fn other(dir: &std::path::Path) -> Arc<Collection> {
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Dot));
        let c = Collection::create(dir, "other", config, options).unwrap();
        c.update(vec![UpdateOp::Upsert(vec![PointInsert::dense(
            PointId::Num(7),
            vec![0.5, 2.0],
            Default::default(),
        )])])
        .unwrap();
        Arc::new(c)
    }

    fn lookup() -> Option<Lookup> {
        Some(Lookup {
            collection: "other".into(),
            vector: None,
        })
    }

    #[test]
    fn ids_become_the_vectors_of_the_other_collection() {
        let dir = tempfile::tempdir().unwrap();
        let c = other(dir.path());
        let find = |name: &str| -> Result<Arc<Collection>> {
            match name {
                "other" => Ok(c.clone()),
                _ => Err(EngineError::NotFound(name.into())),
            }
        };
        let mut stage = Stage::new(Some(Query::NearestId(PointId::Num(7))), 3);
        stage.lookup = lookup();
        // A prefetch without lookup_from keeps its query as it is.
        let kept = Query::NearestId(PointId::Num(1));
        stage.prefetch = vec![Stage::new(Some(kept.clone()), 3)];
        stage.resolve(&find).unwrap();
        let want = Query::Nearest(QueryVector::Dense(vec![0.5, 2.0]));
        assert_eq!(stage.query, Some(want));
        assert_eq!(stage.prefetch[0].query, Some(kept));

        let mut missing = Stage::new(Some(Query::NearestId(PointId::Num(8))), 3);
        missing.lookup = lookup();
        let err = missing.resolve(&find).unwrap_err();
        assert!(matches!(err, EngineError::NotFound(_)), "{err}");
    }
}
