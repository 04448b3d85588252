//! Opset-27 recurrent-state ops: `CausalConvWithState` (a depthwise causal
//! 1-D convolution carrying its last `k − 1` inputs) and `LinearAttention`.
//!
//! CausalConvWithState is `concat(past_state or zeros, input)` on the length
//! axis, a depthwise valid `conv` (group = channels), an optional SiLU
//! computed in f32, and `present_state` = the last `k − 1` positions of the
//! padded input. The kernel size and channel count must be static.
//!
//! LinearAttention is in `linear_attention.rs`.

use super::{cast, Cx};
use crate::onnx::OnnxError;
use ingot_ir::{attr::AutoPad, attr::PadMode, DType, Op, Value};

pub(super) fn causal_conv_with_state(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (x, w) = (cx.req(0)?, cx.req(1)?);
    let bias = cx.input(2)?;
    let past = cx.input(3)?;
    let activation = cx.a(cx.attrs.string("activation", "none"))?;
    let silu = match activation.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        other => return Err(cx.err(format!("unknown activation {other:?}"))),
    };
    if cx.rank(x) != 3 || cx.rank(w) != 3 {
        return Err(cx.err("input and weight must be rank 3"));
    }
    let wt = cx.ty(w);
    let (Some(channels), Some(k)) = (wt.shape[0].as_known(), wt.shape[2].as_known()) else {
        return Err(cx.err("the weight's channel count and kernel size must be static"));
    };
    if k < 1 {
        return Err(cx.err("kernel size must be at least 1"));
    }
    let dt = cx.ty(x).dtype;
    let padded = match past {
        Some(p) => cx.add1(Op::Concat { axis: 2 }, &[p, x])?,
        None => {
            let pads = cx.const_i64s(&[0, 0, k - 1, 0, 0, 0]);
            let zero = cx.const_scalar(dt, 0.0)?;
            cx.add1(
                Op::Pad {
                    mode: PadMode::Constant,
                },
                &[x, pads, zero],
            )?
        }
    };
    let mut ins = vec![padded, w];
    ins.extend(bias);
    let conv = cx.add1(
        Op::Conv {
            strides: vec![1],
            pads: vec![0, 0],
            dilations: vec![1],
            group: channels,
            auto_pad: AutoPad::NotSet,
        },
        &ins,
    )?;
    let out = if silu {
        let c = cast(cx, conv, DType::F32)?;
        let s = cx.add1(Op::Sigmoid, &[c])?;
        let m = cx.add1(Op::Mul, &[c, s])?;
        cast(cx, m, dt)?
    } else {
        conv
    };
    // The last k − 1 positions (none when k = 1: start past the end).
    let start = if k == 1 { i64::MAX } else { -(k - 1) };
    let s = cx.const_i64s(&[start]);
    let e = cx.const_i64s(&[i64::MAX]);
    let a = cx.const_i64s(&[2]);
    let present = cx.add1(Op::Slice, &[padded, s, e, a])?;
    Ok(vec![out, present])
}
