//! Tests of the quant ops' result types.

use super::*;

fn t(dtype: DType, dims: &[Dim]) -> TensorType {
    TensorType::new(dtype, dims.iter().cloned())
}

fn f(dtype: DType, dims: &[usize]) -> TensorType {
    TensorType::fixed(dtype, dims)
}

fn run(op: &Op, tys: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
    let ins: Vec<InferInput> = tys.iter().map(InferInput::of_type).collect();
    infer(op, &ins)
}

fn err(op: &Op, tys: &[TensorType]) -> String {
    run(op, tys).unwrap_err().to_string()
}

fn q(axis: i64, block_size: i64) -> Op {
    Op::QuantizeLinear {
        axis,
        block_size,
        saturate: true,
    }
}

#[test]
fn quantize_result_dtype_is_the_zero_points() {
    let x = t(DType::F32, &[Dim::var("n"), 4.into()]);
    let s = TensorType::scalar(DType::F32);
    let r = run(&q(1, 0), &[x.clone(), s.clone()]).unwrap();
    assert_eq!(r[0], x.with_dtype(DType::U8));
    let z = TensorType::scalar(DType::I8);
    let r = run(&q(1, 0), &[x.clone(), s.clone(), z]).unwrap();
    assert_eq!(r[0].dtype, DType::I8);
    let z16 = TensorType::scalar(DType::I16);
    assert_eq!(
        run(&q(1, 0), &[x.clone(), s.clone(), z16]).unwrap()[0].dtype,
        DType::I16
    );
    let z32 = TensorType::scalar(DType::I32);
    assert!(err(&q(1, 0), &[x.clone(), s.clone(), z32]).contains("zero point"));
    let xi = f(DType::I64, &[2]);
    assert!(err(&q(0, 0), &[xi, s]).contains("x is i64"));
}

#[test]
fn quantize_scale_layouts() {
    let x = f(DType::F32, &[2, 6]);
    let per_axis = f(DType::F32, &[6]);
    let zp = f(DType::U8, &[6]);
    assert!(run(&q(1, 0), &[x.clone(), per_axis.clone(), zp.clone()]).is_ok());
    assert!(run(&q(-1, 0), &[x.clone(), per_axis.clone()]).is_ok());
    let e = err(&q(0, 0), &[x.clone(), per_axis.clone()]);
    assert!(e.contains("does not match axis 0"), "{e}");
    let e = err(&q(2, 0), &[x.clone(), per_axis.clone()]);
    assert!(e.contains("out of range"), "{e}");
    let zp_bad = f(DType::U8, &[3]);
    assert!(err(&q(1, 0), &[x.clone(), per_axis, zp_bad]).contains("differs from scale"));
    // Blocked: ceil(6 / 4) = 2 along axis 1.
    let blocked = f(DType::F32, &[2, 2]);
    assert!(run(&q(1, 4), &[x.clone(), blocked.clone()]).is_ok());
    assert!(run(&q(1, 3), &[x.clone(), blocked.clone()]).is_ok());
    let e = err(&q(1, 2), &[x.clone(), blocked.clone()]);
    assert!(
        e.contains("shape [2,3]") && e.contains("block_size 2"),
        "{e}"
    );
    assert!(err(&q(1, -1), &[x.clone(), blocked]).contains("negative"));
    let two_d = f(DType::F32, &[2, 6]);
    assert!(err(&q(1, 0), &[x, two_d]).contains("per-axis"));
}

#[test]
fn dequantize_and_dynamic() {
    let dq = Op::DequantizeLinear {
        axis: 1,
        block_size: 0,
    };
    let x = f(DType::I8, &[3, 2]);
    let s = f(DType::F16, &[2]);
    let z = f(DType::I8, &[2]);
    assert_eq!(
        run(&dq, &[x.clone(), s.clone(), z]).unwrap()[0],
        x.with_dtype(DType::F16)
    );
    let zu = f(DType::U8, &[2]);
    assert!(err(&dq, &[x.clone(), s.clone(), zu]).contains("must be i8"));
    assert!(err(&dq, &[s.clone(), s]).contains("x is f16"));
    let x = t(DType::F32, &[Dim::var("b"), 3.into()]);
    let r = run(&Op::DynamicQuantizeLinear, std::slice::from_ref(&x)).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0], x.with_dtype(DType::U8));
    assert_eq!(r[1], TensorType::scalar(DType::F32));
    assert_eq!(r[2], TensorType::scalar(DType::U8));
    assert!(run(&Op::DynamicQuantizeLinear, &[f(DType::F16, &[2])]).is_err());
}

#[test]
fn matmul_integer_shapes_and_zero_points() {
    let a = t(DType::U8, &[Dim::var("b"), 3.into(), 4.into()]);
    let b = f(DType::I8, &[4, 5]);
    let r = run(&Op::MatMulInteger, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(r[0], t(DType::I32, &[Dim::var("b"), 3.into(), 5.into()]));
    let v = f(DType::U8, &[4]);
    assert_eq!(
        run(&Op::MatMulInteger, &[v.clone(), b.clone()]).unwrap()[0],
        f(DType::I32, &[5])
    );
    let e = err(&Op::MatMulInteger, &[b.clone(), b.clone()]);
    assert!(e.contains("inner dims differ: 5 and 4"), "{e}");
    let azp = f(DType::U8, &[3]);
    let bzp = f(DType::I8, &[5]);
    assert!(run(
        &Op::MatMulInteger,
        &[a.clone(), b.clone(), azp.clone(), bzp.clone()]
    )
    .is_ok());
    let nd = f(DType::U8, &[1, 3, 1]);
    assert!(run(&Op::MatMulInteger, &[a.clone(), b.clone(), nd]).is_ok());
    let e = err(&Op::MatMulInteger, &[a.clone(), b.clone(), bzp.clone()]);
    assert!(e.contains("a's zero point"), "{e}");
    let wrong_len = f(DType::I8, &[4]);
    let e = err(&Op::MatMulInteger, &[a.clone(), b.clone(), azp, wrong_len]);
    assert!(e.contains("per column"), "{e}");
    assert!(err(&Op::MatMulInteger, &[f(DType::I32, &[2, 2]), b]).contains("i8 or u8"));
}

#[test]
fn qlinear_matmul_types() {
    let a = f(DType::I8, &[2, 3]);
    let b = f(DType::I8, &[3, 4]);
    let s = TensorType::scalar(DType::F32);
    let zi = TensorType::scalar(DType::I8);
    let zu = TensorType::scalar(DType::U8);
    let per_col = f(DType::F32, &[4]);
    let zcol = f(DType::I8, &[4]);
    let ok = [
        a.clone(),
        s.clone(),
        zi.clone(),
        b.clone(),
        per_col,
        zcol,
        s.clone(),
        zu.clone(),
    ];
    assert_eq!(
        run(&Op::QLinearMatMul, &ok).unwrap()[0],
        f(DType::U8, &[2, 4])
    );
    let mut bad = ok.clone();
    bad[6] = f(DType::F32, &[2]);
    assert!(err(&Op::QLinearMatMul, &bad).contains("y's scale"));
    let mut bad = ok.clone();
    bad[1] = f(DType::F32, &[3]);
    assert!(err(&Op::QLinearMatMul, &bad).contains("per row"));
    assert!(run(&Op::QLinearMatMul, &ok[..7]).is_err());
}

fn conv_attrs(pads: Vec<i64>, auto_pad: AutoPad) -> (Vec<i64>, Vec<i64>, Vec<i64>, i64, AutoPad) {
    (vec![2, 1], pads, vec![1, 2], 1, auto_pad)
}

#[test]
fn conv_integer_shapes() {
    let (strides, pads, dilations, group, auto_pad) = conv_attrs(vec![1, 0, 1, 0], AutoPad::NotSet);
    let op = Op::ConvInteger {
        strides,
        pads,
        dilations,
        group,
        auto_pad,
    };
    let x = t(DType::U8, &[Dim::var("n"), 2.into(), 7.into(), 9.into()]);
    let w = f(DType::U8, &[4, 2, 3, 3]);
    // h: floor((7 + 1 + 1 - 3) / 2) + 1 = 4; w: floor((9 - 5) / 1) + 1 = 5.
    let r = run(&op, &[x.clone(), w.clone()]).unwrap();
    assert_eq!(
        r[0],
        t(DType::I32, &[Dim::var("n"), 4.into(), 4.into(), 5.into()])
    );
    let wzp = f(DType::U8, &[4]);
    let xzp = TensorType::scalar(DType::U8);
    assert!(run(&op, &[x.clone(), w.clone(), xzp.clone(), wzp]).is_ok());
    let e = err(&op, &[x.clone(), w.clone(), xzp, f(DType::U8, &[3])]);
    assert!(e.contains("per output channel"), "{e}");
    let w3 = f(DType::U8, &[4, 3, 3, 3]);
    assert!(err(&op, &[x.clone(), w3]).contains("channels"));
    // Symbolic spatial dims give symbolic results; `same_upper` is ceil(in / stride).
    let xs = t(DType::U8, &[1.into(), 2.into(), Dim::var("h"), 9.into()]);
    let r = run(&op, &[xs.clone(), w.clone()]).unwrap();
    // floor((h + 2 - 3) / 2) + 1
    let h = |v: i64| r[0].shape[2].eval(&|_| Some(v));
    assert_eq!((h(7), h(8), h(1)), (Some(4), Some(4), Some(1)));
    let (strides, pads, dilations, group, auto_pad) = conv_attrs(vec![], AutoPad::SameUpper);
    let same = Op::ConvInteger {
        strides,
        pads,
        dilations,
        group,
        auto_pad,
    };
    let r = run(&same, &[xs, w.clone()]).unwrap();
    assert_eq!(r[0].shape[2].to_string(), "ceil(h/2)");
    assert_eq!(r[0].shape[3], Dim::Known(9));
    let tiny = f(DType::U8, &[1, 2, 1, 1]);
    assert!(err(&op, &[tiny, w]).contains("does not fit"));
}

#[test]
fn qlinear_conv_types() {
    let op = Op::QLinearConv {
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        group: 1,
        auto_pad: AutoPad::NotSet,
    };
    let x = f(DType::U8, &[1, 1, 3, 3]);
    let w = f(DType::I8, &[2, 1, 2, 2]);
    let s = TensorType::scalar(DType::F32);
    let ins = vec![
        x,
        s.clone(),
        TensorType::scalar(DType::U8),
        w,
        f(DType::F32, &[2]),
        f(DType::I8, &[2]),
        s,
        TensorType::scalar(DType::I8),
        f(DType::I32, &[2]),
    ];
    assert_eq!(run(&op, &ins).unwrap()[0], f(DType::I8, &[1, 2, 2, 2]));
    assert!(run(&op, &ins[..8]).is_ok());
    let mut bad = ins.clone();
    bad[8] = f(DType::I64, &[2]);
    assert!(err(&op, &bad).contains("bias"));
    let mut bad = ins.clone();
    bad[2] = TensorType::scalar(DType::I8);
    assert!(err(&op, &bad).contains("x's zero point"));
}

#[test]
fn qlinear_global_average_pool_types() {
    let gap = |channels_last| Op::QLinearGlobalAveragePool { channels_last };
    let x = t(DType::U8, &[Dim::var("n"), 8.into(), 7.into(), 5.into()]);
    let s = TensorType::scalar(DType::F32);
    let zu = TensorType::scalar(DType::U8);
    let ok = vec![x, s.clone(), zu.clone(), s.clone(), zu.clone()];
    assert_eq!(
        run(&gap(false), &ok).unwrap()[0],
        t(DType::U8, &[Dim::var("n"), 8.into(), 1.into(), 1.into()])
    );
    // Channels last keeps the last axis; y's zero point picks the dtype.
    let mut ins = ok.clone();
    ins[4] = f(DType::I8, &[1]);
    assert_eq!(
        run(&gap(true), &ins).unwrap()[0],
        t(DType::I8, &[Dim::var("n"), 1.into(), 1.into(), 5.into()])
    );
    let mut bad = ok.clone();
    bad[0] = f(DType::U8, &[2, 3]);
    assert!(err(&gap(false), &bad).contains("rank 3"));
    bad[0] = f(DType::I32, &[2, 3, 4]);
    assert!(err(&gap(false), &bad).contains("x is"));
    let mut bad = ok.clone();
    bad[2] = TensorType::scalar(DType::I8);
    assert!(err(&gap(false), &bad).contains("x's zero point"));
    let mut bad = ok.clone();
    bad[3] = f(DType::F32, &[2]);
    assert!(err(&gap(false), &bad).contains("y's scale"));
    let mut bad = ok.clone();
    bad[1] = TensorType::scalar(DType::I32);
    assert!(err(&gap(false), &bad).contains("x's scale"));
    let mut bad = ok.clone();
    bad[4] = TensorType::scalar(DType::I16);
    assert!(err(&gap(false), &bad).contains("y's zero point"));
    assert!(run(&gap(false), &ok[..4]).is_err());
}
