//! Embeddings over real processes: a server without a model still serves
//! vectors and says how to install one; `helio embed` prints local and
//! BM25 vectors that match the reference data.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_dir() -> PathBuf {
    std::env::var_os("HELIO_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        })
}

fn helio_embed(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helio"))
        .arg("embed")
        .args(args)
        .arg("--model-dir")
        .arg(model_dir())
        .output()
        .expect("run helio embed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn without_a_model_vectors_and_bm25_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-model-here");
    let server = Server::start_with(
        &dir.path().join("storage"),
        &["--model-dir", missing.to_str().unwrap()],
    );
    server.create("c", 4, "Dot");
    server.ok(
        "PUT",
        "/collections/c/points?wait=true",
        Some(json!({"points": [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}]})),
    );
    let (status, body) = server.call(
        "PUT",
        "/collections/c/points?wait=true",
        Some(json!({"points": [{"id": 2, "vector": {"text": "painel", "model": "sentence-transformers/all-MiniLM-L6-v2"}}]})),
    );
    assert_eq!(status, 400, "{body}");
    let msg = body["status"]["error"].as_str().unwrap();
    assert!(msg.contains("scripts/fetch-model.sh"), "{msg}");
    assert!(msg.contains("qdrant/bm25"), "{msg}");
    // Nothing was written by the refused request.
    let count = server.ok(
        "POST",
        "/collections/c/points/count",
        Some(json!({"exact": true})),
    );
    assert_eq!(count["count"], 1);
    let (status, body) = server.call(
        "POST",
        "/v1/embeddings",
        Some(json!({"input": "x", "model": "sentence-transformers/all-MiniLM-L6-v2"})),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fetch-model.sh"));
    let (status, body) = server.call("POST", "/v1/embeddings", Some(json!({"model": 3})));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    // A catalog dropped meanwhile is stored, and its knowledge base records one failed run that says
    // what to install, not a new one at every rescan of the inbox.
    let data = dir.path().join("data");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples");
    let name = "exemplo-com-erros.csv";
    std::fs::create_dir_all(data.join("inbox")).unwrap();
    std::fs::copy(samples.join(name), data.join("inbox").join(name)).unwrap();
    let runs = || -> Vec<Value> {
        let result = server.ok("GET", "/assets/catalog_kb/materializations", None);
        result["materializations"].as_array().unwrap().clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !data
        .join("processed")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the file was never processed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Several rescans (every 250 ms) later.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let runs = runs();
    assert!(!runs.is_empty() && runs.len() <= 3, "{runs:?}");
    assert_eq!(runs[0]["status"], "failed", "{runs:?}");
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .contains("fetch-model.sh"),
        "{runs:?}"
    );
}

#[test]
fn helio_embed_matches_the_reference_vectors() {
    let text = std::fs::read_to_string(fixtures().join("minilm-reference.jsonl")).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let picked: Vec<&Value> = rows.iter().take(3).collect();
    let texts: Vec<&str> = picked.iter().map(|r| r["text"].as_str().unwrap()).collect();
    let mut args = texts.clone();
    args.push("--json");
    let (ok, stdout, stderr) = helio_embed(&args);
    assert!(
        ok,
        "helio embed failed (is the model installed? scripts/fetch-model.sh): {stderr}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), texts.len());
    for (line, row) in lines.iter().zip(&picked) {
        assert_eq!(line["dim"], 384);
        let c = cosine(&floats(&line["vector"]), &floats(&row["embedding"]));
        assert!(c >= 0.999, "{}: cosine {c}", row["text"]);
    }
}

#[test]
fn helio_embed_bm25_uses_portuguese_by_default() {
    let (ok, stdout, stderr) = helio_embed(&[
        "inversores",
        "inversor",
        "de para",
        "--model",
        "qdrant/bm25",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["indices"], lines[1]["indices"]);
    assert_eq!(lines[0]["indices"].as_array().unwrap().len(), 1);
    assert_eq!(lines[2]["indices"], json!([]), "stop words dropped");
    let (ok, _, stderr) = helio_embed(&[
        "x",
        "--model",
        "qdrant/bm25",
        "--options",
        r#"{"language": "klingon"}"#,
    ]);
    assert!(!ok);
    assert!(stderr.contains("klingon"), "{stderr}");
}
