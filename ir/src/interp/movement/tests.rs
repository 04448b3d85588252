//! Unit tests for the movement ops' semantics. Expected values come from
//! numpy / `onnx.reference.ReferenceEvaluator` (resize: opset 19).

use super::eval;
use crate::attr::*;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

fn f(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}
fn iv(v: &[i64]) -> Tensor {
    Tensor::from_slice(&[v.len()], v).unwrap()
}
fn ar(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|i| i as f32).collect()).unwrap()
}
fn run1(op: Op, x: &[&Tensor]) -> Tensor {
    let mut r = eval(&op, x).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    assert_eq!(r.len(), 1);
    r.pop().unwrap()
}
fn err(op: Op, x: &[&Tensor]) -> String {
    eval(&op, x).expect_err("expected an error")
}
fn vals(t: &Tensor) -> Vec<f64> {
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
    // space_to_depth inverts DCR depth_to_space.
    let y = ar(&[2, 3, 4, 6]);
    let s = run1(Op::SpaceToDepth { blocksize: 2 }, &[&y]);
    assert_eq!(s.shape(), &[2, 12, 2, 3]);
    let back = run1(
        Op::DepthToSpace {
            blocksize: 2,
            mode: DepthToSpaceMode::Dcr,
        },
        &[&s],
    );
    assert_eq!(back, y);
    assert!(err(Op::SpaceToDepth { blocksize: 4 }, &[&y]).contains("divisible"));

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

// ---- Resize against the ONNX reference ------------------------------------

fn resize_op(mode: ResizeMode) -> Op {
    Op::Resize {
        mode,
        coordinate_transformation_mode: CoordMode::HalfPixel,
        nearest_mode: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        keep_aspect_ratio_policy: AspectPolicy::Stretch,
        axes: vec![],
    }
}

fn with(op: Op, edit: impl FnOnce(&mut Op)) -> Op {
    let mut op = op;
    edit(&mut op);
    op
}

fn empty_f() -> Tensor {
    Tensor::zeros(DType::F32, &[0]).unwrap()
}
fn empty_i() -> Tensor {
    Tensor::zeros(DType::I64, &[0]).unwrap()
}

fn check_resize(
    op: Op,
    x: &Tensor,
    roi: &[f32],
    scales: &[f32],
    sizes: &[i64],
    shape: &[usize],
    want: &[f64],
) {
    let roi = if roi.is_empty() {
        empty_f()
    } else {
        f(&[roi.len()], roi)
    };
    let sc = if scales.is_empty() {
        empty_f()
    } else {
        f(&[scales.len()], scales)
    };
    let sz = if sizes.is_empty() {
        empty_i()
    } else {
        iv(sizes)
    };
    let y = run1(op, &[x, &roi, &sc, &sz]);
    assert_eq!(y.shape(), shape);
    for (k, (a, b)) in vals(&y).iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 + 1e-5 * b.abs(),
            "element {k}: {a} vs {b}"
        );
    }
}

fn x4() -> Tensor {
    Tensor::from_vec(&[1, 1, 4, 4], (1..=16).map(|i| i as f32).collect()).unwrap()
}
fn x22() -> Tensor {
    f(&[1, 1, 2, 2], &[1., 2., 3., 4.])
}

#[test]
fn resize_nearest_and_linear() {
    let op = with(resize_op(ResizeMode::Nearest), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            nearest_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::Asymmetric;
            *nearest_mode = NearestMode::Floor;
        }
    });
    let want = [
        1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 3., 3., 3., 4., 4.,
        4.,
    ];
    check_resize(
        op,
        &x22(),
        &[],
        &[1., 1., 2., 3.],
        &[],
        &[1, 1, 4, 6],
        &want,
    );
    let want = [
        1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
    ];
    check_resize(
        resize_op(ResizeMode::Linear),
        &x22(),
        &[],
        &[],
        &[1, 1, 4, 4],
        &[1, 1, 4, 4],
        &want,
    );
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::PytorchHalfPixel;
        }
    });
    let want = [1.1666666269302368, 2.5, 3.8333332538604736];
    check_resize(op, &x4(), &[], &[], &[1, 1, 1, 3], &[1, 1, 1, 3], &want);
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize { antialias, .. } = o {
            *antialias = true;
        }
    });
    let want = [
        2.3636362552642822,
        3.590909004211426,
        4.818181991577148,
        7.2727274894714355,
        8.5,
        9.727272987365723,
        12.181818008422852,
        13.409090995788574,
        14.636363983154297,
    ];
    check_resize(op, &x4(), &[], &[], &[1, 1, 3, 3], &[1, 1, 3, 3], &want);
    // u8 rounds half to even and saturates.
    let xi = Tensor::from_slice(&[1, 4], &[0u8, 10, 255, 3]).unwrap();
    let y = run1(
        resize_op(ResizeMode::Linear),
        &[&xi, &empty_f(), &f(&[2], &[1., 1.5]), &empty_i()],
    );
    assert_eq!(y.to_i64s(), [0, 5, 51, 214, 129, 3]);
}

#[test]
fn resize_cubic_crop_and_aspect() {
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::AlignCorners;
        }
    });
    let want = [1.0, 3.199707508087158, 9.79883098602295, 11.998536109924316];
    check_resize(
        op,
        &x4(),
        &[],
        &[1., 1., 0.6, 0.6],
        &[],
        &[1, 1, 2, 2],
        &want,
    );
    let want = [
        0.68359375, 1.015625, 1.5625, 1.89453125, 1.34765625, 1.6796875, 2.2265625, 2.55859375,
        2.44140625, 2.7734375, 3.3203125, 3.65234375, 3.10546875, 3.4375, 3.984375, 4.31640625,
    ];
    check_resize(
        resize_op(ResizeMode::Cubic),
        &x22(),
        &[],
        &[1., 1., 2., 2.],
        &[],
        &[1, 1, 4, 4],
        &want,
    );
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize { antialias, .. } = o {
            *antialias = true;
        }
    });
    let want = [
        2.110241651535034,
        4.129773139953613,
        7.490234851837158,
        9.509766578674316,
        12.870226860046387,
        14.889758110046387,
    ];
    check_resize(op, &x4(), &[], &[], &[1, 1, 3, 2], &[1, 1, 3, 2], &want);
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            cubic_coeff_a,
            exclude_outside,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::HalfPixelSymmetric;
            *cubic_coeff_a = -0.5;
            *exclude_outside = true;
        }
    });
    let want = [
        1.6868788003921509,
        2.219301462173462,
        2.8774149417877197,
        3.465650796890259,
        4.1237640380859375,
        4.656187057495117,
        7.015346050262451,
        7.547768592834473,
        8.20588207244873,
        8.79411792755127,
        9.452231407165527,
        9.984654426574707,
        12.343812942504883,
        12.876235961914062,
        13.53434944152832,
        14.12258529663086,
        14.780698776245117,
        15.31312084197998,
    ];
    check_resize(
        op,
        &x4(),
        &[],
        &[1., 1., 0.8, 1.7],
        &[],
        &[1, 1, 3, 6],
        &want,
    );
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            extrapolation_value,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::TfCropAndResize;
            *extrapolation_value = 10.0;
        }
    });
    let want = [
        7.600000381469727,
        7.75,
        7.900000095367432,
        12.40000057220459,
        12.550000190734863,
        12.700000762939453,
        10.0,
        10.0,
        10.0,
    ];
    let roi = [0., 0., 0.4, 0.6, 1., 1., 1.2, 0.7];
    check_resize(op, &x4(), &roi, &[], &[1, 1, 3, 3], &[1, 1, 3, 3], &want);
    let aspect = |policy, nearest| {
        with(resize_op(ResizeMode::Nearest), |o| {
            if let Op::Resize {
                keep_aspect_ratio_policy,
                nearest_mode,
                axes,
                ..
            } = o
            {
                *keep_aspect_ratio_policy = policy;
                *nearest_mode = nearest;
                *axes = vec![2, -1];
            }
        })
    };
    let want = [1.0, 3.0, 4.0, 9.0, 11.0, 12.0, 13.0, 15.0, 16.0];
    let op = aspect(AspectPolicy::NotLarger, NearestMode::RoundPreferCeil);
    check_resize(op, &x4(), &[], &[], &[3, 5], &[1, 1, 3, 3], &want);
    let want = [
        1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 7.0, 8.0, 5.0, 6.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0,
        11.0, 12.0, 13.0, 14.0, 14.0, 15.0, 16.0,
    ];
    let op = aspect(AspectPolicy::NotSmaller, NearestMode::RoundPreferFloor);
    check_resize(op, &x4(), &[], &[], &[3, 5], &[1, 1, 5, 5], &want);
}

#[test]
fn resize_errors() {
    let x = x22();
    let op = resize_op(ResizeMode::Linear);
    let both = [
        &x,
        &empty_f(),
        &f(&[4], &[1., 1., 2., 2.]),
        &iv(&[1, 1, 4, 4]),
    ];
    assert!(err(op.clone(), &both).contains("not both"));
    assert!(err(op.clone(), &[&x, &empty_f(), &empty_f(), &empty_i()]).contains("non-empty"));
    assert!(err(op.clone(), &[&x, &empty_f(), &f(&[2], &[1., 2.])]).contains("one entry per axis"));
    assert!(err(op, &[&x, &empty_f(), &f(&[4], &[1., 1., 0., 2.])]).contains("positive"));
}
