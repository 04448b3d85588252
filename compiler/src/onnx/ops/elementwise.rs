//! Elementwise ONNX ops: math, comparison, logic, activations, Cast/CastLike,
//! Clip, Where, and the variadic Sum/Mean/Max/Min (folded into chains).

use super::{Convert, Cx};
use crate::onnx::OnnxError;
use ingot_ir::attr::{GeluApprox, ShiftDirection};
use ingot_ir::{DType, Op, Value};

pub(super) fn converter(op_type: &str) -> Option<Convert> {
    Some(match op_type {
        "Neg" | "Abs" | "Sign" | "Exp" | "Log" | "Sqrt" | "Reciprocal" | "Floor" | "Ceil"
        | "Round" | "Sin" | "Cos" | "Tan" | "Asin" | "Acos" | "Atan" | "Sinh" | "Cosh"
        | "Asinh" | "Acosh" | "Atanh" | "Tanh" | "Sigmoid" | "Relu" | "Erf" | "Softplus"
        | "Softsign" | "Mish" | "HardSwish" | "Not" | "IsNaN" | "BitwiseNot" | "Add" | "Sub"
        | "Mul" | "Div" | "Pow" | "Equal" | "Less" | "LessOrEqual" | "Greater"
        | "GreaterOrEqual" | "And" | "Or" | "Xor" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor"
        | "PRelu" | "Where" => simple,
        "Sum" | "Mean" | "Max" | "Min" => variadic,
        "Mod" | "BitShift" | "LeakyRelu" | "Elu" | "Selu" | "Celu" | "ThresholdedRelu"
        | "HardSigmoid" | "Gelu" | "Shrink" | "IsInf" => with_attrs,
        "Cast" | "CastLike" => cast,
        "Clip" => clip,
        "Swish" => swish,
        _ => return None,
    })
}

/// The IR op of an attribute-free ONNX op.
fn simple_op(op_type: &str) -> Option<Op> {
    Some(match op_type {
        "Neg" => Op::Neg,
        "Abs" => Op::Abs,
        "Sign" => Op::Sign,
        "Exp" => Op::Exp,
        "Log" => Op::Log,
        "Sqrt" => Op::Sqrt,
        "Reciprocal" => Op::Reciprocal,
        "Floor" => Op::Floor,
        "Ceil" => Op::Ceil,
        "Round" => Op::Round,
        "Sin" => Op::Sin,
        "Cos" => Op::Cos,
        "Tan" => Op::Tan,
        "Asin" => Op::Asin,
        "Acos" => Op::Acos,
        "Atan" => Op::Atan,
        "Sinh" => Op::Sinh,
        "Cosh" => Op::Cosh,
        "Asinh" => Op::Asinh,
        "Acosh" => Op::Acosh,
        "Atanh" => Op::Atanh,
        "Tanh" => Op::Tanh,
        "Sigmoid" => Op::Sigmoid,
        "Relu" => Op::Relu,
        "Erf" => Op::Erf,
        "Softplus" => Op::Softplus,
        "Softsign" => Op::Softsign,
        "Mish" => Op::Mish,
        "HardSwish" => Op::HardSwish,
        "Not" => Op::Not,
        "IsNaN" => Op::IsNaN,
        "BitwiseNot" => Op::BitwiseNot,
        "Add" | "Sum" => Op::Add,
        "Sub" => Op::Sub,
        "Mul" => Op::Mul,
        "Div" => Op::Div,
        "Pow" => Op::Pow,
        "Max" => Op::Max,
        "Min" => Op::Min,
        "Equal" => Op::Equal,
        "Less" => Op::Less,
        "LessOrEqual" => Op::LessOrEqual,
        "Greater" => Op::Greater,
        "GreaterOrEqual" => Op::GreaterOrEqual,
        "And" => Op::And,
        "Or" => Op::Or,
        "Xor" => Op::Xor,
        "BitwiseAnd" => Op::BitwiseAnd,
        "BitwiseOr" => Op::BitwiseOr,
        "BitwiseXor" => Op::BitwiseXor,
        "PRelu" => Op::PRelu,
        "Where" => Op::Where,
        _ => return None,
    })
}

fn simple(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let op = simple_op(cx.op_type()).ok_or_else(|| cx.err("no IR op"))?;
    let ins = cx.all_inputs()?;
    cx.add(op, &ins)
}

/// Sum/Mean/Max/Min: a left fold of the binary op; Mean divides by the count.
fn variadic(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let ins = cx.all_inputs()?;
    let Some((&first, rest)) = ins.split_first() else {
        return Err(cx.err("needs at least one input"));
    };
    let op = simple_op(if cx.op_type() == "Mean" {
        "Add"
    } else {
        cx.op_type()
    })
    .ok_or_else(|| cx.err("no IR op"))?;
    let mut acc = first;
    for &v in rest {
        acc = cx.add1(op.clone(), &[acc, v])?;
    }
    if cx.op_type() == "Mean" && !rest.is_empty() {
        let n = cx.const_scalar(cx.ty(first).dtype, ins.len() as f64)?;
        acc = cx.add1(Op::Div, &[acc, n])?;
    }
    Ok(vec![acc])
}

fn with_attrs(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    let op = match cx.op_type() {
        "Mod" => Op::Mod {
            fmod: cx.a(at.bool("fmod", false))?,
        },
        "BitShift" => {
            let d = cx.a(at.string("direction", ""))?;
            Op::BitShift {
                direction: match d.as_str() {
                    "LEFT" => ShiftDirection::Left,
                    "RIGHT" => ShiftDirection::Right,
                    _ => return Err(cx.err(format!("direction must be LEFT or RIGHT, not {d:?}"))),
                },
            }
        }
        "LeakyRelu" => Op::LeakyRelu {
            alpha: cx.a(at.float("alpha", 0.01))?,
        },
        "Elu" => Op::Elu {
            alpha: cx.a(at.float("alpha", 1.0))?,
        },
        "Selu" => Op::Selu {
            alpha: cx.a(at.float("alpha", 1.673_263_2))?,
            gamma: cx.a(at.float("gamma", 1.050_701))?,
        },
        "Celu" => Op::Celu {
            alpha: cx.a(at.float("alpha", 1.0))?,
        },
        "ThresholdedRelu" => Op::ThresholdedRelu {
            alpha: cx.a(at.float("alpha", 1.0))?,
        },
        "HardSigmoid" => Op::HardSigmoid {
            alpha: cx.a(at.float("alpha", 0.2))?,
            beta: cx.a(at.float("beta", 0.5))?,
        },
        "Gelu" => {
            let s = cx.a(at.string("approximate", "none"))?;
            Op::Gelu {
                approximate: GeluApprox::from_name(&s)
                    .ok_or_else(|| cx.err(format!("unknown approximate {s:?}")))?,
            }
        }
        "Shrink" => Op::Shrink {
            bias: cx.a(at.float("bias", 0.0))?,
            lambd: cx.a(at.float("lambd", 0.5))?,
        },
        "IsInf" => Op::IsInf {
            detect_negative: cx.a(at.bool("detect_negative", true))?,
            detect_positive: cx.a(at.bool("detect_positive", true))?,
        },
        _ => return Err(cx.err("no IR op")),
    };
    let ins = cx.all_inputs()?;
    cx.add(op, &ins)
}

fn cast(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let to = if cx.op_type() == "CastLike" {
        let like = cx.req(1)?;
        cx.ty(like).dtype
    } else {
        let code = cx
            .a(cx.attrs.int_opt("to"))?
            .ok_or_else(|| cx.err("missing attribute `to`"))?;
        cx.dtype(code)?
    };
    let saturate = cx.a(cx.attrs.bool("saturate", true))?;
    Ok(vec![cx.add1(Op::Cast { to, saturate }, &[x])?])
}

/// The lowest and highest finite-or-infinite values of a dtype, for Clip.
fn extremes(dt: DType) -> (f64, f64) {
    match dt {
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 | DType::Bool => (0.0, u8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        // i64 extremes are not exact in f64; the constant is built from i64.
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// Clip: `clip %x[, %min[, %max]]`. Before opset 11 the bounds are
/// attributes; a missing min before a present max is filled with the dtype's
/// lowest value.
fn clip(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let dt = cx.ty(x).dtype;
    let bound = |cx: &mut Cx, v: f64| -> Result<Value, OnnxError> {
        if dt == DType::I64 {
            let i = if v < 0.0 { i64::MIN } else { i64::MAX };
            let t = ingot_ir::Tensor::from_slice(&[], &[i]).map_err(|e| cx.err(e.to_string()))?;
            return Ok(cx.constant(t));
        }
        cx.const_scalar(dt, v)
    };
    let (lo, hi) = if cx.opset < 11 {
        let lo = cx.a(cx.attrs.float_opt("min"))?;
        let hi = cx.a(cx.attrs.float_opt("max"))?;
        let lo = match lo {
            Some(l) => Some(cx.const_scalar(dt, f64::from(l))?),
            None => None,
        };
        let hi = match hi {
            Some(h) => Some(cx.const_scalar(dt, f64::from(h))?),
            None => None,
        };
        (lo, hi)
    } else {
        (cx.input(1)?, cx.input(2)?)
    };
    let ins = match (lo, hi) {
        (None, None) => vec![x],
        (Some(l), None) => vec![x, l],
        (l, Some(h)) => {
            let l = match l {
                Some(l) => l,
                None => bound(cx, extremes(dt).0)?,
            };
            vec![x, l, h]
        }
    };
    Ok(vec![cx.add1(Op::Clip, &ins)?])
}

/// Swish (opset 24): `x * sigmoid(alpha * x)`.
fn swish(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let alpha = cx.a(cx.attrs.float("alpha", 1.0))?;
    let dt = cx.ty(x).dtype;
    let s = if alpha == 1.0 {
        cx.add1(Op::Sigmoid, &[x])?
    } else {
        let a = cx.const_scalar(dt, f64::from(alpha))?;
        let ax = cx.add1(Op::Mul, &[x, a])?;
        cx.add1(Op::Sigmoid, &[ax])?
    };
    Ok(vec![cx.add1(Op::Mul, &[x, s])?])
}
