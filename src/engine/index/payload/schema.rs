//! Qdrant's index schema types: `field_schema` of a create-index request
//! and the `payload_schema` entries of collection info. Parameters are
//! kept verbatim so they can be echoed back exactly as Qdrant does.

use crate::engine::types::InvalidValue;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Qdrant's payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadSchemaType {
    Keyword,
    Integer,
    Float,
    Geo,
    Text,
    Bool,
    Datetime,
    Uuid,
}

impl PayloadSchemaType {
    pub const ALL: [PayloadSchemaType; 8] = [
        PayloadSchemaType::Keyword,
        PayloadSchemaType::Integer,
        PayloadSchemaType::Float,
        PayloadSchemaType::Geo,
        PayloadSchemaType::Text,
        PayloadSchemaType::Bool,
        PayloadSchemaType::Datetime,
        PayloadSchemaType::Uuid,
    ];

    /// Qdrant's name of the type (`"keyword"`, ...).
    pub fn as_str(self) -> &'static str {
        self.name()
    }

    pub fn name(self) -> &'static str {
        match self {
            PayloadSchemaType::Keyword => "keyword",
            PayloadSchemaType::Integer => "integer",
            PayloadSchemaType::Float => "float",
            PayloadSchemaType::Geo => "geo",
            PayloadSchemaType::Text => "text",
            PayloadSchemaType::Bool => "bool",
            PayloadSchemaType::Datetime => "datetime",
            PayloadSchemaType::Uuid => "uuid",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// `field_schema` of a create-index request: a bare type name or an object
/// with `type` and parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PayloadFieldSchema {
    Type(PayloadSchemaType),
    Params(PayloadSchemaParams),
}

impl PayloadFieldSchema {
    pub fn data_type(&self) -> PayloadSchemaType {
        match self {
            PayloadFieldSchema::Type(t) => *t,
            PayloadFieldSchema::Params(p) => p.data_type(),
        }
    }

    pub fn params(&self) -> Option<&PayloadSchemaParams> {
        match self {
            PayloadFieldSchema::Type(_) => None,
            PayloadFieldSchema::Params(p) => Some(p),
        }
    }

    pub fn from_value(v: Value) -> Result<Self, InvalidValue> {
        let names = PayloadSchemaType::ALL
            .map(PayloadSchemaType::name)
            .join(", ");
        match v {
            Value::String(s) => PayloadSchemaType::parse(&s)
                .map(PayloadFieldSchema::Type)
                .ok_or_else(|| {
                    InvalidValue(format!(
                        "unknown field_schema type `{s}`, expected one of {names}"
                    ))
                }),
            Value::Object(ref map) => {
                match map.get("type") {
                    None => {
                        return Err(InvalidValue::from(format!(
                            "field_schema object must have a `type` ({names})"
                        )))
                    }
                    Some(Value::String(s)) if PayloadSchemaType::parse(s).is_none() => {
                        return Err(InvalidValue::from(format!(
                            "unknown field_schema type `{s}`, expected one of {names}"
                        )))
                    }
                    _ => {}
                }
                serde_json::from_value(v)
                    .map(PayloadFieldSchema::Params)
                    .map_err(|e| InvalidValue(format!("field_schema: {e}")))
            }
            other => Err(InvalidValue::from(format!(
                "field_schema must be a type name or an object with `type`, got {other}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for PayloadFieldSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PayloadFieldSchema::from_value(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(t: PayloadSchemaType) -> Self {
        PayloadFieldSchema::Type(t)
    }
}

/// Type-specific index parameters. Parameters that only tune storage or
/// the HNSW graph (`on_disk`, `is_tenant`, `is_principal`, `enable_hnsw`,
/// `lookup`, `range`) are accepted and echoed but not acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PayloadSchemaParams {
    Keyword(KeywordIndexParams),
    Integer(IntegerIndexParams),
    Float(FloatIndexParams),
    Geo(GeoIndexParams),
    Text(TextIndexParams),
    Bool(BoolIndexParams),
    Datetime(DatetimeIndexParams),
    Uuid(UuidIndexParams),
}

impl PayloadSchemaParams {
    pub fn data_type(&self) -> PayloadSchemaType {
        match self {
            PayloadSchemaParams::Keyword(_) => PayloadSchemaType::Keyword,
            PayloadSchemaParams::Integer(_) => PayloadSchemaType::Integer,
            PayloadSchemaParams::Float(_) => PayloadSchemaType::Float,
            PayloadSchemaParams::Geo(_) => PayloadSchemaType::Geo,
            PayloadSchemaParams::Text(_) => PayloadSchemaType::Text,
            PayloadSchemaParams::Bool(_) => PayloadSchemaType::Bool,
            PayloadSchemaParams::Datetime(_) => PayloadSchemaType::Datetime,
            PayloadSchemaParams::Uuid(_) => PayloadSchemaType::Uuid,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegerIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoolIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatetimeIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UuidIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerType {
    Prefix,
    Whitespace,
    #[default]
    Word,
    Multilingual,
}

/// `stopwords`: a language name, or `{"languages": [...], "custom": [...]}`;
/// the same option, and the same languages, as BM25's.
pub use crate::text::StopwordsInterface;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii_folding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<StopwordsInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    /// `{"type": "snowball", "language": ...}` or `{"type": "none"}`, read by
    /// [`super::text::analyzer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

/// One entry of a collection's `payload_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadIndexInfo {
    pub data_type: PayloadSchemaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<PayloadSchemaParams>,
    pub points: usize,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schema_parsing_and_echo() {
        let s: PayloadFieldSchema = serde_json::from_value(json!("keyword")).unwrap();
        assert_eq!(s, PayloadFieldSchema::Type(PayloadSchemaType::Keyword));
        let v = json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2, "lowercase": true, "on_disk": false, "stopwords": "english"});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.data_type(), PayloadSchemaType::Text);
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        let v = json!({"type": "integer", "lookup": false, "range": true, "is_principal": true});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        let v = json!({"type": "keyword", "is_tenant": true});
        let s: PayloadFieldSchema = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);

        let e = serde_json::from_value::<PayloadFieldSchema>(json!("strng"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field_schema type `strng`"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"type": "nope"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"tokenizer": "word"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("type"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(
            json!({"type": "text", "tokenizer": "bpe"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bpe"), "{e}");
        let e = serde_json::from_value::<PayloadFieldSchema>(json!({"type": "keyword", "foo": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("foo"), "{e}");
    }
}
