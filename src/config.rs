//! The one configuration struct. Sources, lowest priority first: the
//! config file (`helio.toml`, or `--config`), `HELIO_*` environment
//! variables, command-line flags.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::engine::hnsw::BuilderKind;

/// Settings of `helio serve`. Every field is optional here so that a
/// value not given on the command line or in the environment can come from
/// the file; [`Config::resolve`] fills in defaults.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// Address to listen on. Off-box exposure is a choice: default 127.0.0.1.
    #[arg(long, env = "HELIO_HOST")]
    pub host: Option<String>,
    /// REST port (Qdrant's default).
    #[arg(long, env = "HELIO_PORT")]
    pub port: Option<u16>,
    /// Storage directory.
    #[arg(long, env = "HELIO_STORAGE")]
    pub storage: Option<PathBuf>,
    /// fsync every acknowledged write, so it also survives a power loss.
    /// Off, writes still survive a killed process but the last second or so
    /// may be lost if the machine loses power.
    #[arg(long, env = "HELIO_FSYNC")]
    pub fsync: Option<bool>,
    /// Largest request body in bytes (Qdrant's default: 32 MiB).
    #[arg(long, env = "HELIO_MAX_REQUEST_SIZE")]
    pub max_request_size: Option<usize>,
    /// Log filter, e.g. `info` or `helio=debug`.
    #[arg(long, env = "HELIO_LOG")]
    pub log: Option<String>,
    /// HNSW construction: `native` (Helio's own, parallel; default) or
    /// `hnsw-rs` (the hnsw_rs crate). Both produce the same frozen graph.
    #[arg(long, env = "HELIO_GRAPH_BUILDER", value_enum)]
    pub graph_builder: Option<BuilderKind>,
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub storage: PathBuf,
    pub fsync: bool,
    pub max_request_size: usize,
    pub log: String,
    pub graph_builder: BuilderKind,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 6333,
            storage: PathBuf::from("./storage"),
            fsync: true,
            max_request_size: 32 * 1024 * 1024,
            log: "info".into(),
            graph_builder: BuilderKind::default(),
        }
    }
}

/// The `[serve]` table of `helio.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    serve: ServeArgs,
}

impl Config {
    /// Merges file < env/flags (clap already merged env under flags).
    /// A missing default file is fine; a missing explicit one is an error.
    pub fn resolve(args: ServeArgs, file: Option<&Path>) -> anyhow::Result<Config> {
        let from_file = match file {
            Some(path) => load_file(path)?,
            None if Path::new("helio.toml").exists() => load_file(Path::new("helio.toml"))?,
            None => ServeArgs::default(),
        };
        let d = Config::default();
        Ok(Config {
            host: args.host.or(from_file.host).unwrap_or(d.host),
            port: args.port.or(from_file.port).unwrap_or(d.port),
            storage: args.storage.or(from_file.storage).unwrap_or(d.storage),
            fsync: args.fsync.or(from_file.fsync).unwrap_or(d.fsync),
            max_request_size: args
                .max_request_size
                .or(from_file.max_request_size)
                .unwrap_or(d.max_request_size),
            log: args.log.or(from_file.log).unwrap_or(d.log),
            graph_builder: args
                .graph_builder
                .or(from_file.graph_builder)
                .unwrap_or(d.graph_builder),
        })
    }
}

fn load_file(path: &Path) -> anyhow::Result<ServeArgs> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
    Ok(file.serve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helio.toml");
        std::fs::write(&path, "[serve]\nport = 7000\nhost = \"0.0.0.0\"\n").unwrap();
        let args = ServeArgs {
            port: Some(7001),
            ..Default::default()
        };
        let c = Config::resolve(args, Some(&path)).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.host, "0.0.0.0");
        assert!(c.fsync);
        assert!(
            Config::resolve(ServeArgs::default(), Some(&dir.path().join("missing.toml"))).is_err()
        );
    }
}
