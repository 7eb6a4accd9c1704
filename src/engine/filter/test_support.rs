//! Helpers shared by the filter tests: a point built from a JSON payload,
//! and parse / validate shorthands.

use serde_json::{json, Value};

use super::{Filter, PointView};
use crate::engine::types::{Payload, PointId};

pub(super) struct P {
    pub(super) id: PointId,
    pub(super) payload: Payload,
    pub(super) vectors: Vec<&'static str>,
}

impl PointView for P {
    fn id(&self) -> PointId {
        self.id
    }
    fn payload(&self) -> &Payload {
        &self.payload
    }
    fn has_vector(&self, name: &str) -> bool {
        self.vectors.contains(&name)
    }
}

pub(super) fn point(payload: Value) -> P {
    P {
        id: PointId::Num(1),
        payload: payload.as_object().unwrap().clone(),
        vectors: vec![""],
    }
}

pub(super) fn filter(v: Value) -> Filter {
    let f: Filter = serde_json::from_value(v).unwrap();
    f.validate().unwrap();
    f
}

pub(super) fn matches(f: Value, p: Value) -> bool {
    filter(f).check(&point(p))
}

pub(super) fn must(c: Value) -> Value {
    json!({ "must": [c] })
}

pub(super) fn parse_err(v: Value) -> String {
    serde_json::from_value::<Filter>(v).unwrap_err().to_string()
}

pub(super) fn validate_err(v: Value) -> String {
    serde_json::from_value::<Filter>(v)
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string()
}

pub(super) fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"points": [
        {"lon": x0, "lat": y0}, {"lon": x1, "lat": y0}, {"lon": x1, "lat": y1},
        {"lon": x0, "lat": y1}, {"lon": x0, "lat": y0}
    ]})
}
