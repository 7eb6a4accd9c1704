//! The BERT encoder's forward pass over packed sequences (see the module doc of `embed::local`: no
//! padding, the dense layers only see real tokens, attention alone knows where a text ends), and the
//! scratch buffers it reuses between calls.

use super::activation::Activation;
use super::kernels::rowwise::{residual_layer_norm, LayerNorm};
use super::kernels::{attention, linear, Kernels, Linear};

pub(crate) struct Layer {
    /// Query, key and value projections fused into one `[hidden, 3 * hidden]` product.
    pub(crate) qkv: Linear,
    pub(crate) attn_out: Linear,
    pub(crate) attn_norm: LayerNorm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) out_norm: LayerNorm,
}

pub(crate) struct Bert {
    pub(crate) kernels: Kernels,
    pub(crate) hidden: usize,
    pub(crate) heads: usize,
    pub(crate) intermediate: usize,
    pub(crate) activation: Activation,
    pub(crate) word_embeddings: Vec<f32>,
    pub(crate) position_embeddings: Vec<f32>,
    /// Row 0 of the token-type table: sentence-transformers encodes single texts, all of type 0.
    pub(crate) token_type_0: Vec<f32>,
    pub(crate) embed_norm: LayerNorm,
    pub(crate) layers: Vec<Layer>,
}

impl Bert {
    /// Runs the encoder over the packed token ids of `seqs` and returns the final hidden states,
    /// `[total tokens, hidden]` row-major, the rows of `seqs[0]` first. Must run inside the embedder's pool.
    pub(crate) fn forward<'s>(
        &self,
        seqs: &[&[u32]],
        scratch: &'s mut Scratch,
        threads: usize,
    ) -> &'s [f32] {
        let (h, inter) = (self.hidden, self.intermediate);
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let Scratch {
            x,
            qkv,
            ctx,
            proj,
            up,
        } = scratch;
        let x = grow(x, tokens * h);
        let qkv = grow(qkv, tokens * 3 * h);
        let ctx = grow(ctx, tokens * h);
        let proj = grow(proj, tokens * h);
        let up = grow(up, tokens * inter);

        // Embeddings: LayerNorm(word + position + token type 0). Out-of-range ids (a tokenizer that does not
        // match the checkpoint) map to id 0 rather than panicking.
        let vocab = self.word_embeddings.len() / h;
        let mut row = 0;
        for seq in seqs {
            for (pos, &id) in seq.iter().enumerate() {
                let id = if (id as usize) < vocab {
                    id as usize
                } else {
                    0
                };
                let word = &self.word_embeddings[id * h..][..h];
                let position = &self.position_embeddings[pos * h..][..h];
                for (((x, p), w), t) in proj[row * h..][..h]
                    .iter_mut()
                    .zip(position)
                    .zip(word)
                    .zip(&self.token_type_0)
                {
                    *x = w + t + p;
                }
                row += 1;
            }
        }
        x.fill(0.0);
        residual_layer_norm(x, proj, &self.embed_norm);

        for layer in &self.layers {
            linear(x, &layer.qkv, qkv, threads, None);
            attention(qkv, &lens, self.heads, h, ctx, self.kernels);
            linear(ctx, &layer.attn_out, proj, threads, None);
            residual_layer_norm(x, proj, &layer.attn_norm);
            linear(x, &layer.up, up, threads, Some(self.activation));
            linear(up, &layer.down, proj, threads, None);
            residual_layer_norm(x, proj, &layer.out_norm);
        }
        x
    }
}

/// Buffers of one forward pass, kept between calls so steady-state embedding allocates almost nothing.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Hidden states `[tokens, hidden]`, updated layer after layer.
    pub(crate) x: Vec<f32>,
    pub(crate) qkv: Vec<f32>,
    /// Attention output before its projection.
    pub(crate) ctx: Vec<f32>,
    /// Output of a projection back to `hidden` (also the position embeddings at the start).
    pub(crate) proj: Vec<f32>,
    /// Feed-forward intermediate activations `[tokens, intermediate]`.
    pub(crate) up: Vec<f32>,
}

/// The first `n` elements of `buf`, growing it if needed (contents are garbage to be overwritten).
fn grow(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}
