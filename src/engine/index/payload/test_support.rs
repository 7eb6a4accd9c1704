//! Helpers shared by the payload index tests and the oracle: build indexes
//! over JSON payloads, ask the planner, and scan without indexes.

use serde_json::Value;

use super::{PayloadFieldSchema, PayloadIndexes};
use crate::engine::filter::{Filter, PointView};
use crate::engine::types::{Offset, Payload, PointId};

pub(super) struct P<'a>(pub(super) Offset, pub(super) &'a Payload);

impl PointView for P<'_> {
    fn id(&self) -> PointId {
        PointId::Num(self.0 as u64)
    }
    fn payload(&self) -> &Payload {
        self.1
    }
    fn has_vector(&self, _name: &str) -> bool {
        true
    }
}

pub(super) fn payloads(vals: Vec<Value>) -> Vec<Payload> {
    vals.into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
}

pub(super) fn build(fields: &[(&str, Value)], points: &[Payload]) -> PayloadIndexes {
    let mut idx = PayloadIndexes::new();
    for (f, schema) in fields {
        let schema: PayloadFieldSchema = serde_json::from_value(schema.clone()).unwrap();
        idx.create(
            f,
            schema,
            points.iter().enumerate().map(|(i, p)| (i as Offset, p)),
        )
        .unwrap();
    }
    idx
}

pub(super) fn cands(idx: &PayloadIndexes, f: Value) -> Option<Vec<u32>> {
    let f: Filter = serde_json::from_value(f).unwrap();
    idx.candidates(&f).map(|c| c.points.iter().collect())
}

pub(super) fn scan(idx: &PayloadIndexes, points: &[Payload], f: &Filter) -> Vec<u32> {
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| f.check_with(&P(*i as Offset, p), idx))
        .map(|(i, _)| i as u32)
        .collect()
}
