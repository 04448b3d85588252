//! Result types for the signal ops (semantics in `interp/signal.rs`).
//!
//! - `dft %x[, %dft_length]`: x float `[.., L, .., 1|2]`; the result replaces
//!   the `axis` dim by `n` (`n/2+1` when forward and `onesided`) and the
//!   last by 2 (1 for inverse + `onesided`). `n` is `dft_length`'s known
//!   (possibly symbolic) value, else `L` (`2*(L-1)` for inverse + onesided);
//!   `?` when `dft_length` is given but unknown.
//! - `stft %x, %frame_step[, %window[, %frame_length]]`: x `[N, T, 1|2]` →
//!   `[N, 1 + (T - frame_length)/frame_step, bins, 2]`; an empty window is absent.

use super::{arity, invalid, norm_axis, InferError, InferInput};
use crate::dim::Dim;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let t = match op {
        Op::Dft {
            axis,
            inverse,
            onesided,
        } => {
            arity(op, inputs, 1, 2)?;
            dft(op, inputs, *axis, *inverse, *onesided)?
        }
        Op::Stft { onesided } => {
            arity(op, inputs, 2, 4)?;
            stft(op, inputs, *onesided)?
        }
        _ => unreachable!("`{}` is not a signal op", op.name()),
    };
    Ok(vec![t])
}

/// Checks a float operand whose last axis is 1 or 2.
fn complex_input(op: &Op, x: &TensorType, what: &str) -> Result<(), InferError> {
    let ok_last = x
        .shape
        .last()
        .is_some_and(|d| d.compatible(&Dim::Known(1)) || d.compatible(&Dim::Known(2)));
    if !x.dtype.is_float() || x.rank() < 2 || !ok_last {
        return Err(invalid(
            op,
            format!("{what} must be float of rank >= 2 with a last axis of 1 or 2, not {x}"),
        ));
    }
    Ok(())
}

/// A scalar integer operand's known value (`Some(Unknown)` if it is present
/// but not known).
fn scalar(op: &Op, inp: &InferInput, what: &str) -> Result<Option<Dim>, InferError> {
    super::vision::int_operand(op, inp, what)?;
    if inp.ty.rank() > 1 {
        return Err(invalid(
            op,
            format!("{what} must be a scalar, not {}", inp.ty),
        ));
    }
    Ok(match super::vision::values(inp) {
        Some(v) if v.len() == 1 => Some(v[0].clone()),
        Some(v) if v.is_empty() => None,
        Some(_) => return Err(invalid(op, format!("{what} must hold one value"))),
        None => Some(Dim::Unknown),
    })
}

fn dft(
    op: &Op,
    inputs: &[InferInput],
    axis: i64,
    inverse: bool,
    onesided: bool,
) -> Result<TensorType, InferError> {
    let x = inputs[0].ty;
    complex_input(op, x, "x")?;
    let rank = x.rank();
    let ax = norm_axis(axis, rank).map_err(|m| invalid(op, m))?;
    if ax == rank - 1 {
        return Err(invalid(
            op,
            format!("axis {axis} is the complex axis of {x}"),
        ));
    }
    let len = &x.shape[ax];
    let n = match inputs
        .get(1)
        .map(|i| scalar(op, i, "dft_length"))
        .transpose()?
        .flatten()
    {
        Some(d) => d,
        None if inverse && onesided => len.sub(&Dim::Known(1)).mul(&Dim::Known(2)),
        None => len.clone(),
    };
    if let Some(v) = n.as_known() {
        if v < 1 {
            return Err(invalid(
                op,
                format!("the transform length {v} must be positive"),
            ));
        }
    }
    let mut s = x.shape.clone();
    s[ax] = if !inverse && onesided {
        n.floor_div(&Dim::Known(2)).add(&Dim::Known(1))
    } else {
        n
    };
    s[rank - 1] = Dim::Known(if inverse && onesided { 1 } else { 2 });
    Ok(x.with_shape(s))
}

fn stft(op: &Op, inputs: &[InferInput], onesided: bool) -> Result<TensorType, InferError> {
    let x = inputs[0].ty;
    complex_input(op, x, "signal")?;
    if x.rank() != 3 {
        return Err(invalid(op, format!("signal must be [N, T, 1|2], not {x}")));
    }
    let step = scalar(op, &inputs[1], "frame_step")?.unwrap_or(Dim::Unknown);
    let window = inputs
        .get(2)
        .filter(|w| !(w.ty.rank() == 1 && w.ty.shape[0] == Dim::Known(0)));
    if let Some(w) = window {
        if w.ty.dtype != x.dtype || w.ty.rank() != 1 {
            return Err(invalid(
                op,
                format!("window must be 1-D {}, not {}", x.dtype, w.ty),
            ));
        }
    }
    let fl = match inputs
        .get(3)
        .map(|i| scalar(op, i, "frame_length"))
        .transpose()?
        .flatten()
    {
        Some(d) => d,
        None => match window {
            Some(w) => w.ty.shape[0].clone(),
            None => x.shape[1].clone(),
        },
    };
    let frames = x.shape[1].sub(&fl).floor_div(&step).add(&Dim::Known(1));
    let bins = if onesided {
        fl.floor_div(&Dim::Known(2)).add(&Dim::Known(1))
    } else {
        fl
    };
    Ok(x.with_shape(vec![x.shape[0].clone(), frames, bins, Dim::Known(2)]))
}
