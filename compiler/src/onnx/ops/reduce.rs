//! Reductions, the softmax family, arg-reductions, CumSum and TopK.
//!
//! ReduceX axes moved from attribute to input (ReduceSum at opset 13, the
//! others at 18); an axes input must be a compile-time constant because the
//! IR keeps axes as an attribute. Empty axes with `noop_with_empty_axes` is
//! the identity. Softmax before opset 13 means "flatten to 2-D at `axis`,
//! softmax each row, reshape back".

use super::Cx;
use crate::onnx::OnnxError;
use ingot_ir::{Op, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" => reduce,
        "ArgMax" | "ArgMin" => arg,
        "Softmax" | "LogSoftmax" | "Hardmax" => softmax,
        "CumSum" => cumsum,
        "TopK" => topk,
        _ => return None,
    })
}

fn reduce(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axes_as_input = if cx.op_type() == "ReduceSum" {
        cx.opset >= 13
    } else {
        cx.opset >= 18
    };
    let axes = if axes_as_input {
        cx.const_ints(1, "axes")?.unwrap_or_default()
    } else {
        cx.a(cx.attrs.ints("axes"))?
    };
    let keepdims = cx.a(cx.attrs.bool("keepdims", true))?;
    if axes.is_empty() && cx.a(cx.attrs.bool("noop_with_empty_axes", false))? {
        return Ok(vec![x]);
    }
    let op = match cx.op_type() {
        "ReduceSum" => Op::ReduceSum { axes, keepdims },
        "ReduceMean" => Op::ReduceMean { axes, keepdims },
        "ReduceMax" => Op::ReduceMax { axes, keepdims },
        "ReduceMin" => Op::ReduceMin { axes, keepdims },
        "ReduceProd" => Op::ReduceProd { axes, keepdims },
        "ReduceL1" => Op::ReduceL1 { axes, keepdims },
        "ReduceL2" => Op::ReduceL2 { axes, keepdims },
        "ReduceLogSum" => Op::ReduceLogSum { axes, keepdims },
        "ReduceLogSumExp" => Op::ReduceLogSumExp { axes, keepdims },
        _ => Op::ReduceSumSquare { axes, keepdims },
    };
    cx.add(op, &[x])
}

fn arg(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axis = cx.a(cx.attrs.int("axis", 0))?;
    let keepdims = cx.a(cx.attrs.bool("keepdims", true))?;
    let select_last_index = cx.a(cx.attrs.bool("select_last_index", false))?;
    let op = if cx.op_type() == "ArgMax" {
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
        }
    } else {
        Op::ArgMin {
            axis,
            keepdims,
            select_last_index,
        }
    };
    cx.add(op, &[x])
}

fn softmax(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let make = |name: &str, axis: i64| match name {
        "Softmax" => Op::Softmax { axis },
        "LogSoftmax" => Op::LogSoftmax { axis },
        _ => Op::Hardmax { axis },
    };
    let name = cx.op_type().to_string();
    if cx.opset >= 13 {
        let axis = cx.a(cx.attrs.int("axis", -1))?;
        return cx.add(make(&name, axis), &[x]);
    }
    let rank = cx.rank(x) as i64;
    let axis = cx.a(cx.attrs.int("axis", 1))?;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank.max(1)).contains(&axis) {
        return Err(cx.err(format!("axis {axis} is out of range for rank {rank}")));
    }
    // Flattening at the last axis changes nothing: one softmax over it.
    if axis == rank - 1 || rank == 0 {
        return cx.add(make(&name, -1), &[x]);
    }
    let shape = cx.add1(
        Op::Shape {
            start: 0,
            end: None,
        },
        &[x],
    )?;
    let flat = cx.add1(Op::Flatten { axis }, &[x])?;
    let y = cx.add1(make(&name, 1), &[flat])?;
    Ok(vec![cx.add1(Op::Reshape { allowzero: false }, &[y, shape])?])
}

fn cumsum(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (x, axis) = (cx.req(0)?, cx.req(1)?);
    let op = Op::CumSum {
        exclusive: cx.a(cx.attrs.bool("exclusive", false))?,
        reverse: cx.a(cx.attrs.bool("reverse", false))?,
    };
    cx.add(op, &[x, axis])
}

/// TopK: `top_k %x, %k` → values, indices. Before opset 10, k is an attribute.
fn topk(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let k = if cx.opset < 10 {
        let k = cx
            .a(cx.attrs.int_opt("k"))?
            .ok_or_else(|| cx.err("missing attribute `k`"))?;
        cx.const_i64s(&[k])
    } else {
        cx.req(1)?
    };
    let op = Op::TopK {
        axis: cx.a(cx.attrs.int("axis", -1))?,
        largest: cx.a(cx.attrs.bool("largest", true))?,
        sorted: cx.a(cx.attrs.bool("sorted", true))?,
    };
    cx.add(op, &[x, k])
}
