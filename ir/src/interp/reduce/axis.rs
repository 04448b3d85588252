//! Semantics of the reduce ops that work along one axis.
//!
//! - `arg_max` / `arg_min`: the i64 index of the largest / smallest element;
//!   ties go to the first index, or the last with `select_last_index`. NaN
//!   wins over every number in both (numpy's `argmax`/`argmin`: the first NaN).
//!   An empty axis is an error (there is no index to return).
//! - `softmax` / `log_softmax`: `exp(x - m) / sum(exp(x - m))` with `m` the
//!   lane's maximum, in f64; a NaN or +inf anywhere in a lane, or a lane of only
//!   -inf, gives NaN across the lane (as numpy's formula does).
//! - `hardmax`: 1 at the `arg_max` position (first maximum, NaN wins), 0 elsewhere.
//! - `cum_sum %x, %axis`: running sums (f64 for floats, rounded per element;
//!   wrapping for integers); `exclusive` leaves out the element itself,
//!   `reverse` sums from the end.
//! - `top_k %x, %k`: the k largest (or smallest) elements along `axis` and
//!   their i64 indices, always sorted (also when `sorted=false`, which ONNX
//!   leaves unspecified), ties by smaller index first. NaN orders above +inf:
//!   it comes first with `largest`, last otherwise (numpy's sort order, as in
//!   ONNX's reference). Values are copied bit for bit.

use super::super::norm_axis;
use crate::op::Op;
use crate::tensor::Tensor;
use std::cmp::Ordering;

pub(super) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let x = inputs[0];
    match op {
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
        } => arg(x, *axis, *keepdims, *select_last_index, true),
        Op::ArgMin {
            axis,
            keepdims,
            select_last_index,
        } => arg(x, *axis, *keepdims, *select_last_index, false),
        Op::Softmax { axis } => softmax(x, *axis, false),
        Op::LogSoftmax { axis } => softmax(x, *axis, true),
        Op::Hardmax { axis } => hardmax(x, *axis),
        Op::CumSum { exclusive, reverse } => cum_sum(x, inputs[1], *exclusive, *reverse),
        Op::TopK {
            axis,
            largest,
            sorted: _,
        } => top_k(x, inputs[1], *axis, *largest),
        _ => unreachable!("{} is not a reduce op", op.name()),
    }
}

/// A tensor seen as `outer` lanes of `len` elements, each lane strided by
/// `inner`: element `k` of lane `(o, i)` is at `(o * len + k) * inner + i`.
struct Lanes {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Lanes {
    fn new(shape: &[usize], axis: usize) -> Lanes {
        Lanes {
            outer: shape[..axis].iter().product(),
            len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    /// Number of lanes.
    fn count(&self) -> usize {
        self.outer * self.inner
    }

    /// The flat indices of lane `n`; lanes are numbered in `(outer, inner)`
    /// order, which is the row-major order of a result with the axis removed.
    fn lane(&self, n: usize) -> Vec<usize> {
        let (o, i) = (n / self.inner, n % self.inner);
        (0..self.len)
            .map(|k| (o * self.len + k) * self.inner + i)
            .collect()
    }
}

/// Element values in a form that compares exactly (i64 for integers, so large
/// i64 values are not rounded through f64).
enum Vals {
    F(Vec<f64>),
    I(Vec<i64>),
}

impl Vals {
    fn of(t: &Tensor) -> Vals {
        if t.dtype().is_float() {
            Vals::F(t.to_f64s())
        } else {
            Vals::I(t.to_i64s())
        }
    }

    /// A total order on elements `a` and `b`: -0 equals +0, NaNs equal each
    /// other and sit above (`nan_high`) or below every number.
    fn cmp(&self, a: usize, b: usize, nan_high: bool) -> Ordering {
        match self {
            Vals::I(v) => v[a].cmp(&v[b]),
            Vals::F(v) => {
                let nan = |o: Ordering| if nan_high { o } else { o.reverse() };
                match (v[a].is_nan(), v[b].is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => nan(Ordering::Greater),
                    (false, true) => nan(Ordering::Less),
                    _ => v[a].partial_cmp(&v[b]).unwrap_or(Ordering::Equal),
                }
            }
        }
    }
}

/// Position within the lane of its best element: the greatest (`max`) or
/// least, NaN counting as best either way.
fn best_in_lane(vals: &Vals, lane: &[usize], max: bool, last: bool) -> usize {
    let want = if max {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    let mut best = 0;
    for k in 1..lane.len() {
        let o = vals.cmp(lane[k], lane[best], max);
        if o == want || (last && o == Ordering::Equal) {
            best = k;
        }
    }
    best
}

fn arg(
    x: &Tensor,
    axis: i64,
    keepdims: bool,
    last: bool,
    max: bool,
) -> Result<Vec<Tensor>, String> {
    let a = norm_axis(axis, x.rank())?;
    let l = Lanes::new(x.shape(), a);
    let mut shape = x.shape().to_vec();
    if keepdims {
        shape[a] = 1;
    } else {
        shape.remove(a);
    }
    if l.len == 0 && l.outer * l.inner > 0 {
        return Err(format!(
            "cannot take the index of an extreme along axis {a} of shape {:?}: it is empty",
            x.shape()
        ));
    }
    let vals = Vals::of(x);
    let idx: Vec<i64> = (0..l.count())
        .map(|n| best_in_lane(&vals, &l.lane(n), max, last) as i64)
        .collect();
    Ok(vec![
        Tensor::from_vec(&shape, idx).map_err(|e| e.to_string())?
    ])
}

fn softmax(x: &Tensor, axis: i64, log: bool) -> Result<Vec<Tensor>, String> {
    let a = norm_axis(axis, x.rank())?;
    let v = x.to_f64s();
    let mut out = vec![0.0; v.len()];
    let l = Lanes::new(x.shape(), a);
    for n in 0..l.count() {
        let lane = l.lane(n);
        // `f64::max` skips NaN; a NaN element still poisons the sum below.
        let m = lane.iter().fold(f64::NEG_INFINITY, |m, &i| m.max(v[i]));
        let sum: f64 = lane.iter().map(|&i| (v[i] - m).exp()).sum();
        for &i in &lane {
            out[i] = if log {
                v[i] - m - sum.ln()
            } else {
                (v[i] - m).exp() / sum
            };
        }
    }
    Ok(vec![
        Tensor::from_f64s(x.dtype(), x.shape(), &out).map_err(|e| e.to_string())?
    ])
}

fn hardmax(x: &Tensor, axis: i64) -> Result<Vec<Tensor>, String> {
    let a = norm_axis(axis, x.rank())?;
    let vals = Vals::of(x);
    let mut out = vec![0.0; x.numel()];
    let l = Lanes::new(x.shape(), a);
    for n in 0..l.count() {
        let lane = l.lane(n);
        if !lane.is_empty() {
            out[lane[best_in_lane(&vals, &lane, true, false)]] = 1.0;
        }
    }
    Ok(vec![
        Tensor::from_f64s(x.dtype(), x.shape(), &out).map_err(|e| e.to_string())?
    ])
}

/// The single integer held by a scalar or one-element operand (inference has
/// checked the shape).
fn single_int(t: &Tensor, what: &str) -> Result<i64, String> {
    match t.to_i64s().as_slice() {
        [v] => Ok(*v),
        v => Err(format!("{what} must hold one element, holds {}", v.len())),
    }
}

fn cum_sum(
    x: &Tensor,
    axis: &Tensor,
    exclusive: bool,
    reverse: bool,
) -> Result<Vec<Tensor>, String> {
    let a = norm_axis(single_int(axis, "axis")?, x.rank())?;
    let l = Lanes::new(x.shape(), a);
    let t = if x.dtype().is_float() {
        let v = x.to_f64s();
        let mut out = vec![0.0; v.len()];
        for n in 0..l.count() {
            let mut lane = l.lane(n);
            if reverse {
                lane.reverse();
            }
            let mut acc = 0.0;
            for &i in &lane {
                if exclusive {
                    out[i] = acc;
                    acc += v[i];
                } else {
                    acc += v[i];
                    out[i] = acc;
                }
            }
        }
        Tensor::from_f64s(x.dtype(), x.shape(), &out)
    } else {
        let v = x.to_i64s();
        let mut out = vec![0i64; v.len()];
        for n in 0..l.count() {
            let mut lane = l.lane(n);
            if reverse {
                lane.reverse();
            }
            let mut acc = 0i64;
            for &i in &lane {
                if exclusive {
                    out[i] = acc;
                    acc = acc.wrapping_add(v[i]);
                } else {
                    acc = acc.wrapping_add(v[i]);
                    out[i] = acc;
                }
            }
        }
        Tensor::from_i64s(x.dtype(), x.shape(), &out)
    };
    Ok(vec![t.map_err(|e| e.to_string())?])
}

fn top_k(x: &Tensor, k: &Tensor, axis: i64, largest: bool) -> Result<Vec<Tensor>, String> {
    let a = norm_axis(axis, x.rank())?;
    let l = Lanes::new(x.shape(), a);
    let k = single_int(k, "k")?;
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| k <= l.len)
        .ok_or_else(|| {
            format!(
                "k = {k} is not in 0..={} (axis {a} of {:?})",
                l.len,
                x.shape()
            )
        })?;
    let mut shape = x.shape().to_vec();
    shape[a] = k;
    let vals = Vals::of(x);
    let size = x.dtype().size();
    let src = x.bytes();
    let n_out = l.outer * k * l.inner;
    let mut val_bytes = vec![0u8; n_out * size];
    let mut idx = vec![0i64; n_out];
    for lane_no in 0..l.count() {
        let lane = l.lane(lane_no);
        let mut order: Vec<usize> = (0..lane.len()).collect();
        // A stable sort keeps equal elements in index order.
        order.sort_by(|&p, &q| {
            let o = vals.cmp(lane[p], lane[q], true);
            if largest {
                o.reverse()
            } else {
                o
            }
        });
        let (o, i) = (lane_no / l.inner, lane_no % l.inner);
        for (j, &p) in order.iter().take(k).enumerate() {
            let dst = (o * k + j) * l.inner + i;
            idx[dst] = p as i64;
            val_bytes[dst * size..(dst + 1) * size]
                .copy_from_slice(&src[lane[p] * size..(lane[p] + 1) * size]);
        }
    }
    let values = Tensor::from_bytes(x.dtype(), &shape, &val_bytes).map_err(|e| e.to_string())?;
    let indices = Tensor::from_vec(&shape, idx).map_err(|e| e.to_string())?;
    Ok(vec![values, indices])
}
