//! Semantics of the vision ops: spatial sampling (`grid_sample`,
//! `affine_grid`, `deform_conv`), detection (`non_max_suppression`,
//! `roi_align`) and folding (`col2im`, `max_unpool`).
//!
//! Each follows the ONNX reference implementation (`onnx/reference/ops/`),
//! including its quirks (RoiAlign's max mode takes the largest *weighted*
//! corner; GridSample's reflection folds about the border of the sampled
//! region). Values are read as f64, computed in f64 and rounded once to the
//! result dtype; the shapes are checked again here, since the interpreter
//! may be called on operands that shape inference never saw.

mod detect;
mod fold;
mod grid;
#[cfg(test)]
mod tests;

use crate::op::Op;
use crate::tensor::{Tensor, TensorError};

pub(crate) fn eval(op: &Op, x: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let t = match op {
        Op::GridSample {
            mode,
            padding_mode,
            align_corners,
        } => {
            arity(x, 2, 2)?;
            grid::grid_sample(x[0], x[1], *mode, padding_mode, *align_corners)?
        }
        Op::AffineGrid { align_corners } => {
            arity(x, 2, 2)?;
            grid::affine_grid(x[0], x[1], *align_corners)?
        }
        Op::DeformConv {
            strides,
            pads,
            dilations,
            group,
            offset_group,
        } => {
            arity(x, 3, 5)?;
            let g = grid::ConvGeom {
                strides,
                pads,
                dilations,
                group: *group,
                offset_group: *offset_group,
            };
            grid::deform_conv(x[0], x[1], x[2], x.get(3).copied(), x.get(4).copied(), &g)?
        }
        Op::NonMaxSuppression { center_point_box } => {
            arity(x, 2, 5)?;
            detect::nms(x, *center_point_box)?
        }
        Op::RoiAlign {
            mode,
            coordinate_transformation_mode,
            output_height,
            output_width,
            sampling_ratio,
            spatial_scale,
        } => {
            arity(x, 3, 3)?;
            let a = detect::RoiAttrs {
                max: detect::roi_mode(mode)?,
                half_pixel: detect::roi_half_pixel(coordinate_transformation_mode)?,
                out_h: *output_height,
                out_w: *output_width,
                sampling_ratio: *sampling_ratio,
                spatial_scale: f64::from(*spatial_scale),
            };
            detect::roi_align(x[0], x[1], x[2], &a)?
        }
        Op::Col2Im {
            strides,
            pads,
            dilations,
        } => {
            arity(x, 3, 3)?;
            fold::col2im(x[0], x[1], x[2], strides, pads, dilations)?
        }
        Op::MaxUnpool {
            kernel_shape,
            strides,
            pads,
        } => {
            arity(x, 2, 3)?;
            fold::max_unpool(x[0], x[1], x.get(2).copied(), kernel_shape, strides, pads)?
        }
        _ => unreachable!("`{}` is not a vision op", op.name()),
    };
    Ok(vec![t])
}

// ---- Helpers shared by the files of this group ----------------------------

fn arity(x: &[&Tensor], min: usize, max: usize) -> Result<(), String> {
    if x.len() < min || x.len() > max {
        return Err(format!(
            "takes {min} to {max} operand(s), given {}",
            x.len()
        ));
    }
    Ok(())
}

fn terr(e: TensorError) -> String {
    e.to_string()
}

/// Checks that `t` holds floats.
fn float(t: &Tensor, what: &str) -> Result<(), String> {
    if !t.dtype().is_float() {
        return Err(format!(
            "{what} is {}{:?}; it must be a float type",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(())
}

/// The elements of a rank-0/1 integer operand.
fn ints(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    if !t.dtype().is_int() || t.rank() > 1 {
        return Err(format!(
            "{what} must be a 1-D integer tensor, not {}{:?}",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(t.to_i64s())
}

/// A non-negative size as usize.
fn size(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} is {v}; it must be non-negative"))
}

/// `v` has `n` entries, or is empty and means `default` repeated.
fn full(v: &[i64], n: usize, default: i64, what: &str) -> Result<Vec<i64>, String> {
    match v.len() {
        0 => Ok(vec![default; n]),
        k if k == n => Ok(v.to_vec()),
        k => Err(format!("{what} has {k} entries; expected {n}")),
    }
}

/// Row-major multi-index of flat position `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize], out: &mut [usize]) {
    for (o, &d) in out.iter_mut().zip(shape).rev() {
        *o = i % d.max(1);
        i /= d.max(1);
    }
}

/// A zeroed f64 buffer for a result of `shape`; an error (never an abort)
/// when it is too large to allocate.
fn buffer(shape: &[usize]) -> Result<Vec<f64>, String> {
    let n = crate::interp::contraction::checked_numel(shape)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| format!("result of shape {shape:?} is too large"))?;
    v.resize(n, 0.0);
    Ok(v)
}
