//! Our register-tiled AVX2 + FMA + F16C kernels: a dense layer ([`linear_avx2`]) and one attention
//! head ([`attend_avx2`]), both built on one `MR x NR` register tile ([`tile_avx2`]). They exist
//! because they beat the `gemm` crate here (see the module doc of `embed::local`: ~10% on batches and
//! ~2x on a single query, mostly from half-precision weight panels a query streams at half the bytes).
//! Only called when [`super::Kernels::Avx2`] was chosen, i.e. the CPU has the three features.

use rayon::prelude::*;

use super::math::softmax;
use super::{Linear, SharedMut, MC, MR, NR};
use crate::embed::local::activation::{apply_activation, Activation};

/// [`super::linear`] with our AVX2 tiles. Few rows (a query) are dominated by reading the weights (21 MB for MiniLM,
/// too much for the caches), so the columns are split and each thread streams its own share of the weights
/// once. Many rows are split into blocks of `MC` rows that each sweep over all panels.
/// The activation is applied while the results are still in registers, sparing a pass over memory.
pub(super) fn linear_avx2(
    x: &[f32],
    rows: usize,
    w: &Linear,
    out: &mut [f32],
    threads: usize,
    act: Option<Activation>,
) {
    let panels = w.n_out / NR;
    let (row_block, panel_group) = if rows <= MC {
        (rows.max(1), panels.div_ceil(threads * 4))
    } else {
        (MC, panels)
    };
    let mut tasks = Vec::new();
    for r0 in (0..rows).step_by(row_block) {
        for p0 in (0..panels).step_by(panel_group) {
            tasks.push((
                r0..(r0 + row_block).min(rows),
                p0..(p0 + panel_group).min(panels),
            ));
        }
    }
    let k = w.n_in;
    let out = SharedMut(out.as_mut_ptr());
    // Few rows: every task reads all of them, so pack them once here rather than once per task (which cost
    // a fifth of a single query). Many rows: each task packs its own block.
    let shared = (rows <= MC).then(|| PackedRows::new(x, k));
    tasks.into_par_iter().for_each(|(rows, panels)| {
        let own;
        let x = match &shared {
            Some(all) => all,
            None => {
                own = PackedRows::new(&x[rows.start * k..rows.end * k], k);
                &own
            }
        };
        for p in panels {
            let panel = &w.panels[p * k * NR..][..k * NR];
            // SAFETY: Linear::new chose Avx2 only when the CPU has AVX2 and FMA. The tiles read rows of `x`
            // and one panel, in bounds by construction, and write rows `rows` x columns p*NR..(p+1)*NR of
            // `out`, which no other task writes.
            unsafe {
                let dst = out.at(rows.start * w.n_out + p * NR);
                tile_rows(x, panel, &w.bias[p * NR..][..NR], dst, w.n_out, act);
            }
        }
    });
}

/// Rows of a matrix `[rows][k]` regrouped for [`tile_avx2`]: `MR` rows at a time, each group laid out
/// `[k][MR]` (the last group `[k][rows % MR]`), so the `MR` values a tile broadcasts at step `i` are
/// adjacent and the tile reads one sequential stream instead of `MR` strided ones. Measured on one core
/// with the weights in cache: ~82 GFLOP/s against ~70 unpacked, of a 93 GFLOP/s FMA peak. Each row block
/// is packed once and then meets every weight panel, so the copy costs little.
struct PackedRows {
    data: Vec<f32>,
    k: usize,
}

impl PackedRows {
    fn new(x: &[f32], k: usize) -> PackedRows {
        let mut data = vec![0f32; x.len()];
        for (src, dst) in x.chunks(MR * k).zip(data.chunks_mut(MR * k)) {
            let r_n = src.len() / k;
            for (r, row) in src.chunks_exact(k).enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    dst[i * r_n + r] = v;
                }
            }
        }
        PackedRows { data, k }
    }
}

/// `out[r][0..NR] = act(x[r] . panel + bias)` for every row `r` of `x` (rows of `panel.len() / NR`
/// floats), `out` rows `out_stride` apart: the rows are taken `MR` at a time by [`tile_avx2`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `out` must be valid for writing `x.data.len() / x.k` rows of `NR`
/// floats.
#[cfg(target_arch = "x86_64")]
unsafe fn tile_rows<W: PanelElem>(
    x: &PackedRows,
    panel: &[W],
    bias: &[f32],
    out: *mut f32,
    out_stride: usize,
    act: Option<Activation>,
) {
    let k = panel.len() / NR;
    assert_eq!(k, x.k);
    for (i, block) in x.data.chunks(MR * k).enumerate() {
        let out = out.add(i * MR * out_stride);
        match block.len() / k {
            6 => tile_avx2::<6, W>(block, panel, bias, out, out_stride, act),
            5 => tile_avx2::<5, W>(block, panel, bias, out, out_stride, act),
            4 => tile_avx2::<4, W>(block, panel, bias, out, out_stride, act),
            3 => tile_avx2::<3, W>(block, panel, bias, out, out_stride, act),
            2 => tile_avx2::<2, W>(block, panel, bias, out, out_stride, act),
            _ => tile_avx2::<1, W>(block, panel, bias, out, out_stride, act),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile_rows<W>(
    _: &PackedRows,
    _: &[W],
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: Option<Activation>,
) {
    unreachable!("Kernels::Avx2 is only chosen on x86-64")
}

/// An element of a weight panel as the tiles read it: f32 as it is (attention's panels, built per call),
/// or half precision (the model's weights, see [`Linear`]) widened to f32 as it is loaded.
#[cfg(target_arch = "x86_64")]
trait PanelElem: Copy {
    /// The `NR` (16) weights at `p`, as two registers of 8 f32.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 elements, and the CPU must support AVX2 and F16C.
    unsafe fn load16(p: *const Self) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256);
}

#[cfg(target_arch = "x86_64")]
impl PanelElem for f32 {
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
        use std::arch::x86_64::_mm256_loadu_ps;
        (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
    }
}

/// IEEE binary16 bits.
#[cfg(target_arch = "x86_64")]
impl PanelElem for u16 {
    #[inline(always)]
    unsafe fn load16(p: *const u16) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
        use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm_loadu_si128};
        (
            _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _mm256_cvtph_ps(_mm_loadu_si128(p.add(8) as *const __m128i)),
        )
    }
}

/// `R` rows of `x` (packed `[k][R]`, see [`PackedRows`]) times one weight panel (`[k][NR]`), plus `bias`,
/// stored at `out` (rows `out_stride` apart). The `R x NR` results stay in registers for the whole `k`
/// loop, so each weight is loaded once per tile and each `x` element once per panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_avx2<const R: usize, W: PanelElem>(
    x: &[f32],
    panel: &[W],
    bias: &[f32],
    out: *mut f32,
    out_stride: usize,
    act: Option<Activation>,
) {
    use std::arch::x86_64::*;
    let k = panel.len() / NR;
    assert!(x.len() == R * k && panel.len() == k * NR && bias.len() == NR);
    let (x, w) = (x.as_ptr(), panel.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for i in 0..k {
        let (w0, w1) = W::load16(w.add(i * NR));
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = _mm256_broadcast_ss(&*x.add(i * R + r));
            acc[0] = _mm256_fmadd_ps(a, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(a, w1, acc[1]);
        }
    }
    let (b0, b1) = (
        _mm256_loadu_ps(bias.as_ptr()),
        _mm256_loadu_ps(bias.as_ptr().add(8)),
    );
    for (r, acc) in acc.iter().enumerate() {
        let mut row = [0f32; NR];
        _mm256_storeu_ps(row.as_mut_ptr(), _mm256_add_ps(acc[0], b0));
        _mm256_storeu_ps(row.as_mut_ptr().add(8), _mm256_add_ps(acc[1], b1));
        if let Some(act) = act {
            apply_activation(act, &mut row);
        }
        std::ptr::copy_nonoverlapping(row.as_ptr(), out.add(r * out_stride), NR);
    }
}

/// Scaled dot-product attention of one head of one sequence (`rows`: its `[len, 3 * hidden]` slice of
/// `qkv`), written at `out` (rows `hidden` apart). Both products use [`tile_avx2`]: keys are packed as
/// panels of `NR` keys (`[head_dim][NR]`) and values as panels of `NR` dimensions (`[len][NR]`); the
/// sequence is padded to a multiple of `NR` with zero keys and values, whose scores are left out of the
/// softmax.
///
/// # Safety
/// AVX2 and FMA must be available; `out` must be valid for `len` rows of `head_dim` floats, `hidden` apart.
pub(super) unsafe fn attend_avx2(
    rows: &[f32],
    head: usize,
    head_dim: usize,
    hidden: usize,
    out: *mut f32,
) {
    let len = rows.len() / (3 * hidden);
    let padded = len.div_ceil(NR) * NR;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (q_off, k_off, v_off) = (
        head * head_dim,
        hidden + head * head_dim,
        2 * hidden + head * head_dim,
    );
    let mut queries = vec![0f32; len * head_dim];
    let mut keys = vec![0f32; head_dim * padded];
    let mut values = vec![0f32; padded * head_dim];
    for (j, row) in rows.chunks_exact(3 * hidden).enumerate() {
        for (q, x) in queries[j * head_dim..][..head_dim]
            .iter_mut()
            .zip(&row[q_off..])
        {
            *q = x * scale;
        }
        let key_panel = &mut keys[(j / NR) * head_dim * NR..][..head_dim * NR];
        for (d, x) in row[k_off..][..head_dim].iter().enumerate() {
            key_panel[d * NR + j % NR] = *x;
        }
        for (p, x) in row[v_off..][..head_dim].chunks_exact(NR).enumerate() {
            values[p * padded * NR + j * NR..][..NR].copy_from_slice(x);
        }
    }
    let zero = [0f32; NR];
    let mut scores = vec![0f32; len * padded];
    let queries = PackedRows::new(&queries, head_dim);
    for (p, panel) in keys.chunks_exact(head_dim * NR).enumerate() {
        tile_rows(
            &queries,
            panel,
            &zero,
            scores.as_mut_ptr().add(p * NR),
            padded,
            None,
        );
    }
    for row in scores.chunks_exact_mut(padded) {
        softmax_avx2(&mut row[..len]);
        row[len..].fill(0.0);
    }
    let scores = PackedRows::new(&scores, padded);
    for (p, panel) in values.chunks_exact(padded * NR).enumerate() {
        tile_rows(&scores, panel, &zero, out.add(p * NR), hidden, None);
    }
}

/// [`softmax`] compiled for AVX2 (callers check the CPU).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2(xs: &mut [f32]) {
    softmax(xs)
}

#[cfg(not(target_arch = "x86_64"))]
fn softmax_avx2(xs: &mut [f32]) {
    softmax(xs)
}
