//! Wire types mirroring Qdrant's REST schema, and their conversion to
//! engine types. Nothing here is stored; the engine has its own types.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::Record;
use crate::engine::filter::Filter;
use crate::engine::query::scroll::{Direction, OrderBy};
use crate::engine::types::MultiVector;
use crate::engine::types::{
    NamedVectors, Payload, PointId, SparseVector, VectorData, VectorSelector,
};
use crate::engine::EngineError;

use super::error::ApiError;

/// Qdrant's `ExtendedPointId`: an unsigned integer or a UUID string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireId(pub PointId);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        parse_id(&v).map(WireId).map_err(D::Error::custom)
    }
}

pub fn parse_id(v: &Value) -> Result<PointId, String> {
    PointId::from_json(v).map_err(|e| e.0)
}

impl Serialize for WireId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            PointId::Num(n) => s.serialize_u64(n),
            PointId::Uuid(u) => s.serialize_str(&u.to_string()),
        }
    }
}

/// Qdrant's `Document`: text for the server to embed with `model`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentWire {
    pub text: String,
    pub model: String,
    #[serde(default)]
    pub options: Option<Value>,
}

impl DocumentWire {
    /// Reads a `Document` out of a JSON value when it has that shape
    /// (`text` and `model` strings, at most `options` besides).
    pub fn from_value(v: &Value) -> Option<Result<DocumentWire, ApiError>> {
        let map = v.as_object()?;
        if !(map.get("text")?.is_string() && map.contains_key("model")) {
            return None;
        }
        Some(
            serde_json::from_value(v.clone())
                .map_err(|e| ApiError::validation(format!("Document: {e}"))),
        )
    }
}

/// A vector as sent: floats, a `Document` to embed, or (for named
/// vectors) an object. The order matters: a map whose values are not
/// vectors but `text`/`model` strings is a `Document`, as in Qdrant.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VectorInput {
    Dense(Vec<f32>),
    /// The unnamed vector as a list of rows.
    Multi(Vec<Vec<f32>>),
    Document(DocumentWire),
    Named(serde_json::Map<String, Value>),
}

impl VectorInput {
    /// The point's vectors by name; a plain array is the unnamed vector.
    /// Documents must have been embedded before (see `inference`).
    pub fn into_named(self) -> Result<NamedVectors, ApiError> {
        match self {
            VectorInput::Dense(v) => {
                Ok(NamedVectors::from([(String::new(), VectorData::Dense(v))]))
            }
            VectorInput::Multi(rows) => Ok(NamedVectors::from([(
                String::new(),
                multivector("", rows)?,
            )])),
            VectorInput::Document(d) => Err(not_embedded(&d.model)),
            VectorInput::Named(map) => map
                .into_iter()
                .map(|(name, v)| {
                    let data = vector_data(&name, v)?;
                    Ok((name, data))
                })
                .collect(),
        }
    }
}

fn not_embedded(model: &str) -> ApiError {
    // Handlers embed Documents before conversion; reaching here is a bug.
    ApiError::validation(format!("Document for model `{model}` was not embedded"))
}

/// A multivector's rows, checked for shape (the size is the engine's check).
fn multivector(name: &str, rows: Vec<Vec<f32>>) -> Result<VectorData, ApiError> {
    MultiVector::new(rows)
        .map(VectorData::Multi)
        .map_err(|e| ApiError::validation(format!("vector `{name}`: {e}")))
}

/// One named vector's JSON: floats, `{indices, values}`, or a list of rows.
pub fn vector_data(name: &str, v: Value) -> Result<VectorData, ApiError> {
    match v {
        Value::Array(items) if items.first().is_some_and(Value::is_array) => {
            let rows = serde_json::from_value(Value::Array(items))
                .map_err(|e| ApiError::validation(format!("vector `{name}`: {e}")))?;
            multivector(name, rows)
        }
        Value::Array(_) => serde_json::from_value(v)
            .map(VectorData::Dense)
            .map_err(|e| ApiError::validation(format!("vector `{name}`: {e}"))),
        Value::Object(ref m) if m.contains_key("indices") => {
            let wire: SparseWire = serde_json::from_value(v)
                .map_err(|e| ApiError::validation(format!("vector `{name}`: {e}")))?;
            wire.into_engine().map(VectorData::Sparse)
        }
        Value::Object(ref m) if m.contains_key("text") => match DocumentWire::from_value(&v) {
            Some(Ok(d)) => Err(not_embedded(&d.model)),
            Some(Err(e)) => Err(e),
            None => Err(ApiError::validation(format!(
                "vector `{name}`: expected floats, a sparse vector or a Document"
            ))),
        },
        other => Err(ApiError::validation(format!(
            "vector `{name}`: expected floats, a sparse vector or a Document, got {other}"
        ))),
    }
}

/// Qdrant's `SparseVector` on the wire.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SparseWire {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseWire {
    pub fn into_engine(self) -> Result<SparseVector, ApiError> {
        SparseVector::new(self.indices, self.values)
            .map_err(|e| ApiError::Engine(EngineError::BadRequest(format!("Wrong input: {e}"))))
    }
}

/// A record's vectors as Qdrant returns them: a plain array for a
/// collection with one unnamed vector, otherwise a map by name.
pub fn vectors_wire(vectors: NamedVectors, single: bool) -> Value {
    let one = |data: VectorData| match data {
        VectorData::Dense(v) => Value::from(v),
        VectorData::Sparse(s) => serde_json::json!({"indices": s.indices, "values": s.values}),
        VectorData::Multi(m) => Value::from(m.to_rows()),
    };
    if single {
        if let Some(data) = vectors.into_values().next() {
            return one(data);
        }
        return Value::Object(Default::default());
    }
    Value::Object(vectors.into_iter().map(|(n, d)| (n, one(d))).collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointStruct {
    pub id: WireId,
    pub vector: VectorInput,
    #[serde(default)]
    pub payload: Option<Payload>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchColumns {
    pub ids: Vec<WireId>,
    #[serde(deserialize_with = "batch_vectors")]
    pub vectors: Vec<VectorInput>,
    #[serde(default)]
    pub payloads: Option<Vec<Option<Payload>>>,
}

/// `BatchVectorStruct`: one vector per point, or a map from vector name
/// to a column of vectors, turned here into one named map per point.
fn batch_vectors<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<VectorInput>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Columns {
        Rows(Vec<VectorInput>),
        Named(serde_json::Map<String, Value>),
    }
    match Columns::deserialize(d)? {
        Columns::Rows(rows) => Ok(rows),
        Columns::Named(map) => {
            let mut rows: Option<Vec<serde_json::Map<String, Value>>> = None;
            for (name, column) in map {
                let Value::Array(column) = column else {
                    return Err(D::Error::custom(format!(
                        "vectors.{name}: expected a list of vectors"
                    )));
                };
                let rows = rows.get_or_insert_with(|| vec![Default::default(); column.len()]);
                if rows.len() != column.len() {
                    return Err(D::Error::custom(
                        "every vector column of a batch must have one vector per id",
                    ));
                }
                for (row, v) in rows.iter_mut().zip(column) {
                    row.insert(name.clone(), v);
                }
            }
            Ok(rows
                .unwrap_or_default()
                .into_iter()
                .map(VectorInput::Named)
                .collect())
        }
    }
}

/// `PointInsertOperations`: the `points` list or the `batch` columns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertRequest {
    #[serde(default)]
    pub points: Option<Vec<PointStruct>>,
    #[serde(default)]
    pub batch: Option<BatchColumns>,
    #[serde(default)]
    pub shard_key: Option<Value>,
    #[serde(default)]
    pub update_filter: Option<Filter>,
    #[serde(default)]
    pub update_mode: Option<Value>,
}

/// `PointsSelector` plus the payload fields of the payload routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorRequest {
    #[serde(default)]
    pub points: Option<Vec<WireId>>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub shard_key: Option<Value>,
    #[serde(default)]
    pub payload: Option<Payload>,
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointVectors {
    pub id: WireId,
    pub vector: VectorInput,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateVectorsRequest {
    pub points: Vec<PointVectors>,
    #[serde(default)]
    pub shard_key: Option<Value>,
    #[serde(default)]
    pub update_filter: Option<Filter>,
}

/// One entry of `/points/batch`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BatchOperation {
    Upsert(UpsertRequest),
    Delete(SelectorRequest),
    SetPayload(SelectorRequest),
    OverwritePayload(SelectorRequest),
    DeletePayload(SelectorRequest),
    ClearPayload(SelectorRequest),
    UpdateVectors(UpdateVectorsRequest),
    DeleteVectors(DeleteVectorsRequest),
}

/// `/points/vectors/delete`: the vector names to remove from the points.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteVectorsRequest {
    #[serde(default)]
    pub points: Option<Vec<WireId>>,
    #[serde(default)]
    pub filter: Option<Filter>,
    pub vector: Vec<String>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub operations: Vec<BatchOperation>,
}

/// Query parameters of every write route.
#[derive(Debug, Default, Deserialize)]
pub struct WriteParams {
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub ordering: Option<Ordering>,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Accepted and ignored: one node has one replica, so every ordering holds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    Weak,
    Medium,
    Strong,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReadParams {
    #[serde(default)]
    pub consistency: Option<Value>,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// `with_payload`: bool, list of keys, or include/exclude.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WithPayload {
    Flag(bool),
    Keys(Vec<String>),
    Selector(PayloadSelectorWire),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadSelectorWire {
    #[serde(default)]
    pub include: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
}

impl WithPayload {
    pub fn into_selector(
        w: Option<WithPayload>,
        default: bool,
    ) -> Result<PayloadSelector, ApiError> {
        Ok(match w {
            None => flag(default),
            Some(WithPayload::Flag(b)) => flag(b),
            Some(WithPayload::Keys(k)) => PayloadSelector::Include(k),
            Some(WithPayload::Selector(s)) => match (s.include, s.exclude) {
                (Some(i), None) => PayloadSelector::Include(i),
                (None, Some(e)) => PayloadSelector::Exclude(e),
                _ => {
                    return Err(ApiError::validation(
                        "with_payload selector needs exactly one of include or exclude",
                    ))
                }
            },
        })
    }
}

fn flag(b: bool) -> PayloadSelector {
    if b {
        PayloadSelector::All
    } else {
        PayloadSelector::None
    }
}

/// `with_vector(s)`: bool or list of vector names.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WithVector {
    Flag(bool),
    Names(Vec<String>),
}

impl WithVector {
    pub fn selector(w: &Option<WithVector>) -> VectorSelector {
        match w {
            None | Some(WithVector::Flag(false)) => VectorSelector::None,
            Some(WithVector::Flag(true)) => VectorSelector::All,
            Some(WithVector::Names(n)) => VectorSelector::Names(n.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    pub ids: Vec<WireId>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default)]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OrderByWire {
    Key(String),
    Full {
        key: String,
        #[serde(default)]
        direction: Option<DirectionWire>,
        #[serde(default)]
        start_from: Option<Value>,
    },
}

impl OrderByWire {
    /// The engine's ordering; a `start_from` must be a number or an RFC
    /// 3339 datetime.
    pub fn into_engine(self) -> Result<OrderBy, ApiError> {
        Ok(match self {
            OrderByWire::Key(key) => OrderBy {
                key,
                direction: Direction::Asc,
                start_from: None,
            },
            OrderByWire::Full {
                key,
                direction,
                start_from,
            } => OrderBy {
                key,
                direction: match direction {
                    Some(DirectionWire::Desc) => Direction::Desc,
                    _ => Direction::Asc,
                },
                start_from: match start_from {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(start_from_value(&v)?),
                },
            },
        })
    }
}

fn start_from_value(v: &Value) -> Result<f64, ApiError> {
    if let Some(n) = v.as_f64() {
        return Ok(n);
    }
    v.as_str()
        .and_then(crate::engine::filter::datetime::parse_micros)
        .map(|micros| micros as f64)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "order_by.start_from: {v} is not a number or a datetime"
            ))
        })
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectionWire {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrollRequestWire {
    #[serde(default)]
    pub offset: Option<WireId>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default)]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub order_by: Option<OrderByWire>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    pub hnsw_ef: Option<usize>,
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub quantization: Option<Value>,
    #[serde(default)]
    pub indexed_only: Option<bool>,
    #[serde(default)]
    pub acorn: Option<Value>,
}

/// Legacy `/points/search` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequestWire {
    pub vector: NamedVector,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    pub limit: usize,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default)]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

/// `NamedVectorStruct`: a plain vector, `{name, vector}` with dense
/// floats, or `{name, vector: {indices, values}}` for a sparse vector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum NamedVector {
    Plain(Vec<f32>),
    Named { name: String, vector: Vec<f32> },
    Sparse { name: String, vector: SparseWire },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBatchWire {
    pub searches: Vec<SearchRequestWire>,
}

/// The `query` of `/points/query`. A dense vector, the common case, is
/// read straight into floats; any other shape is kept as JSON for the
/// handler to interpret. (An untagged enum would buffer every number first.)
#[derive(Debug, Clone)]
pub enum QueryInput {
    Vector(Vec<f32>),
    Other(Value),
}

impl<'de> Deserialize<'de> for QueryInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = QueryInput;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vector, a point id or a query object")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<QueryInput, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                // A list of rows (a multivector) is kept as JSON; a list
                // of numbers is read straight into floats.
                match seq.next_element::<Value>()? {
                    None => return Ok(QueryInput::Vector(v)),
                    Some(Value::Number(n)) => v.push(n.as_f64().unwrap_or(f64::NAN) as f32),
                    Some(first) => {
                        let mut items = vec![first];
                        while let Some(x) = seq.next_element::<Value>()? {
                            items.push(x);
                        }
                        return Ok(QueryInput::Other(Value::Array(items)));
                    }
                }
                while let Some(x) = seq.next_element::<f32>()? {
                    v.push(x);
                }
                Ok(QueryInput::Vector(v))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<QueryInput, E> {
                Ok(QueryInput::Other(Value::from(n)))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<QueryInput, E> {
                Ok(QueryInput::Other(Value::from(n)))
            }

            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<QueryInput, E> {
                Ok(QueryInput::Other(Value::from(n)))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<QueryInput, E> {
                Ok(QueryInput::Other(Value::from(s)))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<QueryInput, E> {
                Ok(QueryInput::Other(Value::Null))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<QueryInput, A::Error> {
                let m = serde_json::Map::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(QueryInput::Other(Value::Object(m)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `/points/query` body (the parts this release answers).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequestWire {
    #[serde(default)]
    pub query: Option<QueryInput>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default)]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    #[serde(default)]
    pub prefetch: Option<Value>,
    #[serde(default)]
    pub lookup_from: Option<LookupLocation>,
    #[serde(default)]
    pub shard_key: Option<Value>,
}

/// `lookup_from`: the collection (and vector) a query's point ids are
/// read from, instead of the collection searched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupLocation {
    pub collection: String,
    #[serde(default)]
    pub vector: Option<String>,
    /// Accepted for compatibility: one node holds every shard.
    #[serde(default)]
    #[allow(dead_code)]
    pub shard_key: Option<Value>,
}

impl From<LookupLocation> for crate::engine::query::lookup::Lookup {
    fn from(w: LookupLocation) -> Self {
        crate::engine::query::lookup::Lookup {
            collection: w.collection,
            vector: w.vector,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBatchWire {
    pub searches: Vec<QueryRequestWire>,
}

/// A point in a response: `Record` or `ScoredPoint`.
#[derive(Debug, Serialize)]
pub struct PointOut {
    pub id: WireId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    pub payload: Option<Payload>,
    pub vector: Option<Value>,
    pub shard_key: Option<Value>,
    pub order_value: Option<Value>,
}

/// Qdrant's `OrderValue` is an int64 or a double: a datetime orders by its
/// timestamp and is reported as microseconds since the epoch, not as the
/// payload string (which clients fail to parse).
fn order_value_wire(v: Option<Value>) -> Option<Value> {
    match v {
        Some(Value::String(s)) => {
            crate::engine::filter::datetime::parse_micros(&s).map(Value::from)
        }
        other => other,
    }
}

impl PointOut {
    /// A retrieved point; `single` says the collection has one unnamed vector.
    pub fn record(r: Record, single: bool) -> PointOut {
        PointOut {
            id: WireId(r.id),
            version: None,
            score: None,
            payload: r.payload,
            vector: r.vector.map(|v| vectors_wire(v, single)),
            shard_key: None,
            order_value: order_value_wire(r.order_value),
        }
    }

    pub fn scored(r: Record, single: bool) -> PointOut {
        PointOut {
            version: Some(r.version),
            score: Some(r.score.unwrap_or(0.0)),
            ..PointOut::record(r, single)
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UpdateResult {
    pub operation_id: u64,
    pub status: &'static str,
}

impl UpdateResult {
    pub fn new(operation_id: u64, wait: bool) -> UpdateResult {
        UpdateResult {
            operation_id,
            status: if wait { "completed" } else { "acknowledged" },
        }
    }
}
