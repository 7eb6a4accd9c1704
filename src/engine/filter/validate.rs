//! [`Filter::validate`]: the semantic checks deserialization cannot make
//! (a range without bounds, coordinates out of range, an open polygon,
//! `has_id` inside `nested`, ...). Kept apart from parsing so a filter
//! built in code can be validated the same way as one parsed from JSON.

use super::model::{Condition, FieldCondition, Filter, GeoLineString, RangeInterface};
use super::path::parse_path;
use crate::engine::filter::FilterError;

impl Filter {
    /// Semantic checks that deserialization cannot make. The error names
    /// the offending clause.
    pub fn validate(&self) -> Result<(), FilterError> {
        validate_filter(self, false)
    }
}

fn validate_filter(f: &Filter, in_nested: bool) -> Result<(), FilterError> {
    for (name, clause) in [
        ("must", &f.must),
        ("should", &f.should),
        ("must_not", &f.must_not),
    ] {
        for (i, c) in clause.iter().flatten().enumerate() {
            validate_condition(c, in_nested)
                .map_err(|e| FilterError::from(format!("{name}[{i}]: {e}")))?;
        }
    }
    if let Some(ms) = &f.min_should {
        if ms.min_count == 0 {
            return Err(FilterError::from(
                "min_should.min_count must be at least 1".to_string(),
            ));
        }
        if ms.min_count > ms.conditions.len() {
            return Err(FilterError::from(format!(
                "min_should.min_count ({}) is greater than the number of conditions ({})",
                ms.min_count,
                ms.conditions.len()
            )));
        }
        for (i, c) in ms.conditions.iter().enumerate() {
            validate_condition(c, in_nested)
                .map_err(|e| FilterError::from(format!("min_should.conditions[{i}]: {e}")))?;
        }
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<(), FilterError> {
    if key.trim().is_empty() {
        return Err(FilterError::from("key must not be empty".to_string()));
    }
    parse_path(key).map(|_| ())
}

fn validate_ring(ring: &GeoLineString, what: &str) -> Result<(), FilterError> {
    let pts = &ring.points;
    if pts.len() < 4 {
        return Err(FilterError::from(format!(
            "{what} must have at least 4 points, got {}",
            pts.len()
        )));
    }
    if pts.first() != pts.last() {
        return Err(FilterError::from(format!(
            "{what} must be closed: the first and last points must be the same"
        )));
    }
    for p in pts {
        p.check_range()
            .map_err(|e| FilterError::from(format!("{what}: {e}")))?;
    }
    Ok(())
}

fn validate_condition(c: &Condition, in_nested: bool) -> Result<(), FilterError> {
    match c {
        Condition::Field(fc) => {
            validate_key(&fc.key)?;
            let FieldCondition {
                key: _,
                r#match,
                range,
                geo_bounding_box,
                geo_radius,
                geo_polygon,
                values_count,
                is_empty,
                is_null,
            } = fc;
            if r#match.is_none()
                && range.is_none()
                && geo_bounding_box.is_none()
                && geo_radius.is_none()
                && geo_polygon.is_none()
                && values_count.is_none()
                && is_empty.is_none()
                && is_null.is_none()
            {
                return Err(FilterError::from(format!(
                    "field condition on `{}` must have at least one of match, range, geo_bounding_box, geo_radius, geo_polygon, values_count, is_empty, is_null",
                    fc.key
                )));
            }
            if let Some(r) = range {
                if !r.has_bound() {
                    return Err(FilterError::from(format!(
                        "range on `{}` must have at least one of gt, gte, lt, lte",
                        fc.key
                    )));
                }
                if let RangeInterface::Float(r) = r {
                    for b in [r.lt, r.gt, r.gte, r.lte].into_iter().flatten() {
                        if b.is_nan() {
                            return Err(FilterError::from(
                                "range bound must be a number".to_string(),
                            ));
                        }
                    }
                }
            }
            if let Some(g) = geo_radius {
                g.center
                    .check_range()
                    .map_err(|e| FilterError::from(format!("geo_radius.center: {e}")))?;
                if g.radius.is_nan() || g.radius < 0.0 {
                    return Err(FilterError::from(format!(
                        "geo_radius.radius must be non-negative, got {}",
                        g.radius
                    )));
                }
            }
            if let Some(b) = geo_bounding_box {
                b.top_left
                    .check_range()
                    .map_err(|e| FilterError::from(format!("geo_bounding_box.top_left: {e}")))?;
                b.bottom_right.check_range().map_err(|e| {
                    FilterError::from(format!("geo_bounding_box.bottom_right: {e}"))
                })?;
            }
            if let Some(p) = geo_polygon {
                validate_ring(&p.exterior, "geo_polygon.exterior")?;
                for (i, ring) in p.interiors.iter().flatten().enumerate() {
                    validate_ring(ring, &format!("geo_polygon.interiors[{i}]"))?;
                }
            }
            Ok(())
        }
        Condition::IsEmpty(c) => validate_key(&c.is_empty.key),
        Condition::IsNull(c) => validate_key(&c.is_null.key),
        Condition::HasId(_) if in_nested => Err(FilterError::from(
            "has_id is not supported inside a nested filter".to_string(),
        )),
        Condition::HasId(_) | Condition::HasVector(_) => Ok(()),
        Condition::Nested(n) => {
            validate_key(&n.nested.key).map_err(|e| FilterError::from(format!("nested: {e}")))?;
            validate_filter(&n.nested.filter, true)
                .map_err(|e| FilterError::from(format!("nested.filter.{e}")))
        }
        Condition::Filter(f) => validate_filter(f, in_nested),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{must, square, validate_err};

    #[test]
    fn validation_errors() {
        let e = validate_err(must(json!({"key": "a", "range": {}})));
        assert!(e.contains("at least one of gt"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": -1}}),
        ));
        assert!(e.contains("non-negative"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 91}, "radius": 1}}),
        ));
        assert!(e.contains("latitude"), "{e}");
        let e = validate_err(must(json!({"key": "a", "geo_bounding_box": {
            "top_left": {"lon": -181, "lat": 1}, "bottom_right": {"lon": 1, "lat": 0}}})));
        assert!(e.contains("longitude"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_polygon": {"exterior": {"points": [
            {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 0, "lat": 0}]}}}),
        ));
        assert!(e.contains("at least 4 points"), "{e}");
        let e = validate_err(must(
            json!({"key": "a", "geo_polygon": {"exterior": {"points": [
            {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}),
        ));
        assert!(e.contains("closed"), "{e}");
        let e = validate_err(must(json!({"key": "a", "geo_polygon": {
            "exterior": square(0.0, 0.0, 1.0, 1.0),
            "interiors": [{"points": [{"lon": 0, "lat": 0}]}]}})));
        assert!(e.contains("interiors[0]"), "{e}");
        let e =
            validate_err(json!({"min_should": {"conditions": [{"has_id": [1]}], "min_count": 2}}));
        assert!(e.contains("greater than"), "{e}");
        let e =
            validate_err(json!({"min_should": {"conditions": [{"has_id": [1]}], "min_count": 0}}));
        assert!(e.contains("at least 1"), "{e}");
        let e = validate_err(must(json!({"key": "", "match": {"value": 1}})));
        assert!(e.contains("empty"), "{e}");
        let e = validate_err(must(json!({"key": "a[x]", "match": {"value": 1}})));
        assert!(e.contains("invalid key"), "{e}");
        let e = validate_err(must(json!({"key": "a"})));
        assert!(e.contains("at least one of match"), "{e}");
        let e = validate_err(must(json!({"is_empty": {"key": ""}})));
        assert!(e.contains("empty"), "{e}");
    }
}
