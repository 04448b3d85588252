//! Unit tests for the movement ops' semantics. Expected values come from
//! numpy / `onnx.reference.ReferenceEvaluator` (resize: opset 19).

use super::eval;
use crate::attr::*;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

pub(super) fn f(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}
pub(super) fn iv(v: &[i64]) -> Tensor {
    Tensor::from_slice(&[v.len()], v).unwrap()
}
fn ar(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|i| i as f32).collect()).unwrap()
}
pub(super) fn run1(op: Op, x: &[&Tensor]) -> Tensor {
    let mut r = eval(&op, x).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    assert_eq!(r.len(), 1);
    r.pop().unwrap()
}
pub(super) fn err(op: Op, x: &[&Tensor]) -> String {
    eval(&op, x).expect_err("expected an error")
}
pub(super) fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64s()
}

#[test]
fn reshape_zero_minus_one_allowzero() {
    let x = ar(&[2, 3, 4]);
    let r = run1(Op::Reshape { allowzero: false }, &[&x, &iv(&[0, -1])]);
    assert_eq!(r.shape(), &[2, 12]);
    assert!(r.shares_storage(&x));
    let r = run1(Op::Reshape { allowzero: false }, &[&x, &iv(&[-1, 0, 2])]);
    assert_eq!(r.shape(), &[4, 3, 2]);
    // allowzero: a 0 is a real zero-size dim.
    let e = Tensor::zeros(DType::F32, &[0, 3]).unwrap();
    let r = run1(Op::Reshape { allowzero: true }, &[&e, &iv(&[3, 0])]);
    assert_eq!(r.shape(), &[3, 0]);
    assert!(err(Op::Reshape { allowzero: true }, &[&e, &iv(&[0, -1])]).contains("ambiguous"));
    assert!(err(Op::Reshape { allowzero: false }, &[&x, &iv(&[-1, -1])]).contains("more than one"));
    assert!(err(Op::Reshape { allowzero: false }, &[&x, &iv(&[5, -1])]).contains("-1"));
    assert!(err(Op::Reshape { allowzero: false }, &[&x, &iv(&[0, 0, 0, 0])]).contains("rank"));
    assert!(err(Op::Reshape { allowzero: false }, &[&x, &iv(&[7, 3])]).contains("24 elements"));
    let i32s = Tensor::from_slice(&[1], &[24i32]).unwrap();
    assert_eq!(
        run1(Op::Reshape { allowzero: false }, &[&x, &i32s]).shape(),
        &[24]
    );
}

#[test]
fn flatten_transpose_squeeze_unsqueeze() {
    let x = ar(&[2, 3, 4]);
    assert_eq!(run1(Op::Flatten { axis: 0 }, &[&x]).shape(), &[1, 24]);
    assert_eq!(run1(Op::Flatten { axis: 3 }, &[&x]).shape(), &[24, 1]);
    assert_eq!(run1(Op::Flatten { axis: -1 }, &[&x]).shape(), &[6, 4]);
    assert!(err(Op::Flatten { axis: 4 }, &[&x]).contains("out of range"));

    let t = run1(Op::Transpose { perm: vec![] }, &[&ar(&[2, 3])]);
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(vals(&t), [0., 3., 1., 4., 2., 5.]);
    let t = run1(
        Op::Transpose {
            perm: vec![1, 2, 0],
        },
        &[&x],
    );
    assert_eq!(t.shape(), &[3, 4, 2]);
    assert_eq!(vals(&t)[..4], [0., 12., 1., 13.]);
    assert!(err(
        Op::Transpose {
            perm: vec![0, 0, 1]
        },
        &[&x]
    )
    .contains("twice"));
    // Bool moves as bytes.
    let b = Tensor::from_bools(&[2, 2], &[true, false, false, true]).unwrap();
    let bt = run1(Op::Transpose { perm: vec![] }, &[&b]);
    assert_eq!(bt.to_bools(), [true, false, false, true]);

    let y = ar(&[1, 3, 1]);
    assert_eq!(run1(Op::Squeeze { axes: vec![] }, &[&y]).shape(), &[3]);
    assert_eq!(run1(Op::Squeeze { axes: vec![-1] }, &[&y]).shape(), &[1, 3]);
    assert!(err(Op::Squeeze { axes: vec![1] }, &[&y]).contains("not 1"));
    let u = run1(Op::Unsqueeze { axes: vec![-1, 0] }, &[&ar(&[3])]);
    assert_eq!(u.shape(), &[1, 3, 1]);
    assert_eq!(
        run1(Op::Unsqueeze { axes: vec![0] }, &[&Tensor::scalar(1i64)]).shape(),
        &[1]
    );
}

#[test]
fn expand_and_tile() {
    let x = f(&[3, 1], &[1., 2., 3.]);
    let e = run1(Op::Expand, &[&x, &iv(&[2, 1, 2])]);
    assert_eq!(e.shape(), &[2, 3, 2]);
    assert_eq!(vals(&e), [1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]);
    // Bidirectional: the shape's 1 keeps the input's 3.
    assert_eq!(run1(Op::Expand, &[&x, &iv(&[1, 1])]).shape(), &[3, 1]);
    assert_eq!(run1(Op::Expand, &[&x, &iv(&[3, 0])]).shape(), &[3, 0]);
    assert!(err(Op::Expand, &[&x, &iv(&[2, 2])]).contains("broadcast"));
    let t = run1(Op::Tile, &[&f(&[2], &[1., 2.]), &iv(&[3])]);
    assert_eq!(vals(&t), [1., 2., 1., 2., 1., 2.]);
    let t = run1(Op::Tile, &[&ar(&[1, 2]), &iv(&[2, 0])]);
    assert_eq!(t.shape(), &[2, 0]);
    assert!(err(Op::Tile, &[&x, &iv(&[1])]).contains("rank"));
}

#[test]
fn concat_and_split() {
    let a = ar(&[2, 1]);
    let b = f(&[2, 2], &[5., 6., 7., 8.]);
    let e = Tensor::zeros(DType::F32, &[2, 0]).unwrap();
    let c = run1(Op::Concat { axis: -1 }, &[&a, &e, &b]);
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(vals(&c), [0., 5., 6., 1., 7., 8.]);
    assert!(err(Op::Concat { axis: 0 }, &[&a, &b]).contains("operand 1"));
    let i = iv(&[1]);
    assert!(err(Op::Concat { axis: 0 }, &[&ar(&[1]), &i]).contains("i64"));

    let parts = eval(
        &Op::Split {
            axis: 1,
            splits: vec![1, 0, 2],
        },
        &[&c],
    )
    .unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(vals(&parts[0]), [0., 1.]);
    assert_eq!(parts[1].shape(), &[2, 0]);
    assert_eq!(vals(&parts[2]), [5., 6., 7., 8.]);
    let bad = Op::Split {
        axis: 1,
        splits: vec![1, 1],
    };
    assert!(eval(&bad, &[&c]).unwrap_err().contains("sum"));
}

#[test]
fn slice_clamping_and_negative_steps() {
    let x = ar(&[10]);
    let s = |st: i64, en: i64, step: i64| {
        let t = run1(
            Op::Slice,
            &[&x, &iv(&[st]), &iv(&[en]), &iv(&[0]), &iv(&[step])],
        );
        vals(&t)
    };
    assert_eq!(s(2, 5, 1), [2., 3., 4.]);
    assert_eq!(s(-3, i64::MAX, 1), [7., 8., 9.]);
    assert_eq!(
        s(i64::MAX, i64::MIN, -1),
        [9., 8., 7., 6., 5., 4., 3., 2., 1., 0.]
    );
    assert_eq!(s(-1, -4, -2), [9., 7.]);
    assert_eq!(s(8, 2, -3), [8., 5.]);
    assert_eq!(s(5, 2, 1), Vec::<f64>::new());
    assert_eq!(s(20, 30, 1), Vec::<f64>::new());
    assert_eq!(s(0, 10, 4), [0., 4., 8.]);
    // Default axes/steps, 2-D, negative axis.
    let m = ar(&[3, 4]);
    let t = run1(Op::Slice, &[&m, &iv(&[1, 1]), &iv(&[3, -1])]);
    assert_eq!(t.shape(), &[2, 2]);
    assert_eq!(vals(&t), [5., 6., 9., 10.]);
    let t = run1(
        Op::Slice,
        &[&m, &iv(&[-1]), &iv(&[i64::MIN]), &iv(&[-1]), &iv(&[-1])],
    );
    assert_eq!(vals(&t)[..4], [3., 2., 1., 0.]);
    assert!(err(Op::Slice, &[&x, &iv(&[0]), &iv(&[1]), &iv(&[0]), &iv(&[0])]).contains("0"));
    assert!(err(Op::Slice, &[&m, &iv(&[0, 0]), &iv(&[1, 1]), &iv(&[1, -1])]).contains("twice"));
    // Empty axis, negative step.
    let e = Tensor::zeros(DType::F32, &[0]).unwrap();
    let t = run1(
        Op::Slice,
        &[&e, &iv(&[-1]), &iv(&[i64::MIN]), &iv(&[0]), &iv(&[-1])],
    );
    assert_eq!(t.shape(), &[0]);
}

#[test]
fn pad_modes_match_numpy() {
    let x = f(&[3], &[1., 2., 3.]);
    let p = |mode: PadMode, b: i64, e: i64| vals(&run1(Op::Pad { mode }, &[&x, &iv(&[b, e])]));
    // np.pad([1,2,3], (5,5), mode=...)
    assert_eq!(
        p(PadMode::Reflect, 5, 5),
        [2., 1., 2., 3., 2., 1., 2., 3., 2., 1., 2., 3., 2.]
    );
    assert_eq!(
        p(PadMode::Wrap, 5, 5),
        [2., 3., 1., 2., 3., 1., 2., 3., 1., 2., 3., 1., 2.]
    );
    assert_eq!(p(PadMode::Edge, 2, 1), [1., 1., 1., 2., 3., 3.]);
    assert_eq!(p(PadMode::Constant, 1, 2), [0., 1., 2., 3., 0., 0.]);
    // Negative pads crop.
    assert_eq!(p(PadMode::Constant, -1, 1), [2., 3., 0.]);
    assert_eq!(p(PadMode::Reflect, -2, 2), [3., 2., 1.]);
    let cv = Tensor::scalar(9.5f32);
    let t = run1(
        Op::Pad {
            mode: PadMode::Constant,
        },
        &[&ar(&[1, 2]), &iv(&[1, 0, 0, 1]), &cv],
    );
    assert_eq!(t.shape(), &[2, 3]);
    assert_eq!(vals(&t), [9.5, 9.5, 9.5, 0., 1., 9.5]);
    assert!(err(
        Op::Pad {
            mode: PadMode::Constant
        },
        &[&x, &iv(&[-2, -2])]
    )
    .contains("remove"));
    let e = Tensor::zeros(DType::F32, &[0]).unwrap();
    assert!(err(
        Op::Pad {
            mode: PadMode::Edge
        },
        &[&e, &iv(&[1, 0])]
    )
    .contains("empty"));
    assert!(err(
        Op::Pad {
            mode: PadMode::Constant
        },
        &[&x, &iv(&[1])]
    )
    .contains("2 × rank"));
}

#[test]
fn gather_family() {
    let d = ar(&[3, 2]);
    let g = run1(Op::Gather { axis: 0 }, &[&d, &iv(&[-1, 0])]);
    assert_eq!(g.shape(), &[2, 2]);
    assert_eq!(vals(&g), [4., 5., 0., 1.]);
    let i32s = Tensor::from_slice(&[2, 1], &[1i32, 0]).unwrap();
    let g = run1(Op::Gather { axis: 1 }, &[&d, &i32s]);
    assert_eq!(g.shape(), &[3, 2, 1]);
    assert_eq!(vals(&g), [1., 0., 3., 2., 5., 4.]);
    let g = run1(Op::Gather { axis: 0 }, &[&d, &Tensor::scalar(2i64)]);
    assert_eq!(g.shape(), &[2]);
    let e = err(Op::Gather { axis: 0 }, &[&d, &iv(&[3])]);
    assert!(
        e.contains("index 3") && e.contains("axis 0") && e.contains("size 3"),
        "{e}"
    );
    assert!(err(Op::Gather { axis: 0 }, &[&d, &iv(&[-4])]).contains("-4"));
    assert!(err(Op::Gather { axis: 0 }, &[&d, &ar(&[1])]).contains("i32 or i64"));

    // gather_elements: out[i][j] = d[idx[i][j]][j]
    let idx = Tensor::from_slice(&[2, 2], &[2i64, -3, 0, 1]).unwrap();
    let ge = run1(Op::GatherElements { axis: 0 }, &[&d, &idx]);
    assert_eq!(vals(&ge), [4., 1., 0., 3.]);

    // gather_nd, batch_dims 0 and 1 (ONNX doc examples).
    let data = ar(&[2, 2, 2]);
    let ind = Tensor::from_slice(&[2, 2], &[0i64, 1, 1, 0]).unwrap();
    let gn = run1(Op::GatherNd { batch_dims: 0 }, &[&data, &ind]);
    assert_eq!(gn.shape(), &[2, 2]);
    assert_eq!(vals(&gn), [2., 3., 4., 5.]);
    let ind = Tensor::from_slice(&[2, 1], &[1i64, 0]).unwrap();
    let gn = run1(Op::GatherNd { batch_dims: 1 }, &[&data, &ind]);
    assert_eq!(gn.shape(), &[2, 2]);
    assert_eq!(vals(&gn), [2., 3., 4., 5.]);
    assert!(err(Op::GatherNd { batch_dims: 2 }, &[&data, &ind]).contains("batch_dims"));
}

#[test]
fn scatter_reductions() {
    let d = f(&[1, 5], &[1., 2., 3., 4., 5.]);
    let idx = Tensor::from_slice(&[1, 2], &[1i64, -4]).unwrap();
    let up = f(&[1, 2], &[1.1, 2.1]);
    let se = |red| {
        vals(&run1(
            Op::ScatterElements {
                axis: 1,
                reduction: red,
            },
            &[&d, &idx, &up],
        ))
    };
    // Both updates hit index 1.
    assert_eq!(se(ScatterReduction::None)[1], 2.1f32 as f64);
    assert_eq!(se(ScatterReduction::Add)[1], (2.0f32 + 1.1 + 2.1) as f64);
    assert_eq!(se(ScatterReduction::Max)[1], 2.1f32 as f64);
    assert_eq!(se(ScatterReduction::Min)[1], 1.1f32 as f64);
    assert_eq!(se(ScatterReduction::Mul)[0], 1.0);

    // scatter_nd with slices (ONNX doc example 2, add on duplicates).
    let data = Tensor::from_slice(&[2, 2], &[1i32, 2, 3, 4]).unwrap();
    let ind = Tensor::from_slice(&[2, 1], &[1i64, 1]).unwrap();
    let upd = Tensor::from_slice(&[2, 2], &[10i32, 20, i32::MAX, 1]).unwrap();
    let r = run1(
        Op::ScatterNd {
            reduction: ScatterReduction::Add,
        },
        &[&data, &ind, &upd],
    );
    // 3 + 10 + i32::MAX wraps.
    assert_eq!(
        r.to_i64s(),
        [1, 2, (13i32.wrapping_add(i32::MAX)) as i64, 25]
    );
    let b = Tensor::from_bools(&[2], &[false, true]).unwrap();
    let bi = Tensor::from_slice(&[1, 1], &[0i64]).unwrap();
    let bu = Tensor::from_bools(&[1], &[true]).unwrap();
    let r = run1(
        Op::ScatterNd {
            reduction: ScatterReduction::Mul,
        },
        &[&b, &bi, &bu],
    );
    assert_eq!(r.to_bools(), [false, true]);
    let bad = Tensor::from_slice(&[1, 1], &[2i64]).unwrap();
    assert!(err(
        Op::ScatterNd {
            reduction: ScatterReduction::None
        },
        &[&b, &bad, &bu]
    )
    .contains("index 2"));
}

#[test]
fn one_hot_trilu_eye_compress_nonzero() {
    let ind = iv(&[0, -1, 5]);
    let vals2 = f(&[2], &[0., 3.]);
    let o = run1(
        Op::OneHot { axis: -1 },
        &[&ind, &Tensor::scalar(3i64), &vals2],
    );
    assert_eq!(o.shape(), &[3, 3]);
    assert_eq!(vals(&o), [3., 0., 0., 0., 0., 3., 0., 0., 0.]);
    let o = run1(
        Op::OneHot { axis: 0 },
        &[&ind, &Tensor::scalar(3.0f32), &vals2],
    );
    assert_eq!(o.shape(), &[3, 3]);
    assert_eq!(vals(&o), [3., 0., 0., 0., 0., 0., 0., 3., 0.]);

    let m = ar(&[3, 3]);
    let u = run1(Op::Trilu { upper: true }, &[&m, &Tensor::scalar(1i64)]);
    assert_eq!(vals(&u), [0., 1., 2., 0., 0., 5., 0., 0., 0.]);
    let l = run1(Op::Trilu { upper: false }, &[&m, &Tensor::scalar(-1i64)]);
    assert_eq!(vals(&l), [0., 0., 0., 3., 0., 0., 6., 7., 0.]);
    assert!(err(Op::Trilu { upper: true }, &[&ar(&[3])]).contains("rank"));

    let e = run1(
        Op::EyeLike {
            dtype: Some(DType::I32),
            k: -1,
        },
        &[&ar(&[3, 2])],
    );
    assert_eq!(e.dtype(), DType::I32);
    assert_eq!(e.to_i64s(), [0, 0, 1, 0, 0, 1]);

    let c = Tensor::from_bools(&[2], &[false, true]).unwrap();
    let r = run1(Op::Compress { axis: Some(1) }, &[&ar(&[2, 3]), &c]);
    assert_eq!(vals(&r), [1., 4.]);
    let r = run1(Op::Compress { axis: None }, &[&ar(&[2, 3]), &c]);
    assert_eq!(vals(&r), [1.]);
    let long = Tensor::from_bools(&[3], &[false, false, true]).unwrap();
    assert!(err(Op::Compress { axis: Some(0) }, &[&ar(&[2]), &long]).contains("condition[2]"));

    let nz = run1(Op::NonZero, &[&f(&[2, 2], &[1., 0., f32::NAN, -0.])]);
    assert_eq!(nz.shape(), &[2, 2]);
    assert_eq!(nz.to_i64s(), [0, 1, 0, 0]);
    let nz = run1(Op::NonZero, &[&Tensor::scalar(3i32)]);
    assert_eq!(nz.shape(), &[0, 1]);
}

#[test]
fn depth_space_reverse_sequence() {
    let x = ar(&[1, 8, 1, 1]);
    let d = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        &[&x],
    );
    assert_eq!(d.shape(), &[1, 2, 2, 2]);
    assert_eq!(vals(&d), [0., 2., 4., 6., 1., 3., 5., 7.]);
    let c = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Crd,
        },
        &[&x],
    );
    assert_eq!(vals(&c), [0., 1., 2., 3., 4., 5., 6., 7.]);
    // numpy reshape/transpose definitions from the ONNX spec, C/b² = 2.
    let x = ar(&[1, 8, 1, 2]);
    let dcr = DepthToSpaceMode::Dcr;
    let d = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: dcr,
        },
        &[&x],
    );
    let want = [
        0., 4., 1., 5., 8., 12., 9., 13., 2., 6., 3., 7., 10., 14., 11., 15.,
    ];
    assert_eq!(vals(&d), want);
    let crd = DepthToSpaceMode::Crd;
    let d = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: crd,
        },
        &[&x],
    );
    let want = [
        0., 2., 1., 3., 4., 6., 5., 7., 8., 10., 9., 11., 12., 14., 13., 15.,
    ];
    assert_eq!(vals(&d), want);
    let s = run1(
        Op::SpaceToDepth {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        &[&ar(&[1, 1, 4, 4])],
    );
    let want = [
        0., 2., 8., 10., 1., 3., 9., 11., 4., 6., 12., 14., 5., 7., 13., 15.,
    ];
    assert_eq!(vals(&s), want);
    // space_to_depth inverts DCR depth_to_space.
    let y = ar(&[2, 3, 4, 6]);
    let s = run1(
        Op::SpaceToDepth {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        &[&y],
    );
    assert_eq!(s.shape(), &[2, 12, 2, 3]);
    let back = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        &[&s],
    );
    assert_eq!(back, y);
    // CRD space_to_depth inverts CRD depth_to_space; the modes differ.
    let crd = run1(
        Op::SpaceToDepth {
            blocksize: 2,
            mode: DepthToSpaceMode::Crd,
        },
        &[&y],
    );
    assert_ne!(crd, s);
    let back = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Crd,
        },
        &[&crd],
    );
    assert_eq!(back, y);
    assert!(err(
        Op::SpaceToDepth {
            blocksize: 4,
            mode: DepthToSpaceMode::Dcr
        },
        &[&y]
    )
    .contains("divisible"));

    let x = ar(&[4, 2]); // time-major: [time, batch]
    let r = run1(
        Op::ReverseSequence {
            batch_axis: 1,
            time_axis: 0,
        },
        &[&x, &iv(&[3, 0])],
    );
    assert_eq!(vals(&r), [4., 1., 2., 3., 0., 5., 6., 7.]);
    assert!(err(
        Op::ReverseSequence {
            batch_axis: 1,
            time_axis: 0
        },
        &[&x, &iv(&[5, 0])]
    )
    .contains("sequence_lens[0]"));
}

#[test]
fn shape_size_range_constant_of_shape() {
    let x = ar(&[2, 3, 4]);
    let s = |start, end| run1(Op::Shape { start, end }, &[&x]).to_i64s();
    assert_eq!(s(0, None), [2, 3, 4]);
    assert_eq!(s(-2, None), [3, 4]);
    assert_eq!(s(1, Some(-1)), [3]);
    assert_eq!(s(2, Some(1)), Vec::<i64>::new());
    assert_eq!(s(-10, Some(10)), [2, 3, 4]);
    assert_eq!(run1(Op::Size, &[&x]).to_i64s(), [24]);
    assert_eq!(run1(Op::Size, &[&x]).shape(), &[] as &[usize]);

    let sc = |v: i64| Tensor::scalar(v);
    assert_eq!(
        run1(Op::Range, &[&sc(1), &sc(10), &sc(3)]).to_i64s(),
        [1, 4, 7]
    );
    assert_eq!(
        run1(Op::Range, &[&sc(10), &sc(1), &sc(-4)]).to_i64s(),
        [10, 6, 2]
    );
    assert_eq!(run1(Op::Range, &[&sc(1), &sc(1), &sc(1)]).shape(), &[0]);
    assert_eq!(run1(Op::Range, &[&sc(5), &sc(1), &sc(1)]).shape(), &[0]);
    let r = run1(
        Op::Range,
        &[
            &Tensor::scalar(0.0f32),
            &Tensor::scalar(1.0f32),
            &Tensor::scalar(0.3f32),
        ],
    );
    assert_eq!(r.shape(), &[4]);
    assert!(err(Op::Range, &[&sc(0), &sc(1), &sc(0)]).contains("delta is 0"));
    assert!(err(Op::Range, &[&sc(0), &Tensor::scalar(1i32), &sc(1)]).contains("limit"));

    let c = run1(
        Op::ConstantOfShape {
            value: Tensor::from_slice(&[1], &[7i32]).unwrap(),
        },
        &[&iv(&[2, 2])],
    );
    assert_eq!(c.dtype(), DType::I32);
    assert_eq!(c.to_i64s(), [7, 7, 7, 7]);
    let c = run1(
        Op::ConstantOfShape {
            value: Tensor::scalar(1.5f32),
        },
        &[&Tensor::zeros(DType::I64, &[0]).unwrap()],
    );
    assert_eq!(c.shape(), &[] as &[usize]);
    assert!(err(
        Op::ConstantOfShape {
            value: Tensor::scalar(1.5f32)
        },
        &[&iv(&[-1])]
    )
    .contains("negative"));
}
