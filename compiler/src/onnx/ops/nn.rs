//! Contractions (MatMul, Gemm, Conv, ConvTranspose, Einsum), pooling,
//! normalization, and quantization ops.
//!
//! Convolution and pooling attributes are filled to full length (one entry
//! per spatial axis; `pads` begins then ends), which needs the spatial rank:
//! taken from the input's rank minus two.

use super::{auto_pad, Cx};
use crate::onnx::OnnxError;
use ingot_ir::{DType, Op, Tensor, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "MatMul" => matmul,
        "Gemm" => gemm,
        "Conv" | "ConvInteger" | "QLinearConv" => conv,
        "ConvTranspose" => conv_transpose,
        "Einsum" => einsum,
        "MaxPool" | "AveragePool" | "LpPool" => pool,
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => global_pool,
        "BatchNormalization"
        | "InstanceNormalization"
        | "LayerNormalization"
        | "GroupNormalization"
        | "RMSNormalization"
        | "LpNormalization"
        | "MeanVarianceNormalization"
        | "LRN" => norm,
        "QuantizeLinear"
        | "DequantizeLinear"
        | "DynamicQuantizeLinear"
        | "MatMulInteger"
        | "QLinearMatMul" => quant,
        _ => return None,
    })
}

fn matmul(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (a, b) = (cx.req(0)?, cx.req(1)?);
    cx.add(Op::MatMul, &[a, b])
}

/// Gemm: `gemm %a, %b[, %c]`.
fn gemm(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    let op = Op::Gemm {
        alpha: cx.a(at.float("alpha", 1.0))?,
        beta: cx.a(at.float("beta", 1.0))?,
        trans_a: cx.a(at.bool("transA", false))?,
        trans_b: cx.a(at.bool("transB", false))?,
    };
    let mut ins = vec![cx.req(0)?, cx.req(1)?];
    if let Some(c) = cx.input(2)? {
        ins.push(c);
    }
    cx.add(op, &ins)
}

/// The number of spatial axes of input 0 (rank − 2).
fn spatial(cx: &Cx) -> Result<usize, OnnxError> {
    let x = cx.req(0)?;
    cx.rank(x)
        .checked_sub(2)
        .filter(|&n| n >= 1)
        .ok_or_else(|| cx.err("input must have rank ≥ 3 (N, C, spatial...)"))
}

/// An int-list attribute of length `n` (or `default` repeated).
fn full(cx: &Cx, name: &str, n: usize, default: i64) -> Result<Vec<i64>, OnnxError> {
    match cx.a(cx.attrs.ints_opt(name))? {
        Some(v) if v.len() == n => Ok(v),
        Some(v) if v.is_empty() => Ok(vec![default; n]),
        Some(v) => Err(cx.err(format!(
            "attribute `{name}` has {} entries, expected {n}",
            v.len()
        ))),
        None => Ok(vec![default; n]),
    }
}

/// Conv, ConvInteger, QLinearConv: same attributes, different operands.
fn conv(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let n = spatial(cx)?;
    let strides = full(cx, "strides", n, 1)?;
    let pads = full(cx, "pads", 2 * n, 0)?;
    let dilations = full(cx, "dilations", n, 1)?;
    let group = cx.a(cx.attrs.int("group", 1))?;
    let auto_pad = auto_pad(cx)?;
    let ins = match cx.op_type() {
        "Conv" => {
            let mut v = vec![cx.req(0)?, cx.req(1)?];
            v.extend(cx.input(2)?);
            v
        }
        "ConvInteger" => quant_operands(cx, &[true, true, false, false])?,
        _ => quant_operands(cx, &[true, true, true, true, true, true, true, true, false])?,
    };
    let op = match cx.op_type() {
        "Conv" => Op::Conv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        },
        "ConvInteger" => Op::ConvInteger {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        },
        _ => Op::QLinearConv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        },
    };
    cx.add(op, &ins)
}

fn conv_transpose(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let n = spatial(cx)?;
    let op = Op::ConvTranspose {
        strides: full(cx, "strides", n, 1)?,
        pads: full(cx, "pads", 2 * n, 0)?,
        dilations: full(cx, "dilations", n, 1)?,
        group: cx.a(cx.attrs.int("group", 1))?,
        auto_pad: auto_pad(cx)?,
        output_padding: full(cx, "output_padding", n, 0)?,
        output_shape: cx.a(cx.attrs.ints("output_shape"))?,
    };
    let mut ins = vec![cx.req(0)?, cx.req(1)?];
    ins.extend(cx.input(2)?);
    cx.add(op, &ins)
}

fn einsum(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let equation = cx.a(cx.attrs.string("equation", ""))?;
    let ins = cx.all_inputs()?;
    cx.add(Op::Einsum { equation }, &ins)
}

/// MaxPool/AveragePool/LpPool. MaxPool's IR form always has two results
/// (values, i64 indices); an ONNX node with one output just leaves the second
/// unbound.
fn pool(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let n = spatial(cx)?;
    let kernel_shape = cx.a(cx.attrs.ints("kernel_shape"))?;
    if kernel_shape.len() != n {
        return Err(cx.err(format!(
            "kernel_shape has {} entries, expected {n}",
            kernel_shape.len()
        )));
    }
    let strides = full(cx, "strides", n, 1)?;
    let pads = full(cx, "pads", 2 * n, 0)?;
    let dilations = full(cx, "dilations", n, 1)?;
    let ceil_mode = cx.a(cx.attrs.bool("ceil_mode", false))?;
    let auto_pad = auto_pad(cx)?;
    let op = match cx.op_type() {
        "MaxPool" => Op::MaxPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            storage_order: cx.a(cx.attrs.int("storage_order", 0))?,
        },
        "AveragePool" => Op::AveragePool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            count_include_pad: cx.a(cx.attrs.bool("count_include_pad", false))?,
        },
        _ => Op::LpPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            p: cx.a(cx.attrs.int("p", 2))?,
        },
    };
    let x = cx.req(0)?;
    cx.add(op, &[x])
}

fn global_pool(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let op = match cx.op_type() {
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "GlobalMaxPool" => Op::GlobalMaxPool,
        _ => Op::GlobalLpPool {
            p: cx.a(cx.attrs.int("p", 2))?,
        },
    };
    let x = cx.req(0)?;
    cx.add(op, &[x])
}

fn norm(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    let eps = cx.a(at.float("epsilon", 1e-5))?;
    let mut ins = cx.all_inputs()?;
    let op = match cx.op_type() {
        "BatchNormalization" => {
            if cx.a(at.bool("training_mode", false))? || cx.wants_output(1) {
                return Err(cx.unsupported("training mode"));
            }
            Op::BatchNorm { epsilon: eps }
        }
        "InstanceNormalization" => Op::InstanceNorm { epsilon: eps },
        "LayerNormalization" => {
            let axis = cx.a(at.int("axis", -1))?;
            let y = cx.add1(Op::LayerNorm { axis, epsilon: eps }, &ins)?;
            if cx.wants_output(1) || cx.wants_output(2) {
                let (mean, inv) = layer_norm_stats(cx, ins[0], axis, eps)?;
                return Ok(vec![y, mean, inv]);
            }
            return Ok(vec![y]);
        }
        "GroupNormalization" => {
            let num_groups = cx
                .a(at.int_opt("num_groups"))?
                .ok_or_else(|| cx.err("missing attribute `num_groups`"))?;
            if cx.opset < 21 {
                // Opset 18 scales per group; the IR (newest) per channel.
                ins = group_to_channel(cx, &ins, num_groups)?;
            }
            Op::GroupNorm {
                epsilon: eps,
                num_groups,
            }
        }
        "RMSNormalization" => Op::RmsNorm {
            axis: cx.a(at.int("axis", -1))?,
            epsilon: eps,
        },
        "LpNormalization" => Op::LpNorm {
            axis: cx.a(at.int("axis", -1))?,
            p: cx.a(at.int("p", 2))?,
        },
        "MeanVarianceNormalization" => Op::MeanVarianceNorm {
            axes: cx.a(at.ints_opt("axes"))?.unwrap_or_else(|| vec![0, 2, 3]),
        },
        _ => Op::Lrn {
            alpha: cx.a(at.float("alpha", 1e-4))?,
            beta: cx.a(at.float("beta", 0.75))?,
            bias: cx.a(at.float("bias", 1.0))?,
            size: cx
                .a(at.int_opt("size"))?
                .ok_or_else(|| cx.err("missing attribute `size`"))?,
        },
    };
    cx.add(op, &ins)
}

/// LayerNormalization's optional Mean and InvStdDev outputs (f32, the
/// default `stash_type`), over axes `axis..rank`, keeping dims.
fn layer_norm_stats(
    cx: &mut Cx,
    x: Value,
    axis: i64,
    eps: f32,
) -> Result<(Value, Value), OnnxError> {
    let stash = cx.a(cx.attrs.int("stash_type", 1))?;
    if stash != 1 {
        return Err(cx.unsupported(format!("stash_type {stash}")));
    }
    let rank = cx.rank(x);
    let a = ingot_ir::infer::norm_axis(axis, rank).map_err(|e| cx.err(e))?;
    let axes: Vec<i64> = (a as i64..rank as i64).collect();
    let xs = if cx.ty(x).dtype == DType::F32 {
        x
    } else {
        cx.add1(
            Op::Cast {
                to: DType::F32,
                saturate: true,
            },
            &[x],
        )?
    };
    let mean = cx.add1(
        Op::ReduceMean {
            axes: axes.clone(),
            keepdims: true,
        },
        &[xs],
    )?;
    let d = cx.add1(Op::Sub, &[xs, mean])?;
    let d2 = cx.add1(Op::Mul, &[d, d])?;
    let var = cx.add1(
        Op::ReduceMean {
            axes,
            keepdims: true,
        },
        &[d2],
    )?;
    let e = cx.const_scalar(DType::F32, f64::from(eps))?;
    let ve = cx.add1(Op::Add, &[var, e])?;
    let sd = cx.add1(Op::Sqrt, &[ve])?;
    let inv = cx.add1(Op::Reciprocal, &[sd])?;
    Ok((mean, inv))
}

/// GroupNormalization-18 scale/bias have one entry per group: repeat each
/// C/G times (needs a static channel count).
fn group_to_channel(cx: &mut Cx, ins: &[Value], groups: i64) -> Result<Vec<Value>, OnnxError> {
    let x = ins[0];
    let c = cx
        .ty(x)
        .shape
        .get(1)
        .and_then(|d| d.as_known())
        .ok_or_else(|| cx.err("opset-18 GroupNormalization needs a static channel count"))?;
    if groups <= 0 || c % groups != 0 {
        return Err(cx.err(format!("{c} channels do not split into {groups} groups")));
    }
    let mut out = vec![x];
    for &v in &ins[1..] {
        let t = cx
            .konst(v)
            .ok_or_else(|| cx.err("opset-18 GroupNormalization needs constant scale/bias"))?;
        if t.numel() as i64 != groups {
            return Err(cx.err(format!(
                "scale/bias have {} entries, not {groups}",
                t.numel()
            )));
        }
        let vals = t.to_f64s();
        let rep: Vec<f64> = vals
            .iter()
            .flat_map(|&x| std::iter::repeat_n(x, (c / groups) as usize))
            .collect();
        let nt =
            Tensor::from_f64s(t.dtype(), &[c as usize], &rep).map_err(|e| cx.err(e.to_string()))?;
        out.push(cx.constant(nt));
    }
    Ok(out)
}

/// Operands of integer/quantized ops: `present[i]` says input `i` is
/// required; a missing optional zero point before a present later operand is
/// filled with a scalar zero of the matching data operand's dtype.
fn quant_operands(cx: &mut Cx, required: &[bool]) -> Result<Vec<Value>, OnnxError> {
    let n = cx.n_inputs().min(required.len());
    let last = (0..n).rev().find(|&i| !cx.node.input[i].is_empty());
    let mut out = vec![];
    let Some(last) = last else {
        return Ok(out);
    };
    for (i, &req) in required.iter().enumerate().take(last + 1) {
        match cx.input(i)? {
            Some(v) => out.push(v),
            None if req => return Err(cx.err(format!("input {i} is required"))),
            None => {
                // ConvInteger/MatMulInteger: zero point i pairs with data input i-2.
                let data = out
                    .get(i.saturating_sub(2))
                    .copied()
                    .ok_or_else(|| cx.err(format!("cannot fill missing input {i}")))?;
                let dt = cx.ty(data).dtype;
                out.push(cx.const_scalar(dt, 0.0)?);
            }
        }
    }
    Ok(out)
}

/// Converters for onnxruntime's com.microsoft ops.
pub(super) fn ms_converter(op_type: &str) -> Option<super::Convert> {
    match op_type {
        "QGemm" => Some(qgemm),
        "QLinearAdd" => Some(qlinear_add),
        "QLinearGlobalAveragePool" => Some(qlinear_global_average_pool),
        _ => None,
    }
}

/// com.microsoft QLinearAdd: `A, A_scale, A_zp?, B, B_scale, B_zp?,
/// C_scale, C_zp?`; a missing zero point is 0 of its tensor's type (u8 for
/// C).
fn qlinear_add(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (a, b) = (cx.req(0)?, cx.req(3)?);
    let mut ins = Vec::with_capacity(8);
    for (i, data) in [(0, Some(a)), (3, Some(b)), (6, None)] {
        if let Some(d) = data {
            ins.push(d);
        }
        ins.push(cx.req(i + 1)?);
        let zp = match cx.input(i + 2)? {
            Some(z) => z,
            None => {
                let dt = data.map_or(DType::U8, |d| cx.ty(d).dtype);
                cx.const_scalar(dt, 0.0)?
            }
        };
        ins.push(zp);
    }
    cx.add(Op::QLinearAdd, &ins)
}

/// com.microsoft QLinearGlobalAveragePool: `X, x_scale, x_zero_point?,
/// y_scale, y_zero_point?`, attribute `channels_last` (default 0); a
/// missing zero point is 0 of X's type (onnxruntime's Y has X's type).
fn qlinear_global_average_pool(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let dt = cx.ty(x).dtype;
    let mut ins = vec![x];
    for i in [1, 3] {
        ins.push(cx.req(i)?);
        let zp = match cx.input(i + 1)? {
            Some(z) => z,
            None => cx.const_scalar(dt, 0.0)?,
        };
        ins.push(zp);
    }
    let channels_last = match cx.a(cx.attrs.int("channels_last", 0))? {
        0 => false,
        1 => true,
        v => return Err(cx.err(format!("channels_last = {v} must be 0 or 1"))),
    };
    cx.add(Op::QLinearGlobalAveragePool { channels_last }, &ins)
}

/// com.microsoft QGemm: `A, a_scale, a_zp, B, b_scale, b_zp[, C[, y_scale[,
/// y_zp]]]`, attributes `alpha`, `transA`, `transB`.
fn qgemm(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let mut ins = Vec::new();
    for i in 0..6 {
        ins.push(cx.req(i)?);
    }
    let c = cx.input(6)?;
    let ys = cx.input(7)?;
    let yz = cx.input(8)?;
    if yz.is_some() && ys.is_none() {
        return Err(cx.err("y_zero_point without y_scale"));
    }
    match (c, ys) {
        (Some(c), _) => ins.push(c),
        (None, Some(_)) => {
            // A zero bias keeps the positional layout.
            let zero = Tensor::zeros(DType::I32, &[1]).map_err(|e| cx.err(e.to_string()))?;
            ins.push(cx.g().add_const(zero));
        }
        (None, None) => {}
    }
    ins.extend(ys);
    ins.extend(yz);
    let op = Op::QGemm {
        alpha: cx.a(cx.attrs.float("alpha", 1.0))?,
        trans_a: cx.a(cx.attrs.int("transA", 0))? != 0,
        trans_b: cx.a(cx.attrs.int("transB", 0))? != 0,
    };
    cx.add(op, &ins)
}

fn quant(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    match cx.op_type() {
        "MatMulInteger" => {
            let ins = quant_operands(cx, &[true, true, false, false])?;
            cx.add(Op::MatMulInteger, &ins)
        }
        "QLinearMatMul" => {
            let ins = quant_operands(cx, &[true; 8])?;
            cx.add(Op::QLinearMatMul, &ins)
        }
        "DynamicQuantizeLinear" => {
            let x = cx.req(0)?;
            cx.add(Op::DynamicQuantizeLinear, &[x])
        }
        "QuantizeLinear" => {
            let (x, scale) = (cx.req(0)?, cx.req(1)?);
            let zp = match cx.input(2)? {
                Some(z) => z,
                None => {
                    // The result dtype is the zero point's: make it explicit.
                    let code = cx.a(cx.attrs.int("output_dtype", 0))?;
                    let dt = if code == 0 {
                        DType::U8
                    } else {
                        cx.dtype(code)?
                    };
                    if cx.rank(scale) == 0 {
                        cx.const_scalar(dt, 0.0)?
                    } else {
                        // Per-axis and blocked scales need a zero point of
                        // the scale's shape (which may be symbolic).
                        let zero = Tensor::zeros(dt, &[1]).map_err(|e| cx.err(e.to_string()))?;
                        let shape = cx.add1(
                            Op::Shape {
                                start: 0,
                                end: None,
                            },
                            &[scale],
                        )?;
                        cx.add1(Op::ConstantOfShape { value: zero }, &[shape])?
                    }
                }
            };
            let op = Op::QuantizeLinear {
                axis: cx.a(cx.attrs.int("axis", 1))?,
                block_size: cx.a(cx.attrs.int("block_size", 0))?,
                saturate: cx.a(cx.attrs.bool("saturate", true))?,
            };
            cx.add(op, &[x, scale, zp])
        }
        _ => {
            if cx.a(cx.attrs.int("output_dtype", 0))? != 0 {
                return Err(cx.unsupported("output_dtype"));
            }
            let mut ins = vec![cx.req(0)?, cx.req(1)?];
            ins.extend(cx.input(2)?);
            let op = Op::DequantizeLinear {
                axis: cx.a(cx.attrs.int("axis", 1))?,
                block_size: cx.a(cx.attrs.int("block_size", 0))?,
            };
            cx.add(op, &ins)
        }
    }
}
