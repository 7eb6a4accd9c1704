//! Qdrant's `QueryInterface` read into the engine's [`Query`]: vectors,
//! point ids, `nearest` (with MMR), `recommend`, `discover`, `context`,
//! fusion, `formula` (read by `formula_input`), `order_by`, `sample`; and `lookup_from`, which reads the vectors of a query's point
//! ids from another collection.

use serde::Deserialize;
use serde_json::Value;

use crate::engine::query::explore::ContextPair;
use crate::engine::query::mmr::MAX_MMR_CANDIDATES;
use crate::engine::query::search::QueryVector;
use crate::engine::query::stages::{Example, Fusion, Query, Strategy, DEFAULT_RRF_K};
use crate::engine::types::MultiVector;
use crate::engine::EngineError;

use super::error::ApiError;
use super::models::{parse_id, OrderByWire, QueryInput, SparseWire};

fn bad(msg: String) -> ApiError {
    ApiError::Engine(EngineError::BadRequest(msg))
}

/// Qdrant's `QueryInterface`, with Documents already embedded: a vector
/// (dense or sparse), a point id, `{"nearest": ...}`, or a fusion.
pub(super) fn parse_query(input: Option<QueryInput>) -> Result<Option<Query>, ApiError> {
    match input {
        None => Ok(None),
        Some(QueryInput::Vector(v)) => Ok(Some(Query::Nearest(QueryVector::Dense(v)))),
        Some(QueryInput::Other(value)) => query_value(value),
    }
}

fn query_value(value: Value) -> Result<Option<Query>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(_) | Value::String(_) => {
            let id = parse_id(&value).map_err(bad)?;
            Ok(Some(Query::NearestId(id)))
        }
        Value::Array(ref items) => {
            if items.first().is_some_and(Value::is_array) {
                let rows = serde_json::from_value(value)
                    .map_err(|e| ApiError::validation(format!("query: {e}")))?;
                let multi = MultiVector::new(rows)
                    .map_err(|e| ApiError::validation(format!("query: {e}")))?;
                return Ok(Some(Query::Nearest(QueryVector::Multi(multi))));
            }
            let v = serde_json::from_value(value)
                .map_err(|e| ApiError::validation(format!("query: {e}")))?;
            Ok(Some(Query::Nearest(QueryVector::Dense(v))))
        }
        Value::Object(mut map) => {
            if map.contains_key("indices") {
                let sparse: SparseWire = serde_json::from_value(Value::Object(map))
                    .map_err(|e| ApiError::validation(format!("query: {e}")))?;
                return Ok(Some(Query::Nearest(QueryVector::Sparse(
                    sparse.into_engine()?,
                ))));
            }
            if let Some(nearest) = map.remove("nearest") {
                if let Some(mmr) = map.remove("mmr").filter(|m| !m.is_null()) {
                    return mmr_query(nearest, mmr).map(Some);
                }
                if let Some((key, _)) = map.iter().find(|(_, v)| !v.is_null()) {
                    return Err(ApiError::validation(format!(
                        "query: unknown field `{key}` next to `nearest`"
                    )));
                }
                return match query_value(nearest)? {
                    Some(q @ (Query::Nearest(_) | Query::NearestId(_))) => Ok(Some(q)),
                    _ => Err(ApiError::validation(
                        "query.nearest: expected a vector or a point id",
                    )),
                };
            }
            if let Some(fusion) = map.remove("fusion") {
                return match fusion.as_str() {
                    Some("rrf") => Ok(Some(Query::Fusion(Fusion::Rrf {
                        k: DEFAULT_RRF_K,
                        weights: None,
                    }))),
                    Some("dbsf") => Ok(Some(Query::Fusion(Fusion::Dbsf))),
                    _ => Err(ApiError::validation(format!(
                        "query.fusion: expected \"rrf\" or \"dbsf\", got {fusion}"
                    ))),
                };
            }
            if let Some(reco) = map.remove("recommend") {
                return recommend_query(reco).map(Some);
            }
            if let Some(discover) = map.remove("discover") {
                return discover_query(discover).map(Some);
            }
            if let Some(context) = map.remove("context") {
                return Ok(Some(Query::Context(context_pairs(
                    context,
                    "query.context",
                )?)));
            }
            if let Some(formula) = map.remove("formula") {
                return super::formula_input::formula_query(formula, map).map(Some);
            }
            if let Some(order_by) = map.remove("order_by") {
                let wire: OrderByWire = serde_json::from_value(order_by)
                    .map_err(|e| ApiError::validation(format!("query.order_by: {e}")))?;
                return Ok(Some(Query::OrderBy(wire.into_engine()?)));
            }
            if let Some(sample) = map.remove("sample") {
                return match sample.as_str() {
                    Some("random") => Ok(Some(Query::Sample)),
                    _ => Err(ApiError::validation(format!(
                        "query.sample: expected \"random\", got {sample}"
                    ))),
                };
            }
            if let Some(rrf) = map.remove("rrf") {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct RrfWire {
                    #[serde(default)]
                    k: Option<usize>,
                    #[serde(default)]
                    weights: Option<Vec<f32>>,
                }
                let rrf: RrfWire = serde_json::from_value(rrf)
                    .map_err(|e| ApiError::validation(format!("query.rrf: {e}")))?;
                if rrf.k == Some(0) {
                    return Err(ApiError::validation("query.rrf.k must be at least 1"));
                }
                return Ok(Some(Query::Fusion(Fusion::Rrf {
                    k: rrf.k.unwrap_or(DEFAULT_RRF_K),
                    weights: rrf.weights,
                })));
            }
            let kind = map.keys().next().cloned().unwrap_or_default();
            Err(bad(format!(
                "query `{kind}` is not supported by this Helio release yet (supported: nearest with or without mmr, recommend, discover, context, rrf, fusion rrf and dbsf, formula, order_by, sample)"
            )))
        }
        other => Err(ApiError::validation(format!(
            "query: unexpected value {other}"
        ))),
    }
}

/// Qdrant's `RecommendInput`: examples (point ids or vectors) and a strategy.
pub(super) fn recommend_query(value: Value) -> Result<Query, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RecommendWire {
        #[serde(default)]
        positive: Option<Vec<Value>>,
        #[serde(default)]
        negative: Option<Vec<Value>>,
        #[serde(default)]
        strategy: Option<String>,
    }
    let w: RecommendWire = serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("query.recommend: {e}")))?;
    let examples = |list: Option<Vec<Value>>| -> Result<Vec<Example>, ApiError> {
        list.unwrap_or_default()
            .into_iter()
            .map(|v| example(v, "query.recommend"))
            .collect()
    };
    Ok(Query::Recommend {
        positive: examples(w.positive)?,
        negative: examples(w.negative)?,
        strategy: strategy(w.strategy.as_deref())?,
    })
}

/// `{"nearest": v, "mmr": {"diversity", "candidates_limit"}}`.
fn mmr_query(nearest: Value, mmr: Value) -> Result<Query, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MmrWire {
        #[serde(default)]
        diversity: Option<f32>,
        #[serde(default)]
        candidates_limit: Option<usize>,
    }
    let w: MmrWire =
        serde_json::from_value(mmr).map_err(|e| ApiError::validation(format!("query.mmr: {e}")))?;
    let diversity = w.diversity.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&diversity) {
        return Err(ApiError::validation(format!(
            "query.mmr.diversity: {diversity} is not within [0, 1]"
        )));
    }
    if w.candidates_limit.is_some_and(|c| c > MAX_MMR_CANDIDATES) {
        return Err(ApiError::validation(format!(
            "query.mmr.candidates_limit: at most {MAX_MMR_CANDIDATES}"
        )));
    }
    Ok(Query::Mmr {
        nearest: example(nearest, "query.nearest")?,
        diversity,
        candidates: w.candidates_limit,
    })
}

/// A `VectorInput` used as an example: a point id or a vector.
pub(super) fn example(v: Value, field: &str) -> Result<Example, ApiError> {
    match query_value(v)? {
        Some(Query::NearestId(id)) => Ok(Example::Id(id)),
        Some(Query::Nearest(v)) => Ok(Example::Vector(v)),
        _ => Err(ApiError::validation(format!(
            "{field}: an example is a point id or a vector"
        ))),
    }
}

/// `ContextInput`: one `{positive, negative}` pair, a list of them, or null.
pub(super) fn context_pairs(value: Value, field: &str) -> Result<Vec<ContextPair>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PairWire {
        positive: Value,
        negative: Value,
    }
    let list = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        one => vec![one],
    };
    list.into_iter()
        .map(|v| {
            let pair: PairWire = serde_json::from_value(v)
                .map_err(|e| ApiError::validation(format!("{field}: {e}")))?;
            Ok(ContextPair {
                positive: example(pair.positive, field)?,
                negative: example(pair.negative, field)?,
            })
        })
        .collect()
}

/// `DiscoverInput`: a target and the context pairs around it.
pub(super) fn discover_query(value: Value) -> Result<Query, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DiscoverWire {
        target: Value,
        #[serde(default)]
        context: Value,
    }
    let w: DiscoverWire = serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("query.discover: {e}")))?;
    Ok(Query::Discover {
        target: example(w.target, "query.discover.target")?,
        context: context_pairs(w.context, "query.discover.context")?,
    })
}

pub(super) fn strategy(name: Option<&str>) -> Result<Strategy, ApiError> {
    match name {
        None | Some("average_vector") => Ok(Strategy::AverageVector),
        Some("best_score") => Ok(Strategy::BestScore),
        Some("sum_scores") => Ok(Strategy::SumScores),
        Some(other) => Err(ApiError::validation(format!(
            "strategy: unknown variant `{other}`, expected one of `average_vector`, `best_score`, `sum_scores`"
        ))),
    }
}
