//! Plain engine types shared by every part of the engine.
//!
//! These mirror Qdrant's concepts but are not its wire types: the `api`
//! module converts between the two.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    pub fn from_json(v: &serde_json::Value) -> Result<PointId, String> {
        match v {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(PointId::Num)
                .ok_or_else(|| format!("point id {n} is not an unsigned integer or a UUID")),
            serde_json::Value::String(s) => Uuid::parse_str(s)
                .map(PointId::Uuid)
                .map_err(|_| format!("point id {s:?} is not an unsigned integer or a UUID")),
            other => Err(format!(
                "point id {other} is not an unsigned integer or a UUID"
            )),
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
}
