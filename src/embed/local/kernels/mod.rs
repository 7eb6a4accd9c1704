//! The heavy kernels of the forward pass (dense layers, attention) and the run-time choice between
//! them: our register-tiled AVX2 kernels (`avx2.rs`) or portable ones on the `gemm` crate
//! (`portable.rs`). One binary must run on every x86-64 box, so the choice is made when the model
//! loads, from what the CPU has ([`Kernels::detect`]), not with `-C target-cpu`. The cheap row-wise
//! passes (`rowwise.rs`, `math.rs`) are written once and compiled a second time for AVX2 by
//! [`with_simd`].
//!
//! `HELIO_PORTABLE_KERNELS=1` in the environment forces the portable code: [`Kernels::detect`]
//! answers [`Kernels::Portable`] and [`with_simd`] runs the baseline build. It is read once per process.
//! CI runs the embedding tests both ways with it (`scripts/test.sh`), so the portable path a CPU
//! without AVX2 takes is exercised on a CPU that has AVX2.

mod avx2;
pub(crate) mod math;
mod portable;
pub(crate) mod rowwise;

use std::sync::OnceLock;

use rayon::prelude::*;

use self::avx2::{attend_avx2, linear_avx2};
use self::portable::{attend_portable, linear_portable};
use self::rowwise::activation;
use super::activation::Activation;

/// Whether `HELIO_PORTABLE_KERNELS=1` forces the portable kernels (read once).
fn portable_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var("HELIO_PORTABLE_KERNELS").is_ok_and(|v| v == "1"))
}

/// Which implementation of the heavy kernels (dense layers, attention) this CPU gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// Our register-tiled AVX2+FMA kernels (`tile_avx2`) over half-precision weight panels (F16C):
    /// x86-64 CPUs since ~2013.
    Avx2,
    /// The `gemm` crate (candle's matmul engine), which picks its own SIMD at run time. Any CPU.
    Portable,
}

impl Kernels {
    /// The fastest kernels this CPU runs, unless `HELIO_PORTABLE_KERNELS=1` forces the portable ones.
    pub fn detect() -> Kernels {
        if Kernels::Avx2.available() && !portable_forced() {
            Kernels::Avx2
        } else {
            Kernels::Portable
        }
    }

    /// Whether this CPU can run these kernels (the portable ones run anywhere).
    pub fn available(self) -> bool {
        match self {
            Kernels::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernels::Avx2 => false,
        }
    }

    /// `"avx2"` or `"portable"`, for logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Avx2 => "avx2",
            Kernels::Portable => "portable",
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Output columns per weight panel: two AVX registers of f32.
pub(crate) const NR: usize = 16;

/// Rows per register tile: 6 rows x 2 registers of accumulators + 2 weight loads + 1 broadcast = 15 of the
/// 16 AVX registers.
pub(crate) const MR: usize = 6;

/// Rows per task when a product is split by rows: a `[48, n_in]` block of `x` stays in L2 while every weight
/// panel streams past it.
pub(crate) const MC: usize = 48;

/// A dense layer `y = x W^T + b`. The weights are laid out for the kernel that will read them:
/// * [`Kernels::Avx2`]: `panels`, half-precision (IEEE binary16 bits) panels of `NR` output columns,
///   `[n_out / NR][n_in][NR]`, so a tile streams its weights from one contiguous block. Half precision
///   halves the bytes a query must read (the weights do not fit the L3 cache, and a short query is bound
///   by reading them); the tile widens them to f32 as it loads them (F16C), so all arithmetic stays f32.
/// * [`Kernels::Portable`]: `weights`, `W^T` row-major `[n_in, n_out]` in f32, what gemm reads fastest.
pub(crate) struct Linear {
    weights: Vec<f32>,
    panels: Vec<u16>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
    kernels: Kernels,
}

impl Linear {
    /// `wt` is `W^T`, row-major `[n_in, n_out]`.
    pub(crate) fn new(
        wt: Vec<f32>,
        bias: Vec<f32>,
        n_in: usize,
        n_out: usize,
        kernels: Kernels,
    ) -> Linear {
        assert!(wt.len() == n_in * n_out && bias.len() == n_out);
        let kernels = if n_out.is_multiple_of(NR) {
            kernels
        } else {
            Kernels::Portable
        };
        let (weights, panels) = match kernels {
            Kernels::Portable => (wt, Vec::new()),
            Kernels::Avx2 => {
                let mut packed = Vec::with_capacity(wt.len());
                for panel in 0..n_out / NR {
                    for row in wt.chunks_exact(n_out) {
                        let cols = &row[panel * NR..][..NR];
                        packed.extend(cols.iter().map(|&w| half::f16::from_f32(w).to_bits()));
                    }
                }
                (Vec::new(), packed)
            }
        };
        Linear {
            weights,
            panels,
            bias,
            n_in,
            n_out,
            kernels,
        }
    }
}

/// `out = act(x W^T + b)` for `x` of `[rows, n_in]` (`act`: the feed-forward non-linearity, if any).
pub(crate) fn linear(
    x: &[f32],
    w: &Linear,
    out: &mut [f32],
    threads: usize,
    act: Option<Activation>,
) {
    let rows = x.len() / w.n_in;
    assert!(
        x.len() == rows * w.n_in
            && out.len() == rows * w.n_out
            && w.weights.len() + w.panels.len() == w.n_in * w.n_out
    );
    match w.kernels {
        Kernels::Avx2 => linear_avx2(x, rows, w, out, threads, act),
        Kernels::Portable => {
            linear_portable(x, rows, w, out, threads);
            if let Some(act) = act {
                activation(out, w.n_out, act);
            }
        }
    }
}

/// Multi-head self-attention over packed sequences: `qkv` holds `[tokens, 3 * hidden]` (query | key | value),
/// `lens` the length of each sequence; writes `[tokens, hidden]` into `ctx`. Each token only attends to the
/// tokens of its own sequence, so no mask is needed.
///
/// One task per (sequence, head), so a single long text still uses every thread.
pub(crate) fn attention(
    qkv: &[f32],
    lens: &[usize],
    heads: usize,
    hidden: usize,
    ctx: &mut [f32],
    kernels: Kernels,
) {
    let tokens: usize = lens.iter().sum();
    assert!(
        qkv.len() == tokens * 3 * hidden
            && ctx.len() == tokens * hidden
            && hidden.is_multiple_of(heads)
    );
    let head_dim = hidden / heads;
    let mut tasks = Vec::with_capacity(lens.len() * heads);
    let mut start = 0;
    for &len in lens {
        tasks.extend((0..heads).map(|head| (start, len, head)));
        start += len;
    }
    let ctx = SharedMut(ctx.as_mut_ptr());
    let avx2 = kernels == Kernels::Avx2 && head_dim.is_multiple_of(NR);
    tasks.into_par_iter().for_each(|(start, len, head)| {
        let rows = &qkv[start * 3 * hidden..(start + len) * 3 * hidden];
        // SAFETY: this task writes only rows start..start+len, columns head*head_dim.. of `ctx`; no other
        // task touches them, and `ctx` outlives the parallel loop. AVX2 kernels only when detected.
        unsafe {
            let out = ctx.at(start * hidden + head * head_dim);
            if avx2 {
                attend_avx2(rows, head, head_dim, hidden, out);
            } else {
                attend_portable(rows, head, head_dim, hidden, out);
            }
        }
    });
}

/// A raw pointer that parallel tasks may share because each writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);

// SAFETY: see the uses: tasks write disjoint elements and the buffer outlives them.
unsafe impl Send for SharedMut {}

unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// Pointer to element `i` (a method, so closures capture the whole `SharedMut`, not its raw field).
    ///
    /// # Safety
    /// `i` must be within the buffer.
    unsafe fn at(self, i: usize) -> *mut f32 {
        self.0.add(i)
    }
}

/// Runs `f` compiled for AVX2 + FMA when the CPU has them (and `HELIO_PORTABLE_KERNELS=1` does not say
/// otherwise), else as built (baseline x86-64 = SSE2).
///
/// Rust builds for baseline x86-64 unless told `-C target-cpu`, so our loops would otherwise use 4-wide SSE.
/// `f` is inlined into a function carrying `#[target_feature]`, so the compiler emits 8-wide AVX code for it
/// (and for the `#[inline(always)]` helpers it calls). The feature check is a cached atomic load; call this
/// per chunk of work, not per element.
#[inline(always)]
pub(crate) fn with_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && !portable_forced()
        {
            // SAFETY: the CPU supports the features `avx2` was compiled for (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn random(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The AVX2 kernels against the portable ones on the same inputs: a dense layer (with and without
    /// the activation, one row and many) and attention over packed sequences. The AVX2 layer keeps its
    /// weights in half precision, so both get weights already rounded to it; what remains is the
    /// order of the additions.
    #[test]
    fn avx2_and_portable_kernels_agree() {
        if !Kernels::Avx2.available() {
            eprintln!("this CPU has no AVX2/FMA/F16C: only the portable kernels can run");
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (n_in, n_out) = (96, 64);
        let wt: Vec<f32> = random(&mut rng, n_in * n_out)
            .into_iter()
            .map(|w| half::f16::from_f32(w).to_f32())
            .collect();
        let bias = random(&mut rng, n_out);
        let avx2 = Linear::new(wt.clone(), bias.clone(), n_in, n_out, Kernels::Avx2);
        let portable = Linear::new(wt, bias, n_in, n_out, Kernels::Portable);
        assert_eq!(
            (avx2.kernels, portable.kernels),
            (Kernels::Avx2, Kernels::Portable)
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for rows in [1, 5, 100] {
            let x = random(&mut rng, rows * n_in);
            for act in [None, Some(Activation::Gelu)] {
                let (mut a, mut p) = (vec![0f32; rows * n_out], vec![0f32; rows * n_out]);
                pool.install(|| {
                    linear(&x, &avx2, &mut a, 2, act);
                    linear(&x, &portable, &mut p, 2, act);
                });
                let diff = max_difference(&a, &p);
                assert!(diff < 1e-4, "{rows} rows, {act:?}: differ by {diff}");
            }
        }

        let (heads, hidden) = (2, 2 * NR);
        let lens = [1, 7, 20];
        let tokens: usize = lens.iter().sum();
        let qkv = random(&mut rng, tokens * 3 * hidden);
        let (mut a, mut p) = (vec![0f32; tokens * hidden], vec![0f32; tokens * hidden]);
        pool.install(|| {
            attention(&qkv, &lens, heads, hidden, &mut a, Kernels::Avx2);
            attention(&qkv, &lens, heads, hidden, &mut p, Kernels::Portable);
        });
        let diff = max_difference(&a, &p);
        assert!(diff < 1e-5, "attention differs by {diff}");
    }

    #[test]
    fn detect_picks_a_kernel_this_cpu_runs() {
        let kernels = Kernels::detect();
        assert!(kernels.available());
        if std::env::var("HELIO_PORTABLE_KERNELS").is_ok_and(|v| v == "1") {
            assert_eq!(kernels, Kernels::Portable);
        }
    }
}
