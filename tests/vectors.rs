//! Named dense vectors and sparse vectors over HTTP: each named vector is
//! indexed into its own graphs, and every kind of vector (and the absence
//! of one) survives a SIGKILL and a restart.

mod common;

use std::time::{Duration, Instant};

use common::{Rng, Server};
use serde_json::{json, Value};

const N: u64 = 1500;

fn point(rng: &mut Rng, id: u64) -> Value {
    let mut vector = json!({
        "a": rng.vector(8),
        "s": {"indices": [id % 50, 100 + id % 7], "values": [1.0, 0.5]},
    });
    // Every third point lacks the "b" vector.
    if !id.is_multiple_of(3) {
        vector["b"] = json!(rng.vector(4));
    }
    json!({"id": id, "vector": vector, "payload": {"id": id}})
}

fn wait_green(server: &Server, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = server.ok("GET", &format!("/collections/{name}"), None);
        if info["status"] == "green" || Instant::now() > deadline {
            return info;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sparse_hits(server: &Server, index: u64) -> Vec<u64> {
    let found = server.ok(
        "POST",
        "/collections/v/points/query",
        Some(json!({"query": {"indices": [index], "values": [1.0]}, "using": "s", "limit": 100})),
    );
    let mut ids: Vec<u64> = found["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[test]
fn named_and_sparse_vectors_are_indexed_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let server = Server::start(&storage);
    server.ok(
        "PUT",
        "/collections/v",
        Some(json!({
            "vectors": {
                "a": {"size": 8, "distance": "Cosine"},
                "b": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}},
            },
            "sparse_vectors": {"s": {"modifier": "idf"}},
            // 8 KB: a graph after 256 vectors of "a" and 512 of "b".
            "optimizers_config": {"indexing_threshold": 8},
        })),
    );
    let mut rng = Rng(7);
    let points: Vec<Value> = (0..N).map(|id| point(&mut rng, id)).collect();
    for chunk in points.chunks(250) {
        server.ok(
            "PUT",
            "/collections/v/points?wait=true",
            Some(json!({"points": chunk})),
        );
    }
    let info = wait_green(&server, "v");
    assert_eq!(info["status"], "green", "{info}");
    // Both named vectors have graphs: "a" alone holds at most N, and what
    // stays unindexed of each is below its threshold.
    let with_b = (0..N).filter(|id| id % 3 != 0).count() as u64;
    let indexed = info["indexed_vectors_count"].as_u64().unwrap();
    assert!(indexed > N && indexed <= N + with_b, "{info}");
    let before = sparse_hits(&server, 7);
    assert_eq!(before, (0..N).filter(|id| id % 50 == 7).collect::<Vec<_>>());

    // Acknowledged changes right before the kill: a vector update, a
    // deleted named vector, a deleted point.
    server.ok(
        "PUT",
        "/collections/v/points/vectors?wait=true",
        Some(json!({"points": [{"id": 1, "vector": {"s": {"indices": [7], "values": [2.0]}}}]})),
    );
    server.ok(
        "POST",
        "/collections/v/points/vectors/delete?wait=true",
        Some(json!({"points": [2], "vector": ["b"]})),
    );
    server.ok(
        "POST",
        "/collections/v/points/delete?wait=true",
        Some(json!({"points": [7]})),
    );
    let expected_hits = {
        let mut ids: Vec<u64> = before.iter().copied().filter(|&id| id != 7).collect();
        ids.push(1);
        ids.sort();
        ids
    };
    let point_1 = server.ok("GET", "/collections/v/points/1", None);
    server.kill();

    let server = Server::start(&storage);
    assert_eq!(sparse_hits(&server, 7), expected_hits);
    let p2 = server.ok("GET", "/collections/v/points/2", None);
    let names: Vec<&String> = p2["vector"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["a", "s"]);
    assert_eq!(server.ok("GET", "/collections/v/points/1", None), point_1);
    let (status, _) = server.call("GET", "/collections/v/points/7", None);
    assert_eq!(status, 404);
    let info = wait_green(&server, "v");
    assert_eq!(info["points_count"], N - 1);
    // Searching "b" never returns a point without it.
    let found = server.ok(
        "POST",
        "/collections/v/points/query",
        Some(
            json!({"query": [1.0, 1.0, 1.0, 1.0], "using": "b", "limit": 1000,
                    "params": {"exact": true}}),
        ),
    );
    let ids: Vec<u64> = found["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| id % 3 != 0 && *id != 2 && *id != 7));
    assert_eq!(ids.len() as u64, with_b - 2);
    // The graph of "b" answers too, and agrees with the exact scan at the top.
    let top = |exact: bool| {
        server.ok(
            "POST",
            "/collections/v/points/query",
            Some(
                json!({"query": [0.3, -0.2, 0.9, 0.1], "using": "b", "limit": 5,
                        "params": {"exact": exact, "hnsw_ef": 128}}),
            ),
        )["points"][0]["id"]
            .clone()
    };
    assert_eq!(top(false), top(true));
}

/// Adds a dense vector `b` and a sparse vector `s` to collection `c`.
fn add_b_and_s(s: &Server) {
    s.ok(
        "PUT",
        "/collections/c/vectors/b",
        Some(json!({"dense": {"size": 3, "distance": "Euclid"}})),
    );
    s.ok(
        "PUT",
        "/collections/c/vectors/s",
        Some(json!({"sparse": {}})),
    );
}

#[test]
fn vector_names_added_and_dropped_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let s = Server::start(&storage);
    s.ok(
        "PUT",
        "/collections/c",
        Some(json!({"vectors": {"a": {"size": 2, "distance": "Dot"}}})),
    );
    let put = |s: &Server, points: Value| {
        s.ok(
            "PUT",
            "/collections/c/points?wait=true",
            Some(json!({"points": points})),
        );
    };
    put(
        &s,
        json!([{"id": 1, "vector": {"a": [1, 0]}}, {"id": 2, "vector": {"a": [0, 1]}}]),
    );
    add_b_and_s(&s);
    put(
        &s,
        json!([{"id": 3, "vector": {"a": [1, 1], "b": [0, 0, 1], "s": {"indices": [4], "values": [1.0]}}}]),
    );
    let with = |s: &Server, name: &str| -> u64 {
        let r = s.ok(
            "POST",
            "/collections/c/points/count",
            Some(json!({"filter": {"must": [{"has_vector": name}]}})),
        );
        r["count"].as_u64().unwrap()
    };
    s.kill();

    // Reopened: only the point written with them has the new vectors.
    let s = Server::start(&storage);
    assert_eq!((with(&s, "a"), with(&s, "b"), with(&s, "s")), (3, 1, 1));
    let hits = s.ok(
        "POST",
        "/collections/c/points/query",
        Some(json!({"query": [0, 0, 0], "using": "b", "with_vector": ["b"]})),
    );
    assert_eq!(hits["points"][0]["id"], 3);
    assert_eq!(hits["points"][0]["vector"]["b"], json!([0.0, 0.0, 1.0]));
    s.ok("DELETE", "/collections/c/vectors/b", None);
    s.ok("DELETE", "/collections/c/vectors/s", None);
    s.kill();

    // Dropped for good, and a name added again starts empty.
    let s = Server::start(&storage);
    let info = s.ok("GET", "/collections/c", None);
    assert_eq!(
        info["config"]["params"]["vectors"],
        json!({"a": {"size": 2, "distance": "Dot"}})
    );
    assert!(
        info["config"]["params"]["sparse_vectors"].is_null(),
        "{info}"
    );
    add_b_and_s(&s);
    s.kill();
    let s = Server::start(&storage);
    assert_eq!((with(&s, "a"), with(&s, "b"), with(&s, "s")), (3, 0, 0));
    let (code, body) = s.call(
        "PUT",
        "/collections/c/vectors/z",
        Some(json!({"dense": {"size": 2, "distance": "Dot"}, "sparse": {}})),
    );
    assert_eq!(code, 422, "{body}");
}
