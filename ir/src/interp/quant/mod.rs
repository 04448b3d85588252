//! Semantics of the quant ops.
//!
//! Operands are checked with shape inference first (see `infer/quant.rs` for
//! the accepted dtypes and scale layouts). Conventions shared by all:
//! - "round" is half to even and "saturate" clamps to the result dtype's
//!   range; NaN saturates to 0, as Cast does.
//! - Quantizing divides and rounds in f32 (f64 when x or the scale is f64),
//!   as ONNX Runtime and ONNX's reference do, so ties land where theirs do.
//! - Requantizing an i32 accumulator (QLinearMatMul, QLinearConv) multiplies
//!   it, converted to f32, by the f32 multiplier `a_scale·b_scale / y_scale`,
//!   rounds, adds the zero point and saturates — ONNX Runtime's formula.
//! - Dequantizing computes `(x - zp) · scale` with the difference exact and
//!   one rounding to the scale's dtype.
//! - QLinearAdd (com.microsoft) is exactly the QDQ group it stands for:
//!   both operands dequantized as above, added in f32, quantized as above.
//! - QGemm (onnxruntime's com.microsoft op) adds its i32 bias to the i32
//!   accumulator, then requantizes with the f32 multiplier
//!   `alpha · a_scale · b_scale / y_scale` as above, or without y's scale
//!   returns `acc · (alpha · a_scale · b_scale)` in f32.
//! - QLinearGlobalAveragePool (com.microsoft) sums `x - x_zp` over each
//!   plane exactly (i64) and requantizes the sum like an accumulator above,
//!   with the f32 multiplier `x_scale / (y_scale · count)`, `count` the
//!   plane's size (computed in that order, in f32). That is onnxruntime's
//!   formula, not the QDQ group `q(global_average_pool(dq(x)))`, which
//!   rounds each dequantized value and the f32 mean; the two can differ by
//!   one step of y. An empty plane gives 0·∞ = NaN, which saturates to 0
//!   (what the QDQ group gives: the f32 mean of nothing is NaN).
//!
//! ConvInteger and QLinearConv subtract the zero points, convert to f64 (exact)
//! and run the contraction group's `conv` on f64 tensors (sums stay exact
//! below 2^53), so Conv's padding/stride/group rules are defined in one place.

mod conv;
mod linear;
mod matmul;
mod pool;

use crate::dtype::DType;
use crate::interp::elementwise::data::validate;
use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    validate(op, inputs)?;
    let opt = |i: usize| inputs.get(i).copied();
    match op {
        Op::QuantizeLinear {
            axis, block_size, ..
        } => Ok(vec![linear::quantize(
            inputs[0],
            inputs[1],
            opt(2),
            *axis,
            *block_size,
        )?]),
        Op::DequantizeLinear { axis, block_size } => Ok(vec![linear::dequantize(
            inputs[0],
            inputs[1],
            opt(2),
            *axis,
            *block_size,
        )?]),
        Op::DynamicQuantizeLinear => linear::dynamic(inputs[0]),
        Op::MatMulInteger => Ok(vec![matmul::matmul_integer(
            inputs[0],
            inputs[1],
            opt(2),
            opt(3),
        )?]),
        Op::QLinearMatMul => Ok(vec![matmul::qlinear_matmul(inputs)?]),
        Op::QLinearAdd => Ok(vec![linear::qlinear_add(inputs)?]),
        Op::QLinearGlobalAveragePool { channels_last } => {
            Ok(vec![pool::qlinear_global_average_pool(
                *channels_last,
                inputs,
            )?])
        }
        Op::QGemm {
            alpha,
            trans_a,
            trans_b,
        } => Ok(vec![matmul::qgemm(*alpha, *trans_a, *trans_b, inputs)?]),
        Op::ConvInteger {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        }
        | Op::QLinearConv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            let conv = Op::Conv {
                strides: strides.clone(),
                pads: pads.clone(),
                dilations: dilations.clone(),
                group: *group,
                auto_pad: *auto_pad,
            };
            if let Op::ConvInteger { .. } = op {
                Ok(vec![conv::conv_integer(&conv, inputs)?])
            } else {
                Ok(vec![conv::qlinear_conv(&conv, inputs)?])
            }
        }
        _ => unreachable!("{} is not a quant op", op.name()),
    }
}

/// The range of an integer dtype.
fn int_range(d: DType) -> (f64, f64) {
    match d {
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    }
}

/// `v` (already rounded) clamped to `d`'s range; NaN → 0.
fn saturate(v: f64, d: DType) -> i64 {
    let (lo, hi) = int_range(d);
    if v.is_nan() {
        0
    } else {
        v.clamp(lo, hi) as i64
    }
}

/// One element's parameter (scale, zero point) out of a one-element or 1-D
/// tensor indexed by `k`.
fn pick<T: Copy>(v: &[T], k: usize) -> T {
    if v.len() == 1 {
        v[0]
    } else {
        v[k]
    }
}

#[cfg(test)]
mod tests;
