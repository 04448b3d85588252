//! Result types for the vision ops (semantics in `interp/vision/`).
//!
//! - `grid_sample %x, %grid`: x `[N,C,D1..Dr]`, grid `[N,H1..Hr,r]` → `[N,C,H1..Hr]`.
//! - `affine_grid %theta, %size`: theta `[N,r,r+1]` (r = 2, 3), size the
//!   `r+2` values `[N,C,D1..Dr]` → `[N,D1..Dr,r]` (dims from the known, possibly
//!   symbolic, values of `size`; `?` when unknown).
//! - `non_max_suppression` → `i64[?,3]` (data dependent).
//! - `roi_align %x, %rois, %batch_indices` → `[R,C,output_height,output_width]`.
//! - `deform_conv %x, %w, %offset[, %b[, %mask]]` → `[N,OC,O..]` with O the
//!   offset's spatial dims (the runtime checks them against the conv geometry).
//! - `col2im %x, %image_shape, %block_shape` → `[N, C/prod(block), image..]`.
//! - `max_unpool %x, %indices[, %output_shape]` → `output_shape`, or
//!   `(in-1)*stride - pads + kernel` per spatial axis.
//!
//! Floats only for the sampled data; integer operands as i32/i64.

#[cfg(test)]
mod tests;

use super::{arity, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let t = match op {
        Op::GridSample { padding_mode, .. } => {
            arity(op, inputs, 2, 2)?;
            if !matches!(padding_mode.as_str(), "zeros" | "border" | "reflection") {
                return Err(invalid(
                    op,
                    format!("padding_mode {padding_mode:?} must be \"zeros\", \"border\" or \"reflection\""),
                ));
            }
            grid_sample(op, inputs[0].ty, inputs[1].ty)?
        }
        Op::AffineGrid { .. } => {
            arity(op, inputs, 2, 2)?;
            affine_grid(op, &inputs[0], &inputs[1])?
        }
        Op::NonMaxSuppression { .. } => {
            arity(op, inputs, 2, 5)?;
            nms(op, inputs)?
        }
        Op::RoiAlign {
            mode,
            coordinate_transformation_mode,
            output_height,
            output_width,
            ..
        } => {
            arity(op, inputs, 3, 3)?;
            if !matches!(mode.as_str(), "avg" | "max") {
                return Err(invalid(
                    op,
                    format!("mode {mode:?} must be \"avg\" or \"max\""),
                ));
            }
            if !matches!(
                coordinate_transformation_mode.as_str(),
                "half_pixel" | "output_half_pixel"
            ) {
                return Err(invalid(
                    op,
                    format!(
                        "coordinate_transformation_mode {coordinate_transformation_mode:?} must \
                         be \"half_pixel\" or \"output_half_pixel\""
                    ),
                ));
            }
            if *output_height < 0 || *output_width < 0 {
                return Err(invalid(
                    op,
                    "output_height and output_width must be non-negative",
                ));
            }
            roi_align(op, inputs, *output_height, *output_width)?
        }
        Op::DeformConv {
            strides,
            pads,
            dilations,
            group,
            offset_group,
        } => {
            arity(op, inputs, 3, 5)?;
            deform_conv(
                op,
                inputs,
                [strides, pads, dilations],
                *group,
                *offset_group,
            )?
        }
        Op::Col2Im {
            strides,
            pads,
            dilations,
        } => {
            arity(op, inputs, 3, 3)?;
            col2im(op, inputs, [strides, pads, dilations])?
        }
        Op::MaxUnpool {
            kernel_shape,
            strides,
            pads,
        } => {
            arity(op, inputs, 2, 3)?;
            max_unpool(op, inputs, kernel_shape, strides, pads)?
        }
        _ => unreachable!("`{}` is not a vision op", op.name()),
    };
    Ok(vec![t])
}

/// The known (possibly symbolic) elements of a rank-0/1 integer operand.
pub(crate) fn values(inp: &InferInput) -> Option<Vec<Dim>> {
    match inp.dims {
        Some(d) => Some(d.to_vec()),
        None => inp.konst.and_then(super::const_dims),
    }
}

/// The length of a 1-D integer operand, if known.
fn vector_len(op: &Op, inp: &InferInput, what: &str) -> Result<Option<usize>, InferError> {
    int_operand(op, inp, what)?;
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

pub(crate) fn int_operand(op: &Op, inp: &InferInput, what: &str) -> Result<(), InferError> {
    if !matches!(inp.ty.dtype, DType::I32 | DType::I64) {
        return Err(invalid(
            op,
            format!("{what} must be i32 or i64, not {}", inp.ty),
        ));
    }
    Ok(())
}

pub(crate) fn float_operand(op: &Op, ty: &TensorType, what: &str) -> Result<(), InferError> {
    if !ty.dtype.is_float() {
        return Err(invalid(
            op,
            format!("{what} must be a float type, not {ty}"),
        ));
    }
    Ok(())
}

/// Checks that two dims may agree; returns the more informative one.
fn agree(op: &Op, a: &Dim, b: &Dim, what: &str) -> Result<Dim, InferError> {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) if x != y => Err(invalid(op, format!("{what}: {x} vs {y}"))),
        (Dim::Known(_), _) => Ok(a.clone()),
        (_, Dim::Known(_)) | (Dim::Unknown, _) => Ok(b.clone()),
        _ => Ok(a.clone()),
    }
}

fn grid_sample(op: &Op, x: &TensorType, grid: &TensorType) -> Result<TensorType, InferError> {
    float_operand(op, x, "x")?;
    float_operand(op, grid, "grid")?;
    let r = x.rank().saturating_sub(2);
    if r == 0 || grid.rank() != r + 2 {
        return Err(invalid(
            op,
            format!("x {x} and grid {grid} do not fit: need x [N,C,D1..Dr] and grid [N,H1..Hr,r]"),
        ));
    }
    let n = agree(op, &x.shape[0], &grid.shape[0], "x and grid disagree on N")?;
    agree(
        op,
        &grid.shape[r + 1],
        &Dim::Known(r as i64),
        "grid's last axis must be the spatial rank",
    )?;
    let mut s = vec![n, x.shape[1].clone()];
    s.extend_from_slice(&grid.shape[1..=r]);
    Ok(x.with_shape(s))
}

fn affine_grid(op: &Op, theta: &InferInput, size: &InferInput) -> Result<TensorType, InferError> {
    let th = theta.ty;
    float_operand(op, th, "theta")?;
    if th.rank() != 3 {
        return Err(invalid(op, format!("theta must be [N,r,r+1], not {th}")));
    }
    let len = vector_len(op, size, "size")?;
    let r = match (len, th.shape[1].as_known()) {
        (Some(l), _) => l.saturating_sub(2),
        (None, Some(r)) => r as usize,
        (None, None) => {
            return Err(invalid(
                op,
                format!(
                    "cannot tell the spatial rank from theta {th} and size {}",
                    size.ty
                ),
            ))
        }
    };
    if !matches!(r, 2 | 3) {
        return Err(invalid(
            op,
            format!("size must have 4 or 5 entries, not {}", r + 2),
        ));
    }
    agree(
        op,
        &th.shape[1],
        &Dim::Known(r as i64),
        "theta's axis 1 must be the spatial rank",
    )?;
    agree(
        op,
        &th.shape[2],
        &Dim::Known(r as i64 + 1),
        "theta's axis 2 must be the spatial rank + 1",
    )?;
    let vals = values(size);
    let mut s = vec![th.shape[0].clone()];
    if let Some(v) = &vals {
        agree(op, &th.shape[0], &v[0], "theta and size disagree on N")?;
    }
    for a in 0..r {
        s.push(vals.as_ref().map_or(Dim::Unknown, |v| v[2 + a].clone()));
    }
    s.push(Dim::Known(r as i64));
    Ok(th.with_shape(s))
}

fn nms(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    let (b, s) = (inputs[0].ty, inputs[1].ty);
    float_operand(op, b, "boxes")?;
    float_operand(op, s, "scores")?;
    if b.rank() != 3 || s.rank() != 3 {
        return Err(invalid(
            op,
            format!("boxes {b} must be [B,n,4] and scores {s} [B,classes,n]"),
        ));
    }
    agree(
        op,
        &b.shape[2],
        &Dim::Known(4),
        "boxes' last axis must be 4",
    )?;
    agree(
        op,
        &b.shape[0],
        &s.shape[0],
        "boxes and scores disagree on the batch",
    )?;
    agree(
        op,
        &b.shape[1],
        &s.shape[2],
        "boxes and scores disagree on the box count",
    )?;
    for (i, what) in [
        (2, "max_output_boxes_per_class"),
        (3, "iou_threshold"),
        (4, "score_threshold"),
    ] {
        let Some(inp) = inputs.get(i) else { continue };
        if inp.ty.rank() > 1 {
            return Err(invalid(
                op,
                format!("{what} must be a scalar, not {}", inp.ty),
            ));
        }
        if i == 2 {
            int_operand(op, inp, what)?;
        } else {
            float_operand(op, inp.ty, what)?;
        }
    }
    Ok(TensorType::new(DType::I64, [Dim::Unknown, Dim::Known(3)]))
}

fn roi_align(op: &Op, inputs: &[InferInput], oh: i64, ow: i64) -> Result<TensorType, InferError> {
    let (x, rois, idx) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
    float_operand(op, x, "x")?;
    float_operand(op, rois, "rois")?;
    int_operand(op, &inputs[2], "batch_indices")?;
    if x.rank() != 4 || rois.rank() != 2 || idx.rank() != 1 {
        return Err(invalid(
            op,
            format!("x {x}, rois {rois} and batch_indices {idx} must be [N,C,H,W], [R,4] and [R]"),
        ));
    }
    agree(
        op,
        &rois.shape[1],
        &Dim::Known(4),
        "rois' last axis must be 4",
    )?;
    let r = agree(
        op,
        &rois.shape[0],
        &idx.shape[0],
        "rois and batch_indices disagree on R",
    )?;
    Ok(x.with_shape(vec![r, x.shape[1].clone(), Dim::Known(oh), Dim::Known(ow)]))
}

/// `v` has `n` entries or is empty.
fn attr_len(op: &Op, v: &[i64], n: usize, what: &str) -> Result<(), InferError> {
    if !v.is_empty() && v.len() != n {
        return Err(invalid(
            op,
            format!("{what} has {} entries; expected {n}", v.len()),
        ));
    }
    Ok(())
}

fn deform_conv(
    op: &Op,
    inputs: &[InferInput],
    [strides, pads, dilations]: [&Vec<i64>; 3],
    group: i64,
    offset_group: i64,
) -> Result<TensorType, InferError> {
    let (x, w, off) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
    for (t, what) in [(x, "x"), (w, "w"), (off, "offset")] {
        float_operand(op, t, what)?;
    }
    let r = x.rank().saturating_sub(2);
    if r == 0 || w.rank() != r + 2 || off.rank() != r + 2 {
        return Err(invalid(
            op,
            format!("x {x}, w {w} and offset {off} must all be [_, _, spatial..] of one rank ≥ 3"),
        ));
    }
    if group < 1 || offset_group < 1 {
        return Err(invalid(op, "group and offset_group must be positive"));
    }
    attr_len(op, strides, r, "strides")?;
    attr_len(op, dilations, r, "dilations")?;
    attr_len(op, pads, 2 * r, "pads")?;
    let n = agree(op, &x.shape[0], &off.shape[0], "x and offset disagree on N")?;
    agree(
        op,
        &x.shape[1],
        &w.shape[1].mul(&Dim::Known(group)),
        "x's channels must be w's axis 1 times group",
    )?;
    let taps = w.shape[2..].iter().fold(Dim::Known(1), |a, d| a.mul(d));
    let need = taps.mul(&Dim::Known(offset_group * r as i64));
    agree(
        op,
        &off.shape[1],
        &need,
        "offset's channels must be offset_group * kernel taps * rank",
    )?;
    for (i, what) in [(3, "b"), (4, "mask")] {
        if let Some(inp) = inputs.get(i) {
            float_operand(op, inp.ty, what)?;
        }
    }
    let mut s = vec![n, w.shape[0].clone()];
    s.extend_from_slice(&off.shape[2..]);
    Ok(x.with_shape(s))
}

fn col2im(
    op: &Op,
    inputs: &[InferInput],
    [strides, pads, dilations]: [&Vec<i64>; 3],
) -> Result<TensorType, InferError> {
    let x = inputs[0].ty;
    if x.rank() != 3 {
        return Err(invalid(
            op,
            format!("x must be [N, C*prod(block), L], not {x}"),
        ));
    }
    let ilen = vector_len(op, &inputs[1], "image_shape")?;
    let blen = vector_len(op, &inputs[2], "block_shape")?;
    let r =
        match (ilen, blen) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(
                    op,
                    format!("image_shape has {a} entries but block_shape {b}"),
                ))
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(invalid(
                op,
                "cannot tell the spatial rank: image_shape and block_shape have unknown lengths",
            )),
        };
    attr_len(op, strides, r, "strides")?;
    attr_len(op, dilations, r, "dilations")?;
    attr_len(op, pads, 2 * r, "pads")?;
    let taps = values(&inputs[2]).map(|v| v.iter().fold(Dim::Known(1), |a, d| a.mul(d)));
    let c = match taps {
        Some(Dim::Known(k)) if k > 0 => {
            if let Some(xc) = x.shape[1].as_known() {
                if xc % k != 0 {
                    return Err(invalid(
                        op,
                        format!("x {x}: axis 1 is not a multiple of the block size {k}"),
                    ));
                }
            }
            x.shape[1].floor_div(&Dim::Known(k))
        }
        Some(Dim::Known(k)) => return Err(invalid(op, format!("block size {k} must be positive"))),
        _ => Dim::Unknown,
    };
    let mut s = vec![x.shape[0].clone(), c];
    match values(&inputs[1]) {
        Some(v) => s.extend(v),
        None => s.extend(std::iter::repeat_n(Dim::Unknown, r)),
    }
    Ok(x.with_shape(s))
}

fn max_unpool(
    op: &Op,
    inputs: &[InferInput],
    kernel: &[i64],
    strides: &[i64],
    pads: &[i64],
) -> Result<TensorType, InferError> {
    let (x, idx) = (inputs[0].ty, inputs[1].ty);
    float_operand(op, x, "x")?;
    int_operand(op, &inputs[1], "indices")?;
    let r = kernel.len();
    if r == 0 || x.rank() != r + 2 || idx.rank() != r + 2 {
        return Err(invalid(
            op,
            format!("x {x} and indices {idx} must be [N,C,D..] with one spatial axis per kernel dim ({r})"),
        ));
    }
    attr_len(op, strides, r, "strides")?;
    attr_len(op, pads, 2 * r, "pads")?;
    if let Some(out) = inputs.get(2) {
        let len = vector_len(op, out, "output_shape")?;
        if len.is_some_and(|l| l != r + 2) {
            return Err(invalid(
                op,
                format!("output_shape must have {} entries", r + 2),
            ));
        }
        let s = values(out).unwrap_or_else(|| vec![Dim::Unknown; r + 2]);
        return Ok(x.with_shape(s));
    }
    let mut s = x.shape[..2].to_vec();
    for (a, &k) in kernel.iter().enumerate() {
        let st = strides.get(a).copied().unwrap_or(1);
        let pb = pads.get(a).copied().unwrap_or(0) + pads.get(r + a).copied().unwrap_or(0);
        let d = x.shape[2 + a]
            .sub(&Dim::Known(1))
            .mul(&Dim::Known(st))
            .add(&Dim::Known(k - pb));
        s.push(d);
    }
    Ok(x.with_shape(s))
}
