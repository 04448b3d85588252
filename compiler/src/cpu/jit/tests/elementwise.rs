//! Elementwise kernels vs the interpreter: every supported op on odd sizes,
//! broadcast patterns, in-place aliasing, output pieces, multi-threading.

use super::*;
use crate::cpu::jit::{compile_elementwise, single_op_body, JitError};
use ingot_ir::attr::GeluApprox;
use ingot_ir::{Dim, Op, TensorType};

const SIZES: [usize; 5] = [1, 3, 17, 783, 4101];

fn f32t(shape: &[usize]) -> TensorType {
    TensorType::fixed(DType::F32, shape)
}

/// Compile `op` on `ins` → `out` types, run on random data in [lo, hi),
/// compare with the interpreter whole, in pieces and multi-threaded.
fn check_op(op: &Op, ins: &[TensorType], out: &TensorType, lo: f32, hi: f32, abs: f64, rel: f64) {
    let body = single_op_body(op, ins, out);
    let k = compile_elementwise(&body).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    let mut rng = Rng(0x9e37_79b9 ^ ins.len() as u64);
    let data: Vec<Tensor> = ins
        .iter()
        .map(|t| random(&mut rng, t.dtype, &t.known_dims().unwrap(), lo, hi))
        .collect();
    let want = reference(&body, &data);
    let ctx = format!("{} on {ins:?}", op.name());
    assert_close(&run(&*k, &data, &want, 1), &want, abs, rel, &ctx);
    assert_close(&run(&*k, &data, &want, 4), &want, abs, rel, &ctx);
    let n = want[0].numel();
    let cuts = [0, n / 3, n / 3 + 1, (n / 2).max(n / 3 + 1).min(n), n];
    let mut cuts = cuts.to_vec();
    cuts.dedup();
    cuts.retain(|&c| c <= n);
    assert_close(&run_pieces(&*k, &data, &want, &cuts), &want, abs, rel, &ctx);
}

fn unary_ops() -> Vec<(Op, f32, f32, f64, f64)> {
    use Op::*;
    // (op, input range, abs tolerance, rel tolerance)
    vec![
        (Neg, -5.0, 5.0, 0.0, 0.0),
        (Abs, -5.0, 5.0, 0.0, 0.0),
        (Sign, -5.0, 5.0, 0.0, 0.0),
        (Sqrt, 0.0, 100.0, 0.0, 0.0),
        (Reciprocal, -5.0, 5.0, 0.0, 0.0),
        (Floor, -5.0, 5.0, 0.0, 0.0),
        (Ceil, -5.0, 5.0, 0.0, 0.0),
        (Round, -5.0, 5.0, 0.0, 0.0),
        (Relu, -5.0, 5.0, 0.0, 0.0),
        (LeakyRelu { alpha: 0.1 }, -5.0, 5.0, 0.0, 0.0),
        (ThresholdedRelu { alpha: 0.5 }, -5.0, 5.0, 0.0, 0.0),
        (
            HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            -5.0,
            5.0,
            1e-7,
            0.0,
        ),
        (HardSwish, -5.0, 5.0, 1e-6, 1e-6),
        (Softsign, -5.0, 5.0, 0.0, 1.2e-7),
        (Exp, -80.0, 80.0, 0.0, 2.5e-7),
        (Log, 1e-3, 1e3, 1e-7, 2.5e-7),
        (Tanh, -10.0, 10.0, 3e-7, 0.0),
        (Sigmoid, -20.0, 20.0, 2e-7, 0.0),
        (Erf, -4.0, 4.0, 5e-7, 0.0),
        (Softplus, -20.0, 20.0, 2e-7, 2e-7),
        (Mish, -10.0, 10.0, 1e-6, 1e-6),
        (
            Gelu {
                approximate: GeluApprox::None,
            },
            -6.0,
            6.0,
            1e-6,
            0.0,
        ),
        (
            Gelu {
                approximate: GeluApprox::Tanh,
            },
            -6.0,
            6.0,
            1e-6,
            0.0,
        ),
        (Elu { alpha: 1.5 }, -5.0, 5.0, 3e-7, 0.0),
        (
            Selu {
                alpha: 1.67,
                gamma: 1.05,
            },
            -5.0,
            5.0,
            4e-7,
            2e-7,
        ),
    ]
}

#[test]
fn unary_ops_match_the_interpreter() {
    for (op, lo, hi, abs, rel) in unary_ops() {
        for n in SIZES {
            check_op(&op, &[f32t(&[n])], &f32t(&[n]), lo, hi, abs, rel);
        }
    }
}

#[test]
fn binary_ops_match_the_interpreter() {
    use Op::*;
    for op in [Add, Sub, Mul, Div, Max, Min, PRelu] {
        for n in SIZES {
            check_op(
                &op,
                &[f32t(&[n]), f32t(&[n])],
                &f32t(&[n]),
                -3.0,
                3.0,
                0.0,
                0.0,
            );
        }
    }
    let b = TensorType::fixed(DType::Bool, &[783]);
    for op in [Equal, Less, LessOrEqual, Greater, GreaterOrEqual] {
        check_op(&op, &[f32t(&[783]), f32t(&[783])], &b, -3.0, 3.0, 0.0, 0.0);
        let i = TensorType::fixed(DType::I64, &[783]);
        check_op(&op, &[i.clone(), i], &b, 0.0, 0.0, 0.0, 0.0);
    }
    for op in [And, Or, Xor] {
        check_op(&op, &[b.clone(), b.clone()], &b, 0.0, 0.0, 0.0, 0.0);
    }
    check_op(&Not, std::slice::from_ref(&b), &b, 0.0, 0.0, 0.0, 0.0);
    for d in [DType::I64, DType::I32] {
        let i = TensorType::fixed(d, &[17]);
        for op in [Add, Sub, Mul, Max, Min] {
            check_op(&op, &[i.clone(), i.clone()], &i, 0.0, 0.0, 0.0, 0.0);
        }
        check_op(&Relu, std::slice::from_ref(&i), &i, 0.0, 0.0, 0.0, 0.0);
        check_op(&Neg, std::slice::from_ref(&i), &i, 0.0, 0.0, 0.0, 0.0);
    }
}

#[test]
fn where_clip_pow_and_casts() {
    let n = 4101;
    let b = TensorType::fixed(DType::Bool, &[n]);
    check_op(
        &Op::Where,
        &[b.clone(), f32t(&[n]), f32t(&[n])],
        &f32t(&[n]),
        -3.0,
        3.0,
        0.0,
        0.0,
    );
    let s = f32t(&[]);
    check_op(
        &Op::Clip,
        &[f32t(&[n]), s.clone(), s.clone()],
        &f32t(&[n]),
        -3.0,
        3.0,
        0.0,
        0.0,
    );
    check_op(
        &Op::Clip,
        &[f32t(&[n]), f32t(&[0]), s],
        &f32t(&[n]),
        -3.0,
        3.0,
        0.0,
        0.0,
    );
    // Runtime exponent: positive bases (negative ones need integer exponents).
    check_op(
        &Op::Pow,
        &[f32t(&[n]), f32t(&[n])],
        &f32t(&[n]),
        0.1,
        3.0,
        1e-30,
        1e-6,
    );
    let casts = [
        (DType::F32, DType::I64),
        (DType::F32, DType::I32),
        (DType::F32, DType::Bool),
        (DType::Bool, DType::F32),
        (DType::I64, DType::F32),
        (DType::I32, DType::I64),
        (DType::I64, DType::I32),
        (DType::Bool, DType::I64),
        (DType::I64, DType::Bool),
    ];
    for (from, to) in casts {
        let op = Op::Cast { to, saturate: true };
        let (a, r) = (
            TensorType::fixed(from, &[783]),
            TensorType::fixed(to, &[783]),
        );
        check_op(&op, &[a], &r, -300.0, 300.0, 0.0, 0.0);
    }
}

/// Bodies built by hand: `op(x, c)` with `c` a scalar constant in the body.
fn const_body(op: Op, c: f32, shape: &[usize]) -> Graph {
    let mut g = Graph::new("f");
    let x = g.add_input("x", f32t(shape)).unwrap();
    let c = g.add_const(Tensor::scalar(c));
    let y = g.add_node(op, &[x, c]).unwrap()[0];
    g.set_outputs(vec![y]);
    g
}

#[test]
fn pow_with_constant_exponents() {
    let mut rng = Rng(3);
    for e in [2.0, 3.0, 0.5, -0.5, -1.0, 0.0, 1.0, 1.7, -2.0, 4.0] {
        let body = const_body(Op::Pow, e, &[783]);
        let k = compile_elementwise(&body).unwrap();
        let mut x = random(&mut rng, DType::F32, &[783], -4.0, 4.0);
        x.as_mut_slice::<f32>().unwrap()[..5].copy_from_slice(&[
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        let want = reference(&body, std::slice::from_ref(&x));
        let got = run(&*k, &[x], &want, 1);
        assert_close(&got, &want, 1e-30, 2e-6, &format!("pow(x, {e})"));
    }
}

#[test]
fn specials_follow_the_interpreter() {
    let sp = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        100.0,
        -100.0,
    ];
    let x = Tensor::from_vec(&[sp.len()], sp.to_vec()).unwrap();
    for (op, _, _, abs, rel) in unary_ops() {
        let t = f32t(&[sp.len()]);
        let body = single_op_body(&op, std::slice::from_ref(&t), &t);
        let k = compile_elementwise(&body).unwrap();
        let want = reference(&body, std::slice::from_ref(&x));
        let got = run(&*k, std::slice::from_ref(&x), &want, 1);
        // Tiny (subnormal) inputs: relative error of outputs near 0 is moot.
        assert_close(
            &got,
            &want,
            abs.max(1e-37),
            rel,
            &format!("{} specials", op.name()),
        );
    }
}

#[test]
fn broadcast_patterns() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[5, 131], &[131]),
        (&[2, 3, 7, 9], &[3, 1, 1]),
        (&[2, 3, 7, 9], &[2, 3, 1, 1]),
        (&[3, 1, 5], &[1, 4, 1]),
        (&[4, 33], &[]),
        (&[4, 33], &[4, 1]),
        (&[1], &[1]),
        (&[6, 1, 17], &[6, 1, 17]),
        (&[3, 4, 5, 6, 7], &[4, 1, 6, 1]),
    ];
    for (a, b) in cases {
        let out: Vec<usize> = if a.len() >= b.len() && a.iter().product::<usize>() >= 1 {
            let mut o = a.to_vec();
            let off = a.len() - b.len();
            for (i, &d) in b.iter().enumerate() {
                o[off + i] = o[off + i].max(d);
            }
            o
        } else {
            a.to_vec()
        };
        for op in [Op::Add, Op::Mul, Op::Sub] {
            check_op(&op, &[f32t(a), f32t(b)], &f32t(&out), -2.0, 2.0, 0.0, 0.0);
            check_op(&op, &[f32t(b), f32t(a)], &f32t(&out), -2.0, 2.0, 0.0, 0.0);
        }
    }
}

#[test]
fn symbolic_batch_and_in_place() {
    // f32[batch,64] * f32[64] + relu, run at several batch sizes, with the
    // output in the input's buffer.
    let b = Dim::var("batch");
    let xt = TensorType::new(DType::F32, [b.clone(), Dim::Known(64)]);
    let mut g = Graph::new("f");
    let x = g.add_input("x", xt.clone()).unwrap();
    let s = g.add_input("s", f32t(&[64])).unwrap();
    let m = g.add_node(Op::Mul, &[x, s]).unwrap()[0];
    let r = g.add_node(Op::Relu, &[m]).unwrap()[0];
    g.set_outputs(vec![r]);
    let k = compile_elementwise(&g).unwrap();
    let mut rng = Rng(11);
    for batch in [1, 2, 7, 100] {
        let xs = random(&mut rng, DType::F32, &[batch, 64], -1.0, 1.0);
        let ss = random(&mut rng, DType::F32, &[64], -1.0, 1.0);
        let want = reference(&g, &[xs.clone(), ss.clone()]);
        let mut buf = xs.clone();
        let p = buf.bytes_mut().as_mut_ptr();
        let a = [
            Arg {
                ptr: p,
                dtype: DType::F32,
                shape: xs.shape(),
            },
            Arg {
                ptr: ss.bytes().as_ptr() as *mut u8,
                dtype: DType::F32,
                shape: ss.shape(),
            },
        ];
        let o = [Arg {
            ptr: p,
            dtype: DType::F32,
            shape: xs.shape(),
        }];
        // SAFETY: live buffers; the output aliases input 0 exactly.
        unsafe { Kernel::run(&*k, &a, &o, &Ctx { threads: 1 }) }.unwrap();
        assert_close(&[buf], &want, 0.0, 0.0, &format!("in place, batch {batch}"));
    }
}

#[test]
fn large_outputs_split_across_threads() {
    let n = 300_001;
    check_op(
        &Op::Sigmoid,
        &[f32t(&[n])],
        &f32t(&[n]),
        -8.0,
        8.0,
        2e-7,
        0.0,
    );
    check_op(
        &Op::Add,
        &[f32t(&[3, n]), f32t(&[n])],
        &f32t(&[3, n]),
        -8.0,
        8.0,
        0.0,
        0.0,
    );
}

#[test]
fn unsupported_is_an_error_not_wrong_code() {
    let t = f32t(&[4]);
    for op in [Op::Sin, Op::Mod { fmod: true }] {
        let ins = vec![t.clone(); if op == Op::Sin { 1 } else { 2 }];
        let body = single_op_body(&op, &ins, &t);
        assert!(matches!(
            compile_elementwise(&body),
            Err(JitError::Unsupported { .. })
        ));
    }
    let h = TensorType::fixed(DType::F16, &[4]);
    let body = single_op_body(&Op::Add, &[h.clone(), h.clone()], &h);
    assert!(compile_elementwise(&body).is_err());
    let i = TensorType::fixed(DType::I64, &[4]);
    let body = single_op_body(&Op::Div, &[i.clone(), i.clone()], &i);
    assert!(compile_elementwise(&body).is_err());
}

#[test]
fn wrong_operands_are_reported() {
    let t = f32t(&[8]);
    let body = single_op_body(&Op::Add, &[t.clone(), t.clone()], &t);
    let k = compile_elementwise(&body).unwrap();
    let x = Tensor::zeros(DType::F32, &[8]).unwrap();
    let y = Tensor::zeros(DType::F32, &[3]).unwrap();
    let out = Tensor::zeros(DType::F32, &[8]).unwrap();
    let a = [arg(&x), arg(&y)];
    // SAFETY: live buffers; the kernel rejects the shapes before touching them.
    let e = unsafe { Kernel::run(&*k, &a, &[arg(&out)], &Ctx { threads: 1 }) }.unwrap_err();
    assert!(e.0.contains("[3]") && e.0.contains("broadcast"), "{e}");
}
