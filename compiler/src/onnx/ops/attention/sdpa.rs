//! ONNX `Attention` (opsets 23–25): scaled dot-product attention with
//! multi-head / grouped-query heads, KV cache, masks, soft cap, sliding
//! window, and the optional `qk_matmul_output`.
//!
//! The decomposition follows the function body and reference:
//! - 3-D inputs `[B, S, heads*D]` are split into `[B, heads, S, D]` (and
//!   merged back for `Y`); 4-D inputs are used as they are.
//! - `present_* = concat(past_*, K/V)` on the sequence axis.
//! - `Q` and `Kᵀ` are each multiplied by `sqrt(scale)` (cast to `T1`) before
//!   the matmul; `scale` defaults to `1/sqrt(head_size)`.
//! - The additive bias is built in this order: `attn_mask` (bool → 0/−inf,
//!   padded with −inf up to the KV length), the causal frontier
//!   `j <= i + offset`, the window `p − left <= j <= p + right`, then the
//!   `nonpad_kv_seqlen` padding mask. `offset` is the past length, or
//!   `nonpad_kv_seqlen − S_q` per batch for an external cache, else 0.
//! - Soft cap `c·tanh(x/c)` comes before the bias; softmax runs in
//!   `softmax_precision` when given; a row whose bias is all −inf gives zero
//!   probabilities (not NaN).
//! - `qk_matmul_output` by mode: 0 raw QKᵀ, 1 after soft cap, 2 plus bias,
//!   3 the guarded probabilities (in `T1`).
//! - GQA repeats each KV head `q_heads / kv_heads` times in place.

use super::{cast, dim_scalar, known_dim, merge_heads, repeat_heads, split_heads, transpose, Cx};
use crate::onnx::OnnxError;
use ingot_ir::{DType, Op, Value};

/// The attributes of one Attention node, defaults filled.
struct Attrs {
    is_causal: bool,
    q_heads: Option<i64>,
    kv_heads: Option<i64>,
    scale: Option<f32>,
    softcap: f32,
    softmax_precision: Option<DType>,
    mode: i64,
    left: i64,
    right: i64,
}

fn read_attrs(cx: &Cx) -> Result<Attrs, OnnxError> {
    let at = &cx.attrs;
    let softmax_precision = match cx.a(at.int_opt("softmax_precision"))? {
        Some(code) => Some(cx.dtype(code)?),
        None => None,
    };
    let a = Attrs {
        is_causal: cx.a(at.bool("is_causal", false))?,
        q_heads: cx.a(at.int_opt("q_num_heads"))?,
        kv_heads: cx.a(at.int_opt("kv_num_heads"))?,
        scale: cx.a(at.float_opt("scale"))?,
        softcap: cx.a(at.float("softcap", 0.0))?,
        softmax_precision,
        mode: cx.a(at.int("qk_matmul_output_mode", 0))?,
        left: cx.a(at.int("left_window_size", -1))?,
        right: cx.a(at.int("right_window_size", -1))?,
    };
    if !(0..=3).contains(&a.mode) {
        return Err(cx.err(format!(
            "qk_matmul_output_mode must be 0..3, got {}",
            a.mode
        )));
    }
    if a.left < -1 || a.right < -1 {
        return Err(cx.err(format!(
            "window sizes must be -1 or nonnegative, got left {} right {}",
            a.left, a.right
        )));
    }
    Ok(a)
}

pub(super) fn attention(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (q, k, v) = (cx.req(0)?, cx.req(1)?, cx.req(2)?);
    let mask = cx.input(3)?;
    let (past_k, past_v) = (cx.input(4)?, cx.input(5)?);
    let nonpad = cx.input(6)?;
    let at = read_attrs(cx)?;
    let t1 = cx.ty(q).dtype;
    let rank = cx.rank(q);
    if cx.rank(k) != rank || cx.rank(v) != rank || !(rank == 3 || rank == 4) {
        return Err(cx.err("Q, K and V must all be 3-D or all 4-D"));
    }
    if past_k.is_some() != past_v.is_some() {
        return Err(cx.err("past_key and past_value must be given together"));
    }
    if nonpad.is_some() && past_k.is_some() {
        return Err(cx.err("nonpad_kv_seqlen cannot be combined with past_key/past_value"));
    }

    // Heads: [B, heads, S, D].
    let (q4, k4, v4) = if rank == 3 {
        let (Some(qh), Some(kvh)) = (at.q_heads, at.kv_heads) else {
            return Err(cx.err("3-D inputs need q_num_heads and kv_num_heads"));
        };
        if qh <= 0 || kvh <= 0 {
            return Err(cx.err(format!(
                "head counts must be positive, got q_num_heads {qh}, kv_num_heads {kvh}"
            )));
        }
        (
            split_heads(cx, q, qh)?,
            split_heads(cx, k, kvh)?,
            split_heads(cx, v, kvh)?,
        )
    } else {
        (q, k, v)
    };

    // KV cache.
    let concat2 = |cx: &mut Cx, p: Option<Value>, x: Value| match p {
        Some(p) => cx.add1(Op::Concat { axis: 2 }, &[p, x]),
        None => Ok(x),
    };
    let present_k = concat2(cx, past_k, k4)?;
    let present_v = concat2(cx, past_v, v4)?;

    // Scaling: Q and Kᵀ each by sqrt(scale), rounded to T1 first.
    let scale = match at.scale {
        Some(s) => f64::from(s),
        None => {
            let d = known_dim(cx, q4, 3)
                .ok_or_else(|| cx.err("the head size must be static to default `scale`"))?;
            1.0 / (d as f64).sqrt()
        }
    };
    let sqrt_scale = cx.const_scalar(t1, scale.sqrt())?;

    let bias = build_bias(cx, &at, mask, q4, present_k, past_k, nonpad, t1)?;

    // Grouped-query attention: repeat each KV head in place.
    let (qh, kvh) = (known_dim(cx, q4, 1), known_dim(cx, present_k, 1));
    let rep = match (qh, kvh) {
        (Some(a), Some(b)) if a == b => 1,
        (Some(a), Some(b)) if b > 0 && a % b == 0 => a / b,
        (Some(a), Some(b)) => {
            return Err(cx.err(format!(
                "q heads ({a}) must be a multiple of kv heads ({b})"
            )))
        }
        _ if cx.ty(q4).shape[1] == cx.ty(present_k).shape[1] => 1,
        _ => return Err(cx.err("the numbers of query and key/value heads must be static")),
    };
    let k_rep = repeat_heads(cx, present_k, rep)?;
    let v_rep = repeat_heads(cx, present_v, rep)?;

    let qs = cx.add1(Op::Mul, &[q4, sqrt_scale])?;
    let kt = transpose(cx, k_rep, &[0, 1, 3, 2])?;
    let ks = cx.add1(Op::Mul, &[kt, sqrt_scale])?;
    let qk = cx.add1(Op::MatMul, &[qs, ks])?;

    let capped = if at.softcap > 0.0 {
        let c = cx.const_scalar(t1, f64::from(at.softcap))?;
        let d = cx.add1(Op::Div, &[qk, c])?;
        let t = cx.add1(Op::Tanh, &[d])?;
        cx.add1(Op::Mul, &[t, c])?
    } else {
        qk
    };
    let logits = match bias {
        Some(b) => cx.add1(Op::Add, &[capped, b])?,
        None => capped,
    };

    let sm_in = match at.softmax_precision {
        Some(p) => cast(cx, logits, p)?,
        None => logits,
    };
    let sm_dt = cx.ty(sm_in).dtype;
    let mut probs = softmax_last(cx, sm_in)?;
    if let Some(b) = bias {
        // Fully-masked rows are decided on the bias, not on the logits (which
        // may be NaN there), and give zero probabilities.
        let row_max = cx.add1(
            Op::ReduceMax {
                axes: vec![-1],
                keepdims: true,
            },
            &[b],
        )?;
        let ninf = cx.const_scalar(t1, f64::NEG_INFINITY)?;
        let all_masked = cx.add1(Op::Equal, &[row_max, ninf])?;
        let zero = cx.const_scalar(sm_dt, 0.0)?;
        probs = cx.add1(Op::Where, &[all_masked, zero, probs])?;
    }
    let probs = cast(cx, probs, t1)?;

    let qk_out = match at.mode {
        0 => qk,
        1 => capped,
        2 => logits,
        _ => probs,
    };

    let y = cx.add1(Op::MatMul, &[probs, v_rep])?;
    let y = if rank == 3 { merge_heads(cx, y)? } else { y };
    Ok(vec![y, present_k, present_v, qk_out])
}

/// Softmax over the last axis. In f16/bf16 it is spelled out step by step
/// (max, subtract, exp, sum, divide), each step rounding to the dtype as the
/// reference and ONNX's Softmax function body do: the IR `softmax` rounds
/// once, which differs by an ulp, and at these precisions an ulp exceeds the
/// conformance tolerance.
fn softmax_last(cx: &mut Cx, x: Value) -> Result<Value, OnnxError> {
    if !matches!(cx.ty(x).dtype, DType::F16 | DType::BF16) {
        return cx.add1(Op::Softmax { axis: -1 }, &[x]);
    }
    let m = cx.add1(
        Op::ReduceMax {
            axes: vec![-1],
            keepdims: true,
        },
        &[x],
    )?;
    let d = cx.add1(Op::Sub, &[x, m])?;
    let e = cx.add1(Op::Exp, &[d])?;
    let s = cx.add1(
        Op::ReduceSum {
            axes: vec![-1],
            keepdims: true,
        },
        &[e],
    )?;
    cx.add1(Op::Div, &[e, s])
}

/// Where `cond` holds 0, else −inf, in `dt`.
fn bias_where(cx: &mut Cx, cond: Value, dt: DType) -> Result<Value, OnnxError> {
    let zero = cx.const_scalar(dt, 0.0)?;
    let ninf = cx.const_scalar(dt, f64::NEG_INFINITY)?;
    cx.add1(Op::Where, &[cond, zero, ninf])
}

/// The additive attention bias (None when nothing masks: a zero bias).
#[allow(clippy::too_many_arguments)]
fn build_bias(
    cx: &mut Cx,
    at: &Attrs,
    mask: Option<Value>,
    q4: Value,
    present_k: Value,
    past_k: Option<Value>,
    nonpad: Option<Value>,
    t1: DType,
) -> Result<Option<Value>, OnnxError> {
    let mut bias = match mask {
        Some(m) => Some(mask_bias(cx, m, present_k, t1)?),
        None => None,
    };
    let windowed = at.left >= 0 || at.right >= 0;
    if !(at.is_causal || windowed || nonpad.is_some()) {
        return Ok(bias);
    }
    let add = |cx: &mut Cx, b: Option<Value>, x: Value| match b {
        Some(b) => cx.add1(Op::Add, &[b, x]).map(Some),
        None => Ok(Some(x)),
    };

    // Query rows i as [S_q, 1], key columns j as [1, S_kv] (i64).
    let zero = cx.const_scalar(DType::I64, 0.0)?;
    let one = cx.const_scalar(DType::I64, 1.0)?;
    let sq = dim_scalar(cx, q4, 2)?;
    let skv = dim_scalar(cx, present_k, 2)?;
    let i = cx.add1(Op::Range, &[zero, sq, one])?;
    let i = cx.add1(Op::Unsqueeze { axes: vec![1] }, &[i])?;
    let j = cx.add1(Op::Range, &[zero, skv, one])?;
    let j = cx.add1(Op::Unsqueeze { axes: vec![0] }, &[j])?;

    // Absolute query positions p = i + offset: [S_q, 1], or [B, 1, S_q, 1]
    // per batch for an external cache.
    let pos = match (past_k, nonpad) {
        (Some(pk), _) => {
            let past = dim_scalar(cx, pk, 2)?;
            cx.add1(Op::Add, &[i, past])?
        }
        (None, Some(np)) => {
            let np = cast(cx, np, DType::I64)?;
            let off = cx.add1(Op::Sub, &[np, sq])?;
            let off = super::reshape(cx, off, &[-1, 1, 1, 1])?;
            cx.add1(Op::Add, &[i, off])?
        }
        (None, None) => i,
    };

    if at.is_causal {
        let allowed = cx.add1(Op::LessOrEqual, &[j, pos])?;
        let c = bias_where(cx, allowed, t1)?;
        bias = add(cx, bias, c)?;
    }
    if windowed {
        // diff = p − j; allowed iff diff <= left and −diff <= right.
        let diff = cx.add1(Op::Sub, &[pos, j])?;
        let mut allowed = None;
        for (size, neg) in [(at.left, false), (at.right, true)] {
            if size < 0 {
                continue;
            }
            let d = if neg {
                cx.add1(Op::Neg, &[diff])?
            } else {
                diff
            };
            let s = cx.const_scalar(DType::I64, size as f64)?;
            let ok = cx.add1(Op::LessOrEqual, &[d, s])?;
            allowed = Some(match allowed {
                Some(a) => cx.add1(Op::And, &[a, ok])?,
                None => ok,
            });
        }
        let allowed = allowed.expect("a window side is bounded");
        let w = bias_where(cx, allowed, t1)?;
        bias = add(cx, bias, w)?;
    }
    if let Some(np) = nonpad {
        // Keys at j >= nonpad_kv_seqlen[b] are padding: [B, 1, 1, S_kv].
        let np = cast(cx, np, DType::I64)?;
        let np = super::reshape(cx, np, &[-1, 1])?;
        let valid = cx.add1(Op::Less, &[j, np])?;
        let valid = cx.add1(Op::Unsqueeze { axes: vec![1, 2] }, &[valid])?;
        let p = bias_where(cx, valid, t1)?;
        bias = add(cx, bias, p)?;
    }
    Ok(bias)
}

/// `attn_mask` as an additive bias in `t1`: a bool mask maps true → 0,
/// false → −inf; a float one is used as is. A mask shorter than the KV
/// length is padded with −inf on the last axis.
fn mask_bias(cx: &mut Cx, m: Value, present_k: Value, t1: DType) -> Result<Value, OnnxError> {
    let mt = cx.ty(m);
    let b = if mt.dtype == DType::Bool {
        bias_where(cx, m, t1)?
    } else {
        cast(cx, m, t1)?
    };
    let r = mt.rank();
    if r == 0 {
        return Err(cx.err("attn_mask must have rank >= 1"));
    }
    let last = &mt.shape[r - 1];
    let kv = &cx.ty(present_k).shape[2];
    if last == kv {
        return Ok(b);
    }
    let (Some(ml), Some(kl)) = (last.as_known(), kv.as_known()) else {
        return Err(cx.err(format!(
            "attn_mask's last dim ({last}) differs from the KV length ({kv}); \
             padding it needs both static"
        )));
    };
    if ml > kl {
        return Err(cx.err(format!(
            "attn_mask's last dim ({ml}) is longer than the KV length ({kl})"
        )));
    }
    let mut pads = vec![0i64; 2 * r];
    pads[2 * r - 1] = kl - ml;
    let pads = cx.const_i64s(&pads);
    let ninf = cx.const_scalar(t1, f64::NEG_INFINITY)?;
    cx.add1(
        Op::Pad {
            mode: ingot_ir::attr::PadMode::Constant,
        },
        &[b, pads, ninf],
    )
}
