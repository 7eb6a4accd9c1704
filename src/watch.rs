//! The drop-folder watcher: the one loop that makes things happen on its
//! own. It sits above the assets and the pipeline and drives both:
//!
//! ```text
//! watch ──> assets (graph, records, schedules) ──> pipeline ──> engine, embed
//!   └─────────────────────────────────────────────────┘
//!     (the inbox scan is the pipeline's)
//! ```
//!
//! On its thread, in a loop until stopped: run the assets whose schedule
//! came due, wait for a file event (or the rescan interval, for file
//! systems that send none), ingest what is ready in the inbox, and after a
//! new snapshot refresh the catalog assets with one sync.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::assets::graph::catalog_assets;
use crate::assets::schedule::Schedule;
use crate::assets::Assets;
use crate::observe::metrics::Metrics;
use crate::pipeline::inbox::{self, Outcome};
use crate::pipeline::ingest::SETTLE;
use crate::pipeline::FileReport;

/// Runs the drop-folder loop until `stop` is set. First it catches the
/// catalog collections up with the catalog (what a crash or a missing
/// model left pending) and runs each scheduled asset whose run was missed
/// while the server was down. Then it waits for a file event or the
/// rescan interval, ingests what is ready (re-materializing the catalog
/// assets after), and runs assets as their schedules come due.
/// Runs on its own thread; embedding is CPU work that must not block the
/// HTTP runtime.
pub fn run_watcher(
    assets: Arc<Assets>,
    schedules: Vec<Schedule>,
    metrics: Arc<Metrics>,
    rescan: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("helio-pipeline".into())
        .spawn(move || {
            let pipeline = assets.pipeline().clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let _watcher = match inbox::watch(pipeline.inbox().inbox_dir(), tx) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no file events for the inbox; rescanning only");
                    None
                }
            };
            if let Err(e) = pipeline.sync() {
                tracing::warn!(error = %e, "catalog catch-up failed");
            }
            // When each schedule is next looked at; due ones first.
            let mut next_check: Vec<chrono::DateTime<chrono::Utc>> =
                schedules.iter().map(|_| chrono::Utc::now()).collect();
            while !stop.load(Relaxed) {
                let now = chrono::Utc::now();
                let mut due = Vec::new();
                for (schedule, next) in schedules.iter().zip(next_check.iter_mut()) {
                    if now < *next {
                        continue;
                    }
                    let asset = schedule.asset.as_str();
                    if assets.has_input(asset) && schedule.due(assets.last_start(asset), now) {
                        due.push(asset);
                    }
                    *next = schedule
                        .next(now)
                        .unwrap_or(now + chrono::Duration::days(1));
                }
                if !due.is_empty() && !stop.load(Relaxed) {
                    // Outcomes are recorded in each asset's history.
                    assets.materialize_all(due);
                }
                // An event means a file is being written; wait for it to
                // settle, then drain the burst of events it caused.
                if rx.recv_timeout(rescan).is_ok() {
                    std::thread::sleep(SETTLE);
                    while rx.try_recv().is_ok() {}
                }
                let reports = pipeline.scan_inbox();
                // Only a new snapshot gives the assets something new: retrying while no model is loaded
                // recorded two failed runs (and two warnings) every rescan, four times a second.
                if reports.iter().any(|r| r.outcome == Outcome::Processed) {
                    assets.materialize_all(catalog_assets());
                    observe_latency(&metrics, &reports, pipeline.indexer().last_sync());
                }
            }
        })
        .expect("spawn pipeline thread")
}

/// Records how long the processed files of one scan took to become
/// searchable and to be fully embedded.
fn observe_latency(
    metrics: &Metrics,
    reports: &[FileReport],
    (searchable, embedded): (Option<SystemTime>, Option<SystemTime>),
) {
    for report in reports.iter().filter(|r| r.outcome == Outcome::Processed) {
        let Some(landed) = report.landed_at else {
            continue;
        };
        let since = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(landed).ok())
                .map(|d| d.as_secs_f64())
        };
        if let Some(s) = since(searchable) {
            metrics.ingest_searchable_seconds.observe(s);
        }
        if let Some(s) = since(embedded) {
            metrics.ingest_embedded_seconds.observe(s);
        }
    }
}
