//! Helio: an on-prem retrieval runtime that speaks Qdrant's REST API.
//!
//! - [`engine`]: the embedded vector store (storage, graphs, filters); no HTTP.
//! - [`api`]: axum routes in Qdrant's wire format.
//! - [`observe`]: metrics and telemetry.
//! - [`embed`]: local and remote embedding models, BM25.
//! - [`text`]: text analysis (tokens, folding, stop words, stemmers) shared by BM25 and the engine.
//! - [`bench`]: `helio bench`, measuring any Qdrant-compatible server.
//! - [`pipeline`]: catalog CSVs and documents into knowledge-base
//!   collections (parse, validate, catalog database, index sync).
//! - [`assets`]: the knowledge-base assets (graph, run records,
//!   schedules), over the pipeline.
//! - [`watch`]: the drop-folder loop that drives the pipeline and the
//!   assets, over both.
//! - [`config`]: the one configuration struct.
//! - [`services`]: the database, models, pipeline and assets, opened in
//!   one place for the server and every command.
//! - [`server`]: wiring and the `serve(listener, shutdown)` entry point.

pub mod api;
pub mod assets;
pub mod bench;
pub mod config;
pub mod embed;
pub mod engine;
pub mod helio;
pub mod observe;
pub mod pipeline;
pub mod server;
pub mod services;
pub mod text;
pub mod watch;
