//! Scalar functions written to vectorise: `e^x` without the libm call, reductions into independent
//! accumulators, and softmax built on them. Each is `#[inline(always)]` so it takes the SIMD width of
//! the loop it is inlined into (see [`super::with_simd`]).

#[inline(always)]
pub(crate) fn softmax(xs: &mut [f32]) {
    let max = reduce(xs, f32::NEG_INFINITY, f32::max, f32::max);
    for x in xs.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / sum(xs);
    for x in xs.iter_mut() {
        *x *= inv;
    }
}

/// Number of independent accumulators in reductions. Float addition is not associative, so the compiler may
/// not vectorise `xs.iter().sum()`; summing into 8 lanes (one AVX register) lets it.
const LANES: usize = 8;

/// Folds `xs` into `LANES` independent accumulators with `op(accumulator, element)`, then merges the
/// accumulators with `merge`; vectorises, unlike a plain fold.
#[inline(always)]
pub(crate) fn reduce(
    xs: &[f32],
    init: f32,
    op: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(init, |a, &x| op(a, x));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = op(acc[i], c[i]);
        }
    }
    acc.iter().fold(tail, |a, &x| merge(a, x))
}

#[inline(always)]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    reduce(xs, 0.0, |a, x| a + x, |a, b| a + b)
}

/// `e^x` for f32, branch-free so loops over it vectorise (the libm call does not). Cephes' `expf`:
/// `2^n * e^r` with `n = round(x / ln 2)`, `|r| <= ln(2) / 2`, a degree-6 polynomial for `e^r`;
/// relative error ~1e-7. Inputs are clamped to the range where the result is a normal float.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let er = p * r * r + r + 1.0;
    // 2^n built from its bits. n + 127 + 2^23 is a float whose low mantissa bits are n + 127 (the biased
    // exponent); shifting left by 23 moves them into the exponent field and drops the rest. Unlike
    // `n as i32`, this vectorises.
    er * f32::from_bits((n + 8_388_735.0).to_bits() << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_softmax_match_their_definitions() {
        for i in -870..=880 {
            let x = i as f32 / 10.0;
            let rel = (exp(x) as f64 - (x as f64).exp()).abs() / (x as f64).exp();
            assert!(rel < 3e-7, "exp({x}) off by {rel}");
        }
        let mut s = vec![1.0, 2.0, 3.0, -1e9, 0.5, 0.0, 0.0, 0.0, 7.0];
        softmax(&mut s);
        let z: f64 = [1.0f64, 2.0, 3.0, 0.5, 0.0, 0.0, 0.0, 7.0]
            .iter()
            .map(|v| v.exp())
            .sum();
        assert!((s[2] as f64 - 3f64.exp() / z).abs() < 1e-6 && s[3] < 1e-30);
        assert!((sum(&s) - 1.0).abs() < 1e-6);
    }
}
