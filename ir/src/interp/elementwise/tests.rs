//! Tests of the binary, variadic and ternary elementwise ops (unary ones are
//! tested in `unary.rs`).

use super::eval;
use crate::attr::ShiftDirection;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::{Elem, Tensor};
use half::f16;

fn t<T: Elem>(shape: &[usize], v: &[T]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

fn run(op: &Op, ins: &[&Tensor]) -> Tensor {
    eval(op, ins).unwrap().remove(0)
}

fn err(op: &Op, ins: &[&Tensor]) -> String {
    eval(op, ins).unwrap_err()
}

#[test]
fn broadcasting_size_one_and_scalars() {
    let a = t(&[2, 1], &[1.0f32, 2.0]);
    let b = t(&[3], &[10.0f32, 20.0, 30.0]);
    let r = run(&Op::Add, &[&a, &b]);
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(r.to_f64s(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    let s = Tensor::scalar(2i64);
    let v = t(&[3], &[1i64, 2, 3]);
    assert_eq!(run(&Op::Sub, &[&s, &v]).to_i64s(), vec![1, 0, -1]);
    assert_eq!(run(&Op::Sub, &[&v, &s]).shape(), &[3]);
    let r = run(&Op::Mul, &[&s, &s]);
    assert_eq!((r.shape(), r.to_i64s()), (&[][..], vec![4]));
    let e = err(&Op::Add, &[&b, &t(&[4], &[0.0f32; 4])]);
    assert!(e.contains("do not broadcast"), "{e}");
}

#[test]
fn empty_tensors_broadcast_to_empty() {
    let e = Tensor::zeros(DType::F32, &[0, 3]).unwrap();
    let row = t(&[1, 3], &[1.0f32, 2.0, 3.0]);
    let r = run(&Op::Add, &[&e, &row]);
    assert_eq!((r.shape(), r.numel()), (&[0, 3][..], 0));
    let c = Tensor::zeros(DType::Bool, &[0, 1]).unwrap();
    let r = run(&Op::Where, &[&c, &row, &row]);
    assert_eq!(r.shape(), &[0, 3]);
    // Huge dims beside a zero: an error (no tensor can have that shape),
    // not an overflow panic or an allocation.
    let a = Tensor::zeros(DType::U8, &[1 << 40, 1, 0]).unwrap();
    let b = Tensor::zeros(DType::U8, &[1, 1 << 40, 0]).unwrap();
    assert!(err(&Op::Add, &[&a, &b]).contains("too large"));
}

#[test]
fn integer_arithmetic_wraps() {
    let a = t(&[3], &[100i8, -128, 127]);
    let b = t(&[3], &[100i8, -1, 1]);
    assert_eq!(run(&Op::Add, &[&a, &b]).to_i64s(), vec![-56, 127, -128]);
    assert_eq!(run(&Op::Mul, &[&a, &b]).to_i64s(), vec![16, -128, 127]);
    assert_eq!(run(&Op::Div, &[&a, &b]).to_i64s(), vec![1, -128, 127]);
    let u = t(&[2], &[250u8, 3]);
    let v = t(&[2], &[10u8, 5]);
    assert_eq!(run(&Op::Add, &[&u, &v]).to_i64s(), vec![4, 8]);
    assert_eq!(run(&Op::Sub, &[&v, &u]).to_i64s(), vec![16, 2]);
    let m = t(&[1], &[i64::MAX]);
    assert_eq!(run(&Op::Add, &[&m, &m]).to_i64s(), vec![-2]);
    let p = t(&[2], &[3i32, -2]);
    let e = t(&[2], &[21i64, 31]);
    // 3^21 wraps in i32; (-2)^31 = i32::MIN exactly.
    assert_eq!(
        run(&Op::Pow, &[&p, &e]).to_i64s(),
        vec![3i32.wrapping_pow(21) as i64, i32::MIN as i64]
    );
}

#[test]
fn division_and_modulo_by_zero() {
    let a = t(&[4], &[7i32, -7, 7, -7]);
    let b = t(&[4], &[2i32, 2, 0, -2]);
    assert_eq!(run(&Op::Div, &[&a, &b]).to_i64s(), vec![3, -3, 0, 3]);
    let fm = Op::Mod { fmod: true };
    let pm = Op::Mod { fmod: false };
    assert_eq!(run(&fm, &[&a, &b]).to_i64s(), vec![1, -1, 0, -1]);
    assert_eq!(run(&pm, &[&a, &b]).to_i64s(), vec![1, 1, 0, -1]);
    let x = t(&[4], &[1.0f32, -1.0, 0.0, 5.5]);
    let z = t(&[4], &[0.0f32, 0.0, 0.0, -2.0]);
    let r = run(&Op::Div, &[&x, &z]).to_f64s();
    assert_eq!(r[..2], [f64::INFINITY, f64::NEG_INFINITY]);
    assert!(r[2].is_nan());
    assert_eq!(r[3], -2.75);
    let r = run(&fm, &[&x, &z]).to_f64s();
    assert!(r[0].is_nan());
    assert_eq!(r[3], 1.5);
    // fmod=0 on floats: Python's `%` (x % 0 is NaN, not 0 as for ints).
    let r = run(&pm, &[&x, &z]).to_f64s();
    assert!(r[0].is_nan() && r[2].is_nan());
    assert_eq!(r[3], -0.5);
}

#[test]
fn max_min_propagate_nan_and_are_variadic() {
    let a = t(&[3], &[1.0f32, f32::NAN, -0.0]);
    let b = t(&[3], &[f32::NAN, 2.0, 0.0]);
    let r = run(&Op::Max, &[&a, &b]).to_f64s();
    assert!(r[0].is_nan() && r[1].is_nan());
    let r = run(&Op::Min, &[&a, &b]).to_f64s();
    assert!(r[0].is_nan() && r[1].is_nan());
    let c = t(&[2, 1], &[5i16, -5]);
    let d = t(&[3], &[0i16, 10, -10]);
    let s = Tensor::scalar(3i16);
    let r = run(&Op::Max, &[&c, &d, &s]);
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(r.to_i64s(), vec![5, 10, 5, 3, 10, 3]);
    assert_eq!(run(&Op::Min, &[&d]).to_i64s(), vec![0, 10, -10]);
}

#[test]
fn comparisons_and_logic() {
    let a = t(&[4], &[1.0f64, f64::NAN, -0.0, 2.0]);
    let b = t(&[4], &[1.0f64, f64::NAN, 0.0, 1.0]);
    assert_eq!(
        run(&Op::Equal, &[&a, &b]).to_bools(),
        vec![true, false, true, false]
    );
    assert_eq!(
        run(&Op::GreaterOrEqual, &[&a, &b]).to_bools(),
        vec![true, false, true, true]
    );
    assert_eq!(
        run(&Op::Less, &[&a, &b]).to_bools(),
        vec![false, false, false, false]
    );
    let u = t(&[2], &[200u8, 3]);
    let v = t(&[2], &[3u8, 200]);
    assert_eq!(run(&Op::Greater, &[&u, &v]).to_bools(), vec![true, false]);
    let p = Tensor::from_bools(&[4], &[true, true, false, false]).unwrap();
    let q = Tensor::from_bools(&[4], &[true, false, true, false]).unwrap();
    assert_eq!(
        run(&Op::Xor, &[&p, &q]).to_bools(),
        vec![false, true, true, false]
    );
    assert_eq!(
        run(&Op::And, &[&p, &q]).to_bools(),
        vec![true, false, false, false]
    );
    let r = run(&Op::Equal, &[&p, &q]);
    assert_eq!(r.dtype(), DType::Bool);
    assert_eq!(r.to_bools(), vec![true, false, false, true]);
}

#[test]
fn bitwise_and_shifts() {
    let a = t(&[3], &[0b1100i32, -1, 5]);
    let b = t(&[3], &[0b1010i32, 7, 0]);
    assert_eq!(run(&Op::BitwiseAnd, &[&a, &b]).to_i64s(), vec![8, 7, 0]);
    assert_eq!(run(&Op::BitwiseOr, &[&a, &b]).to_i64s(), vec![14, -1, 5]);
    assert_eq!(run(&Op::BitwiseXor, &[&a, &b]).to_i64s(), vec![6, -8, 5]);
    let x = t(&[4], &[0b1000_0001u8, 16, 255, 1]);
    let s = t(&[4], &[1u8, 2, 8, 7]);
    let left = Op::BitShift {
        direction: ShiftDirection::Left,
    };
    let right = Op::BitShift {
        direction: ShiftDirection::Right,
    };
    assert_eq!(run(&left, &[&x, &s]).to_i64s(), vec![2, 64, 0, 128]);
    assert_eq!(run(&right, &[&x, &s]).to_i64s(), vec![64, 4, 0, 0]);
    // Signed: right shifts are arithmetic; out-of-range amounts (negative or
    // at least the width) shift everything out, leaving the sign fill.
    let x = t(&[5], &[-8i8, 64, -128, -1, 5]);
    let s = t(&[5], &[1i8, 1, 7, -1, 8]);
    assert_eq!(run(&right, &[&x, &s]).to_i64s(), vec![-4, 32, -1, -1, 0]);
    assert_eq!(run(&left, &[&x, &s]).to_i64s(), vec![-16, -128, 0, 0, 0]);
    let x = t(&[2], &[i64::MIN, 3]);
    let s = t(&[2], &[63i64, 64]);
    assert_eq!(run(&right, &[&x, &s]).to_i64s(), vec![-1, 0]);
    assert_eq!(run(&left, &[&x, &s]).to_i64s(), vec![0, 0]);
}

#[test]
fn pow_mixed_dtypes() {
    let x = t(&[3], &[2.0f32, -8.0, 4.0]);
    let e = t(&[3], &[3i64, 2, -1]);
    assert_eq!(run(&Op::Pow, &[&x, &e]).to_f64s(), vec![8.0, 64.0, 0.25]);
    let i = t(&[3], &[4i32, -8, 9]);
    let f = t(&[3], &[0.5f32, 0.5, 1.5]);
    let r = run(&Op::Pow, &[&i, &f]);
    assert_eq!(r.dtype(), DType::I32);
    // sqrt(-8) is NaN, which converts to 0 as Cast does.
    assert_eq!(r.to_i64s(), vec![2, 0, 27]);
}

#[test]
fn prelu_broadcasts_slope_onto_x() {
    let x = t(&[2, 2], &[-1.0f32, 2.0, -3.0, f32::NAN]);
    let s = t(&[2], &[0.5f32, 0.25]);
    let r = run(&Op::PRelu, &[&x, &s]).to_f64s();
    assert_eq!(r[..3], [-0.5, 2.0, -1.5]);
    assert!(r[3].is_nan());
    let i = t(&[2], &[-4i32, 4]);
    let si = t(&[1], &[3i32]);
    assert_eq!(run(&Op::PRelu, &[&i, &si]).to_i64s(), vec![-12, 4]);
    assert!(eval(&Op::PRelu, &[&s, &x]).is_err());
}

#[test]
fn where_selects_bit_patterns() {
    let c = Tensor::from_bools(&[2, 1], &[true, false]).unwrap();
    let nan = f32::from_bits(0x7fc0_1234);
    let x = t(&[2], &[nan, -0.0f32]);
    let y = Tensor::scalar(7.0f32);
    let r = run(&Op::Where, &[&c, &x, &y]);
    assert_eq!(r.shape(), &[2, 2]);
    let v = r.as_slice::<f32>().unwrap();
    assert_eq!(v[0].to_bits(), 0x7fc0_1234);
    assert_eq!(v[1].to_bits(), (-0.0f32).to_bits());
    assert_eq!(v[2..], [7.0, 7.0]);
    let bx = Tensor::from_bools(&[1], &[true]).unwrap();
    let by = Tensor::from_bools(&[1], &[false]).unwrap();
    assert_eq!(
        run(&Op::Where, &[&c, &bx, &by]).to_bools(),
        vec![true, false]
    );
}

#[test]
fn clip_bounds() {
    let x = t(&[5], &[-5.0f32, -0.5, 0.5, 5.0, f32::NAN]);
    let lo = Tensor::scalar(-1.0f32);
    let hi = t(&[1], &[1.0f32]);
    let empty = Tensor::zeros(DType::F32, &[0]).unwrap();
    let r = run(&Op::Clip, &[&x, &lo, &hi]).to_f64s();
    assert_eq!(r[..4], [-1.0, -0.5, 0.5, 1.0]);
    assert!(r[4].is_nan());
    let r = run(&Op::Clip, &[&x, &empty, &hi]).to_f64s();
    assert_eq!(r[..4], [-5.0, -0.5, 0.5, 1.0]);
    let r = run(&Op::Clip, &[&x, &lo]).to_f64s();
    assert_eq!(r[..4], [-1.0, -0.5, 0.5, 5.0]);
    // min > max: everything becomes max.
    let r = run(&Op::Clip, &[&x, &hi, &lo]).to_f64s();
    assert_eq!(r[..4], [-1.0; 4]);
    let i = t(&[3], &[-300i16, 0, 300]);
    let (l, h) = (Tensor::scalar(-10i16), Tensor::scalar(10i16));
    assert_eq!(run(&Op::Clip, &[&i, &l, &h]).to_i64s(), vec![-10, 0, 10]);
    assert_eq!(run(&Op::Clip, &[&i]).to_i64s(), vec![-300, 0, 300]);
}

#[test]
fn f16_arithmetic_rounds_once() {
    let h = |v: f32| f16::from_f32(v);
    let a = t(&[2], &[h(2048.0), h(1.0)]);
    let b = t(&[2], &[h(1.0), h(3.0)]);
    // 2048 + 1 is a tie in f16 (spacing 2): to even, 2048. 1/3 rounds to
    // the f16 nearest 0.33333...
    assert_eq!(run(&Op::Add, &[&a, &b]).to_f64s()[0], 2048.0);
    assert_eq!(
        run(&Op::Div, &[&a, &b]).as_slice::<f16>().unwrap()[1],
        f16::from_f64(1.0 / 3.0)
    );
    let c = t(&[1], &[h(65504.0)]);
    assert_eq!(run(&Op::Add, &[&c, &c]).to_f64s(), vec![f64::INFINITY]);
}

#[test]
fn negative_zero_survives() {
    let z = t(&[1], &[-0.0f32]);
    let r = run(&Op::Mul, &[&z, &t(&[1], &[1.0f32])]);
    assert!(r.as_slice::<f32>().unwrap()[0].is_sign_negative());
    let r = run(&Op::Neg, &[&t(&[1], &[0.0f32])]);
    assert!(r.as_slice::<f32>().unwrap()[0].is_sign_negative());
    let r = run(&Op::Sign, &[&z]);
    assert!(r.as_slice::<f32>().unwrap()[0].is_sign_negative());
}

#[test]
fn operand_errors_are_reported() {
    let f = t(&[1], &[1.0f32]);
    let i = t(&[1], &[1i32]);
    assert!(err(&Op::Add, &[&f, &i]).contains("f32 and i32"));
    assert!(err(&Op::Add, &[&f]).contains("2 operand"));
    assert!(err(&Op::Where, &[&f, &f, &f]).contains("bool"));
    let two = t(&[2], &[1.0f32, 2.0]);
    assert!(err(&Op::Clip, &[&f, &two]).contains("scalar"));
}
