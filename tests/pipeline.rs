//! The catalog pipeline end to end over a running server: CSVs dropped
//! into the inbox become searchable products, bad rows land in a report,
//! a new file withdraws what it no longer lists, nothing is lost across a
//! SIGKILL; and `helio ingest` does the same from the command line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples")
}

/// Drops `bytes` into the inbox as a client would: written under a
/// temporary name, renamed when complete.
fn drop_file(inbox: &Path, name: &str, bytes: &[u8]) {
    let tmp = inbox.join(format!("{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

fn count(server: &Server, collection: &str, filter: Option<Value>) -> u64 {
    let (status, body) = server.call(
        "POST",
        &format!("/collections/{collection}/points/count"),
        Some(json!({"filter": filter, "exact": true})),
    );
    if status != 200 {
        return 0;
    }
    body["result"]["count"].as_u64().unwrap_or(0)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(240);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn has_dense() -> Value {
    json!({"must": [{"has_vector": ""}]})
}

#[test]
fn dropped_catalogs_become_searchable_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let data = dir.path().join("data");
    let server = Server::start(&storage);
    let inbox = data.join("inbox");
    for name in [
        "distribuidora-sol-nascente.csv",
        "solartech-distribuicao.csv",
        "exemplo-com-erros.csv",
    ] {
        drop_file(&inbox, name, &std::fs::read(samples().join(name)).unwrap());
    }
    // A file that is not a CSV at all, and one still being written.
    drop_file(&inbox, "foto.csv", &[0u8, 159, 146, 150, 0, 0, 1, 2, 3]);
    std::fs::write(inbox.join("meio-copiado.csv.part"), b"sku;nome\n").unwrap();

    let valid = 120 + 100 + 13;
    wait_for("every valid product in helio-catalog", || {
        count(&server, "helio-catalog", None) == valid
    });
    // Searchable by keyword at once (BM25), by meaning once embedded.
    let found = server.ok(
        "POST",
        "/collections/helio-catalog/points/query",
        Some(
            json!({"query": {"text": "Hoymiles microinversor", "model": "qdrant/bm25"},
                    "using": "bm25", "limit": 3, "with_payload": true}),
        ),
    );
    let top = &found["points"][0]["payload"];
    assert!(
        top["name"].as_str().unwrap().contains("Hoymiles"),
        "{found}"
    );
    // One product type whatever the distributor called it (Sol Nascente writes Portuguese, SolarTech English).
    let facet = server.ok(
        "POST",
        "/collections/helio-catalog/facet",
        Some(json!({"key": "product_type", "limit": 50})),
    );
    let of_type = |slug: &str| -> u64 {
        facet["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["value"] == slug)
            .map_or(0, |h| h["count"].as_u64().unwrap())
    };
    let in_categories = |names: &[&str]| {
        count(
            &server,
            "helio-catalog",
            Some(json!({"must": [{"key": "category", "match": {"any": names}}]})),
        )
    };
    for (slug, pt, en) in [
        ("microinversor", "Microinversor", "Microinverter"),
        ("modulo-fotovoltaico", "Módulo Fotovoltaico", "Solar Panel"),
        ("estrutura", "Estrutura", "Mounting Structure"),
    ] {
        assert!(
            in_categories(&[pt]) > 0 && in_categories(&[en]) > 0,
            "{slug}"
        );
        assert_eq!(of_type(slug), in_categories(&[pt, en]), "{slug}: {facet}");
    }
    wait_for("dense vectors for every product", || {
        count(&server, "helio-catalog", Some(has_dense())) == valid
    });
    let found = server.ok(
        "POST",
        "/collections/helio-catalog/points/query",
        Some(
            json!({"query": {"text": "bateria de lítio para armazenamento",
                              "model": "sentence-transformers/all-MiniLM-L6-v2"},
                    "limit": 3, "with_payload": true}),
        ),
    );
    let kinds: Vec<String> = found["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payload"]["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(kinds.iter().any(|n| n.contains("bateria")), "{kinds:?}");

    // Files were archived; bad rows and the unreadable file were reported.
    let processed = files_in(&data.join("processed"));
    assert_eq!(processed.len(), 3, "{processed:?}");
    let rejected = files_in(&data.join("rejected"));
    assert!(
        rejected
            .iter()
            .any(|n| n == "exemplo-com-erros.csv.errors.csv"),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|n| n == "foto.csv.error.txt"),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|n| n.ends_with("-foto.csv")),
        "{rejected:?}"
    );
    let report =
        std::fs::read_to_string(data.join("rejected/exemplo-com-erros.csv.errors.csv")).unwrap();
    assert_eq!(report.lines().count(), 1 + 7, "{report}");
    assert!(
        report.contains("negative") || report.contains("negativ"),
        "{report}"
    );
    assert_eq!(files_in(&inbox), ["meio-copiado.csv.part"]);
    // Drop-to-searchable latency is exported for Prometheus.
    let observed = server.metric("helio_ingest_searchable_seconds_count");
    assert!(observed >= 1.0, "{observed} ingests observed");

    // The same file again: unchanged products are not embedded again
    // (not even looked up in the embedding cache).
    let embedded = |server: &Server| -> f64 {
        server.metric("helio_embedding_cache_hits") + server.metric("helio_embedding_cache_misses")
    };
    let before = embedded(&server);
    let name = "distribuidora-sol-nascente.csv";
    drop_file(&inbox, name, &std::fs::read(samples().join(name)).unwrap());
    wait_for("the re-dropped file to be archived", || {
        files_in(&data.join("processed")).len() == 4
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        embedded(&server),
        before,
        "an unchanged file was re-embedded"
    );
    assert_eq!(count(&server, "helio-catalog", None), valid);

    // A new snapshot from SolarTech without its last ten products.
    let solartech = std::fs::read_to_string(samples().join("solartech-distribuicao.csv")).unwrap();
    let lines: Vec<&str> = solartech.lines().collect();
    let shorter = lines[..lines.len() - 10].join("\n");
    drop_file(&inbox, "solartech-distribuicao.csv", shorter.as_bytes());
    wait_for("the withdrawn products to leave helio-catalog", || {
        count(&server, "helio-catalog", None) == valid - 10
    });
    let unavailable = json!({"must": [{"key": "available", "match": {"value": false}}]});
    wait_for("helio-pricing to keep them as unavailable", || {
        count(&server, "helio-pricing", Some(unavailable.clone())) == 10
    });
    assert_eq!(count(&server, "helio-pricing", None), valid);
    // Each asset's last run reports what its collection holds, even when
    // the other one's sync already did the writing.
    let last_out = |asset: &str| {
        let runs = server.ok(
            "GET",
            &format!("/assets/{asset}/materializations?limit=1"),
            None,
        );
        runs["materializations"][0]["rows_out"].as_u64()
    };
    wait_for("the asset runs after the last drop", || {
        last_out("catalog_kb") == Some(valid - 10) && last_out("pricing_kb") == Some(valid)
    });
    server.kill();

    let server = Server::start(&storage);
    assert_eq!(count(&server, "helio-catalog", None), valid - 10);
    assert_eq!(
        count(&server, "helio-catalog", Some(has_dense())),
        valid - 10
    );
    let priced = server.ok(
        "POST",
        "/collections/helio-pricing/points/scroll",
        Some(
            json!({"filter": {"must": [{"key": "sku", "match": {"value": "ST-PAN-1000"}}]},
                    "with_payload": true}),
        ),
    );
    let p = &priced["points"][0]["payload"];
    assert_eq!(p["distributor"], "solartech-distribuicao");
    assert_eq!(p["price_history"].as_array().unwrap().len(), 1, "{p}");
    assert!(p["price_brl"].as_f64().unwrap() > 0.0);
}

#[test]
fn helio_ingest_runs_offline_and_hands_over_to_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let data = dir.path().join("data");
    let ingest = |files: &[PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_helio"))
            .arg("ingest")
            .args(files)
            .arg("--storage")
            .arg(&storage)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = ingest(&[samples().join("exemplo-com-erros.csv")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("13 valid, 7 rejected"), "{stdout}");
    assert!(stdout.contains("13 products indexed"), "{stdout}");
    // The original file is left where it was.
    assert!(samples().join("exemplo-com-erros.csv").exists());

    let bad = dir.path().join("vazio.csv");
    std::fs::write(&bad, "").unwrap();
    let out = ingest(&[bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("empty"));

    // With a server on the storage, files go to its inbox instead.
    let server = Server::start(&storage);
    let out = ingest(&[samples().join("solartech-distribuicao.csv")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("queued"), "{stdout}");
    wait_for("the handed-over file", || {
        count(&server, "helio-catalog", None) == 113
    });
}

#[test]
fn document_knowledge_bases_materialize_with_a_recorded_history() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let kb = dir.path().join("data/kb/regulatory");
    std::fs::create_dir_all(&kb).unwrap();
    let doc = |id: &str, title: &str, sections: &[(&str, &str)]| {
        let mut text = format!("---\nid: {id}\ntitle: {title}\nkb: regulatory\nsource: \"{title}\"\n---\n\n# {title}\n");
        for (h, body) in sections {
            text.push_str(&format!("\n## {h}\n\n{body}\n"));
        }
        text
    };
    std::fs::write(
        kb.join("lei.md"),
        doc(
            "reg-lei",
            "Lei 14.300/2022",
            &[
                (
                    "Microgeração",
                    "Microgeração distribuída vai até 75 kW de potência instalada.",
                ),
                ("Créditos", "Os créditos de energia valem por 60 meses."),
            ],
        ),
    )
    .unwrap();
    std::fs::write(kb.join("ruim.md"), "sem front matter").unwrap();
    let server = Server::start(&storage);

    // Start-up materializes the documents it finds.
    wait_for("helio-regulatory", || {
        count(&server, "helio-regulatory", None) == 2
    });
    let found = server.ok(
        "POST",
        "/collections/helio-regulatory/points/query",
        Some(json!({"query": {"text": "validade dos créditos", "model": "sentence-transformers/all-MiniLM-L6-v2"},
                    "limit": 1, "with_payload": true})),
    );
    let top = &found["points"][0]["payload"];
    assert_eq!(top["doc_id"], "reg-lei");
    assert_eq!(top["heading"], "Créditos");
    assert_eq!(top["title"], "Lei 14.300/2022");

    // One section removed: the rerun deletes its chunk.
    std::fs::write(
        kb.join("lei.md"),
        doc(
            "reg-lei",
            "Lei 14.300/2022",
            &[("Microgeração", "Até 75 kW.")],
        ),
    )
    .unwrap();
    let run = server.ok("POST", "/assets/regulatory_kb/materialize", None);
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["rows_out"], 1);
    assert_eq!(run["rows_rejected"], 1, "the file without front matter");
    assert_eq!(count(&server, "helio-regulatory", None), 1);

    let assets = server.ok("GET", "/assets", None);
    let names: Vec<&str> = assets["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "catalog_kb",
            "pricing_kb",
            "regulatory_kb",
            "technical_kb",
            "sales_kb",
            "tariffs"
        ]
    );
    assert_eq!(assets["assets"][1]["depends_on"], json!(["catalog_kb"]));
    let (status, body) = server.call("POST", "/assets/nope/materialize", None);
    assert_eq!(status, 404, "{body}");
    server.kill();

    // The history survives a restart. The asset ran after the last
    // scheduled instant (02:00), so the restart does not run it again.
    let server = Server::start(&storage);
    std::thread::sleep(Duration::from_millis(500));
    let runs = server.ok("GET", "/assets/regulatory_kb/materializations", None);
    let runs = runs["materializations"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs
        .iter()
        .all(|r| r["status"] == "success" && r["finished_at"].is_string()));
    server.kill();

    // `helio materialize` runs assets offline and prints each run.
    let out = Command::new(env!("CARGO_BIN_EXE_helio"))
        .args(["materialize", "regulatory_kb", "nope", "--storage"])
        .arg(&storage)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "an unknown asset fails the command");
    assert!(
        stdout.contains("regulatory_kb: success — 2 in, 1 out, 1 rejected"),
        "{stdout}"
    );
    assert!(stdout.contains("nope: unknown asset"), "{stdout}");
}

#[test]
fn a_table_row_is_one_point_with_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let tables = dir.path().join("data/kb/tarifas");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(
        tables.join("tarifas.csv"),
        "concessionaria;uf;classe;tarifa_kwh_brl;vigencia_inicio\n\
         CEMIG;MG;B1 - Residencial;0,98;2026-01-01\n\
         Light;RJ;B1 - Residencial;1,07;2026-01-01\n\
         Energisa MG;MG;B1 - Residencial;0,87;2026-01-01\n",
    )
    .unwrap();
    let server = Server::start(&storage);
    // Start-up materializes the table.
    wait_for("helio-tariffs", || {
        count(&server, "helio-tariffs", None) == 3
    });
    let in_mg = json!({"must": [{"key": "row.uf", "match": {"value": "MG"}}]});
    assert_eq!(count(&server, "helio-tariffs", Some(in_mg)), 2);
    let cheap = json!({"must": [{"key": "row.tarifa_kwh_brl", "range": {"lt": 0.95}}]});
    let found = server.ok(
        "POST",
        "/collections/helio-tariffs/points/scroll",
        Some(json!({"filter": cheap, "with_payload": ["row", "text"]})),
    );
    let points = found["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{found}");
    assert_eq!(points[0]["payload"]["row"]["concessionaria"], "Energisa MG");
    assert_eq!(points[0]["payload"]["row"]["tarifa_kwh_brl"], 0.87);
    assert!(points[0]["payload"]["text"]
        .as_str()
        .unwrap()
        .ends_with("concessionaria: Energisa MG; uf: MG; classe: B1 - Residencial; tarifa_kwh_brl: 0,87; vigencia_inicio: 2026-01-01"));
}

/// A catalog of `n` panels in English headers, prices shifted by `bump`.
fn panels_csv(n: usize, bump: f64) -> String {
    let mut out = String::from(
        "sku,name,category,manufacturer,model,price,stock,power_w,efficiency,voc,vmp,isc,imp\n",
    );
    for i in 0..n {
        let w = 400 + (i % 40) * 5;
        out.push_str(&format!(
            "MK-{i:05},Painel {w}W lote {i},Módulo Fotovoltaico,Fabricante {f},M-{i},{p:.2},{s},{w},21.{d},49.9,41.9,13.9,13.1\n",
            f = i % 7,
            p = 600.0 + (i % 50) as f64 + bump,
            s = i % 300,
            d = i % 9,
        ));
    }
    out
}

#[test]
fn kill_9_in_the_middle_of_an_ingest_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let data = dir.path().join("data");
    let inbox = data.join("inbox");
    let mine = |v: &str| json!({"must": [{"key": "distributor", "match": {"value": v}}]});
    let name = "atacado-meio.csv";
    let distributor = "atacado-meio";

    let server = Server::start(&storage);
    // The previous snapshot: 40 products.
    drop_file(&inbox, name, panels_csv(40, 0.0).as_bytes());
    wait_for("the first snapshot", || {
        count(&server, "helio-catalog", Some(mine(distributor))) == 40
    });
    // The next one lists 1,500 products, the first 40 among them at new
    // prices; the server is killed while it works on it.
    drop_file(&inbox, name, panels_csv(1500, 7.0).as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    server.kill();

    // Whatever the kill interrupted, the file was not lost: it is in the
    // inbox (not yet committed) or archived (committed). After a restart
    // the whole new snapshot is in, never a part of it.
    let in_inbox = files_in(&inbox).contains(&name.to_string());
    let archived = files_in(&data.join("processed")).len();
    assert!(
        in_inbox || archived == 2,
        "inbox {:?}, processed {archived}",
        files_in(&inbox)
    );
    let server = Server::start(&storage);
    wait_for("the new snapshot after the restart", || {
        count(&server, "helio-catalog", Some(mine(distributor))) == 1500
    });
    wait_for("the file archived", || files_in(&inbox).is_empty());
    assert_eq!(files_in(&data.join("processed")).len(), 2);
    assert!(files_in(&data.join("rejected")).is_empty());
    let point = server.ok(
        "POST",
        "/collections/helio-catalog/points/scroll",
        Some(
            json!({"filter": {"must": [{"key": "sku", "match": {"value": "MK-00003"}}]},
                    "with_payload": true}),
        ),
    );
    // Row 3 cost 603.00 in the first snapshot and 610.00 in the second.
    assert_eq!(point["points"][0]["payload"]["price_brl"], 610.0, "{point}");
}
