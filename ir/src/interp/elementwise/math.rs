//! Scalar functions in f64 that the standard library lacks or that ONNX
//! defines with particular NaN, signed-zero or overflow behaviour.
//!
//! `erf` is computed here (no libm crate): for |x| < 2.5 by the series
//! erf(x) = 2/√π · e^(-x²) · Σ (2x²)^n x / (1·3·…·(2n+1)), whose terms are all
//! positive (no cancellation), and for 2.5 ≤ |x| < 6 as 1 - erfc(x) with
//! erfc from its Laplace continued fraction evaluated backwards over 60
//! terms. Both are within a few f64 ulps (checked against reference values
//! below); beyond 6, erf is 1 in f64.

use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

/// The error function.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 2.5 {
        erf_series(a)
    } else if a < 6.0 {
        1.0 - erfc_cf(a)
    } else {
        1.0
    };
    // Keeps erf(-0.0) = -0.0.
    r.copysign(x)
}

fn erf_series(a: f64) -> f64 {
    let k = 2.0 * a * a;
    let (mut term, mut sum) = (a, a);
    // The terms grow while 2n+1 < 2a² (n ≤ 6 here), then fall faster than
    // geometrically; ~40 terms reach 1e-17 relative at a = 2.5.
    for n in 1..200 {
        term *= k / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-a * a).exp() * sum
}

fn erfc_cf(a: f64) -> f64 {
    // erfc(a) = e^(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))).
    let mut t = a;
    for k in (1..=60).rev() {
        t = a + f64::from(k) / 2.0 / t;
    }
    (-a * a).exp() / (PI.sqrt() * t)
}

/// ONNX Sign: -1, 0 or 1; NaN stays NaN and a zero keeps its sign.
pub(crate) fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// The logistic function, without overflow for large |x|.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x), without overflow for large x.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Gelu, exact: x/2 · (1 + erf(x/√2)).
pub(crate) fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / SQRT_2))
}

/// Gelu, tanh approximation: x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))).
pub(crate) fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

/// `min(max(x, lo), hi)` that keeps a NaN `x` (f64's `max`/`min` would
/// drop it). With lo > hi every element becomes hi, as ONNX Clip says.
pub(crate) fn clamp_f(x: f64, lo: Option<f64>, hi: Option<f64>) -> f64 {
    let mut r = x;
    if let Some(lo) = lo {
        if r < lo {
            r = lo;
        }
    }
    if let Some(hi) = hi {
        if r > hi {
            r = hi;
        }
    }
    r
}

/// ONNX Max: NaN if either is NaN; otherwise the larger (the first on ties).
pub(crate) fn max_f(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        a
    } else if b.is_nan() || b > a {
        b
    } else {
        a
    }
}

/// ONNX Min: NaN if either is NaN; otherwise the smaller (the first on ties).
pub(crate) fn min_f(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        a
    } else if b.is_nan() || b < a {
        b
    } else {
        a
    }
}

/// Integer division truncating toward zero; by zero gives 0; MIN / -1 wraps.
pub(crate) fn div_i(a: i64, b: i64) -> i64 {
    if b == 0 {
        0
    } else {
        a.wrapping_div(b)
    }
}

/// Remainder with the dividend's sign (C `%`, ONNX fmod=1); by zero gives 0.
pub(crate) fn fmod_i(a: i64, b: i64) -> i64 {
    if b == 0 {
        0
    } else {
        a.wrapping_rem(b)
    }
}

/// Remainder with the divisor's sign (Python `%`, ONNX fmod=0); by zero gives 0.
pub(crate) fn mod_i(a: i64, b: i64) -> i64 {
    let r = fmod_i(a, b);
    if r != 0 && ((r < 0) != (b < 0)) {
        r.wrapping_add(b)
    } else {
        r
    }
}

/// Remainder with the divisor's sign (Python / numpy `%`, ONNX fmod=0 on
/// floats), as numpy's `npy_divmod`: a zero remainder is a zero with the
/// divisor's sign; x % 0, inf % y and NaNs give NaN; a finite x with an
/// infinite y of the other sign gives that infinity (`-3 % inf = inf`).
pub(crate) fn mod_f(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r == 0.0 {
        0.0f64.copysign(b)
    } else if (b < 0.0) != (r < 0.0) && !r.is_nan() {
        r + b
    } else {
        r
    }
}

/// `a^e` for integers. A non-negative exponent multiplies with wrapping; a
/// negative one gives the truncated value of 1/a^|e| (so 1 → 1, -1 → ±1,
/// anything else → 0, including 0, as integer division by zero gives 0).
pub(crate) fn pow_i(a: i64, e: i64) -> i64 {
    if e < 0 {
        return match a {
            1 => 1,
            -1 if e % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let (mut base, mut e, mut acc) = (a, e as u64, 1i64);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        e >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn erf_matches_reference_values() {
        // Reference values to 16+ digits (Abramowitz & Stegun / mpmath).
        let cases = [
            (1e-10, 1.1283791670955126e-10),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
        ];
        for (x, want) in cases {
            assert!(close(erf(x), want, 4e-16), "erf({x}) = {}", erf(x));
            assert!(close(erf(-x), -want, 4e-16));
        }
        // Just below and above the switch point agree with erfc's tail.
        assert!(close(1.0 - erf(2.5), 4.069_520_174_449_59e-4, 1e-12));
        assert!(close(erfc_cf(4.0), 1.541725790028002e-8, 1e-14));
        assert_eq!(erf(7.0), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
        assert!(erf(-0.0).is_sign_negative() && erf(-0.0) == 0.0);
    }

    #[test]
    fn activations_are_stable_at_extremes() {
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
        assert!(close(softplus(0.0), 2f64.ln(), 1e-15));
        assert!(close(gelu(1.0), 0.8413447460685429, 1e-15));
        assert!(close(gelu_tanh(1.0), 0.8411919906082768, 1e-15));
        assert!(sign(f64::NAN).is_nan());
        assert!(sign(-0.0).is_sign_negative());
    }

    #[test]
    fn nan_propagation_and_clamping() {
        assert!(max_f(f64::NAN, 1.0).is_nan() && max_f(1.0, f64::NAN).is_nan());
        assert!(min_f(f64::NAN, 1.0).is_nan() && min_f(1.0, f64::NAN).is_nan());
        assert_eq!(max_f(-1.0, 2.0), 2.0);
        assert!(clamp_f(f64::NAN, Some(0.0), Some(1.0)).is_nan());
        assert_eq!(clamp_f(5.0, Some(3.0), Some(1.0)), 1.0);
        assert_eq!(clamp_f(-5.0, Some(3.0), Some(1.0)), 1.0);
        assert_eq!(clamp_f(-5.0, None, Some(1.0)), -5.0);
    }

    #[test]
    fn float_mod_takes_the_divisor_sign() {
        let inf = f64::INFINITY;
        assert_eq!(mod_f(-7.0, 2.0), 1.0);
        assert_eq!(mod_f(7.0, -2.0), -1.0);
        assert_eq!(mod_f(5.5, 2.0), 1.5);
        // Zero remainders carry the divisor's sign.
        let z = mod_f(4.0, -2.0);
        assert!(z == 0.0 && z.is_sign_negative());
        let z = mod_f(-0.0, 2.0);
        assert!(z == 0.0 && z.is_sign_positive());
        // Infinite divisor: same sign keeps x, the other sign gives it.
        assert_eq!(mod_f(3.0, inf), 3.0);
        assert_eq!(mod_f(-3.0, inf), inf);
        assert_eq!(mod_f(1.0, -inf), -inf);
        assert!(mod_f(inf, 2.0).is_nan());
        assert!(mod_f(1.0, 0.0).is_nan());
        assert!(mod_f(f64::NAN, 2.0).is_nan() && mod_f(1.0, f64::NAN).is_nan());
    }

    #[test]
    fn integer_division_rules() {
        assert_eq!(div_i(7, -2), -3);
        assert_eq!(div_i(-7, 2), -3);
        assert_eq!(div_i(5, 0), 0);
        assert_eq!(div_i(i64::MIN, -1), i64::MIN);
        assert_eq!(fmod_i(-7, 2), -1);
        assert_eq!(mod_i(-7, 2), 1);
        assert_eq!(mod_i(7, -2), -1);
        assert_eq!(mod_i(-6, 3), 0);
        assert_eq!(mod_i(5, 0), 0);
        assert_eq!(fmod_i(i64::MIN, -1), 0);
        assert_eq!(pow_i(3, 4), 81);
        assert_eq!(pow_i(2, 64), 0);
        assert_eq!(pow_i(-2, 3), -8);
        assert_eq!(pow_i(2, -1), 0);
        assert_eq!(pow_i(-1, -3), -1);
        assert_eq!(pow_i(0, 0), 1);
    }
}
