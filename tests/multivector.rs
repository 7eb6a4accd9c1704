//! Multivectors (ColBERT-style rows per point) over HTTP: config echo,
//! upserts in both shapes, errors that write nothing, MaxSim queries alone
//! and as the rescoring stage of a dense prefetch, and durability across a
//! SIGKILL.

mod common;

use common::{Rng, Server};
use serde_json::{json, Value};

const N: u64 = 60;

fn rows(rng: &mut Rng, id: u64) -> Vec<Vec<f32>> {
    (0..1 + id % 4).map(|_| rng.vector(3)).collect()
}

/// MaxSim with Dot: each query row's best dot product, summed.
fn max_sim(query: &[Vec<f32>], doc: &[Vec<f32>]) -> f32 {
    query
        .iter()
        .map(|q| {
            doc.iter()
                .map(|d| q.iter().zip(d).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

fn as_rows(v: &Value) -> Vec<Vec<f32>> {
    serde_json::from_value(v.clone()).unwrap()
}

fn hits(found: &Value) -> Vec<(u64, f32)> {
    let list = found.get("points").unwrap_or(found);
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_u64().unwrap(),
                p["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

/// The best `limit` of `docs` for `query`, by MaxSim, best first.
fn expected(docs: &[(u64, Vec<Vec<f32>>)], query: &[Vec<f32>], limit: usize) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = docs
        .iter()
        .map(|(id, d)| (*id, max_sim(query, d)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(limit);
    all
}

fn assert_hits(got: &[(u64, f32)], want: &[(u64, f32)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "{got:?} vs {want:?}");
        assert!((g.1 - w.1).abs() < 1e-4, "{got:?} vs {want:?}");
    }
}

fn query(server: &Server, body: Value) -> Vec<(u64, f32)> {
    hits(&server.ok("POST", "/collections/m/points/query", Some(body)))
}

#[test]
fn multivectors_are_scored_by_max_sim_rescore_prefetches_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let server = Server::start(&storage);
    server.ok(
        "PUT",
        "/collections/m",
        Some(json!({"vectors": {
            "dense": {"size": 4, "distance": "Cosine"},
            "colbert": {"size": 3, "distance": "Dot",
                        "multivector_config": {"comparator": "max_sim"},
                        "hnsw_config": {"m": 0}},
        }})),
    );
    let info = server.ok("GET", "/collections/m", None);
    let colbert = &info["config"]["params"]["vectors"]["colbert"];
    assert_eq!(
        colbert["multivector_config"],
        json!({"comparator": "max_sim"})
    );
    assert_eq!(colbert["hnsw_config"]["m"], 0);

    // Points list form for most, batch columns for the last ten.
    let mut rng = Rng(7);
    let mut docs: Vec<(u64, Vec<Vec<f32>>)> = Vec::new();
    let mut listed = Vec::new();
    let (mut ids, mut dense_col, mut colbert_col, mut payloads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in 0..N {
        let m = rows(&mut rng, id);
        let dense = rng.vector(4);
        if id < N - 10 {
            listed.push(json!({"id": id, "vector": {"dense": dense, "colbert": m},
                               "payload": {"group": id % 3}}));
        } else {
            ids.push(id);
            dense_col.push(json!(dense));
            colbert_col.push(json!(m));
            payloads.push(json!({"group": id % 3}));
        }
        docs.push((id, m));
    }
    server.ok(
        "PUT",
        "/collections/m/points?wait=true",
        Some(json!({"points": listed})),
    );
    server.ok(
        "PUT",
        "/collections/m/points?wait=true",
        Some(json!({"batch": {"ids": ids,
                              "vectors": {"dense": dense_col, "colbert": colbert_col},
                              "payloads": payloads}})),
    );

    // Bad multivectors are refused with Qdrant's messages; nothing is written.
    let point = |v: Value| json!({"points": [{"id": 3, "vector": {"colbert": v}}]});
    let refused = [
        (
            point(json!([[1.0, 2.0], [3.0, 4.0]])),
            400,
            "expected dim: 3, got 2",
        ),
        (point(json!([])), 400, "expected dim: 3, got 0"),
        (
            point(json!([1.0, 2.0, 3.0])),
            400,
            "Conversion between multi and regular vectors failed",
        ),
        (
            point(json!([[1.0, 2.0, 3.0], [1.0]])),
            422,
            "found vector with dimension 1",
        ),
        (
            point(json!([[1.0, 2.0, 3.0], []])),
            422,
            "all vectors must be non-empty",
        ),
        (
            json!({"points": [{"id": 3, "vector": {"dense": [[1.0, 0.0, 0.0, 0.0]]}}]}),
            400,
            "Conversion between multi and regular vectors failed",
        ),
    ];
    for (body, status, message) in refused {
        let (got, value) = server.call("PUT", "/collections/m/points?wait=true", Some(body));
        assert_eq!(got, status, "{value}");
        let error = value["status"]["error"].as_str().unwrap();
        assert!(error.contains(message), "{error}");
    }
    let count = server.ok(
        "POST",
        "/collections/m/points/count",
        Some(json!({"exact": true})),
    );
    assert_eq!(count["count"], N);
    let three = server.ok(
        "POST",
        "/collections/m/points",
        Some(json!({"ids": [3], "with_vector": true})),
    );
    assert_eq!(as_rows(&three[0]["vector"]["colbert"]), docs[3].1);

    // A plain MaxSim query, in both shapes, with vectors returned.
    let q: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(3)).collect();
    let want = expected(&docs, &q, 5);
    assert_hits(
        &query(&server, json!({"query": q, "using": "colbert", "limit": 5})),
        &want,
    );
    let found = server.ok(
        "POST",
        "/collections/m/points/query",
        Some(
            json!({"query": {"nearest": q}, "using": "colbert", "limit": 5,
                    "with_vector": ["colbert"]}),
        ),
    );
    assert_hits(&hits(&found), &want);
    let top = &found["points"][0];
    let id = top["id"].as_u64().unwrap() as usize;
    assert_eq!(as_rows(&top["vector"]["colbert"]), docs[id].1);

    // offset, filter and score_threshold.
    let paged = query(
        &server,
        json!({"query": q, "using": "colbert", "limit": 3, "offset": 2}),
    );
    assert_hits(&paged, &want[2..5]);
    let group1: Vec<_> = docs.iter().filter(|(id, _)| id % 3 == 1).cloned().collect();
    let filtered = query(
        &server,
        json!({"query": q, "using": "colbert", "limit": 4,
               "filter": {"must": [{"key": "group", "match": {"value": 1}}]}}),
    );
    assert_hits(&filtered, &expected(&group1, &q, 4));
    let threshold = want[2].1;
    let above = query(
        &server,
        json!({"query": q, "using": "colbert", "limit": 50, "score_threshold": threshold}),
    );
    assert!(
        above.iter().all(|h| h.1 >= threshold - 1e-6) && above.len() >= 3,
        "{above:?}"
    );

    // The classic pattern: a dense prefetch, rescored by MaxSim.
    let dense_q = rng.vector(4);
    let prefetched = query(
        &server,
        json!({"query": dense_q, "using": "dense", "limit": 15}),
    );
    let pool: Vec<_> = docs
        .iter()
        .filter(|(id, _)| prefetched.iter().any(|h| h.0 == *id))
        .cloned()
        .collect();
    let rescored = query(
        &server,
        json!({"prefetch": {"query": dense_q, "using": "dense", "limit": 15},
               "query": q, "using": "colbert", "limit": 5}),
    );
    assert_hits(&rescored, &expected(&pool, &q, 5));

    // A single row searches a multivector field as a one-row multivector.
    let one = rng.vector(3);
    assert_hits(
        &query(
            &server,
            json!({"query": one, "using": "colbert", "limit": 3}),
        ),
        &expected(&docs, std::slice::from_ref(&one), 3),
    );
    // A multivector cannot search a plain dense vector.
    let (status, value) = server.call(
        "POST",
        "/collections/m/points/query",
        Some(json!({"query": [[1.0, 0.0, 0.0, 0.0]], "using": "dense"})),
    );
    assert_eq!(status, 400, "{value}");
    assert!(value["status"]["error"]
        .as_str()
        .unwrap()
        .contains("Conversion between multi and regular vectors failed"));
    // Nearest to a stored multivector, which is left out.
    let others: Vec<_> = docs.iter().filter(|(id, _)| *id != 5).cloned().collect();
    assert_hits(
        &query(&server, json!({"query": 5, "using": "colbert", "limit": 4})),
        &expected(&others, &docs[5].1, 4),
    );

    // Durable: a SIGKILL right after the writes loses nothing.
    server.kill();
    let server = Server::start(&storage);
    let again = hits(&server.ok(
        "POST",
        "/collections/m/points/query",
        Some(json!({"query": q, "using": "colbert", "limit": 5})),
    ));
    assert_hits(&again, &want);
    let back = server.ok(
        "POST",
        "/collections/m/points",
        Some(json!({"ids": [N - 1], "with_vector": true})),
    );
    assert_eq!(
        as_rows(&back[0]["vector"]["colbert"]),
        docs[N as usize - 1].1
    );
}

#[test]
fn an_unnamed_cosine_multivector_is_normalised_and_uint8_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("storage"));
    server.ok(
        "PUT",
        "/collections/u",
        Some(json!({"vectors": {"size": 2, "distance": "Cosine",
                                "multivector_config": {"comparator": "max_sim"}}})),
    );
    server.ok(
        "PUT",
        "/collections/u/points?wait=true",
        Some(json!({"points": [{"id": 1, "vector": [[3.0, 4.0], [0.0, 2.0]]}]})),
    );
    let got = server.ok(
        "POST",
        "/collections/u/points",
        Some(json!({"ids": [1], "with_vector": true})),
    );
    assert_eq!(
        as_rows(&got[0]["vector"]),
        vec![vec![0.6, 0.8], vec![0.0, 1.0]]
    );
    let found = server.ok(
        "POST",
        "/collections/u/points/query",
        Some(json!({"query": [[1.0, 0.0], [0.0, 5.0]], "limit": 1})),
    );
    // Row 1 best matches [0.6, 0.8] (0.6); row 2 matches [0, 1] (1.0).
    let score = found["points"][0]["score"].as_f64().unwrap();
    assert!((score - 1.6).abs() < 1e-5, "{found}");

    server.ok(
        "PUT",
        "/collections/b",
        Some(json!({"vectors": {"size": 3, "distance": "Dot", "datatype": "uint8"}})),
    );
    let info = server.ok("GET", "/collections/b", None);
    assert_eq!(info["config"]["params"]["vectors"]["datatype"], "uint8");
    server.ok(
        "PUT",
        "/collections/b/points?wait=true",
        Some(json!({"points": [{"id": 1, "vector": [1.7, 300.0, -4.0]}]})),
    );
    let got = server.ok(
        "POST",
        "/collections/b/points",
        Some(json!({"ids": [1], "with_vector": true})),
    );
    // Truncated towards zero and saturated, as Qdrant's byte cast does.
    assert_eq!(got[0]["vector"], json!([1.0, 255.0, 0.0]));
}
