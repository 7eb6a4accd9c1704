//! `helio ask` and `helio search`: the assistant from the command line,
//! in this process over the local storage, or over HTTP when a running
//! server owns it (or `--url` is given).

use serde_json::{json, Value};

use super::eval::Client;
use super::{AskContext, AskRequest, Assistant, SearchRequest};

/// Prints an answer (as the API returns it) for people.
pub fn print_answer(answer: &Value) {
    println!("{}\n", answer["answer"].as_str().unwrap_or_default());
    for s in answer["sources"].as_array().into_iter().flatten() {
        let label = s["product"]
            .as_str()
            .or_else(|| s["doc"].as_str())
            .unwrap_or_default();
        let id = s["sku"]
            .as_str()
            .or_else(|| s["doc_id"].as_str())
            .unwrap_or_default();
        let price = s["price_brl"]
            .as_f64()
            .map(|p| format!(" {}", super::money::brl(p)))
            .unwrap_or_default();
        println!(
            "[{}] {} {id} — {label}{price} (relevance {})",
            s["n"],
            s["type"].as_str().unwrap_or_default(),
            s["relevance"]
        );
    }
    let removed = answer["removed"].as_array().map_or(0, Vec::len);
    println!(
        "\nbackend {}{}, {}, {} recommendation(s), conversation {}, {} ms",
        answer["backend"].as_str().unwrap_or_default(),
        if answer["degraded"].as_bool() == Some(true) {
            " (degraded: the model failed)"
        } else {
            ""
        },
        if removed == 0 {
            "grounded".to_string()
        } else {
            format!("{removed} claim(s) removed by the verifier")
        },
        answer["recommendations"].as_array().map_or(0, Vec::len),
        answer["conversation_id"].as_str().unwrap_or_default(),
        answer["timings_ms"]["total"]
    );
}

pub fn print_search(results: &Value) {
    for (i, r) in results["results"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!(
            "{:>2}. {} {} — {} ({}) {}{} score {}",
            i + 1,
            r["sku"].as_str().unwrap_or_default(),
            r["name"].as_str().unwrap_or_default(),
            r["distributor"].as_str().unwrap_or_default(),
            r["product_id"].as_str().unwrap_or_default(),
            r["price_brl"]
                .as_f64()
                .map(super::money::brl)
                .unwrap_or_default(),
            if r["available"].as_bool() == Some(true) {
                ""
            } else {
                " (sem estoque)"
            },
            r["score"]
        );
    }
    println!(
        "\nembedding {} ms, search {} ms",
        results["query_embedding_time_ms"], results["search_time_ms"]
    );
}

/// Where the command runs: in this process or against a server.
pub enum Target<'a> {
    Local(&'a Assistant),
    Remote(&'a Client),
}

pub fn ask(target: Target, req: &AskRequest) -> anyhow::Result<Value> {
    match target {
        Target::Local(a) => Ok(serde_json::to_value(a.ask(req, &mut |_| {})?)?),
        Target::Remote(c) => {
            let mut body = json!({"question": req.question, "context": req.context});
            if let Some(k) = req.top_k {
                body["top_k"] = json!(k);
            }
            if let Some(id) = &req.conversation_id {
                body["conversation_id"] = json!(id);
            }
            c.post("/store/helio/ask", &body)
        }
    }
}

pub fn search(target: Target, req: &SearchRequest) -> anyhow::Result<Value> {
    match target {
        Target::Local(a) => Ok(serde_json::to_value(a.search(req)?)?),
        Target::Remote(c) => {
            let mut query = vec![("q", req.q.clone())];
            if let Some(k) = req.top_k {
                query.push(("top_k", k.to_string()));
            }
            if let Some(t) = &req.customer_type {
                query.push(("customer_type", t.clone()));
            }
            if let Some(d) = &req.distributor {
                query.push(("distributor", d.clone()));
            }
            if let Some(a) = req.available {
                query.push(("available", a.to_string()));
            }
            c.get("/store/helio/search", &query)
        }
    }
}

/// The context flags of `helio ask`.
pub fn context(
    customer_type: Option<String>,
    location: Option<String>,
    distributor: Option<String>,
) -> AskContext {
    AskContext {
        customer_type,
        location,
        distributor,
    }
}
