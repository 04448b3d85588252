//! Semantics of the movement ops: reshaping, reordering, selecting, padding,
//! scattering and resampling elements.
//!
//! Assumptions: none about the operands — constant folding calls this on
//! whatever a graph holds, so every count, dtype and value it relies on is
//! checked here again and reported as an `Err` naming the operand.
//!
//! Guarantees: data movement copies raw element bytes (`DType::size` each), so
//! one code path serves every dtype and NaN payloads and -0.0 survive
//! unchanged. Index operands may be i32 or i64; a negative index wraps once
//! (`index + dim`) and an index still outside `0..dim` is an error naming the
//! index, the axis and the dim. Output tensors are allocated with
//! `Tensor::zeros` (which checks the size) before any per-element work.
//!
//! Files: `layout` (reshape family, transpose, expand, tile, concat, split,
//! depth/space), `window` (slice, pad, trilu, eye_like, reverse_sequence),
//! `index` (gather/scatter family, one_hot, compress, non_zero), `shape`
//! (shape, size, range, constant_of_shape), `resize`.

mod index;
mod layout;
mod resize;
mod shape;
mod window;

#[cfg(test)]
mod resize_tests;
#[cfg(test)]
mod tests;

use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::{Tensor, TensorError};

pub(crate) fn eval(op: &Op, x: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let t = match op {
        Op::Identity => {
            arity(x, 1, 1)?;
            x[0].clone()
        }
        Op::Reshape { allowzero } => layout::reshape(x, *allowzero)?,
        Op::Flatten { axis } => layout::flatten(x, *axis)?,
        Op::Transpose { perm } => layout::transpose(x, perm)?,
        Op::Squeeze { axes } => layout::squeeze(x, axes)?,
        Op::Unsqueeze { axes } => layout::unsqueeze(x, axes)?,
        Op::Expand => layout::expand(x)?,
        Op::Tile => layout::tile(x)?,
        Op::Concat { axis } => layout::concat(x, *axis)?,
        Op::Split { axis, splits } => return layout::split(x, *axis, splits),
        Op::DepthToSpace { blocksize, mode } => layout::depth_to_space(x, *blocksize, *mode)?,
        Op::SpaceToDepth { blocksize, mode } => layout::space_to_depth(x, *blocksize, *mode)?,
        Op::Slice => window::slice(x)?,
        Op::Pad { mode } => window::pad(x, *mode)?,
        Op::Trilu { upper } => window::trilu(x, *upper)?,
        Op::EyeLike { dtype, k } => window::eye_like(x, *dtype, *k)?,
        Op::ReverseSequence {
            batch_axis,
            time_axis,
        } => window::reverse_sequence(x, *batch_axis, *time_axis)?,
        Op::Gather { axis } => index::gather(x, *axis)?,
        Op::GatherElements { axis } => index::gather_elements(x, *axis)?,
        Op::GatherNd { batch_dims } => index::gather_nd(x, *batch_dims)?,
        Op::ScatterElements { axis, reduction } => index::scatter_elements(x, *axis, *reduction)?,
        Op::ScatterNd { reduction } => index::scatter_nd(x, *reduction)?,
        Op::OneHot { axis } => index::one_hot(x, *axis)?,
        Op::Compress { axis } => index::compress(x, *axis)?,
        Op::NonZero => index::non_zero(x)?,
        Op::Shape { start, end } => shape::shape(x, *start, *end)?,
        Op::Size => shape::size(x)?,
        Op::Range => shape::range(x)?,
        Op::ConstantOfShape { value } => shape::constant_of_shape(x, value)?,
        Op::Resize { .. } => resize::resize(op, x)?,
        _ => unreachable!("`{}` is not a movement op", op.name()),
    };
    Ok(vec![t])
}

// ---- Helpers shared by the files of this group ----------------------------

pub(super) fn arity(x: &[&Tensor], min: usize, max: usize) -> Result<(), String> {
    if x.len() < min || x.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!("takes {want} operand(s) but was given {}", x.len()));
    }
    Ok(())
}

pub(super) fn terr(e: TensorError) -> String {
    e.to_string()
}

/// The elements of an index or shape operand, which must be i32 or i64.
pub(super) fn index_values(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    if !matches!(t.dtype(), DType::I32 | DType::I64) {
        return Err(format!("{what} must be i32 or i64, not {}", t.dtype()));
    }
    Ok(t.to_i64s())
}

/// The elements of a 1-D (or, where ONNX allows it, 0-D) i32/i64 operand.
pub(super) fn vector(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    if t.rank() > 1 {
        return Err(format!("{what} must be 1-D, not of shape {:?}", t.shape()));
    }
    index_values(t, what)
}

/// The one element of a scalar (or 1-element) operand.
pub(super) fn single(t: &Tensor, what: &str) -> Result<i64, String> {
    match index_values(t, what)?.as_slice() {
        [v] => Ok(*v),
        _ => Err(format!(
            "{what} must hold exactly one element, not shape {:?}",
            t.shape()
        )),
    }
}

/// Wrap a possibly negative index once against `dim`.
pub(super) fn wrap_index(i: i64, dim: usize, axis: usize) -> Result<usize, String> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    if j < 0 || j >= d {
        return Err(format!(
            "index {i} is out of range for axis {axis} of size {dim}"
        ));
    }
    Ok(j as usize)
}

/// Normalize an attribute axis; `what` names the attribute in errors.
pub(super) fn axis_of(axis: i64, rank: usize) -> Result<usize, String> {
    super::norm_axis(axis, rank)
}

/// Normalize a list of axes against `rank`, rejecting repeats.
pub(super) fn axes_of(axes: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let mut out: Vec<usize> = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = axis_of(a, rank)?;
        if out.contains(&n) {
            return Err(format!("axis {a} appears twice in {axes:?}"));
        }
        out.push(n);
    }
    Ok(out)
}

/// Calls `f(flat, index)` for every multi-index of `shape` in row-major order.
pub(super) fn for_each_index(
    shape: &[usize],
    mut f: impl FnMut(usize, &[usize]) -> Result<(), String>,
) -> Result<(), String> {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for flat in 0..n {
        f(flat, &idx)?;
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Ok(())
}

/// A tensor of `dtype` and `shape` whose element at each multi-index is the
/// element of `src` that `pick` names (a flat index), or `fill` when `pick`
/// gives `None`. `fill` must be one element of `dtype` (unused if `pick`
/// never returns `None`).
pub(super) fn build(
    src: &Tensor,
    shape: &[usize],
    fill: Option<&[u8]>,
    mut pick: impl FnMut(&[usize]) -> Result<Option<usize>, String>,
) -> Result<Tensor, String> {
    let es = src.dtype().size();
    let mut out = Tensor::zeros(src.dtype(), shape).map_err(terr)?;
    let from = src.bytes();
    let to = out.bytes_mut();
    for_each_index(shape, |flat, idx| {
        let dst = &mut to[flat * es..(flat + 1) * es];
        match pick(idx)? {
            Some(s) => dst.copy_from_slice(&from[s * es..(s + 1) * es]),
            None => match fill {
                Some(f) => dst.copy_from_slice(f),
                None => unreachable!("pick returned None without a fill value"),
            },
        }
        Ok(())
    })?;
    Ok(out)
}

/// The flat index of multi-index `idx` under row-major `strides`.
pub(super) fn flat_of(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}
