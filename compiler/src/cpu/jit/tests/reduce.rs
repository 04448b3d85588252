//! Row-reduction kernels vs the interpreter: softmax (attention-style with
//! scale and broadcast mask, decomposed, fully masked rows), layer norm
//! (op with residual, decomposed), RMS norm, reduce_* over trailing axes
//! (keepdims on and off, per-row and full outputs), on odd row lengths and
//! row counts, one and two threads. Tolerance: the documented
//! `|a-b| <= 1e-5·max(1,|b|)`.

use super::*;
use crate::cpu::jit::{compile_reduce, single_op_body, JitError};
use ingot_ir::{Op, TensorType, Value};
use ingot_runtime::Arg;

const LENS: [usize; 5] = [1, 3, 17, 128, 783];
const ROWS: [usize; 3] = [1, 5, 64];

fn f32t(shape: &[usize]) -> TensorType {
    TensorType::fixed(DType::F32, shape)
}

fn assert_tol(got: &[Tensor], want: &[Tensor], ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.shape(), w.shape(), "{ctx}: output {o}");
        for (i, (a, b)) in g.to_f64s().iter().zip(w.to_f64s()).enumerate() {
            let ok =
                (a.is_nan() && b.is_nan()) || *a == b || (a - b).abs() <= 1e-5 * b.abs().max(1.0);
            assert!(ok, "{ctx}: output {o} element {i}: jit {a} vs interp {b}");
        }
    }
}

/// Compile `body`, run it on `data` with 1 and 2 threads, compare.
fn check_data(body: &Graph, data: &[Tensor], ctx: &str) {
    let k = compile_reduce(body).unwrap_or_else(|e| panic!("{ctx}: {e}\n{body}"));
    let want = reference(body, data);
    for threads in [1, 2] {
        let got = run(&*k, data, &want, threads);
        assert_tol(&got, &want, &format!("{ctx}, {threads} thread(s)"));
    }
}

/// `check_data` on uniform random inputs in [lo, hi).
fn check(body: &Graph, seed: u64, lo: f32, hi: f32, ctx: &str) {
    let mut rng = Rng(seed | 1);
    let data: Vec<Tensor> = body
        .inputs()
        .iter()
        .map(|&v| {
            let t = body.ty(v);
            random(&mut rng, t.dtype, &t.known_dims().unwrap(), lo, hi)
        })
        .collect();
    check_data(body, &data, ctx);
}

/// Every (rows, len) case, plus one big enough to run in parallel.
fn cases() -> Vec<(usize, usize)> {
    let mut v: Vec<_> = ROWS
        .iter()
        .flat_map(|&r| LENS.iter().map(move |&l| (r, l)))
        .collect();
    v.push((96, 783));
    v
}

fn node(g: &mut Graph, op: Op, ins: &[Value]) -> Value {
    g.add_node(op, ins).unwrap_or_else(|e| panic!("{e}"))[0]
}

fn scalar(g: &mut Graph, c: f32) -> Value {
    g.add_const(Tensor::scalar(c))
}

fn red(g: &mut Graph, which: &str, x: Value, axes: &[i64], keepdims: bool) -> Value {
    let axes = axes.to_vec();
    let op = match which {
        "sum" => Op::ReduceSum { axes, keepdims },
        "mean" => Op::ReduceMean { axes, keepdims },
        "max" => Op::ReduceMax { axes, keepdims },
        "min" => Op::ReduceMin { axes, keepdims },
        "sum_square" => Op::ReduceSumSquare { axes, keepdims },
        _ => Op::ReduceL2 { axes, keepdims },
    };
    node(g, op, &[x])
}

/// softmax(x / 8 + mask) over [b, h, s, s] with mask [b, 1, 1, s].
fn attention(b: usize, h: usize, s: usize) -> Graph {
    let mut g = Graph::new("attn");
    let x = g.add_input("x", f32t(&[b, h, s, s])).unwrap();
    let m = g.add_input("mask", f32t(&[b, 1, 1, s])).unwrap();
    let c = scalar(&mut g, 8.0);
    let d = node(&mut g, Op::Div, &[x, c]);
    let a = node(&mut g, Op::Add, &[d, m]);
    let y = node(&mut g, Op::Softmax { axis: -1 }, &[a]);
    g.set_outputs(vec![y]);
    g
}

#[test]
fn attention_softmax_with_mask() {
    for s in LENS {
        for b in [1, 2] {
            let g = attention(b, 3, s);
            let mut rng = Rng(11 + s as u64);
            let x = random(&mut rng, DType::F32, &[b, 3, s, s], -20.0, 20.0);
            // Batch 0 masks its last third; batch 1 (if any) masks everything:
            // a fully masked row is NaN in the interpreter, and must be here.
            let mask: Vec<f32> = (0..b * s)
                .map(|i| {
                    let (bi, j) = (i / s, i % s);
                    if bi == 1 || (j >= s - s / 3 && s > 1) {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            let mask = Tensor::from_vec(&[b, 1, 1, s], mask).unwrap();
            check_data(&g, &[x, mask], &format!("attention b={b} s={s}"));
        }
    }
    // Big enough to split across threads.
    check(&attention(2, 4, 128), 3, -5.0, 5.0, "attention 2x4x128");
}

#[test]
fn decomposed_softmax_and_log_softmax() {
    for (rows, len) in cases() {
        let mut g = Graph::new("sm");
        let x = g.add_input("x", f32t(&[rows, len])).unwrap();
        let m = red(&mut g, "max", x, &[-1], true);
        let d = node(&mut g, Op::Sub, &[x, m]);
        let e = node(&mut g, Op::Exp, &[d]);
        let s = red(&mut g, "sum", e, &[-1], true);
        let y = node(&mut g, Op::Div, &[e, s]);
        g.set_outputs(vec![y]);
        check(
            &g,
            rows as u64 * 31 + len as u64,
            -10.0,
            10.0,
            "decomposed softmax",
        );
        for op in [Op::Softmax { axis: -1 }, Op::LogSoftmax { axis: 1 }] {
            let t = f32t(&[rows, len]);
            let body = single_op_body(&op, std::slice::from_ref(&t), &t);
            let ctx = format!("{} [{rows}, {len}]", op.name());
            check(&body, len as u64, -30.0, 30.0, &ctx);
        }
    }
}

#[test]
fn layer_norm_with_residual_add() {
    for (rows, len) in cases() {
        let mut g = Graph::new("ln");
        let x = g.add_input("x", f32t(&[rows, 1, len])).unwrap();
        let r = g.add_input("res", f32t(&[rows, 1, len])).unwrap();
        let gamma = g.add_input("gamma", f32t(&[len])).unwrap();
        let beta = g.add_input("beta", f32t(&[len])).unwrap();
        let a = node(&mut g, Op::Add, &[x, r]);
        let ln = Op::LayerNorm {
            axis: -1,
            epsilon: 1e-5,
        };
        let y = node(&mut g, ln, &[a, gamma, beta]);
        // The sum is an output too: a full row written beside the norm.
        g.set_outputs(vec![y, a]);
        check(
            &g,
            7 + len as u64,
            -3.0,
            3.0,
            &format!("layer_norm [{rows}, {len}]"),
        );
    }
}

#[test]
fn decomposed_layer_norm_and_rms_norm() {
    for (rows, len) in cases() {
        let mut g = Graph::new("ln");
        let x = g.add_input("x", f32t(&[rows, len])).unwrap();
        let gamma = g.add_input("gamma", f32t(&[len])).unwrap();
        let beta = g.add_input("beta", f32t(&[len])).unwrap();
        let mean = red(&mut g, "mean", x, &[-1], true);
        let d = node(&mut g, Op::Sub, &[x, mean]);
        let two = scalar(&mut g, 2.0);
        let p = node(&mut g, Op::Pow, &[d, two]);
        let var = red(&mut g, "mean", p, &[-1], true);
        let eps = scalar(&mut g, 1e-5);
        let ve = node(&mut g, Op::Add, &[var, eps]);
        let sd = node(&mut g, Op::Sqrt, &[ve]);
        let n = node(&mut g, Op::Div, &[d, sd]);
        let y = node(&mut g, Op::Mul, &[n, gamma]);
        let z = node(&mut g, Op::Add, &[y, beta]);
        // The mean is a per-row output ([rows, 1]).
        g.set_outputs(vec![z, mean]);
        check(
            &g,
            5 + len as u64,
            -4.0,
            4.0,
            &format!("decomposed layer_norm [{rows}, {len}]"),
        );

        let mut g = Graph::new("rms");
        let x = g.add_input("x", f32t(&[rows, len])).unwrap();
        let gamma = g.add_input("gamma", f32t(&[len])).unwrap();
        let two = scalar(&mut g, 2.0);
        let p = node(&mut g, Op::Pow, &[x, two]);
        let ms = red(&mut g, "mean", p, &[-1], true);
        let eps = scalar(&mut g, 1e-6);
        let a = node(&mut g, Op::Add, &[ms, eps]);
        let s = node(&mut g, Op::Sqrt, &[a]);
        let rcp = node(&mut g, Op::Reciprocal, &[s]);
        let y = node(&mut g, Op::Mul, &[x, rcp]);
        let z = node(&mut g, Op::Mul, &[y, gamma]);
        g.set_outputs(vec![z]);
        check(
            &g,
            9 + len as u64,
            -4.0,
            4.0,
            &format!("rms_norm [{rows}, {len}]"),
        );
    }
}

#[test]
fn global_average_pool_as_reduce_mean() {
    for (n, c, h, w) in [(1, 3, 1, 1), (2, 5, 3, 3), (2, 64, 7, 7), (1, 17, 28, 28)] {
        for keepdims in [true, false] {
            let mut g = Graph::new("gap");
            let x = g.add_input("x", f32t(&[n, c, h, w])).unwrap();
            let y = red(&mut g, "mean", x, &[2, 3], keepdims);
            g.set_outputs(vec![y]);
            check(
                &g,
                13 + c as u64,
                -2.0,
                2.0,
                &format!("gap [{n},{c},{h},{w}] {keepdims}"),
            );
        }
    }
}

#[test]
fn single_reductions_over_trailing_axes() {
    for which in ["sum", "mean", "max", "min", "sum_square", "l2"] {
        for (rows, len) in cases() {
            for keepdims in [true, false] {
                let mut g = Graph::new("r");
                let x = g.add_input("x", f32t(&[rows, len])).unwrap();
                let y = red(&mut g, which, x, &[-1], keepdims);
                g.set_outputs(vec![y]);
                let ctx = format!("reduce_{which} [{rows}, {len}] keepdims={keepdims}");
                check(&g, 17 + rows as u64 + len as u64, -2.0, 2.0, &ctx);
            }
        }
    }
    // Over all axes (k = 0: one row), and over the last two.
    for axes in [&[][..], &[1, 2][..]] {
        let mut g = Graph::new("r");
        let x = g.add_input("x", f32t(&[3, 5, 7])).unwrap();
        let y = red(&mut g, "sum", x, axes, false);
        g.set_outputs(vec![y]);
        check(&g, 3, -2.0, 2.0, &format!("reduce_sum axes {axes:?}"));
    }
}

#[test]
fn max_and_min_propagate_nan_and_infinities() {
    let mut data = vec![
        1.0f32,
        f32::NAN,
        3.0,
        -1.0,
        2.0,
        f32::INFINITY,
        0.5,
        4.0,
        9.0,
    ];
    data.extend([f32::NEG_INFINITY; 9]);
    let x = Tensor::from_vec(&[2, 9], data).unwrap();
    for which in ["max", "min", "sum"] {
        let mut g = Graph::new("r");
        let xv = g.add_input("x", f32t(&[2, 9])).unwrap();
        let y = red(&mut g, which, xv, &[-1], false);
        g.set_outputs(vec![y]);
        check_data(&g, std::slice::from_ref(&x), which);
    }
    for op in [Op::Softmax { axis: -1 }, Op::LogSoftmax { axis: -1 }] {
        let t = f32t(&[2, 9]);
        let body = single_op_body(&op, std::slice::from_ref(&t), &t);
        check_data(&body, std::slice::from_ref(&x), op.name());
    }
}

#[test]
fn per_row_operands_and_odd_broadcasts() {
    // gamma [C] on a norm over [H, C] (broadcast inside the row: gathered),
    // a per-row scale [N, 1, 1], a per-batch bias [N, 1, C] (gathered per
    // row), and an R'-space operand [N] on a keepdims=false sum.
    let (n, h, c) = (4, 3, 17);
    let mut g = Graph::new("odd");
    let x = g.add_input("x", f32t(&[n, h, c])).unwrap();
    let gamma = g.add_input("gamma", f32t(&[c])).unwrap();
    let sc = g.add_input("scale", f32t(&[n, 1, 1])).unwrap();
    let bb = g.add_input("bias", f32t(&[n, 1, c])).unwrap();
    let wn = g.add_input("w", f32t(&[n])).unwrap();
    let xs = node(&mut g, Op::Mul, &[x, sc]);
    let xb = node(&mut g, Op::Add, &[xs, bb]);
    let ln = Op::LayerNorm {
        axis: 1,
        epsilon: 1e-5,
    };
    let y = node(&mut g, ln, &[xb, gamma]);
    let s = red(&mut g, "sum", xb, &[1, 2], false);
    let sw = node(&mut g, Op::Mul, &[s, wn]);
    g.set_outputs(vec![y, sw]);
    check(&g, 21, -2.0, 2.0, "odd broadcasts");

    let (t, p) = (f32t(&[5, 6, 8]), f32t(&[8]));
    let ln = Op::LayerNorm {
        axis: 1,
        epsilon: 1e-3,
    };
    let body = single_op_body(&ln, &[t.clone(), p.clone(), p.clone()], &t);
    check(&body, 2, -3.0, 3.0, "layer_norm over [6, 8], scale [8]");
    let rms = Op::RmsNorm {
        axis: -1,
        epsilon: 1e-6,
    };
    check(
        &single_op_body(&rms, &[t.clone(), p], &t),
        2,
        -3.0,
        3.0,
        "rms_norm",
    );
}

#[test]
fn random_bodies_match_the_interpreter() {
    // A small randomized sweep: shapes, value ranges and a chain of
    // elementwise producers/consumers around a random reduction.
    let mut rng = Rng(0xdead_beef);
    for case in 0..40 {
        let rows = 1 + (rng.next() % 9) as usize;
        let len = 1 + (rng.next() % 300) as usize;
        let mut g = Graph::new("rand");
        let x = g.add_input("x", f32t(&[rows, len])).unwrap();
        let bias = g.add_input("b", f32t(&[len])).unwrap();
        let pre = node(&mut g, Op::Add, &[x, bias]);
        let which = ["sum", "mean", "max", "min", "sum_square", "l2"][(rng.next() % 6) as usize];
        let r = red(&mut g, which, pre, &[-1], true);
        let post = match rng.next() % 3 {
            0 => node(&mut g, Op::Sub, &[pre, r]),
            1 => node(&mut g, Op::Mul, &[pre, r]),
            _ => {
                let t = node(&mut g, Op::Tanh, &[pre]);
                node(&mut g, Op::Add, &[t, r])
            }
        };
        g.set_outputs(vec![post, r]);
        let hi = rng.f(0.1, 10.0);
        check(
            &g,
            case,
            -hi,
            hi,
            &format!("random case {case}: {which} [{rows}, {len}]"),
        );
    }
}

#[test]
fn unsupported_bodies_are_errors() {
    // A reduction over a leading axis, and an f64 row.
    let mut g = Graph::new("bad");
    let x = g.add_input("x", f32t(&[3, 4])).unwrap();
    let y = red(&mut g, "sum", x, &[0], true);
    g.set_outputs(vec![y]);
    assert!(matches!(
        compile_reduce(&g),
        Err(JitError::Unsupported { .. })
    ));
    let t = TensorType::fixed(DType::F64, &[3, 4]);
    let body = single_op_body(&Op::Softmax { axis: -1 }, std::slice::from_ref(&t), &t);
    assert!(matches!(
        compile_reduce(&body),
        Err(JitError::Unsupported { .. })
    ));
    // Softmax on a non-last axis.
    let t = f32t(&[3, 4]);
    let body = single_op_body(&Op::Softmax { axis: 0 }, std::slice::from_ref(&t), &t);
    assert!(compile_reduce(&body).is_err());
}

#[test]
fn in_place_softmax_and_spilled_outputs() {
    // Output = input buffer, and the last pass reads x again: the kernel
    // must not park exp(x - max) in the output before then.
    let mut g = Graph::new("inplace");
    let xv = g.add_input("x", f32t(&[5, 37])).unwrap();
    let m = red(&mut g, "max", xv, &[-1], true);
    let d = node(&mut g, Op::Sub, &[xv, m]);
    let e = node(&mut g, Op::Exp, &[d]);
    let s = red(&mut g, "sum", e, &[-1], true);
    let q = node(&mut g, Op::Div, &[e, s]);
    let y = node(&mut g, Op::Add, &[q, xv]);
    g.set_outputs(vec![y]);
    let k = compile_reduce(&g).unwrap();
    let mut rng = Rng(3);
    let x = random(&mut rng, DType::F32, &[5, 37], -5.0, 5.0);
    let want = reference(&g, std::slice::from_ref(&x));
    let mut buf = x.clone();
    let a = Arg {
        ptr: buf.bytes_mut().as_mut_ptr(),
        dtype: DType::F32,
        shape: &[5, 37],
    };
    // SAFETY: `a` addresses `buf`, a live [5, 37] f32 tensor.
    unsafe { k.run(&[a], &[a], &ingot_runtime::Ctx { threads: 1 }) }.unwrap();
    assert_tol(&[buf], &want, "in-place softmax(x) + x");
    // Two full outputs sharing the spilled exp: softmax and exp itself.
    let mut g = Graph::new("two");
    let xv = g.add_input("x", f32t(&[7, 45])).unwrap();
    let m = red(&mut g, "max", xv, &[-1], true);
    let d = node(&mut g, Op::Sub, &[xv, m]);
    let e = node(&mut g, Op::Exp, &[d]);
    let s = red(&mut g, "sum", e, &[-1], false);
    let sk = red(&mut g, "sum", e, &[-1], true);
    let y = node(&mut g, Op::Div, &[e, sk]);
    g.set_outputs(vec![y, e, s]);
    check(&g, 8, -6.0, 6.0, "softmax + exp + sum outputs");
}
