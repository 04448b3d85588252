//! Result types of the ops that select, combine or resample elements: slice,
//! concat, split, the gather/scatter family, pad, one_hot, trilu, compress,
//! non_zero, reverse_sequence, resize.

use super::{axes, axis, index_dtype, known_ints, scalar_like, values, vector_len};
use crate::attr::AspectPolicy;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::infer::{arity, invalid, InferError, InferInput};
use crate::op::Op;
use crate::types::TensorType;

/// A constant at least this large (or this negative) in a slice bound means
/// "to the end": exporters write INT32_MAX or INT64_MAX.
const HUGE: i64 = i32::MAX as i64;

/// The static slice count (ONNX clamping), as the interpreter computes it.
pub(super) fn static_slice_count(start: i64, end: i64, step: i64, dim: i64) -> i64 {
    if dim <= 0 {
        return 0;
    }
    let (d, st) = (dim as i128, step as i128);
    let fix = |v: i64| if v < 0 { v as i128 + d } else { v as i128 };
    let (s, e) = (fix(start), fix(end));
    let n = if st > 0 {
        let (s, e) = (s.max(0).min(d), e.max(0).min(d));
        (e - s + st - 1).div_euclid(st)
    } else {
        let (s, e) = (s.min(d - 1).max(0), e.min(d - 1).max(-1));
        (s - e - st - 1).div_euclid(-st)
    };
    n.max(0) as i64
}

/// One slice bound resolved against dim `d`, clamped to `[lo, hi]`; symbolic
/// bounds and small constants on symbolic dims are assumed to lie inside.
fn bound(v: &Dim, d: &Dim, lo: Dim, hi: Dim) -> Option<Dim> {
    match v {
        Dim::Known(k) if *k >= HUGE => Some(hi),
        Dim::Known(k) if *k <= -HUGE => Some(lo),
        Dim::Known(k) => {
            let v = if *k < 0 { d.add(v) } else { v.clone() };
            match (v.as_known(), lo.as_known(), hi.as_known()) {
                (Some(v), Some(l), Some(h)) => Some(Dim::Known(v.min(h).max(l))),
                _ => Some(v),
            }
        }
        Dim::Sym(_) => Some(v.clone()),
        Dim::Unknown => None,
    }
}

/// The length of slicing dim `d` from `start` to `end` by `step`.
pub(super) fn slice_dim(d: &Dim, start: &Dim, end: &Dim, step: i64) -> Dim {
    if let (Some(dk), Some(s), Some(e)) = (d.as_known(), start.as_known(), end.as_known()) {
        return Dim::Known(static_slice_count(s, e, step, dk));
    }
    if *d == Dim::Unknown {
        return Dim::Unknown;
    }
    let one = Dim::Known(1);
    let (s, e) = if step > 0 {
        (
            bound(start, d, Dim::Known(0), d.clone()),
            bound(end, d, Dim::Known(0), d.clone()),
        )
    } else {
        (
            bound(start, d, Dim::Known(0), d.sub(&one)),
            bound(end, d, Dim::Known(-1), d.sub(&one)),
        )
    };
    let (Some(s), Some(e)) = (s, e) else {
        return Dim::Unknown;
    };
    let span = if step > 0 { e.sub(&s) } else { s.sub(&e) };
    match span.ceil_div(&Dim::Known(step.unsigned_abs().min(i64::MAX as u64) as i64)) {
        Dim::Known(n) => Dim::Known(n.max(0)),
        n => n,
    }
}

pub(super) fn slice(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 3, 5)?;
    let x = inputs[0].ty;
    let r = x.rank();
    let names = ["starts", "ends", "axes", "steps"];
    let mut n = None;
    for (inp, what) in inputs[1..].iter().zip(names) {
        if let Some(len) = vector_len(op, inp, what)? {
            if n.is_some_and(|n| n != len) {
                return Err(invalid(
                    op,
                    format!("{what} has {len} entries, the others {n:?}"),
                ));
            }
            n = Some(len);
        }
    }
    let list = match inputs.get(3) {
        Some(i) => known_ints(i),
        None => n.map(|n| (0..n as i64).collect()),
    };
    let Some(list) = list else {
        return Ok(x.with_shape(vec![Dim::Unknown; r]));
    };
    let ax = axes(op, &list, r)?;
    let steps = match inputs.get(4) {
        Some(i) => known_ints(i),
        None => Some(vec![1; ax.len()]),
    };
    if let Some(k) = steps.as_ref().and_then(|s| s.iter().position(|&v| v == 0)) {
        return Err(invalid(op, format!("steps[{k}] is 0")));
    }
    let (starts, ends) = (values(&inputs[1]), values(&inputs[2]));
    let mut out = x.shape.clone();
    for (k, &a) in ax.iter().enumerate() {
        let parts = (
            starts.as_ref().and_then(|v| v.get(k)),
            ends.as_ref().and_then(|v| v.get(k)),
            steps.as_ref().and_then(|v| v.get(k)),
        );
        out[a] = match parts {
            (Some(s), Some(e), Some(&st)) => slice_dim(&x.shape[a], s, e, st),
            _ => Dim::Unknown,
        };
    }
    Ok(x.with_shape(out))
}

/// The more precise of two dims that must be equal, or an error message.
fn merge(a: &Dim, b: &Dim) -> Option<Dim> {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) if x != y => None,
        (Dim::Known(_), _) => Some(a.clone()),
        (_, Dim::Known(_)) | (Dim::Unknown, _) => Some(b.clone()),
        _ => Some(a.clone()),
    }
}

pub(super) fn concat(op: &Op, inputs: &[InferInput], ax: i64) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, usize::MAX)?;
    let first = inputs[0].ty;
    let a = axis(op, ax, first.rank())?;
    let mut out = first.shape.clone();
    out[a] = Dim::Known(0);
    for (i, inp) in inputs.iter().enumerate() {
        let t = inp.ty;
        let bad = || {
            invalid(
                op,
                format!("operand {i} is {t}, which does not concatenate with {first} on axis {a}"),
            )
        };
        if t.dtype != first.dtype || t.rank() != first.rank() {
            return Err(bad());
        }
        for (k, (o, d)) in out.iter_mut().zip(&t.shape).enumerate() {
            *o = if k == a {
                o.add(d)
            } else {
                merge(o, d).ok_or_else(bad)?
            };
        }
    }
    Ok(first.with_shape(out))
}

pub(super) fn split(
    op: &Op,
    inputs: &[InferInput],
    ax: i64,
    splits: &[i64],
) -> Result<Vec<TensorType>, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let a = axis(op, ax, x.rank())?;
    if splits.is_empty() || splits.iter().any(|&s| s < 0) {
        return Err(invalid(
            op,
            format!("splits {splits:?} must be non-empty and non-negative"),
        ));
    }
    let total = splits.iter().try_fold(0i64, |t, &s| t.checked_add(s));
    if let Some(d) = x.shape[a].as_known() {
        if total != Some(d) {
            return Err(invalid(
                op,
                format!("splits {splits:?} do not sum to {d}, axis {a} of {x}"),
            ));
        }
    }
    Ok(splits
        .iter()
        .map(|&s| {
            let mut shape = x.shape.clone();
            shape[a] = Dim::Known(s);
            x.with_shape(shape)
        })
        .collect())
}

pub(super) fn gather(op: &Op, inputs: &[InferInput], ax: i64) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let (d, ind) = (inputs[0].ty, inputs[1].ty);
    index_dtype(op, &inputs[1], "indices")?;
    let a = axis(op, ax, d.rank())?;
    if let (Some(t), Some(n)) = (inputs[1].konst, d.shape[a].as_known()) {
        if let Some(&i) = t.to_i64s().iter().find(|&&i| i < -n || i >= n) {
            return Err(invalid(
                op,
                format!("index {i} is out of range for axis {a} of size {n}"),
            ));
        }
    }
    let out = d.shape[..a]
        .iter()
        .chain(&ind.shape)
        .chain(&d.shape[a + 1..])
        .cloned();
    Ok(d.with_shape(out.collect()))
}

pub(super) fn gather_elements(
    op: &Op,
    inputs: &[InferInput],
    ax: i64,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let (d, ind) = (inputs[0].ty, inputs[1].ty);
    index_dtype(op, &inputs[1], "indices")?;
    axis(op, ax, d.rank())?;
    if ind.rank() != d.rank() {
        return Err(invalid(
            op,
            format!("indices {ind} and data {d} differ in rank"),
        ));
    }
    Ok(d.with_shape(ind.shape.clone()))
}

/// Index tuple length of gather_nd/scatter_nd, checked against the data.
fn tuple_len(op: &Op, d: &TensorType, ind: &TensorType, b: usize) -> Result<usize, InferError> {
    let q = ind.rank();
    if q < 1 || b >= q || b >= d.rank() {
        return Err(invalid(
            op,
            format!("batch_dims {b} must be below the ranks of data {d} and indices {ind}"),
        ));
    }
    let k = ind.shape[q - 1]
        .as_known()
        .and_then(|k| usize::try_from(k).ok())
        .ok_or_else(|| invalid(op, format!("the last dim of indices {ind} must be static")))?;
    if k < 1 || b + k > d.rank() {
        return Err(invalid(
            op,
            format!("index tuples of length {k} do not fit data {d} after {b} batch dim(s)"),
        ));
    }
    Ok(k)
}

pub(super) fn gather_nd(
    op: &Op,
    inputs: &[InferInput],
    batch_dims: i64,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let (d, ind) = (inputs[0].ty, inputs[1].ty);
    index_dtype(op, &inputs[1], "indices")?;
    let b = usize::try_from(batch_dims)
        .map_err(|_| invalid(op, format!("batch_dims {batch_dims} < 0")))?;
    let k = tuple_len(op, d, ind, b)?;
    let out = ind.shape[..ind.rank() - 1]
        .iter()
        .chain(&d.shape[b + k..])
        .cloned();
    Ok(d.with_shape(out.collect()))
}

fn check_updates(op: &Op, d: &TensorType, u: &TensorType) -> Result<(), InferError> {
    if u.dtype != d.dtype {
        return Err(invalid(
            op,
            format!("updates {u} and data {d} differ in dtype"),
        ));
    }
    Ok(())
}

pub(super) fn scatter_elements(
    op: &Op,
    inputs: &[InferInput],
    ax: i64,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 3, 3)?;
    let (d, ind, u) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
    index_dtype(op, &inputs[1], "indices")?;
    axis(op, ax, d.rank())?;
    check_updates(op, d, u)?;
    if ind.rank() != d.rank() || u.rank() != d.rank() {
        return Err(invalid(
            op,
            format!("data {d}, indices {ind} and updates {u} must have one rank"),
        ));
    }
    Ok(d.clone())
}

pub(super) fn scatter_nd(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 3, 3)?;
    let (d, ind, u) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
    index_dtype(op, &inputs[1], "indices")?;
    check_updates(op, d, u)?;
    let k = tuple_len(op, d, ind, 0)?;
    if u.rank() != ind.rank() - 1 + d.rank() - k {
        return Err(invalid(
            op,
            format!("updates {u} do not match indices {ind} and data {d}"),
        ));
    }
    Ok(d.clone())
}

pub(super) fn pad(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 3)?;
    let x = inputs[0].ty;
    let r = x.rank();
    if let Some(n) = vector_len(op, &inputs[1], "pads")? {
        if n != 2 * r {
            return Err(invalid(
                op,
                format!("pads has {n} entries; {x} needs {}", 2 * r),
            ));
        }
    }
    if let Some(c) = inputs.get(2) {
        let empty = c.ty.known_numel() == Some(0);
        if !empty && (c.ty.dtype != x.dtype || scalar_like(op, c, "constant_value").is_err()) {
            return Err(invalid(
                op,
                format!("constant_value {} must be one {}", c.ty, x.dtype),
            ));
        }
    }
    let Some(p) = values(&inputs[1]) else {
        return Ok(x.with_shape(vec![Dim::Unknown; r]));
    };
    let mut out = Vec::with_capacity(r);
    for a in 0..r {
        let d = x.shape[a].add(&p[a]).add(&p[r + a]);
        if let Some(v) = d.as_known().filter(|&v| v < 0) {
            return Err(invalid(
                op,
                format!("pads remove more than axis {a} of {x} holds ({v})"),
            ));
        }
        out.push(d);
    }
    Ok(x.with_shape(out))
}

pub(super) fn one_hot(op: &Op, inputs: &[InferInput], ax: i64) -> Result<TensorType, InferError> {
    arity(op, inputs, 3, 3)?;
    let (ind, depth, v) = (inputs[0].ty, &inputs[1], inputs[2].ty);
    if !ind.dtype.is_numeric() || !depth.ty.dtype.is_numeric() {
        return Err(invalid(
            op,
            format!("indices {ind} and depth {} must be numeric", depth.ty),
        ));
    }
    scalar_like(op, depth, "depth")?;
    if v.rank() != 1 || !v.shape[0].compatible(&Dim::Known(2)) {
        return Err(invalid(op, format!("values must be [off, on], not {v}")));
    }
    let a = axis(op, ax, ind.rank() + 1)?;
    let dd = match depth.konst {
        Some(t) => Dim::Known(t.to_i64s()[0]),
        None => values(depth)
            .and_then(|v| v.first().cloned())
            .unwrap_or(Dim::Unknown),
    };
    if let Some(k) = dd.as_known().filter(|&k| k < 0) {
        return Err(invalid(op, format!("depth {k} is negative")));
    }
    let mut out = ind.shape.clone();
    out.insert(a, dd);
    Ok(TensorType::new(v.dtype, out))
}

pub(super) fn trilu(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 2)?;
    if inputs[0].ty.rank() < 2 {
        return Err(invalid(
            op,
            format!("trilu needs rank ≥ 2, not {}", inputs[0].ty),
        ));
    }
    if let Some(k) = inputs.get(1) {
        index_dtype(op, k, "k")?;
        scalar_like(op, k, "k")?;
    }
    Ok(inputs[0].ty.clone())
}

pub(super) fn compress(
    op: &Op,
    inputs: &[InferInput],
    ax: Option<i64>,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let (x, c) = (inputs[0].ty, inputs[1].ty);
    if c.rank() != 1 {
        return Err(invalid(op, format!("condition must be 1-D, not {c}")));
    }
    let count = inputs[1].konst.map_or(Dim::Unknown, |t| {
        Dim::Known(t.to_bools().iter().filter(|&&b| b).count() as i64)
    });
    match ax {
        None => Ok(x.with_shape(vec![count])),
        Some(ax) => {
            let a = axis(op, ax, x.rank())?;
            let mut out = x.shape.clone();
            out[a] = count;
            Ok(x.with_shape(out))
        }
    }
}

pub(super) fn non_zero(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let count = inputs[0].konst.map_or(Dim::Unknown, |t| {
        Dim::Known(t.to_bools().iter().filter(|&&b| b).count() as i64)
    });
    Ok(TensorType::new(
        DType::I64,
        [Dim::Known(x.rank() as i64), count],
    ))
}

pub(super) fn reverse_sequence(
    op: &Op,
    inputs: &[InferInput],
    b: i64,
    t: i64,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let x = inputs[0].ty;
    if x.rank() < 2 {
        return Err(invalid(
            op,
            format!("reverse_sequence needs rank ≥ 2, not {x}"),
        ));
    }
    let ax = axes(op, &[b, t], x.rank())?;
    vector_len(op, &inputs[1], "sequence_lens")?;
    if !inputs[1].ty.shape[0].compatible(&x.shape[ax[0]]) {
        return Err(invalid(
            op,
            format!(
                "sequence_lens {} needs one entry per batch of {x}",
                inputs[1].ty
            ),
        ));
    }
    Ok(x.clone())
}

/// `floor(scale * d)` on a possibly symbolic dim.
fn scaled(d: &Dim, scale: f64) -> Dim {
    if let Some(k) = d.as_known() {
        return Dim::Known((scale * k as f64).floor() as i64);
    }
    if scale.fract() == 0.0 && scale < 1e9 {
        return d.mul(&Dim::Known(scale as i64));
    }
    let inv = 1.0 / scale;
    if inv.fract() == 0.0 && inv < 1e9 {
        return d.floor_div(&Dim::Known(inv as i64));
    }
    Dim::Unknown
}

pub(super) fn resize(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    let Op::Resize {
        axes: list,
        keep_aspect_ratio_policy: policy,
        ..
    } = op
    else {
        unreachable!("select::resize called with {}", op.name())
    };
    arity(op, inputs, 1, 4)?;
    let x = inputs[0].ty;
    let r = x.rank();
    let ax: Vec<usize> = if list.is_empty() {
        (0..r).collect()
    } else {
        axes(op, list, r)?
    };
    let numel = |k: usize| inputs.get(k).map_or(Some(0), |i| i.ty.known_numel());
    let mut out = x.shape.clone();
    let unknown = |mut out: Vec<Dim>| {
        ax.iter().for_each(|&a| out[a] = Dim::Unknown);
        Ok(x.with_shape(out))
    };
    match (numel(2), numel(3)) {
        (Some(0), Some(0)) => Err(invalid(op, "one of scales and sizes must be non-empty")),
        (Some(a), Some(b)) if a > 0 && b > 0 => Err(invalid(op, "give scales or sizes, not both")),
        (Some(n), Some(0)) => {
            if n != ax.len() {
                return Err(invalid(
                    op,
                    format!("scales need one entry per axis {ax:?}"),
                ));
            }
            let Some(sc) = inputs[2].konst.map(|t| t.to_f64s()) else {
                return unknown(out);
            };
            for (&a, &s) in ax.iter().zip(&sc) {
                if s.is_nan() || s <= 0.0 {
                    return Err(invalid(op, format!("scale {s} must be positive")));
                }
                out[a] = scaled(&x.shape[a], s);
            }
            Ok(x.with_shape(out))
        }
        (Some(0), Some(n)) => {
            if n != ax.len() {
                return Err(invalid(op, format!("sizes need one entry per axis {ax:?}")));
            }
            let Some(sz) = values(&inputs[3]) else {
                return unknown(out);
            };
            if *policy == AspectPolicy::Stretch {
                ax.iter().zip(sz).for_each(|(&a, d)| out[a] = d);
                return Ok(x.with_shape(out));
            }
            let known: Option<Vec<(f64, f64)>> = ax
                .iter()
                .zip(&sz)
                .map(|(&a, d)| Some((x.shape[a].as_known()? as f64, d.as_known()? as f64)))
                .collect();
            let Some(known) = known else {
                return unknown(out);
            };
            let ratios = known.iter().map(|(i, o)| o / i);
            let k = if *policy == AspectPolicy::NotLarger {
                ratios.fold(f64::INFINITY, f64::min)
            } else {
                ratios.fold(f64::NEG_INFINITY, f64::max)
            };
            for (&a, (i, _)) in ax.iter().zip(&known) {
                out[a] = Dim::Known((k * i + 0.5).floor() as i64);
            }
            Ok(x.with_shape(out))
        }
        _ => unknown(out),
    }
}
