//! Semantics of the signal ops: `dft` and `stft` (after the ONNX reference
//! `op_dft.py` / `op_stft.py`, i.e. numpy's FFTs).
//!
//! Complex data is carried in a trailing axis: size 1 (real) or 2 (re, im).
//! - `dft %x[, %dft_length]` along `axis` (any axis but the last; negative
//!   counts from the end of the full rank). The signal is truncated or
//!   zero-padded to `n = dft_length` (default: the axis length, or
//!   `2*(len-1)` for an inverse onesided transform).
//!   Forward: `X_k = Σ_j x_j e^{-2πi jk/n}`, `k < n`, or `k <= n/2` when
//!   `onesided`; result `[.., 2]`. Inverse: `x_j = (1/n) Σ_k X_k e^{+2πi jk/n}`,
//!   result `[.., 2]`; inverse + `onesided` is numpy's `irfft`: the input holds
//!   bins `0..=n/2` of a Hermitian spectrum (imaginary parts of bin 0 and, for
//!   even n, bin n/2 ignored) and the result is real, `[.., 1]`.
//! - `stft %x, %frame_step[, %window[, %frame_length]]`: x `[N, T, 1|2]`.
//!   `frame_length` defaults to the window's length, else T; the window to
//!   ones. Frame f holds samples `f*step ..` (window length, zero past T),
//!   times the window, then a forward DFT of length `frame_length`
//!   (`onesided`: `frame_length/2 + 1` bins). `frames = 1 + (T - frame_length) / step`.
//!   Result `[N, frames, bins, 2]`.
//!
//! Sums run in f64 with twiddles from `(j*k mod n)/n`, rounded once to the
//! dtype.

use super::norm_axis;
use crate::op::Op;
use crate::tensor::Tensor;
use std::f64::consts::PI;

pub(crate) fn eval(op: &Op, x: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let t = match op {
        Op::Dft {
            axis,
            inverse,
            onesided,
        } => {
            if !(1..=2).contains(&x.len()) {
                return Err(format!("takes 1 or 2 operands, given {}", x.len()));
            }
            dft(x[0], x.get(1).copied(), *axis, *inverse, *onesided)?
        }
        Op::Stft { onesided } => {
            if !(2..=4).contains(&x.len()) {
                return Err(format!("takes 2 to 4 operands, given {}", x.len()));
            }
            stft(x, *onesided)?
        }
        _ => unreachable!("`{}` is not a signal op", op.name()),
    };
    Ok(vec![t])
}

/// The value of a scalar (or 1-element) integer operand; `None` when empty.
fn scalar_int(t: &Tensor, what: &str) -> Result<Option<i64>, String> {
    if !t.dtype().is_int() || t.rank() > 1 || t.numel() > 1 {
        return Err(format!(
            "{what} must be an integer scalar, not {}{:?}",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(t.to_i64s().first().copied())
}

/// A positive length from an operand value.
fn length(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("{what} is {v}; it must be positive"))
}

/// `e^{sign * 2πi * jk/n}` with the angle reduced exactly first.
fn twiddle(j: usize, k: usize, n: usize, sign: f64) -> (f64, f64) {
    let m = (j as u128 * k as u128 % n as u128) as f64;
    let a = sign * 2.0 * PI * m / n as f64;
    (a.cos(), a.sin())
}

/// Forward (`sign` -1) or unscaled inverse (+1) DFT of length `n` of the
/// (truncated or zero-padded) signal `s`, bins `0..out_len`.
fn dft_line(s: &[(f64, f64)], n: usize, out_len: usize, sign: f64, out: &mut Vec<(f64, f64)>) {
    out.clear();
    for k in 0..out_len {
        let (mut re, mut im) = (0.0, 0.0);
        for (j, &(a, b)) in s.iter().take(n).enumerate() {
            let (c, d) = twiddle(j, k, n, sign);
            re += a * c - b * d;
            im += a * d + b * c;
        }
        out.push((re, im));
    }
}

/// numpy's `irfft` of length `n`: real samples of the Hermitian spectrum
/// whose bins `0..=n/2` are `s` (zero-padded).
fn irfft_line(s: &[(f64, f64)], n: usize, out: &mut Vec<(f64, f64)>) {
    out.clear();
    let bin = |k: usize| s.get(k).copied().unwrap_or((0.0, 0.0));
    for j in 0..n {
        let mut acc = bin(0).0;
        for k in 1..n.div_ceil(2) {
            let (c, d) = twiddle(j, k, n, 1.0);
            let (a, b) = bin(k);
            acc += 2.0 * (a * c - b * d);
        }
        if n.is_multiple_of(2) {
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            acc += bin(n / 2).0 * sign;
        }
        out.push((acc / n as f64, 0.0));
    }
}

/// Checks `x` is float with a trailing complex axis of 1 or 2.
fn complex_input(x: &Tensor, what: &str) -> Result<usize, String> {
    let c = x.shape().last().copied().unwrap_or(0);
    if !x.dtype().is_float() || x.rank() < 2 || !matches!(c, 1 | 2) {
        return Err(format!(
            "{what} is {}{:?}; it must be a float tensor of rank >= 2 whose last axis is 1 \
             (real) or 2 (complex)",
            x.dtype(),
            x.shape()
        ));
    }
    Ok(c)
}

fn dft(
    x: &Tensor,
    dft_length: Option<&Tensor>,
    axis: i64,
    inverse: bool,
    onesided: bool,
) -> Result<Tensor, String> {
    let c = complex_input(x, "x")?;
    let xs = x.shape();
    let rank = xs.len();
    let ax = norm_axis(axis, rank)?;
    if ax == rank - 1 {
        return Err(format!("axis {axis} is the complex axis of x {xs:?}"));
    }
    let len = xs[ax];
    let n = match dft_length
        .map(|t| scalar_int(t, "dft_length"))
        .transpose()?
        .flatten()
    {
        Some(v) => length(v, "dft_length")?,
        None if inverse && onesided => {
            length(2 * (len as i64 - 1), "the default dft_length 2*(len-1)")?
        }
        None => length(len as i64, "the transformed axis")?,
    };
    let out_len = if !inverse && onesided { n / 2 + 1 } else { n };
    let out_c = if inverse && onesided { 1 } else { 2 };
    let mut shape = xs.to_vec();
    shape[ax] = out_len;
    shape[rank - 1] = out_c;
    let outer: usize = xs[..ax].iter().product();
    let inner: usize = xs[ax + 1..rank - 1].iter().product();
    let xv = x.to_f64s();
    let mut out = Tensor::zeros(x.dtype(), &shape)
        .map_err(|e| e.to_string())?
        .to_f64s();
    let mut sig = Vec::with_capacity(len);
    let mut line = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            sig.clear();
            for j in 0..len {
                let at = ((o * len + j) * inner + i) * c;
                sig.push((xv[at], if c == 2 { xv[at + 1] } else { 0.0 }));
            }
            if inverse && onesided {
                irfft_line(&sig, n, &mut line);
            } else if inverse {
                dft_line(&sig, n, out_len, 1.0, &mut line);
                for v in line.iter_mut() {
                    *v = (v.0 / n as f64, v.1 / n as f64);
                }
            } else {
                dft_line(&sig, n, out_len, -1.0, &mut line);
            }
            for (k, &(re, im)) in line.iter().enumerate() {
                let at = ((o * out_len + k) * inner + i) * out_c;
                out[at] = re;
                if out_c == 2 {
                    out[at + 1] = im;
                }
            }
        }
    }
    Tensor::from_f64s(x.dtype(), &shape, &out).map_err(|e| e.to_string())
}

fn stft(x: &[&Tensor], onesided: bool) -> Result<Tensor, String> {
    let sig = x[0];
    let c = complex_input(sig, "signal")?;
    let xs = sig.shape();
    if xs.len() != 3 {
        return Err(format!("signal must be [N, T, 1|2], not {xs:?}"));
    }
    let step = scalar_int(x[1], "frame_step")?.ok_or("frame_step is empty")?;
    let step = length(step, "frame_step")?;
    let window = x.get(2).filter(|w| w.numel() > 0 || w.rank() != 1);
    if let Some(w) = window {
        if w.dtype() != sig.dtype() || w.rank() != 1 {
            return Err(format!(
                "window must be 1-D {}, not {}{:?}",
                sig.dtype(),
                w.dtype(),
                w.shape()
            ));
        }
    }
    let fl = match x
        .get(3)
        .map(|t| scalar_int(t, "frame_length"))
        .transpose()?
        .flatten()
    {
        Some(v) => length(v, "frame_length")?,
        None => match window {
            Some(w) => length(w.shape()[0] as i64, "the window length")?,
            None => length(xs[1] as i64, "the signal length")?,
        },
    };
    let wv = window.map_or_else(|| vec![1.0; fl], |w| w.to_f64s());
    let (n, t) = (xs[0], xs[1]);
    if t < fl {
        return Err(format!(
            "signal length {t} is shorter than frame_length {fl}"
        ));
    }
    let frames = 1 + (t - fl) / step;
    let bins = if onesided { fl / 2 + 1 } else { fl };
    let shape = [n, frames, bins, 2];
    let mut out = Tensor::zeros(sig.dtype(), &shape)
        .map_err(|e| e.to_string())?
        .to_f64s();
    let xv = sig.to_f64s();
    let mut frame = Vec::with_capacity(wv.len());
    let mut line = Vec::new();
    for b in 0..n {
        for f in 0..frames {
            frame.clear();
            for (j, &w) in wv.iter().enumerate() {
                let s = f * step + j;
                let v = if s < t {
                    let at = (b * t + s) * c;
                    (xv[at], if c == 2 { xv[at + 1] } else { 0.0 })
                } else {
                    (0.0, 0.0)
                };
                frame.push((v.0 * w, v.1 * w));
            }
            dft_line(&frame, fl, bins, -1.0, &mut line);
            for (k, &(re, im)) in line.iter().enumerate() {
                let at = ((b * frames + f) * bins + k) * 2;
                out[at] = re;
                out[at + 1] = im;
            }
        }
    }
    Tensor::from_f64s(sig.dtype(), &shape, &out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dft_op(axis: i64, inverse: bool, onesided: bool) -> Op {
        Op::Dft {
            axis,
            inverse,
            onesided,
        }
    }

    /// A deterministic, irregular real signal of `n` samples.
    fn signal(n: usize) -> Vec<f64> {
        (0..n).map(|i| ((i * 7 + 3) % 11) as f64 - 4.5).collect()
    }

    #[test]
    fn forward_then_inverse_recovers_the_signal() {
        for n in [1usize, 2, 5, 8] {
            let s = signal(2 * n);
            let x = Tensor::from_f64s(crate::DType::F64, &[n, 2], &s).unwrap();
            let f = eval(&dft_op(0, false, false), &[&x]).unwrap().remove(0);
            let b = eval(&dft_op(0, true, false), &[&f]).unwrap().remove(0);
            for (a, e) in b.to_f64s().iter().zip(&s) {
                assert!((a - e).abs() < 1e-9, "n={n}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn irfft_inverts_rfft_for_odd_and_even_lengths() {
        for n in [2usize, 3, 6, 7] {
            let s = signal(n);
            let x = Tensor::from_f64s(crate::DType::F64, &[1, n, 1], &s).unwrap();
            let f = eval(&dft_op(1, false, true), &[&x]).unwrap().remove(0);
            assert_eq!(f.shape(), &[1, n / 2 + 1, 2]);
            let len = Tensor::scalar(n as i64);
            let b = eval(&dft_op(-2, true, true), &[&f, &len])
                .unwrap()
                .remove(0);
            assert_eq!(b.shape(), &[1, n, 1]);
            for (a, e) in b.to_f64s().iter().zip(&s) {
                assert!((a - e).abs() < 1e-9, "n={n}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn dft_length_pads_and_bad_operands_fail() {
        // [1, 1] zero-padded to 4: X_k = 1 + e^{-iπk/2}.
        let x = Tensor::from_f64s(crate::DType::F32, &[2, 1], &[1.0, 1.0]).unwrap();
        let four = Tensor::scalar(4i64);
        let f = eval(&dft_op(0, false, false), &[&x, &four])
            .unwrap()
            .remove(0);
        let want = [2.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1.0, 1.0];
        for (a, e) in f.to_f64s().iter().zip(want) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
        let zero = Tensor::scalar(0i64);
        let e = eval(&dft_op(0, false, false), &[&x, &zero]).unwrap_err();
        assert!(e.contains("positive"), "{e}");
        let e = eval(&dft_op(1, false, false), &[&x]).unwrap_err();
        assert!(e.contains("complex axis"), "{e}");
        let x3 = Tensor::from_f64s(crate::DType::F32, &[1, 3], &[1.0; 3]).unwrap();
        assert!(eval(&dft_op(0, false, false), &[&x3]).is_err());
    }

    #[test]
    fn stft_rejects_short_signals_and_bad_steps() {
        let op = Op::Stft { onesided: true };
        let x = Tensor::from_f64s(crate::DType::F32, &[1, 3, 1], &[1.0; 3]).unwrap();
        let step = Tensor::scalar(1i64);
        let win = Tensor::from_f64s(crate::DType::F32, &[4], &[1.0; 4]).unwrap();
        let e = eval(&op, &[&x, &step, &win]).unwrap_err();
        assert!(e.contains("shorter than frame_length 4"), "{e}");
        let zero = Tensor::scalar(0i64);
        assert!(eval(&op, &[&x, &zero]).unwrap_err().contains("frame_step"));
        // No window: one frame of the whole signal, 2 bins.
        let y = eval(&op, &[&x, &step]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.to_f64s()[0], 3.0);
    }
}
