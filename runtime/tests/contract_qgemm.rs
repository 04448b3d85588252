//! `qgemm` (com.microsoft QGemm) and per-tensor quantize/dequantize kernels
//! against the interpreter: bit-identical results, at 1 and 2 threads.

mod quant_common;

use ingot_ir::{DType, Dim, Op, Tensor, TensorType};
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::kernels::qgemm_op::QGemmKernel;
use ingot_runtime::Kernel;
use proptest::prelude::*;

fn ty(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().iter().map(|&d| Dim::Known(d as i64)))
}

/// Deterministic bytes (xorshift).
fn bytes(n: usize, seed: u64) -> Vec<i64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 56) as i64
        })
        .collect()
}

/// Run `k` on `ins` into a result of `want`'s dtype and shape.
fn run(k: &dyn Kernel, ins: &[&Tensor], want: &Tensor, threads: usize) -> Tensor {
    quant_common::run(k, ins, want, threads).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn check_qgemm(
    m: usize,
    k: usize,
    n: usize,
    trans_b: bool,
    per_col: bool,
    bias: bool,
    quantized: bool,
    alpha: f32,
    seed: u64,
) {
    let a = Tensor::from_i64s(DType::U8, &[m, k], &bytes(m * k, seed)).unwrap();
    let bshape = if trans_b { [n, k] } else { [k, n] };
    let bv: Vec<i64> = bytes(k * n, seed + 1).iter().map(|v| v - 128).collect();
    let b = Tensor::from_i64s(DType::I8, &bshape, &bv).unwrap();
    let sa = Tensor::scalar(0.02f32);
    let za = Tensor::from_i64s(DType::U8, &[], &[(seed % 256) as i64]).unwrap();
    let nb = if per_col { n } else { 1 };
    let sb = Tensor::from_vec(
        &[nb],
        (0..nb)
            .map(|j| 0.001 + j as f32 * 1e-4)
            .collect::<Vec<f32>>(),
    )
    .unwrap();
    let zb = Tensor::from_i64s(DType::I8, &[nb], &vec![0; nb]).unwrap();
    let c = Tensor::from_i64s(
        DType::I32,
        &[n],
        &bytes(n, seed + 2)
            .iter()
            .map(|v| (v - 128) * 300)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let ys = Tensor::scalar(0.7f32);
    let yz = Tensor::from_i64s(DType::U8, &[], &[100]).unwrap();
    let mut ins = vec![&a, &sa, &za, &b, &sb, &zb];
    if bias || quantized {
        ins.push(&c);
    }
    if quantized {
        ins.extend([&ys, &yz]);
    }
    let op = Op::QGemm {
        alpha,
        trans_a: false,
        trans_b,
    };
    let want = ingot_ir::interp::eval_op(&op, &ins).unwrap().remove(0);
    let types: Vec<TensorType> = ins.iter().map(|t| ty(t)).collect();
    let consts: Vec<Option<Tensor>> = ins
        .iter()
        .enumerate()
        .map(|(i, t)| (i > 0).then(|| (*t).clone()))
        .collect();
    let kern = QGemmKernel::new(&op, &types, &consts).unwrap();
    for threads in [1, 2] {
        let got = run(&kern, &[&a], &want, threads);
        assert_eq!(
            got.to_f64s(),
            want.to_f64s(),
            "{m}x{k}x{n} trans_b={trans_b} per_col={per_col} bias={bias} u8={quantized} threads {threads}"
        );
    }
}

#[test]
fn qgemm_matches_the_interpreter() {
    for &(m, k, n) in &[
        (1, 1, 1),
        (3, 5, 7),
        (64, 784, 40),
        (33, 64, 10),
        (17, 130, 67),
    ] {
        for (tb, pc, b, q) in [
            (true, true, true, true),
            (false, false, false, true),
            (true, false, true, false),
            (false, true, false, false),
        ] {
            check_qgemm(m, k, n, tb, pc, b, q, 1.0, (m * 31 + n) as u64);
        }
    }
    check_qgemm(9, 20, 11, true, true, true, true, 0.5, 3);
}

#[test]
fn qgemm_refuses_what_it_does_not_run() {
    let a = TensorType::new(DType::I8, [Dim::Known(2), Dim::Known(3)]);
    let b = Tensor::from_i64s(DType::I8, &[3, 4], &[1; 12]).unwrap();
    let s = Tensor::scalar(1.0f32);
    let z = Tensor::from_i64s(DType::I8, &[], &[0]).unwrap();
    let op = Op::QGemm {
        alpha: 1.0,
        trans_a: false,
        trans_b: false,
    };
    let types = vec![a, s.ty(), z.ty(), b.ty(), s.ty(), z.ty()];
    let consts = vec![
        None,
        Some(s.clone()),
        Some(z.clone()),
        Some(b),
        Some(s),
        Some(z),
    ];
    let e = QGemmKernel::new(&op, &types, &consts).err().unwrap();
    assert!(e.0.contains("only u8"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn qgemm_random_shapes(m in 1usize..40, k in 1usize..90, n in 1usize..70,
                           tb in any::<bool>(), pc in any::<bool>(), b in any::<bool>(),
                           q in any::<bool>(), seed in 0u64..500) {
        check_qgemm(m, k, n, tb, pc, b, q, 1.0, seed);
    }
}

#[test]
fn quantize_and_dequantize_match_the_interpreter() {
    let n = 70_000; // several parallel chunks at 2 threads
    let vals: Vec<f32> = (0..n)
        .map(|i| match i % 7 {
            0 => f32::NAN,
            1 => 1e9,
            2 => -1e9,
            3 => 0.5 * 0.25 * (i % 13) as f32, // ties
            _ => (i as f32 * 0.37).sin() * 40.0,
        })
        .collect();
    let x = Tensor::from_vec(&[n], vals).unwrap();
    let s = Tensor::scalar(0.25f32);
    for (dt, zp) in [(DType::U8, 128), (DType::I8, -3), (DType::U8, 0)] {
        let z = Tensor::from_i64s(dt, &[], &[zp]).unwrap();
        let q = Op::QuantizeLinear {
            axis: 1,
            block_size: 0,
            saturate: true,
        };
        let ins = [&x, &s, &z];
        let want = ingot_ir::interp::eval_op(&q, &ins).unwrap().remove(0);
        let types: Vec<TensorType> = ins.iter().map(|t| ty(t)).collect();
        let consts = vec![None, Some(s.clone()), Some(z.clone())];
        let k = movement_kernel(&q, &types, &consts, &[want.ty()])
            .unwrap()
            .unwrap();
        assert!(k.describe().contains("quantize"), "{}", k.describe());
        for threads in [1, 2] {
            let got = run(k.as_ref(), &[&x], &want, threads);
            assert_eq!(got.to_i64s(), want.to_i64s(), "quantize to {dt} zp {zp}");
        }
        let d = Op::DequantizeLinear {
            axis: 1,
            block_size: 0,
        };
        let ins = [&want, &s, &z];
        let back = ingot_ir::interp::eval_op(&d, &ins).unwrap().remove(0);
        let types: Vec<TensorType> = ins.iter().map(|t| ty(t)).collect();
        let k = movement_kernel(&d, &types, &consts, &[back.ty()])
            .unwrap()
            .unwrap();
        for threads in [1, 2] {
            let got = run(k.as_ref(), &[&want], &back, threads);
            assert_eq!(got.to_f64s(), back.to_f64s(), "dequantize {dt} zp {zp}");
        }
    }
    // i32 (a bias) dequantizes exactly as the interpreter's f64 product.
    let b = Tensor::from_i64s(DType::I32, &[3], &[i32::MAX as i64, -7, i32::MIN as i64]).unwrap();
    let z = Tensor::from_i64s(DType::I32, &[], &[5]).unwrap();
    let s = Tensor::scalar(0.1f32);
    let d = Op::DequantizeLinear {
        axis: 1,
        block_size: 0,
    };
    let ins = [&b, &s, &z];
    let want = ingot_ir::interp::eval_op(&d, &ins).unwrap().remove(0);
    let types: Vec<TensorType> = ins.iter().map(|t| ty(t)).collect();
    let k = movement_kernel(
        &d,
        &types,
        &[None, Some(s.clone()), Some(z.clone())],
        &[want.ty()],
    )
    .unwrap()
    .unwrap();
    assert_eq!(run(k.as_ref(), &[&b], &want, 1).to_f64s(), want.to_f64s());
    // Per-axis parameters stay on the interpreter.
    let sv = Tensor::from_vec(&[3], vec![0.1f32, 0.2, 0.3]).unwrap();
    let zv = Tensor::from_i64s(DType::I32, &[3], &[0, 0, 0]).unwrap();
    let types = vec![b.ty(), sv.ty(), zv.ty()];
    assert!(movement_kernel(&d, &types, &[None, Some(sv), Some(zv)], &[want.ty()]).is_none());
}

#[test]
fn qlinear_add_matches_the_interpreter() {
    let n = 70_000;
    for (from, to) in [
        (DType::U8, DType::U8),
        (DType::I8, DType::I8),
        (DType::U8, DType::I8),
    ] {
        let shift = if from == DType::I8 { 128 } else { 0 };
        let a = Tensor::from_i64s(
            from,
            &[n],
            &bytes(n, 1).iter().map(|v| v - shift).collect::<Vec<_>>(),
        )
        .unwrap();
        let b = Tensor::from_i64s(
            from,
            &[n],
            &bytes(n, 2).iter().map(|v| v - shift).collect::<Vec<_>>(),
        )
        .unwrap();
        let zp = |dt: DType, v: i64| Tensor::from_i64s(dt, &[], &[v]).unwrap();
        let (sa, sb, sc) = (
            Tensor::scalar(0.031f32),
            Tensor::scalar(0.017f32),
            Tensor::scalar(0.045f32),
        );
        let (za, zb, zc) = (zp(from, 3), zp(from, -3 + shift / 2), zp(to, 7));
        let ins = [&a, &sa, &za, &b, &sb, &zb, &sc, &zc];
        let want = ingot_ir::interp::eval_op(&Op::QLinearAdd, &ins)
            .unwrap()
            .remove(0);
        let types: Vec<TensorType> = ins.iter().map(|t| ty(t)).collect();
        let consts: Vec<Option<Tensor>> = ins
            .iter()
            .enumerate()
            .map(|(i, t)| (i != 0 && i != 3).then(|| (*t).clone()))
            .collect();
        let k = movement_kernel(&Op::QLinearAdd, &types, &consts, &[want.ty()])
            .unwrap()
            .unwrap();
        for threads in [1, 2] {
            let got = run(k.as_ref(), &[&a, &sa, &za, &b], &want, threads);
            assert_eq!(
                got.to_i64s(),
                want.to_i64s(),
                "{from} -> {to}, threads {threads}"
            );
        }
    }
}
