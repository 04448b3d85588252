//! Result types for the quant ops.
//!
//! - `quantize_linear %x, %scale[, %zp]`: x is a float (or i32), scale a float,
//!   zp i8/u8/i16; the result has zp's dtype (u8 without zp) and x's shape.
//!   Scale (and zp, same shape) is per-tensor (one element), per-axis (1-D,
//!   x's `axis` long) or, with `block_size > 0`, blocked: x's rank, with
//!   `ceil(x[axis] / block_size)` along `axis` and x's dims elsewhere.
//! - `dequantize_linear %x, %scale[, %zp]`: x is i8/u8/i16/i32, zp x's dtype;
//!   the result has scale's dtype. Same scale layouts.
//! - `dynamic_quantize_linear %x` (f32) → y: u8 like x, scale: f32[], zp: u8[].
//! - `matmul_integer %a, %b[, %a_zp[, %b_zp]]` (i8/u8) → i32, matmul shapes
//!   (1-D promotion, broadcast batch dims). a_zp is one element, 1-D per row
//!   of a (M long), or an N-D tensor broadcasting to a (`[.., M, 1]`); b_zp
//!   likewise per column (N long, or `[.., 1, N]`).
//! - `qlinear_matmul %a, %a_scale, %a_zp, %b, %b_scale, %b_zp, %y_scale, %y_zp`:
//!   a's scale/zp one element or per row, b's per column, y's one element;
//!   the result has y_zp's dtype (i8/u8).
//! - `conv_integer %x, %w[, %x_zp[, %w_zp]]` → i32 and
//!   `qlinear_conv %x, %x_scale, %x_zp, %w, %w_scale, %w_zp, %y_scale, %y_zp[, %bias]`:
//!   Conv's shapes (x: [N, C, spatial..], w: [M, C/group, kernel..]); w's zp
//!   and scale are one element or per output channel (M long); bias is i32[M].
//! - `qlinear_add %a, %a_scale, %a_zp, %b, %b_scale, %b_zp, %c_scale, %c_zp`
//!   (com.microsoft QLinearAdd): a and b of one 8-bit type, broadcasting;
//!   every parameter one element; the result has c_zp's dtype.
//! - `qlinear_global_average_pool %x, %x_scale, %x_zp, %y_scale, %y_zp`
//!   (com.microsoft QLinearGlobalAveragePool): x i8/u8 of rank ≥ 3,
//!   `[N, C, spatial..]` or, with `channels_last`, `[N, spatial.., C]`;
//!   every parameter one element, x_zp of x's dtype; the result has y_zp's
//!   dtype (either 8-bit type; onnxruntime only takes x's) and x's shape
//!   with every spatial dim 1.
//! - `qgemm %a, %a_scale, %a_zp, %b, %b_scale, %b_zp[, %c[, %y_scale[, %y_zp]]]`
//!   (onnxruntime's com.microsoft QGemm): a, b i8/u8 matrices (transposed per
//!   `trans_a`/`trans_b`), a's scale and zp one element, b's one element or
//!   per column (N); c i32 broadcasting to [M, N]; the result is [M, N] of
//!   y_zp's dtype (u8 without y_zp) with y's scale, f32 without.

use super::elementwise::unidirectional;
use super::{arity, broadcast, invalid, norm_axis, InferError, InferInput};
use crate::attr::AutoPad;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::{ShapeDisplay, TensorType};

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let ty = |i: usize| inputs[i].ty;
    let opt = |i: usize| inputs.get(i).map(|x| x.ty);
    match op {
        Op::QuantizeLinear {
            axis, block_size, ..
        } => {
            arity(op, inputs, 2, 3)?;
            let x = ty(0);
            if !(x.dtype.is_float() || x.dtype == DType::I32) {
                return Err(dtype_err(op, "x", x, "a float type or i32"));
            }
            float_param(op, "scale", ty(1))?;
            let out = match opt(2) {
                Some(z) if !is_q(z.dtype) && z.dtype != DType::I16 => {
                    return Err(dtype_err(op, "zero point", z, "i8, u8 or i16"));
                }
                Some(z) => z.dtype,
                None => DType::U8,
            };
            scale_layout(op, x, ty(1), opt(2), *axis, *block_size)?;
            Ok(vec![x.with_dtype(out)])
        }
        Op::DequantizeLinear { axis, block_size } => {
            arity(op, inputs, 2, 3)?;
            let x = ty(0);
            if !matches!(x.dtype, DType::I8 | DType::U8 | DType::I16 | DType::I32) {
                return Err(dtype_err(op, "x", x, "i8, u8, i16 or i32"));
            }
            float_param(op, "scale", ty(1))?;
            if let Some(z) = opt(2) {
                same(op, "zero point", z, x)?;
            }
            scale_layout(op, x, ty(1), opt(2), *axis, *block_size)?;
            Ok(vec![x.with_dtype(ty(1).dtype)])
        }
        Op::DynamicQuantizeLinear => {
            arity(op, inputs, 1, 1)?;
            let x = ty(0);
            if x.dtype != DType::F32 {
                return Err(dtype_err(op, "x", x, "f32"));
            }
            Ok(vec![
                x.with_dtype(DType::U8),
                TensorType::scalar(DType::F32),
                TensorType::scalar(DType::U8),
            ])
        }
        Op::MatMulInteger => {
            arity(op, inputs, 2, 4)?;
            let (a, b) = (ty(0), ty(1));
            quantized(op, "a", a)?;
            quantized(op, "b", b)?;
            if let Some(z) = opt(2) {
                zero_point(op, "a's zero point", z, a, true)?;
            }
            if let Some(z) = opt(3) {
                zero_point(op, "b's zero point", z, b, false)?;
            }
            Ok(vec![TensorType::new(
                DType::I32,
                matmul_shape(op, &a.shape, &b.shape)?,
            )])
        }
        Op::QLinearMatMul => {
            arity(op, inputs, 8, 8)?;
            let (a, b) = (ty(0), ty(3));
            quantized(op, "a", a)?;
            quantized(op, "b", b)?;
            per_row_or_col(op, "a's scale", ty(1), a, true)?;
            zero_point(op, "a's zero point", ty(2), a, true)?;
            per_row_or_col(op, "b's scale", ty(4), b, false)?;
            zero_point(op, "b's zero point", ty(5), b, false)?;
            single(op, "y's scale", ty(6))?;
            float_param(op, "y's scale", ty(6))?;
            single(op, "y's zero point", ty(7))?;
            quantized(op, "y's zero point", ty(7))?;
            Ok(vec![TensorType::new(
                ty(7).dtype,
                matmul_shape(op, &a.shape, &b.shape)?,
            )])
        }
        Op::ConvInteger {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            arity(op, inputs, 2, 4)?;
            let (x, w) = (ty(0), ty(1));
            quantized(op, "x", x)?;
            quantized(op, "w", w)?;
            if let Some(z) = opt(2) {
                same(op, "x's zero point", z, x)?;
                single(op, "x's zero point", z)?;
            }
            if let Some(z) = opt(3) {
                same(op, "w's zero point", z, w)?;
                per_channel(op, "w's zero point", z, w)?;
            }
            let shape = conv_shape(op, x, w, strides, pads, dilations, *group, *auto_pad)?;
            Ok(vec![TensorType::new(DType::I32, shape)])
        }
        Op::QLinearConv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            arity(op, inputs, 8, 9)?;
            let (x, w) = (ty(0), ty(3));
            quantized(op, "x", x)?;
            quantized(op, "w", w)?;
            for (i, what) in [(1, "x's scale"), (6, "y's scale")] {
                float_param(op, what, ty(i))?;
                single(op, what, ty(i))?;
            }
            same(op, "x's zero point", ty(2), x)?;
            single(op, "x's zero point", ty(2))?;
            float_param(op, "w's scale", ty(4))?;
            per_channel(op, "w's scale", ty(4), w)?;
            same(op, "w's zero point", ty(5), w)?;
            per_channel(op, "w's zero point", ty(5), w)?;
            quantized(op, "y's zero point", ty(7))?;
            single(op, "y's zero point", ty(7))?;
            if let Some(bias) = opt(8) {
                if bias.dtype != DType::I32 || bias.rank() != 1 {
                    return Err(dtype_err(op, "bias", bias, "a 1-D i32 tensor"));
                }
                per_channel(op, "bias", bias, w)?;
            }
            let shape = conv_shape(op, x, w, strides, pads, dilations, *group, *auto_pad)?;
            Ok(vec![TensorType::new(ty(7).dtype, shape)])
        }
        Op::QLinearAdd => {
            arity(op, inputs, 8, 8)?;
            let (a, b) = (ty(0), ty(3));
            quantized(op, "a", a)?;
            same(op, "b", b, a)?;
            for (i, what) in [(1, "a's scale"), (4, "b's scale"), (6, "c's scale")] {
                float_param(op, what, ty(i))?;
                single(op, what, ty(i))?;
            }
            same(op, "a's zero point", ty(2), a)?;
            single(op, "a's zero point", ty(2))?;
            same(op, "b's zero point", ty(5), b)?;
            single(op, "b's zero point", ty(5))?;
            quantized(op, "c's zero point", ty(7))?;
            single(op, "c's zero point", ty(7))?;
            let shape = broadcast(&a.shape, &b.shape).map_err(|e| invalid(op, e))?;
            Ok(vec![TensorType::new(ty(7).dtype, shape)])
        }
        Op::QLinearGlobalAveragePool { channels_last } => {
            arity(op, inputs, 5, 5)?;
            let x = ty(0);
            quantized(op, "x", x)?;
            if x.rank() < 3 {
                let layout = if *channels_last {
                    "[N, spatial.., C]"
                } else {
                    "[N, C, spatial..]"
                };
                return Err(invalid(
                    op,
                    format!("x {x} must have rank 3 or more ({layout})"),
                ));
            }
            for (i, what) in [(1, "x's scale"), (3, "y's scale")] {
                float_param(op, what, ty(i))?;
                single(op, what, ty(i))?;
            }
            same(op, "x's zero point", ty(2), x)?;
            single(op, "x's zero point", ty(2))?;
            quantized(op, "y's zero point", ty(4))?;
            single(op, "y's zero point", ty(4))?;
            let r = x.rank();
            let (first, last) = if *channels_last { (1, r - 1) } else { (2, r) };
            let shape = x
                .shape
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    if (first..last).contains(&i) {
                        Dim::Known(1)
                    } else {
                        d.clone()
                    }
                })
                .collect::<Vec<_>>();
            Ok(vec![TensorType::new(ty(4).dtype, shape)])
        }
        Op::QGemm {
            trans_a, trans_b, ..
        } => {
            arity(op, inputs, 6, 9)?;
            let (a, b) = (ty(0), ty(3));
            quantized(op, "a", a)?;
            quantized(op, "b", b)?;
            if a.rank() != 2 || b.rank() != 2 {
                return Err(invalid(op, format!("a {a} and b {b} must be matrices")));
            }
            float_param(op, "a's scale", ty(1))?;
            single(op, "a's scale", ty(1))?;
            same(op, "a's zero point", ty(2), a)?;
            single(op, "a's zero point", ty(2))?;
            let (m, ka) = if *trans_a {
                (&a.shape[1], &a.shape[0])
            } else {
                (&a.shape[0], &a.shape[1])
            };
            let (kb, n) = if *trans_b {
                (&b.shape[1], &b.shape[0])
            } else {
                (&b.shape[0], &b.shape[1])
            };
            if !ka.compatible(kb) {
                return Err(invalid(
                    op,
                    format!("a {a} and b {b} disagree on the inner dim"),
                ));
            }
            let per_col = |what: &str, t: &TensorType| -> Result<(), InferError> {
                if is_single(t) || (t.rank() == 1 && t.shape[0].compatible(n)) {
                    Ok(())
                } else {
                    Err(invalid(
                        op,
                        format!("{what} must hold one element or one per column ({n}), not {t}"),
                    ))
                }
            };
            float_param(op, "b's scale", ty(4))?;
            per_col("b's scale", ty(4))?;
            same(op, "b's zero point", ty(5), b)?;
            per_col("b's zero point", ty(5))?;
            if let Some(c) = opt(6) {
                if c.dtype != DType::I32 {
                    return Err(dtype_err(op, "c", c, "i32"));
                }
                if !unidirectional(&c.shape, &[m.clone(), n.clone()]) {
                    return Err(invalid(
                        op,
                        format!("c {c} does not broadcast to [{m}, {n}]"),
                    ));
                }
            }
            let out = match (opt(7), opt(8)) {
                (None, None) => DType::F32,
                (Some(s), z) => {
                    float_param(op, "y's scale", s)?;
                    single(op, "y's scale", s)?;
                    match z {
                        Some(z) => {
                            quantized(op, "y's zero point", z)?;
                            single(op, "y's zero point", z)?;
                            z.dtype
                        }
                        None => DType::U8,
                    }
                }
                (None, Some(_)) => {
                    return Err(invalid(op, "y's zero point without y's scale"));
                }
            };
            Ok(vec![TensorType::new(out, vec![m.clone(), n.clone()])])
        }
        _ => unreachable!("{} is not a quant op", op.name()),
    }
}

/// The 8-bit integer types quantized tensors use.
fn is_q(d: DType) -> bool {
    matches!(d, DType::I8 | DType::U8)
}

fn dtype_err(op: &Op, what: &str, t: &TensorType, want: &str) -> InferError {
    invalid(op, format!("{what} is {t} but must be {want}"))
}

fn quantized(op: &Op, what: &str, t: &TensorType) -> Result<(), InferError> {
    if is_q(t.dtype) {
        Ok(())
    } else {
        Err(dtype_err(op, what, t, "i8 or u8"))
    }
}

fn float_param(op: &Op, what: &str, t: &TensorType) -> Result<(), InferError> {
    if t.dtype.is_float() {
        Ok(())
    } else {
        Err(dtype_err(op, what, t, "a float type"))
    }
}

fn same(op: &Op, what: &str, t: &TensorType, of: &TensorType) -> Result<(), InferError> {
    if t.dtype == of.dtype {
        Ok(())
    } else {
        Err(dtype_err(op, what, t, of.dtype.name()))
    }
}

/// Whether `t` holds one element (or may, when its dims are symbolic).
fn is_single(t: &TensorType) -> bool {
    t.rank() <= 1 && t.shape.iter().all(|d| d.compatible(&Dim::Known(1)))
}

fn single(op: &Op, what: &str, t: &TensorType) -> Result<(), InferError> {
    if is_single(t) {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!("{what} must hold one element, not {t}"),
        ))
    }
}

/// One element, or 1-D with one entry per output channel (w's axis 0).
fn per_channel(op: &Op, what: &str, t: &TensorType, w: &TensorType) -> Result<(), InferError> {
    if is_single(t) || (t.rank() == 1 && w.rank() >= 1 && t.shape[0].compatible(&w.shape[0])) {
        return Ok(());
    }
    Err(invalid(
        op,
        format!(
            "{what} must hold one element or one per output channel ({}), not {t}",
            w.shape.first().unwrap_or(&Dim::Known(1))
        ),
    ))
}

/// The dim a per-row (a: M) or per-column (b: N) parameter runs along, if
/// the matrix has it.
fn rows_or_cols(x: &TensorType, per_row: bool) -> Option<&Dim> {
    let r = x.rank();
    match (r, per_row) {
        (0 | 1, _) => None,
        (_, true) => Some(&x.shape[r - 2]),
        (_, false) => Some(&x.shape[r - 1]),
    }
}

/// A scale: one element, or 1-D per row of a / per column of b.
fn per_row_or_col(
    op: &Op,
    what: &str,
    t: &TensorType,
    x: &TensorType,
    per_row: bool,
) -> Result<(), InferError> {
    float_param(op, what, t)?;
    if is_single(t) {
        return Ok(());
    }
    match rows_or_cols(x, per_row) {
        Some(d) if t.rank() == 1 && t.shape[0].compatible(d) => Ok(()),
        _ => Err(invalid(
            op,
            format!(
                "{what} must hold one element or one per {} of {x}, not {t}",
                if per_row { "row" } else { "column" }
            ),
        )),
    }
}

/// A matmul zero point: as [`per_row_or_col`], or N-D broadcasting to x.
fn zero_point(
    op: &Op,
    what: &str,
    z: &TensorType,
    x: &TensorType,
    per_row: bool,
) -> Result<(), InferError> {
    same(op, what, z, x)?;
    if is_single(z) || (z.rank() >= 2 && unidirectional(&z.shape, &x.shape)) {
        return Ok(());
    }
    match rows_or_cols(x, per_row) {
        Some(d) if z.rank() == 1 && z.shape[0].compatible(d) => Ok(()),
        _ => Err(invalid(
            op,
            format!(
                "{what} must hold one element, one per {} of {x}, or broadcast to it; not {z}",
                if per_row { "row" } else { "column" }
            ),
        )),
    }
}

/// Quantize/dequantize scale (and zero point) layouts; see the module header.
fn scale_layout(
    op: &Op,
    x: &TensorType,
    s: &TensorType,
    zp: Option<&TensorType>,
    axis: i64,
    block_size: i64,
) -> Result<(), InferError> {
    if let Some(z) = zp {
        let same_shape =
            z.rank() == s.rank() && z.shape.iter().zip(&s.shape).all(|(a, b)| a.compatible(b));
        if !same_shape {
            return Err(invalid(
                op,
                format!(
                    "zero point shape {} differs from scale shape {}",
                    ShapeDisplay(&z.shape),
                    ShapeDisplay(&s.shape)
                ),
            ));
        }
    }
    let bad = |msg: String| invalid(op, msg);
    if block_size < 0 {
        return Err(bad(format!("block_size = {block_size} is negative")));
    }
    if block_size == 0 {
        if s.rank() == 0 || s.known_numel() == Some(1) {
            return Ok(());
        }
        if s.rank() != 1 {
            return Err(bad(format!(
                "scale must be a scalar or 1-D (per-axis) when block_size = 0, not {s}"
            )));
        }
        let a = norm_axis(axis, x.rank()).map_err(bad)?;
        if !s.shape[0].compatible(&x.shape[a]) {
            return Err(bad(format!(
                "per-axis scale {s} does not match axis {a} of x {x}"
            )));
        }
        return Ok(());
    }
    let a = norm_axis(axis, x.rank()).map_err(bad)?;
    let want: Vec<Dim> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i == a {
                d.ceil_div(&Dim::Known(block_size))
            } else {
                d.clone()
            }
        })
        .collect();
    if s.rank() != x.rank() || !s.shape.iter().zip(&want).all(|(p, q)| p.compatible(q)) {
        return Err(bad(format!(
            "blocked scale must have shape {} for x {x} (block_size {block_size} on axis {a}), not {}",
            ShapeDisplay(&want),
            ShapeDisplay(&s.shape)
        )));
    }
    Ok(())
}

/// MatMul's result shape: 1-D operands are promoted (and the added axis
/// removed), batch dims broadcast, inner dims must agree.
pub(crate) fn matmul_shape(op: &Op, a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, InferError> {
    if a.is_empty() || b.is_empty() {
        return Err(invalid(op, "matmul operands must have rank 1 or more"));
    }
    let one = Dim::Known(1);
    let a2: Vec<Dim> = if a.len() == 1 {
        vec![one.clone(), a[0].clone()]
    } else {
        a.to_vec()
    };
    let b2: Vec<Dim> = if b.len() == 1 {
        vec![b[0].clone(), one]
    } else {
        b.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    if !a2[ra - 1].compatible(&b2[rb - 2]) {
        return Err(invalid(
            op,
            format!(
                "inner dims differ: {} and {} (shapes {} and {})",
                a2[ra - 1],
                b2[rb - 2],
                ShapeDisplay(a),
                ShapeDisplay(b)
            ),
        ));
    }
    let mut out = broadcast(&a2[..ra - 2], &b2[..rb - 2]).map_err(|m| invalid(op, m))?;
    if a.len() > 1 {
        out.push(a2[ra - 2].clone());
    }
    if b.len() > 1 {
        out.push(b2[rb - 1].clone());
    }
    Ok(out)
}

/// Conv's result shape `[N, M, out..]` with, per spatial axis,
/// `out = floor((in + pad_begin + pad_end - dilation·(k-1) - 1) / stride) + 1`
/// (`ceil(in / stride)` for the `same_*` auto pads, no pads for `valid`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_shape(
    op: &Op,
    x: &TensorType,
    w: &TensorType,
    strides: &[i64],
    pads: &[i64],
    dilations: &[i64],
    group: i64,
    auto_pad: AutoPad,
) -> Result<Vec<Dim>, InferError> {
    let bad = |msg: String| invalid(op, msg);
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(bad(format!(
            "x must be [N, C, spatial..] and w [M, C/group, kernel..] of the same rank; got {x} and {w}"
        )));
    }
    let n = x.rank() - 2;
    let list = |name: &str, v: &[i64], len: usize, default: i64, min: i64| {
        if v.is_empty() {
            return Ok(vec![default; len]);
        }
        if v.len() != len || v.iter().any(|&e| e < min) {
            return Err(bad(format!(
                "{name} = {v:?} must have {len} entries, each at least {min}"
            )));
        }
        Ok(v.to_vec())
    };
    let strides = list("strides", strides, n, 1, 1)?;
    let dilations = list("dilations", dilations, n, 1, 1)?;
    let pads = list("pads", pads, 2 * n, 0, 0)?;
    if group < 1 {
        return Err(bad(format!("group = {group} must be at least 1")));
    }
    let g = Dim::Known(group);
    if !x.shape[1].compatible(&w.shape[1].mul(&g)) {
        return Err(bad(format!(
            "x has {} channels but w expects {} × group {group}",
            x.shape[1], w.shape[1]
        )));
    }
    if let Some(m) = w.shape[0].as_known() {
        if m % group != 0 {
            return Err(bad(format!(
                "{m} output channels do not divide into {group} groups"
            )));
        }
    }
    let mut out = vec![x.shape[0].clone(), w.shape[0].clone()];
    for i in 0..n {
        let (inp, k) = (&x.shape[2 + i], &w.shape[2 + i]);
        let s = Dim::Known(strides[i]);
        let d = match auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => inp.ceil_div(&s),
            AutoPad::NotSet | AutoPad::Valid => {
                let (pb, pe) = match auto_pad {
                    AutoPad::NotSet => (pads[i], pads[n + i]),
                    _ => (0, 0),
                };
                let span = k
                    .sub(&Dim::Known(1))
                    .mul(&Dim::Known(dilations[i]))
                    .add(&Dim::Known(1));
                inp.add(&Dim::Known(pb))
                    .add(&Dim::Known(pe))
                    .sub(&span)
                    .floor_div(&s)
                    .add(&Dim::Known(1))
            }
        };
        if let Some(v) = d.as_known().filter(|&v| v < 0) {
            return Err(bad(format!(
                "spatial axis {i}: the kernel (size {k}, dilation {}) does not fit the padded input (size {inp}); output size would be {v}",
                dilations[i]
            )));
        }
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
