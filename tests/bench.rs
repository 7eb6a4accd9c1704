//! `helio bench` end to end: the real binary against real spawned servers.
//! The figures are not asserted (speed lives in benchmarks); what is
//! asserted is that the report is produced, recall is computed right
//! (exact search scores 1.0), comparisons print ratios, durability mode
//! finds no loss on Helio and does find one when data is wiped, and bad
//! input ends in one clear line and a non-zero exit.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Rng, Server};
use serde_json::Value;

fn helio() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helio"));
    cmd.env("HELIO_LOG", "warn");
    cmd
}

fn bench(args: &[&str]) -> Output {
    helio()
        .arg("bench")
        .args(args)
        .output()
        .expect("run helio bench")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Asserts failure with exactly one `error:` line on stderr containing
/// `needle`, and returns that line.
fn fails_with(out: &Output, needle: &str) -> String {
    assert!(
        !out.status.success(),
        "expected failure: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    assert!(errors[0].contains(needle), "{needle:?} not in {stderr}");
    errors[0].to_string()
}

fn rows(report: &Value) -> &Vec<Value> {
    report["search"].as_array().expect("search rows")
}

fn row<'a>(report: &'a Value, label: &str, workers: u64) -> &'a Value {
    rows(report)
        .iter()
        .find(|r| r["search"] == label && r["workers"] == workers)
        .unwrap_or_else(|| panic!("no row {label} x{workers}: {report}"))
}

fn recalls(row: &Value) -> Vec<f64> {
    row["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recall"].as_f64().unwrap())
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn search_workloads_against_two_servers() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(&dir.path().join("a/storage"));
    let b = Server::start(&dir.path().join("b/storage"));
    let json = dir.path().join("report.json");
    let out = bench(&[
        "--url",
        &a.url,
        "--vs",
        &b.url,
        "--dataset",
        "synthetic:3000x16",
        "--indexing-threshold",
        "20",
        "--queries",
        "120",
        "--ef",
        "16,64",
        "--concurrency",
        "1,2",
        "--batch",
        "500",
        "--exact",
        "--filter-selectivity",
        "0.05,0.5",
        "--index-payload",
        "--sparse",
        "--hybrid",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("B/A"), "{stdout}");
    assert!(stdout.contains("median p50 ratio B/A"), "{stdout}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["points"], 3000);
    let servers = report["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    for s in servers {
        assert!(s["server"].as_str().unwrap().starts_with("helio"), "{s}");
        // The graph was built before the queries ran.
        assert_eq!(s["upload"]["indexed_vectors"], 3000, "{s}");
    }
    // 1 exact + 2 ef + 2x2 filtered + sparse + 2 hybrid, each at 2 concurrencies.
    assert_eq!(rows(&report).len(), 20);
    for workers in [1, 2] {
        assert_eq!(
            recalls(row(&report, "exact", workers)),
            vec![1.0, 1.0],
            "exact search must find the exact neighbours"
        );
        // Sparse search is exact in Helio.
        assert_eq!(recalls(row(&report, "sparse", workers)), vec![1.0, 1.0]);
        for label in ["ef=64", "ef=64 sel=0.05", "ef=64 sel=0.5", "hybrid ef=64"] {
            for r in recalls(row(&report, label, workers)) {
                assert!(r > 0.9, "{label}: recall {r}");
            }
        }
        let cmp = &row(&report, "ef=16", workers)["b_over_a"];
        assert!(cmp["p50"].as_f64().unwrap() > 0.0, "{cmp}");
    }
    // An inexact answer must score below 1: a graph search with ef=16 on
    // a clustered set misses some neighbours somewhere.
    let low: f64 = recalls(row(&report, "ef=16", 1))[0];
    assert!(low <= 1.0 && low > 0.5, "{low}");
}

fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut out = Vec::new();
    for r in rows {
        out.extend((r.len() as i32).to_le_bytes());
        for x in r {
            out.extend(x.to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

fn write_ivecs(path: &Path, rows: &[Vec<usize>]) {
    let mut out = Vec::new();
    for r in rows {
        out.extend((r.len() as i32).to_le_bytes());
        for &x in r {
            out.extend((x as i32).to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn texmex_files_with_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("storage"));
    let mut rng = Rng(7);
    let base: Vec<Vec<f32>> = (0..500).map(|_| rng.vector(8)).collect();
    let queries: Vec<Vec<f32>> = (0..20).map(|_| rng.vector(8)).collect();
    // Exact Euclidean neighbours, computed here independently of Helio.
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<(f32, usize)> = base
                .iter()
                .enumerate()
                .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(), i))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            d.iter().take(10).map(|x| x.1).collect()
        })
        .collect();
    let (bp, qp, gp) = (
        dir.path().join("base.fvecs"),
        dir.path().join("query.fvecs"),
        dir.path().join("gt.ivecs"),
    );
    write_fvecs(&bp, &base);
    write_fvecs(&qp, &queries);
    write_ivecs(&gp, &truth);
    let json = dir.path().join("r.json");
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "--url",
            &server.url,
            "--dataset",
            bp.to_str().unwrap(),
            "--query-file",
            qp.to_str().unwrap(),
            "--ground-truth",
            gp.to_str().unwrap(),
            "--distance",
            "euclid",
            "--queries",
            "20",
            "--ef",
            "32",
            "--concurrency",
            "1",
            "--exact",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = bench(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
    };
    let report = run(&[]);
    assert_eq!(report["run"]["points"], 500);
    assert_eq!(recalls(row(&report, "exact", 1)), vec![1.0]);

    // A wrong ground truth must show: shift every neighbour by one.
    let wrong: Vec<Vec<usize>> = truth
        .iter()
        .map(|t| t.iter().map(|i| (i + 1) % 500).collect())
        .collect();
    write_ivecs(&gp, &wrong);
    let report = run(&["--reuse"]);
    assert!(recalls(row(&report, "exact", 1))[0] < 0.5);
}

#[test]
fn durability_mode_finds_no_loss_on_helio() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = format!(
        "exec '{}' serve --port {port} --storage '{}' --data-dir '{}'",
        env!("CARGO_BIN_EXE_helio"),
        dir.path().join("storage").display(),
        dir.path().join("data").display()
    );
    let json = dir.path().join("d.json");
    let out = bench(&[
        "durability",
        "--start",
        &start,
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--cycles",
        "3",
        "--min-ms",
        "100",
        "--max-ms",
        "400",
        "--seed",
        "42",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["cycles"], 3);
    assert_eq!(report["losses"], 0);
    assert!(
        report["acknowledged_writes"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["point_checks"], 3 * 2 * 500);
    // Nothing is left running on the port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn durability_mode_reports_lost_writes() {
    // A "server" that wipes its storage at every start loses everything it
    // acknowledged: the bench must say so and fail.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let storage = dir.path().join("storage");
    let start = format!(
        "rm -rf '{s}' && exec '{}' serve --port {port} --storage '{s}' --data-dir '{}'",
        env!("CARGO_BIN_EXE_helio"),
        dir.path().join("data").display(),
        s = storage.display(),
    );
    let out = bench(&[
        "durability",
        "--start",
        &start,
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--cycles",
        "2",
        "--min-ms",
        "200",
        "--max-ms",
        "300",
    ]);
    assert!(text(&out.stdout).contains("is gone after the restart"));
    fails_with(&out, "acknowledged writes were lost");
}

/// A TCP server that answers every request with `reply` (or never, when
/// `reply` is `None`), for the not-Qdrant and hung-server cases.
fn fake_server(reply: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            match reply {
                Some(body) => {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                None => held.push(conn),
            }
        }
    });
    url
}

#[test]
fn bad_input_gives_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let down = format!("http://127.0.0.1:{}", free_port());
    fails_with(
        &bench(&["--url", &down, "--dataset", "synthetic:10x4"]),
        "server unreachable",
    );
    let html = fake_server(Some("<html>hello</html>"));
    fails_with(
        &bench(&["--url", &html, "--dataset", "synthetic:10x4"]),
        "is this a Qdrant-compatible server?",
    );
    let json = fake_server(Some("{\"hello\": 1}"));
    fails_with(
        &bench(&["--url", &json, "--dataset", "synthetic:10x4"]),
        "not a Qdrant-compatible server",
    );
    let hung = fake_server(None);
    fails_with(
        &bench(&[
            "--url",
            &hung,
            "--timeout",
            "1",
            "--dataset",
            "synthetic:10x4",
        ]),
        "timed out",
    );

    let server = Server::start(&dir.path().join("storage"));
    let url = server.url.as_str();
    fails_with(
        &bench(&["--url", url, "--dataset", "points.csv"]),
        "unknown dataset",
    );
    fails_with(
        &bench(&["--url", url, "--dataset", "synthetic:0x4"]),
        "must be positive",
    );
    fails_with(&bench(&["--url", url, "--ef", "0"]), "--ef values");
    fails_with(
        &bench(&["--url", url, "--filter-selectivity", "2"]),
        "(0, 1]",
    );
    fails_with(&bench(&["--url", "localhost:6333"]), "not an http");

    let base = dir.path().join("base.fvecs");
    let mut rng = Rng(3);
    write_fvecs(&base, &(0..50).map(|_| rng.vector(8)).collect::<Vec<_>>());
    let mut bytes = std::fs::read(&base).unwrap();
    bytes.truncate(bytes.len() - 3);
    let cut = dir.path().join("cut.fvecs");
    std::fs::write(&cut, bytes).unwrap();
    fails_with(
        &bench(&["--url", url, "--dataset", cut.to_str().unwrap()]),
        "truncated",
    );
    let q4 = dir.path().join("q4.fvecs");
    write_fvecs(&q4, &[vec![0.5; 4]]);
    fails_with(
        &bench(&[
            "--url",
            url,
            "--dataset",
            base.to_str().unwrap(),
            "--query-file",
            q4.to_str().unwrap(),
        ]),
        "dimension 4",
    );
    let missing = PathBuf::from("/nonexistent/base.fvecs");
    fails_with(
        &bench(&["--url", url, "--dataset", missing.to_str().unwrap()]),
        "reading /nonexistent/base.fvecs",
    );
    // clap's own errors: non-zero exit, the reason on stderr.
    let out = bench(&["--url", url, "--top-k", "ten"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid value 'ten'"));
    let out = bench(&["durability", "--url", url]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--start"));
    fails_with(
        &bench(&[
            "durability",
            "--start",
            "true",
            "--url",
            url,
            "--cycles",
            "1",
        ]),
        "something already answers",
    );
}

fn model_dir() -> PathBuf {
    std::env::var_os("HELIO_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        })
}

#[test]
fn texts_embedded_by_the_server_and_embed_mode() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    let server = Server::start_with(
        &dir.path().join("storage"),
        &["--model-dir", model.to_str().unwrap()],
    );
    let kinds = [
        "painel solar",
        "inversor",
        "bateria",
        "cabo solar",
        "estrutura",
    ];
    let lines: Vec<String> = (0..80)
        .map(|i| format!("{} {} W modelo {i}", kinds[i % 5], 100 + i * 5))
        .collect();
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, lines.join("\n")).unwrap();
    let json = dir.path().join("t.json");
    let out = bench(&[
        "--url",
        &server.url,
        "--texts",
        texts.to_str().unwrap(),
        "--queries",
        "10",
        "--batch",
        "40",
        "--ef",
        "32",
        "--concurrency",
        "1",
        "--exact",
        "--sparse",
        "--hybrid",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["run"]["points"], 70);
    assert_eq!(report["run"]["dim"], 384);
    for label in ["exact", "ef=32", "sparse", "hybrid ef=32"] {
        // Below the indexing threshold every search is exact, so the
        // server's answers must equal its own exact answers.
        assert_eq!(recalls(row(&report, label, 1)), vec![1.0], "{label}");
    }

    let json = dir.path().join("e.json");
    let embed = |requests: &str, batch: &str, batches: &str, seed: &str| {
        let (json, url) = (json.to_str().unwrap(), server.url.as_str());
        bench(&[
            "embed",
            "--url",
            url,
            "--requests",
            requests,
            "--batch",
            batch,
            "--batches",
            batches,
            "--json",
            json,
            "--seed",
            seed,
        ])
    };
    let out = embed("5", "4", "2", "1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["dim"], 384);
    assert_eq!(report["single"]["requests"], 5);
    assert_eq!(report["batch"]["texts"], 8);
    assert!(report["batch"]["texts_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["document_query"]["requests"], 5);
    // A second run (another seed, as two runs draw by default) must measure the model again, not the
    // cache the first run filled: its warm-up and single-text requests (10 + 5) are all misses.
    let misses = || server.metric("helio_embedding_cache_misses");
    let before = misses();
    let out = embed("5", "1", "1", "2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(misses() >= before + 15.0, "{before} -> {}", misses());
    let out = bench(&["embed", "--url", &server.url, "--model", "no/such-model"]);
    fails_with(&out, "no/such-model");
}
