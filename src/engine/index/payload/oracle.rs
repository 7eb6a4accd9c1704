//! Property tests: on random payloads and random filters, the planner's
//! candidates must be a superset of the points a full scan matches,
//! re-checking the candidates must give exactly the scan's result, and
//! candidates said to be exact must be that result already, and so must
//! a point check from index columns (a search trusts both without reading
//! payloads). This is the oracle that keeps
//! the per-type indexes honest.

use proptest::prelude::*;
use roaring::RoaringBitmap;
use serde_json::{json, Value};

use super::test_support::{build, scan, P};
use crate::engine::filter::Filter;
use crate::engine::types::{Offset, Payload};

const KWS: [&str; 4] = ["red", "green", "blue", "black"];
const DTS: [&str; 5] = [
    "2023-01-01T00:00:00Z",
    "2023-01-01T12:00:00+02:00",
    "2023-01-02",
    "2023-01-03 08:00:00",
    "garbage",
];

fn value_strategy() -> impl Strategy<Value = Payload> {
    let kw = prop_oneof![
        Just(Value::Null),
        (0..4usize).prop_map(|i| json!(KWS[i])),
        prop::collection::vec(0..4usize, 0..3)
            .prop_map(|v| json!(v.into_iter().map(|i| KWS[i]).collect::<Vec<_>>())),
        (0..5i64).prop_map(|i| json!(i)),
    ];
    let int = prop_oneof![
        Just(Value::Null),
        (-5..5i64).prop_map(|i| json!(i)),
        prop::collection::vec(-5..5i64, 0..3).prop_map(|v| json!(v)),
        (-50..50i32).prop_map(|i| json!(i as f64 / 10.0)),
    ];
    let flt = prop_oneof![
        Just(Value::Null),
        (-50..50i32).prop_map(|i| json!(i as f64 / 10.0)),
        (-5..5i64).prop_map(|i| json!(i)),
        prop::collection::vec(-50..50i32, 0..3)
            .prop_map(|v| json!(v.into_iter().map(|i| i as f64 / 4.0).collect::<Vec<_>>())),
    ];
    // Integers only, so integer ranges over it can be exact.
    let whole = prop_oneof![
        Just(Value::Null),
        (-5..5i64).prop_map(|i| json!(i)),
        prop::collection::vec(-5..5i64, 0..3).prop_map(|v| json!(v)),
    ];
    let flag = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(|b| json!(b)),
        Just(json!([true, false]))
    ];
    let dt = prop_oneof![
        Just(Value::Null),
        (0..5usize).prop_map(|i| json!(DTS[i])),
        prop::collection::vec(0..5usize, 0..3)
            .prop_map(|v| json!(v.into_iter().map(|i| DTS[i]).collect::<Vec<_>>())),
    ];
    let nested = prop::collection::vec((0..4usize, -5..5i64), 0..3).prop_map(|v| {
        json!(v
            .into_iter()
            .map(|(k, i)| json!({"kw": KWS[k], "int": i}))
            .collect::<Vec<_>>())
    });
    (kw, int, flt, flag, dt, nested, whole).prop_map(|(kw, int, flt, flag, dt, nested, whole)| {
        let mut p = Payload::new();
        for (k, v) in [
            ("kw", kw),
            ("int", int),
            ("flt", flt),
            ("flag", flag),
            ("dt", dt),
            ("items", nested),
            ("whole", whole),
        ] {
            if !v.is_null() {
                p.insert(k.to_string(), v);
            }
        }
        p
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    let bound = |lo: i32| (lo..5i32).prop_map(|i| json!(i as f64 / 2.0));
    prop_oneof![
        (0..4usize).prop_map(|i| json!({"key": "kw", "match": {"value": KWS[i]}})),
        prop::collection::vec(0..4usize, 0..3)
            .prop_map(|v| json!({"key": "kw", "match": {"any": v.into_iter().map(|i| KWS[i]).collect::<Vec<_>>()}})),
        (-5..5i64).prop_map(|i| json!({"key": "int", "match": {"value": i}})),
        (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "int", "range": {"gte": a, "lt": b}})),
        (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "flt", "range": {"gt": a, "lte": b}})),
        (-5..5i64).prop_map(|i| json!({"key": "flt", "match": {"value": i}})),
        (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "flt", "range": {"gte": a, "lt": b}})),
        (bound(-10), bound(-10)).prop_map(|(a, b)| json!({"key": "whole", "range": {"gt": a, "lte": b}})),
        (bound(-10), bound(-10), bound(-10)).prop_map(|(a, b, c)| json!({"key": "whole", "range": {"gte": a, "gt": c, "lt": b}})),
        (-5..5i64).prop_map(|i| json!({"key": "whole", "match": {"any": [i, i + 2]}})),
        any::<bool>().prop_map(|b| json!({"key": "flag", "match": {"value": b}})),
        (0..4usize, 0..4usize).prop_map(|(a, b)| json!({"key": "dt", "range": {"gte": DTS[a], "lte": DTS[b]}})),
        (0..4usize).prop_map(|i| json!({"key": "unindexed", "match": {"value": KWS[i]}})),
        (0..4usize).prop_map(|i| json!({"key": "kw", "match": {"except": [KWS[i]]}})),
        Just(json!({"is_empty": {"key": "kw"}})),
        (0..4usize, -5..5i64).prop_map(|(k, i)| json!({"nested": {"key": "items", "filter": {"must": [
            {"key": "kw", "match": {"value": KWS[k]}},
            {"key": "int", "range": {"gte": i}}
        ]}}})),
    ]
}

fn filter_strategy() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        (
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..2),
            prop::option::of((prop::collection::vec(inner, 1..4), 1..3usize)),
        )
            .prop_map(|(must, should, must_not, min_should)| {
                let mut f = serde_json::Map::new();
                f.insert("must".into(), json!(must));
                f.insert("should".into(), json!(should));
                f.insert("must_not".into(), json!(must_not));
                if let Some((conds, n)) = min_should {
                    let n = n.min(conds.len());
                    f.insert(
                        "min_should".into(),
                        json!({"conditions": conds, "min_count": n}),
                    );
                }
                Value::Object(f)
            })
    })
}

fn geo_point() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (-180.0..=180.0f64, -90.0..=90.0f64),
        // Clustered near the antimeridian and a pole.
        (179.0..=180.0f64, -1.0..=1.0f64),
        (-180.0..=-179.0f64, -1.0..=1.0f64),
        (-180.0..=180.0f64, 89.0..=90.0f64),
    ]
}

fn geo_filter() -> impl Strategy<Value = Value> {
    prop_oneof![
        (geo_point(), 0.0..3_000_000.0f64).prop_map(|((lon, lat), r)| json!(
            {"key": "loc", "geo_radius": {"center": {"lon": lon, "lat": lat}, "radius": r}}
        )),
        (geo_point(), geo_point()).prop_map(|((lon0, lat0), (lon1, lat1))| json!(
            {"key": "loc", "geo_bounding_box": {
                "top_left": {"lon": lon0, "lat": lat0.max(lat1)},
                "bottom_right": {"lon": lon1, "lat": lat0.min(lat1)}}}
        )),
        (geo_point(), 0.01..40.0f64).prop_map(|((lon, lat), d)| json!(
            {"key": "loc", "geo_polygon": {"exterior": {"points": [
                {"lon": lon, "lat": lat}, {"lon": lon + d, "lat": lat},
                {"lon": lon + d / 2.0, "lat": lat + d}, {"lon": lon, "lat": lat}
            ]}}}
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn geo_candidates_are_a_superset(
        locs in prop::collection::vec(prop::collection::vec(geo_point(), 1..3), 0..40),
        cond in geo_filter(),
    ) {
        let points: Vec<Payload> = locs
            .iter()
            .map(|l| {
                let arr: Vec<Value> = l.iter().map(|(lon, lat)| json!({"lon": lon, "lat": lat})).collect();
                json!({"loc": arr}).as_object().unwrap().clone()
            })
            .collect();
        let idx = build(&[("loc", json!("geo"))], &points);
        let f: Filter = serde_json::from_value(json!({"must": [cond]})).unwrap();
        let naive: RoaringBitmap = scan(&idx, &points, &f).into_iter().collect();
        let c = idx.candidates(&f).unwrap().points;
        prop_assert!(naive.is_subset(&c), "naive {:?} not in {:?}", naive, c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn candidates_are_a_superset(
        points in prop::collection::vec(value_strategy(), 0..40),
        removed in prop::collection::vec(any::<bool>(), 40),
        filter in filter_strategy(),
    ) {
        let filter_json = json!({"must": [filter]});
        let f: Filter = serde_json::from_value(filter_json).unwrap();
        let mut idx = build(
            &[
                ("kw", json!("keyword")),
                ("int", json!("integer")),
                ("flt", json!("float")),
                ("flag", json!("bool")),
                ("dt", json!("datetime")),
                ("items[].kw", json!("keyword")),
                ("items[].int", json!("integer")),
                ("whole", json!("integer")),
            ],
            &points,
        );
        let mut live = RoaringBitmap::new();
        for (i, p) in points.iter().enumerate() {
            if removed[i] {
                idx.on_remove(i as Offset, p);
            } else {
                live.insert(i as u32);
            }
        }
        let naive: RoaringBitmap = points
            .iter()
            .enumerate()
            .filter(|(i, p)| live.contains(*i as u32) && f.check(&P(*i as Offset, p)))
            .map(|(i, _)| i as u32)
            .collect();
        if let Some(found) = idx.candidates(&f) {
            let c = found.points;
            prop_assert!(naive.is_subset(&c), "naive {:?} not in candidates {:?}", naive, c);
            if found.exact {
                prop_assert_eq!(&c, &naive, "exact candidates differ from the scan");
            }
            let checked: RoaringBitmap = (c & &live)
                .iter()
                .filter(|o| f.check_with(&P(*o, &points[*o as usize]), &idx))
                .collect();
            prop_assert_eq!(checked, naive);
        }
        if let Some(check) = idx.point_check(&f) {
            for o in &live {
                let p = &points[o as usize];
                prop_assert_eq!(check.matches(o), f.check(&P(o, p)), "point {}: {:?}", o, p);
            }
        }
        prop_assert!(idx.estimate(&f, points.len()) <= points.len());
    }
}
