//! Plain engine types shared by every part of the engine.
//!
//! These mirror Qdrant's concepts but are not its wire types: the `api`
//! module converts between the two.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A value a client sent that is not well-formed (a point id, a vector, a
/// payload index's schema); the message says what is wrong with it, and
/// reaches the client as a 400.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl From<String> for InvalidValue {
    fn from(message: String) -> Self {
        InvalidValue(message)
    }
}

impl From<&str> for InvalidValue {
    fn from(message: &str) -> Self {
        InvalidValue(message.to_string())
    }
}

/// A point's external id: Qdrant accepts unsigned integers and UUIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PointId {
    Num(u64),
    Uuid(Uuid),
}

impl PointId {
    /// Stable text form used as the key in storage (`n:42`, `u:<uuid>`).
    pub fn storage_key(&self) -> String {
        match self {
            PointId::Num(n) => format!("n:{n}"),
            PointId::Uuid(u) => format!("u:{u}"),
        }
    }

    /// Parses Qdrant's `ExtendedPointId` JSON: an unsigned integer or a
    /// UUID string. The one parser for ids, used by filters and the API.
    pub fn from_json(v: &serde_json::Value) -> Result<PointId, InvalidValue> {
        match v {
            serde_json::Value::Number(n) => n.as_u64().map(PointId::Num).ok_or_else(|| {
                InvalidValue(format!("point id {n} is not an unsigned integer or a UUID"))
            }),
            serde_json::Value::String(s) => Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
                InvalidValue(format!(
                    "point id {s:?} is not an unsigned integer or a UUID"
                ))
            }),
            other => Err(InvalidValue::from(format!(
                "point id {other} is not an unsigned integer or a UUID"
            ))),
        }
    }

    pub fn from_storage_key(key: &str) -> Option<PointId> {
        let (kind, rest) = key.split_at_checked(2)?;
        match kind {
            "n:" => rest.parse().ok().map(PointId::Num),
            "u:" => Uuid::parse_str(rest).ok().map(PointId::Uuid),
            _ => None,
        }
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

/// A point's payload: a JSON object.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// Internal, dense index of a stored vector in the collection's arena.
/// Every upsert that changes a vector takes a fresh offset; the old one
/// becomes a tombstone. Graphs and payload indexes are keyed by offset.
pub type Offset = u32;

/// Similarity functions, with Qdrant's scoring conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distance {
    Cosine,
    Euclid,
    Dot,
    Manhattan,
}

impl Distance {
    /// For Cosine and Dot a larger score is better; for Euclid and
    /// Manhattan the score is a distance and a smaller one is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }
}

/// A sparse vector: `indices` strictly increasing, one value per index.
/// Kept sorted so dot products are a merge of two sorted lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Validates a client's sparse vector (equal lengths, unique indices,
    /// finite values) and sorts it by index.
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<SparseVector, InvalidValue> {
        if indices.len() != values.len() {
            return Err(InvalidValue::from(format!(
                "sparse vector has {} indices but {} values",
                indices.len(),
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(InvalidValue::from(format!(
                "sparse vector value {i} is not a finite number ({})",
                values[i]
            )));
        }
        let mut pairs: Vec<(u32, f32)> = indices.into_iter().zip(values).collect();
        pairs.sort_unstable_by_key(|&(i, _)| i);
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(InvalidValue::from(format!(
                "sparse vector index {} is not unique",
                w[0].0
            )));
        }
        Ok(SparseVector {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Dot product of two sorted sparse vectors.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

/// One vector of a point: dense floats, a sparse vector or a multivector.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorData {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(MultiVector),
}

/// A point's vectors by name; the unnamed dense vector is named `""`.
pub type NamedVectors = std::collections::BTreeMap<String, VectorData>;

/// Which of a point's vectors a read returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum VectorSelector {
    #[default]
    None,
    All,
    Names(Vec<String>),
}

impl VectorSelector {
    pub fn wants(&self, name: &str) -> bool {
        match self {
            VectorSelector::None => false,
            VectorSelector::All => true,
            VectorSelector::Names(n) => n.iter().any(|n| n == name),
        }
    }

    pub fn any(&self) -> bool {
        !matches!(self, VectorSelector::None)
    }
}

/// Rows of one size, stored flat (one allocation per point).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiVector {
    dim: usize,
    data: Vec<f32>,
}

impl MultiVector {
    /// Validates a client's rows: at least one, none empty, all one size.
    /// (Whether that size is the configured one is the collection's check.)
    pub fn new(rows: Vec<Vec<f32>>) -> Result<MultiVector, InvalidValue> {
        let dim = rows.first().map_or(0, Vec::len);
        if rows.iter().any(Vec::is_empty) {
            return Err("all vectors must be non-empty".into());
        }
        if let Some(bad) = rows.iter().find(|r| r.len() != dim) {
            return Err(InvalidValue::from(format!(
                "all vectors must have the same dimension, found vector with dimension {} (the first has {dim})",
                bad.len()
            )));
        }
        Ok(MultiVector {
            dim,
            data: rows.into_iter().flatten().collect(),
        })
    }

    /// One row: how a plain dense query searches a multivector field.
    pub fn single(row: Vec<f32>) -> MultiVector {
        MultiVector {
            dim: row.len(),
            data: row,
        }
    }

    /// The size of each row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim.max(1))
    }

    pub fn rows_mut(&mut self) -> std::slice::ChunksExactMut<'_, f32> {
        self.data.chunks_exact_mut(self.dim.max(1))
    }

    /// The rows one after another, as the storage encoding packs them.
    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }

    /// Rows of `dim` floats laid one after another (`data.len()` a
    /// multiple of `dim`, checked by the caller).
    pub fn from_flat(dim: usize, data: Vec<f32>) -> MultiVector {
        MultiVector { dim, data }
    }

    pub fn to_rows(&self) -> Vec<Vec<f32>> {
        self.rows().map(<[f32]>::to_vec).collect()
    }
}

impl Serialize for MultiVector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows())
    }
}

impl<'de> Deserialize<'de> for MultiVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rows = Vec::<Vec<f32>>::deserialize(d)?;
        MultiVector::new(rows).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_key_round_trip() {
        let ids = [
            PointId::Num(0),
            PointId::Num(u64::MAX),
            PointId::Uuid(Uuid::parse_str("5c56c793-69f3-4fbf-87e6-c4bf54c28c26").unwrap()),
        ];
        for id in ids {
            assert_eq!(PointId::from_storage_key(&id.storage_key()), Some(id));
        }
        assert_eq!(PointId::from_storage_key("x:1"), None);
    }

    #[test]
    fn sparse_vectors_are_validated_sorted_and_dotted() {
        let a = SparseVector::new(vec![7, 2, 5], vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(a.indices, vec![2, 5, 7]);
        assert_eq!(a.values, vec![2.0, 3.0, 1.0]);
        let b = SparseVector::new(vec![5, 9, 2], vec![0.5, 4.0, 1.0]).unwrap();
        assert_eq!(a.dot(&b), 2.0 + 1.5);
        assert!(SparseVector::new(vec![1, 1], vec![1.0, 2.0]).is_err());
        assert!(SparseVector::new(vec![1], vec![]).is_err());
        assert!(SparseVector::new(vec![1], vec![f32::NAN]).is_err());
    }
}
