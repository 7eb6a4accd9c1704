//! The configuration files of a sentence-transformers model directory (`modules.json`,
//! `sentence_bert_config.json`, the BERT `config.json`, `1_Pooling/config.json`): the fields Helio
//! reads, and the refusal, naming the file, of anything it does not implement.

use std::path::Path;

use serde::Deserialize;

use super::activation::Activation;
use super::error::LocalError;

/// Reads and parses the JSON file `path`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LocalError> {
    let text = std::fs::read_to_string(path).map_err(|error| LocalError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|error| LocalError::Json {
        path: path.to_path_buf(),
        error,
    })
}

/// One entry of `modules.json`.
#[derive(Deserialize)]
pub(crate) struct ModuleEntry {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct SentenceBertConfig {
    pub(crate) max_seq_length: Option<usize>,
    #[serde(default)]
    pub(crate) do_lower_case: bool,
}

/// The fields of a Hugging Face BERT `config.json` we use.
#[derive(Deserialize)]
pub(crate) struct BertConfig {
    #[serde(default)]
    pub(crate) model_type: Option<String>,
    pub(crate) hidden_size: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default = "default_hidden_act")]
    pub(crate) hidden_act: String,
    #[serde(default)]
    pub(crate) position_embedding_type: Option<String>,
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

fn default_hidden_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Checks that Helio implements what the config (read from `path`) describes, and returns its
    /// activation.
    pub(crate) fn validate(&self, path: &Path) -> Result<Activation, LocalError> {
        let unsupported = |what: String| LocalError::Unsupported {
            path: path.to_path_buf(),
            what,
        };
        if let Some(t) = &self.model_type {
            if t != "bert" {
                return Err(unsupported(format!(
                    "model_type {t:?} is not supported (only \"bert\")"
                )));
            }
        }
        if let Some(p) = &self.position_embedding_type {
            if p != "absolute" {
                return Err(unsupported(format!(
                    "position_embedding_type {p:?} is not supported (only \"absolute\")"
                )));
            }
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        Activation::parse(&self.hidden_act).ok_or_else(|| {
            unsupported(format!(
                "hidden_act {:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)",
                self.hidden_act
            ))
        })
    }
}

/// The Pooling module's mode; sentence-transformers concatenates several when more than one is on (unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    Cls,
    Mean,
    Max,
    MeanSqrtLen,
}

#[derive(Deserialize)]
pub(crate) struct PoolingConfig {
    #[serde(default)]
    pub(crate) pooling_mode_cls_token: bool,
    #[serde(default)]
    pub(crate) pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pub(crate) pooling_mode_max_tokens: bool,
    #[serde(default)]
    pub(crate) pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pub(crate) pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pub(crate) pooling_mode_lasttoken: bool,
}

impl Pooling {
    /// The one pooling mode `c` (read from `path`) turns on.
    pub(crate) fn from_config(c: &PoolingConfig, path: &Path) -> Result<Pooling, LocalError> {
        let unsupported = |what: &str| LocalError::Unsupported {
            path: path.to_path_buf(),
            what: what.to_string(),
        };
        if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
            return Err(unsupported(
                "weighted-mean and last-token pooling are not supported",
            ));
        }
        let modes = [
            (c.pooling_mode_cls_token, Pooling::Cls),
            (c.pooling_mode_mean_tokens, Pooling::Mean),
            (c.pooling_mode_max_tokens, Pooling::Max),
            (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ];
        let on: Vec<Pooling> = modes
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect();
        match on.as_slice() {
            [one] => Ok(*one),
            [] => Err(unsupported("no pooling mode is enabled")),
            _ => Err(unsupported(
                "several pooling modes at once (concatenated) are not supported",
            )),
        }
    }
}
