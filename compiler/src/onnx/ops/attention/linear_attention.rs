//! ONNX `LinearAttention` (opset 27): the recurrent linear-attention family
//! (`linear`, `gated`, `delta`, `gated_delta`) as an IR `loop` over time.
//!
//! Following the reference, everything runs in f32: Q/K/V (`[B, T, H*D]`)
//! are unpacked to heads, the state `S` (`[B, H_kv, d_k, d_v]`, zeros when no
//! `past_state`) is carried, and each step `t` does
//!   - gated: `S *= exp(g_t)` (per key dim or per head),
//!   - delta: `v_t = β_t (v_t − Sᵀ k_t)`,
//!   - `S += k_t ⊗ v_t`,
//!   - `o_t = scale · q_tᵀ S`, query head `h` reading KV head `h / group`.
//!
//! Inputs are laid out time-major (`[T, B, H, D]`) so the body picks step
//! `t` with a `gather`; the loop's scan output stacks the `o_t`. The outputs
//! are cast back: `output` to the query's dtype, `present_state` to
//! `past_state`'s (else the query's). Head sizes must be static.

use super::{cast, dim_scalar, known_dim, reshape, transpose, Cx};
use crate::onnx::OnnxError;
use ingot_ir::{DType, Graph, Op, Tensor, TensorType, Value};

/// Which terms of the recurrence apply.
#[derive(Copy, Clone)]
struct Rule {
    gated: bool,
    delta: bool,
}

pub(super) fn linear_attention(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let (q, k, v) = (cx.req(0)?, cx.req(1)?, cx.req(2)?);
    let (past, decay, beta) = (cx.input(3)?, cx.input(4)?, cx.input(5)?);
    let at = &cx.attrs;
    let qh = cx.a(at.int_opt("q_num_heads"))?;
    let kvh = cx.a(at.int_opt("kv_num_heads"))?;
    let scale = cx.a(at.float("scale", 0.0))?;
    let rule_name = cx.a(at.string("update_rule", "gated_delta"))?;
    let rule = match rule_name.as_str() {
        "linear" => Rule {
            gated: false,
            delta: false,
        },
        "gated" => Rule {
            gated: true,
            delta: false,
        },
        "delta" => Rule {
            gated: false,
            delta: true,
        },
        "gated_delta" => Rule {
            gated: true,
            delta: true,
        },
        other => return Err(cx.err(format!("unknown update_rule {other:?}"))),
    };
    let (Some(qh), Some(kvh)) = (qh, kvh) else {
        return Err(cx.err("q_num_heads and kv_num_heads are required"));
    };
    if qh <= 0 || kvh <= 0 || qh % kvh != 0 {
        return Err(cx.err(format!(
            "q_num_heads ({qh}) must be a positive multiple of kv_num_heads ({kvh})"
        )));
    }
    if rule.gated != decay.is_some() || rule.delta != beta.is_some() {
        return Err(cx.err(format!(
            "update_rule {rule_name:?} {} decay and {} beta",
            if rule.gated { "needs" } else { "forbids" },
            if rule.delta { "needs" } else { "forbids" },
        )));
    }
    for x in [q, k, v].into_iter().chain(decay).chain(beta) {
        if cx.rank(x) != 3 {
            return Err(cx.err("query, key, value, decay and beta must be rank 3"));
        }
    }
    let head_dim = |cx: &Cx, x: Value, heads: i64, what: &str| match known_dim(cx, x, 2) {
        Some(h) if h % heads == 0 => Ok(h / heads),
        Some(h) => Err(cx.err(format!("{what}'s last dim {h} is not divisible by {heads}"))),
        None => Err(cx.err(format!("{what}'s last dim must be static"))),
    };
    let dk = head_dim(cx, q, qh, "query")?;
    let dv = head_dim(cx, v, kvh, "value")?;
    if let Some(d) = decay.and_then(|d| known_dim(cx, d, 2)) {
        if d != kvh && d != kvh * dk {
            return Err(cx.err(format!(
                "decay's last dim {d} must be kv_num_heads ({kvh}) or kv_num_heads*d_k ({})",
                kvh * dk
            )));
        }
    }
    if let Some(d) = beta.and_then(|b| known_dim(cx, b, 2)) {
        if d != kvh && d != 1 {
            return Err(cx.err(format!(
                "beta's last dim {d} must be kv_num_heads ({kvh}) or 1"
            )));
        }
    }
    let out_dt = cx.ty(q).dtype;
    let state_dt = past.map_or(out_dt, |p| cx.ty(p).dtype);

    // Time-major f32 views [T, B, heads, D].
    let time_major = |cx: &mut Cx, x: Value, heads: i64| -> Result<Value, OnnxError> {
        let x = cast(cx, x, DType::F32)?;
        let r = reshape(cx, x, &[0, 0, heads, -1])?;
        transpose(cx, r, &[1, 0, 2, 3])
    };
    let qt = time_major(cx, q, qh)?;
    let kt = time_major(cx, k, kvh)?;
    let vt = time_major(cx, v, kvh)?;
    // decay: [T, B, H_kv, d_k or 1]; beta: [T, B, H_kv or 1, 1].
    let dt = match decay {
        Some(d) => Some(time_major(cx, d, kvh)?),
        None => None,
    };
    let bt = match beta {
        Some(b) => {
            let b = cast(cx, b, DType::F32)?;
            let r = reshape(cx, b, &[0, 0, -1, 1])?;
            Some(transpose(cx, r, &[1, 0, 2, 3])?)
        }
        None => None,
    };

    let state0 = match past {
        Some(p) => cast(cx, p, DType::F32)?,
        None => {
            let b = cx.add1(
                Op::Shape {
                    start: 0,
                    end: Some(1),
                },
                &[q],
            )?;
            let rest = cx.const_i64s(&[kvh, dk, dv]);
            let shape = cx.add1(Op::Concat { axis: 0 }, &[b, rest])?;
            let zero = cx.const_scalar(DType::F32, 0.0)?;
            cx.add1(Op::Expand, &[zero, shape])?
        }
    };
    let scale = if scale == 0.0 {
        1.0 / (dk as f64).sqrt()
    } else {
        f64::from(scale)
    };

    let mut caps = vec![qt, kt, vt];
    caps.extend(dt);
    caps.extend(bt);
    let cap_tys: Vec<TensorType> = caps.iter().map(|&c| cx.ty(c)).collect();
    let body = build_body(
        cx,
        rule,
        &cx.ty(state0),
        &cap_tys,
        qh / kvh,
        scale,
        [qh, dv],
    )?;

    let trip = dim_scalar(cx, q, 1)?;
    let cond = cx.constant(Tensor::from_bools(&[], &[true]).expect("scalar"));
    let mut ins = vec![trip, cond, state0];
    ins.extend(caps);
    let res = cx.add(
        Op::Loop {
            body: Box::new(body),
            num_carried: 1,
        },
        &ins,
    )?;
    let (state, outs) = (res[0], res[1]);
    // [T, B, H_q, d_v] → [B, T, H_q*d_v].
    let o = transpose(cx, outs, &[1, 0, 2, 3])?;
    let o = reshape(cx, o, &[0, 0, -1])?;
    let output = cast(cx, o, out_dt)?;
    let present = cast(cx, state, state_dt)?;
    Ok(vec![output, present])
}

/// The loop body: `(t, cond, S, q, k, v[, decay][, beta]) → (cond, S', o_t)`.
fn build_body(
    cx: &Cx,
    rule: Rule,
    state_ty: &TensorType,
    cap_tys: &[TensorType],
    group: i64,
    scale: f64,
    [qh, dv]: [i64; 2],
) -> Result<Graph, OnnxError> {
    let mut g = Graph::new(format!("{}.body", cx.label));
    let e = |m: String| cx.err(format!("LinearAttention body: {m}"));
    let input = |g: &mut Graph, name: &str, ty: TensorType| g.add_input(name, ty).map_err(e);
    let t = input(&mut g, "t", TensorType::scalar(DType::I64))?;
    let cond = input(&mut g, "cond", TensorType::scalar(DType::Bool))?;
    let s0 = input(&mut g, "state", state_ty.clone())?;
    let names = ["q", "k", "v", "decay", "beta"];
    let mut caps = vec![];
    let mut it = cap_tys.iter();
    for (i, name) in names.iter().enumerate() {
        let present = match i {
            3 => rule.gated,
            4 => rule.delta,
            _ => true,
        };
        if present {
            let ty = it.next().expect("one type per capture").clone();
            caps.push(Some(input(&mut g, name, ty)?));
        } else {
            caps.push(None);
        }
    }
    let add = |g: &mut Graph, op: Op, ins: &[Value]| -> Result<Value, OnnxError> {
        let name = op.name();
        g.add_node(op, ins)
            .map_err(|err| e(format!("IR `{name}`: {err}")))
            .map(|r| r[0])
    };
    let konst = |g: &mut Graph, t: Tensor| g.add_const(t);
    let step = |g: &mut Graph, x: Value| add(g, Op::Gather { axis: 0 }, &[x, t]);
    let unsq = |g: &mut Graph, x: Value, a: i64| add(g, Op::Unsqueeze { axes: vec![a] }, &[x]);

    let q_t = step(&mut g, caps[0].expect("q"))?; // [B, H_q, d_k]
    let k_t = step(&mut g, caps[1].expect("k"))?; // [B, H_kv, d_k]
    let mut v_t = step(&mut g, caps[2].expect("v"))?; // [B, H_kv, d_v]
    let mut s = s0;
    if let Some(d) = caps[3] {
        let g_t = step(&mut g, d)?;
        let ex = add(&mut g, Op::Exp, &[g_t])?;
        let ex = unsq(&mut g, ex, -1)?;
        s = add(&mut g, Op::Mul, &[s, ex])?;
    }
    if let Some(b) = caps[4] {
        // retrieved[b, h, m] = Σ_d S[b, h, d, m] k_t[b, h, d]
        let k_row = unsq(&mut g, k_t, 2)?;
        let r = add(&mut g, Op::MatMul, &[k_row, s])?;
        let r = add(&mut g, Op::Squeeze { axes: vec![2] }, &[r])?;
        let diff = add(&mut g, Op::Sub, &[v_t, r])?;
        let b_t = step(&mut g, b)?; // [B, H_kv or 1, 1]
        v_t = add(&mut g, Op::Mul, &[b_t, diff])?;
    }
    let kc = unsq(&mut g, k_t, -1)?;
    let vr = unsq(&mut g, v_t, -2)?;
    let outer = add(&mut g, Op::Mul, &[kc, vr])?;
    let s1 = add(&mut g, Op::Add, &[s, outer])?;

    // Query head h reads KV head h / group: view q as [B, H_kv, group, d_k].
    let kvh = qh / group;
    let qshape = konst(
        &mut g,
        Tensor::from_slice(&[4], &[0, kvh, group, -1]).expect("4 dims"),
    );
    let qg = add(&mut g, Op::Reshape { allowzero: false }, &[q_t, qshape])?;
    let o = add(&mut g, Op::MatMul, &[qg, s1])?; // [B, H_kv, group, d_v]
    let oshape = konst(
        &mut g,
        Tensor::from_slice(&[3], &[0, qh, dv]).expect("3 dims"),
    );
    let o = add(&mut g, Op::Reshape { allowzero: false }, &[o, oshape])?;
    let sc = konst(
        &mut g,
        Tensor::from_f64s(DType::F32, &[], &[scale]).expect("scalar"),
    );
    let o = add(&mut g, Op::Mul, &[sc, o])?;
    g.set_outputs(vec![cond, s1, o]);
    Ok(g)
}
