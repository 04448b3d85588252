//! Result types for the contraction ops: MatMul, Gemm, Conv, ConvTranspose,
//! Einsum (semantics in `interp/contraction`).
//!
//! Operands of one op share one dtype: any numeric type for MatMul, Gemm and
//! Einsum, a float type for Conv and ConvTranspose. Symbolic dims flow
//! through (`Dim` arithmetic for windows); a size that can only be checked at
//! run time (two different symbolic dims) is assumed right and checked by the
//! interpreter. The window and einsum rules live in `window.rs` and
//! `einsum_eq.rs`, shared with the interpreter.

pub(crate) mod einsum_eq;
pub(crate) mod window;

use super::{arity, broadcast, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::{ShapeDisplay, TensorType};
use window::ConvAttrs;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let err = |m: String| invalid(op, m);
    match op {
        Op::MatMul => {
            arity(op, inputs, 2, 2)?;
            let dt = same_dtype(op, inputs, DType::is_numeric, "a numeric type")?;
            let shape = matmul_shape(&inputs[0].ty.shape, &inputs[1].ty.shape).map_err(err)?;
            Ok(vec![TensorType::new(dt, shape)])
        }
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            arity(op, inputs, 2, 3)?;
            let dt = same_dtype(op, inputs, DType::is_numeric, "a numeric type")?;
            if dt.is_int() && (alpha.fract() != 0.0 || beta.fract() != 0.0) {
                return Err(err(format!(
                    "alpha = {alpha} and beta = {beta} must be integers for {dt} operands"
                )));
            }
            let c = inputs.get(2).map(|c| c.ty.shape.as_slice());
            let shape = gemm_shape(
                &inputs[0].ty.shape,
                &inputs[1].ty.shape,
                c,
                *trans_a,
                *trans_b,
            )
            .map_err(err)?;
            Ok(vec![TensorType::new(dt, shape)])
        }
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            arity(op, inputs, 2, 3)?;
            let dt = same_dtype(op, inputs, DType::is_float, "a float type")?;
            let a = ConvAttrs {
                strides,
                pads,
                dilations,
                group: *group,
                auto_pad: *auto_pad,
            };
            let (x, w, b) = conv_operands(inputs);
            let g = window::conv_geometry(x, w, b, a).map_err(err)?;
            Ok(vec![TensorType::new(dt, g.shape)])
        }
        Op::ConvTranspose {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
            output_padding,
            output_shape,
        } => {
            arity(op, inputs, 2, 3)?;
            let dt = same_dtype(op, inputs, DType::is_float, "a float type")?;
            let a = ConvAttrs {
                strides,
                pads,
                dilations,
                group: *group,
                auto_pad: *auto_pad,
            };
            let (x, w, b) = conv_operands(inputs);
            let g = window::conv_transpose_geometry(x, w, b, a, output_padding, output_shape)
                .map_err(err)?;
            Ok(vec![TensorType::new(dt, g.shape)])
        }
        Op::Einsum { equation } => {
            arity(op, inputs, 1, usize::MAX)?;
            let dt = same_dtype(op, inputs, DType::is_numeric, "a numeric type")?;
            let ranks: Vec<usize> = inputs.iter().map(|i| i.ty.rank()).collect();
            let plan = einsum_eq::plan(equation, &ranks).map_err(err)?;
            let shapes: Vec<&[Dim]> = inputs.iter().map(|i| i.ty.shape.as_slice()).collect();
            let dims = plan.label_dims(&shapes).map_err(err)?;
            let shape = plan.output.iter().map(|&l| dims[l].clone());
            Ok(vec![TensorType::new(dt, shape)])
        }
        _ => unreachable!("{} is not a contraction op", op.name()),
    }
}

/// Every operand has the same dtype, and it satisfies `ok`.
fn same_dtype(
    op: &Op,
    inputs: &[InferInput],
    ok: fn(DType) -> bool,
    what: &str,
) -> Result<DType, InferError> {
    let dt = inputs[0].ty.dtype;
    if let Some((i, o)) = inputs.iter().enumerate().find(|(_, o)| o.ty.dtype != dt) {
        return Err(invalid(
            op,
            format!(
                "operand {i} is {} but operand 0 is {}; operands must share a dtype",
                o.ty, inputs[0].ty
            ),
        ));
    }
    if !ok(dt) {
        return Err(invalid(op, format!("operands are {dt}; expected {what}")));
    }
    Ok(dt)
}

fn conv_operands<'a>(inputs: &'a [InferInput]) -> (&'a [Dim], &'a [Dim], Option<&'a [Dim]>) {
    (
        &inputs[0].ty.shape,
        &inputs[1].ty.shape,
        inputs.get(2).map(|b| b.ty.shape.as_slice()),
    )
}

/// Numpy matmul: a 1-D `a` is a row (`[1,K]`), a 1-D `b` a column (`[K,1]`),
/// the added axis removed from the result; leading axes broadcast.
pub(crate) fn matmul_shape(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    if a.is_empty() || b.is_empty() {
        return Err(format!(
            "operands {} and {} must have rank >= 1",
            ShapeDisplay(a),
            ShapeDisplay(b)
        ));
    }
    let (ra, rb) = (a.len(), b.len());
    let ka = &a[ra - 1];
    let kb = if rb == 1 { &b[0] } else { &b[rb - 2] };
    if !ka.compatible(kb) {
        return Err(format!(
            "inner dims differ: {} and {} ({ka} vs {kb})",
            ShapeDisplay(a),
            ShapeDisplay(b)
        ));
    }
    let batch_a = &a[..ra.saturating_sub(2)];
    let batch_b = &b[..rb.saturating_sub(2)];
    let mut out = broadcast(batch_a, batch_b).map_err(|e| format!("batch dims: {e}"))?;
    if ra >= 2 {
        out.push(a[ra - 2].clone());
    }
    if rb >= 2 {
        out.push(b[rb - 1].clone());
    }
    Ok(out)
}

/// Gemm: `a` and `b` rank 2 (transposed as asked); `c` broadcasts one way
/// to `[M, N]`.
fn gemm_shape(
    a: &[Dim],
    b: &[Dim],
    c: Option<&[Dim]>,
    trans_a: bool,
    trans_b: bool,
) -> Result<Vec<Dim>, String> {
    if a.len() != 2 || b.len() != 2 {
        return Err(format!(
            "a {} and b {} must have rank 2",
            ShapeDisplay(a),
            ShapeDisplay(b)
        ));
    }
    let (m, ka) = if trans_a {
        (&a[1], &a[0])
    } else {
        (&a[0], &a[1])
    };
    let (kb, n) = if trans_b {
        (&b[1], &b[0])
    } else {
        (&b[0], &b[1])
    };
    if !ka.compatible(kb) {
        return Err(format!(
            "inner dims differ: a {} (trans_a={trans_a}) and b {} (trans_b={trans_b}): {ka} vs {kb}",
            ShapeDisplay(a),
            ShapeDisplay(b)
        ));
    }
    let out = vec![m.clone(), n.clone()];
    if let Some(c) = c {
        let ok = c.len() <= 2
            && c.iter()
                .zip(&out[2 - c.len()..])
                .all(|(dc, d)| *dc == Dim::Known(1) || dc.compatible(d));
        if !ok {
            return Err(format!(
                "c {} does not broadcast to the result [{m},{n}]",
                ShapeDisplay(c)
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::AutoPad;

    fn ty(dt: DType, dims: &[Dim]) -> TensorType {
        TensorType::new(dt, dims.iter().cloned())
    }

    fn run(op: &Op, tys: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
        let ins: Vec<InferInput> = tys.iter().map(InferInput::of_type).collect();
        infer(op, &ins)
    }

    fn f32s(dims: &[i64]) -> TensorType {
        TensorType::new(DType::F32, dims.iter().map(|&d| Dim::Known(d)))
    }

    fn conv(strides: &[i64], pads: &[i64], dil: &[i64], group: i64, auto_pad: AutoPad) -> Op {
        Op::Conv {
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dil.to_vec(),
            group,
            auto_pad,
        }
    }

    fn msg(e: InferError) -> String {
        e.to_string()
    }

    #[test]
    fn matmul_one_d_and_batch() {
        let b = Dim::var("batch");
        let cases: &[(&[i64], &[i64], &[i64])] = &[
            (&[3], &[3], &[]),
            (&[3], &[3, 4], &[4]),
            (&[2, 3], &[3], &[2]),
            (&[5, 1, 2, 3], &[4, 3, 6], &[5, 4, 2, 6]),
            (&[3], &[7, 3, 4], &[7, 4]),
        ];
        for (a, bb, want) in cases {
            let r = run(&Op::MatMul, &[f32s(a), f32s(bb)]).unwrap();
            assert_eq!(r, vec![f32s(want)], "{a:?} @ {bb:?}");
        }
        let x = ty(DType::I32, &[b.clone(), 784.into()]);
        let w = ty(DType::I32, &[784.into(), 10.into()]);
        assert_eq!(
            run(&Op::MatMul, &[x, w]).unwrap()[0].to_string(),
            "i32[batch,10]"
        );
        let e = msg(run(&Op::MatMul, &[f32s(&[2, 3]), f32s(&[4, 5])]).unwrap_err());
        assert!(e.contains("[2,3]") && e.contains("[4,5]"), "{e}");
        assert!(run(&Op::MatMul, &[f32s(&[]), f32s(&[3])]).is_err());
        let e = msg(run(&Op::MatMul, &[f32s(&[3]), ty(DType::I64, &[3.into()])]).unwrap_err());
        assert!(e.contains("share a dtype"), "{e}");
    }

    #[test]
    fn gemm_shapes() {
        let g = |ta, tb| Op::Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: ta,
            trans_b: tb,
        };
        let r = run(&g(true, true), &[f32s(&[3, 2]), f32s(&[4, 3]), f32s(&[4])]).unwrap();
        assert_eq!(r, vec![f32s(&[2, 4])]);
        assert!(run(
            &g(false, false),
            &[f32s(&[2, 3]), f32s(&[3, 4]), f32s(&[2, 1])]
        )
        .is_ok());
        let e = msg(run(
            &g(false, false),
            &[f32s(&[2, 3]), f32s(&[3, 4]), f32s(&[3])],
        )
        .unwrap_err());
        assert!(e.contains("does not broadcast"), "{e}");
        assert!(run(&g(false, false), &[f32s(&[2, 3]), f32s(&[2, 4])]).is_err());
        let i = TensorType::fixed(DType::I32, &[2, 2]);
        let half = Op::Gemm {
            alpha: 0.5,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        assert!(msg(run(&half, &[i.clone(), i.clone()]).unwrap_err()).contains("integers"));
        assert!(run(&g(false, false), &[i.clone(), i]).is_ok());
    }

    #[test]
    fn conv_shapes_and_errors() {
        let x = f32s(&[1, 4, 7, 9]);
        let w = f32s(&[6, 2, 3, 3]);
        let op = conv(&[2, 2], &[1, 0, 1, 2], &[1, 2], 2, AutoPad::NotSet);
        // h: floor((7+2-3)/2)+1 = 4; w: span 5, floor((9+2-5)/2)+1 = 4.
        assert_eq!(
            run(&op, &[x.clone(), w.clone()]).unwrap(),
            vec![f32s(&[1, 6, 4, 4])]
        );
        let e = msg(run(
            &conv(&[], &[], &[], 1, AutoPad::NotSet),
            &[x.clone(), w.clone()],
        )
        .unwrap_err());
        assert!(e.contains("4 channels") && e.contains("[6,2,3,3]"), "{e}");
        let e = msg(run(
            &conv(&[], &[], &[], 4, AutoPad::NotSet),
            &[f32s(&[1, 8, 5, 5]), w.clone()],
        )
        .unwrap_err());
        assert!(e.contains("not divisible by group 4"), "{e}");
        let e = msg(run(
            &conv(&[], &[], &[], 2, AutoPad::NotSet),
            &[f32s(&[1, 4, 2, 9]), w.clone()],
        )
        .unwrap_err());
        assert!(e.contains("padded input is only 2"), "{e}");
        let e = msg(run(&op, &[f32s(&[1, 4, 7]), w.clone()]).unwrap_err());
        assert!(e.contains("rank"), "{e}");
        let e = msg(run(&op, &[x.clone(), w.clone(), f32s(&[5])]).unwrap_err());
        assert!(e.contains("bias [5]"), "{e}");
        let e = msg(run(
            &conv(&[1, 1, 1], &[], &[], 2, AutoPad::NotSet),
            &[x.clone(), w.clone()],
        )
        .unwrap_err());
        assert!(e.contains("`strides`"), "{e}");
        let e = msg(run(
            &conv(&[], &[1, 1, 1, 1], &[], 2, AutoPad::SameUpper),
            &[x.clone(), w.clone()],
        )
        .unwrap_err());
        assert!(e.contains("auto_pad"), "{e}");
        let xi = ty(DType::I32, &[1.into(), 4.into(), 7.into(), 9.into()]);
        let wi = ty(DType::I32, &[6.into(), 2.into(), 3.into(), 3.into()]);
        assert!(msg(run(&op, &[xi, wi]).unwrap_err()).contains("float"));
    }

    #[test]
    fn conv_auto_pad_and_symbolic() {
        let (n, h) = (Dim::var("n"), Dim::var("h"));
        let x = ty(DType::F32, &[n.clone(), 3.into(), h.clone(), 10.into()]);
        let w = f32s(&[8, 3, 3, 3]);
        let same = conv(&[2, 2], &[], &[], 1, AutoPad::SameLower);
        let r = run(&same, &[x.clone(), w.clone()]).unwrap();
        assert_eq!(r[0].to_string(), "f32[n,8,ceil(h/2),5]");
        let valid = conv(&[2, 3], &[], &[], 1, AutoPad::Valid);
        let r = run(&valid, &[x.clone(), w.clone()]).unwrap();
        // h: floor((h-3)/2)+1; w: floor(7/3)+1 = 3.
        let want = Dim::var("h")
            .sub(&3.into())
            .floor_div(&2.into())
            .add(&1.into());
        assert_eq!(r[0].shape[2], want);
        assert_eq!(r[0].shape[3], Dim::Known(3));
        let pad = conv(&[1, 1], &[1, 1, 1, 1], &[], 1, AutoPad::NotSet);
        let r = run(&pad, &[x, w]).unwrap();
        assert_eq!(r[0].shape[2], h);
    }

    #[test]
    fn conv_transpose_shapes() {
        let ct =
            |strides: &[i64], pads: &[i64], auto_pad, op: &[i64], os: &[i64]| Op::ConvTranspose {
                strides: strides.to_vec(),
                pads: pads.to_vec(),
                dilations: vec![],
                group: 2,
                auto_pad,
                output_padding: op.to_vec(),
                output_shape: os.to_vec(),
            };
        let x = f32s(&[1, 4, 3, 3]);
        let w = f32s(&[4, 3, 3, 3]);
        // 2*(3-1) + 1 + 3 - 1 - 0 = 7; 2*2 + 0 + 3 - 1 - 1 = 5.
        let r = run(
            &ct(&[2, 2], &[1, 1, 0, 1], AutoPad::NotSet, &[1, 0], &[]),
            &[x.clone(), w.clone()],
        );
        assert_eq!(r.unwrap(), vec![f32s(&[1, 6, 7, 5])]);
        let r = run(
            &ct(&[2, 2], &[], AutoPad::SameUpper, &[], &[]),
            &[x.clone(), w.clone()],
        );
        assert_eq!(r.unwrap(), vec![f32s(&[1, 6, 6, 6])]);
        let r = run(
            &ct(&[2, 2], &[], AutoPad::NotSet, &[], &[1, 6, 8, 4]),
            &[x.clone(), w.clone()],
        );
        assert_eq!(r.unwrap(), vec![f32s(&[1, 6, 8, 4])]);
        let e = msg(run(
            &ct(&[], &[], AutoPad::NotSet, &[], &[]),
            &[f32s(&[1, 3, 3, 3]), w],
        )
        .unwrap_err());
        assert!(e.contains("3 channels"), "{e}");
    }

    #[test]
    fn einsum_shapes() {
        let e = |eq: &str| Op::Einsum {
            equation: eq.to_string(),
        };
        let b = Dim::var("b");
        let x = ty(DType::F32, &[b.clone(), 2.into(), 3.into()]);
        let y = f32s(&[3, 4]);
        let r = run(&e("...ij,jk->...ik"), &[x.clone(), y.clone()]).unwrap();
        assert_eq!(r[0].to_string(), "f32[b,2,4]");
        assert_eq!(
            run(&e("bij->"), std::slice::from_ref(&x)).unwrap()[0],
            ty(DType::F32, &[])
        );
        assert_eq!(
            run(&e("ij->ji"), std::slice::from_ref(&y)).unwrap()[0],
            f32s(&[4, 3])
        );
        let err = msg(run(&e("ij,ij"), &[y.clone(), f32s(&[4, 3])]).unwrap_err());
        assert!(err.contains("label `i`"), "{err}");
    }
}
