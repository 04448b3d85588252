//! Result types for the reduce ops: `reduce_*`, `arg_max`/`arg_min`, the
//! softmax family, `cum_sum` and `top_k`.
//!
//! Assumptions: axes follow ONNX (negative counts from the end); an empty
//! `axes` on a `reduce_*` op means "every axis" (the importer has already
//! turned ONNX's `noop_with_empty_axes=1` into `identity`).
//! Guarantees: unreduced dims are carried over unchanged (symbolic ones stay
//! symbolic); reduced dims become 1 (`keepdims`) or vanish. The dtype rules
//! here are the only ones: the interpreter validates its operands by calling
//! this function, so the two cannot disagree.

use super::{arity, invalid, norm_axis, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    match op {
        Op::ReduceSum { axes, keepdims }
        | Op::ReduceMean { axes, keepdims }
        | Op::ReduceMax { axes, keepdims }
        | Op::ReduceMin { axes, keepdims }
        | Op::ReduceProd { axes, keepdims }
        | Op::ReduceL1 { axes, keepdims }
        | Op::ReduceL2 { axes, keepdims }
        | Op::ReduceLogSum { axes, keepdims }
        | Op::ReduceLogSumExp { axes, keepdims }
        | Op::ReduceSumSquare { axes, keepdims } => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            check_dtype(op, x, reduce_dtype_ok(op, x.dtype), reduce_dtypes(op))?;
            let mask = reduced_axes(axes, x.rank()).map_err(|m| invalid(op, m))?;
            Ok(vec![x.with_shape(reduced_shape(&x.shape, &mask, *keepdims))])
        }
        Op::ArgMax { axis, keepdims, .. } | Op::ArgMin { axis, keepdims, .. } => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            check_dtype(op, x, x.dtype.is_numeric(), "a numeric")?;
            let a = axis_of(op, *axis, x)?;
            let mask: Vec<bool> = (0..x.rank()).map(|i| i == a).collect();
            Ok(vec![TensorType::new(
                DType::I64,
                reduced_shape(&x.shape, &mask, *keepdims),
            )])
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } | Op::Hardmax { axis } => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            check_dtype(op, x, x.dtype.is_float(), "a float")?;
            axis_of(op, *axis, x)?;
            Ok(vec![x.clone()])
        }
        Op::CumSum { .. } => {
            arity(op, inputs, 2, 2)?;
            let x = inputs[0].ty;
            check_dtype(op, x, x.dtype.is_numeric(), "a numeric")?;
            let ax = inputs[1].ty;
            if !matches!(ax.dtype, DType::I32 | DType::I64) || !single_element(ax) {
                return Err(invalid(
                    op,
                    format!("axis operand must be one i32 or i64 element, not {ax}"),
                ));
            }
            // The result shape does not depend on the axis, but a known one
            // must still be in range.
            if let Some(&a) = inputs[1]
                .konst
                .map(|t| t.to_i64s())
                .as_deref()
                .and_then(|v| v.first())
            {
                axis_of(op, a, x)?;
            } else if x.rank() == 0 {
                return Err(invalid(
                    op,
                    "operand is a scalar; it has no axis to sum along",
                ));
            }
            Ok(vec![x.clone()])
        }
        Op::TopK { axis, .. } => {
            arity(op, inputs, 2, 2)?;
            let x = inputs[0].ty;
            check_dtype(op, x, x.dtype.is_numeric(), "a numeric")?;
            let a = axis_of(op, *axis, x)?;
            let kt = inputs[1].ty;
            if kt.dtype != DType::I64 || !single_element(kt) {
                return Err(invalid(op, format!("k must be one i64 element, not {kt}")));
            }
            let k = known_k(&inputs[1]);
            if let Some(kv) = k.as_known() {
                if kv < 0 {
                    return Err(invalid(op, format!("k = {kv} is negative")));
                }
                if let Some(n) = x.shape[a].as_known() {
                    if kv > n {
                        return Err(invalid(
                            op,
                            format!("k = {kv} exceeds axis {a} of {x} ({n} elements)"),
                        ));
                    }
                }
            }
            let mut shape = x.shape.clone();
            shape[a] = k;
            Ok(vec![
                x.with_shape(shape.clone()),
                TensorType::new(DType::I64, shape),
            ])
        }
        _ => unreachable!("{} is not a reduce op", op.name()),
    }
}

/// Which axes a `reduce_*` op reduces: a mask over `rank` axes. Empty `axes`
/// means all of them; out-of-range or repeated axes are errors.
pub(super) fn reduced_axes(axes: &[i64], rank: usize) -> Result<Vec<bool>, String> {
    if axes.is_empty() {
        return Ok(vec![true; rank]);
    }
    let mut mask = vec![false; rank];
    for &a in axes {
        let n = norm_axis(a, rank)?;
        if mask[n] {
            return Err(format!("axis {a} is listed twice in axes {axes:?}"));
        }
        mask[n] = true;
    }
    Ok(mask)
}

/// `shape` with the masked axes set to 1 (`keepdims`) or removed.
fn reduced_shape(shape: &[Dim], mask: &[bool], keepdims: bool) -> Vec<Dim> {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(d, &m)| match (m, keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Known(1)),
            (true, false) => None,
        })
        .collect()
}

/// ONNX's newest opset drops integers from LogSum/LogSumExp (they are defined
/// by Exp and Log); Max/Min also take bool. The others take every numeric type
/// (ONNX lists only i32/i64 among ours, but the wrapping semantics are the
/// same for every width, so accepting i8/u8/i16 costs nothing).
fn reduce_dtype_ok(op: &Op, d: DType) -> bool {
    match op {
        Op::ReduceLogSum { .. } | Op::ReduceLogSumExp { .. } => d.is_float(),
        Op::ReduceMax { .. } | Op::ReduceMin { .. } => d.is_numeric() || d == DType::Bool,
        _ => d.is_numeric(),
    }
}

fn reduce_dtypes(op: &Op) -> &'static str {
    match op {
        Op::ReduceLogSum { .. } | Op::ReduceLogSumExp { .. } => "a float",
        Op::ReduceMax { .. } | Op::ReduceMin { .. } => "a numeric or bool",
        _ => "a numeric",
    }
}

fn check_dtype(op: &Op, x: &TensorType, ok: bool, what: &str) -> Result<(), InferError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!("operand must be {what} tensor, not {x}"),
        ))
    }
}

fn axis_of(op: &Op, axis: i64, x: &TensorType) -> Result<usize, InferError> {
    norm_axis(axis, x.rank()).map_err(|m| invalid(op, format!("{m} (operand {x})")))
}

/// Rank 0, or rank 1 with a dim that may be 1.
fn single_element(t: &TensorType) -> bool {
    match t.shape.as_slice() {
        [] => true,
        [d] => d.compatible(&Dim::Known(1)),
        _ => false,
    }
}

/// TopK's k as a dim: from the operand's known elements, else unknown.
fn known_k(k: &InferInput) -> Dim {
    if let Some([d]) = k.dims {
        return d.clone();
    }
    match k.konst.map(|t| t.to_i64s()).as_deref() {
        Some([v]) => Dim::Known(*v),
        _ => Dim::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn ty(d: DType, dims: &[Dim]) -> TensorType {
        TensorType::new(d, dims.iter().cloned())
    }

    fn one(op: &Op, t: &TensorType) -> Result<TensorType, InferError> {
        infer(op, &[InferInput::of_type(t)]).map(|mut v| v.remove(0))
    }

    #[test]
    fn reduce_keeps_symbolic_dims() {
        let b = Dim::var("batch");
        let x = ty(DType::F32, &[b.clone(), 3.into(), 4.into()]);
        let op = Op::ReduceSum {
            axes: vec![-1],
            keepdims: false,
        };
        assert_eq!(
            one(&op, &x).unwrap(),
            ty(DType::F32, &[b.clone(), 3.into()])
        );
        let op = Op::ReduceMean {
            axes: vec![0, 2],
            keepdims: true,
        };
        assert_eq!(
            one(&op, &x).unwrap(),
            ty(DType::F32, &[1.into(), 3.into(), 1.into()])
        );
        // Empty axes reduce everything.
        let op = Op::ReduceMax {
            axes: vec![],
            keepdims: false,
        };
        assert_eq!(one(&op, &x).unwrap(), ty(DType::F32, &[]));
        let op = Op::ReduceMax {
            axes: vec![],
            keepdims: true,
        };
        assert_eq!(
            one(&op, &x).unwrap(),
            ty(DType::F32, &[1.into(), 1.into(), 1.into()])
        );
    }

    #[test]
    fn reduce_rejects_bad_axes_and_dtypes() {
        let x = ty(DType::F32, &[2.into(), 3.into()]);
        let dup = Op::ReduceSum {
            axes: vec![1, -1],
            keepdims: true,
        };
        assert!(one(&dup, &x).unwrap_err().to_string().contains("twice"));
        let out = Op::ReduceSum {
            axes: vec![2],
            keepdims: true,
        };
        assert!(one(&out, &x)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let i = ty(DType::I32, &[2.into()]);
        let lse = Op::ReduceLogSumExp {
            axes: vec![],
            keepdims: true,
        };
        assert!(one(&lse, &i).unwrap_err().to_string().contains("float"));
        let b = ty(DType::Bool, &[2.into()]);
        let sum = Op::ReduceSum {
            axes: vec![],
            keepdims: true,
        };
        assert!(one(&sum, &b).is_err());
        let max = Op::ReduceMax {
            axes: vec![],
            keepdims: true,
        };
        assert_eq!(one(&max, &b).unwrap(), ty(DType::Bool, &[1.into()]));
        assert!(one(&sum, &i).is_ok());
    }

    #[test]
    fn arg_and_softmax() {
        let s = Dim::var("s");
        let x = ty(DType::F16, &[2.into(), s.clone()]);
        let op = Op::ArgMax {
            axis: -1,
            keepdims: false,
            select_last_index: false,
        };
        assert_eq!(one(&op, &x).unwrap(), ty(DType::I64, &[2.into()]));
        let op = Op::ArgMin {
            axis: 0,
            keepdims: true,
            select_last_index: true,
        };
        assert_eq!(one(&op, &x).unwrap(), ty(DType::I64, &[1.into(), s]));
        assert_eq!(one(&Op::Softmax { axis: 1 }, &x).unwrap(), x);
        assert!(one(&Op::Softmax { axis: 2 }, &x).is_err());
        let i = ty(DType::I32, &[3.into()]);
        assert!(one(&Op::Hardmax { axis: 0 }, &i).is_err());
        let scalar = ty(DType::F32, &[]);
        assert!(one(&Op::LogSoftmax { axis: 0 }, &scalar).is_err());
    }

    #[test]
    fn cum_sum_checks_axis_operand() {
        let x = ty(DType::I64, &[Dim::var("n"), 3.into()]);
        let op = Op::CumSum {
            exclusive: false,
            reverse: true,
        };
        let a = ty(DType::I32, &[]);
        let r = infer(&op, &[InferInput::of_type(&x), InferInput::of_type(&a)]).unwrap();
        assert_eq!(r, vec![x.clone()]);
        let bad = ty(DType::I64, &[2.into()]);
        assert!(infer(&op, &[InferInput::of_type(&x), InferInput::of_type(&bad)]).is_err());
        let k = Tensor::scalar(5i64);
        let kty = k.ty();
        let kin = InferInput {
            ty: &kty,
            konst: Some(&k),
            dims: None,
        };
        let e = infer(&op, &[InferInput::of_type(&x), kin]).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn top_k_reads_k() {
        let x = ty(DType::F32, &[Dim::var("b"), 10.into()]);
        let op = Op::TopK {
            axis: -1,
            largest: true,
            sorted: true,
        };
        let kty = ty(DType::I64, &[1.into()]);
        // Unknown k.
        let r = infer(&op, &[InferInput::of_type(&x), InferInput::of_type(&kty)]).unwrap();
        assert_eq!(r[0], ty(DType::F32, &[Dim::var("b"), Dim::Unknown]));
        assert_eq!(r[1], ty(DType::I64, &[Dim::var("b"), Dim::Unknown]));
        // Known k, from a constant.
        let k = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        let kin = InferInput {
            ty: &kty,
            konst: Some(&k),
            dims: None,
        };
        let r = infer(&op, &[InferInput::of_type(&x), kin]).unwrap();
        assert_eq!(r[0], ty(DType::F32, &[Dim::var("b"), 3.into()]));
        // Symbolic k, from shape arithmetic.
        let dims = [Dim::var("m")];
        let kin = InferInput {
            ty: &kty,
            konst: None,
            dims: Some(&dims),
        };
        let r = infer(&op, &[InferInput::of_type(&x), kin]).unwrap();
        assert_eq!(r[1], ty(DType::I64, &[Dim::var("b"), Dim::var("m")]));
        // Too large and negative k.
        for v in [11i64, -1] {
            let k = Tensor::from_vec(&[1], vec![v]).unwrap();
            let kin = InferInput {
                ty: &kty,
                konst: Some(&k),
                dims: None,
            };
            assert!(infer(&op, &[InferInput::of_type(&x), kin]).is_err());
        }
        let k32 = ty(DType::I32, &[1.into()]);
        assert!(infer(&op, &[InferInput::of_type(&x), InferInput::of_type(&k32)]).is_err());
    }
}
