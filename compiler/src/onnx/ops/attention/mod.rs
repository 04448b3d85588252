//! The attention family (Attention, RotaryEmbedding, SwiGLU, LinearAttention,
//! CausalConvWithState), imported by decomposition into existing IR ops.
//!
//! ONNX defines these ops as functions; each converter here follows the
//! function body and the reference implementation
//! (`onnx/reference/ops/op_*.py`) step by step, so the IR computes the same
//! values with the same roundings (elementwise ops round to the tensor's dtype
//! after each step, as numpy does). Head counts and the sizes that become
//! attributes (split sizes, pads) must be static; batch and sequence lengths
//! may be symbolic.

mod linear;
mod linear_attention;
mod rotary;
mod sdpa;

use super::Cx;
use crate::onnx::OnnxError;
use ingot_ir::{DType, Op, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "Attention" => sdpa::attention,
        "RotaryEmbedding" => rotary::rotary_embedding,
        "SwiGLU" => swiglu,
        "LinearAttention" => linear_attention::linear_attention,
        "CausalConvWithState" => linear::causal_conv_with_state,
        _ => return None,
    })
}

/// SwiGLU: `Y = A * sigmoid(alpha * A) * B` (same shapes, no broadcasting).
fn swiglu(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (a, b) = (cx.req(0)?, cx.req(1)?);
    let (ta, tb) = (cx.ty(a), cx.ty(b));
    if ta != tb {
        return Err(cx.err(format!(
            "A and B must have the same type (no broadcasting), got {ta} and {tb}"
        )));
    }
    let alpha = cx.a(cx.attrs.float("alpha", 1.0))?;
    let gate_in = if alpha == 1.0 {
        a
    } else {
        let al = cx.const_scalar(ta.dtype, f64::from(alpha))?;
        cx.add1(Op::Mul, &[al, a])?
    };
    let sig = cx.add1(Op::Sigmoid, &[gate_in])?;
    let swish = cx.add1(Op::Mul, &[a, sig])?;
    Ok(vec![cx.add1(Op::Mul, &[swish, b])?])
}

/// Static dim `axis` of `v`, if known.
fn known_dim(cx: &Cx, v: Value, axis: usize) -> Option<i64> {
    cx.ty(v).shape.get(axis)?.as_known()
}

/// Dim `axis` of `v` as an i64 scalar: a constant when static, else read
/// with `shape`.
fn dim_scalar(cx: &mut Cx, v: Value, axis: usize) -> Result<Value, OnnxError> {
    if let Some(d) = known_dim(cx, v, axis) {
        return cx.const_scalar(DType::I64, d as f64);
    }
    let a = axis as i64;
    let s = cx.add1(
        Op::Shape {
            start: a,
            end: Some(a + 1),
        },
        &[v],
    )?;
    cx.add1(Op::Squeeze { axes: vec![0] }, &[s])
}

/// `x` cast to `to` (no node when it already has that dtype).
fn cast(cx: &mut Cx, x: Value, to: DType) -> Result<Value, OnnxError> {
    if cx.ty(x).dtype == to {
        return Ok(x);
    }
    cx.add1(
        Op::Cast {
            to,
            saturate: false,
        },
        &[x],
    )
}

/// `reshape %x, shape` with a constant shape (0 copies, −1 infers).
fn reshape(cx: &mut Cx, x: Value, shape: &[i64]) -> Result<Value, OnnxError> {
    let s = cx.const_i64s(shape);
    cx.add1(Op::Reshape { allowzero: false }, &[x, s])
}

fn transpose(cx: &mut Cx, x: Value, perm: &[i64]) -> Result<Value, OnnxError> {
    cx.add1(
        Op::Transpose {
            perm: perm.to_vec(),
        },
        &[x],
    )
}

/// `[B, S, heads*D]` → `[B, heads, S, D]`.
fn split_heads(cx: &mut Cx, x: Value, heads: i64) -> Result<Value, OnnxError> {
    let r = reshape(cx, x, &[0, 0, heads, -1])?;
    transpose(cx, r, &[0, 2, 1, 3])
}

/// `[B, heads, S, D]` → `[B, S, heads*D]`.
fn merge_heads(cx: &mut Cx, x: Value) -> Result<Value, OnnxError> {
    let t = transpose(cx, x, &[0, 2, 1, 3])?;
    reshape(cx, t, &[0, 0, -1])
}

/// Repeat each head of `x` (`[B, kv, S, D]`) `rep` times in place
/// (`[h0, h0, h1, h1, ...]`), giving `[B, kv*rep, S, D]`.
fn repeat_heads(cx: &mut Cx, x: Value, rep: i64) -> Result<Value, OnnxError> {
    if rep == 1 {
        return Ok(x);
    }
    let u = cx.add1(Op::Unsqueeze { axes: vec![2] }, &[x])?;
    let target = cx.const_i64s(&[1, 1, rep, 1, 1]);
    let e = cx.add1(Op::Expand, &[u, target])?;
    // Reshape [B, kv, rep, S, D] → [B, kv*rep, S, D]: keep B, merge the next
    // two, keep S and D (read from the shape, so they may be symbolic).
    let tail = cx.add1(
        Op::Shape {
            start: 3,
            end: None,
        },
        &[e],
    )?;
    let heads = known_dim(cx, x, 1)
        .map(|h| h * rep)
        .ok_or_else(|| cx.err("the number of key/value heads must be static"))?;
    let head = cx.const_i64s(&[0, heads]);
    let shape = cx.add1(Op::Concat { axis: 0 }, &[head, tail])?;
    cx.add1(Op::Reshape { allowzero: false }, &[e, shape])
}
