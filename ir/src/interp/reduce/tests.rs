//! Unit tests for the reduce ops' semantics: edge cases (empty tensors and
//! empty reductions, negative and empty axes, keepdims, NaN, integer wrapping,
//! exact i64 comparisons) and numerical stability.

use super::eval;
use crate::op::Op;
use crate::tensor::Tensor;
use half::f16;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

fn run1(op: &Op, inputs: &[&Tensor]) -> Tensor {
    let mut r = eval(op, inputs).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    assert_eq!(r.len(), 1);
    r.remove(0)
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-6 + 1e-5 * y.abs()
        })
}

macro_rules! red {
    ($v:ident, $axes:expr, $keep:expr) => {
        Op::$v {
            axes: $axes.to_vec(),
            keepdims: $keep,
        }
    };
}

#[test]
fn reduce_sum_axes_and_keepdims() {
    let x = f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let r = run1(&red!(ReduceSum, [1], true), &[&x]);
    assert_eq!((r.shape(), r.to_f64s()), (&[2, 1][..], vec![6., 15.]));
    let r = run1(&red!(ReduceSum, [-2], false), &[&x]);
    assert_eq!((r.shape(), r.to_f64s()), (&[3][..], vec![5., 7., 9.]));
    // Empty axes reduce every axis.
    let r = run1(&red!(ReduceProd, [], false), &[&x]);
    assert_eq!((r.shape(), r.to_f64s()), (&[][..], vec![720.]));
    let r = run1(&red!(ReduceMean, [], true), &[&x]);
    assert_eq!((r.shape(), r.to_f64s()), (&[1, 1][..], vec![3.5]));
    let r = run1(&red!(ReduceL2, [0], false), &[&x]);
    assert!(same(
        &r.to_f64s(),
        &[17f64.sqrt(), 29f64.sqrt(), 45f64.sqrt()]
    ));
    let r = run1(&red!(ReduceLogSum, [1], false), &[&x]);
    assert!(same(&r.to_f64s(), &[6f64.ln(), 15f64.ln()]));
    let e = eval(&red!(ReduceSum, [1, -1], true), &[&x]).unwrap_err();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn empty_reductions_give_identities() {
    let x = Tensor::zeros(crate::DType::F32, &[2, 0]).unwrap();
    let inf = f64::INFINITY;
    let cases = [
        (red!(ReduceSum, [1], false), 0.0),
        (red!(ReduceProd, [1], false), 1.0),
        (red!(ReduceMax, [1], false), -inf),
        (red!(ReduceMin, [1], false), inf),
        (red!(ReduceMean, [1], false), f64::NAN),
        (red!(ReduceL1, [1], false), 0.0),
        (red!(ReduceL2, [1], false), 0.0),
        (red!(ReduceSumSquare, [1], false), 0.0),
        (red!(ReduceLogSum, [1], false), -inf),
        (red!(ReduceLogSumExp, [1], false), -inf),
    ];
    for (op, want) in cases {
        let r = run1(&op, &[&x]);
        assert_eq!(r.shape(), &[2]);
        assert!(same(&r.to_f64s(), &[want, want]), "{}: {:?}", op.name(), r);
    }
    // Reducing a non-empty axis of an empty tensor gives an empty result.
    let r = run1(
        &red!(ReduceSum, [1], true),
        &[&Tensor::zeros(crate::DType::F32, &[0, 3]).unwrap()],
    );
    assert_eq!(r.shape(), &[0, 1]);
    // Integer identities are the type's bounds.
    let i = Tensor::zeros(crate::DType::I32, &[0]).unwrap();
    assert_eq!(
        run1(&red!(ReduceMax, [], false), &[&i]).to_i64s(),
        vec![i32::MIN as i64]
    );
    assert_eq!(
        run1(&red!(ReduceMin, [], false), &[&i]).to_i64s(),
        vec![i32::MAX as i64]
    );
    assert_eq!(run1(&red!(ReduceMean, [], false), &[&i]).to_i64s(), vec![0]);
    let u = Tensor::zeros(crate::DType::U8, &[0]).unwrap();
    assert_eq!(run1(&red!(ReduceMax, [0], false), &[&u]).to_i64s(), vec![0]);
    assert_eq!(
        run1(&red!(ReduceMin, [0], false), &[&u]).to_i64s(),
        vec![255]
    );
}

#[test]
fn max_and_min_propagate_nan() {
    let x = f32s(&[2, 3], &[1., f32::NAN, 3., -1., -5., -0.5]);
    let r = run1(&red!(ReduceMax, [1], false), &[&x]).to_f64s();
    assert!(r[0].is_nan() && r[1] == -0.5, "{r:?}");
    let r = run1(&red!(ReduceMin, [1], false), &[&x]).to_f64s();
    assert!(r[0].is_nan() && r[1] == -5.0, "{r:?}");
    // NaN first, then a larger number, still NaN.
    let y = f32s(&[2], &[f32::NAN, 7.0]);
    assert!(run1(&red!(ReduceMax, [], false), &[&y]).to_f64s()[0].is_nan());
}

#[test]
fn integers_wrap_and_truncate() {
    let x = Tensor::from_vec(&[2], vec![100i8, 100]).unwrap();
    assert_eq!(
        run1(&red!(ReduceSum, [], false), &[&x]).to_i64s(),
        vec![-56]
    );
    assert_eq!(
        run1(&red!(ReduceProd, [], false), &[&x]).to_i64s(),
        vec![16]
    ); // 10000 mod 256
    assert_eq!(
        run1(&red!(ReduceMean, [], false), &[&x]).to_i64s(),
        vec![100]
    );
    let m = Tensor::from_vec(&[2, 2], vec![-7i32, 2, 7, 2]).unwrap();
    // Means -2.5 and 4.5 truncate toward zero.
    assert_eq!(
        run1(&red!(ReduceMean, [1], false), &[&m]).to_i64s(),
        vec![-2, 4]
    );
    assert_eq!(
        run1(&red!(ReduceL1, [1], false), &[&m]).to_i64s(),
        vec![9, 9]
    );
    let l2 = Tensor::from_vec(&[2, 2], vec![3i64, 4, 1, 1]).unwrap();
    assert_eq!(
        run1(&red!(ReduceL2, [1], false), &[&l2]).to_i64s(),
        vec![5, 1]
    );
    assert_eq!(
        run1(&red!(ReduceSumSquare, [1], true), &[&l2]).to_i64s(),
        vec![25, 2]
    );
    // i64 extremes compare exactly (they would tie through f64).
    let big = Tensor::from_vec(&[2], vec![i64::MAX - 1, i64::MAX]).unwrap();
    assert_eq!(
        run1(&red!(ReduceMax, [], false), &[&big]).to_i64s(),
        vec![i64::MAX]
    );
    assert_eq!(
        run1(&red!(ReduceMin, [], false), &[&big]).to_i64s(),
        vec![i64::MAX - 1]
    );
    let b = Tensor::from_bools(&[3], &[false, true, false]).unwrap();
    assert_eq!(
        run1(&red!(ReduceMax, [], false), &[&b]).to_bools(),
        vec![true]
    );
    assert_eq!(
        run1(&red!(ReduceMin, [], false), &[&b]).to_bools(),
        vec![false]
    );
    assert!(eval(&red!(ReduceLogSum, [], false), &[&m]).is_err());
}

#[test]
fn floats_accumulate_in_f64() {
    // In f16, 2048 + 1 rounds back to 2048; the f64 sum is exact.
    let x = Tensor::from_vec(&[3], vec![f16::from_f32(2048.), f16::ONE, f16::ONE]).unwrap();
    assert_eq!(
        run1(&red!(ReduceSum, [], false), &[&x]).to_f64s(),
        vec![2050.]
    );
}

#[test]
fn log_sum_exp_is_stable_and_exact_at_infinities() {
    let inf = f32::INFINITY;
    let x = f32s(
        &[5, 2],
        &[1000., 1000., -1000., 0., inf, 1., -inf, -inf, f32::NAN, 1.],
    );
    let r = run1(&red!(ReduceLogSumExp, [1], false), &[&x]).to_f64s();
    let want = [
        1000. + 2f64.ln(),
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    assert!(same(&r, &want), "{r:?}");
}

#[test]
fn arg_max_and_min() {
    let x = f32s(&[2, 4], &[1., 3., 3., 2., f32::NAN, 0., f32::NAN, -1.]);
    let am = |axis, keepdims, last| Op::ArgMax {
        axis,
        keepdims,
        select_last_index: last,
    };
    let r = run1(&am(1, false, false), &[&x]);
    assert_eq!((r.shape(), r.to_i64s()), (&[2][..], vec![1, 0]));
    let r = run1(&am(-1, true, true), &[&x]);
    assert_eq!((r.shape(), r.to_i64s()), (&[2, 1][..], vec![2, 2]));
    let r = run1(&am(0, false, false), &[&x]);
    assert_eq!(r.to_i64s(), vec![1, 0, 1, 0]);
    let amin = Op::ArgMin {
        axis: 1,
        keepdims: false,
        select_last_index: false,
    };
    assert_eq!(run1(&amin, &[&x]).to_i64s(), vec![0, 0]);
    // Ties between -0 and +0 go to the first.
    let z = f32s(&[2], &[-0.0, 0.0]);
    assert_eq!(
        run1(&amin, &[&z.reshaped(&[1, 2]).unwrap()]).to_i64s(),
        vec![0]
    );
    let big = Tensor::from_vec(&[1, 2], vec![i64::MAX - 1, i64::MAX]).unwrap();
    assert_eq!(run1(&am(1, false, false), &[&big]).to_i64s(), vec![1]);
    let e = eval(
        &am(1, false, false),
        &[&Tensor::zeros(crate::DType::F32, &[2, 0]).unwrap()],
    );
    assert!(e.unwrap_err().contains("empty"));
    let r = run1(
        &am(1, false, false),
        &[&Tensor::zeros(crate::DType::F32, &[0, 3]).unwrap()],
    );
    assert_eq!(r.shape(), &[0]);
}

#[test]
fn softmax_is_stable() {
    let x = f32s(&[2], &[1000., 1001.]);
    let r = run1(&Op::Softmax { axis: 0 }, &[&x]).to_f64s();
    assert!(same(&r, &[0.2689414213699951, 0.7310585786300049]), "{r:?}");
    let r = run1(&Op::LogSoftmax { axis: -1 }, &[&x]).to_f64s();
    assert!(
        same(&r, &[-1.3132616875182228, -0.3132616875182228]),
        "{r:?}"
    );
    let y = f32s(&[2, 2], &[0., 1., 2., 3.]);
    let r = run1(&Op::Softmax { axis: 0 }, &[&y]).to_f64s();
    let (a, b) = (1. / (1. + 2f64.exp()), 2f64.exp() / (1. + 2f64.exp()));
    assert!(same(&r, &[a, a, b, b]), "{r:?}");
    let n = f32s(&[2], &[f32::NEG_INFINITY, f32::NEG_INFINITY]);
    assert!(run1(&Op::Softmax { axis: 0 }, &[&n])
        .to_f64s()
        .iter()
        .all(|v| v.is_nan()));
    let e = Tensor::zeros(crate::DType::F32, &[0, 3]).unwrap();
    assert_eq!(run1(&Op::Softmax { axis: 1 }, &[&e]).shape(), &[0, 3]);
}

#[test]
fn hardmax_marks_first_max() {
    let x = f32s(&[2, 3], &[1., 3., 3., f32::NAN, 0., 5.]);
    let r = run1(&Op::Hardmax { axis: 1 }, &[&x]);
    assert_eq!(r.to_f64s(), vec![0., 1., 0., 1., 0., 0.]);
    let r = run1(&Op::Hardmax { axis: 0 }, &[&x]);
    assert_eq!(r.to_f64s(), vec![0., 1., 0., 1., 0., 1.]);
}

#[test]
fn cum_sum_modes() {
    let x = f32s(&[3], &[1., 2., 3.]);
    let ax = Tensor::scalar(0i64);
    let cs = |exclusive, reverse| Op::CumSum { exclusive, reverse };
    let cases = [
        (false, false, [1., 3., 6.]),
        (true, false, [0., 1., 3.]),
        (false, true, [6., 5., 3.]),
        (true, true, [5., 3., 0.]),
    ];
    for (ex, rev, want) in cases {
        assert_eq!(run1(&cs(ex, rev), &[&x, &ax]).to_f64s(), want, "{ex} {rev}");
    }
    // A one-element i32 axis operand, a negative axis, integer wrapping.
    let m = Tensor::from_vec(&[2, 2], vec![100i8, 1, 100, 2]).unwrap();
    let a = Tensor::from_vec(&[1], vec![-2i32]).unwrap();
    assert_eq!(
        run1(&cs(false, false), &[&m, &a]).to_i64s(),
        vec![100, 1, -56, 3]
    );
    let a1 = Tensor::scalar(1i32);
    assert_eq!(
        run1(&cs(true, false), &[&m, &a1]).to_i64s(),
        vec![0, 100, 0, 100]
    );
    assert!(eval(&cs(false, false), &[&m, &Tensor::scalar(2i64)]).is_err());
}

#[test]
fn top_k_orders_and_ties() {
    let x = f32s(&[5], &[1., 3., 3., 2., f32::NAN]);
    let k = Tensor::from_vec(&[1], vec![3i64]).unwrap();
    let tk = |axis, largest| Op::TopK {
        axis,
        largest,
        sorted: true,
    };
    let r = eval(&tk(0, true), &[&x, &k]).unwrap();
    let v = r[0].to_f64s();
    assert!(v[0].is_nan() && v[1..] == [3., 3.], "{v:?}");
    assert_eq!(r[1].to_i64s(), vec![4, 1, 2]);
    let r = eval(&tk(-1, false), &[&x, &k]).unwrap();
    assert_eq!(
        (r[0].to_f64s(), r[1].to_i64s()),
        (vec![1., 2., 3.], vec![0, 3, 1])
    );
    // Along axis 0 of a matrix; -0.0 is copied bit for bit.
    let m = f32s(&[3, 2], &[1., -0.0, 5., -1., 3., 0.0]);
    let k2 = Tensor::from_vec(&[1], vec![2i64]).unwrap();
    let r = eval(&tk(0, true), &[&m, &k2]).unwrap();
    assert_eq!(r[0].shape(), &[2, 2]);
    assert_eq!(r[1].to_i64s(), vec![1, 0, 2, 2]);
    assert!(r[0].as_slice::<f32>().unwrap()[1].is_sign_negative());
    let k0 = Tensor::from_vec(&[1], vec![0i64]).unwrap();
    assert_eq!(eval(&tk(0, true), &[&m, &k0]).unwrap()[1].shape(), &[0, 2]);
    let k9 = Tensor::from_vec(&[1], vec![9i64]).unwrap();
    assert!(eval(&tk(0, true), &[&m, &k9])
        .unwrap_err()
        .contains("exceeds"));
    let i = Tensor::from_vec(&[3], vec![i64::MAX - 1, i64::MAX, 0]).unwrap();
    let k1 = Tensor::from_vec(&[1], vec![1i64]).unwrap();
    assert_eq!(
        eval(&tk(0, true), &[&i, &k1]).unwrap()[1].to_i64s(),
        vec![1]
    );
}
