//! Ops that compute or consume shapes: shape, size, range, constant_of_shape.
//!
//! `range` computes element `i` as `start + i * delta` (exact in i128 for
//! integers, in f64 then rounded once for floats) with
//! `count = max(ceil((limit - start) / delta), 0)`; a zero delta is an error.

use super::{arity, terr, vector};
use crate::tensor::Tensor;

/// The `[start, end)` window of a rank-`r` shape that `shape` returns.
pub(super) fn shape_window(start: i64, end: Option<i64>, r: usize) -> (usize, usize) {
    let ri = r as i64;
    let clamp = |v: i64| {
        let v = if v < 0 { v.saturating_add(ri) } else { v };
        v.clamp(0, ri) as usize
    };
    let s = clamp(start);
    let e = clamp(end.unwrap_or(ri));
    (s, e.max(s))
}

pub(super) fn shape(x: &[&Tensor], start: i64, end: Option<i64>) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let (a, b) = shape_window(start, end, s.len());
    let v: Vec<i64> = s[a..b].iter().map(|&d| d as i64).collect();
    Tensor::from_vec(&[v.len()], v).map_err(terr)
}

pub(super) fn size(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    Ok(Tensor::scalar(x[0].numel() as i64))
}

pub(super) fn range(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 3, 3)?;
    let dt = x[0].dtype();
    for (t, what) in x.iter().zip(["start", "limit", "delta"]) {
        if t.dtype() != dt || t.numel() != 1 || !dt.is_numeric() {
            return Err(format!(
                "{what} must be a numeric scalar of the same dtype as start ({dt}), not {}{:?}",
                t.dtype(),
                t.shape()
            ));
        }
    }
    if dt.is_int() {
        let [s, l, d] = [0, 1, 2].map(|k| x[k].to_i64s()[0] as i128);
        if d == 0 {
            return Err("delta is 0".into());
        }
        // ceil((l - s) / d) for either sign of d.
        let (q, m) = ((l - s) / d, (l - s) % d);
        let n = q + i128::from(m != 0 && (m > 0) == (d > 0));
        let n = usize::try_from(n.max(0)).map_err(|_| "range is too long".to_string())?;
        Tensor::zeros(dt, &[n]).map_err(terr)?;
        let v: Vec<i64> = (0..n as i128).map(|i| (s + i * d) as i64).collect();
        return Tensor::from_i64s(dt, &[n], &v).map_err(terr);
    }
    let [s, l, d] = [0, 1, 2].map(|k| x[k].to_f64s()[0]);
    if d == 0.0 {
        return Err("delta is 0".into());
    }
    let n = ((l - s) / d).ceil().max(0.0);
    if !n.is_finite() || n >= usize::MAX as f64 {
        return Err(format!(
            "range({s}, {l}, {d}) does not have a finite length"
        ));
    }
    let n = n as usize;
    Tensor::zeros(dt, &[n]).map_err(terr)?;
    let v: Vec<f64> = (0..n).map(|i| s + i as f64 * d).collect();
    Tensor::from_f64s(dt, &[n], &v).map_err(terr)
}

pub(super) fn constant_of_shape(x: &[&Tensor], value: &Tensor) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let dims = vector(x[0], "shape")?;
    let dims: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("shape {dims:?} has a negative dim")))
        .collect::<Result<_, _>>()?;
    if value.numel() != 1 {
        return Err(format!(
            "value must hold one element, not shape {:?}",
            value.shape()
        ));
    }
    let mut out = Tensor::zeros(value.dtype(), &dims).map_err(terr)?;
    let es = value.dtype().size();
    for chunk in out.bytes_mut().chunks_exact_mut(es) {
        chunk.copy_from_slice(value.bytes());
    }
    Ok(out)
}
