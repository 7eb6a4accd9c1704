//! Scrolling through points in id order, or ordered by a payload field.

use std::cmp::Ordering;

use roaring::RoaringBitmap;
use serde_json::Value;

use crate::engine::collection::admission::check_listing;
use crate::engine::collection::payload::PayloadSelector;
use crate::engine::collection::points::Points;
use crate::engine::collection::ReadRequest;
use crate::engine::collection::Record;
use crate::engine::collection::View;
use crate::engine::config::strict_mode::StrictModeConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::filter::{values_at, Filter};
use crate::engine::types::{Offset, PointId, VectorSelector};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub key: String,
    pub direction: Direction,
    /// First value to return (inclusive), in the order's direction.
    pub start_from: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ScrollRequest {
    pub filter: Option<Filter>,
    pub limit: usize,
    /// Id to start from (inclusive), in id order.
    pub offset: Option<PointId>,
    pub order_by: Option<OrderBy>,
    pub with_payload: PayloadSelector,
    pub with_vector: VectorSelector,
}

impl View<'_> {
    /// Up to `limit` points matching `filter`, drawn at random without
    /// repetition (the query API's `sample: random`), in random order.
    pub fn sample(
        &self,
        filter: Option<&Filter>,
        limit: usize,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
    ) -> Result<Vec<Record>> {
        let points = &*self.points;
        if let Some(f) = filter {
            f.validate().map_err(EngineError::from)?;
        }
        let pool = self.filtered(filter);
        Ok(sample_pool(&pool.iter().collect::<Vec<_>>(), limit)
            .into_iter()
            .filter_map(|o| points.record(o, None, with_payload, with_vector))
            .collect())
    }

    /// The live points that match `filter`, if any.
    pub(in crate::engine) fn filtered(&self, filter: Option<&Filter>) -> RoaringBitmap {
        let points = &*self.points;
        match filter {
            Some(f) => points.matching(f, None),
            None => points.live.clone(),
        }
    }

    /// A page of points and the id the next page starts from.
    pub fn scroll(&self, req: &ScrollRequest) -> Result<(Vec<Record>, Option<PointId>)> {
        let points = &*self.points;
        if let Some(f) = &req.filter {
            f.validate().map_err(EngineError::from)?;
        }
        if let Some(order) = &req.order_by {
            return self.scroll_ordered(req, order).map(|r| (r, None));
        }
        let accept = |o| match &req.filter {
            None => true,
            Some(f) => points
                .view(o)
                .is_some_and(|v| f.check_with(&v, &points.indexes)),
        };
        // An indexed filter that keeps few points: walk its candidates in
        // id order instead of every id (the payload check still runs).
        let narrowed: Option<Vec<(PointId, u32)>> = req
            .filter
            .as_ref()
            .and_then(|f| points.indexes.candidates(f))
            .map(|c| c.points & &points.live)
            .filter(|c| c.len() * 10 < points.live.len().max(1))
            .map(|c| {
                let mut ids: Vec<(PointId, u32)> = c
                    .iter()
                    .filter_map(|o| points.slot(o).map(|s| (s.id, o)))
                    .filter(|(id, _)| req.offset.is_none_or(|start| *id >= start))
                    .collect();
                ids.sort_unstable();
                ids
            });
        let walk: Box<dyn Iterator<Item = (PointId, u32)> + '_> = match (narrowed, req.offset) {
            (Some(ids), _) => Box::new(ids.into_iter()),
            (None, Some(start)) => Box::new(points.ids.range(start..).map(|(id, o)| (*id, *o))),
            (None, None) => Box::new(points.ids.iter().map(|(id, o)| (*id, *o))),
        };
        let mut page = Vec::with_capacity(req.limit.min(1024));
        let mut next = None;
        for (id, offset) in walk {
            if !accept(offset) {
                continue;
            }
            if page.len() == req.limit {
                next = Some(id);
                break;
            }
            if let Some(r) = points.record(offset, None, &req.with_payload, &req.with_vector) {
                page.push(r);
            }
        }
        Ok((page, next))
    }

    /// Qdrant orders by a payload field that has a range-capable index
    /// (integer with range, float, datetime); a point with several values
    /// appears once per value.
    fn scroll_ordered(&self, req: &ScrollRequest, order: &OrderBy) -> Result<Vec<Record>> {
        let points = &*self.points;
        let matching = self.filtered(req.filter.as_ref());
        Ok(ordered(points, order, matching, req.limit)?
            .into_iter()
            .filter_map(|(offset, value)| {
                let mut r = points.record(offset, None, &req.with_payload, &req.with_vector)?;
                r.order_value = Some(value);
                Some(r)
            })
            .collect())
    }
}

/// The first `limit` entries of `pool` in the order of a payload field
/// with a range-capable index: each point once per value it has there, with
/// that value.
pub(in crate::engine) fn ordered(
    points: &Points,
    order: &OrderBy,
    pool: impl IntoIterator<Item = Offset>,
    limit: usize,
) -> Result<Vec<(Offset, Value)>> {
    let schema = points.indexes.schema_info();
    let indexed = schema
        .get(&order.key)
        .is_some_and(|info| matches!(info.data_type.as_str(), "integer" | "float" | "datetime"));
    if !indexed {
        return Err(EngineError::BadRequest(format!(
            "No range index for `order_by` key: `{}`. Please create one to use `order_by`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions",
            order.key
        )));
    }
    let mut entries: Vec<(f64, PointId, u32, Value)> = Vec::new();
    for offset in pool {
        let Some(slot) = points.slot(offset) else {
            continue;
        };
        for value in values_at(&slot.payload, &order.key) {
            if let Some(key) = order_key(value) {
                let passes = match (order.start_from, order.direction) {
                    (None, _) => true,
                    (Some(s), Direction::Asc) => key >= s,
                    (Some(s), Direction::Desc) => key <= s,
                };
                if passes {
                    entries.push((key, slot.id, offset, value.clone()));
                }
            }
        }
    }
    entries.sort_by(|a, b| {
        let ord = a.0.total_cmp(&b.0);
        let ord = if order.direction == Direction::Desc {
            ord.reverse()
        } else {
            ord
        };
        if ord == Ordering::Equal {
            a.1.cmp(&b.1)
        } else {
            ord
        }
    });
    Ok(entries
        .into_iter()
        .take(limit)
        .map(|(_, _, offset, value)| (offset, value))
        .collect())
}

/// Up to `limit` entries of `pool` drawn at random without repetition, in
/// random order.
pub(in crate::engine) fn sample_pool(pool: &[Offset], limit: usize) -> Vec<Offset> {
    let n = pool.len();
    rand::seq::index::sample(&mut rand::thread_rng(), n, limit.min(n))
        .into_iter()
        .map(|i| pool[i])
        .collect()
}

/// Numbers order by value; datetimes (in any format the datetime index
/// accepts) by their timestamp.
fn order_key(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => crate::engine::filter::datetime::parse_micros(s).map(|m| m as f64),
        _ => None,
    }
}
impl ReadRequest for ScrollRequest {
    type Output = (Vec<Record>, Option<PointId>);

    fn check(&self, strict: &StrictModeConfig, view: &View) -> Result<()> {
        check_listing(
            strict,
            Some(self.limit),
            self.filter.as_ref(),
            &view.points.indexes,
        )
    }

    fn run(&self, view: View) -> Result<Self::Output> {
        view.scroll(self)
    }
}
