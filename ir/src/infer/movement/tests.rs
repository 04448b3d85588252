//! Unit tests for movement shape inference and `eval_dims`.

use super::{eval_dims, infer};
use crate::attr::*;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::infer::{InferError, InferInput};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::TensorType;

fn ty(dt: DType, dims: &[Dim]) -> TensorType {
    TensorType::new(dt, dims.iter().cloned())
}
fn f32t(dims: &[Dim]) -> TensorType {
    ty(DType::F32, dims)
}
fn k(v: i64) -> Dim {
    Dim::Known(v)
}
fn v(name: &str) -> Dim {
    Dim::var(name)
}
fn ivec(vals: &[i64]) -> Tensor {
    Tensor::from_slice(&[vals.len()], vals).unwrap()
}

/// An operand: its type, and optionally constant value or known dims.
struct In {
    ty: TensorType,
    konst: Option<Tensor>,
    dims: Option<Vec<Dim>>,
}
fn of(ty: TensorType) -> In {
    In {
        ty,
        konst: None,
        dims: None,
    }
}
fn konst(t: Tensor) -> In {
    In {
        ty: t.ty(),
        konst: Some(t),
        dims: None,
    }
}
fn dims(d: &[Dim]) -> In {
    In {
        ty: TensorType::new(DType::I64, [k(d.len() as i64)]),
        konst: None,
        dims: Some(d.to_vec()),
    }
}
fn inputs(ins: &[In]) -> Vec<InferInput<'_>> {
    ins.iter()
        .map(|i| InferInput {
            ty: &i.ty,
            konst: i.konst.as_ref(),
            dims: i.dims.as_deref(),
        })
        .collect()
}
fn go(op: Op, ins: &[In]) -> Result<Vec<TensorType>, InferError> {
    infer(&op, &inputs(ins))
}
fn one(op: Op, ins: &[In]) -> String {
    let r = go(op, ins).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.len(), 1);
    r[0].to_string()
}
fn fails(op: Op, ins: &[In]) -> String {
    go(op, ins).expect_err("expected an error").to_string()
}

#[test]
fn reshape_symbolic() {
    let x = || of(f32t(&[v("batch"), k(8), k(16)]));
    let r = |a| Op::Reshape { allowzero: a };
    assert_eq!(
        one(r(false), &[x(), dims(&[v("batch"), k(128)])]),
        "f32[batch,128]"
    );
    assert_eq!(
        one(r(false), &[x(), konst(ivec(&[0, -1]))]),
        "f32[batch,128]"
    );
    assert_eq!(
        one(r(false), &[x(), konst(ivec(&[-1, 4, 4]))]),
        "f32[batch*8,4,4]"
    );
    assert_eq!(
        one(r(false), &[x(), konst(ivec(&[0, 0, 2, -1]))]),
        "f32[batch,8,2,8]"
    );
    assert_eq!(one(r(false), &[x(), konst(ivec(&[-1]))]), "f32[batch*128]");
    // Unknown shape values: the right rank, unknown dims.
    assert_eq!(
        one(r(false), &[x(), of(ty(DType::I64, &[k(3)]))]),
        "f32[?,?,?]"
    );
    // Static mismatches and bad shapes are errors.
    let s = || of(f32t(&[k(2), k(3)]));
    assert!(fails(r(false), &[s(), konst(ivec(&[4, -1]))]).contains("-1"));
    assert!(fails(r(false), &[s(), konst(ivec(&[7]))]).contains("6 elements"));
    assert!(fails(r(false), &[s(), konst(ivec(&[-1, -1]))]).contains("more than one"));
    assert!(fails(r(true), &[s(), konst(ivec(&[0, -1]))]).contains("ambiguous"));
    assert_eq!(
        one(r(true), &[of(f32t(&[k(0), k(3)])), konst(ivec(&[3, 0]))]),
        "f32[3,0]"
    );
    assert!(fails(r(false), &[s(), of(ty(DType::I64, &[Dim::Unknown]))]).contains("unknown length"));
}

#[test]
fn slice_symbolic_and_static() {
    let x = || of(f32t(&[v("b"), v("seq"), k(10)]));
    let c = |vals: &[i64]| konst(ivec(vals));
    // x[:, :seq] on a dim `seq`, and on a static buffer.
    assert_eq!(
        one(Op::Slice, &[x(), c(&[0]), dims(&[v("seq")]), c(&[1])]),
        "f32[b,seq,10]"
    );
    let buf = || of(f32t(&[k(2048), k(64)]));
    assert_eq!(
        one(Op::Slice, &[buf(), c(&[0]), dims(&[v("seq")]), c(&[0])]),
        "f32[seq,64]"
    );
    // INT64_MAX end → the full dim; 1: on a symbolic dim.
    assert_eq!(
        one(Op::Slice, &[x(), c(&[1]), c(&[i64::MAX]), c(&[1])]),
        "f32[b,seq-1,10]"
    );
    assert_eq!(
        one(Op::Slice, &[x(), c(&[-1]), c(&[i64::MAX]), c(&[-2])]),
        "f32[b,1,10]"
    );
    // Static with clamping and negative steps.
    assert_eq!(
        one(
            Op::Slice,
            &[x(), c(&[i64::MAX]), c(&[i64::MIN]), c(&[2]), c(&[-3])]
        ),
        "f32[b,seq,4]"
    );
    assert_eq!(
        one(Op::Slice, &[x(), c(&[20]), c(&[30]), c(&[-1])]),
        "f32[b,seq,0]"
    );
    // Unknown starts → that axis unknown; unknown axes → every axis unknown.
    let u = || of(ty(DType::I64, &[k(1)]));
    assert_eq!(
        one(Op::Slice, &[x(), u(), c(&[5]), c(&[2])]),
        "f32[b,seq,?]"
    );
    assert_eq!(one(Op::Slice, &[x(), c(&[0]), c(&[5]), u()]), "f32[?,?,?]");
    assert!(fails(Op::Slice, &[x(), c(&[0]), c(&[5]), c(&[2]), c(&[0])]).contains("steps[0] is 0"));
    assert!(fails(Op::Slice, &[x(), c(&[0, 0]), c(&[5]), c(&[2])]).contains("entries"));
}

#[test]
fn layout_ops() {
    let x = || of(f32t(&[v("n"), k(3), k(1), k(4)]));
    assert_eq!(one(Op::Flatten { axis: 1 }, &[x()]), "f32[n,12]");
    assert_eq!(one(Op::Flatten { axis: 0 }, &[x()]), "f32[1,n*12]");
    assert_eq!(one(Op::Transpose { perm: vec![] }, &[x()]), "f32[4,1,3,n]");
    assert_eq!(
        one(
            Op::Transpose {
                perm: vec![0, 3, -2, 1]
            },
            &[x()]
        ),
        "f32[n,4,1,3]"
    );
    assert!(fails(Op::Transpose { perm: vec![0, 1] }, &[x()]).contains("perm"));
    assert_eq!(one(Op::Squeeze { axes: vec![] }, &[x()]), "f32[n,3,4]");
    assert_eq!(one(Op::Squeeze { axes: vec![-2] }, &[x()]), "f32[n,3,4]");
    assert!(fails(Op::Squeeze { axes: vec![1] }, &[x()]).contains("size is 3"));
    assert!(fails(Op::Squeeze { axes: vec![] }, &[of(f32t(&[Dim::Unknown]))]).contains("axes"));
    assert_eq!(
        one(Op::Unsqueeze { axes: vec![0, -1] }, &[x()]),
        "f32[1,n,3,1,4,1]"
    );
    assert!(fails(Op::Unsqueeze { axes: vec![0, 0] }, &[x()]).contains("twice"));
    let e = || of(f32t(&[k(3), k(1)]));
    assert_eq!(
        one(Op::Expand, &[e(), dims(&[v("b"), k(1), k(5)])]),
        "f32[b,3,5]"
    );
    assert_eq!(
        one(Op::Expand, &[e(), of(ty(DType::I64, &[k(3)]))]),
        "f32[?,3,?]"
    );
    assert!(fails(Op::Expand, &[e(), konst(ivec(&[2, 1]))]).contains("broadcast"));
    assert_eq!(one(Op::Tile, &[e(), dims(&[k(2), v("t")])]), "f32[6,t]");
    assert!(fails(Op::Tile, &[e(), konst(ivec(&[2]))]).contains("entries"));
    let d2s = Op::DepthToSpace {
        blocksize: 2,
        mode: DepthToSpaceMode::Crd,
    };
    assert_eq!(
        one(d2s.clone(), &[of(f32t(&[k(1), k(8), v("h"), k(3)]))]),
        "f32[1,2,h*2,6]"
    );
    assert!(fails(d2s, &[of(f32t(&[k(1), k(6), k(2), k(2)]))]).contains("divisible"));
    let s2d = Op::SpaceToDepth {
        blocksize: 2,
        mode: DepthToSpaceMode::Dcr,
    };
    assert_eq!(
        one(s2d, &[of(f32t(&[k(1), k(3), v("h"), k(4)]))]),
        "f32[1,12,floor(h/2),2]"
    );
}

#[test]
fn combine_and_index_ops() {
    let a = || of(f32t(&[v("b"), k(2)]));
    let b = || of(f32t(&[Dim::Unknown, v("t")]));
    assert_eq!(one(Op::Concat { axis: -1 }, &[a(), b()]), "f32[b,t+2]");
    assert!(fails(Op::Concat { axis: 0 }, &[a(), of(f32t(&[k(1), k(3)]))]).contains("operand 1"));
    assert!(fails(
        Op::Concat { axis: 0 },
        &[a(), of(ty(DType::I64, &[k(1), k(2)]))]
    )
    .contains("operand 1"));
    let s = go(
        Op::Split {
            axis: 1,
            splits: vec![1, 1],
        },
        &[a()],
    )
    .unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].to_string(), "f32[b,1]");
    assert!(fails(
        Op::Split {
            axis: 1,
            splits: vec![1, 2]
        },
        &[a()]
    )
    .contains("sum"));

    let data = || of(f32t(&[k(5), v("d")]));
    let idx = || of(ty(DType::I32, &[v("b"), v("s")]));
    assert_eq!(one(Op::Gather { axis: 0 }, &[data(), idx()]), "f32[b,s,d]");
    assert_eq!(
        one(
            Op::Gather { axis: -1 },
            &[data(), konst(Tensor::scalar(0i64))]
        ),
        "f32[5]"
    );
    assert!(fails(Op::Gather { axis: 0 }, &[data(), konst(ivec(&[5]))]).contains("index 5"));
    assert!(fails(Op::Gather { axis: 0 }, &[data(), of(f32t(&[k(1)]))]).contains("i32 or i64"));
    assert_eq!(
        one(Op::GatherElements { axis: 1 }, &[data(), idx()]),
        "f32[b,s]"
    );
    let nd = || of(ty(DType::I64, &[v("b"), k(3), k(1)]));
    let cube = || of(f32t(&[v("b"), k(4), k(6)]));
    assert_eq!(
        one(Op::GatherNd { batch_dims: 1 }, &[cube(), nd()]),
        "f32[b,3,6]"
    );
    assert!(fails(Op::GatherNd { batch_dims: 3 }, &[cube(), nd()]).contains("batch_dims"));
    let upd = || of(f32t(&[v("b"), k(3), k(6)]));
    let se = Op::ScatterElements {
        axis: 0,
        reduction: ScatterReduction::Add,
    };
    assert_eq!(one(se, &[cube(), nd(), upd()]), "f32[b,4,6]");
    let sn = Op::ScatterNd {
        reduction: ScatterReduction::None,
    };
    let ind2 = || of(ty(DType::I64, &[k(2), k(2)]));
    let u2 = || of(f32t(&[k(2), k(6)]));
    assert_eq!(one(sn.clone(), &[cube(), ind2(), u2()]), "f32[b,4,6]");
    assert!(fails(sn, &[cube(), ind2(), upd()]).contains("updates"));
}

#[test]
fn pad_one_hot_compress_nonzero_trilu() {
    let x = || of(f32t(&[v("h"), k(3)]));
    let p = Op::Pad {
        mode: PadMode::Reflect,
    };
    assert_eq!(
        one(p.clone(), &[x(), konst(ivec(&[1, -1, 1, 2]))]),
        "f32[h+2,4]"
    );
    assert_eq!(
        one(p.clone(), &[x(), of(ty(DType::I64, &[k(4)]))]),
        "f32[?,?]"
    );
    assert!(fails(p.clone(), &[x(), konst(ivec(&[0, -2, 0, -2]))]).contains("remove"));
    assert!(fails(p.clone(), &[x(), konst(ivec(&[1, 1]))]).contains("needs 4"));
    let cv = konst(Tensor::scalar(1i32));
    assert!(fails(p, &[x(), konst(ivec(&[0, 0, 0, 0])), cv]).contains("constant_value"));

    let ind = || of(ty(DType::I64, &[v("b"), k(2)]));
    let vals = || of(f32t(&[k(2)]));
    let oh = |axis| Op::OneHot { axis };
    assert_eq!(
        one(oh(-1), &[ind(), konst(Tensor::scalar(10.0f32)), vals()]),
        "f32[b,2,10]"
    );
    assert_eq!(
        one(oh(0), &[ind(), of(ty(DType::I64, &[])), vals()]),
        "f32[?,b,2]"
    );
    assert!(fails(oh(4), &[ind(), konst(Tensor::scalar(3i64)), vals()]).contains("axis"));

    let cond = Tensor::from_bools(&[3], &[true, false, true]).unwrap();
    let m = || of(f32t(&[k(3), v("w")]));
    assert_eq!(
        one(Op::Compress { axis: Some(0) }, &[m(), konst(cond.clone())]),
        "f32[2,w]"
    );
    assert_eq!(
        one(
            Op::Compress { axis: None },
            &[m(), of(ty(DType::Bool, &[k(3)]))]
        ),
        "f32[?]"
    );
    assert_eq!(one(Op::NonZero, &[m()]), "i64[2,?]");
    assert_eq!(one(Op::NonZero, &[konst(cond)]), "i64[1,2]");
    assert_eq!(
        one(
            Op::Trilu { upper: true },
            &[m(), konst(Tensor::scalar(1i64))]
        ),
        "f32[3,w]"
    );
    assert!(fails(Op::Trilu { upper: true }, &[of(f32t(&[k(3)]))]).contains("rank"));
    let rs = Op::ReverseSequence {
        batch_axis: 1,
        time_axis: 0,
    };
    assert_eq!(
        one(rs.clone(), &[m(), of(ty(DType::I64, &[v("w")]))]),
        "f32[3,w]"
    );
    assert!(fails(rs, &[m(), of(ty(DType::I64, &[k(3), k(1)]))]).contains("1-D"));
}

#[test]
fn shape_producers() {
    let x = || of(f32t(&[v("b"), k(3), v("s")]));
    assert_eq!(
        one(
            Op::Shape {
                start: 0,
                end: None
            },
            &[x()]
        ),
        "i64[3]"
    );
    assert_eq!(
        one(
            Op::Shape {
                start: -1,
                end: Some(1)
            },
            &[x()]
        ),
        "i64[0]"
    );
    assert_eq!(one(Op::Size, &[x()]), "i64[]");
    let cos = |t: Tensor| Op::ConstantOfShape { value: t };
    assert_eq!(
        one(cos(Tensor::scalar(1i32)), &[dims(&[v("b"), k(2)])]),
        "i32[b,2]"
    );
    assert_eq!(
        one(cos(Tensor::scalar(0.0f32)), &[of(ty(DType::I64, &[k(2)]))]),
        "f32[?,?]"
    );
    assert_eq!(
        one(
            cos(Tensor::scalar(0.0f32)),
            &[konst(Tensor::zeros(DType::I64, &[0]).unwrap())]
        ),
        "f32[]"
    );
    let sc = |v: i64| konst(Tensor::scalar(v));
    let sd = |d: Dim| In {
        ty: TensorType::scalar(DType::I64),
        konst: None,
        dims: Some(vec![d]),
    };
    assert_eq!(one(Op::Range, &[sc(0), sd(v("seq")), sc(1)]), "i64[seq]");
    let half = go(Op::Range, &[sc(1), sd(v("seq")), sc(2)]).unwrap();
    assert_eq!(half[0].shape, vec![v("seq").sub(&k(1)).ceil_div(&k(2))]);
    assert_eq!(one(Op::Range, &[sc(10), sc(1), sc(-4)]), "i64[3]");
    assert_eq!(one(Op::Range, &[sc(5), sc(1), sc(1)]), "i64[0]");
    let fs = |v: f32| konst(Tensor::scalar(v));
    assert_eq!(one(Op::Range, &[fs(0.0), fs(1.0), fs(0.3)]), "f32[4]");
    assert!(fails(Op::Range, &[sc(0), sc(3), sc(0)]).contains("delta is 0"));
    assert!(fails(Op::Range, &[sc(0), fs(3.0), sc(1)]).contains("limit"));
    let eye = Op::EyeLike {
        dtype: Some(DType::Bool),
        k: 0,
    };
    assert_eq!(one(eye, &[of(f32t(&[k(2), v("n")]))]), "bool[2,n]");
}

fn resize(policy: AspectPolicy, axes: Vec<i64>) -> Op {
    Op::Resize {
        mode: ResizeMode::Nearest,
        coordinate_transformation_mode: CoordMode::Asymmetric,
        nearest_mode: NearestMode::Floor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        keep_aspect_ratio_policy: policy,
        axes,
    }
}

#[test]
fn resize_shapes() {
    let x = || of(f32t(&[v("n"), k(3), v("h"), k(5)]));
    let ef = || konst(Tensor::zeros(DType::F32, &[0]).unwrap());
    let ei = || konst(Tensor::zeros(DType::I64, &[0]).unwrap());
    let sc = |s: &[f32]| konst(Tensor::from_slice(&[s.len()], s).unwrap());
    let st = AspectPolicy::Stretch;
    assert_eq!(
        one(resize(st, vec![]), &[x(), ef(), sc(&[1., 1., 2., 0.5])]),
        "f32[n,3,h*2,2]"
    );
    assert_eq!(
        one(resize(st, vec![2, 3]), &[x(), ef(), sc(&[0.5, 1.5]), ei()]),
        "f32[n,3,floor(h/2),7]"
    );
    assert_eq!(
        one(resize(st, vec![2, 3]), &[x(), ef(), sc(&[0.3, 1.0])]),
        "f32[n,3,?,5]"
    );
    assert_eq!(
        one(resize(st, vec![-1]), &[x(), ef(), ef(), dims(&[v("w")])]),
        "f32[n,3,h,w]"
    );
    let y = || of(f32t(&[k(1), k(1), k(4), k(4)]));
    let nl = resize(AspectPolicy::NotLarger, vec![2, 3]);
    assert_eq!(
        one(nl, &[y(), ef(), ef(), konst(ivec(&[3, 5]))]),
        "f32[1,1,3,3]"
    );
    let ns = resize(AspectPolicy::NotSmaller, vec![2, 3]);
    assert_eq!(
        one(ns, &[y(), ef(), ef(), konst(ivec(&[3, 5]))]),
        "f32[1,1,5,5]"
    );
    assert!(fails(resize(st, vec![]), &[y(), ef(), ef(), ei()]).contains("non-empty"));
    assert!(fails(resize(st, vec![]), &[y(), ef(), sc(&[1., 2.])]).contains("one entry per axis"));
    assert!(fails(resize(st, vec![]), &[y(), ef(), sc(&[1., 1., 0., 1.])]).contains("positive"));
    assert_eq!(
        one(resize(st, vec![]), &[y(), ef(), of(f32t(&[k(4)]))]),
        "f32[?,?,?,?]"
    );
}

#[test]
fn eval_dims_resolves_shape_subgraphs() {
    let x = of(f32t(&[v("b"), v("s"), k(768)]));
    let e = |op: Op, ins: &[In]| eval_dims(&op, &inputs(ins));
    let shape = e(
        Op::Shape {
            start: 0,
            end: None,
        },
        &[x],
    )
    .unwrap();
    assert_eq!(shape, vec![v("b"), v("s"), k(768)]);
    let last2 = e(
        Op::Shape {
            start: -2,
            end: None,
        },
        &[of(f32t(&[v("b"), v("s"), k(768)]))],
    );
    assert_eq!(last2.unwrap(), vec![v("s"), k(768)]);
    assert_eq!(
        e(Op::Size, &[of(f32t(&[v("b"), k(2)]))]).unwrap(),
        vec![v("b").mul(&k(2))]
    );
    // shape → gather(0) → unsqueeze → concat([b, -1, 12, 64]) → reshape.
    let g = e(
        Op::Gather { axis: 0 },
        &[dims(&shape), konst(Tensor::scalar(0i64))],
    )
    .unwrap();
    assert_eq!(g, vec![v("b")]);
    let g2 = e(
        Op::Gather { axis: 0 },
        &[dims(&shape), konst(ivec(&[-1, 1]))],
    )
    .unwrap();
    assert_eq!(g2, vec![k(768), v("s")]);
    assert!(e(Op::Gather { axis: 0 }, &[dims(&shape), konst(ivec(&[3]))]).is_none());
    let scalar_b = In {
        ty: TensorType::scalar(DType::I64),
        konst: None,
        dims: Some(g.clone()),
    };
    let u = e(Op::Unsqueeze { axes: vec![0] }, &[scalar_b]).unwrap();
    let cat = e(
        Op::Concat { axis: 0 },
        &[dims(&u), konst(ivec(&[-1, 12, 64]))],
    )
    .unwrap();
    assert_eq!(cat, vec![v("b"), k(-1), k(12), k(64)]);
    let r = one(
        Op::Reshape { allowzero: false },
        &[of(f32t(&[v("b"), v("s"), k(768)])), dims(&cat)],
    );
    assert_eq!(r, "f32[b,s,12,64]");
    // Slice of a shape vector, reshape to [-1], squeeze, identity.
    let sl = e(
        Op::Slice,
        &[dims(&shape), konst(ivec(&[-2])), konst(ivec(&[i64::MAX]))],
    );
    assert_eq!(sl.unwrap(), vec![v("s"), k(768)]);
    let rev = e(
        Op::Slice,
        &[
            dims(&shape),
            konst(ivec(&[-1])),
            konst(ivec(&[i64::MIN])),
            konst(ivec(&[0])),
            konst(ivec(&[-2])),
        ],
    );
    assert_eq!(rev.unwrap(), vec![k(768), v("b")]);
    assert_eq!(
        e(
            Op::Reshape { allowzero: false },
            &[dims(&shape), konst(ivec(&[-1]))]
        )
        .unwrap()
        .len(),
        3
    );
    assert!(e(
        Op::Reshape { allowzero: false },
        &[dims(&shape), konst(ivec(&[3, 1]))]
    )
    .is_none());
    assert_eq!(e(Op::Identity, &[dims(&shape)]).unwrap().len(), 3);
    let one_elem = dims(&[v("s")]);
    let sq = e(Op::Squeeze { axes: vec![0] }, &[one_elem]).unwrap();
    assert_eq!(sq, vec![v("s")]);
    // constant_of_shape and range with static operands.
    let c = e(
        Op::ConstantOfShape {
            value: Tensor::scalar(1i64),
        },
        &[konst(ivec(&[3]))],
    )
    .unwrap();
    assert_eq!(c, vec![k(1); 3]);
    let sc = |x: i64| konst(Tensor::scalar(x));
    assert_eq!(
        e(Op::Range, &[sc(0), sc(3), sc(1)]).unwrap(),
        vec![k(0), k(1), k(2)]
    );
    // Not integer vectors, or unknown: None.
    assert!(e(Op::Expand, &[dims(&shape), konst(ivec(&[3]))]).is_none());
    assert!(e(Op::Identity, &[of(ty(DType::I64, &[k(3)]))]).is_none());
}
