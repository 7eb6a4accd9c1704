//! The bench report: a table on stdout and the same figures as JSON.

use std::time::Duration;

use serde_json::{json, Value};

use super::client::QueryRun;
use super::BenchArgs;
use crate::dataset::recall_at_k;

pub struct Report {
    header: Value,
    upload: Option<Value>,
    memory: Vec<u64>,
    rows: Vec<Value>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
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

impl Report {
    pub fn new(args: &BenchArgs, server: &str, n: usize, dim: usize) -> Report {
        Report {
            header: json!({
                "url": args.url, "server": server, "points": n, "dim": dim,
                "queries": args.queries, "top_k": args.top_k, "m": args.m, "ef_construct": args.ef_construct,
            }),
            upload: None,
            memory: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn upload(&mut self, upload: Duration, total: Duration, indexed: usize) {
        let n = self.header["points"].as_u64().unwrap_or(0) as f64;
        let row = json!({
            "upload_s": upload.as_secs_f64(),
            "upload_points_per_s": n / upload.as_secs_f64(),
            "upload_to_green_s": total.as_secs_f64(),
            "indexed_vectors": indexed,
        });
        println!(
            "upload: {:.1} s ({:.0} points/s, batches with wait=true); green {:.1} s after the first batch with {indexed} vectors indexed",
            upload.as_secs_f64(),
            n / upload.as_secs_f64(),
            total.as_secs_f64()
        );
        self.upload = Some(row);
    }

    pub fn memory(&mut self, pid: Option<u32>) {
        if let Some(bytes) = pid.and_then(rss_bytes) {
            let n = self.header["points"].as_u64().unwrap_or(0);
            let dim = self.header["dim"].as_u64().unwrap_or(0);
            let raw = n * dim * 4;
            println!(
                "server RSS: {:.1} MiB ({:.2}x the raw float32 vectors, {:.1} MiB)",
                bytes as f64 / 1048576.0,
                bytes as f64 / raw.max(1) as f64,
                raw as f64 / 1048576.0
            );
            self.memory.push(bytes);
        }
    }

    pub fn search(
        &mut self,
        label: &str,
        workers: usize,
        run: &QueryRun,
        truth: &[Vec<usize>],
        k: usize,
    ) {
        let mut sorted = run.latencies.clone();
        sorted.sort();
        let recall = recall_at_k(&run.results, truth, k);
        let qps = run.latencies.len() as f64 / run.wall.as_secs_f64();
        if self.rows.is_empty() {
            println!(
                "{:<10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "search", "workers", "recall", "p50 ms", "p95 ms", "p99 ms", "QPS"
            );
        }
        let (p50, p95, p99) = (
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.95),
            percentile(&sorted, 0.99),
        );
        println!(
            "{label:<10} {workers:>7} {recall:>9.4} {p50:>9.3} {p95:>9.3} {p99:>9.3} {qps:>9.0}"
        );
        self.rows.push(json!({
            "search": label, "workers": workers, "recall": recall,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "qps": qps,
        }));
    }

    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    pub fn to_json(&self) -> Value {
        json!({
            "run": self.header,
            "upload": self.upload,
            "rss_bytes": self.memory,
            "search": self.rows,
        })
    }
}
