//! Pool semantics tests. Expected values were worked by hand; the average
//! pool cases also agree with the ONNX reference implementation (onnx 1.23).

use super::eval;
use crate::attr::AutoPad;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

fn t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

fn seq(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    t(shape, &(1..=n).map(|i| i as f32).collect::<Vec<_>>())
}

struct P {
    k: Vec<i64>,
    s: Vec<i64>,
    pads: Vec<i64>,
    dil: Vec<i64>,
    ceil: bool,
    auto_pad: AutoPad,
}

fn p(k: &[i64], s: &[i64], pads: &[i64]) -> P {
    P {
        k: k.to_vec(),
        s: s.to_vec(),
        pads: pads.to_vec(),
        dil: vec![],
        ceil: false,
        auto_pad: AutoPad::NotSet,
    }
}

fn max_pool(a: &P, storage_order: i64) -> Op {
    Op::MaxPool {
        kernel_shape: a.k.clone(),
        strides: a.s.clone(),
        pads: a.pads.clone(),
        dilations: a.dil.clone(),
        ceil_mode: a.ceil,
        auto_pad: a.auto_pad,
        storage_order,
    }
}

fn avg_pool(a: &P, count_include_pad: bool) -> Op {
    Op::AveragePool {
        kernel_shape: a.k.clone(),
        strides: a.s.clone(),
        pads: a.pads.clone(),
        dilations: a.dil.clone(),
        ceil_mode: a.ceil,
        auto_pad: a.auto_pad,
        count_include_pad,
    }
}

fn vals(op: &Op, x: &Tensor) -> Vec<f64> {
    eval(op, &[x]).unwrap()[0].to_f64s()
}

#[test]
fn max_pool_values_and_indices_in_both_orders() {
    let x = t(&[1, 1, 3, 3], &[1., 5., 2., 7., 3., 9., 4., 8., 6.]);
    let r = eval(&max_pool(&p(&[2, 2], &[1, 1], &[]), 0), &[&x]).unwrap();
    assert_eq!(r[0].to_f64s(), vec![7., 9., 8., 9.]);
    assert_eq!(r[1].dtype(), DType::I64);
    assert_eq!(r[1].to_i64s(), vec![3, 5, 7, 5]);
    // Column major: (h, w) -> h + w*H.
    let r = eval(&max_pool(&p(&[2, 2], &[1, 1], &[]), 1), &[&x]).unwrap();
    assert_eq!(r[1].to_i64s(), vec![1, 7, 5, 7]);
    // Indices count the batch and channel planes.
    let x2 = seq(&[2, 2, 2]);
    let r = eval(&max_pool(&p(&[2], &[], &[]), 0), &[&x2]).unwrap();
    assert_eq!(r[0].to_f64s(), vec![2., 4., 6., 8.]);
    assert_eq!(r[1].to_i64s(), vec![1, 3, 5, 7]);
}

#[test]
fn max_pool_nan_ties_padding_and_integers() {
    let x = t(&[1, 1, 4], &[1., f32::NAN, 3., 3.]);
    let r = eval(&max_pool(&p(&[2], &[2], &[]), 0), &[&x]).unwrap();
    let v = r[0].to_f64s();
    assert!(v[0].is_nan() && v[1] == 3.0);
    assert_eq!(r[1].to_i64s(), vec![1, 2], "NaN wins; ties keep the first");
    // Padding never wins, even against negative values.
    let x = t(&[1, 1, 2], &[-5., -7.]);
    assert_eq!(
        vals(&max_pool(&p(&[2], &[1], &[1, 1]), 0), &x),
        vec![-5., -5., -7.]
    );
    let x = Tensor::from_slice(&[1, 1, 3], &[-3i8, 100, -128]).unwrap();
    let r = eval(&max_pool(&p(&[2], &[1], &[]), 0), &[&x]).unwrap();
    assert_eq!(r[0].dtype(), DType::I8);
    assert_eq!(r[0].to_i64s(), vec![100, 100]);
    let xi = Tensor::from_slice(&[1, 1, 1], &[1i32]).unwrap();
    assert!(eval(&max_pool(&p(&[1], &[], &[]), 0), &[&xi]).is_err());
}

#[test]
fn ceil_mode_keeps_partial_last_window() {
    let x = seq(&[1, 1, 5]);
    let mut a = p(&[2], &[2], &[]);
    assert_eq!(vals(&max_pool(&a, 0), &x), vec![2., 4.]);
    a.ceil = true;
    assert_eq!(vals(&max_pool(&a, 0), &x), vec![2., 4., 5.]);
    // The partial window averages only what it covers.
    assert_eq!(vals(&avg_pool(&a, true), &x), vec![1.5, 3.5, 5.]);
}

#[test]
fn count_include_pad_counts_pads_but_not_the_ceil_overhang() {
    // in 6, k 3, s 2, pads (1, 1), ceil: windows start at -1, 1, 3, 5; the
    // last covers 5 (inside), 6 (end pad), 7 (past the pad).
    let x = seq(&[1, 1, 6]);
    let mut a = p(&[3], &[2], &[1, 1]);
    a.ceil = true;
    assert_eq!(vals(&avg_pool(&a, true), &x), vec![1., 3., 5., 3.]);
    assert_eq!(vals(&avg_pool(&a, false), &x), vec![1.5, 3., 5., 6.]);
}

#[test]
fn auto_pad_same_pads_for_average() {
    let x = seq(&[1, 1, 4]);
    let mut a = p(&[2], &[], &[]);
    a.auto_pad = AutoPad::SameUpper;
    assert_eq!(vals(&avg_pool(&a, true), &x), vec![1.5, 2.5, 3.5, 2.]);
    assert_eq!(vals(&avg_pool(&a, false), &x), vec![1.5, 2.5, 3.5, 4.]);
    a.auto_pad = AutoPad::SameLower;
    assert_eq!(vals(&avg_pool(&a, true), &x), vec![0.5, 1.5, 2.5, 3.5]);
    a.auto_pad = AutoPad::Valid;
    a.s = vec![2];
    assert_eq!(vals(&avg_pool(&a, true), &x), vec![1.5, 3.5]);
}

#[test]
fn dilated_two_d_pool() {
    // 4x4, kernel 2x2 dilated by 2: taps (i, j), (i, j+2), (i+2, j), (i+2, j+2).
    let x = seq(&[1, 1, 4, 4]);
    let mut a = p(&[2, 2], &[], &[]);
    a.dil = vec![2, 2];
    let r = eval(&max_pool(&a, 0), &[&x]).unwrap();
    assert_eq!(r[0].to_f64s(), vec![11., 12., 15., 16.]);
    assert_eq!(r[1].to_i64s(), vec![10, 11, 14, 15]);
    assert_eq!(vals(&avg_pool(&a, false), &x), vec![6., 7., 10., 11.]);
}

#[test]
fn lp_pool_is_a_p_norm() {
    let x = t(&[1, 1, 4], &[3., -4., 1., 2.]);
    let lp = |pv| Op::LpPool {
        kernel_shape: vec![2],
        strides: vec![2],
        pads: vec![],
        dilations: vec![],
        ceil_mode: false,
        auto_pad: AutoPad::NotSet,
        p: pv,
    };
    assert_eq!(vals(&lp(2), &x), vec![5., f64::from(5f32.sqrt())]);
    assert_eq!(vals(&lp(1), &x), vec![7., 3.]);
    assert!(eval(&lp(0), &[&x]).unwrap_err().contains("p = 0"));
}

#[test]
fn empty_batch_and_window_errors() {
    let x = Tensor::zeros(DType::F32, &[0, 3, 4, 4]).unwrap();
    let r = eval(&max_pool(&p(&[2, 2], &[2, 2], &[]), 0), &[&x]).unwrap();
    assert_eq!(r[0].shape(), &[0, 3, 2, 2]);
    assert_eq!(r[1].shape(), &[0, 3, 2, 2]);
    let x = seq(&[1, 1, 2, 2]);
    let e = eval(&avg_pool(&p(&[3, 3], &[], &[]), false), &[&x]).unwrap_err();
    assert!(
        e.contains("[1,1,2,2]") && e.contains("window spans 3"),
        "{e}"
    );
}

#[test]
fn global_pools() {
    let x = seq(&[1, 2, 2, 2]);
    let r = eval(&Op::GlobalAveragePool, &[&x]).unwrap();
    assert_eq!(
        (r[0].shape(), r[0].to_f64s()),
        (&[1, 2, 1, 1][..], vec![2.5, 6.5])
    );
    assert_eq!(vals(&Op::GlobalMaxPool, &x), vec![4., 8.]);
    let r = vals(&Op::GlobalLpPool { p: 2 }, &x);
    let f = |v: f64| f64::from(v.sqrt() as f32);
    assert_eq!(r, vec![f(30.), f(174.)]);
    let h = Tensor::from_f64s(DType::F16, &[1, 1, 3], &[1., 2., 4.]).unwrap();
    let r = eval(&Op::GlobalAveragePool, &[&h]).unwrap();
    assert_eq!(r[0].dtype(), DType::F16);
    // 7/3 rounds once to the nearest f16.
    assert_eq!(
        r[0].to_f64s(),
        vec![half::f16::from_f64(7.0 / 3.0).to_f64()]
    );
    let e = Tensor::zeros(DType::F32, &[1, 1, 0]).unwrap();
    assert!(vals(&Op::GlobalAveragePool, &e)[0].is_nan());
    assert_eq!(vals(&Op::GlobalMaxPool, &e), vec![f64::NEG_INFINITY]);
}
