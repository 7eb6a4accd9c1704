//! Deserialization of filters, hand-written rather than derived: serde's
//! untagged enums report only "did not match any variant", while API
//! callers need to know which clause and which field is wrong. Each type
//! parses from a `serde_json::Value` (`from_value`) and `Deserialize` is
//! implemented on top of that.

use crate::engine::filter::FilterError;
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::model::{
    AnyVariants, Condition, FieldCondition, Filter, IsEmptyCondition, IsNullCondition, Match,
    MinShould, PayloadField, Range, RangeInterface, ValueVariants,
};
use crate::engine::filter::datetime;
use crate::engine::types::PointId;

const FILTER_FIELDS: [&str; 4] = ["must", "should", "must_not", "min_should"];
const CONDITION_KINDS: &str =
    "key, has_id, has_vector, nested, is_empty, is_null, must, should, must_not, min_should";
const MATCH_KINDS: &str = "value, text, text_any, phrase, any, except";

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Filter {
    /// Parse a filter from JSON with a precise error message.
    pub fn from_value(v: Value) -> Result<Filter, FilterError> {
        let Value::Object(map) = v else {
            return Err(FilterError::from(format!(
                "filter must be an object, got {}",
                kind_of(&v)
            )));
        };
        let mut f = Filter::default();
        for (k, v) in map {
            match k.as_str() {
                "must" => f.must = parse_clause(v, "must")?,
                "should" => f.should = parse_clause(v, "should")?,
                "must_not" => f.must_not = parse_clause(v, "must_not")?,
                "min_should" => {
                    f.min_should = match v {
                        Value::Null => None,
                        v => Some(MinShould::from_value(v)?),
                    }
                }
                other => {
                    return Err(FilterError::from(format!(
                        "unknown field `{other}` in filter, expected one of must, should, must_not, min_should"
                    )))
                }
            }
        }
        Ok(f)
    }
}

fn parse_clause(v: Value, name: &str) -> Result<Option<Vec<Condition>>, FilterError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                Condition::from_value(c).map_err(|e| FilterError::from(format!("{name}[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Object(_) => Condition::from_value(v)
            .map(|c| Some(vec![c]))
            .map_err(|e| FilterError::from(format!("{name}: {e}"))),
        other => Err(FilterError::from(format!(
            "{name} must be a condition, an array of conditions or null, got {}",
            kind_of(&other)
        ))),
    }
}

impl MinShould {
    fn from_value(v: Value) -> Result<MinShould, FilterError> {
        let Value::Object(map) = v else {
            return Err(FilterError::from(format!(
                "min_should must be an object with conditions and min_count, got {}",
                kind_of(&v)
            )));
        };
        let mut conditions = None;
        let mut min_count = None;
        for (k, v) in map {
            match k.as_str() {
                "conditions" => match v {
                    Value::Array(items) => {
                        conditions = Some(
                            items
                                .into_iter()
                                .enumerate()
                                .map(|(i, c)| {
                                    Condition::from_value(c).map_err(|e| {
                                        FilterError::from(format!(
                                            "min_should.conditions[{i}]: {e}"
                                        ))
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()?,
                        )
                    }
                    other => {
                        return Err(FilterError::from(format!(
                            "min_should.conditions must be an array, got {}",
                            kind_of(&other)
                        )))
                    }
                },
                "min_count" => {
                    min_count = Some(v.as_u64().ok_or_else(|| {
                        format!("min_should.min_count must be a non-negative integer, got {v}")
                    })? as usize)
                }
                other => {
                    return Err(FilterError::from(format!(
                        "unknown field `{other}` in min_should, expected conditions, min_count"
                    )))
                }
            }
        }
        Ok(MinShould {
            conditions: conditions.ok_or("min_should is missing field `conditions`")?,
            min_count: min_count.ok_or("min_should is missing field `min_count`")?,
        })
    }
}

fn single_key<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a Value, FilterError> {
    if let Some(extra) = map.keys().find(|k| k.as_str() != name) {
        return Err(FilterError::from(format!(
            "unknown field `{extra}` in {name} condition, expected only `{name}`"
        )));
    }
    Ok(&map[name])
}

fn parse_payload_field(v: &Value, name: &str) -> Result<PayloadField, FilterError> {
    match v {
        // Accept the short form `{"is_empty": "field"}` too? Qdrant does not:
        // the schema requires `{"key": ...}`.
        Value::Object(_) => {
            serde_json::from_value(v.clone()).map_err(|e| FilterError::from(format!("{name}: {e}")))
        }
        other => Err(FilterError::from(format!(
            "{name} must be an object like {{\"key\": \"field\"}}, got {}",
            kind_of(other)
        ))),
    }
}

impl Condition {
    /// Parse a condition from JSON with a precise error message.
    pub fn from_value(v: Value) -> Result<Condition, FilterError> {
        let Value::Object(map) = v else {
            return Err(FilterError::from(format!(
                "condition must be an object, got {}",
                kind_of(&v)
            )));
        };
        if map.contains_key("key") {
            return FieldCondition::from_map(map).map(Condition::Field);
        }
        if map.contains_key("has_id") {
            let v = single_key(&map, "has_id")?;
            let Value::Array(ids) = v else {
                return Err(FilterError::from(format!(
                    "has_id must be an array of point ids, got {}",
                    kind_of(v)
                )));
            };
            let ids = ids
                .iter()
                .map(PointId::from_json)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| FilterError::from(format!("has_id: {e}")))?;
            return Ok(Condition::has_id(ids));
        }
        if map.contains_key("has_vector") {
            let v = single_key(&map, "has_vector")?;
            let Value::String(name) = v else {
                return Err(FilterError::from(format!(
                    "has_vector must be a vector name (string), got {}",
                    kind_of(v)
                )));
            };
            return Ok(Condition::has_vector(name.clone()));
        }
        if map.contains_key("nested") {
            let v = single_key(&map, "nested")?;
            let Value::Object(inner) = v else {
                return Err(FilterError::from(format!(
                    "nested must be an object with key and filter, got {}",
                    kind_of(v)
                )));
            };
            let mut key = None;
            let mut filter = None;
            for (k, v) in inner {
                match k.as_str() {
                    "key" => {
                        key = Some(
                            v.as_str()
                                .ok_or_else(|| {
                                    format!("nested.key must be a string, got {}", kind_of(v))
                                })?
                                .to_string(),
                        )
                    }
                    "filter" => {
                        filter = Some(
                            Filter::from_value(v.clone())
                                .map_err(|e| FilterError::from(format!("nested.filter: {e}")))?,
                        )
                    }
                    other => {
                        return Err(FilterError::from(format!(
                            "unknown field `{other}` in nested, expected key, filter"
                        )))
                    }
                }
            }
            return Ok(Condition::nested(
                key.ok_or("nested is missing field `key`")?,
                filter.ok_or("nested is missing field `filter`")?,
            ));
        }
        if map.contains_key("is_empty") {
            let v = single_key(&map, "is_empty")?;
            return Ok(Condition::IsEmpty(IsEmptyCondition {
                is_empty: parse_payload_field(v, "is_empty")?,
            }));
        }
        if map.contains_key("is_null") {
            let v = single_key(&map, "is_null")?;
            return Ok(Condition::IsNull(IsNullCondition {
                is_null: parse_payload_field(v, "is_null")?,
            }));
        }
        if map.is_empty() || map.keys().any(|k| FILTER_FIELDS.contains(&k.as_str())) {
            return Filter::from_value(Value::Object(map)).map(Condition::Filter);
        }
        let got: Vec<&str> = map.keys().map(String::as_str).collect();
        Err(FilterError::from(format!(
            "condition must have one of {CONDITION_KINDS} fields; got {}",
            got.join(", ")
        )))
    }
}

impl FieldCondition {
    fn from_map(map: Map<String, Value>) -> Result<FieldCondition, FilterError> {
        fn typed<T: serde::de::DeserializeOwned>(
            v: Value,
            name: &str,
        ) -> Result<Option<T>, FilterError> {
            if v.is_null() {
                return Ok(None);
            }
            serde_json::from_value(v)
                .map(Some)
                .map_err(|e| FilterError::from(format!("{name}: {e}")))
        }
        let mut fc = FieldCondition::default();
        let mut key = None;
        for (k, v) in map {
            match k.as_str() {
                "key" => match v {
                    Value::String(s) => key = Some(s),
                    other => return Err(FilterError::from(format!("key must be a string, got {}", kind_of(&other)))),
                },
                "match" => {
                    fc.r#match = match v {
                        Value::Null => None,
                        v => Some(Match::from_value(v)?),
                    }
                }
                "range" => {
                    fc.range = match v {
                        Value::Null => None,
                        v => Some(RangeInterface::from_value(v)?),
                    }
                }
                "geo_bounding_box" => fc.geo_bounding_box = typed(v, "geo_bounding_box")?,
                "geo_radius" => fc.geo_radius = typed(v, "geo_radius")?,
                "geo_polygon" => fc.geo_polygon = typed(v, "geo_polygon")?,
                "values_count" => fc.values_count = typed(v, "values_count")?,
                "is_empty" => fc.is_empty = typed(v, "is_empty")?,
                "is_null" => fc.is_null = typed(v, "is_null")?,
                other => {
                    return Err(FilterError::from(format!(
                        "unknown field `{other}` in field condition, expected one of key, match, range, geo_bounding_box, geo_radius, geo_polygon, values_count, is_empty, is_null"
                    )))
                }
            }
        }
        fc.key = key.ok_or("field condition is missing `key`")?;
        Ok(fc)
    }
}

impl Match {
    pub fn from_value(v: Value) -> Result<Match, FilterError> {
        let Value::Object(map) = v else {
            return Err(FilterError::from(format!(
                "match must be an object with one of {MATCH_KINDS}, got {}",
                kind_of(&v)
            )));
        };
        if map.len() != 1 {
            let got: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(FilterError::from(format!(
                "match must have exactly one of {MATCH_KINDS}; got {}",
                if got.is_empty() {
                    "none".to_string()
                } else {
                    got.join(", ")
                }
            )));
        }
        let (k, v) = map.into_iter().next().expect("one entry");
        let text = |v: Value, name: &str| match v {
            Value::String(s) => Ok(s),
            other => Err(FilterError(format!(
                "match.{name} must be a string, got {}",
                kind_of(&other)
            ))),
        };
        match k.as_str() {
            "value" => match v {
                Value::String(s) => Ok(Match::Value(ValueVariants::String(s))),
                Value::Bool(b) => Ok(Match::Value(ValueVariants::Bool(b))),
                Value::Number(n) => n
                    .as_i64()
                    .map(|i| Match::Value(ValueVariants::Integer(i)))
                    .ok_or_else(|| {
                        FilterError(format!("match.value must be a string, an integer or a boolean; {n} is not an integer (use range for floats)"))
                    }),
                other => Err(FilterError::from(format!(
                    "match.value must be a string, an integer or a boolean, got {}",
                    kind_of(&other)
                ))),
            },
            "text" => text(v, "text").map(Match::Text),
            "text_any" => text(v, "text_any").map(Match::TextAny),
            "phrase" => text(v, "phrase").map(Match::Phrase),
            "any" => AnyVariants::from_value(v, "any").map(Match::Any),
            "except" => AnyVariants::from_value(v, "except").map(Match::Except),
            other => Err(FilterError::from(format!(
                "unknown field `{other}` in match; match must have one of {MATCH_KINDS}"
            ))),
        }
    }
}

impl AnyVariants {
    fn from_value(v: Value, name: &str) -> Result<AnyVariants, FilterError> {
        let Value::Array(items) = v else {
            return Err(FilterError::from(format!(
                "match.{name} must be an array of strings or of integers, got {}",
                kind_of(&v)
            )));
        };
        if items.iter().all(Value::is_string) {
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for s in items.into_iter().filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            }) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            return Ok(AnyVariants::Strings(out));
        }
        if items.iter().all(|v| v.as_i64().is_some()) {
            let mut out: Vec<i64> = Vec::with_capacity(items.len());
            for i in items.iter().filter_map(Value::as_i64) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            return Ok(AnyVariants::Integers(out));
        }
        Err(FilterError::from(format!(
            "match.{name} must be an array of only strings or only integers"
        )))
    }
}

impl RangeInterface {
    pub fn from_value(v: Value) -> Result<RangeInterface, FilterError> {
        let Value::Object(map) = v else {
            return Err(FilterError::from(format!(
                "range must be an object with gt, gte, lt, lte, got {}",
                kind_of(&v)
            )));
        };
        let mut nums: Range<f64> = Range::default();
        let mut dts: Range<DateTime<Utc>> = Range::default();
        let (mut any_num, mut any_dt) = (false, false);
        for (k, v) in map {
            let (num_slot, dt_slot) = match k.as_str() {
                "lt" => (&mut nums.lt, &mut dts.lt),
                "gt" => (&mut nums.gt, &mut dts.gt),
                "gte" => (&mut nums.gte, &mut dts.gte),
                "lte" => (&mut nums.lte, &mut dts.lte),
                other => {
                    return Err(FilterError::from(format!(
                        "unknown field `{other}` in range, expected one of gt, gte, lt, lte"
                    )))
                }
            };
            match v {
                Value::Null => {}
                Value::Number(n) => {
                    any_num = true;
                    *num_slot = n.as_f64();
                }
                Value::String(s) => {
                    any_dt = true;
                    *dt_slot = Some(datetime::parse_datetime(&s).ok_or_else(|| {
                        format!("range.{k}: `{s}` is not a valid datetime (expected RFC 3339, e.g. 2023-02-08T10:49:00Z)")
                    })?);
                }
                other => {
                    return Err(FilterError::from(format!(
                        "range.{k} must be a number or a datetime string, got {}",
                        kind_of(&other)
                    )))
                }
            }
        }
        match (any_num, any_dt) {
            (true, true) => Err(FilterError::from(
                "range bounds must be all numbers or all datetime strings, not a mix".to_string(),
            )),
            (false, true) => Ok(RangeInterface::DateTime(dts)),
            _ => Ok(RangeInterface::Float(nums)),
        }
    }
}

macro_rules! deserialize_via_value {
    ($ty:ty, $f:path) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                $f(v).map_err(D::Error::custom)
            }
        }
    };
}

deserialize_via_value!(Filter, Filter::from_value);
deserialize_via_value!(Condition, Condition::from_value);
deserialize_via_value!(Match, Match::from_value);
deserialize_via_value!(RangeInterface, RangeInterface::from_value);
deserialize_via_value!(MinShould, MinShould::from_value);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{filter, parse_err};
    use super::*;

    #[test]
    fn serde_round_trip() {
        let v = json!({
            "must": [
                {"key": "a", "match": {"value": "x"}},
                {"key": "b", "range": {"gte": 1.5}},
                {"key": "d", "range": {"lt": "2023-02-08T10:49:00Z"}},
                {"key": "c", "match": {"except": [1, 2]}},
                {"has_id": [1, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]},
                {"is_empty": {"key": "e"}},
                {"is_null": {"key": "f"}},
                {"has_vector": "img"},
                {"nested": {"key": "n", "filter": {"must": [{"key": "x", "match": {"any": ["p"]}}]}}},
                {"should": [{"key": "t", "match": {"text": "hi"}}]},
                {"key": "g", "geo_radius": {"center": {"lon": 1.0, "lat": 2.0}, "radius": 5.0}},
                {"key": "h", "values_count": {"gt": 1}}
            ],
            "min_should": {"conditions": [{"key": "a", "match": {"phrase": "p q"}}], "min_count": 1}
        });
        let f = filter(v.clone());
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(back, v);
        let again: Filter = serde_json::from_value(back).unwrap();
        assert_eq!(again, f);
    }

    #[test]
    fn deserialization_errors_are_precise() {
        let e = parse_err(json!({"must": [{"foo": 1}]}));
        assert!(e.contains("condition must have one of key, has_id"), "{e}");
        assert!(e.contains("must[0]"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "match": {"val": 1}}]}));
        assert!(
            e.contains("value, text, text_any, phrase, any, except"),
            "{e}"
        );
        let e = parse_err(json!({"must": [{"key": "a", "match": {"value": 1.5}}]}));
        assert!(e.contains("not an integer"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "match": {"any": [1, "x"]}}]}));
        assert!(e.contains("only strings or only integers"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "mtch": {"value": 1}}]}));
        assert!(e.contains("unknown field `mtch`"), "{e}");
        let e = parse_err(json!({"mus": []}));
        assert!(e.contains("unknown field `mus`"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gt": 1, "lt": "2023-01-01"}}]}));
        assert!(e.contains("not a mix"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gt": "soon"}}]}));
        assert!(e.contains("not a valid datetime"), "{e}");
        let e = parse_err(json!({"must": [{"key": "a", "range": {"gtx": 1}}]}));
        assert!(e.contains("unknown field `gtx`"), "{e}");
        let e = parse_err(
            json!({"must": [{"key": "a", "geo_radius": {"center": {"lon": 1, "lat": 2}}}]}),
        );
        assert!(e.contains("geo_radius") && e.contains("radius"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": [-1]}]}));
        assert!(e.contains("unsigned integer"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": ["not-a-uuid"]}]}));
        assert!(e.contains("UUID"), "{e}");
        let e = parse_err(json!({"must": [{"has_id": [1], "extra": 1}]}));
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = parse_err(json!({"must": 5}));
        assert!(e.contains("must must be a condition"), "{e}");
        let e = parse_err(json!({"must": [{"nested": {"key": "a"}}]}));
        assert!(e.contains("filter"), "{e}");
        let e = parse_err(json!({"min_should": {"conditions": []}}));
        assert!(e.contains("min_count"), "{e}");
        let e = parse_err(json!({"must": [{"is_empty": "a"}]}));
        assert!(e.contains("is_empty must be an object"), "{e}");
    }
}
