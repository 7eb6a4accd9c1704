//! The portable kernels: the same products as `avx2.rs` through the `gemm` crate (candle's matmul
//! engine), on f32 weights. `gemm` picks its own SIMD at run time, so this runs on any CPU; it is what a
//! CPU without AVX2/FMA/F16C gets, or any CPU under `HELIO_PORTABLE_KERNELS=1`.

use gemm::Parallelism;
use rayon::prelude::*;

use super::math::softmax;
use super::rowwise::rows_per_task;
use super::Linear;

/// [`super::linear`] on gemm: `out` is first filled with the bias, then gemm accumulates `x W^T` into it.
pub(super) fn linear_portable(x: &[f32], rows: usize, w: &Linear, out: &mut [f32], threads: usize) {
    out.par_chunks_mut(w.n_out * rows_per_task(w.n_out))
        .for_each(|rows| {
            rows.chunks_exact_mut(w.n_out)
                .for_each(|row| row.copy_from_slice(&w.bias))
        });
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the buffers hold rows x n_in, n_in x n_out and rows x n_out f32s (checked by `linear`),
    // row-major with the strides given; `out` is a distinct &mut, so it aliases neither input.
    unsafe {
        gemm::gemm(
            rows,
            w.n_out,
            w.n_in,
            out.as_mut_ptr(),
            1,
            w.n_out as isize,
            true,
            x.as_ptr(),
            1,
            w.n_in as isize,
            w.weights.as_ptr(),
            1,
            w.n_out as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// [`super::avx2::attend_avx2`] for any CPU: both products through gemm, reading the head's columns of `rows` in place.
///
/// # Safety
/// `out` must be valid for `len` rows of `head_dim` floats, `hidden` apart.
pub(super) unsafe fn attend_portable(
    rows: &[f32],
    head: usize,
    head_dim: usize,
    hidden: usize,
    out: *mut f32,
) {
    let len = rows.len() / (3 * hidden);
    let (q, k, v) = (
        head * head_dim,
        hidden + head * head_dim,
        2 * hidden + head * head_dim,
    );
    let stride = 3 * hidden as isize;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut scores = vec![0f32; len * len];
    let p = rows.as_ptr();
    // scores = scale * Q K^T: [len, head_dim] x [head_dim, len]
    let s = scores.as_mut_ptr();
    gemm::gemm(
        len,
        len,
        head_dim,
        s,
        1,
        len as isize,
        false,
        p.add(q),
        1,
        stride,
        p.add(k),
        stride,
        1,
        0.0,
        scale,
        false,
        false,
        false,
        Parallelism::None,
    );
    scores.chunks_exact_mut(len).for_each(softmax);
    // out = softmax(scores) V: [len, len] x [len, head_dim]
    let s = scores.as_ptr();
    gemm::gemm(
        len,
        head_dim,
        len,
        out,
        1,
        hidden as isize,
        false,
        s,
        1,
        len as isize,
        p.add(v),
        1,
        stride,
        0.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}
