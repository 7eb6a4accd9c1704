//! `helio eval`: the assistant's retrieval and answers measured against
//! the question set in `tests/eval/questions.jsonl`, over HTTP, on any
//! running server with the sample data.
//!
//! Four retrievers are compared on the same questions:
//! * `dense`, `bm25`, `hybrid`: Qdrant's query API over every knowledge
//!   base collection (the question as a `Document` for the local model or
//!   `qdrant/bm25`; `hybrid` is both prefetched and fused by RRF in each
//!   collection), the lists merged across collections by rank;
//! * `ask`: the assistant itself, `POST /store/helio/ask`.
//!
//! For each: hit@5 (one of the expected SKUs or document ids among the
//! first five sources), MRR, and for `ask` the share of expected facts
//! the answer states and the grounding rate. Questions with no answer in
//! the data count as handled when the answer says "não encontrei" and
//! recommends nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::text::fold_to_ascii;

const COLLECTIONS: &[&str] = &[
    "helio-catalog",
    "helio-regulatory",
    "helio-technical",
    "helio-sales",
    "helio-tariffs",
];
const MODES: &[&str] = &["dense", "bm25", "hybrid", "ask"];

#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuestion {
    pub id: String,
    pub category: String,
    pub question: String,
    #[serde(default)]
    pub context: Option<Value>,
    #[serde(default)]
    pub relevant: Vec<String>,
    #[serde(default)]
    pub facts: Vec<String>,
}

pub fn load(path: &Path) -> anyhow::Result<Vec<EvalQuestion>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// Sums for one (category, mode).
#[derive(Debug, Default, Clone)]
struct Tally {
    questions: usize,
    hits: usize,
    rr: f64,
    facts: usize,
    facts_found: usize,
    grounded: usize,
    answered: usize,
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
    api_key: Option<String>,
}

impl Client {
    pub fn new(base: &str, api_key: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(120))
                .build(),
            api_key,
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        if let Some(k) = &self.api_key {
            req = req.set("api-key", k);
        }
        match req.send_json(body) {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => {
                anyhow::bail!(
                    "{path}: HTTP {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => Err(e).with_context(|| format!("POST {}{path}", self.base)),
        }
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        for (k, v) in query {
            req = req.query(k, v);
        }
        if let Some(k) = &self.api_key {
            req = req.set("api-key", k);
        }
        match req.call() {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => {
                anyhow::bail!(
                    "{path}: HTTP {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => Err(e).with_context(|| format!("GET {}{path}", self.base)),
        }
    }

    /// The ids (SKU or document id) of the first `k` points a retriever
    /// finds, merged across the collections by rank.
    fn baseline(&self, mode: &str, text: &str, k: usize) -> anyhow::Result<Vec<String>> {
        let dense = json!({"text": text, "model": "sentence-transformers/all-MiniLM-L6-v2"});
        let sparse = json!({"text": text, "model": "qdrant/bm25"});
        let body = match mode {
            "dense" => json!({"query": dense, "limit": k}),
            "bm25" => json!({"query": sparse, "using": "bm25", "limit": k}),
            _ => json!({
                "prefetch": [
                    {"query": dense, "limit": 20},
                    {"query": sparse, "using": "bm25", "limit": 20}
                ],
                "query": {"fusion": "rrf"},
                "limit": k
            }),
        };
        let mut body = body;
        body["with_payload"] = json!(["sku", "doc_id"]);
        let mut scored: Vec<(f64, String)> = Vec::new();
        for c in COLLECTIONS {
            let r = self.post(&format!("/collections/{c}/points/query"), &body)?;
            let points = r["result"]["points"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (rank, p) in points.iter().enumerate() {
                let id = p["payload"]["sku"]
                    .as_str()
                    .or_else(|| p["payload"]["doc_id"].as_str())
                    .unwrap_or_default()
                    .to_string();
                // Dense scores are cosines, comparable across collections;
                // the others merge by rank.
                let score = match mode {
                    "dense" => p["score"].as_f64().unwrap_or(0.0),
                    _ => 1.0 / (rank as f64 + 1.0),
                };
                scored.push((score, id));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored.into_iter().take(k).map(|(_, id)| id).collect())
    }
}

fn fold(s: &str) -> String {
    fold_to_ascii(s).to_lowercase()
}

fn rank_of(found: &[String], relevant: &[String]) -> Option<usize> {
    found
        .iter()
        .position(|f| relevant.iter().any(|r| r.eq_ignore_ascii_case(f)))
}

/// Runs every question through every mode and prints the table.
pub fn run(client: &Client, questions: &[EvalQuestion], verbose: bool) -> anyhow::Result<String> {
    let mut tallies: BTreeMap<(String, &str), Tally> = BTreeMap::new();
    let mut none_handled = (0usize, 0usize);
    let mut ask_ms: Vec<f64> = Vec::new();
    for q in questions {
        let no_answer = q.category == "no_answer";
        for &mode in MODES {
            let (found, answer) = if mode == "ask" {
                let mut body = json!({"question": q.question, "top_k": 5});
                if let Some(ctx) = &q.context {
                    body["context"] = ctx.clone();
                }
                let r = client.post("/store/helio/ask", &body)?;
                ask_ms.push(r["timings_ms"]["total"].as_f64().unwrap_or(0.0));
                let ids: Vec<String> = r["sources"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|s| {
                        s["sku"]
                            .as_str()
                            .or_else(|| s["doc_id"].as_str())
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect();
                (ids, Some(r))
            } else {
                if no_answer {
                    continue;
                }
                (client.baseline(mode, &q.question, 5)?, None)
            };
            tallies.entry((q.category.clone(), mode)).or_default();
            tallies.entry(("all".to_string(), mode)).or_default();
            let rank = rank_of(&found, &q.relevant);
            let update = |t: &mut Tally| {
                if no_answer {
                    return;
                }
                t.questions += 1;
                if let Some(r) = rank {
                    t.hits += 1;
                    t.rr += 1.0 / (r as f64 + 1.0);
                }
            };
            update(
                tallies
                    .get_mut(&(q.category.clone(), mode))
                    .expect("inserted"),
            );
            update(
                tallies
                    .get_mut(&("all".to_string(), mode))
                    .expect("inserted"),
            );
            if let Some(r) = answer {
                let text = fold(r["answer"].as_str().unwrap_or_default());
                let found_facts = q.facts.iter().filter(|f| text.contains(&fold(f))).count();
                let grounded = r["grounded"].as_bool().unwrap_or(false);
                for key in [q.category.clone(), "all".to_string()] {
                    let t = tallies.get_mut(&(key, "ask")).expect("inserted");
                    t.facts += q.facts.len();
                    t.facts_found += found_facts;
                    t.answered += 1;
                    t.grounded += grounded as usize;
                }
                if no_answer {
                    let recs = r["recommendations"].as_array().map_or(0, Vec::len);
                    let handled = text.contains("nao encontrei") && recs == 0;
                    none_handled.0 += handled as usize;
                    none_handled.1 += 1;
                }
                if verbose {
                    let missed = rank.is_none() && !no_answer;
                    println!(
                        "{} {:<14} {}{}",
                        q.id,
                        q.category,
                        if missed { "MISS " } else { "" },
                        q.question
                    );
                    if missed {
                        println!("    want {:?} got {:?}", q.relevant, found);
                    }
                    if found_facts < q.facts.len() {
                        println!("    facts {}/{}: {:?}", found_facts, q.facts.len(), q.facts);
                    }
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str("| category | n | dense hit@5 | bm25 hit@5 | hybrid hit@5 | ask hit@5 | ask MRR | ask fact recall |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut categories: Vec<String> = tallies
        .keys()
        .map(|(c, _)| c.clone())
        .filter(|c| c != "all" && c != "no_answer")
        .collect();
    categories.dedup();
    categories.push("all".into());
    for c in &categories {
        let get = |m: &str| tallies.get(&(c.clone(), m)).cloned().unwrap_or_default();
        let pct = |a: usize, b: usize| {
            if b == 0 {
                "–".to_string()
            } else {
                format!("{:.0}%", 100.0 * a as f64 / b as f64)
            }
        };
        let ask = get("ask");
        out.push_str(&format!(
            "| {c} | {} | {} | {} | {} | {} | {:.2} | {} |\n",
            ask.questions,
            pct(get("dense").hits, get("dense").questions),
            pct(get("bm25").hits, get("bm25").questions),
            pct(get("hybrid").hits, get("hybrid").questions),
            pct(ask.hits, ask.questions),
            if ask.questions == 0 {
                0.0
            } else {
                ask.rr / ask.questions as f64
            },
            pct(ask.facts_found, ask.facts),
        ));
    }
    let all = tallies
        .get(&("all".to_string(), "ask"))
        .cloned()
        .unwrap_or_default();
    ask_ms.sort_by(f64::total_cmp);
    let p = |q: f64| {
        ask_ms
            .get(((ask_ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    out.push_str(&format!(
        "\nno-answer questions handled (\"não encontrei\", nothing recommended): {}/{}\n\
         grounded answers: {}/{} ({:.0}%)\n\
         ask latency over the run: p50 {:.1} ms, p95 {:.1} ms (server timings)\n",
        none_handled.0,
        none_handled.1,
        all.grounded,
        all.answered,
        100.0 * all.grounded as f64 / all.answered.max(1) as f64,
        p(0.5),
        p(0.95),
    ));
    Ok(out)
}
