//! The `helio` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use helio::config::{Config, EmbedArgs, RestoreArgs, ServeArgs};
use helio::services::Services;

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
    Serve(ServeCommand),
    /// Measure latency, recall and throughput of a Qdrant-compatible server.
    Bench(Box<helio::bench::BenchArgs>),
    /// Embed text with a local model (or `qdrant/bm25`) and print the vector.
    Embed(EmbedCommand),
    /// Ingest distributor catalog CSVs into the catalog and the knowledge
    /// bases, as the server does with files dropped into its inbox.
    Ingest(IngestCommand),
    /// Materialize knowledge-base assets now (all of them when none is named).
    Materialize(MaterializeCommand),
    /// Ask Hélio, the sales assistant, a question.
    Ask(AskCommand),
    /// Search the catalog as `/store/helio/search` does.
    Search(SearchCommand),
    /// Measure retrieval and answers against tests/eval/questions.jsonl.
    Eval(EvalCommand),
}

/// Where `ask` and `search` run.
#[derive(clap::Args)]
struct Remote {
    /// A running server to ask. Without it the local storage is opened,
    /// and when a server owns it, that server (--host/--port) is asked.
    #[arg(long, env = "HELIO_URL")]
    url: Option<String>,
    /// Sent as the `api-key` header.
    #[arg(long, env = "HELIO_API_KEY")]
    api_key: Option<String>,
}

#[derive(clap::Args)]
struct AskCommand {
    question: String,
    /// b1 (residential) or b3 (commercial).
    #[arg(long)]
    customer_type: Option<String>,
    /// Cidade/UF, e.g. "São Paulo/SP".
    #[arg(long)]
    location: Option<String>,
    /// Only this distributor's products.
    #[arg(long)]
    distributor: Option<String>,
    /// Continue a conversation (the id a previous answer printed).
    #[arg(long)]
    conversation: Option<String>,
    #[arg(long)]
    top_k: Option<usize>,
    /// Print the API's JSON instead of the text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct SearchCommand {
    query: String,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    distributor: Option<String>,
    /// Only products in stock.
    #[arg(long)]
    available: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct EvalCommand {
    /// The server to measure (with the sample catalogs and knowledge bases).
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    url: String,
    #[arg(long, default_value = "tests/eval/questions.jsonl")]
    questions: PathBuf,
    /// Print each question, and what a missed one found.
    #[arg(long)]
    verbose: bool,
    #[arg(long, env = "HELIO_API_KEY")]
    api_key: Option<String>,
}

#[derive(clap::Args)]
struct ServeCommand {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    restore: RestoreArgs,
}

#[derive(clap::Args)]
struct MaterializeCommand {
    /// catalog_kb, pricing_kb, regulatory_kb, technical_kb, sales_kb, tariffs.
    assets: Vec<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct IngestCommand {
    /// CSV files; each is one distributor's full offer.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args)]
struct EmbedCommand {
    /// Texts to embed, one vector each.
    #[arg(required = true)]
    texts: Vec<String>,
    /// Model name (default: the local model; `qdrant/bm25` for BM25).
    #[arg(long)]
    model: Option<String>,
    /// BM25 options as JSON, e.g. '{"language": "english"}'.
    #[arg(long)]
    options: Option<String>,
    /// Print one JSON object per text instead of the plain listing.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    embed: EmbedArgs,
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

/// Errors end the process with one line on stderr (the whole cause
/// chain, `: `-separated) and exit status 1.
fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(cmd) => {
            let mut config = Config::resolve(cmd.serve, cli.config.as_deref())?;
            config.restore = cmd.restore;
            init_logging(&config.log);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let addr = format!("{}:{}", config.host, config.port);
                let listener = helio::server::bind(&addr, config.bind_retry)
                    .await
                    .with_context(|| format!("binding {addr}"))?;
                helio::server::serve(listener, &config, shutdown_signal()).await
            })
        }
        Command::Bench(args) => {
            init_logging("warn");
            helio::bench::run(&args)
        }
        Command::Embed(cmd) => {
            init_logging("warn");
            embed(cmd, cli.config.as_deref())
        }
        Command::Ingest(cmd) => {
            let config = Config::resolve(cmd.serve, cli.config.as_deref())?;
            init_logging("warn");
            ingest(&config, &cmd.files)
        }
        Command::Materialize(cmd) => {
            let config = Config::resolve(cmd.serve, cli.config.as_deref())?;
            init_logging("warn");
            materialize(&config, &cmd.assets)
        }
        Command::Ask(cmd) => {
            let config = Config::resolve(cmd.serve, cli.config.as_deref())?;
            init_logging("warn");
            let req = helio::helio::AskRequest {
                question: cmd.question,
                context: helio::helio::cli::context(
                    cmd.customer_type,
                    cmd.location,
                    cmd.distributor,
                ),
                conversation_id: cmd.conversation,
                top_k: cmd.top_k,
            };
            let answer = with_assistant(&config, &cmd.remote, |t| helio::helio::cli::ask(t, &req))?;
            if cmd.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                helio::helio::cli::print_answer(&answer);
            }
            Ok(())
        }
        Command::Search(cmd) => {
            let config = Config::resolve(cmd.serve, cli.config.as_deref())?;
            init_logging("warn");
            let req = helio::helio::SearchRequest {
                q: cmd.query,
                top_k: cmd.top_k,
                distributor: cmd.distributor,
                available: cmd.available.then_some(true),
                customer_type: None,
            };
            let results =
                with_assistant(&config, &cmd.remote, |t| helio::helio::cli::search(t, &req))?;
            if cmd.json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                helio::helio::cli::print_search(&results);
            }
            Ok(())
        }
        Command::Eval(cmd) => {
            init_logging("warn");
            let questions = helio::helio::eval::load(&cmd.questions)?;
            let client = helio::helio::eval::Client::new(&cmd.url, cmd.api_key);
            let table = helio::helio::eval::run(&client, &questions, cmd.verbose)?;
            println!("{table}");
            Ok(())
        }
    }
}

/// Runs `f` on the assistant of the local storage, or on the server that
/// owns it (or `--url`).
fn with_assistant(
    config: &Config,
    remote: &Remote,
    f: impl FnOnce(helio::helio::cli::Target) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    use helio::engine::EngineError;
    use helio::helio::cli::Target;
    let client = |url: &str| helio::helio::eval::Client::new(url, remote.api_key.clone());
    if let Some(url) = &remote.url {
        return f(Target::Remote(&client(url)));
    }
    match Services::open(config) {
        Ok(services) => f(Target::Local(&services.assistant)),
        Err(e) if matches!(e.downcast_ref(), Some(EngineError::Locked(_))) => {
            let url = format!("http://{}:{}", config.host, config.port);
            f(Target::Remote(&client(&url))).with_context(|| {
                format!(
                    "a running server owns {}; asked it at {url}",
                    config.storage.display()
                )
            })
        }
        Err(e) => Err(e),
    }
}

/// `helio ingest`: runs the pipeline in this process, or, when a server
/// already owns the storage, hands the files to that server's inbox.
fn ingest(config: &Config, files: &[PathBuf]) -> anyhow::Result<()> {
    use helio::engine::EngineError;
    use std::sync::Arc;

    for file in files {
        anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    }
    let db = match Services::open_database(config) {
        Ok(db) => Arc::new(db),
        Err(EngineError::Locked(_)) => return hand_over(config, files),
        Err(e) => return Err(e).context("opening storage"),
    };
    let models = Services::open_models(config)?;
    let pipeline = Services::open_pipeline(config, db, models)?;
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut refused = 0;
    for file in files {
        bar.set_message(file.display().to_string());
        let report = pipeline.ingest(file, false)?;
        let line = match &report.error {
            Some(reason) => {
                refused += 1;
                format!("{}: rejected: {reason}", report.file)
            }
            None => format!(
                "{}: {} valid, {} rejected rows → distributor {}",
                report.file,
                report.valid,
                report.rejected,
                report.distributor.as_deref().unwrap_or("?")
            ),
        };
        // suspend, not println: println prints nothing when stdout is not
        // a terminal, and these lines are the command's output.
        bar.suspend(|| {
            println!("{line}");
            if let Some(path) = &report.report {
                println!("  row errors: {}", path.display());
            }
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message("embedding and indexing…");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let synced = pipeline.sync()?;
    spinner.finish_and_clear();
    println!(
        "knowledge bases: {} products indexed, {} withdrawn, {} embedded{}",
        synced.upserted,
        synced.withdrawn,
        synced.embedded,
        if synced.waiting_for_model > 0 {
            format!(
                "; {} wait for a model (run scripts/fetch-model.sh)",
                synced.waiting_for_model
            )
        } else {
            String::new()
        }
    );
    anyhow::ensure!(refused == 0, "{refused} file(s) rejected");
    Ok(())
}

/// `helio materialize`: runs assets in this process and prints each run.
fn materialize(config: &Config, names: &[String]) -> anyhow::Result<()> {
    use helio::assets::{Assets, RunStatus};
    use helio::engine::EngineError;

    let names: Vec<String> = if names.is_empty() {
        Assets::names().map(String::from).collect()
    } else {
        names.to_vec()
    };
    let assets = match Services::open(config) {
        Ok(services) => services.assets,
        Err(e) if matches!(e.downcast_ref(), Some(EngineError::Locked(_))) => anyhow::bail!(
            "a running server owns {}; ask it instead: curl -X POST http://HOST:PORT/assets/ASSET/materialize",
            config.storage.display()
        ),
        Err(e) => return Err(e),
    };
    let mut failed = 0;
    for name in &names {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_message(format!("{name}…"));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let run = assets.materialize(name);
        spinner.finish_and_clear();
        match run {
            Ok(run) => {
                if run.status != RunStatus::Success {
                    failed += 1;
                }
                println!(
                    "{name}: {} — {} in, {} out, {} rejected{}",
                    run.status,
                    run.rows_in,
                    run.rows_out,
                    run.rows_rejected,
                    run.error.map(|e| format!(" ({e})")).unwrap_or_default()
                );
            }
            Err(e) => {
                failed += 1;
                println!("{name}: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} asset(s) failed");
    Ok(())
}

/// Copies `files` into the inbox of the server that holds the storage
/// lock, under a temporary name renamed when complete, so the server never
/// reads half a file.
fn hand_over(config: &Config, files: &[PathBuf]) -> anyhow::Result<()> {
    let inbox = Services::inbox_dir(config);
    std::fs::create_dir_all(&inbox)?;
    for file in files {
        let name = file
            .file_name()
            .context("file without a name")?
            .to_string_lossy()
            .into_owned();
        let tmp = inbox.join(format!(".{name}.part"));
        std::fs::copy(file, &tmp).with_context(|| format!("copying {}", file.display()))?;
        std::fs::rename(&tmp, inbox.join(&name))?;
        println!(
            "{name}: a running server owns {}; queued in {} for it to ingest",
            config.storage.display(),
            inbox.display()
        );
    }
    Ok(())
}

fn embed(cmd: EmbedCommand, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    use helio::embed::models::Resolved;
    use helio::embed::{EmbedCache, Models};
    use serde_json::json;

    let config = helio::config::resolve_embed(cmd.embed, config)?;
    let models = Models::load(&config, EmbedCache::in_memory(0));
    let name = cmd.model.unwrap_or_else(|| config.model_name.clone());
    let texts: Vec<&str> = cmd.texts.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let options: Option<serde_json::Value> = cmd
        .options
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("--options is not JSON")?;
    let lines: Vec<serde_json::Value> = match models.resolve(&name)? {
        Resolved::Dense(model) => {
            let vectors = models.embed_with(model.as_ref(), &texts, None)?;
            vectors
                .into_iter()
                .map(|v| json!({"model": model.name(), "dim": v.len(), "vector": v}))
                .collect()
        }
        Resolved::Bm25 => models
            .embed_sparse(&texts, options.as_ref())?
            .into_iter()
            .map(|v| json!({"model": helio::embed::models::BM25_MODEL, "indices": v.indices, "values": v.values}))
            .collect(),
    };
    let elapsed = started.elapsed();
    for (text, line) in texts.iter().zip(&lines) {
        if cmd.json {
            println!("{line}");
        } else {
            let values = line.get("vector").or_else(|| line.get("values"));
            println!(
                "{text:?}: {} {}",
                line["model"].as_str().unwrap_or_default(),
                match line.get("indices") {
                    Some(indices) => format!(
                        "indices {indices} values {}",
                        values.cloned().unwrap_or_default()
                    ),
                    None => format!(
                        "dim {} {}",
                        line["dim"],
                        values.cloned().unwrap_or_default()
                    ),
                }
            );
        }
    }
    eprintln!(
        "embedded {} text(s) in {:.1} ms",
        texts.len(),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
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
