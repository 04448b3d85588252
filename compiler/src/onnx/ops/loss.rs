//! NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, decomposed into IR
//! ops (ONNX defines both as functions; this follows those definitions).
//!
//! `loss[n, d...] = -x[n, t[n, d...], d...] * w[t[n, d...]]`, zero where
//! `t == ignore_index`; `mean` divides the sum by the sum of the applied
//! weights. SoftmaxCrossEntropyLoss applies it to `log_softmax(scores, 1)` and
//! may also return that log-probability.

use super::Cx;
use crate::onnx::OnnxError;
use ingot_ir::{Op, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "NegativeLogLikelihoodLoss" => |cx| {
            let x = cx.req(0)?;
            Ok(vec![nll(cx, x)?])
        },
        "SoftmaxCrossEntropyLoss" => |cx| {
            let scores = cx.req(0)?;
            let logp = cx.add1(Op::LogSoftmax { axis: 1 }, &[scores])?;
            let loss = nll(cx, logp)?;
            Ok(vec![loss, logp])
        },
        _ => return None,
    })
}

/// The NLL loss of log-probabilities `x` (`[N, C, d...]`) against the node's
/// target (input 1) and optional weights (input 2).
fn nll(cx: &mut Cx, x: Value) -> Result<Value, OnnxError> {
    let t = cx.req(1)?;
    let weight = cx.input(2)?;
    let reduction = cx.a(cx.attrs.string("reduction", "mean"))?;
    let ignore = cx.a(cx.attrs.int_opt("ignore_index"))?;
    let dt = cx.ty(x).dtype;
    let tdt = cx.ty(t).dtype;
    // Where the target is ignored, gather class 0 instead (then zero it).
    let (t_safe, mask) = match ignore {
        Some(ii) => {
            let iiv = cx.const_scalar(tdt, ii as f64)?;
            let mask = cx.add1(Op::Equal, &[t, iiv])?;
            let zero = cx.const_scalar(tdt, 0.0)?;
            (cx.add1(Op::Where, &[mask, zero, t])?, Some(mask))
        }
        None => (t, None),
    };
    let t1 = cx.add1(Op::Unsqueeze { axes: vec![1] }, &[t_safe])?;
    let picked = cx.add1(Op::GatherElements { axis: 1 }, &[x, t1])?;
    let picked = cx.add1(Op::Squeeze { axes: vec![1] }, &[picked])?;
    let w = match weight {
        Some(wv) => cx.add1(Op::Gather { axis: 0 }, &[wv, t_safe])?,
        None => {
            let one = cx.const_scalar(dt, 1.0)?;
            let shape = cx.add1(
                Op::Shape {
                    start: 0,
                    end: None,
                },
                &[t],
            )?;
            cx.add1(Op::Expand, &[one, shape])?
        }
    };
    let w = match mask {
        Some(m) => {
            let zero = cx.const_scalar(dt, 0.0)?;
            cx.add1(Op::Where, &[m, zero, w])?
        }
        None => w,
    };
    let prod = cx.add1(Op::Mul, &[picked, w])?;
    let loss = cx.add1(Op::Neg, &[prod])?;
    let sum = |cx: &mut Cx, v: Value| {
        cx.add1(
            Op::ReduceSum {
                axes: vec![],
                keepdims: false,
            },
            &[v],
        )
    };
    match reduction.as_str() {
        "none" => Ok(loss),
        "sum" => sum(cx, loss),
        "mean" => {
            let s = sum(cx, loss)?;
            let ws = sum(cx, w)?;
            cx.add1(Op::Div, &[s, ws])
        }
        other => Err(cx.err(format!("unknown reduction {other:?}"))),
    }
}
