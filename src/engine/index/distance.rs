//! Distance kernels, picked at run time.
//!
//! One binary serves every x86-64 machine: the AVX2+FMA kernels are chosen
//! with `is_x86_feature_detected!` the first time a kernel is asked for, and
//! the choice is kept as a table of function pointers in a `OnceLock`. Other
//! CPUs get portable code written so that the compiler can vectorise it.
//!
//! `HELIO_PORTABLE_KERNELS=1` in the environment forces the portable kernels
//! on any CPU (read once, with the first kernel). CI runs the distance tests
//! both ways (`scripts/test.sh`), and the tests compare the two paths on the
//! same vectors, so the SIMD code is checked against the portable code on
//! every machine that has it.
//!
//! Scores follow Qdrant: Cosine and Dot score by dot product (higher is
//! better; Cosine vectors are normalised when stored), Euclid by L2 distance
//! and Manhattan by L1 distance (lower is better). Graph search instead uses
//! an *ordering distance* where lower is always better, and converts back
//! with [`to_score`].

use std::sync::OnceLock;

use crate::engine::types::Distance;

/// A distance kernel over two slices of equal length.
///
/// The pointers are `unsafe fn` because the SIMD variants carry
/// `#[target_feature]`; the table only ever holds kernels whose features
/// were detected on this CPU, so calling them through [`Kernels`] is sound.
pub type Kernel = unsafe fn(&[f32], &[f32]) -> f32;

/// The kernels picked for this CPU.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub dot: Kernel,
    pub neg_dot: Kernel,
    pub l2_squared: Kernel,
    pub l1: Kernel,
    /// Which implementation was picked, for logs and benches.
    pub name: &'static str,
}

impl Kernels {
    /// The lower-is-better kernel used by graph search for `d`.
    #[inline]
    pub fn ordering(&self, d: Distance) -> Kernel {
        match d {
            Distance::Cosine | Distance::Dot => self.neg_dot,
            Distance::Euclid => self.l2_squared,
            Distance::Manhattan => self.l1,
        }
    }
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The kernel table for this CPU, resolved once.
#[inline]
pub fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(detect)
}

fn detect() -> Kernels {
    let forced = std::env::var("HELIO_PORTABLE_KERNELS").is_ok_and(|v| v == "1");
    match simd_kernels() {
        Some(simd) if !forced => simd,
        _ => scalar_kernels(),
    }
}

/// The SIMD kernels, when this CPU has what they need.
fn simd_kernels() -> Option<Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Some(Kernels {
                dot: avx2::dot,
                neg_dot: avx2::neg_dot,
                l2_squared: avx2::l2_squared,
                l1: avx2::l1,
                name: "avx2+fma",
            });
        }
    }
    None
}

fn scalar_kernels() -> Kernels {
    Kernels {
        dot: scalar::dot_unsafe,
        neg_dot: scalar::neg_dot_unsafe,
        l2_squared: scalar::l2_squared_unsafe,
        l1: scalar::l1_unsafe,
        name: "scalar",
    }
}

/// Dot product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    // SAFETY: the table holds only kernels supported by this CPU.
    unsafe { (kernels().dot)(a, b) }
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().l2_squared)(a, b) }
}

/// Manhattan (L1) distance.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().l1)(a, b) }
}

/// Scales `v` to unit length in place; a zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Asks the CPU to start loading a vector that is about to be scored:
/// both the graph walk and the exact scan read vectors scattered over a
/// memory-mapped arena, and each is a cache miss otherwise.
#[inline(always)]
pub fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint and never faults; SSE is baseline on
        // x86-64. Only the first line: the hardware prefetcher follows the
        // rest. Measured on the 100k set: p50 -30% against no prefetch;
        // prefetching 4 lines or the whole vector was no better.
        unsafe { _mm_prefetch(v.as_ptr() as *const i8, _MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Qdrant's score for `d`: dot product for Cosine and Dot, L2 distance for
/// Euclid, L1 distance for Manhattan.
#[inline]
pub fn score(d: Distance, a: &[f32], b: &[f32]) -> f32 {
    match d {
        Distance::Cosine | Distance::Dot => dot(a, b),
        Distance::Euclid => l2_squared(a, b).sqrt(),
        Distance::Manhattan => l1(a, b),
    }
}

/// A lower-is-better value that orders candidates the same way as
/// [`score`]: `-dot` for Cosine and Dot, squared L2 for Euclid, L1 for
/// Manhattan.
#[inline]
pub fn ordering_distance(d: Distance, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().ordering(d))(a, b) }
}

/// Converts an [`ordering_distance`] back to Qdrant's score.
#[inline]
pub fn to_score(d: Distance, ordering_distance: f32) -> f32 {
    match d {
        Distance::Cosine | Distance::Dot => -ordering_distance,
        Distance::Euclid => ordering_distance.max(0.0).sqrt(),
        Distance::Manhattan => ordering_distance,
    }
}

/// Our distance plugged into `hnsw_rs` for graph construction.
///
/// `hnsw_rs` asserts that distances are non-negative (its search keeps
/// negated distances in a heap and checks the signs), so the value handed to
/// it is a monotone, non-negative transform of the ordering distance. Its
/// neighbour-selection heuristic only compares two distances with each
/// other, so any increasing transform builds the same graph:
///
/// - Cosine: `1 - dot`, clamped at 0 (vectors are normalised, so this lies
///   in `[0, 2]`).
/// - Dot: with `x = -dot`, `1 / (1 - x)` for `x < 0` and `1 + x` otherwise:
///   continuous, increasing, in `(0, inf)` for any vectors, normalised or
///   not. Note that maximum-inner-product on unnormalised data is not a
///   metric, so a graph built on it finds neighbours less reliably than on
///   normalised data (true of every HNSW).
/// - Euclid: squared L2. Manhattan: L1.
///
/// NaN (from NaN input) maps to `f32::MAX` so `hnsw_rs` never panics on it.
#[derive(Clone, Copy)]
pub struct HnswDistance {
    distance: Distance,
    kernel: Kernel,
}

impl HnswDistance {
    pub fn new(distance: Distance) -> Self {
        HnswDistance {
            distance,
            kernel: kernels().ordering(distance),
        }
    }

    pub fn distance(&self) -> Distance {
        self.distance
    }
}

impl hnsw_rs::anndists::dist::Distance<f32> for HnswDistance {
    #[inline]
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        // SAFETY: the kernel comes from the table for this CPU.
        let x = unsafe { (self.kernel)(va, vb) };
        let v = match self.distance {
            Distance::Cosine => (1.0 + x).max(0.0),
            Distance::Dot => {
                if x < 0.0 {
                    1.0 / (1.0 - x)
                } else {
                    1.0 + x
                }
            }
            Distance::Euclid | Distance::Manhattan => x.max(0.0),
        };
        if v.is_nan() {
            f32::MAX
        } else {
            v
        }
    }
}

/// Portable kernels. Eight independent accumulators let the compiler use
/// whatever vector width the baseline target has (SSE2 on x86-64).
pub mod scalar {
    const LANES: usize = 8;

    #[inline]
    fn fold(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; LANES];
        let chunks = n / LANES;
        for c in 0..chunks {
            let (x, y) = (&a[c * LANES..][..LANES], &b[c * LANES..][..LANES]);
            for i in 0..LANES {
                acc[i] += f(x[i], y[i]);
            }
        }
        let mut sum = acc.iter().sum::<f32>();
        for i in chunks * LANES..n {
            sum += f(a[i], b[i]);
        }
        sum
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| x * y)
    }

    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| (x - y) * (x - y))
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| (x - y).abs())
    }

    pub(in crate::engine) unsafe fn dot_unsafe(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }

    pub(in crate::engine) unsafe fn neg_dot_unsafe(a: &[f32], b: &[f32]) -> f32 {
        -dot(a, b)
    }

    pub(in crate::engine) unsafe fn l2_squared_unsafe(a: &[f32], b: &[f32]) -> f32 {
        l2_squared(a, b)
    }

    pub(in crate::engine) unsafe fn l1_unsafe(a: &[f32], b: &[f32]) -> f32 {
        l1(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(v, 1);
        let lo = _mm256_castps256_ps128(v);
        let s = _mm_add_ps(hi, lo);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
        _mm_cvtss_f32(s)
    }

    /// Runs `step` over 32 floats at a time with four accumulators, then 8 at
    /// a time, then finishes the tail with `tail`.
    #[inline(always)]
    unsafe fn fold(
        a: &[f32],
        b: &[f32],
        step: impl Fn(__m256, __m256, __m256) -> __m256,
        tail: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            acc0 = step(acc0, _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc1 = step(
                acc1,
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
            );
            acc2 = step(
                acc2,
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 16)),
            );
            acc3 = step(
                acc3,
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i + 24)),
            );
            i += 32;
        }
        while i + 8 <= n {
            acc0 = step(acc0, _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            i += 8;
        }
        let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
        let mut sum = hsum(acc);
        while i < n {
            sum += tail(*pa.add(i), *pb.add(i));
            i += 1;
        }
        sum
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x, y| x * y)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
        -dot(a, b)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        fold(
            a,
            b,
            |acc, x, y| {
                let d = _mm256_sub_ps(x, y);
                _mm256_fmadd_ps(d, d, acc)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
        fold(
            a,
            b,
            |acc, x, y| {
                let sign = _mm256_set1_ps(-0.0);
                _mm256_add_ps(acc, _mm256_andnot_ps(sign, _mm256_sub_ps(x, y)))
            },
            |x, y| (x - y).abs(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnsw_rs::anndists::dist::Distance as _;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn naive(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        let mut d = (0.0f64, 0.0f64, 0.0f64);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (*x as f64, *y as f64);
            d.0 += x * y;
            d.1 += (x - y) * (x - y);
            d.2 += (x - y).abs();
        }
        d
    }

    fn close(got: f32, want: f64, scale: f64) -> bool {
        (got as f64 - want).abs() <= 1e-4 * scale.max(1.0)
    }

    #[test]
    fn kernels_match_naive_for_every_length() {
        let mut rng = StdRng::seed_from_u64(7);
        let picked = kernels();
        let portable = scalar_kernels();
        for _ in 0..400 {
            let n = rng.gen_range(1..1000);
            let a: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let (d, l2, l1n) = naive(&a, &b);
            let abs_scale = a.iter().zip(&b).map(|(x, y)| (x * y).abs() as f64).sum();
            for k in [picked, &portable] {
                // SAFETY: the kernels come from the tables for this CPU.
                unsafe {
                    assert!(close((k.dot)(&a, &b), d, abs_scale), "dot n={n}");
                    assert!(close((k.neg_dot)(&a, &b), -d, abs_scale), "neg n={n}");
                    assert!(close((k.l2_squared)(&a, &b), l2, l2), "l2 n={n}");
                    assert!(close((k.l1)(&a, &b), l1n, l1n), "l1 n={n}");
                }
            }
        }
    }

    /// The SIMD kernels against the portable ones, on the same vectors, whichever of the two
    /// `kernels()` picked (`HELIO_PORTABLE_KERNELS=1` makes it the portable ones). They add in a
    /// different order, hence a tolerance relative to the sum of the magnitudes.
    #[test]
    fn simd_and_portable_kernels_agree() {
        if std::env::var("HELIO_PORTABLE_KERNELS").is_ok_and(|v| v == "1") {
            assert_eq!(kernels().name, "scalar");
        }
        let Some(simd) = simd_kernels() else {
            eprintln!("no SIMD kernels on this CPU: only the portable ones run");
            return;
        };
        let portable = scalar_kernels();
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..400 {
            let n = rng.gen_range(1..1000);
            let a: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let scale: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs() as f64).sum();
            let diff_scale: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).abs() as f64).sum();
            let pairs: [(Kernel, Kernel, f64, &str); 4] = [
                (simd.dot, portable.dot, scale, "dot"),
                (simd.neg_dot, portable.neg_dot, scale, "neg_dot"),
                (simd.l2_squared, portable.l2_squared, diff_scale * 2.0, "l2"),
                (simd.l1, portable.l1, diff_scale, "l1"),
            ];
            for (fast, slow, scale, name) in pairs {
                // SAFETY: both tables hold only kernels this CPU supports.
                let (x, y) = unsafe { (fast(&a, &b), slow(&a, &b)) };
                assert!(close(x, y as f64, scale), "{name} n={n}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn normalize_and_scores() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 5];
        normalize(&mut z);
        assert!(z.iter().all(|x| *x == 0.0));

        let a = [1.0, 0.0, 2.0];
        let b = [0.0, 2.0, 2.0];
        assert_eq!(score(Distance::Dot, &a, &b), 4.0);
        assert!((score(Distance::Euclid, &a, &b) - 5.0f32.sqrt()).abs() < 1e-6);
        assert_eq!(score(Distance::Manhattan, &a, &b), 3.0);
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let o = ordering_distance(d, &a, &b);
            assert!((to_score(d, o) - score(d, &a, &b)).abs() < 1e-6, "{d:?}");
        }
    }

    #[test]
    fn hnsw_distance_is_monotone_and_non_negative() {
        let q = [1.0f32, 0.5];
        let mut points: Vec<[f32; 2]> = (-20..=20)
            .map(|i| [i as f32 * 0.7, -(i as f32) * 0.3])
            .collect();
        points.push([0.0, 0.0]);
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let hd = HnswDistance::new(d);
            let mut pairs: Vec<(f32, f32)> = points
                .iter()
                .map(|p| (ordering_distance(d, &q, p), hd.eval(&q, p)))
                .collect();
            pairs.sort_by(|x, y| x.0.total_cmp(&y.0));
            for w in pairs.windows(2) {
                assert!(w[0].1 >= 0.0 && w[1].1 >= 0.0, "{d:?}");
                assert!(w[0].1 <= w[1].1, "{d:?} not monotone: {w:?}");
            }
        }
        assert_eq!(
            HnswDistance::new(Distance::Dot).eval(&[f32::NAN], &[1.0]),
            f32::MAX
        );
    }
}
