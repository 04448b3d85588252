//! Pool kernels against the interpreter.
//!
//! Tolerance: `|a-b| <= 1e-5 * max(1, |b|)` — max is exact, averages are
//! f32 sums of at most a few thousand values in [-1, 1) and one division.
//! Every case runs with 1 and 2 threads.

mod contract_common;
mod quant_common;

use contract_common::*;
use ingot_ir::attr::AutoPad;
use ingot_ir::{Op, Tensor};
use ingot_runtime::kernels::pool::PoolKernel;
use proptest::prelude::*;

const TOL: f64 = 1e-5;

fn check(op: &Op, x: &Tensor) {
    let want = oracle(op, &[x]);
    let k = PoolKernel::new(op, &ty(x.shape()), false).unwrap();
    for threads in [1, 2] {
        let what = format!("{op:?} on {:?} threads {threads}", x.shape());
        assert_close(&run(&k, &[x], want.shape(), threads), &want, TOL, &what);
    }
}

#[allow(clippy::too_many_arguments)]
fn window(
    max: bool,
    k: &[i64],
    s: &[i64],
    p: &[i64],
    d: &[i64],
    ceil: bool,
    auto_pad: AutoPad,
    cip: bool,
) -> Op {
    if max {
        Op::MaxPool {
            kernel_shape: k.to_vec(),
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: d.to_vec(),
            ceil_mode: ceil,
            auto_pad,
            storage_order: 0,
        }
    } else {
        Op::AveragePool {
            kernel_shape: k.to_vec(),
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: d.to_vec(),
            ceil_mode: ceil,
            auto_pad,
            count_include_pad: cip,
        }
    }
}

#[test]
fn pools_2d() {
    let x = tensor(&[2, 3, 17, 13], 1);
    for max in [true, false] {
        for ceil in [false, true] {
            for cip in [false, true] {
                let op = window(
                    max,
                    &[3, 3],
                    &[2, 2],
                    &[1, 1, 1, 1],
                    &[],
                    ceil,
                    AutoPad::NotSet,
                    cip,
                );
                check(&op, &x);
                let op = window(
                    max,
                    &[2, 3],
                    &[2, 1],
                    &[0, 1, 1, 2],
                    &[],
                    ceil,
                    AutoPad::NotSet,
                    cip,
                );
                check(&op, &x);
            }
        }
        for ap in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
            check(
                &window(max, &[3, 2], &[2, 3], &[], &[], false, ap, false),
                &x,
            );
        }
        check(
            &window(
                max,
                &[3, 3],
                &[1, 2],
                &[2, 2, 2, 2],
                &[2, 2],
                true,
                AutoPad::NotSet,
                true,
            ),
            &x,
        );
    }
}

#[test]
fn pools_1d_3d_and_big() {
    let x = tensor(&[2, 3, 31], 2);
    check(
        &window(true, &[4], &[3], &[1, 2], &[], true, AutoPad::NotSet, false),
        &x,
    );
    check(
        &window(false, &[4], &[3], &[1, 2], &[], true, AutoPad::NotSet, true),
        &x,
    );
    let x = tensor(&[1, 2, 5, 6, 7], 3);
    check(
        &window(
            true,
            &[2, 3, 2],
            &[1, 2, 2],
            &[],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
    check(
        &window(
            false,
            &[3, 3, 3],
            &[2, 2, 2],
            &[1, 1, 1, 1, 1, 1],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
    let x = tensor(&[1, 64, 112, 112], 4);
    check(
        &window(
            true,
            &[3, 3],
            &[2, 2],
            &[1, 1, 1, 1],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
}

#[test]
fn max_pool_nan_wins_and_empty_windows() {
    let mut v = values(2 * 9, 5);
    v[4] = f32::NAN;
    let x = Tensor::from_vec(&[1, 2, 3, 3], v).unwrap();
    check(
        &window(
            true,
            &[2, 2],
            &[1, 1],
            &[],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
    check(&Op::GlobalMaxPool, &x);
    // Windows entirely in the padding: -inf for max, NaN for average.
    let x = tensor(&[1, 1, 2, 2], 6);
    check(
        &window(
            true,
            &[1, 1],
            &[3, 3],
            &[3, 3, 3, 3],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
    check(
        &window(
            false,
            &[1, 1],
            &[3, 3],
            &[3, 3, 3, 3],
            &[],
            false,
            AutoPad::NotSet,
            false,
        ),
        &x,
    );
}

#[test]
fn wide_rows_strides_one_and_two_with_nans() {
    // Rows longer than a 16-lane vector, so the vector paths run full
    // vectors, masked tails and the stride-2 gather across vectors.
    for (w, s) in [(67, 1), (67, 2), (112, 2), (33, 2), (16, 1), (17, 2)] {
        let mut v = values(3 * 9 * w, w as u64);
        for i in (5..v.len()).step_by(97) {
            v[i] = f32::NAN;
        }
        let x = Tensor::from_vec(&[1, 3, 9, w], v).unwrap();
        for max in [true, false] {
            let op = window(
                max,
                &[3, 3],
                &[s, s],
                &[1, 1, 1, 1],
                &[],
                false,
                AutoPad::NotSet,
                false,
            );
            check(&op, &x);
        }
    }
}

/// Max pools of u8/i8 (quantized) tensors, bit-identical to the
/// interpreter, at 1 and 2 threads.
#[test]
fn integer_max_pools() {
    use ingot_ir::DType;
    for dt in [DType::U8, DType::I8] {
        let shape = [2, 3, 13, 40];
        let n: usize = shape.iter().product();
        let vals: Vec<i64> = values(n, 9)
            .iter()
            .map(|v| {
                let b = ((v + 1.0) * 127.9) as i64;
                if dt == DType::I8 {
                    b - 128
                } else {
                    b
                }
            })
            .collect();
        let x = Tensor::from_i64s(dt, &shape, &vals).unwrap();
        for op in [
            window(
                true,
                &[3, 3],
                &[2, 2],
                &[1, 1, 1, 1],
                &[],
                false,
                AutoPad::NotSet,
                false,
            ),
            window(
                true,
                &[2, 2],
                &[1, 1],
                &[],
                &[],
                false,
                AutoPad::NotSet,
                false,
            ),
        ] {
            let want = oracle(&op, &[&x]);
            let k = PoolKernel::new(&op, &x.ty(), false).unwrap();
            for threads in [1, 2] {
                let y = quant_common::run(&k, &[&x], &want, threads).unwrap();
                assert_eq!(y.to_i64s(), want.to_i64s(), "{op:?} {dt} threads {threads}");
            }
        }
    }
    // Average and global pools stay f32-only (as in ONNX).
    let op = window(false, &[2, 2], &[], &[], &[], false, AutoPad::NotSet, false);
    let x = Tensor::from_i64s(DType::U8, &[1, 1, 4, 4], &[1; 16]).unwrap();
    assert!(PoolKernel::new(&op, &x.ty(), false).is_err());
    assert!(PoolKernel::new(&Op::GlobalMaxPool, &x.ty(), false).is_err());
}

#[test]
fn global_pools() {
    for s in [
        &[2, 3, 7, 7][..],
        &[1, 5, 1],
        &[2, 3, 17, 31],
        &[1, 2, 3, 4, 5],
    ] {
        let x = tensor(s, 7);
        check(&Op::GlobalAveragePool, &x);
        check(&Op::GlobalMaxPool, &x);
    }
}

#[test]
fn max_pool_indices_unsupported() {
    let op = window(true, &[2, 2], &[], &[], &[], false, AutoPad::NotSet, false);
    let e = PoolKernel::new(&op, &ty(&[1, 1, 4, 4]), true)
        .err()
        .unwrap();
    assert!(e.0.contains("indices"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn pool_matches_interpreter(
        max in any::<bool>(), ceil in any::<bool>(), cip in any::<bool>(),
        (kh, kw) in (1i64..4, 1i64..4), (s, d) in (1i64..3, 1i64..3), p in 0i64..2,
        (h, w) in (1usize..12, 1usize..12), seed in 0u64..1000,
    ) {
        let pads = [p, 0, p, p];
        // Padding must be smaller than the kernel (ONNX) for the interpreter.
        prop_assume!(pads.iter().all(|&q| q < kh.min(kw)));
        let dil = if max { vec![d, 1] } else { vec![] };
        let op = window(max, &[kh, kw], &[s, s], &pads, &dil, ceil, AutoPad::NotSet, cip);
        let x = tensor(&[1, 2, h, w], seed);
        prop_assume!(ingot_ir::interp::eval_op(&op, &[&x]).is_ok());
        check(&op, &x);
    }
}
