//! Helio: an on-prem retrieval runtime that speaks Qdrant's REST API.
//!
//! - [`engine`]: the embedded vector store (storage, graphs, filters); no HTTP.
//! - [`api`]: axum routes in Qdrant's wire format.
//! - [`observe`]: metrics and telemetry.
//! - [`embed`]: local and remote embedding models, BM25.
//! - [`text`]: text analysis (tokens, folding, stop words, stemmers) shared by BM25 and the engine.
//! - [`bench`]: `helio bench`, measuring any Qdrant-compatible server.
//! - [`config`]: the one configuration struct.
//! - [`server`]: wiring and the `serve(listener, shutdown)` entry point.

pub mod api;
pub mod bench;
pub mod config;
pub mod embed;
pub mod engine;
pub mod observe;
pub mod pipeline;
pub mod server;
pub mod text;
