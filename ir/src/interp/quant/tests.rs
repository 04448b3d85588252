//! Tests of the quant ops, largely ONNX's own examples.

use super::eval;
use crate::attr::AutoPad;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::{Elem, Tensor};
use half::f16;

fn t<T: Elem>(shape: &[usize], v: &[T]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}

fn run(op: &Op, ins: &[&Tensor]) -> Vec<Tensor> {
    eval(op, ins).unwrap()
}

fn q(axis: i64, block_size: i64) -> Op {
    Op::QuantizeLinear {
        axis,
        block_size,
        saturate: true,
    }
}

fn dq(axis: i64, block_size: i64) -> Op {
    Op::DequantizeLinear { axis, block_size }
}

#[test]
fn quantize_rounds_half_to_even_and_saturates() {
    // ONNX's quantizelinear example.
    let x = t(&[6], &[0.0f32, 2.0, 3.0, 1000.0, -254.0, -1000.0]);
    let s = Tensor::scalar(2.0f32);
    let z = Tensor::scalar(128u8);
    let r = run(&q(1, 0), &[&x, &s, &z]).remove(0);
    assert_eq!(r.dtype(), DType::U8);
    assert_eq!(r.to_i64s(), vec![128, 129, 130, 255, 1, 0]);
    // Ties to even; NaN → 0; no zero point → u8.
    let x = t(&[5], &[0.5f32, 1.5, 2.5, -0.5, f32::NAN]);
    let one = Tensor::scalar(1.0f32);
    let r = run(&q(1, 0), &[&x, &one]).remove(0);
    assert_eq!(r.to_i64s(), vec![0, 2, 2, 0, 0]);
    let zi = Tensor::scalar(-3i8);
    let r = run(&q(1, 0), &[&x, &one, &zi]).remove(0);
    assert_eq!(r.to_i64s(), vec![-3, -1, -1, -3, 0]);
    let z16 = Tensor::scalar(0i16);
    let big = t(&[2], &[40000.0f32, -40000.0]);
    let r = run(&q(0, 0), &[&big, &one, &z16]).remove(0);
    assert_eq!(r.to_i64s(), vec![32767, -32768]);
}

#[test]
fn quantize_per_axis_and_blocked() {
    // ONNX's quantizelinear_axis example (per channel on axis 1).
    let x = t(
        &[1, 3, 3, 2],
        &[
            -162.0f32, 10.0, -100.0, 232.0, -20.0, -50.0, -76.0, 0.0, 0.0, 252.0, 32.0, -44.0,
            245.0, -485.0, -960.0, -270.0, -375.0, -470.0,
        ],
    );
    let s = t(&[3], &[2.0f32, 4.0, 5.0]);
    let z = t(&[3], &[84u8, 24, 196]);
    let r = run(&q(1, 0), &[&x, &s, &z]).remove(0);
    assert_eq!(
        r.to_i64s(),
        vec![3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102]
    );
    // Blocked along axis 1 with blocks of 2: columns {0,1} and {2}.
    let x = t(&[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s = t(&[2, 2], &[1.0f32, 0.5, 2.0, 0.25]);
    let r = run(&q(1, 2), &[&x, &s]).remove(0);
    assert_eq!(r.to_i64s(), vec![1, 2, 6, 2, 2, 24]);
    let e = eval(&q(1, 2), &[&x, &t(&[2, 3], &[1.0f32; 6])]).unwrap_err();
    assert!(e.contains("blocked scale"), "{e}");
}

#[test]
fn dequantize_layouts_and_dtypes() {
    // ONNX's dequantizelinear example.
    let x = t(&[4], &[0u8, 3, 128, 255]);
    let s = Tensor::scalar(2.0f32);
    let z = Tensor::scalar(128u8);
    let r = run(&dq(1, 0), &[&x, &s, &z]).remove(0);
    assert_eq!(r.to_f64s(), vec![-256.0, -250.0, 0.0, 254.0]);
    // Per axis, f16 scale, i8 without zero point.
    let x = t(&[2, 2], &[-128i8, 1, 127, -1]);
    let s = t(&[2], &[f16::from_f32(0.5), f16::from_f32(0.1)]);
    let r = run(&dq(0, 0), &[&x, &s]).remove(0);
    assert_eq!(r.dtype(), DType::F16);
    assert_eq!(
        r.as_slice::<f16>().unwrap(),
        &[
            f16::from_f32(-64.0),
            f16::from_f32(0.5),
            f16::from_f64(127.0 * f16::from_f32(0.1).to_f64()),
            -f16::from_f32(0.1)
        ]
    );
    let xi = t(&[2], &[i32::MAX, i32::MIN]);
    let one = Tensor::scalar(1.0f64);
    let r = run(&dq(0, 0), &[&xi, &one]).remove(0);
    assert_eq!(r.to_f64s(), vec![i32::MAX as f64, i32::MIN as f64]);
}

#[test]
fn dynamic_quantize_matches_onnx_examples() {
    let cases: [(&[f32], f32, u8, &[u8]); 3] = [
        (
            &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5],
            5.0 / 255.0,
            153,
            &[153, 255, 0, 26, 221, 179],
        ),
        (
            &[-1.0, -2.1, -1.3, -2.5, -3.34, -4.0],
            4.0 / 255.0,
            255,
            &[191, 121, 172, 96, 42, 0],
        ),
        (
            &[
                1.0, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345,
            ],
            4.0 / 255.0,
            0,
            &[64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149],
        ),
    ];
    for (x, scale, zp, y) in cases {
        let r = run(&Op::DynamicQuantizeLinear, &[&t(&[x.len()], x)]);
        assert_eq!(r[0].as_slice::<u8>().unwrap(), y);
        assert_eq!(r[1].as_slice::<f32>().unwrap(), &[scale]);
        assert_eq!(r[2].as_slice::<u8>().unwrap(), &[zp]);
        assert_eq!((r[1].rank(), r[2].rank()), (0, 0));
    }
    let zeros = Tensor::zeros(DType::F32, &[0, 2]).unwrap();
    let r = run(&Op::DynamicQuantizeLinear, &[&zeros]);
    assert_eq!(r[0].shape(), &[0, 2]);
    assert_eq!(r[1].to_f64s(), vec![f64::from(1.0f32 / 255.0)]);
}

#[test]
fn matmul_integer_onnx_example_and_zero_point_layouts() {
    let a = t(&[4, 3], &[11u8, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]);
    let b = t(&[3, 2], &[1u8, 4, 2, 5, 3, 6]);
    let azp = Tensor::scalar(12u8);
    let bzp = Tensor::scalar(0u8);
    let r = run(&Op::MatMulInteger, &[&a, &b, &azp, &bzp]).remove(0);
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(r.shape(), &[4, 2]);
    assert_eq!(r.to_i64s(), vec![-38, -83, -44, -98, -50, -113, -56, -128]);
    // Per row of a and per column of b, and 1-D a against batched b.
    let a = t(&[2, 2], &[1i8, 2, 3, 4]);
    let b = t(&[2, 2], &[5i8, 6, 7, 8]);
    let azp = t(&[2], &[1i8, 2]);
    let bzp = t(&[2], &[1i8, 3]);
    let r = run(&Op::MatMulInteger, &[&a, &b, &azp, &bzp]).remove(0);
    // a - azp = [[0,1],[1,2]]; b - bzp = [[4,3],[6,5]].
    assert_eq!(r.to_i64s(), vec![6, 5, 16, 13]);
    let nd = t(&[2, 1], &[1i8, 2]);
    let r2 = run(&Op::MatMulInteger, &[&a, &b, &nd, &bzp]).remove(0);
    assert_eq!(r2, r);
    let v = t(&[2], &[2u8, 3]);
    let bb = t(&[3, 2, 1], &[1u8, 1, 2, 2, 0, 10]);
    let r = run(&Op::MatMulInteger, &[&v, &bb]).remove(0);
    assert_eq!((r.shape(), r.to_i64s()), (&[3, 1][..], vec![5, 10, 30]));
}

#[test]
fn qlinear_matmul_onnx_example() {
    let a = t(&[2, 4], &[208u8, 236, 0, 238, 3, 214, 255, 29]);
    let b = t(
        &[4, 3],
        &[152u8, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247],
    );
    let (sa, za) = (Tensor::scalar(0.0066f32), Tensor::scalar(113u8));
    let (sb, zb) = (Tensor::scalar(0.00705f32), Tensor::scalar(114u8));
    let (sy, zy) = (Tensor::scalar(0.0107f32), Tensor::scalar(118u8));
    let r = run(&Op::QLinearMatMul, &[&a, &sa, &za, &b, &sb, &zb, &sy, &zy]).remove(0);
    assert_eq!(r.dtype(), DType::U8);
    assert_eq!(r.to_i64s(), vec![168, 115, 255, 1, 66, 151]);
    // Per-column b scale: column 1's multiplier doubles.
    let sb2 = t(&[3], &[0.00705f32, 0.0141, 0.00705]);
    let zb2 = t(&[3], &[114u8, 114, 114]);
    let r = run(
        &Op::QLinearMatMul,
        &[&a, &sa, &za, &b, &sb2, &zb2, &sy, &zy],
    )
    .remove(0);
    assert_eq!(r.to_i64s(), vec![168, 111, 255, 1, 15, 151]);
}

fn conv_attrs() -> (Vec<i64>, Vec<i64>, Vec<i64>, i64, AutoPad) {
    (vec![], vec![], vec![], 1, AutoPad::NotSet)
}

#[test]
#[ignore = "needs conv from the contraction group"]
fn conv_integer_onnx_example() {
    let (strides, pads, dilations, group, auto_pad) = conv_attrs();
    let op = Op::ConvInteger {
        strides,
        pads,
        dilations,
        group,
        auto_pad,
    };
    let x = t(&[1, 1, 3, 3], &[2u8, 3, 4, 5, 6, 7, 8, 9, 10]);
    let w = t(&[1, 1, 2, 2], &[1u8, 1, 1, 1]);
    let xzp = Tensor::scalar(1u8);
    let r = run(&op, &[&x, &w, &xzp]).remove(0);
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(r.shape(), &[1, 1, 2, 2]);
    assert_eq!(r.to_i64s(), vec![12, 16, 24, 28]);
}

#[test]
#[ignore = "needs conv from the contraction group"]
fn qlinear_conv_small_case() {
    let (strides, pads, dilations, group, auto_pad) = conv_attrs();
    let op = Op::QLinearConv {
        strides,
        pads,
        dilations,
        group,
        auto_pad,
    };
    // x - 10 = [[1,2],[3,4]]; two 1x1 filters: w - wzp = 1 and -2, per-channel.
    let x = t(&[1, 1, 2, 2], &[11u8, 12, 13, 14]);
    let w = t(&[2, 1, 1, 1], &[3i8, 0]);
    let (sx, zx) = (Tensor::scalar(0.5f32), Tensor::scalar(10u8));
    let sw = t(&[2], &[1.0f32, 0.25]);
    let zw = t(&[2], &[2i8, 2]);
    let (sy, zy) = (Tensor::scalar(0.25f32), Tensor::scalar(-1i8));
    let bias = t(&[2], &[1i32, -8]);
    // Channel 0: (v + 1) · 0.5·1/0.25 - 1 = 2v + 1 → 3, 5, 7, 9.
    // Channel 1: (-2v - 8) · 0.5·0.25/0.25 - 1 = -v - 5 → -6, -7, -8, -9.
    let r = run(&op, &[&x, &sx, &zx, &w, &sw, &zw, &sy, &zy, &bias]).remove(0);
    assert_eq!(r.dtype(), DType::I8);
    assert_eq!(r.to_i64s(), vec![3, 5, 7, 9, -6, -7, -8, -9]);
}

#[test]
fn bad_operands_are_errors() {
    let x = t(&[2], &[1.0f32, 2.0]);
    let s = Tensor::scalar(1.0f32);
    let z = Tensor::scalar(1i32);
    assert!(eval(&q(0, 0), &[&x, &s, &z])
        .unwrap_err()
        .contains("zero point"));
    assert!(eval(&q(0, 0), &[&x]).is_err());
    let u = t(&[2], &[1u8, 2]);
    assert!(eval(&Op::DynamicQuantizeLinear, &[&u]).is_err());
    assert!(eval(&Op::MatMulInteger, &[&u, &t(&[3], &[1u8, 2, 3])])
        .unwrap_err()
        .contains("inner dims"));
}

#[test]
fn qlinear_global_average_pool_rounds_ties_to_even_and_saturates() {
    let gap = |channels_last| Op::QLinearGlobalAveragePool { channels_last };
    // M = 0.5 / (0.25 · 4) = 0.5: sums 3 and 5 land on ties (1.5 → 2,
    // 2.5 → 2); the third plane saturates.
    let x = t(
        &[1, 3, 2, 2],
        &[1u8, 2, 3, 5, 2, 3, 4, 4, 250, 251, 252, 253],
    );
    let (sx, zx) = (Tensor::scalar(0.5f32), Tensor::scalar(2u8));
    let (sy, zy) = (Tensor::scalar(0.25f32), Tensor::scalar(10u8));
    let r = run(&gap(false), &[&x, &sx, &zx, &sy, &zy]).remove(0);
    assert_eq!(r.shape(), [1, 3, 1, 1]);
    assert_eq!(r.to_i64s(), vec![12, 12, 255]);
    // The same planes channels-last ([1, 2, 2, 3]), into i8.
    let xl = t(
        &[1, 2, 2, 3],
        &[1u8, 2, 250, 2, 3, 251, 3, 4, 252, 5, 4, 253],
    );
    let zy = Tensor::scalar(-120i8);
    let r = run(&gap(true), &[&xl, &sx, &zx, &sy, &zy]).remove(0);
    assert_eq!(r.dtype(), DType::I8);
    assert_eq!(r.shape(), [1, 1, 1, 3]);
    assert_eq!(r.to_i64s(), vec![-118, -118, 127]);
    // An empty plane: the NaN mean saturates to 0, as q(NaN) does.
    let e = Tensor::zeros(DType::U8, &[2, 2, 0]).unwrap();
    let r = run(&gap(false), &[&e, &sx, &zx, &sy, &Tensor::scalar(10u8)]).remove(0);
    assert_eq!(r.to_i64s(), vec![0; 4]);
    // Bad operands are errors.
    let x2 = t(&[2, 2], &[1u8, 2, 3, 4]);
    assert!(eval(&gap(false), &[&x2, &sx, &zx, &sy, &zy])
        .unwrap_err()
        .contains("rank 3"));
    assert!(eval(&gap(false), &[&x, &sx, &zx, &sy]).is_err());
}
