//! The attention-family converters (Attention, LinearAttention) on what the
//! ONNX node tests do not cover: symbolic batch and sequence lengths (the
//! dims the decomposition must read at run time), `qk_matmul_output` mode 0
//! with a soft cap (the raw product, per the spec and function body),
//! fully-masked rows, and malformed nodes. Expected values come from naive
//! f64 loops written here from the ONNX definitions.

use ingot_compiler::onnx::import_onnx_bytes;
use ingot_compiler::onnx::proto::attribute_proto::AttributeType;
use ingot_compiler::onnx::proto::tensor_proto::DataType;
use ingot_compiler::onnx::proto::tensor_shape_proto::{dimension, Dimension};
use ingot_compiler::onnx::proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use ingot_ir::Tensor;
use prost::Message;

/// A dim: a number, or a symbol.
#[derive(Clone, Copy)]
enum D {
    N(i64),
    S(&'static str),
}

/// An input's type, or (`dims` = None) an output's dtype with no shape.
fn value_info(name: &str, dt: DataType, dims: Option<&[D]>) -> ValueInfoProto {
    let shape = dims.map(|dims| {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(match *d {
                    D::N(n) => dimension::Value::DimValue(n),
                    D::S(s) => dimension::Value::DimParam(s.into()),
                }),
                ..Default::default()
            })
            .collect();
        TensorShapeProto { dim }
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(dt as i32),
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(f),
        ..Default::default()
    }
}

fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(s.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A one-node model; `inputs`/`outputs` name the node's slots ("" = absent).
fn model(
    op: &str,
    opset: i64,
    attrs: Vec<AttributeProto>,
    inputs: &[(&str, DataType, Vec<D>)],
    node_inputs: &[&str],
    outputs: &[(&str, DataType)],
    node_outputs: &[&str],
) -> Vec<u8> {
    let node = NodeProto {
        input: node_inputs.iter().map(|s| s.to_string()).collect(),
        output: node_outputs.iter().map(|s| s.to_string()).collect(),
        op_type: Some(op.into()),
        attribute: attrs,
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(10),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            name: Some("g".into()),
            node: vec![node],
            input: inputs
                .iter()
                .map(|(n, t, d)| value_info(n, *t, Some(d)))
                .collect(),
            output: outputs
                .iter()
                .map(|(n, t)| value_info(n, *t, None))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Deterministic values in [-1, 1).
fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "{what}[{i}]: got {g}, expected {w}"
        );
    }
}

/// Naive attention on 4-D `[B, H, S, D]` arrays (row-major f64): returns
/// (Y, raw QKᵀ·scale, probabilities). `allowed(b, i, j)` masks; `bias`
/// adds; KV head of query head h is h / (Hq / Hkv).
#[allow(clippy::too_many_arguments)]
fn naive_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    [b, hq, hkv, sq, skv, d, dv]: [usize; 7],
    scale: f64,
    softcap: f64,
    allowed: &dyn Fn(usize, usize, usize) -> bool,
    bias: &dyn Fn(usize, usize, usize) -> f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; b * hq * sq * dv];
    let mut raw = vec![0.0; b * hq * sq * skv];
    let mut probs = vec![0.0; b * hq * sq * skv];
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / (hq / hkv);
            for i in 0..sq {
                let mut logits = vec![f64::NEG_INFINITY; skv];
                for (j, l) in logits.iter_mut().enumerate() {
                    let mut dot = 0.0;
                    for x in 0..d {
                        dot += q[((bi * hq + h) * sq + i) * d + x]
                            * k[((bi * hkv + kh) * skv + j) * d + x];
                    }
                    let r = dot * scale;
                    raw[((bi * hq + h) * sq + i) * skv + j] = r;
                    let c = if softcap > 0.0 {
                        softcap * (r / softcap).tanh()
                    } else {
                        r
                    };
                    if allowed(bi, i, j) {
                        *l = c + bias(bi, i, j);
                    }
                }
                let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                if m == f64::NEG_INFINITY {
                    continue; // fully masked: zero probabilities, zero output
                }
                let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
                let s: f64 = e.iter().sum();
                for j in 0..skv {
                    let p = e[j] / s;
                    probs[((bi * hq + h) * sq + i) * skv + j] = p;
                    for x in 0..dv {
                        y[((bi * hq + h) * sq + i) * dv + x] +=
                            p * v[((bi * hkv + kh) * skv + j) * dv + x];
                    }
                }
            }
        }
    }
    (y, raw, probs)
}

/// `[B, S, H*D]` → `[B, H, S, D]`.
fn heads(x: &[f64], b: usize, s: usize, h: usize, d: usize) -> Vec<f64> {
    let mut o = vec![0.0; x.len()];
    for bi in 0..b {
        for si in 0..s {
            for hi in 0..h {
                for di in 0..d {
                    o[((bi * h + hi) * s + si) * d + di] = x[((bi * s + si) * h + hi) * d + di];
                }
            }
        }
    }
    o
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

/// 3-D GQA attention with a KV cache and causal mask, all lengths symbolic:
/// the causal offset (past length) and the ranges are read at run time.
#[test]
fn attention_with_symbolic_lengths_gqa_cache_and_causal() {
    const F: DataType = DataType::Float;
    let bytes = model(
        "Attention",
        23,
        vec![
            int_attr("q_num_heads", 4),
            int_attr("kv_num_heads", 2),
            int_attr("is_causal", 1),
        ],
        &[
            ("Q", F, vec![D::S("b"), D::S("s"), D::N(12)]),
            ("K", F, vec![D::S("b"), D::S("s"), D::N(6)]),
            ("V", F, vec![D::S("b"), D::S("s"), D::N(8)]),
            ("pk", F, vec![D::S("b"), D::N(2), D::S("p"), D::N(3)]),
            ("pv", F, vec![D::S("b"), D::N(2), D::S("p"), D::N(4)]),
        ],
        &["Q", "K", "V", "", "pk", "pv"],
        &[("Y", F), ("present_key", F)],
        &["Y", "present_key"],
    );
    let g = import_onnx_bytes(&bytes, None).unwrap();
    let (b, s, p) = (2, 3, 2);
    let q = data(b * s * 12, 1);
    let k = data(b * s * 6, 2);
    let v = data(b * s * 8, 3);
    let pk = data(b * 2 * p * 3, 4);
    let pv = data(b * 2 * p * 4, 5);
    let ins = [
        f32t(&[b, s, 12], &q),
        f32t(&[b, s, 6], &k),
        f32t(&[b, s, 8], &v),
        f32t(&[b, 2, p, 3], &pk),
        f32t(&[b, 2, p, 4], &pv),
    ];
    let out = ingot_ir::interp::run(&g, &ins).unwrap();
    assert_eq!(out[0].shape(), &[b, s, 16]);
    assert_eq!(out[1].shape(), &[b, 2, p + s, 3]);

    // Reference: concat the cache, then attend.
    let cat = |past: &[f32], new: &[f64], d: usize| {
        let mut o = vec![];
        for bi in 0..b {
            for h in 0..2 {
                let base = (bi * 2 + h) * p * d;
                o.extend(f64s(&past[base..base + p * d]));
                let nb = (bi * 2 + h) * s * d;
                o.extend_from_slice(&new[nb..nb + s * d]);
            }
        }
        o
    };
    let kf = cat(&pk, &heads(&f64s(&k), b, s, 2, 3), 3);
    let vf = cat(&pv, &heads(&f64s(&v), b, s, 2, 4), 4);
    let qf = heads(&f64s(&q), b, s, 4, 3);
    let (y, _, _) = naive_attention(
        &qf,
        &kf,
        &vf,
        [b, 4, 2, s, p + s, 3, 4],
        1.0 / 3f64.sqrt(),
        0.0,
        &|_, i, j| j <= i + p,
        &|_, _, _| 0.0,
    );
    // Back to [B, S, H*Dv].
    let mut want = vec![0.0; y.len()];
    for bi in 0..b {
        for h in 0..4 {
            for si in 0..s {
                for x in 0..4 {
                    want[((bi * s + si) * 4 + h) * 4 + x] = y[((bi * 4 + h) * s + si) * 4 + x];
                }
            }
        }
    }
    close(&out[0].to_f64s(), &want, "Y");
    assert_eq!(out[1].to_f64s(), kf, "present_key = concat(past, K)");
}

/// `qk_matmul_output` mode 0 is the raw scaled product even with a soft cap;
/// mode 2 adds the cap and the bias. A bool mask's all-false row gives a zero
/// output row, not NaN.
#[test]
fn attention_qk_output_modes_and_fully_masked_rows() {
    const F: DataType = DataType::Float;
    let (b, h, sq, skv, d) = (1, 2, 3, 4, 5);
    let mask: Vec<bool> = (0..sq * skv).map(|i| i / skv != 1 && i % 3 != 0).collect();
    let q = data(b * h * sq * d, 7);
    let k = data(b * h * skv * d, 8);
    let v = data(b * h * skv * d, 9);
    let (qf, kf, vf) = (f64s(&q), f64s(&k), f64s(&v));
    let allowed = |_: usize, i: usize, j: usize| mask[i * skv + j];
    let (y, raw, probs) = naive_attention(
        &qf,
        &kf,
        &vf,
        [b, h, h, sq, skv, d, d],
        0.3,
        0.5,
        &allowed,
        &|_, _, _| 0.0,
    );
    for mode in [0, 2, 3] {
        let bytes = model(
            "Attention",
            24,
            vec![
                float_attr("softcap", 0.5),
                float_attr("scale", 0.3),
                int_attr("qk_matmul_output_mode", mode),
            ],
            &[
                ("Q", F, vec![D::N(1), D::N(2), D::N(3), D::N(5)]),
                ("K", F, vec![D::N(1), D::N(2), D::N(4), D::N(5)]),
                ("V", F, vec![D::N(1), D::N(2), D::N(4), D::N(5)]),
                ("M", DataType::Bool, vec![D::N(3), D::N(4)]),
            ],
            &["Q", "K", "V", "M"],
            &[("Y", F), ("QK", F)],
            &["Y", "", "", "QK"],
        );
        let g = import_onnx_bytes(&bytes, None).unwrap();
        let ins = [
            f32t(&[1, 2, 3, 5], &q),
            f32t(&[1, 2, 4, 5], &k),
            f32t(&[1, 2, 4, 5], &v),
            Tensor::from_bools(&[3, 4], &mask).unwrap(),
        ];
        let out = ingot_ir::interp::run(&g, &ins).unwrap();
        close(&out[0].to_f64s(), &y, "Y");
        assert!(
            out[0].to_f64s()[5..10].iter().all(|&x| x == 0.0),
            "row 1 is masked"
        );
        let want: Vec<f64> = match mode {
            0 => raw.clone(),
            2 => raw
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    let (i, j) = ((n / skv) % sq, n % skv);
                    let c = 0.5 * (r / 0.5).tanh();
                    if allowed(0, i, j) {
                        c
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect(),
            _ => probs.clone(),
        };
        let got = out[1].to_f64s();
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            let ok = (g.is_infinite() && g == w) || (g - w).abs() <= 1e-5 + 1e-4 * w.abs();
            assert!(ok, "mode {mode} qk[{n}]: got {g}, expected {w}");
        }
    }
}

#[test]
fn malformed_attention_nodes_are_errors() {
    const F: DataType = DataType::Float;
    let three = |attrs: Vec<AttributeProto>, kd: i64| {
        model(
            "Attention",
            23,
            attrs,
            &[
                ("Q", F, vec![D::N(1), D::N(2), D::N(6)]),
                ("K", F, vec![D::N(1), D::N(2), D::N(kd)]),
                ("V", F, vec![D::N(1), D::N(2), D::N(kd)]),
            ],
            &["Q", "K", "V"],
            &[("Y", F)],
            &["Y"],
        )
    };
    let err = |bytes: Vec<u8>| import_onnx_bytes(&bytes, None).unwrap_err().to_string();
    let e = err(three(vec![], 6));
    assert!(e.contains("q_num_heads"), "{e}");
    let e = err(three(
        vec![int_attr("q_num_heads", 3), int_attr("kv_num_heads", 2)],
        4,
    ));
    assert!(e.contains("multiple"), "{e}");
}

/// gated_delta LinearAttention with a symbolic number of steps (the loop's
/// trip count is read at run time) and GQA, against the recurrence.
#[test]
fn linear_attention_loops_over_symbolic_time() {
    const F: DataType = DataType::Float;
    let (b, t, hq, hkv, dk, dv) = (1, 3, 4, 2, 2, 3);
    let bytes = model(
        "LinearAttention",
        27,
        vec![
            int_attr("q_num_heads", hq as i64),
            int_attr("kv_num_heads", hkv as i64),
            string_attr("update_rule", "gated_delta"),
        ],
        &[
            ("q", F, vec![D::N(1), D::S("t"), D::N(8)]),
            ("k", F, vec![D::N(1), D::S("t"), D::N(4)]),
            ("v", F, vec![D::N(1), D::S("t"), D::N(6)]),
            ("g", F, vec![D::N(1), D::S("t"), D::N(2)]),
            ("beta", F, vec![D::N(1), D::S("t"), D::N(2)]),
        ],
        &["q", "k", "v", "", "g", "beta"],
        &[("o", F), ("state", F)],
        &["o", "state"],
    );
    let g = import_onnx_bytes(&bytes, None).unwrap();
    let q = data(t * hq * dk, 11);
    let k = data(t * hkv * dk, 12);
    let v = data(t * hkv * dv, 13);
    let gd: Vec<f32> = data(t * hkv, 14).iter().map(|x| -x.abs()).collect();
    let beta: Vec<f32> = data(t * hkv, 15).iter().map(|x| x.abs()).collect();
    let ins = [
        f32t(&[b, t, 8], &q),
        f32t(&[b, t, 4], &k),
        f32t(&[b, t, 6], &v),
        f32t(&[b, t, 2], &gd),
        f32t(&[b, t, 2], &beta),
    ];
    let out = ingot_ir::interp::run(&g, &ins).unwrap();
    assert_eq!(out[0].shape(), &[b, t, hq * dv]);
    assert_eq!(out[1].shape(), &[b, hkv, dk, dv]);

    let scale = 1.0 / (dk as f64).sqrt();
    let mut st = vec![0.0f64; hkv * dk * dv];
    let mut want = vec![0.0; t * hq * dv];
    for ti in 0..t {
        for h in 0..hkv {
            let s = &mut st[h * dk * dv..(h + 1) * dk * dv];
            let decay = f64::from(gd[ti * hkv + h]).exp();
            s.iter_mut().for_each(|x| *x *= decay);
            let kt: Vec<f64> = (0..dk)
                .map(|x| f64::from(k[(ti * hkv + h) * dk + x]))
                .collect();
            let bt = f64::from(beta[ti * hkv + h]);
            let vt: Vec<f64> = (0..dv)
                .map(|m| {
                    let retrieved: f64 = (0..dk).map(|x| s[x * dv + m] * kt[x]).sum();
                    bt * (f64::from(v[(ti * hkv + h) * dv + m]) - retrieved)
                })
                .collect();
            for x in 0..dk {
                for m in 0..dv {
                    s[x * dv + m] += kt[x] * vt[m];
                }
            }
        }
        for h in 0..hq {
            let kh = h / (hq / hkv);
            for m in 0..dv {
                let o: f64 = (0..dk)
                    .map(|x| f64::from(q[(ti * hq + h) * dk + x]) * st[(kh * dk + x) * dv + m])
                    .sum();
                want[(ti * hq + h) * dv + m] = scale * o;
            }
        }
    }
    close(&out[0].to_f64s(), &want, "output");
    close(&out[1].to_f64s(), &st, "present_state");
}
