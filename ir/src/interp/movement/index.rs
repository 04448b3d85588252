//! Ops driven by index or mask tensors: gather, gather_elements, gather_nd,
//! scatter_elements, scatter_nd, one_hot, compress, non_zero.
//!
//! Every index is validated before any element moves, so an error never
//! leaves a half-written result. Scatter applies updates in row-major order of
//! the indices; with reduction `none` a repeated index keeps the last update
//! (ONNX leaves this undefined). Reductions on integers wrap, on floats
//! follow IEEE (max/min propagate NaN), on bool add/max are `or` and mul/min
//! are `and`.

use super::{arity, axis_of, build, flat_of, for_each_index, index_values, terr, wrap_index};
use crate::attr::ScatterReduction;
use crate::dtype::DType;
use crate::interp::strides;
use crate::tensor::{Elem, Tensor};
use crate::with_dtype;

pub(super) fn gather(x: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let s = x[0].shape();
    let a = axis_of(axis, s.len())?;
    let idx: Vec<usize> = index_values(x[1], "indices")?
        .into_iter()
        .map(|i| wrap_index(i, s[a], a))
        .collect::<Result<_, _>>()?;
    let q = x[1].rank();
    let out: Vec<usize> = s[..a]
        .iter()
        .chain(x[1].shape())
        .chain(&s[a + 1..])
        .copied()
        .collect();
    let st = strides(s);
    let ist = strides(x[1].shape());
    build(x[0], &out, None, |i| {
        let j = idx[flat_of(&i[a..a + q], &ist)];
        let outer = flat_of(&i[..a], &st[..a]);
        let inner = flat_of(&i[a + q..], &st[a + 1..]);
        Ok(Some(outer + j * st[a] + inner))
    })
}

/// Checks that `indices` (and `what`) match `data` in rank and fit inside it
/// on every axis but `axis`.
fn check_elementwise_shape(data: &[usize], ind: &[usize], axis: usize) -> Result<(), String> {
    let fits = ind.len() == data.len() && (0..ind.len()).all(|k| k == axis || ind[k] <= data[k]);
    if !fits {
        return Err(format!(
            "indices of shape {ind:?} do not fit data of shape {data:?} (axis {axis})"
        ));
    }
    Ok(())
}

pub(super) fn gather_elements(x: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let s = x[0].shape();
    let a = axis_of(axis, s.len())?;
    check_elementwise_shape(s, x[1].shape(), a)?;
    let idx: Vec<usize> = index_values(x[1], "indices")?
        .into_iter()
        .map(|i| wrap_index(i, s[a], a))
        .collect::<Result<_, _>>()?;
    let st = strides(s);
    let ist = strides(x[1].shape());
    build(x[0], x[1].shape(), None, |i| {
        let j = idx[flat_of(i, &ist)];
        Ok(Some(flat_of(i, &st) - i[a] * st[a] + j * st[a]))
    })
}

/// For gather_nd/scatter_nd: the element offset into `data` (of shape `s`)
/// of each index tuple (the last axis of `indices`), after `b` batch dims.
fn nd_offsets(s: &[usize], ind: &Tensor, b: usize) -> Result<Vec<usize>, String> {
    let is = ind.shape();
    let q = is.len();
    if q < 1 || b >= q || b >= s.len() {
        return Err(format!(
            "batch_dims {b} must be below the ranks of data {s:?} and indices {is:?}"
        ));
    }
    if is[..b] != s[..b] {
        return Err(format!(
            "the first {b} dims of indices {is:?} and data {s:?} differ"
        ));
    }
    let k = is[q - 1];
    if k < 1 || b + k > s.len() {
        return Err(format!(
            "index tuples of length {k} do not fit data of shape {s:?} after {b} batch dim(s)"
        ));
    }
    let vals = index_values(ind, "indices")?;
    let st = strides(s);
    let batch_size: usize = s[b..].iter().product();
    let tuples = vals.len() / k;
    let per_batch = if b == 0 {
        tuples
    } else {
        tuples / is[..b].iter().product::<usize>().max(1)
    };
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let mut off = (t / per_batch.max(1)) * batch_size;
        for j in 0..k {
            let a = b + j;
            off += wrap_index(vals[t * k + j], s[a], a)? * st[a];
        }
        offs.push(off);
    }
    Ok(offs)
}

pub(super) fn gather_nd(x: &[&Tensor], batch_dims: i64) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let s = x[0].shape();
    let b = usize::try_from(batch_dims).map_err(|_| format!("batch_dims {batch_dims} < 0"))?;
    let offs = nd_offsets(s, x[1], b)?;
    let is = x[1].shape();
    let k = is[is.len() - 1];
    let out: Vec<usize> = is[..is.len() - 1]
        .iter()
        .chain(&s[b + k..])
        .copied()
        .collect();
    let chunk: usize = s[b + k..].iter().product();
    let es = x[0].dtype().size();
    let mut t = Tensor::zeros(x[0].dtype(), &out).map_err(terr)?;
    let (src, dst) = (x[0].bytes(), t.bytes_mut());
    let w = chunk * es;
    for (n, &off) in offs.iter().enumerate() {
        dst[n * w..(n + 1) * w].copy_from_slice(&src[off * es..off * es + w]);
    }
    Ok(t)
}

fn combine<T: Elem>(red: ScatterReduction, a: T, b: T) -> T {
    let float = T::DTYPE.is_float();
    match red {
        ScatterReduction::None => b,
        ScatterReduction::Add if float => T::from_f64(a.to_f64() + b.to_f64()),
        ScatterReduction::Add => T::from_i64(a.to_i64().wrapping_add(b.to_i64())),
        ScatterReduction::Mul if float => T::from_f64(a.to_f64() * b.to_f64()),
        ScatterReduction::Mul => T::from_i64(a.to_i64().wrapping_mul(b.to_i64())),
        ScatterReduction::Max | ScatterReduction::Min => {
            let (x, y) = (a.to_f64(), b.to_f64());
            if float && (x.is_nan() || y.is_nan()) {
                return if x.is_nan() { a } else { b };
            }
            let b_wins = if float {
                (red == ScatterReduction::Max) == (y > x)
            } else {
                (red == ScatterReduction::Max) == (b.to_i64() > a.to_i64())
            };
            if b_wins && a != b {
                b
            } else {
                a
            }
        }
    }
}

/// `data` with `updates[src]` combined into element `dst` for each pair.
fn apply(
    data: &Tensor,
    updates: &Tensor,
    red: ScatterReduction,
    pairs: &[(usize, usize)],
) -> Result<Tensor, String> {
    let dt = data.dtype();
    if updates.dtype() != dt {
        return Err(format!("updates are {} but data is {dt}", updates.dtype()));
    }
    let mut out = data.clone();
    if dt == DType::Bool {
        let u = updates.bytes();
        let o = out.bytes_mut();
        for &(d, s) in pairs {
            let (x, y) = (o[d] != 0, u[s] != 0);
            let v = match red {
                ScatterReduction::None => y,
                ScatterReduction::Add | ScatterReduction::Max => x || y,
                ScatterReduction::Mul | ScatterReduction::Min => x && y,
            };
            o[d] = u8::from(v);
        }
        return Ok(out);
    }
    with_dtype!(dt, T, {
        let u = updates.as_slice::<T>().map_err(terr)?;
        let o = out.as_mut_slice::<T>().map_err(terr)?;
        for &(d, s) in pairs {
            o[d] = combine(red, o[d], u[s]);
        }
    });
    Ok(out)
}

pub(super) fn scatter_elements(
    x: &[&Tensor],
    axis: i64,
    red: ScatterReduction,
) -> Result<Tensor, String> {
    arity(x, 3, 3)?;
    let s = x[0].shape();
    let a = axis_of(axis, s.len())?;
    let is = x[1].shape();
    check_elementwise_shape(s, is, a)?;
    if x[2].shape() != is {
        return Err(format!(
            "updates of shape {:?} must match indices of shape {is:?}",
            x[2].shape()
        ));
    }
    let vals = index_values(x[1], "indices")?;
    let st = strides(s);
    let mut pairs = Vec::with_capacity(vals.len());
    for_each_index(is, |n, i| {
        let j = wrap_index(vals[n], s[a], a)?;
        pairs.push((flat_of(i, &st) - i[a] * st[a] + j * st[a], n));
        Ok(())
    })?;
    apply(x[0], x[2], red, &pairs)
}

pub(super) fn scatter_nd(x: &[&Tensor], red: ScatterReduction) -> Result<Tensor, String> {
    arity(x, 3, 3)?;
    let s = x[0].shape();
    let offs = nd_offsets(s, x[1], 0)?;
    let is = x[1].shape();
    let k = is[is.len() - 1];
    let want: Vec<usize> = is[..is.len() - 1].iter().chain(&s[k..]).copied().collect();
    if x[2].shape() != want {
        return Err(format!(
            "updates of shape {:?} must have shape {want:?} for indices {is:?} and data {s:?}",
            x[2].shape()
        ));
    }
    let chunk: usize = s[k..].iter().product();
    let pairs: Vec<(usize, usize)> = offs
        .iter()
        .enumerate()
        .flat_map(|(n, &off)| (0..chunk).map(move |e| (off + e, n * chunk + e)))
        .collect();
    apply(x[0], x[2], red, &pairs)
}

pub(super) fn one_hot(x: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    arity(x, 3, 3)?;
    let is = x[0].shape();
    if !x[0].dtype().is_numeric() || !x[1].dtype().is_numeric() {
        return Err("indices and depth must be numeric".into());
    }
    let depth = match x[1].to_i64s().as_slice() {
        [d] if *d >= 0 => *d as usize,
        _ => {
            return Err(format!(
                "depth must be one non-negative number, not {:?}",
                x[1]
            ))
        }
    };
    if x[2].numel() != 2 || x[2].rank() != 1 {
        return Err(format!(
            "values must be [off, on] (2 elements), not shape {:?}",
            x[2].shape()
        ));
    }
    let a = axis_of(axis, is.len() + 1)?;
    let mut out = is.to_vec();
    out.insert(a, depth);
    let idx = x[0].to_i64s();
    let ist = strides(is);
    let d = depth as i64;
    build(x[2], &out, None, |i| {
        let mut rest = i.to_vec();
        let k = rest.remove(a) as i64;
        let v = idx[flat_of(&rest, &ist)];
        let v = if v < 0 { v + d } else { v };
        Ok(Some(usize::from(v == k)))
    })
}

pub(super) fn compress(x: &[&Tensor], axis: Option<i64>) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    if x[1].rank() != 1 {
        return Err(format!("condition must be 1-D, not {:?}", x[1].shape()));
    }
    let cond = x[1].to_bools();
    let data = match axis {
        Some(_) => x[0].clone(),
        None => x[0].reshaped(&[x[0].numel()]).map_err(terr)?,
    };
    let s = data.shape();
    let a = axis_of(axis.unwrap_or(0), s.len())?;
    if let Some(p) = (s[a]..cond.len()).find(|&p| cond[p]) {
        return Err(format!(
            "condition[{p}] is true but axis {a} has only {} elements",
            s[a]
        ));
    }
    let keep: Vec<usize> = (0..s[a].min(cond.len())).filter(|&p| cond[p]).collect();
    let mut out = s.to_vec();
    out[a] = keep.len();
    let st = strides(s);
    build(&data, &out, None, |i| {
        Ok(Some(flat_of(i, &st) - i[a] * st[a] + keep[i[a]] * st[a]))
    })
}

pub(super) fn non_zero(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let mut coords: Vec<Vec<i64>> = vec![vec![]; s.len()];
    let nz = x[0].to_bools();
    let mut count = 0;
    for_each_index(s, |n, i| {
        if nz[n] {
            count += 1;
            for (d, &c) in i.iter().enumerate() {
                coords[d].push(c as i64);
            }
        }
        Ok(())
    })?;
    let flat: Vec<i64> = coords.into_iter().flatten().collect();
    Tensor::from_vec(&[s.len(), count], flat).map_err(terr)
}
