//! Result types for the movement ops, and [`eval_dims`]: the *values* of the
//! small integer results (shape vectors) these ops compute.
//!
//! Inference is symbolic: where an op reads an operand's values (reshape's
//! shape, slice's starts/ends, expand's shape, ...) it uses
//! `InferInput::dims` (the elements of a rank-0/1 integer operand, possibly
//! symbolic, e.g. computed from `shape %x`) or the constant. When the values
//! are not known the result keeps the right rank with `?` dims.
//!
//! Assumptions made where ONNX leaves a symbolic case open (the runtime type
//! check catches a violation): a symbolic dim is never 0 or 1 unless it says
//! so, and a slice bound that is symbolic, or a small constant applied to a
//! symbolic dim, lies inside the dim (`x[:, :seq]` on `f32[b,max]` gives
//! `seq`; `x[:, 1:]` on `f32[b,seq]` gives `seq-1`).
//!
//! Files: `shapes` (reshape family, transpose, expand, tile, shape, size,
//! range, constant_of_shape, eye_like, depth/space), `select` (slice, concat,
//! split, gather/scatter family, pad, one_hot, trilu, compress, non_zero,
//! reverse_sequence, resize), `dims` ([`eval_dims`]).

mod dims;
mod select;
mod shapes;

#[cfg(test)]
mod tests;

/// Values of movement ops on known integer vectors; called by
/// `infer::eval_dims` for this group.
pub(crate) use dims::eval_dims;

use super::{arity, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let t = match op {
        Op::Identity => {
            arity(op, inputs, 1, 1)?;
            inputs[0].ty.clone()
        }
        Op::Reshape { allowzero } => shapes::reshape(op, inputs, *allowzero)?,
        Op::Flatten { axis } => shapes::flatten(op, inputs, *axis)?,
        Op::Transpose { perm } => shapes::transpose(op, inputs, perm)?,
        Op::Squeeze { axes } => shapes::squeeze(op, inputs, axes)?,
        Op::Unsqueeze { axes } => shapes::unsqueeze(op, inputs, axes)?,
        Op::Expand => shapes::expand(op, inputs)?,
        Op::Tile => shapes::tile(op, inputs)?,
        Op::Shape { start, end } => shapes::shape(op, inputs, *start, *end)?,
        Op::Size => {
            arity(op, inputs, 1, 1)?;
            TensorType::scalar(DType::I64)
        }
        Op::Range => shapes::range(op, inputs)?,
        Op::ConstantOfShape { value } => shapes::constant_of_shape(op, inputs, value)?,
        Op::EyeLike { dtype, .. } => shapes::eye_like(op, inputs, *dtype)?,
        Op::DepthToSpace { blocksize, .. } => shapes::depth_to_space(op, inputs, *blocksize)?,
        Op::SpaceToDepth { blocksize, .. } => shapes::space_to_depth(op, inputs, *blocksize)?,
        Op::Split { axis, splits } => return select::split(op, inputs, *axis, splits),
        Op::Slice => select::slice(op, inputs)?,
        Op::Concat { axis } => select::concat(op, inputs, *axis)?,
        Op::Gather { axis } => select::gather(op, inputs, *axis)?,
        Op::GatherElements { axis } => select::gather_elements(op, inputs, *axis)?,
        Op::GatherNd { batch_dims } => select::gather_nd(op, inputs, *batch_dims)?,
        Op::ScatterElements { axis, .. } => select::scatter_elements(op, inputs, *axis)?,
        Op::ScatterNd { .. } => select::scatter_nd(op, inputs)?,
        Op::Pad { .. } => select::pad(op, inputs)?,
        Op::OneHot { axis } => select::one_hot(op, inputs, *axis)?,
        Op::Trilu { .. } => select::trilu(op, inputs)?,
        Op::Compress { axis } => select::compress(op, inputs, *axis)?,
        Op::NonZero => select::non_zero(op, inputs)?,
        Op::ReverseSequence {
            batch_axis,
            time_axis,
        } => select::reverse_sequence(op, inputs, *batch_axis, *time_axis)?,
        Op::Resize { .. } => select::resize(op, inputs)?,
        _ => unreachable!("`{}` is not a movement op", op.name()),
    };
    Ok(vec![t])
}

// ---- Helpers shared by the files of this group ----------------------------

/// The known elements of a rank-0/1 integer operand: the tracked dims, or the
/// constant's elements.
pub(super) fn values(inp: &InferInput) -> Option<Vec<Dim>> {
    match inp.dims {
        Some(d) => Some(d.to_vec()),
        None => inp.konst.and_then(super::const_dims),
    }
}

/// The elements of a rank-0/1 integer operand when all are static.
pub(super) fn known_ints(inp: &InferInput) -> Option<Vec<i64>> {
    values(inp)?.iter().map(Dim::as_known).collect()
}

/// Checks that an index or shape operand is i32 or i64.
pub(super) fn index_dtype(op: &Op, inp: &InferInput, what: &str) -> Result<(), InferError> {
    if !matches!(inp.ty.dtype, DType::I32 | DType::I64) {
        return Err(invalid(
            op,
            format!("{what} must be i32 or i64, not {}", inp.ty),
        ));
    }
    Ok(())
}

/// Checks a 1-D i32/i64 operand and returns its length (`None` if symbolic
/// or unknown and its values are not known either).
pub(super) fn vector_len(
    op: &Op,
    inp: &InferInput,
    what: &str,
) -> Result<Option<usize>, InferError> {
    index_dtype(op, inp, what)?;
    if inp.ty.rank() != 1 {
        return Err(invalid(op, format!("{what} must be 1-D, not {}", inp.ty)));
    }
    if let Some(v) = values(inp) {
        return Ok(Some(v.len()));
    }
    Ok(inp.ty.shape[0]
        .as_known()
        .and_then(|n| usize::try_from(n).ok()))
}

/// Checks that an operand holds one element (a scalar or a 1-element vector).
pub(super) fn scalar_like(op: &Op, inp: &InferInput, what: &str) -> Result<(), InferError> {
    let ok =
        inp.ty.rank() == 0 || (inp.ty.rank() == 1 && inp.ty.shape[0].compatible(&Dim::Known(1)));
    if !ok {
        return Err(invalid(
            op,
            format!("{what} must be a scalar, not {}", inp.ty),
        ));
    }
    Ok(())
}

pub(super) fn axis(op: &Op, axis: i64, rank: usize) -> Result<usize, InferError> {
    super::norm_axis(axis, rank).map_err(|m| invalid(op, m))
}

/// Normalize axes against `rank`, rejecting repeats.
pub(super) fn axes(op: &Op, list: &[i64], rank: usize) -> Result<Vec<usize>, InferError> {
    let mut out: Vec<usize> = Vec::with_capacity(list.len());
    for &a in list {
        let n = axis(op, a, rank)?;
        if out.contains(&n) {
            return Err(invalid(op, format!("axis {a} appears twice in {list:?}")));
        }
        out.push(n);
    }
    Ok(out)
}

/// The product of some dims.
pub(super) fn product<'a>(dims: impl IntoIterator<Item = &'a Dim>) -> Dim {
    dims.into_iter().fold(Dim::Known(1), |a, d| a.mul(d))
}

/// `[start, end)` of `shape {start, end}` on a rank-`r` operand (ONNX clamps).
pub(super) fn shape_window(start: i64, end: Option<i64>, r: usize) -> (usize, usize) {
    let ri = r as i64;
    let clamp = |v: i64| {
        let v = if v < 0 { v.saturating_add(ri) } else { v };
        v.clamp(0, ri) as usize
    };
    let s = clamp(start);
    (s, clamp(end.unwrap_or(ri)).max(s))
}
