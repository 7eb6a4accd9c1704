//! `helio bench assistant`: latency of the assistant's routes over HTTP,
//! as a storefront sees it. Each question of the eval set is sent to
//! `GET /store/helio/search` and `POST /store/helio/ask`, round after
//! round; the first round pays for the question's embedding, later ones
//! find it in the embedding cache, so the two are reported apart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Value};

use super::report::percentile_ms;

#[derive(Debug, Clone, Args)]
pub struct AssistantBenchArgs {
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    pub url: String,
    /// Questions, one JSON object with a `question` field per line.
    #[arg(long, default_value = "tests/eval/questions.jsonl")]
    pub questions: PathBuf,
    /// Rounds over the questions (the first is the cold one).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

pub fn run(args: &AssistantBenchArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.questions)
        .with_context(|| format!("reading {}", args.questions.display()))?;
    let questions: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            Ok(v["question"].as_str().unwrap_or_default().to_string())
        })
        .collect::<Result<_>>()?;
    anyhow::ensure!(
        !questions.is_empty(),
        "no questions in {}",
        args.questions.display()
    );
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(args.timeout))
        .build();
    let base = args.url.trim_end_matches('/');
    println!(
        "{} questions, {} rounds against {base}",
        questions.len(),
        args.rounds
    );
    println!("| route | round | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    for round in 0..args.rounds {
        let mut search = Vec::new();
        let mut ask = Vec::new();
        for q in &questions {
            let started = Instant::now();
            agent
                .get(&format!("{base}/store/helio/search"))
                .query("q", q)
                .query("top_k", "5")
                .call()
                .with_context(|| format!("search {q:?}"))?
                .into_string()?;
            search.push(started.elapsed());
            let started = Instant::now();
            agent
                .post(&format!("{base}/store/helio/ask"))
                .send_json(json!({ "question": q }))
                .with_context(|| format!("ask {q:?}"))?
                .into_string()?;
            ask.push(started.elapsed());
        }
        for (route, mut times) in [("search", search), ("ask", ask)] {
            times.sort();
            println!(
                "| {route} | {} | {:.1} | {:.1} | {:.1} |",
                if round == 0 {
                    "1 (cold)".to_string()
                } else {
                    (round + 1).to_string()
                },
                percentile_ms(&times, 0.5),
                percentile_ms(&times, 0.95),
                times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            );
        }
    }
    Ok(())
}
