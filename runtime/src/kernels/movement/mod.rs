//! Native kernels for data-movement ops, and the one constructor the
//! lowering calls for every op handled in this part of `kernels/`
//! ([`movement_kernel`]: movement, Cast/Where, reductions, normalizations).
//!
//! Assumptions: kernels are built from an op whose operand and result types
//! passed shape inference; concrete shapes are read from the `Arg`s at run
//! time (symbolic dims are only known then) and checked again, so a wrong
//! shape is a `KernelError` naming the op and the shapes, never a wild write.
//! Index-like operands (Reshape's shape, Slice's starts, Gather's indices)
//! are read from their `Arg` at run time whether or not they are constant:
//! that costs a few loads and keeps one code path.
//!
//! Guarantees: data-movement results are byte-for-byte the interpreter's
//! (`ingot_ir::interp`), for every dtype (elements are copied as bytes).
//! Work is split across the pool only above [`PAR_MIN_BYTES`].
//!
//! Files: `strided` (the copy engine), `layout` (reshape family, transpose,
//! expand, tile, concat, split), `select` (slice, gather, pad, trilu),
//! `shape` (shape, size, constant_of_shape, range).

mod layout;
mod select;
mod shape;
pub mod strided;

pub(crate) use layout::broadcast_strides;

use crate::kernel::{Arg, Kernel, KernelError};
use ingot_ir::{DType, Op, Tensor, TensorType};
use std::ops::Range;

/// Below this many bytes moved, a kernel runs on the calling thread.
pub const PAR_MIN_BYTES: usize = 1 << 18;

/// Build the native kernel for `op`, or `None` when this module does not
/// handle it (the lowering then falls back to another kernel or the
/// interpreter). `consts[i]` is operand `i`'s value when it is a constant.
pub fn movement_kernel(
    op: &Op,
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
    out_types: &[TensorType],
) -> Option<Result<Box<dyn Kernel>, String>> {
    let dt = in_types.first().map(|t| t.dtype);
    let k: Box<dyn Kernel> = match op {
        Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
            Box::new(layout::Copy::new(op.name()))
        }
        Op::Identity => Box::new(layout::Copy::new(op.name())),
        Op::Transpose { perm } => Box::new(layout::Transpose { perm: perm.clone() }),
        Op::Expand => Box::new(layout::Expand),
        Op::Tile => Box::new(layout::Tile),
        Op::Concat { axis } => Box::new(layout::Concat { axis: *axis }),
        Op::Split { axis, splits } => Box::new(layout::Split {
            axis: *axis,
            splits: splits.clone(),
        }),
        Op::Slice => Box::new(select::Slice),
        Op::Gather { axis } => Box::new(select::Gather { axis: *axis }),
        Op::Pad { mode } => Box::new(select::Pad { mode: *mode }),
        Op::Trilu { upper } => Box::new(select::Trilu { upper: *upper }),
        Op::Shape { start, end } => Box::new(shape::ShapeOf {
            start: *start,
            end: *end,
        }),
        Op::Size => Box::new(shape::SizeOf),
        Op::ConstantOfShape { value } => match shape::Fill::new(value) {
            Ok(k) => Box::new(k),
            Err(e) => return Some(Err(e)),
        },
        Op::Range => Box::new(shape::RangeOf),
        Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. } => {
            return super::qdq::kernel(op, in_types, consts);
        }
        Op::QLinearAdd => return super::qdq::add_kernel(in_types, consts),
        Op::QLinearGlobalAveragePool { channels_last } => {
            return super::qgap::kernel(*channels_last, in_types, consts);
        }
        _ => {
            return super::misc::kernel(op, in_types, out_types)
                .or_else(|| super::reduce::kernel(op, dt?))
                .or_else(|| super::norm::kernel(op, dt?));
        }
    };
    Some(Ok(k))
}

// ---- Helpers shared by the kernels under `kernels/` ------------------------

/// A raw pointer that may cross into rayon workers: the kernels that use it
/// hand each worker a disjoint part of the buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendPtr(pub *mut u8);
// SAFETY: see the type's docs; the pointee outlives the `run` call.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer. (A method, so closures capture the whole `SendPtr`
    /// rather than its non-`Sync` field.)
    #[inline(always)]
    pub(crate) fn get(self) -> *mut u8 {
        self.0
    }
}

/// Call `f` on sub-ranges covering `0..n`: in one call when `threads <= 1`
/// or the work is under [`PAR_MIN_BYTES`], else spread over the pool.
pub(crate) fn par_ranges(n: usize, bytes: usize, threads: usize, f: impl Fn(Range<usize>) + Sync) {
    if n == 0 {
        return;
    }
    if threads <= 1 || bytes < PAR_MIN_BYTES || n == 1 {
        f(0..n);
        return;
    }
    use rayon::prelude::*;
    let parts = (threads * 4).min(n);
    (0..parts).into_par_iter().for_each(|k| {
        let (b, e) = (n * k / parts, n * (k + 1) / parts);
        if b < e {
            f(b..e);
        }
    });
}

/// Row-major strides (elements) as `isize`.
pub(crate) fn strides(shape: &[usize]) -> Vec<isize> {
    let mut s = vec![1isize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as isize;
    }
    s
}

/// Normalize an axis in `-rank..rank`.
pub(crate) fn norm_axis(op: &str, axis: i64, rank: usize) -> Result<usize, KernelError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(KernelError(format!(
            "{op}: axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok((if axis < 0 { axis + r } else { axis }) as usize)
}

/// The elements of an i32/i64 operand (unaligned reads: constants need not
/// be aligned).
///
/// # Safety
/// `a` points to a live buffer of its dtype and shape.
pub(crate) unsafe fn ints(op: &str, what: &str, a: &Arg) -> Result<Vec<i64>, KernelError> {
    let n = a.numel();
    match a.dtype {
        DType::I64 => Ok((0..n)
            .map(|i| (a.ptr as *const i64).add(i).read_unaligned())
            .collect()),
        DType::I32 => Ok((0..n)
            .map(|i| i64::from((a.ptr as *const i32).add(i).read_unaligned()))
            .collect()),
        d => Err(KernelError(format!(
            "{op}: {what} must be i32 or i64, not {d}"
        ))),
    }
}

/// Check operand / result counts.
pub(crate) fn arity(
    op: &str,
    ins: &[Arg],
    outs: &[Arg],
    min_in: usize,
    max_in: usize,
    n_out: usize,
) -> Result<(), KernelError> {
    if ins.len() < min_in || ins.len() > max_in || outs.len() != n_out {
        return Err(KernelError(format!(
            "{op}: given {} operand(s) and {} result(s), expects {min_in}..={max_in} and {n_out}",
            ins.len(),
            outs.len()
        )));
    }
    Ok(())
}

/// Check that result `out` has `shape` and `dtype`.
pub(crate) fn expect_out(
    op: &str,
    out: &Arg,
    dtype: DType,
    shape: &[usize],
) -> Result<(), KernelError> {
    if out.shape != shape || out.dtype != dtype {
        return Err(KernelError(format!(
            "{op}: result buffer is {}{:?} but the operands give {dtype}{shape:?}",
            out.dtype, out.shape
        )));
    }
    Ok(())
}

/// Fill `n` elements of size `es` at `d` with the element at `v`.
///
/// # Safety
/// `d` holds `n` elements; `v` one element; they do not overlap.
pub(crate) unsafe fn fill(d: *mut u8, n: usize, v: *const u8, es: usize) {
    strided::line(v, d, n, 0, 1, es);
}
