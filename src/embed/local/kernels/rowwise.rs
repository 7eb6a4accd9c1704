//! The cheap row-wise passes of the forward pass: residual + LayerNorm and the feed-forward
//! non-linearity (on the portable path; the AVX2 tiles apply it in registers). A few fused loops
//! written so the compiler vectorises them, run through [`with_simd`] so they get 8-wide AVX code on
//! CPUs that have it.

use rayon::prelude::*;

use super::math::{reduce, sum};
use super::with_simd;
use crate::embed::local::activation::{apply_activation, Activation};

/// Rows per rayon task in the cheap row-wise passes: ~16K floats, so task overhead stays negligible
/// while a 2048-token chunk still splits into dozens of tasks.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (16 * 1024 / row_len).max(1)
}

/// A LayerNorm's parameters.
pub(crate) struct LayerNorm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) eps: f32,
}

/// `x = LayerNorm(x + add)` row by row: BERT's residual connection after attention and after the
/// feed-forward block (and, with `x` zeroed, the embeddings' LayerNorm).
pub(crate) fn residual_layer_norm(x: &mut [f32], add: &[f32], norm: &LayerNorm) {
    let h = norm.gamma.len();
    let chunk = h * rows_per_task(h);
    x.par_chunks_mut(chunk)
        .zip(add.par_chunks(chunk))
        .for_each(|(xs, adds)| {
            with_simd(
                #[inline(always)]
                || {
                    for (x, add) in xs.chunks_exact_mut(h).zip(adds.chunks_exact(h)) {
                        for (x, a) in x.iter_mut().zip(add) {
                            *x += a;
                        }
                        let n = h as f32;
                        let mean = sum(x) / n;
                        let var =
                            reduce(x, 0.0, |acc, v| acc + (v - mean) * (v - mean), |a, b| a + b)
                                / n;
                        let inv_std = 1.0 / (var + norm.eps).sqrt();
                        for ((x, g), b) in x.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
                            *x = (*x - mean) * inv_std * g + b;
                        }
                    }
                },
            )
        });
}

/// The feed-forward block's non-linearity, in place on `[tokens, width]` (portable path; the AVX2 path
/// applies it inside `tile_avx2`).
pub(crate) fn activation(up: &mut [f32], width: usize, act: Activation) {
    up.par_chunks_mut(width * rows_per_task(width))
        .for_each(|xs| {
            with_simd(
                #[inline(always)]
                || apply_activation(act, xs),
            )
        });
}
