//! MatMul and Gemm kernels against the interpreter.
//!
//! Tolerance: `|a-b| <= 1e-4 * max(1, |b|)` — f32 sums of at most a few
//! hundred products of values in [-1, 1) against the interpreter's f64.
//! Every case runs with 1 and 2 threads, with and without an epilogue.

mod contract_common;

use contract_common::*;
use ingot_ir::{Op, Tensor};
use ingot_runtime::kernels::gemm_op::GemmKernel;
use ingot_runtime::kernels::matmul::MatMulKernel;
use ingot_runtime::kernels::Epilogue;
use proptest::prelude::*;
use std::sync::Arc;

const TOL: f64 = 1e-4;

/// Check `matmul a, b` for shapes `sa`, `sb`, with `b` constant or not.
fn check_matmul(sa: &[usize], sb: &[usize], seed: u64) {
    let (a, b) = (tensor(sa, seed), tensor(sb, seed + 1));
    let want = oracle(&Op::MatMul, &[&a, &b]);
    let r = tensor(want.shape(), seed + 2);
    let want_ep = relu_add(&want, &r);
    for b_const in [false, true] {
        let bc = b_const.then_some(&b);
        let k = MatMulKernel::new(&ty(sa), &ty(sb), bc, None).unwrap();
        let ep = Epilogue::new(Arc::new(ReluAdd), vec![2]);
        let ke = MatMulKernel::new(&ty(sa), &ty(sb), bc, Some(ep)).unwrap();
        for threads in [1, 2] {
            let what = format!("matmul {sa:?} x {sb:?} const b {b_const} threads {threads}");
            assert_close(
                &run(&k, &[&a, &b], want.shape(), threads),
                &want,
                TOL,
                &what,
            );
            let got = run(&ke, &[&a, &b, &r], want.shape(), threads);
            assert_close(&got, &want_ep, TOL, &format!("{what} + epilogue"));
        }
    }
}

#[test]
fn matmul_2d_odd_shapes() {
    for (m, k, n) in [(1, 1, 1), (1, 17, 31), (3, 17, 1), (31, 3, 17), (17, 31, 3)] {
        check_matmul(&[m, k], &[k, n], (m * k * n) as u64);
    }
}

#[test]
fn matmul_vector_promotion() {
    check_matmul(&[17], &[17, 3], 1);
    check_matmul(&[3, 17], &[17], 2);
    check_matmul(&[17], &[17], 3);
    check_matmul(&[2, 3, 17], &[17], 4);
    check_matmul(&[17], &[2, 17, 5], 5);
}

#[test]
fn matmul_batch_broadcast() {
    check_matmul(&[2, 3, 4, 5], &[5, 6], 6);
    check_matmul(&[2, 1, 4, 5], &[3, 5, 6], 7);
    check_matmul(&[4, 5], &[2, 3, 5, 6], 8);
    check_matmul(&[3, 1, 5], &[3, 5, 7], 9);
    check_matmul(&[1, 1, 4, 5], &[1, 5, 7], 10);
}

#[test]
fn matmul_big_enough_to_split() {
    // Row blocks, then column blocks (a single row), across 2 threads.
    check_matmul(&[64, 200], &[200, 130], 11);
    check_matmul(&[1, 1024], &[1024, 1000], 12);
    check_matmul(&[4, 33, 64], &[4, 64, 70], 13);
}

#[test]
fn matmul_shape_errors() {
    let (a, b) = (tensor(&[3, 4], 1), tensor(&[5, 6], 2));
    let k = MatMulKernel::new(&ty(&[3, 4]), &ty(&[5, 6]), None, None).unwrap();
    let e = try_run(&k, &[&a, &b], &[3, 6], 1).unwrap_err();
    assert!(e.contains("[3, 4]") && e.contains("[5, 6]"), "{e}");
    let b = tensor(&[4, 6], 2);
    let e = try_run(&k, &[&a, &b], &[3, 7], 1).unwrap_err();
    assert!(e.contains("[3, 6]"), "{e}");
}

/// Check `gemm` with the given flags and `c` shape; `b` and `c` constant
/// or not.
fn check_gemm(
    m: usize,
    k: usize,
    n: usize,
    flags: (bool, bool),
    c: Option<&[usize]>,
    ab: (f32, f32),
) {
    let (ta, tb) = flags;
    let sa = if ta { [k, m] } else { [m, k] };
    let sb = if tb { [n, k] } else { [k, n] };
    let seed = (m * 7 + k * 3 + n) as u64;
    let (a, b) = (tensor(&sa, seed), tensor(&sb, seed + 1));
    let ct = c.map(|s| tensor(s, seed + 2));
    let op = Op::Gemm {
        alpha: ab.0,
        beta: ab.1,
        trans_a: ta,
        trans_b: tb,
    };
    let mut ins: Vec<&Tensor> = vec![&a, &b];
    ins.extend(ct.as_ref());
    let want = oracle(&op, &ins);
    let r = tensor(want.shape(), seed + 3);
    let want_ep = relu_add(&want, &r);
    let mut ins_ep = ins.clone();
    ins_ep.push(&r);
    let cty = c.map(ty);
    for konst in [false, true] {
        let (bc, cc) = if konst {
            (Some(&b), ct.as_ref())
        } else {
            (None, None)
        };
        let kern = GemmKernel::new(&op, &ty(&sa), &ty(&sb), cty.as_ref(), bc, cc, None).unwrap();
        let ep = Epilogue::new(Arc::new(ReluAdd), vec![ins.len()]);
        let ke = GemmKernel::new(&op, &ty(&sa), &ty(&sb), cty.as_ref(), bc, cc, Some(ep)).unwrap();
        for threads in [1, 2] {
            let what = format!(
                "gemm {m}x{k}x{n} {flags:?} c {c:?} {ab:?} const {konst} threads {threads}"
            );
            assert_close(&run(&kern, &ins, want.shape(), threads), &want, TOL, &what);
            let got = run(&ke, &ins_ep, want.shape(), threads);
            assert_close(&got, &want_ep, TOL, &format!("{what} + epilogue"));
        }
    }
}

#[test]
fn gemm_flags_and_bias() {
    for flags in [(false, false), (true, false), (false, true), (true, true)] {
        for c in [
            None,
            Some(&[17][..]),
            Some(&[3, 1][..]),
            Some(&[3, 17][..]),
            Some(&[][..]),
        ] {
            check_gemm(3, 31, 17, flags, c, (1.0, 1.0));
        }
    }
    check_gemm(1, 5, 1, (false, false), Some(&[1, 1]), (0.5, -2.0));
    check_gemm(130, 70, 90, (false, true), Some(&[90]), (1.5, 0.25));
}

#[test]
fn gemm_beta_zero_ignores_nan_c() {
    let op = Op::Gemm {
        alpha: 1.0,
        beta: 0.0,
        trans_a: false,
        trans_b: false,
    };
    let (a, b) = (tensor(&[2, 3], 1), tensor(&[3, 4], 2));
    let c = Tensor::from_vec(&[4], vec![f32::NAN; 4]).unwrap();
    let want = oracle(&op, &[&a, &b, &c]);
    let k = GemmKernel::new(
        &op,
        &ty(&[2, 3]),
        &ty(&[3, 4]),
        Some(&ty(&[4])),
        None,
        None,
        None,
    )
    .unwrap();
    assert_close(&run(&k, &[&a, &b, &c], &[2, 4], 1), &want, TOL, "beta 0");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn matmul_matches_interpreter(
        batch_a in prop::collection::vec(1usize..4, 0..3),
        b_batch_ones in any::<bool>(),
        m in 1usize..40, k in 1usize..40, n in 1usize..40,
        seed in 0u64..1000,
    ) {
        let mut sa = batch_a.clone();
        sa.extend([m, k]);
        // b's batch: the same as a's, or all ones (broadcast).
        let mut sb: Vec<usize> = if b_batch_ones { vec![1; batch_a.len()] } else { batch_a };
        sb.extend([k, n]);
        check_matmul(&sa, &sb, seed);
    }

    #[test]
    fn gemm_matches_interpreter(
        m in 1usize..40, k in 1usize..40, n in 1usize..40,
        ta in any::<bool>(), tb in any::<bool>(), c in 0usize..4,
        alpha in -2.0f32..2.0, beta in -2.0f32..2.0,
    ) {
        let cs: [&[usize]; 3] = [&[n], &[m, 1], &[m, n]];
        check_gemm(m, k, n, (ta, tb), cs.get(c).copied(), (alpha, beta));
    }
}
