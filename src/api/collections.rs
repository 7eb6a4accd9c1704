//! Collection routes: create, info, list, exists, update, delete, payload
//! indexes and the single-node cluster view.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use std::collections::BTreeMap;

use crate::engine::collection::vector_names::NewVector;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::config::{
    CollectionConfig, ConfigUpdate, Datatype, HnswConfig, HnswConfigDiff, MultiVectorConfig,
    OptimizersConfig, OptimizersConfigDiff, SparseVectorParams, VectorParams, VectorsConfig,
    WalConfig,
};
use crate::engine::database::AliasAction;
use crate::engine::index::payload::PayloadFieldSchema;
use crate::engine::types::Payload;
use crate::engine::EngineError;

use super::error::ApiError;
use super::extract::{QJson, QPath, QQuery};
use super::models::{UpdateResult, WriteParams};
use super::{blocking, ok, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    pub vectors: Option<Value>,
    #[serde(default)]
    pub shard_number: Option<u32>,
    #[serde(default)]
    pub sharding_method: Option<Value>,
    #[serde(default)]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub write_consistency_factor: Option<u32>,
    #[serde(default)]
    pub on_disk_payload: Option<bool>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub wal_config: Option<WalConfigDiff>,
    #[serde(default)]
    pub optimizers_config: Option<OptimizersConfigDiff>,
    #[serde(default)]
    pub quantization_config: Option<Value>,
    #[serde(default)]
    pub sparse_vectors: Option<Value>,
    #[serde(default)]
    pub strict_mode_config: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Payload>,
    #[serde(default)]
    pub init_from: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalConfigDiff {
    #[serde(default)]
    pub wal_capacity_mb: Option<usize>,
    #[serde(default)]
    pub wal_segments_ahead: Option<usize>,
    #[serde(default)]
    pub wal_retain_closed: Option<usize>,
}

impl CreateCollection {
    fn into_config(self) -> Result<CollectionConfig, ApiError> {
        let sparse_vectors: Option<BTreeMap<String, SparseVectorParams>> = match self.sparse_vectors
        {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v)
                    .map_err(|e| ApiError::validation(format!("sparse_vectors: {e}")))?,
            ),
        };
        let has_sparse = sparse_vectors.as_ref().is_some_and(|s| !s.is_empty());
        let vectors = match self.vectors {
            None if has_sparse => VectorsConfig::Named(BTreeMap::new()),
            None => return Err(ApiError::validation("vectors: missing field `vectors`")),
            Some(v) => parse_vectors(v, has_sparse)?,
        };
        let mut hnsw = HnswConfig::default();
        if let Some(d) = &self.hnsw_config {
            hnsw.apply(d);
        }
        let mut optimizers = OptimizersConfig::default();
        if let Some(d) = &self.optimizers_config {
            optimizers.apply(d)?;
        }
        let mut wal = WalConfig::default();
        if let Some(d) = self.wal_config {
            wal.wal_capacity_mb = d.wal_capacity_mb.unwrap_or(wal.wal_capacity_mb);
            wal.wal_segments_ahead = d.wal_segments_ahead.unwrap_or(wal.wal_segments_ahead);
        }
        Ok(CollectionConfig {
            vectors,
            sparse_vectors,
            shard_number: self.shard_number.unwrap_or(1),
            replication_factor: self.replication_factor.unwrap_or(1),
            write_consistency_factor: self.write_consistency_factor.unwrap_or(1),
            on_disk_payload: self.on_disk_payload.unwrap_or(true),
            hnsw_config: hnsw,
            optimizer_config: optimizers,
            wal_config: wal,
            quantization_config: self.quantization_config.filter(|v| !v.is_null()),
            strict_mode_config: strict_mode(self.strict_mode_config)?,
            metadata: self.metadata,
        })
    }
}

/// One unnamed vector (`{"size", "distance"}`), or a map of named ones.
/// The map with the single name "" is the unnamed vector, as clients
/// that always send maps mean it.
fn parse_vectors(v: Value, has_sparse: bool) -> Result<VectorsConfig, ApiError> {
    let one = |v: Value, name: &str| -> Result<VectorParams, ApiError> {
        serde_json::from_value(v).map_err(|e| {
            let at = if name.is_empty() {
                String::new()
            } else {
                format!(".{name}")
            };
            ApiError::validation(format!("vectors{at}: {e}"))
        })
    };
    if v.get("size").is_some() || v.get("distance").is_some() {
        return Ok(VectorsConfig::Single(one(v, "")?));
    }
    let Value::Object(map) = v else {
        return Err(ApiError::validation(
            "vectors: expected vector params or a map of named vector params",
        ));
    };
    if map.len() == 1 {
        if let Some(inner) = map.get("") {
            return Ok(VectorsConfig::Single(one(inner.clone(), "")?));
        }
    }
    if map.is_empty() && !has_sparse {
        return Err(ApiError::validation(
            "vectors: at least one vector is required",
        ));
    }
    let named = map
        .into_iter()
        .map(|(name, v)| Ok((name.clone(), one(v, &name)?)))
        .collect::<Result<BTreeMap<_, _>, ApiError>>()?;
    Ok(VectorsConfig::Named(named))
}

pub async fn create(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(_params): QQuery<WriteParams>,
    QJson(body): QJson<CreateCollection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let config = body.into_config()?;
    let db = state.db.clone();
    blocking(move || db.create(&name, config)).await?;
    Ok(ok(started, true))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCollection {
    #[serde(default)]
    pub vectors: Option<Value>,
    #[serde(default)]
    pub optimizers_config: Option<OptimizersConfigDiff>,
    #[serde(default)]
    pub params: Option<Value>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub quantization_config: Option<Value>,
    #[serde(default)]
    pub sparse_vectors: Option<Value>,
    #[serde(default)]
    pub strict_mode_config: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Payload>,
}

pub async fn update(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QJson(body): QJson<UpdateCollection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    // Per-vector changes come as {"name": {"hnsw_config": {...}}}, with
    // "" for the unnamed vector.
    let update = ConfigUpdate {
        hnsw: body.hnsw_config,
        optimizers: body.optimizers_config,
        vectors: diff("vectors", body.vectors)?,
        sparse_vectors: diff("sparse_vectors", body.sparse_vectors)?,
        strict_mode: strict_mode(body.strict_mode_config)?,
        metadata: body.metadata,
    };
    blocking(move || collection.update_config(&update)).await?;
    Ok(ok(started, true))
}

/// A `strict_mode_config`; absent or null means none (or no change).
fn strict_mode(v: Option<Value>) -> Result<Option<StrictModeConfig>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ApiError::validation(format!("strict_mode_config: {e}"))),
    }
}

/// A map-valued update field; absent or null means no change.
fn diff<T: serde::de::DeserializeOwned>(
    field: &str,
    v: Option<Value>,
) -> Result<BTreeMap<String, T>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(v) => {
            serde_json::from_value(v).map_err(|e| ApiError::validation(format!("{field}: {e}")))
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let db = state.db.clone();
    let deleted = blocking(move || db.delete(&name)).await?;
    Ok(ok(started, deleted))
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let names: Vec<Value> = state
        .db
        .names()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    Ok(ok(started, json!({"collections": names})))
}

pub async fn exists(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    Ok(ok(started, json!({"exists": state.db.get(&name).is_ok()})))
}

pub async fn info(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let info = collection.info();
    let c = &info.config;
    let status = if info.optimizing { "yellow" } else { "green" };
    let body = json!({
        "status": status,
        "optimizer_status": "ok",
        "indexed_vectors_count": info.indexed_vectors_count,
        "points_count": info.points_count,
        "segments_count": info.segments_count,
        "config": {
            "params": {
                "vectors": c.vectors,
                "sparse_vectors": c.sparse_vectors,
                "shard_number": c.shard_number,
                "replication_factor": c.replication_factor,
                "write_consistency_factor": c.write_consistency_factor,
                "on_disk_payload": c.on_disk_payload,
            },
            "hnsw_config": c.hnsw_config,
            "optimizer_config": c.optimizer_config,
            "wal_config": c.wal_config,
            "quantization_config": c.quantization_config,
            "strict_mode_config": c.strict_mode_config,
            "metadata": c.metadata,
        },
        "payload_schema": info.payload_schema,
    });
    Ok(ok(started, body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIndex {
    pub field_name: String,
    #[serde(default)]
    pub field_schema: Option<PayloadFieldSchema>,
}

pub async fn create_index(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
    QQuery(params): QQuery<WriteParams>,
    QJson(body): QJson<CreateIndex>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let schema = body.field_schema.ok_or_else(|| {
        ApiError::Engine(EngineError::BadRequest("field_schema is required".into()))
    })?;
    if body.field_name.is_empty() {
        return Err(ApiError::validation("field_name must not be empty"));
    }
    collection.check_new_index(&body.field_name)?;
    let op = blocking(move || collection.create_payload_index(&body.field_name, schema)).await?;
    Ok(ok(
        started,
        UpdateResult::new(op, params.wait.unwrap_or(false)),
    ))
}

/// `PUT /collections/{c}/vectors/{name}`: `{"dense": {size, distance,
/// ...}}` or `{"sparse": {modifier}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorNameConfig {
    #[serde(default)]
    dense: Option<DenseVectorConfig>,
    #[serde(default)]
    sparse: Option<SparseVectorParams>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseVectorConfig {
    size: usize,
    distance: crate::engine::types::Distance,
    #[serde(default)]
    multivector_config: Option<MultiVectorConfig>,
    #[serde(default)]
    datatype: Option<Datatype>,
}

pub async fn create_vector_name(
    State(state): State<AppState>,
    QPath((name, vector)): QPath<(String, String)>,
    QQuery(params): QQuery<WriteParams>,
    QJson(body): QJson<VectorNameConfig>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let new = match (body.dense, body.sparse) {
        (Some(d), None) => NewVector::Dense(VectorParams {
            multivector_config: d.multivector_config,
            datatype: d.datatype,
            ..VectorParams::new(d.size, d.distance)
        }),
        (None, Some(s)) => NewVector::Sparse(s),
        _ => {
            return Err(ApiError::validation(
                "give exactly one of `dense` and `sparse`",
            ))
        }
    };
    let op = blocking(move || collection.create_vector_name(&vector, new)).await?;
    Ok(ok(
        started,
        UpdateResult::new(op, params.wait.unwrap_or(false)),
    ))
}

pub async fn delete_vector_name(
    State(state): State<AppState>,
    QPath((name, vector)): QPath<(String, String)>,
    QQuery(params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let op = blocking(move || collection.delete_vector_name(&vector)).await?;
    Ok(ok(
        started,
        UpdateResult::new(op, params.wait.unwrap_or(false)),
    ))
}

pub async fn delete_index(
    State(state): State<AppState>,
    QPath((name, field)): QPath<(String, String)>,
    QQuery(params): QQuery<WriteParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let op = blocking(move || collection.delete_payload_index(&field)).await?;
    Ok(ok(
        started,
        UpdateResult::new(op, params.wait.unwrap_or(false)),
    ))
}

pub async fn cluster(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let collection = state.db.get(&name)?;
    let count = collection.info().points_count;
    Ok(ok(
        started,
        json!({
            "peer_id": 0,
            "shard_count": 1,
            "local_shards": [{"shard_id": 0, "points_count": count, "state": "Active"}],
            "remote_shards": [],
            "shard_transfers": [],
        }),
    ))
}

/// `POST /collections/aliases`: `{"actions": [{"create_alias": {...}}, ...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasRequest {
    pub actions: Vec<AliasActionWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AliasActionWire {
    CreateAlias {
        collection_name: String,
        alias_name: String,
    },
    DeleteAlias {
        alias_name: String,
    },
    RenameAlias {
        old_alias_name: String,
        new_alias_name: String,
    },
}

pub async fn update_aliases(
    State(state): State<AppState>,
    QQuery(_params): QQuery<WriteParams>,
    QJson(body): QJson<AliasRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let actions: Vec<AliasAction> = body
        .actions
        .into_iter()
        .map(|a| match a {
            AliasActionWire::CreateAlias {
                collection_name,
                alias_name,
            } => AliasAction::Create {
                alias: alias_name,
                collection: collection_name,
            },
            AliasActionWire::DeleteAlias { alias_name } => {
                AliasAction::Delete { alias: alias_name }
            }
            AliasActionWire::RenameAlias {
                old_alias_name,
                new_alias_name,
            } => AliasAction::Rename {
                from: old_alias_name,
                to: new_alias_name,
            },
        })
        .collect();
    let db = state.db.clone();
    blocking(move || db.update_aliases(&actions)).await?;
    Ok(ok(started, true))
}

fn aliases_json(list: Vec<(String, String)>) -> Value {
    let aliases: Vec<Value> = list
        .into_iter()
        .map(|(alias, collection)| json!({"alias_name": alias, "collection_name": collection}))
        .collect();
    json!({ "aliases": aliases })
}

pub async fn collection_aliases(
    State(state): State<AppState>,
    QPath(name): QPath<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if !state.db.exists(&name) {
        return Err(ApiError::Engine(EngineError::NotFound(format!(
            "Collection `{name}` doesn't exist!"
        ))));
    }
    Ok(ok(started, aliases_json(state.db.aliases(Some(&name)))))
}

pub async fn all_aliases(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started = Instant::now();
    Ok(ok(started, aliases_json(state.db.aliases(None))))
}
