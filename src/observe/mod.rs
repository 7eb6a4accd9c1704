//! Observability: Prometheus metrics and the telemetry report.

pub mod metrics;
