//! Full-storage snapshots end to end: a server fills collections and
//! aliases, writes a full snapshot (`POST /snapshots`), a client downloads
//! it, and a second server on an empty storage starts with
//! `--storage-snapshot`: every point, payload, vector, index, alias and
//! search answer must be the same. Then the refusals: names already taken
//! (without `--force-snapshot`) and damaged files stop the start-up and
//! change nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, Server};
use serde_json::{json, Value};

/// Collections of every kind the engine has, with deletes and payload
/// edits behind them, graphs built, and two aliases.
fn fill(s: &Server) {
    s.ok(
        "PUT",
        "/collections/docs",
        Some(json!({
            "vectors": {"d": {"size": 8, "distance": "Cosine"}, "e": {"size": 4, "distance": "Euclid"}},
            "sparse_vectors": {"s": {"modifier": "idf"}},
            "optimizers_config": {"indexing_threshold": 1},
        })),
    );
    let mut rng = Rng(0xfeed_5eed);
    let points: Vec<Value> = (0..600u64)
        .map(|i| {
            let mut vector = json!({
                "d": rng.vector(8),
                "s": {"indices": [i % 13, 100 + i % 7], "values": [1.0, 0.25 + (i % 4) as f32]},
            });
            if i % 5 != 0 {
                vector["e"] = json!(rng.vector(4));
            }
            let cat = ["panel", "inverter", "cable"][i as usize % 3];
            let made = format!("2024-05-0{}T10:00:00Z", 1 + i % 9);
            json!({"id": i, "vector": vector, "payload": {
                "cat": cat,
                "price": (i as f64) * 1.5,
                "tags": [format!("t{}", i % 4), "all"],
                "spec": {"watts": 100 + i, "made": made},
            }})
        })
        .collect();
    for batch in points.chunks(200) {
        s.ok(
            "PUT",
            "/collections/docs/points?wait=true",
            Some(json!({"points": batch})),
        );
    }
    s.ok(
        "PUT",
        "/collections/docs/index?wait=true",
        Some(json!({"field_name": "cat", "field_schema": "keyword"})),
    );
    s.ok(
        "PUT",
        "/collections/docs/index?wait=true",
        Some(json!({"field_name": "price", "field_schema": "float"})),
    );
    s.ok(
        "POST",
        "/collections/docs/points/delete?wait=true",
        Some(json!({"points": (0..600).step_by(11).collect::<Vec<u64>>()})),
    );
    s.ok(
        "POST",
        "/collections/docs/points/payload?wait=true",
        Some(json!({"payload": {"sale": true}, "filter": {"must": [{"key": "cat", "match": {"value": "cable"}}]}})),
    );

    s.ok(
        "PUT",
        "/collections/plain",
        Some(json!({"vectors": {"size": 16, "distance": "Dot"}})),
    );
    let points: Vec<Value> = (0..300u64)
        .map(|i| {
            let id = if i % 2 == 0 {
                json!(i)
            } else {
                json!(format!("00000000-0000-4000-8000-{i:012}"))
            };
            json!({"id": id, "vector": rng.vector(16), "payload": {"i": i}})
        })
        .collect();
    s.ok(
        "PUT",
        "/collections/plain/points?wait=true",
        Some(json!({"points": points})),
    );
    s.create("empty", 3, "Manhattan");
    s.ok(
        "POST",
        "/collections/aliases",
        Some(json!({"actions": [
            {"create_alias": {"collection_name": "docs", "alias_name": "current"}},
            {"create_alias": {"collection_name": "plain", "alias_name": "stable"}},
        ]})),
    );
}

/// Everything a client can read back, in a comparable form.
fn state(s: &Server) -> Value {
    let mut names: Vec<String> = s.ok("GET", "/collections", None)["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut out = json!({"aliases": s.ok("GET", "/aliases", None)["aliases"].clone()});
    for name in &names {
        let info = s.ok("GET", &format!("/collections/{name}"), None);
        out[name] = json!({
            "config": info["config"],
            "payload_schema": info["payload_schema"],
            "points_count": info["points_count"],
            "points": scroll(s, name),
        });
    }
    out
}

fn scroll(s: &Server, name: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut offset = Value::Null;
    loop {
        let page = s.ok(
            "POST",
            &format!("/collections/{name}/points/scroll"),
            Some(
                json!({"limit": 250, "offset": offset, "with_payload": true, "with_vector": true}),
            ),
        );
        all.extend(page["points"].as_array().unwrap().iter().cloned());
        offset = page["next_page_offset"].clone();
        if offset.is_null() {
            return all;
        }
    }
}

/// Query answers, through the aliases; exact, so that they do not depend
/// on how a graph happened to be built.
fn answers(s: &Server) -> Vec<Value> {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    for _ in 0..5 {
        let filter = json!({"must": [{"key": "cat", "match": {"value": "panel"}}, {"key": "price", "range": {"lt": 600.0}}]});
        for body in [
            json!({"query": rng.vector(8), "using": "d", "limit": 10, "with_payload": true, "params": {"exact": true}}),
            json!({"query": rng.vector(4), "using": "e", "limit": 5, "params": {"exact": true}}),
            json!({"query": {"indices": [3, 102], "values": [1.0, 0.5]}, "using": "s", "limit": 10}),
            json!({"query": rng.vector(8), "using": "d", "limit": 10, "filter": filter, "params": {"exact": true}}),
        ] {
            out.push(s.ok("POST", "/collections/current/points/query", Some(body)));
        }
        out.push(s.ok(
            "POST",
            "/collections/stable/points/query",
            Some(json!({"query": rng.vector(16), "limit": 10, "with_vector": true, "params": {"exact": true}})),
        ));
    }
    out.push(s.ok(
        "POST",
        "/collections/current/points/count",
        Some(json!({"filter": {"must": [{"key": "sale", "match": {"value": true}}]}})),
    ));
    out
}

/// Makes a full snapshot on `s`, checks its description against the
/// download, and writes the download to `to`.
fn snapshot_to(s: &Server, to: &Path) -> Value {
    let made = s.ok("POST", "/snapshots?wait=true", None);
    let name = made["name"].as_str().unwrap();
    assert!(name.starts_with("full-snapshot-"), "{made}");
    let listed = s.ok("GET", "/snapshots", None);
    assert!(listed.as_array().unwrap().contains(&made), "{listed}");
    let resp = s
        .client
        .get(format!("{}/snapshots/{name}", s.url))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().unwrap();
    assert_eq!(bytes.len() as u64, made["size"].as_u64().unwrap());
    assert_eq!(sha256(&bytes), made["checksum"].as_str().unwrap());
    std::fs::write(to, &bytes).unwrap();
    made
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits until every collection reports green (graphs rebuilt).
fn wait_green(s: &Server) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in ["docs", "plain", "empty"] {
        while s.ok("GET", &format!("/collections/{name}"), None)["status"] != "green" {
            assert!(Instant::now() < deadline, "{name} never became green");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_restored_storage_answers_as_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("full.snapshot");
    let source = Server::start(&dir.path().join("a").join("storage"));
    fill(&source);
    wait_green(&source);
    let made = snapshot_to(&source, &archive);
    let expected = (state(&source), answers(&source));
    assert_eq!(expected.0["docs"]["points"].as_array().unwrap().len(), 545);
    assert_eq!(expected.0["aliases"].as_array().unwrap().len(), 2);

    let archive_arg = archive.to_str().unwrap();
    let restored = Server::start_with(
        &dir.path().join("b").join("storage"),
        &["--storage-snapshot", archive_arg],
    );
    assert_eq!(state(&restored), expected.0);
    assert_eq!(answers(&restored), expected.1);
    // Searches through graphs again once the optimizer has rebuilt them.
    wait_green(&restored);
    assert_eq!(answers(&restored), expected.1);
    let probe = &expected.0["docs"]["points"][7];
    let found = restored.ok(
        "POST",
        "/collections/current/points/query",
        Some(json!({"query": probe["vector"]["d"], "using": "d", "limit": 1})),
    );
    assert_eq!(found["points"][0]["id"], probe["id"]);

    // The restored storage is an ordinary one: it survives a restart
    // without the flag, and the snapshot file itself was not needed after.
    drop(restored);
    std::fs::remove_file(&archive).unwrap();
    let again = Server::start(&dir.path().join("b").join("storage"));
    assert_eq!(state(&again), expected.0);

    // Delete on the source: gone from the list and from disk.
    let name = made["name"].as_str().unwrap();
    assert_eq!(
        source.ok("DELETE", &format!("/snapshots/{name}"), None),
        true
    );
    assert_eq!(source.ok("GET", "/snapshots", None), json!([]));
    assert_eq!(
        source.call("GET", &format!("/snapshots/{name}"), None).0,
        404
    );
}

/// Starts `helio serve` expecting it to exit with an error before it
/// listens; returns its stderr.
fn start_fails(storage: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_helio"))
        .args(["serve", "--port", "0", "--storage"])
        .arg(storage)
        .arg("--data-dir")
        .arg(storage.with_file_name("data"))
        .args(extra)
        .env("HELIO_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("helio started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn taken_names_and_damaged_files_stop_the_start_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive: PathBuf = dir.path().join("full.snapshot");
    let expected = {
        let source = Server::start(&dir.path().join("a").join("storage"));
        fill(&source);
        snapshot_to(&source, &archive);
        state(&source)
    };

    // A storage of its own, with a `docs` of another shape.
    let storage = dir.path().join("c").join("storage");
    let mine = {
        let s = Server::start(&storage);
        s.create("docs", 2, "Dot");
        s.create("mine", 2, "Dot");
        s.ok(
            "PUT",
            "/collections/mine/points?wait=true",
            Some(json!({"points": [{"id": 1, "vector": [1.0, 2.0]}]})),
        );
        state(&s)
    };
    let archive_arg = archive.to_str().unwrap();

    let err = start_fails(&storage, &["--storage-snapshot", archive_arg]);
    assert!(
        err.contains("collection `docs` exists") && err.contains("--force-snapshot"),
        "{err}"
    );
    assert_eq!(state(&Server::start(&storage)), mine);

    // Damaged: truncated, one byte changed, not there at all.
    let bytes = std::fs::read(&archive).unwrap();
    let bad = dir.path().join("bad.snapshot");
    let bad_arg = bad.to_str().unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let err = start_fails(
        &storage,
        &["--storage-snapshot", bad_arg, "--force-snapshot"],
    );
    assert!(err.contains("bad.snapshot"), "{err}");
    // A byte in the middle of the first collection's data (not in tar
    // padding, which no reader looks at).
    let middle = {
        let mut tar = tar::Archive::new(bytes.as_slice());
        let first = tar.entries().unwrap().next().unwrap().unwrap();
        (first.raw_file_position() + first.size() / 2) as usize
    };
    let mut flipped = bytes.clone();
    flipped[middle] ^= 0x01;
    std::fs::write(&bad, &flipped).unwrap();
    let err = start_fails(
        &storage,
        &["--storage-snapshot", bad_arg, "--force-snapshot"],
    );
    assert!(err.contains("damaged"), "{err}");
    let err = start_fails(&storage, &["--storage-snapshot", "/nonexistent/x.snapshot"]);
    assert!(err.contains("x.snapshot"), "{err}");
    assert_eq!(state(&Server::start(&storage)), mine);

    // Forced: the archive's collections replace those of the same name,
    // and the storage's own stay.
    let s = Server::start_with(
        &storage,
        &["--storage-snapshot", archive_arg, "--force-snapshot"],
    );
    let now = state(&s);
    assert_eq!(now["mine"], mine["mine"]);
    for key in ["docs", "plain", "empty", "aliases"] {
        assert_eq!(now[key], expected[key], "{key}");
    }
}
