//! The `helio` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use helio::config::{Config, ServeArgs};

#[derive(Parser)]
#[command(
    name = "helio",
    version,
    about = "On-prem retrieval runtime with Qdrant's REST API"
)]
struct Cli {
    /// Configuration file (default: ./helio.toml when present).
    #[arg(long, global = true, env = "HELIO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Qdrant-compatible REST API.
    Serve(ServeArgs),
    /// Measure latency, recall and throughput of a Qdrant-compatible server.
    Bench(helio::bench::BenchArgs),
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Logs go to stderr; stdout carries only the "listening on" line.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::resolve(args, cli.config.as_deref())?;
            init_logging(&config.log);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let addr = format!("{}:{}", config.host, config.port);
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?;
                helio::server::serve(listener, &config, shutdown_signal()).await
            })
        }
        Command::Bench(args) => {
            init_logging("warn");
            helio::bench::run(&args)?;
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
