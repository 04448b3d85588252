//! Tests of the tracer: its own plumbing (handles, weights, poisoning,
//! error locations) and whole traces run through shape inference and the
//! interpreter.

use super::*;
use crate::dim::Dim;
use crate::dtype::DType;

fn f32_ty(dims: &[usize]) -> TensorType {
    TensorType::fixed(DType::F32, dims)
}

fn ramp(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|i| i as f32 * 0.25 - 1.0).collect()).unwrap()
}

#[test]
fn weights_share_storage_and_are_named() {
    let w = ramp(&[3, 2]);
    let g = trace("w", &[], |tr, _| {
        let h = tr.weight("w1", w.clone());
        assert_eq!(h.ty(), Some(f32_ty(&[3, 2])));
        Ok(vec![h])
    })
    .unwrap();
    let out = g.outputs()[0];
    assert_eq!(g.name_of(out), Some("w1"));
    assert_eq!(g.value_named("w1"), Some(out));
    assert!(g.const_value(out).unwrap().shares_storage(&w));
    assert_eq!(g.order().len(), 1);
    assert_eq!(g.node(g.order()[0]).op.name(), "const");
    // Two traces of the same weights still share one buffer.
    let g2 = trace("w", &[], |tr, _| Ok(vec![tr.weight("w1", w.clone())])).unwrap();
    let (a, b) = (g.const_value(out), g2.const_value(g2.outputs()[0]));
    assert!(a.unwrap().shares_storage(b.unwrap()));
    assert_eq!(g, g2);
}

#[test]
fn inputs_and_graph_structure() {
    let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 4.into()]);
    let g = trace(
        "f",
        &[("x", x_ty.clone()), ("y", f32_ty(&[2]))],
        |tr, ins| {
            let c = tr.constant(ramp(&[2]));
            let r = tr.apply(Op::constant(ramp(&[1])), &[])?;
            assert_eq!(r.len(), 1);
            Ok(vec![ins[1].clone(), c, ins[0].clone().named("x_out")?])
        },
    )
    .unwrap();
    assert_eq!(g.name, "f");
    assert_eq!(g.inputs().len(), 2);
    assert_eq!(g.ty(g.inputs()[0]), &x_ty);
    assert_eq!(g.name_of(g.inputs()[1]), Some("y"));
    assert_eq!(g.order().len(), 2);
    assert_eq!(g.outputs()[0], g.inputs()[1]);
    // Renaming an input to name an output renames the value itself.
    assert_eq!(g.name_of(g.outputs()[2]), Some("x_out"));
    assert_eq!(g.const_value(g.outputs()[1]), Some(&ramp(&[2])));
}

#[test]
fn duplicate_names_are_errors_not_panics() {
    let e = trace(
        "f",
        &[("x", f32_ty(&[1])), ("x", f32_ty(&[1]))],
        |_, ins| Ok(ins.to_vec()),
    )
    .unwrap_err();
    assert!(matches!(e, TraceError::Name(_)), "{e}");
    assert!(e.to_string().contains("`x`"), "{e}");

    // A clashing weight name is recorded and returned even though the
    // closure returns Ok.
    let e = trace("f", &[("x", f32_ty(&[1]))], |tr, ins| {
        let _w = tr.weight("x", ramp(&[1]));
        Ok(ins.to_vec())
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("weight") && msg.contains("`x`"), "{msg}");
    assert!(
        msg.contains("tests.rs"),
        "location of the weight call: {msg}"
    );
}

#[test]
fn op_errors_name_the_op_both_operand_types_and_the_line() {
    // Before the elementwise group is merged this fails with the stub's
    // message; after, with the broadcast error. Either way the tracer's part
    // of the message is the same.
    let g = trace(
        "f",
        &[("a", f32_ty(&[2, 3])), ("b", f32_ty(&[4]))],
        |_, ins| {
            let line = line!() + 1;
            let r = &ins[0] + &ins[1];
            let e = r.unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("`add` at "), "{msg}");
            assert!(msg.contains("f32[2,3], f32[4]"), "{msg}");
            assert!(msg.contains(&format!("tests.rs:{line}:")), "{msg}");
            assert!(
                matches!(&e, TraceError::Op { op: "add", operands, .. } if operands.len() == 2)
            );
            // A failed fallible op adds nothing: the caller may go on.
            Ok(vec![ins[0].clone()])
        },
    )
    .unwrap();
    assert_eq!(g.order().len(), 0);

    // The method form reports the same.
    trace(
        "f",
        &[("a", f32_ty(&[2, 3])), ("b", f32_ty(&[4]))],
        |_, ins| {
            let msg = ins[0].matmul(&ins[1]).unwrap_err().to_string();
            assert!(msg.starts_with("`matmul` at "), "{msg}");
            assert!(msg.contains("f32[2,3], f32[4]"), "{msg}");
            Ok(vec![])
        },
    )
    .unwrap();
}

#[test]
fn direct_ops_record_their_error_and_poison_their_result() {
    // `relu` of a bool tensor is rejected (ONNX Relu takes numbers), today by
    // the inference stub, after the merge by the elementwise rules.
    let mut later = None;
    let e = trace(
        "f",
        &[("m", TensorType::fixed(DType::Bool, &[2]))],
        |_, ins| {
            let h = ins[0].relu();
            assert_eq!(h.value(), None);
            assert_eq!(h.ty(), None);
            assert_eq!(format!("{h:?}"), "<poisoned>");
            // Using the poisoned handle returns the first error again.
            later = Some(h.transpose(&[0]).unwrap_err());
            let _ = (-&h).exp().sqrt();
            Ok(vec![ins[0].clone()])
        },
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("`relu` at "), "{msg}");
    assert!(msg.contains("bool[2]"), "{msg}");
    assert_eq!(later, Some(e));
}

#[test]
fn the_first_recorded_error_wins_over_the_closures() {
    let e = trace(
        "f",
        &[("m", TensorType::fixed(DType::Bool, &[2]))],
        |_, ins| {
            let _ = ins[0].exp();
            Err(TraceError::msg("later"))
        },
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("`exp`"), "{e}");
    let e = trace("f", &[], |_, _| Err(TraceError::msg("mine"))).unwrap_err();
    assert_eq!(e, TraceError::msg("mine"));
}

#[test]
fn handles_from_other_traces_are_refused() {
    let t1 = Tracer::new("one");
    let t2 = Tracer::new("two");
    let a = t1.input("a", f32_ty(&[2])).unwrap();
    let b = t2.input("b", f32_ty(&[2])).unwrap();
    let e = (&a * &b).unwrap_err();
    assert!(matches!(e, TraceError::Foreign { op: "mul", .. }), "{e}");
    let e = t1.concat(&[&a, &b], 0).unwrap_err();
    assert!(matches!(e, TraceError::Foreign { op: "concat", .. }), "{e}");
    assert!(matches!(
        t2.finish(vec![a.clone()]),
        Err(TraceError::Foreign { op: "return", .. })
    ));
    let g = t1.finish(vec![a.clone()]).unwrap();
    assert_eq!(g.outputs(), &[a.value().unwrap()]);
    // The handle outlived its trace.
    assert_eq!(a.ty(), None);
    let e = a.softmax(0).unwrap_err();
    assert!(
        matches!(e, TraceError::Finished { op: "softmax", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("already finished"), "{e}");
}

#[test]
fn scalar_operands_take_the_tensor_dtype() {
    // The scalar constant is built before the op, so its dtype is visible
    // in the operand list even while `mul` inference is a stub.
    trace(
        "f",
        &[("i", TensorType::fixed(DType::I32, &[3]))],
        |tr, ins| {
            match &ins[0] * 2.5 {
                Err(TraceError::Op { operands, .. }) => {
                    assert_eq!(operands[1], TensorType::scalar(DType::I32));
                }
                Err(e) => panic!("{e}"),
                Ok(h) => assert_eq!(h.ty(), ins[0].ty()),
            }
            let s = tr.scalar(DType::F64, 0.1)?;
            assert_eq!(s.ty(), Some(TensorType::scalar(DType::F64)));
            Ok(vec![])
        },
    )
    .unwrap();
}

#[test]
fn failed_methods_leave_no_constants_behind() {
    // Each of these adds constant operands before the op, and each fails
    // (today in the inference stubs; after the merge because 6 != 7 elements
    // and `mul`/`clip` do not take bools).
    let tys = [
        ("x", f32_ty(&[2, 3])),
        ("m", TensorType::fixed(DType::Bool, &[2])),
    ];
    let g = trace("f", &tys, |_, ins| {
        assert!(ins[0].reshape(&[7i64]).is_err());
        assert!(ins[0].slice(&[0], &[9], &[5], &[1]).is_err());
        assert!((&ins[1] * 2.0).is_err());
        assert!((3.0 - &ins[1]).is_err());
        assert!(ins[1].clip(0.0, 1.0).is_err());
        Ok(vec![ins[0].clone()])
    })
    .unwrap();
    assert_eq!(g.order().len(), 0);
}

#[test]
fn naming_a_finished_handle_is_an_error() {
    let t = Tracer::new("f");
    let a = t.input("a", f32_ty(&[2])).unwrap();
    t.finish(vec![a.clone()]).unwrap();
    let e = a.named("b").unwrap_err();
    assert!(matches!(e, TraceError::Finished { op: "named", .. }), "{e}");
}

#[test]
fn reshape_operand_rules() {
    let b = Dim::var("batch");
    let s = |d: &[Dim], t: &[Dim]| reshape_operand(d, t);
    let k = |v: i64| Dim::Known(v);
    // Same symbolic dim on the same axis: copy (0).
    assert_eq!(
        s(&[b.clone(), k(4), k(4)], &[b.clone(), k(16)]),
        Ok((vec![0, 16], false))
    );
    // A symbolic dim elsewhere is inferred (-1).
    assert_eq!(
        s(&[b.mul(&k(16))], &[b.clone(), k(16)]),
        Ok((vec![-1, 16], false))
    );
    assert_eq!(s(&[k(6)], &[k(-1), k(3)]), Ok((vec![-1, 3], false)));
    assert_eq!(s(&[k(0), k(3)], &[k(0), k(3)]), Ok((vec![0, 3], true)));
    let e = s(&[b.clone(), Dim::var("seq")], &[Dim::var("seq"), b.clone()]).unwrap_err();
    assert!(e.contains("at most one"), "{e}");
    let e = s(&[b.clone(), k(0)], &[b.clone(), k(0)]).unwrap_err();
    assert!(e.contains("literal 0"), "{e}");
    assert!(s(&[k(6)], &[k(-2), k(-3)]).is_err());
}

#[test]
fn reshape_reports_inexpressible_targets_with_the_line() {
    let x_ty = TensorType::new(DType::F32, [Dim::var("a"), Dim::var("b")]);
    trace("f", &[("x", x_ty)], |_, ins| {
        let e = ins[0].reshape(&[Dim::var("b"), Dim::var("a")]).unwrap_err();
        assert!(
            matches!(e, TraceError::Invalid { op: "reshape", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("tests.rs"), "{e}");
        Ok(vec![])
    })
    .unwrap();
}

// ---- Tests that need other groups' inference and interpretation ----------

fn run1(g: &Graph, inputs: &[Tensor]) -> Vec<f64> {
    let out = crate::interp::run(g, inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].to_f64s()
}

#[test]
fn mlp_traces_and_runs() {
    let w = Tensor::from_vec(&[2, 2], vec![1.0f32, -1.0, 2.0, 0.5]).unwrap();
    let b = Tensor::from_vec(&[2], vec![0.5f32, -4.0]).unwrap();
    let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 2.into()]);
    let g = trace("mlp", &[("x", x_ty)], |tr, ins| {
        let w = tr.weight("w", w.clone());
        let b = tr.weight("b", b.clone());
        let h = ins[0].matmul(&w)?.add(&b)?.relu();
        Ok(vec![h])
    })
    .unwrap();
    let out_ty = g.ty(g.outputs()[0]);
    assert_eq!(out_ty.shape, vec![Dim::var("batch"), 2.into()]);
    let x = Tensor::from_vec(&[2, 2], vec![1.0f32, 1.0, -1.0, 2.0]).unwrap();
    // [1,1]@w = [3, -0.5] + b = [3.5, -4.5] → relu [3.5, 0]
    // [-1,2]@w = [3, 2] + b = [3.5, -2] → relu [3.5, 0]
    assert_eq!(run1(&g, &[x]), vec![3.5, 0.0, 3.5, 0.0]);
}

#[test]
fn operators_compute_what_they_say() {
    let g = trace(
        "f",
        &[("a", f32_ty(&[3])), ("b", f32_ty(&[3]))],
        |_, ins| {
            let (a, b) = (&ins[0], &ins[1]);
            let r = ((a + b)? * 2.0)?;
            let r = (1.0 - &r)?;
            let r = (&r / b)?;
            Ok(vec![-&r])
        },
    )
    .unwrap();
    let a = Tensor::from_vec(&[3], vec![1.0f32, 2.0, -1.0]).unwrap();
    let b = Tensor::from_vec(&[3], vec![1.0f32, -2.0, 4.0]).unwrap();
    // -(1 - 2(a+b)) / b
    assert_eq!(run1(&g, &[a, b]), vec![3.0, 0.5, 1.25]);
}

#[test]
fn broadcast_errors_name_both_shapes() {
    trace(
        "f",
        &[("a", f32_ty(&[2, 3])), ("b", f32_ty(&[4]))],
        |_, ins| {
            let msg = (&ins[0] + &ins[1]).unwrap_err().to_string();
            assert!(msg.contains("do not broadcast"), "{msg}");
            Ok(vec![])
        },
    )
    .unwrap();
}

#[test]
fn movement_and_reduction_methods() {
    let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 2.into(), 3.into()]);
    let g = trace("f", &[("x", x_ty)], |tr, ins| {
        let x = &ins[0];
        let flat = x.reshape(&[Dim::var("batch"), 6.into()])?;
        let t = x.transpose(&[0, 2, 1])?.reshape(&[-1i64, 6])?;
        let both = tr.concat(&[&flat, &t], 1)?;
        let s = both.slice(&[1], &[3], &[1], &[])?.softmax(-1)?;
        let m = x.reduce_mean(&[1, 2], false)?;
        let scale = tr.constant(Tensor::from_vec(&[3], vec![1.0f32; 3])?);
        let ln = x.layer_norm(&scale, None, -1, 1e-5)?;
        Ok(vec![s, m, ln.clip(-0.5, 0.5)?])
    })
    .unwrap();
    let b = Dim::var("batch");
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![b.clone(), 2.into()]);
    assert_eq!(g.ty(g.outputs()[1]).shape, vec![b.clone()]);
    let x = ramp(&[1, 2, 3]);
    let out = crate::interp::run(&g, &[x]).unwrap();
    assert_eq!(out[1].to_f64s(), vec![-0.375]);
    let sm = out[0].to_f64s();
    assert!((sm[0] + sm[1] - 1.0).abs() < 1e-6, "{sm:?}");
}
