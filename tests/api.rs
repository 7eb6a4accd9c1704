//! The Qdrant REST surface over real HTTP against a spawned server.

mod common;

use common::{Rng, Server};
use serde_json::{json, Value};

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("storage"));
    (dir, server)
}

fn ids(points: &Value) -> Vec<u64> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn service_routes_answer() {
    let (_dir, s) = server();
    let (status, root) = s.call("GET", "/", None);
    assert_eq!(status, 200);
    assert_eq!(root["version"], "1.18.0");
    assert!(root["helio_version"].is_string());
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(s.call("GET", path, None).0, 200, "{path}");
    }
    s.create("m", 4, "Dot");
    let (status, metrics) = s.call("GET", "/metrics", None);
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("helio_collections 1"), "{text}");
    assert!(text.contains("helio_rest_requests_total"), "{text}");
    assert_eq!(
        s.ok("GET", "/telemetry", None)["collections"]["number_of_collections"],
        1
    );
    assert_eq!(s.ok("GET", "/cluster", None)["status"], "disabled");
    assert_eq!(
        s.ok("GET", "/collections/m/cluster", None)["shard_count"],
        1
    );
}

#[test]
fn collection_lifecycle() {
    let (_dir, s) = server();
    let body = json!({
        "vectors": {"size": 4, "distance": "Cosine", "on_disk": true},
        "hnsw_config": {"m": 8, "ef_construct": 64},
        "optimizers_config": {"indexing_threshold": 500}
    });
    assert_eq!(s.ok("PUT", "/collections/c1", Some(body.clone())), true);
    let (status, err) = s.call("PUT", "/collections/c1", Some(body));
    assert_eq!(status, 409, "{err}");
    assert!(err["status"]["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));

    let info = s.ok("GET", "/collections/c1", None);
    assert_eq!(info["status"], "green");
    assert_eq!(info["config"]["params"]["vectors"]["on_disk"], true);
    assert_eq!(info["config"]["hnsw_config"]["m"], 8);
    assert_eq!(
        info["config"]["optimizer_config"]["indexing_threshold"],
        500
    );
    assert_eq!(info["points_count"], 0);

    s.ok(
        "PATCH",
        "/collections/c1",
        Some(json!({"hnsw_config": {"ef_construct": 200}})),
    );
    assert_eq!(
        s.ok("GET", "/collections/c1", None)["config"]["hnsw_config"]["ef_construct"],
        200
    );

    assert_eq!(
        s.ok("GET", "/collections", None)["collections"],
        json!([{"name": "c1"}])
    );
    assert_eq!(s.ok("GET", "/collections/c1/exists", None)["exists"], true);
    assert_eq!(s.ok("DELETE", "/collections/c1", None), true);
    assert_eq!(s.ok("GET", "/collections/c1/exists", None)["exists"], false);
    let (status, err) = s.call("GET", "/collections/c1", None);
    assert_eq!(status, 404);
    assert_eq!(
        err["status"]["error"],
        "Not found: Collection `c1` doesn't exist!"
    );
}

#[test]
fn upsert_retrieve_and_payload_ops() {
    let (_dir, s) = server();
    s.create("p", 3, "Dot");
    let uuid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";
    let r = s.ok(
        "PUT",
        "/collections/p/points?wait=true",
        Some(json!({"points": [
            {"id": 1, "vector": [1.0, 0.0, 0.0], "payload": {"city": "Recife", "n": 1}},
            {"id": uuid, "vector": [0.0, 1.0, 0.0], "payload": {"city": "Natal"}}
        ]})),
    );
    assert_eq!(r["status"], "completed");
    let r = s.ok(
        "PUT",
        "/collections/p/points",
        Some(json!({"batch": {"ids": [2, 3], "vectors": [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], "payloads": [{"k": "a"}, null]}})),
    );
    assert_eq!(r["status"], "acknowledged");

    let one = s.ok("GET", &format!("/collections/p/points/{uuid}"), None);
    assert_eq!(one["payload"]["city"], "Natal");
    assert_eq!(one["vector"], json!([0.0, 1.0, 0.0]));
    let (status, _) = s.call("GET", "/collections/p/points/999", None);
    assert_eq!(status, 404);

    let many = s.ok(
        "POST",
        "/collections/p/points",
        Some(json!({"ids": [3, 1, 42], "with_payload": ["city"], "with_vector": true})),
    );
    assert_eq!(ids(&many), vec![3, 1]);
    assert_eq!(many[1]["payload"], json!({"city": "Recife"}));
    assert_eq!(many[1]["vector"], json!([1.0, 0.0, 0.0]));

    s.ok(
        "POST",
        "/collections/p/points/payload?wait=true",
        Some(json!({"points": [1], "payload": {"x": {"y": 1}}})),
    );
    s.ok(
        "POST",
        "/collections/p/points/payload?wait=true",
        Some(json!({"points": [1], "payload": {"z": 2}, "key": "x"})),
    );
    s.ok(
        "POST",
        "/collections/p/points/payload/delete?wait=true",
        Some(json!({"points": [1], "keys": ["n", "x.y"]})),
    );
    let p1 = s.ok("GET", "/collections/p/points/1", None);
    assert_eq!(p1["payload"], json!({"city": "Recife", "x": {"z": 2}}));
    s.ok(
        "PUT",
        "/collections/p/points/payload?wait=true",
        Some(json!({"points": [1], "payload": {"only": true}})),
    );
    assert_eq!(
        s.ok("GET", "/collections/p/points/1", None)["payload"],
        json!({"only": true})
    );
    s.ok(
        "POST",
        "/collections/p/points/payload/clear?wait=true",
        Some(json!({"points": [1]})),
    );
    assert_eq!(
        s.ok("GET", "/collections/p/points/1", None)["payload"],
        json!({})
    );

    // Batch of operations, including delete by filter.
    let r = s.ok(
        "POST",
        "/collections/p/points/batch?wait=true",
        Some(json!({"operations": [
            {"upsert": {"points": [{"id": 10, "vector": [0.5, 0.5, 0.5], "payload": {"k": "b"}}]}},
            {"delete": {"filter": {"must": [{"key": "k", "match": {"value": "a"}}]}}},
            {"set_payload": {"points": [10], "payload": {"extra": 1}}}
        ]})),
    );
    assert_eq!(r.as_array().unwrap().len(), 3);
    let all = s.ok(
        "POST",
        "/collections/p/points/scroll",
        Some(json!({"limit": 100})),
    );
    let mut got = all["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].to_string())
        .collect::<Vec<_>>();
    got.sort();
    let mut want = vec![
        "1".to_string(),
        "10".into(),
        "3".into(),
        format!("\"{uuid}\""),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        s.ok("GET", "/collections/p/points/10", None)["payload"],
        json!({"k": "b", "extra": 1})
    );
    assert_eq!(
        s.ok("POST", "/collections/p/points/count", Some(json!({})))["count"],
        4
    );
}

#[test]
fn search_query_and_distances() {
    let (_dir, s) = server();
    for (name, distance) in [
        ("cos", "Cosine"),
        ("dot", "Dot"),
        ("euc", "Euclid"),
        ("man", "Manhattan"),
    ] {
        s.create(name, 2, distance);
        s.ok(
            "PUT",
            &format!("/collections/{name}/points?wait=true"),
            Some(json!({"points": [
                {"id": 1, "vector": [1.0, 0.0], "payload": {"g": "a"}},
                {"id": 2, "vector": [0.0, 2.0], "payload": {"g": "b"}},
                {"id": 3, "vector": [3.0, 3.0], "payload": {"g": "a"}}
            ]})),
        );
    }
    // Cosine: vectors normalised at insert and returned normalised.
    let v = s.ok("GET", "/collections/cos/points/3", None)["vector"].clone();
    let x = v[0].as_f64().unwrap();
    assert!((x - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);

    let q = |name: &str, body: Value| {
        s.ok(
            "POST",
            &format!("/collections/{name}/points/search"),
            Some(body),
        )
    };
    assert_eq!(
        ids(&q("cos", json!({"vector": [1.0, 0.1], "limit": 3}))),
        vec![1, 3, 2]
    );
    assert_eq!(
        ids(&q("dot", json!({"vector": [1.0, 0.1], "limit": 3}))),
        vec![3, 1, 2]
    );
    let euc = q("euc", json!({"vector": [1.0, 0.1], "limit": 3}));
    assert_eq!(ids(&euc), vec![1, 2, 3]);
    assert!(
        (euc[0]["score"].as_f64().unwrap() - 0.1).abs() < 1e-6,
        "Euclid score is the distance"
    );
    assert_eq!(
        ids(&q("man", json!({"vector": [0.0, 1.5], "limit": 3}))),
        vec![2, 1, 3]
    );
    // score_threshold: "at least" for similarities, "at most" for distances.
    assert_eq!(
        ids(&q(
            "euc",
            json!({"vector": [1.0, 0.1], "limit": 3, "score_threshold": 2.5})
        )),
        vec![1, 2]
    );
    assert_eq!(
        ids(&q(
            "dot",
            json!({"vector": [1.0, 0.0], "limit": 3, "score_threshold": 1.0})
        )),
        vec![3, 1]
    );
    // filter, offset, with_payload
    let r = q(
        "dot",
        json!({"vector": [1.0, 0.1], "limit": 1, "offset": 1, "filter": {"must": [{"key": "g", "match": {"value": "a"}}]}, "with_payload": true}),
    );
    assert_eq!(ids(&r), vec![1]);
    assert_eq!(r[0]["payload"]["g"], "a");
    assert!(r[0]["version"].is_u64());

    let r = s.ok(
        "POST",
        "/collections/dot/points/query",
        Some(json!({"query": [1.0, 0.1], "limit": 2})),
    );
    assert_eq!(ids(&r["points"]), vec![3, 1]);
    // nearest by point id excludes the point itself
    let r = s.ok(
        "POST",
        "/collections/cos/points/query",
        Some(json!({"query": 1, "limit": 2})),
    );
    assert_eq!(ids(&r["points"]), vec![3, 2]);
    let r = s.ok(
        "POST",
        "/collections/cos/points/query",
        Some(json!({"query": {"nearest": [0.0, 1.0]}, "limit": 1, "with_vector": true})),
    );
    assert_eq!(ids(&r["points"]), vec![2]);
    assert_eq!(r["points"][0]["vector"], json!([0.0, 1.0]));

    let batch = s.ok(
        "POST",
        "/collections/dot/points/search/batch",
        Some(json!({"searches": [{"vector": [1.0, 0.0], "limit": 1}, {"vector": [0.0, 1.0], "limit": 1}]})),
    );
    assert_eq!(ids(&batch[0]), vec![3]);
    let qb = s.ok(
        "POST",
        "/collections/dot/points/query/batch",
        Some(json!({"searches": [{"query": [1.0, 0.0], "limit": 1}, {"query": [0.0, 1.0], "limit": 2, "params": {"exact": true}}]})),
    );
    assert_eq!(ids(&qb[1]["points"]), vec![3, 2]);
}

#[test]
fn scroll_pages_and_order_by() {
    let (_dir, s) = server();
    s.create("s", 2, "Dot");
    let points: Vec<Value> = (0..25)
        .map(|i| json!({"id": i, "vector": [i as f32, 1.0], "payload": {"price": (i * 7) % 25, "even": i % 2 == 0}}))
        .collect();
    s.ok(
        "PUT",
        "/collections/s/points?wait=true",
        Some(json!({"points": points})),
    );
    let page = s.ok(
        "POST",
        "/collections/s/points/scroll",
        Some(json!({"limit": 10, "filter": {"must": [{"key": "even", "match": {"value": true}}]}})),
    );
    assert_eq!(
        ids(&page["points"]),
        vec![0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    );
    assert_eq!(page["next_page_offset"], 20);
    let page = s.ok("POST", "/collections/s/points/scroll", Some(json!({"limit": 10, "offset": 20, "filter": {"must": [{"key": "even", "match": {"value": true}}]}})));
    assert_eq!(ids(&page["points"]), vec![20, 22, 24]);
    assert!(page["next_page_offset"].is_null());

    // order_by needs a range index, as in Qdrant.
    let (status, _) = s.call(
        "POST",
        "/collections/s/points/scroll",
        Some(json!({"order_by": "price"})),
    );
    assert_eq!(status, 400);
    s.ok(
        "PUT",
        "/collections/s/index?wait=true",
        Some(json!({"field_name": "price", "field_schema": "integer"})),
    );
    let page = s.ok(
        "POST",
        "/collections/s/points/scroll",
        Some(json!({"limit": 3, "order_by": {"key": "price", "direction": "desc"}})),
    );
    let prices: Vec<i64> = page["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payload"]["price"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, vec![24, 23, 22]);
    let page = s.ok(
        "POST",
        "/collections/s/points/scroll",
        Some(json!({"limit": 2, "order_by": {"key": "price", "start_from": 10}})),
    );
    let prices: Vec<i64> = page["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payload"]["price"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, vec![10, 11]);
    let info = s.ok("GET", "/collections/s", None);
    assert_eq!(info["payload_schema"]["price"]["data_type"], "integer");
    assert_eq!(info["payload_schema"]["price"]["points"], 25);
    s.ok("DELETE", "/collections/s/index/price?wait=true", None);
    assert_eq!(
        s.ok("GET", "/collections/s", None)["payload_schema"],
        json!({})
    );
}

#[test]
fn bad_input_gets_precise_errors_and_changes_nothing() {
    let (_dir, s) = server();
    s.create("b", 3, "Cosine");
    s.ok(
        "PUT",
        "/collections/b/points?wait=true",
        Some(json!({"points": [{"id": 1, "vector": [1, 2, 3], "payload": {"a": 1}}]})),
    );

    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "PUT",
            "/collections/b/points",
            json!({"points": [{"id": 2, "vector": [1, 2]}]}),
            400,
            "expected dim: 3, got 2",
        ),
        (
            "PUT",
            "/collections/b/points",
            json!({"points": [{"id": 2, "vector": [1, 2, 3]}, {"id": 3, "vector": [1]}]}),
            400,
            "Vector dimension error",
        ),
        (
            "PUT",
            "/collections/b/points",
            json!({"points": [{"id": -5, "vector": [1, 2, 3]}]}),
            422,
            "not an unsigned integer or a UUID",
        ),
        (
            "PUT",
            "/collections/b/points",
            json!({"points": [{"id": "not-a-uuid", "vector": [1, 2, 3]}]}),
            422,
            "not an unsigned integer or a UUID",
        ),
        (
            "PUT",
            "/collections/b/points",
            json!({"points": [{"id": 4, "vector": [1e39, 0, 0]}]}),
            400,
            "not a finite number",
        ),
        (
            "PUT",
            "/collections/x/points",
            json!({"points": [{"id": 4, "vector": [1, 2, 3]}]}),
            404,
            "Collection `x` doesn't exist!",
        ),
        (
            "PUT",
            "/collections/bad",
            json!({"vectors": {"size": 3, "distance": "Cosinus"}}),
            422,
            "unknown variant",
        ),
        (
            "PUT",
            "/collections/bad",
            json!({"vectors": {"size": 0, "distance": "Dot"}}),
            400,
            "vector size",
        ),
        (
            "POST",
            "/collections/b/points/search",
            json!({"vector": [1, 2, 3], "limit": -1}),
            422,
            "invalid value",
        ),
        (
            "POST",
            "/collections/b/points/search",
            json!({"vector": [1, 2], "limit": 1}),
            400,
            "expected dim: 3, got 2",
        ),
        (
            "POST",
            "/collections/b/points/scroll",
            json!({"filter": {"must": [{"key": "a", "range": {}}]}}),
            400,
            "range",
        ),
        (
            "POST",
            "/collections/b/points/scroll",
            json!({"filter": {"must": [{"nonsense": 1}]}}),
            422,
            "",
        ),
        (
            "POST",
            "/collections/b/points/query",
            json!({"query": [1, 2, 3], "using": "image"}),
            400,
            "Not existing vector name",
        ),
    ];
    for (method, path, body, status, needle) in cases {
        let (got, value) = s.call(method, path, Some(body.clone()));
        assert_eq!(got, status, "{method} {path} {body} -> {value}");
        let msg = value["status"]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no envelope: {value}"));
        assert!(msg.contains(needle), "{path}: {msg:?} lacks {needle:?}");
        assert!(value["time"].is_number());
    }

    // Malformed JSON, wrong content type, unknown route: all in the envelope.
    let url = format!("{}/collections/b/points", s.url);
    let resp = s
        .client
        .put(&url)
        .header("content-type", "application/json")
        .body("{\"points\": [")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().unwrap();
    assert!(v["status"]["error"]
        .as_str()
        .unwrap()
        .starts_with("Format error in JSON body"));
    let resp = s.client.put(&url).body("{}").send().unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert!(resp.json::<Value>().unwrap()["status"]["error"].is_string());
    let (status, v) = s.call("GET", "/no/such/route", None);
    assert_eq!(status, 404);
    assert!(v["status"]["error"].is_string());
    // NaN is not JSON: a syntax error, not a crash.
    let resp = s
        .client
        .put(&url)
        .header("content-type", "application/json")
        .body(r#"{"points":[{"id":9,"vector":[NaN,1,2]}]}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // Body over the limit: 413.
    let dir = tempfile::tempdir().unwrap();
    let small = Server::start_with(&dir.path().join("s"), &["--max-request-size", "1000"]);
    small.create("b", 3, "Dot");
    let big = json!({"points": (0..100).map(|i| json!({"id": i, "vector": [1, 2, 3]})).collect::<Vec<_>>()});
    let (status, v) = small.call("PUT", "/collections/b/points", Some(big));
    assert_eq!(status, 413, "{v}");

    // Nothing changed, and the server still serves.
    assert_eq!(
        s.ok("POST", "/collections/b/points/count", Some(json!({})))["count"],
        1
    );
    assert_eq!(
        s.ok("GET", "/collections/b/points/1", None)["payload"],
        json!({"a": 1})
    );
    assert_eq!(
        s.ok("GET", "/collections", None)["collections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn read_your_writes_while_indexing() {
    let (_dir, s) = server();
    s.create("ryw", 16, "Cosine");
    s.ok(
        "PATCH",
        "/collections/ryw",
        Some(json!({"optimizers_config": {"indexing_threshold": 1}})),
    );
    let mut rng = Rng(7);
    for batch in 0..10u64 {
        let points: Vec<Value> = (0..100u64)
            .map(|i| json!({"id": batch * 100 + i, "vector": rng.vector(16)}))
            .collect();
        let probe = points[57].clone();
        s.ok(
            "PUT",
            "/collections/ryw/points?wait=true",
            Some(json!({"points": points})),
        );
        // Found immediately, indexed or not.
        let r = s.ok(
            "POST",
            "/collections/ryw/points/query",
            Some(json!({"query": probe["vector"], "limit": 1})),
        );
        assert_eq!(r["points"][0]["id"], probe["id"]);
        // Deleted: gone immediately.
        s.ok(
            "POST",
            "/collections/ryw/points/delete?wait=true",
            Some(json!({"points": [probe["id"]]})),
        );
        let r = s.ok(
            "POST",
            "/collections/ryw/points/query",
            Some(json!({"query": probe["vector"], "limit": 1})),
        );
        assert_ne!(r["points"][0]["id"], probe["id"]);
    }
    // Eventually indexed into graph segments.
    let mut info = Value::Null;
    for _ in 0..200 {
        info = s.ok("GET", "/collections/ryw", None);
        if info["indexed_vectors_count"] == info["points_count"] && info["status"] == "green" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(info["indexed_vectors_count"], 990, "{info}");
}

#[test]
fn strict_mode_is_enforced_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    s.create("c", 4, "Dot");
    let points: Vec<Value> = (1..=6u64)
        .map(|i| json!({"id": i, "vector": [1.0, 0.0, 0.0, i as f32], "payload": {"city": "Recife"}}))
        .collect();
    s.ok(
        "PUT",
        "/collections/c/points?wait=true",
        Some(json!({"points": points})),
    );
    s.ok(
        "PATCH",
        "/collections/c",
        Some(json!({"strict_mode_config": {"enabled": true, "max_query_limit": 3}})),
    );
    // A second update merges into the first.
    s.ok(
        "PATCH",
        "/collections/c",
        Some(json!({"strict_mode_config": {"unindexed_filtering_update": false}})),
    );
    let refusals = |s: &Server| {
        let (code, body) = s.call(
            "POST",
            "/collections/c/points/query",
            Some(json!({"query": [1, 0, 0, 0], "limit": 4})),
        );
        assert_eq!(code, 400, "{body}");
        assert!(body["status"]["error"]
            .as_str()
            .unwrap()
            .starts_with("Bad request: Limit exceeded 4 > 3 for \"limit\""));
        let (code, body) = s.call(
            "POST",
            "/collections/c/points/delete?wait=true",
            Some(json!({"filter": {"must": [{"key": "city", "match": {"value": "Recife"}}]}})),
        );
        assert_eq!(code, 400, "{body}");
        assert!(body["status"]["error"]
            .as_str()
            .unwrap()
            .contains("Index required but not found for \"city\""));
        let count = s.ok("POST", "/collections/c/points/count", Some(json!({})));
        assert_eq!(count["count"], 6);
    };
    refusals(&s);
    s.kill();
    let s = Server::start(dir.path());
    let info = s.ok("GET", "/collections/c", None);
    assert_eq!(
        info["config"]["strict_mode_config"],
        json!({"enabled": true, "max_query_limit": 3, "unindexed_filtering_update": false})
    );
    refusals(&s);
    let (code, _) = s.call(
        "POST",
        "/collections/c/points/query",
        Some(json!({"query": [1, 0, 0, 0], "limit": 3})),
    );
    assert_eq!(code, 200);
}

#[test]
fn formula_and_order_by_rescore_a_prefetch() {
    let (_dir, s) = server();
    s.create("f", 2, "Dot");
    let points: Vec<Value> = [(1u64, 0.9, 10.0), (2, 0.8, 50.0), (3, 0.1, 5.0)]
        .iter()
        .map(|&(id, x, stock)| json!({"id": id, "vector": [x, 0.0], "payload": {"stock": stock}}))
        .collect();
    s.ok(
        "PUT",
        "/collections/f/points?wait=true",
        Some(json!({"points": points})),
    );
    let prefetch = json!({"query": [1.0, 0.0], "limit": 3});
    // $score + 0.01 × stock: 0.9 + 0.1, 0.8 + 0.5, 0.1 + 0.05.
    let found = s.ok(
        "POST",
        "/collections/f/points/query",
        Some(json!({"prefetch": prefetch, "query": {"formula": {"sum": ["$score", {"mult": [0.01, "stock"]}]}}})),
    );
    let scored: Vec<(u64, f64)> = found["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p["score"].as_f64().unwrap()))
        .collect();
    assert_eq!(scored.iter().map(|p| p.0).collect::<Vec<_>>(), [2, 1, 3]);
    for ((_, got), want) in scored.iter().zip([1.3, 1.0, 0.15]) {
        assert!((got - want).abs() < 1e-5, "{scored:?}");
    }
    // order_by over the same prefetch needs a range index on the key,
    // as in Qdrant; then it lists the prefetched points by stock.
    let by_stock =
        json!({"prefetch": prefetch, "query": {"order_by": {"key": "stock", "direction": "desc"}}});
    let (code, body) = s.call(
        "POST",
        "/collections/f/points/query",
        Some(by_stock.clone()),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body["status"]["error"]
        .as_str()
        .unwrap()
        .contains("No range index"));
    s.ok(
        "PUT",
        "/collections/f/index?wait=true",
        Some(json!({"field_name": "stock", "field_schema": "float"})),
    );
    let ordered = s.ok("POST", "/collections/f/points/query", Some(by_stock));
    assert_eq!(ids(&ordered["points"]), [2, 1, 3]);
    // Errors: no prefetch, a variable with no value and no default.
    for (body, says) in [
        (json!({"query": {"formula": "$score"}}), "without prefetch"),
        (
            json!({"prefetch": prefetch, "query": {"formula": {"mult": ["$score", "missing"]}}}),
            "missing",
        ),
    ] {
        let (code, answer) = s.call("POST", "/collections/f/points/query", Some(body));
        assert_eq!(code, 400, "{answer}");
        assert!(
            answer["status"]["error"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
}
