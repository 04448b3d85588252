//! Semantics of the reduce ops.
//!
//! `reduce_*` ops reduce the axes in `axes` (empty: every axis). Floats are
//! accumulated in f64 and the result rounded once to the element type; the
//! reduction of an empty set gives the identity of the operation (sum 0, prod
//! 1, max -inf, min +inf, log_sum and log_sum_exp -inf, mean NaN). `reduce_max`
//! and `reduce_min` propagate NaN. Integers (and bool, for max/min) are exact:
//! sum, prod, l1 and sum_square wrap in two's complement; the empty max/min
//! are the type's min/max; mean is the exact mean truncated toward zero (what
//! numpy's `mean(...).astype(int)` gives, without its float rounding; 0 for an
//! empty set); l2 is `sqrt` of the exact sum of squares, truncated.
//!
//! The one-axis ops (arg-reductions, softmax family, cum_sum, top_k) live in
//! [`axis`]. Every op validates its operands by running shape inference on
//! their concrete types first, so the interpreter accepts exactly what
//! inference accepts.

mod axis;
#[cfg(test)]
mod tests;

use super::strides;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::infer::{const_dims, infer, InferError, InferInput};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::TensorType;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    validate(op, inputs)?;
    let (kind, axes, keepdims) = match op {
        Op::ReduceSum { axes, keepdims } => (Kind::Sum, axes, *keepdims),
        Op::ReduceMean { axes, keepdims } => (Kind::Mean, axes, *keepdims),
        Op::ReduceMax { axes, keepdims } => (Kind::Max, axes, *keepdims),
        Op::ReduceMin { axes, keepdims } => (Kind::Min, axes, *keepdims),
        Op::ReduceProd { axes, keepdims } => (Kind::Prod, axes, *keepdims),
        Op::ReduceL1 { axes, keepdims } => (Kind::L1, axes, *keepdims),
        Op::ReduceL2 { axes, keepdims } => (Kind::L2, axes, *keepdims),
        Op::ReduceLogSum { axes, keepdims } => (Kind::LogSum, axes, *keepdims),
        Op::ReduceLogSumExp { axes, keepdims } => (Kind::LogSumExp, axes, *keepdims),
        Op::ReduceSumSquare { axes, keepdims } => (Kind::SumSquare, axes, *keepdims),
        _ => return axis::eval(op, inputs),
    };
    let x = inputs[0];
    let p = plan(x.shape(), &axes_mask(axes, x.rank())?);
    let out_shape: Vec<usize> = if keepdims {
        p.kept.clone()
    } else {
        p.kept
            .iter()
            .zip(&p.mask)
            .filter(|(_, &m)| !m)
            .map(|(&d, _)| d)
            .collect()
    };
    let t = if x.dtype().is_float() {
        let r = reduce_f64(kind, &p, &x.to_f64s());
        Tensor::from_f64s(x.dtype(), &out_shape, &r).map_err(|e| e.to_string())?
    } else {
        reduce_int(kind, &p, x, &out_shape)?
    };
    Ok(vec![t])
}

/// Run shape inference on the operands' concrete types and values: the
/// interpreter's operand checks are exactly inference's.
pub(crate) fn validate(op: &Op, inputs: &[&Tensor]) -> Result<Vec<TensorType>, String> {
    let tys: Vec<TensorType> = inputs.iter().map(|t| t.ty()).collect();
    let dims: Vec<Option<Vec<Dim>>> = inputs.iter().map(|t| const_dims(t)).collect();
    let ins: Vec<InferInput> = inputs
        .iter()
        .zip(&tys)
        .zip(&dims)
        .map(|((&t, ty), d)| InferInput {
            ty,
            konst: Some(t),
            dims: d.as_deref(),
        })
        .collect();
    infer(op, &ins).map_err(|e| match e {
        InferError::Invalid { msg, .. } => msg,
        e => e.to_string(),
    })
}

/// Which reduction a `reduce_*` op performs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// A mask of the reduced axes (empty `axes`: all). Inference has already
/// rejected bad axes; this only normalizes.
pub(crate) fn axes_mask(axes: &[i64], rank: usize) -> Result<Vec<bool>, String> {
    let mut mask = vec![axes.is_empty(); rank];
    for &a in axes {
        mask[super::norm_axis(a, rank)?] = true;
    }
    Ok(mask)
}

/// How the elements of a tensor fall into reduction groups.
pub(crate) struct Plan {
    /// The reduced axes.
    pub mask: Vec<bool>,
    /// The input shape with reduced axes set to 1 (the keepdims shape).
    pub kept: Vec<usize>,
    /// Number of groups (output elements).
    pub groups: usize,
    /// Number of input elements per group (the product of reduced dims).
    pub count: usize,
    /// For each input element (row-major), its group.
    pub group_of: Vec<usize>,
}

pub(crate) fn plan(shape: &[usize], mask: &[bool]) -> Plan {
    let kept: Vec<usize> = shape
        .iter()
        .zip(mask)
        .map(|(&d, &m)| if m { 1 } else { d })
        .collect();
    let kst = strides(&kept);
    let n: usize = shape.iter().product();
    let mut group_of = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        group_of.push(
            idx.iter()
                .zip(&kst)
                .zip(mask)
                .map(|((&i, &s), &m)| if m { 0 } else { i * s })
                .sum(),
        );
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Plan {
        mask: mask.to_vec(),
        groups: kept.iter().product(),
        count: shape
            .iter()
            .zip(mask)
            .filter(|(_, &m)| m)
            .map(|(&d, _)| d)
            .product(),
        kept,
        group_of,
    }
}

fn reduce_f64(kind: Kind, p: &Plan, v: &[f64]) -> Vec<f64> {
    if kind == Kind::LogSumExp {
        return log_sum_exp(p, v);
    }
    let init = match kind {
        Kind::Prod => 1.0,
        Kind::Max => f64::NEG_INFINITY,
        Kind::Min => f64::INFINITY,
        _ => 0.0,
    };
    let mut acc = vec![init; p.groups];
    for (&g, &x) in p.group_of.iter().zip(v) {
        let a = &mut acc[g];
        match kind {
            Kind::Sum | Kind::Mean | Kind::LogSum => *a += x,
            Kind::Prod => *a *= x,
            Kind::L1 => *a += x.abs(),
            Kind::L2 | Kind::SumSquare => *a += x * x,
            // NaN sticks: once the accumulator is NaN nothing replaces it.
            Kind::Max => {
                if !a.is_nan() && (x.is_nan() || x > *a) {
                    *a = x
                }
            }
            Kind::Min => {
                if !a.is_nan() && (x.is_nan() || x < *a) {
                    *a = x
                }
            }
            Kind::LogSumExp => unreachable!("handled above"),
        }
    }
    let count = p.count as f64;
    for a in &mut acc {
        *a = match kind {
            Kind::Mean => *a / count,
            Kind::L2 => a.sqrt(),
            Kind::LogSum => a.ln(),
            _ => *a,
        };
    }
    acc
}

/// `m + ln(sum(exp(x - m)))` with `m` the largest finite element, so no
/// finite input overflows. Infinities are exact: any +inf gives +inf, -inf
/// elements contribute nothing, a group of only -inf (or none) gives -inf; NaN
/// propagates. (ONNX's reference gives NaN for all -inf; -inf is the limit.)
fn log_sum_exp(p: &Plan, v: &[f64]) -> Vec<f64> {
    let mut m = vec![f64::NEG_INFINITY; p.groups];
    for (&g, &x) in p.group_of.iter().zip(v) {
        if x.is_finite() {
            m[g] = m[g].max(x);
        }
    }
    let mut s = vec![0.0; p.groups];
    for (&g, &x) in p.group_of.iter().zip(v) {
        s[g] += if x.is_finite() {
            (x - m[g]).exp()
        } else if x == f64::NEG_INFINITY {
            0.0
        } else {
            x // +inf or NaN
        };
    }
    m.iter()
        .zip(&s)
        .map(|(&m, &s)| {
            if m == f64::NEG_INFINITY {
                // No finite element: s is 0 (-> -inf), +inf or NaN.
                if s == 0.0 {
                    f64::NEG_INFINITY
                } else {
                    s
                }
            } else {
                m + s.ln()
            }
        })
        .collect()
}

/// The value range of an integer (or bool) dtype.
fn int_bounds(d: DType) -> (i64, i64) {
    match d {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN, i64::MAX),
        DType::Bool => (0, 1),
        _ => unreachable!("{d} is not an integer type"),
    }
}

fn reduce_int(kind: Kind, p: &Plan, x: &Tensor, out_shape: &[usize]) -> Result<Tensor, String> {
    let v = x.to_i64s();
    let d = x.dtype();
    if kind == Kind::L2 {
        let mut acc = vec![0.0f64; p.groups];
        for (&g, &x) in p.group_of.iter().zip(&v) {
            acc[g] += (x as f64) * (x as f64);
        }
        let r: Vec<f64> = acc.iter().map(|a| a.sqrt().trunc()).collect();
        return Tensor::from_f64s(d, out_shape, &r).map_err(|e| e.to_string());
    }
    if kind == Kind::Mean {
        let mut acc = vec![0i128; p.groups];
        for (&g, &x) in p.group_of.iter().zip(&v) {
            acc[g] += i128::from(x);
        }
        let n = p.count as i128;
        // |mean| <= max |x|, so the quotient fits the element type.
        let r: Vec<i64> = acc
            .iter()
            .map(|&s| if n == 0 { 0 } else { (s / n) as i64 })
            .collect();
        return Tensor::from_i64s(d, out_shape, &r).map_err(|e| e.to_string());
    }
    let (lo, hi) = int_bounds(d);
    let init = match kind {
        Kind::Prod => 1,
        Kind::Max => lo,
        Kind::Min => hi,
        _ => 0,
    };
    let mut acc = vec![init; p.groups];
    for (&g, &x) in p.group_of.iter().zip(&v) {
        let a = &mut acc[g];
        *a = match kind {
            Kind::Sum => a.wrapping_add(x),
            Kind::Prod => a.wrapping_mul(x),
            Kind::L1 => a.wrapping_add(x.wrapping_abs()),
            Kind::SumSquare => a.wrapping_add(x.wrapping_mul(x)),
            Kind::Max => (*a).max(x),
            Kind::Min => (*a).min(x),
            // Inference rejects integer log_sum / log_sum_exp.
            Kind::LogSum | Kind::LogSumExp => {
                return Err(format!("{kind:?} is not defined on {d}"));
            }
            Kind::Mean | Kind::L2 => unreachable!("handled above"),
        };
    }
    // Wrapping in i64 then truncating to the element width is the same as
    // wrapping in the element width (both are arithmetic mod 2^bits).
    Tensor::from_i64s(d, out_shape, &acc).map_err(|e| e.to_string())
}
