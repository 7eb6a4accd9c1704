//! The feed-forward non-linearity a BERT `config.json` names (`hidden_act`), and the GELU variants
//! written to vectorise (libm's `erf` and `tanh` do not).

use super::kernels::math::exp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Exact GELU, `x * Phi(x)` (Hugging Face "gelu").
    Gelu,
    /// The tanh approximation ("gelu_new", "gelu_pytorch_tanh").
    GeluTanh,
    Relu,
}

impl Activation {
    /// The activation `hidden_act` names; `None` for one Helio does not implement.
    pub(crate) fn parse(name: &str) -> Option<Activation> {
        Some(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => return None,
        })
    }
}

/// Applies `act` to every element of `xs`.
#[inline(always)]
pub(crate) fn apply_activation(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::Gelu => xs.iter_mut().for_each(|x| *x = gelu_erf(*x)),
        Activation::GeluTanh => xs.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
    }
}

/// Exact GELU, `x/2 (1 + erf(x / sqrt 2))`, with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7),
/// vectorisable unlike libm's erf.
#[inline(always)]
pub(crate) fn gelu_erf(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let erf = (1.0 - poly * exp(-z * z)).copysign(x);
    0.5 * x * (1.0 + erf)
}

/// GELU's tanh approximation, with `tanh(u) = 1 - 2 / (e^{2u} + 1)`.
#[inline(always)]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let tanh = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    0.5 * x * (1.0 + tanh)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64: exact enough (|x| <= 4) to judge an f32 approximation.
    fn erf_reference(x: f64) -> f64 {
        let (mut term, mut total) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            total += term / (2 * n + 1) as f64;
        }
        total * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn gelu_matches_its_definition() {
        // The Taylor series reference is exact to ~1e-9 for |x / sqrt 2| <= 4.
        for i in -5600..=5600 {
            let x = i as f32 / 1000.0;
            let gelu = 0.5 * x as f64 * (1.0 + erf_reference(x as f64 / std::f64::consts::SQRT_2));
            assert!((gelu_erf(x) as f64 - gelu).abs() < 1e-6, "gelu({x})");
            let tanh_ref = 0.5
                * x as f64
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt()
                        * (x as f64 + 0.044715 * (x as f64).powi(3)))
                    .tanh());
            assert!(
                (gelu_tanh(x) as f64 - tanh_ref).abs() < 1e-6,
                "gelu_tanh({x})"
            );
        }
        for x in [-8.0f32, -20.0, -100.0] {
            assert!(
                gelu_erf(x).abs() < 1e-6 && gelu_tanh(x).abs() < 1e-6 && gelu_erf(-x) == -x,
                "gelu({x})"
            );
        }
    }
}
