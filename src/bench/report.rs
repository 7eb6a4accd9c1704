//! The bench report: a table on stdout as the run goes, and the same
//! figures as JSON. With two servers each row shows both and the ratio
//! B/A (above 1 means B is slower for latencies, faster for QPS).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::QueryRun;
use super::search::Target;
use super::SearchArgs;
use crate::engine::dataset::recall_at_k;

pub struct Report {
    header: Value,
    targets: Vec<Value>,
    rows: Vec<Value>,
    printed_header: bool,
}

/// The `p` quantile of sorted latencies, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Resident memory of a process in bytes, from /proc (Linux only).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn ratio(b: f64, a: f64) -> Value {
    if a > 0.0 {
        json!(b / a)
    } else {
        Value::Null
    }
}

impl Report {
    pub fn new(args: &SearchArgs, targets: &[Target], n: usize, dim: usize) -> Report {
        let dataset = match &args.texts {
            Some(p) => format!("texts:{} ({})", p.display(), args.model),
            None => args.dataset.clone(),
        };
        Report {
            header: json!({
                "dataset": dataset, "points": n, "dim": dim, "distance": args.distance,
                "queries": args.queries, "top_k": args.top_k, "m": args.m,
                "ef_construct": args.ef_construct, "batch": args.batch,
            }),
            targets: targets
                .iter()
                .map(|t| json!({"label": t.label, "url": t.url, "server": t.server, "upload": null, "rss_bytes": []}))
                .collect(),
            rows: Vec::new(),
            printed_header: false,
        }
    }

    fn points(&self) -> f64 {
        self.header["points"].as_u64().unwrap_or(0) as f64
    }

    pub fn upload(&mut self, t: usize, spent: Duration, green: Duration, indexed: usize) {
        let n = self.points();
        let row = json!({
            "upload_s": spent.as_secs_f64(),
            "upload_points_per_s": n / spent.as_secs_f64().max(1e-9),
            "green_after_upload_s": green.as_secs_f64(),
            "indexed_vectors": indexed,
        });
        println!(
            "{} upload: {:.1} s ({:.0} points/s, batches of {} with wait=true); green {:.1} s after the last batch, {indexed} vectors indexed",
            self.targets[t]["label"].as_str().unwrap_or("?"),
            spent.as_secs_f64(),
            row["upload_points_per_s"].as_f64().unwrap_or(0.0),
            self.header["batch"],
            green.as_secs_f64(),
        );
        self.targets[t]["upload"] = row;
    }

    pub fn memory(&mut self, targets: &[Target]) {
        let raw = self.points() * self.header["dim"].as_f64().unwrap_or(0.0) * 4.0;
        for (t, target) in targets.iter().enumerate() {
            if let Some(bytes) = target.pid.and_then(rss_bytes) {
                println!(
                    "{} server RSS: {:.1} MiB ({:.2}x the raw float32 vectors, {:.1} MiB)",
                    target.label,
                    bytes as f64 / 1048576.0,
                    bytes as f64 / raw.max(1.0),
                    raw / 1048576.0
                );
                if let Some(list) = self.targets[t]["rss_bytes"].as_array_mut() {
                    list.push(json!(bytes));
                }
            }
        }
    }

    pub fn search(
        &mut self,
        label: &str,
        workers: usize,
        runs: &[QueryRun],
        truth: &[Arc<Vec<Vec<usize>>>],
        k: usize,
    ) {
        if !self.printed_header {
            println!(
                "{:<18} {:>7} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9}",
                "search", "workers", "server", "recall", "p50 ms", "p95 ms", "p99 ms", "QPS"
            );
            self.printed_header = true;
        }
        let mut results = Vec::new();
        for (t, run) in runs.iter().enumerate() {
            let mut sorted = run.latencies.clone();
            sorted.sort();
            let r = json!({
                "server": self.targets[t]["label"],
                "recall": recall_at_k(&run.results, &truth[t], k),
                "p50_ms": percentile_ms(&sorted, 0.5),
                "p95_ms": percentile_ms(&sorted, 0.95),
                "p99_ms": percentile_ms(&sorted, 0.99),
                "qps": run.latencies.len() as f64 / run.wall.as_secs_f64().max(1e-9),
            });
            let f = |key: &str| r[key].as_f64().unwrap_or(0.0);
            let (l, w) = if t == 0 {
                (label, workers.to_string())
            } else {
                ("", String::new())
            };
            println!(
                "{l:<18} {w:>7} {:>6} {:>8.4} {:>9.3} {:>9.3} {:>9.3} {:>9.0}",
                r["server"].as_str().unwrap_or("?"),
                f("recall"),
                f("p50_ms"),
                f("p95_ms"),
                f("p99_ms"),
                f("qps")
            );
            results.push(r);
        }
        let mut row = json!({"search": label, "workers": workers, "results": results});
        if runs.len() == 2 {
            let (a, b) = (&row["results"][0], &row["results"][1]);
            let g = |v: &Value, key: &str| v[key].as_f64().unwrap_or(0.0);
            let cmp = json!({
                "recall_diff": g(b, "recall") - g(a, "recall"),
                "p50": ratio(g(b, "p50_ms"), g(a, "p50_ms")),
                "p95": ratio(g(b, "p95_ms"), g(a, "p95_ms")),
                "p99": ratio(g(b, "p99_ms"), g(a, "p99_ms")),
                "qps": ratio(g(b, "qps"), g(a, "qps")),
            });
            let x = |key: &str| {
                cmp[key]
                    .as_f64()
                    .map_or("-".to_string(), |v| format!("{v:.2}x"))
            };
            println!(
                "{:<18} {:>7} {:>6} {:>+8.4} {:>9} {:>9} {:>9} {:>9}",
                "",
                "",
                "B/A",
                cmp["recall_diff"].as_f64().unwrap_or(0.0),
                x("p50"),
                x("p95"),
                x("p99"),
                x("qps")
            );
            row["b_over_a"] = cmp;
        }
        self.rows.push(row);
    }

    /// A closing line for comparisons: the median of the per-row p50
    /// ratios, the one figure to quote.
    pub fn finish(&self) {
        let mut ratios: Vec<f64> = self
            .rows
            .iter()
            .filter_map(|r| r["b_over_a"]["p50"].as_f64())
            .collect();
        if ratios.is_empty() {
            return;
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "median p50 ratio B/A over {} rows: {:.2}x",
            ratios.len(),
            ratios[ratios.len() / 2]
        );
    }

    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    pub fn to_json(&self) -> Value {
        json!({
            "run": self.header,
            "servers": self.targets,
            "search": self.rows,
        })
    }
}
