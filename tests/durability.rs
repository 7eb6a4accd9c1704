//! Acknowledged writes survive SIGKILL: a client streams `wait=true`
//! upserts, deletes and payload updates, the server is killed at a random
//! instant, restarted on the same storage, and the stored state must equal
//! the acknowledged one (the single request in flight at the kill may have
//! landed or not).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Rng, Server};
use serde_json::{json, Value};

const DIM: usize = 8;

#[derive(Clone, Debug, PartialEq)]
struct Point {
    vector: Vec<f32>,
    payload: Value,
}

/// What the client believes is stored, plus the one unacknowledged op.
#[derive(Default)]
struct Model {
    points: BTreeMap<u64, Point>,
    /// (id, state if the in-flight op landed)
    in_flight: Option<(u64, Option<Point>)>,
    acknowledged: usize,
}

fn normalise(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn stored(server: &Server) -> BTreeMap<u64, Point> {
    let mut out = BTreeMap::new();
    let mut offset = Value::Null;
    loop {
        let page = server.ok(
            "POST",
            "/collections/crash/points/scroll",
            Some(
                json!({"limit": 500, "offset": offset, "with_payload": true, "with_vector": true}),
            ),
        );
        for p in page["points"].as_array().unwrap() {
            let vector: Vec<f32> = serde_json::from_value(p["vector"].clone()).unwrap();
            out.insert(
                p["id"].as_u64().unwrap(),
                Point {
                    vector,
                    payload: p["payload"].clone(),
                },
            );
        }
        offset = page["next_page_offset"].clone();
        if offset.is_null() {
            return out;
        }
    }
}

fn same(a: &Point, b: &Point) -> bool {
    a.payload == b.payload
        && a.vector
            .iter()
            .zip(&b.vector)
            .all(|(x, y)| (x - y).abs() < 1e-5)
}

/// One client op: returns the id it touches and the point's state after it.
fn random_op(rng: &mut Rng, model: &Model, seq: u64) -> (String, Value, u64, Option<Point>) {
    let id = rng.below(300);
    let existing = model.points.get(&id).cloned();
    match (rng.below(10), existing) {
        (0..=5, _) | (_, None) => {
            let vector = rng.vector(DIM);
            let payload = json!({"seq": seq, "tag": format!("t{}", rng.below(5))});
            let body = json!({"points": [{"id": id, "vector": vector, "payload": payload}]});
            let after = Point {
                vector: normalise(&vector),
                payload,
            };
            (
                "PUT".into(),
                json!({"path": "/collections/crash/points", "body": body}),
                id,
                Some(after),
            )
        }
        (6..=7, Some(mut p)) => {
            let body = json!({"points": [id], "payload": {"touched": seq}});
            p.payload["touched"] = json!(seq);
            (
                "POST".into(),
                json!({"path": "/collections/crash/points/payload", "body": body}),
                id,
                Some(p),
            )
        }
        (_, Some(_)) => {
            let body = json!({"points": [id]});
            (
                "POST".into(),
                json!({"path": "/collections/crash/points/delete", "body": body}),
                id,
                None,
            )
        }
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let mut model = Model::default();
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut seq = 0u64;

    {
        let server = Server::start(&storage);
        server.create("crash", DIM, "Cosine");
        // A small indexing threshold so graphs are built (and killed) too.
        server.ok(
            "PATCH",
            "/collections/crash",
            Some(json!({"optimizers_config": {"indexing_threshold": 1}})),
        );
        server.kill();
    }

    for cycle in 0..6 {
        let server = Server::start(&storage);
        // Verify the previous cycle's acknowledged state.
        check(&server, &mut model, cycle);

        let shared = Arc::new(Mutex::new(std::mem::take(&mut model)));
        let writer = {
            let shared = shared.clone();
            let url = server.url.clone();
            let client = server.client.clone();
            let mut rng = Rng(rng.next() | 1);
            let mut seq = seq;
            std::thread::spawn(move || loop {
                seq += 1;
                let (method, spec, id, after) = random_op(&mut rng, &shared.lock().unwrap(), seq);
                shared.lock().unwrap().in_flight = Some((id, after.clone()));
                let target = format!("{url}{}?wait=true", spec["path"].as_str().unwrap());
                let req = if method == "PUT" {
                    client.put(&target)
                } else {
                    client.post(&target)
                };
                match req.json(&spec["body"]).send() {
                    Ok(resp) if resp.status().is_success() => {
                        let mut m = shared.lock().unwrap();
                        match after {
                            Some(p) => m.points.insert(id, p),
                            None => m.points.remove(&id),
                        };
                        m.in_flight = None;
                        m.acknowledged += 1;
                    }
                    Ok(resp) => panic!("write rejected: {}", resp.text().unwrap_or_default()),
                    // The server died mid-request: the op stays in flight.
                    Err(_) => return seq,
                }
            })
        };
        // SIGKILL at a random instant while the writer streams.
        std::thread::sleep(Duration::from_millis(300 + rng.below(900)));
        server.kill();
        seq = writer.join().unwrap();
        model = Arc::try_unwrap(shared).ok().unwrap().into_inner().unwrap();
    }
    let server = Server::start(&storage);
    check(&server, &mut model, 99);
    assert!(
        model.acknowledged > 50,
        "too few writes acknowledged: {}",
        model.acknowledged
    );
}

fn check(server: &Server, model: &mut Model, cycle: usize) {
    let actual = stored(server);
    if let Some((id, landed)) = model.in_flight.take() {
        // Resolve the in-flight op by what the server has.
        match (actual.get(&id), &landed) {
            (Some(a), Some(l)) if same(a, l) => {
                model.points.insert(id, l.clone());
            }
            (None, None) => {
                model.points.remove(&id);
            }
            _ => {}
        }
    }
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        model.points.keys().collect::<Vec<_>>(),
        "cycle {cycle}: stored ids differ from acknowledged ids"
    );
    for (id, expected) in &model.points {
        assert!(
            same(&actual[id], expected),
            "cycle {cycle}: point {id} differs: {:?} vs {:?}",
            actual[id],
            expected
        );
    }
    // Search still finds what is stored (graph + tail after recovery).
    if let Some((id, p)) = model.points.iter().next() {
        let found = server.ok(
            "POST",
            "/collections/crash/points/query",
            Some(json!({"query": p.vector, "limit": 1, "params": {"exact": false}})),
        );
        assert_eq!(
            found["points"][0]["id"].as_u64(),
            Some(*id),
            "cycle {cycle}"
        );
    }
}

/// `helio serve --port P` while another process holds P: started the
/// moment `kill -9` lands, a restart finds the old process still alive a
/// moment (a thread inside fsync keeps it). It must wait, say so, and
/// serve once the port is free.
#[test]
fn serve_retries_binding_a_port_still_taken() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let start = |retry: &str| {
        Command::new(env!("CARGO_BIN_EXE_helio"))
            .args(["serve", "--port", &port, "--bind-retry-secs", retry])
            .arg("--storage")
            .arg(dir.path().join("storage"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("HELIO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn helio")
    };

    // Without retries, a taken port ends the start at once.
    let refused = start("0").wait_with_output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("binding 127.0.0.1:"), "{stderr}");

    let mut child = start("60");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let waiting = loop {
        let line = stderr
            .next()
            .expect("helio exited instead of retrying")
            .unwrap();
        if line.contains("address in use") {
            break line;
        }
    };
    assert!(waiting.contains("retrying"), "{waiting}");
    std::thread::spawn(move || for _ in stderr {});
    // The old process is gone: the waiting server takes the port.
    drop(holder);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = stdout
        .next()
        .expect("helio exited before listening")
        .unwrap();
    assert_eq!(
        listening,
        format!("helio listening on http://127.0.0.1:{port}")
    );
    let answer = reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert!(answer["version"].is_string(), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
}
