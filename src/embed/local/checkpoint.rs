//! Reading the checkpoint (`model.safetensors`) into a [`Bert`]: each tensor looked up by its
//! Hugging Face name, its shape checked against `config.json`, converted to f32 and laid out for the
//! chosen kernels. `candle-core` does the reading: safetensors parsing, shape checks, and conversion
//! of f16/bf16/f64 checkpoints to f32; no candle op runs after loading.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::activation::Activation;
use super::bert::{Bert, Layer};
use super::config::BertConfig;
use super::error::LocalError;
use super::kernels::rowwise::LayerNorm;
use super::kernels::{Kernels, Linear};

type Result<T> = std::result::Result<T, LocalError>;

/// The checkpoint's tensors, looked up by their Hugging Face names.
struct Weights {
    tensors: HashMap<String, Tensor>,
    /// "bert." when the checkpoint was saved from a `BertFor...` model rather than a bare `BertModel`.
    prefix: &'static str,
    path: PathBuf,
    eps: f32,
    kernels: Kernels,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let Some(t) = self.tensors.get(&full) else {
            return Err(LocalError::MissingTensor {
                path: self.path.clone(),
                name: full,
            });
        };
        if t.dims() != shape {
            return Err(LocalError::TensorShape {
                path: self.path.clone(),
                name: full,
                found: t.dims().to_vec(),
                expected: shape.to_vec(),
            });
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    fn vec(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(self.get(name, shape)?.flatten_all()?.to_vec1()?)
    }

    /// A LayerNorm's parameters; very old checkpoints call them gamma/beta.
    fn layer_norm(&self, prefix: &str, dim: usize) -> Result<LayerNorm> {
        let new_names = self
            .tensors
            .contains_key(&format!("{}{prefix}.weight", self.prefix));
        let (g, b) = if new_names {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(LayerNorm {
            gamma: self.vec(&format!("{prefix}.{g}"), &[dim])?,
            beta: self.vec(&format!("{prefix}.{b}"), &[dim])?,
            eps: self.eps,
        })
    }

    /// The Linear layers named `prefixes`, stacked along their outputs (one wider product instead of several).
    fn linear(&self, prefixes: &[&str], n_in: usize, n_out_each: usize) -> Result<Linear> {
        let mut ws = Vec::new();
        let mut bias = Vec::new();
        for p in prefixes {
            ws.push(self.get(&format!("{p}.weight"), &[n_out_each, n_in])?);
            bias.extend(self.vec(&format!("{p}.bias"), &[n_out_each])?);
        }
        let w = Tensor::cat(&ws, 0)?; // [n_out, n_in], PyTorch's layout
        let wt = w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
        Ok(Linear::new(
            wt,
            bias,
            n_in,
            n_out_each * prefixes.len(),
            self.kernels,
        ))
    }
}

impl Bert {
    /// Reads the checkpoint `path` of a model `config` describes (validated, with its `activation`),
    /// laying the weights out for `kernels`.
    pub(crate) fn load(
        path: &Path,
        config: &BertConfig,
        activation: Activation,
        kernels: Kernels,
    ) -> Result<Bert> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|error| {
            LocalError::Safetensors {
                path: path.to_path_buf(),
                error,
            }
        })?;
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let w = Weights {
            tensors,
            prefix,
            path: path.to_path_buf(),
            eps: config.layer_norm_eps as f32,
            kernels,
        };

        let h = config.hidden_size;
        // Table heights (vocabulary, token types) are whatever the checkpoint holds; get() checks the rest.
        let rows_of = |name: &str| {
            w.tensors
                .get(&format!("{prefix}{name}"))
                .and_then(|t| t.dims().first().copied())
                .unwrap_or(0)
        };
        let vocab = rows_of("embeddings.word_embeddings.weight");
        let token_types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[rows_of("embeddings.token_type_embeddings.weight"), h],
        )?;

        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                qkv: w.linear(
                    &[
                        &format!("{p}.attention.self.query"),
                        &format!("{p}.attention.self.key"),
                        &format!("{p}.attention.self.value"),
                    ],
                    h,
                    h,
                )?,
                attn_out: w.linear(&[&format!("{p}.attention.output.dense")], h, h)?,
                attn_norm: w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                up: w.linear(
                    &[&format!("{p}.intermediate.dense")],
                    h,
                    config.intermediate_size,
                )?,
                down: w.linear(&[&format!("{p}.output.dense")], config.intermediate_size, h)?,
                out_norm: w.layer_norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            kernels,
            hidden: h,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
            activation,
            word_embeddings: w.vec("embeddings.word_embeddings.weight", &[vocab, h])?,
            position_embeddings: w.vec(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type_0: token_types.get(0)?.to_vec1()?,
            embed_norm: w.layer_norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }
}
