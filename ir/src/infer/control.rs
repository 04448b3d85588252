//! Result types for constants, control flow (If, Loop) and fused kernels
//! (whose results are the body's declared output types).

use super::{arity, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::graph::Graph;
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    match op {
        Op::Const { value } => {
            arity(op, inputs, 0, 0)?;
            Ok(vec![value.ty()])
        }
        Op::If {
            then_branch,
            else_branch,
        } => {
            arity(op, inputs, 1, usize::MAX)?;
            check_cond(op, inputs[0].ty, "condition")?;
            let caps = &inputs[1..];
            for (which, b) in [("then", then_branch), ("else", else_branch)] {
                check_branch_inputs(op, which, b, caps.iter().map(|i| i.ty))?;
            }
            let (t, e) = (output_types(then_branch), output_types(else_branch));
            if t.len() != e.len() {
                return Err(invalid(
                    op,
                    format!(
                        "then branch returns {} value(s), else branch {}",
                        t.len(),
                        e.len()
                    ),
                ));
            }
            t.iter()
                .zip(&e)
                .enumerate()
                .map(|(i, (a, b))| {
                    merge(a, b).ok_or_else(|| {
                        invalid(
                            op,
                            format!("result {i}: then branch gives {a}, else branch {b}"),
                        )
                    })
                })
                .collect()
        }
        Op::Loop { body, num_carried } => {
            arity(op, inputs, 2, usize::MAX)?;
            let n = usize::try_from(*num_carried)
                .ok()
                .filter(|&n| n + 2 <= inputs.len())
                .ok_or_else(|| {
                    invalid(
                        op,
                        format!(
                            "num_carried = {num_carried} does not fit {} operands",
                            inputs.len()
                        ),
                    )
                })?;
            let trip = inputs[0].ty;
            if trip.dtype != DType::I64 || trip.known_numel() != Some(1) {
                return Err(invalid(
                    op,
                    format!("trip count must be one i64, not {trip}"),
                ));
            }
            check_cond(op, inputs[1].ty, "condition")?;
            let mut body_in = vec![
                TensorType::scalar(DType::I64),
                TensorType::scalar(DType::Bool),
            ];
            body_in.extend(inputs[2..].iter().map(|i| i.ty.clone()));
            check_branch_inputs(op, "body", body, body_in.iter())?;
            let outs = output_types(body);
            if outs.len() < 1 + n {
                return Err(invalid(
                    op,
                    format!(
                        "body returns {} value(s); needs a condition and {n} carried",
                        outs.len()
                    ),
                ));
            }
            check_cond(op, &outs[0], "body's condition result")?;
            let mut res = Vec::new();
            for (i, t) in outs[1..=n].iter().enumerate() {
                let init = inputs[2 + i].ty;
                res.push(merge(init, t).ok_or_else(|| {
                    invalid(
                        op,
                        format!("carried value {i} starts as {init} but the body returns {t}"),
                    )
                })?);
            }
            for t in &outs[1 + n..] {
                let mut shape = vec![Dim::Unknown];
                shape.extend(t.shape.iter().cloned());
                res.push(TensorType::new(t.dtype, shape));
            }
            Ok(res)
        }
        Op::Fused { body, .. } => {
            check_branch_inputs(op, "body", body, inputs.iter().map(|i| i.ty))?;
            Ok(output_types(body))
        }
        _ => unreachable!("{} is not a control op", op.name()),
    }
}

fn check_cond(op: &Op, ty: &TensorType, what: &str) -> Result<(), InferError> {
    if ty.dtype != DType::Bool || ty.known_numel().is_some_and(|n| n != 1) {
        return Err(invalid(
            op,
            format!("{what} must be a single bool, not {ty}"),
        ));
    }
    Ok(())
}

fn check_branch_inputs<'a>(
    op: &Op,
    which: &str,
    g: &Graph,
    given: impl ExactSizeIterator<Item = &'a TensorType>,
) -> Result<(), InferError> {
    if g.inputs().len() != given.len() {
        return Err(invalid(
            op,
            format!(
                "{which} graph takes {} input(s) but {} are passed",
                g.inputs().len(),
                given.len()
            ),
        ));
    }
    for (i, (&v, t)) in g.inputs().iter().zip(given).enumerate() {
        let want = g.ty(v);
        if want.dtype != t.dtype || want.rank() != t.rank() {
            return Err(invalid(
                op,
                format!("{which} graph input {i} is {want} but {t} is passed"),
            ));
        }
    }
    Ok(())
}

fn output_types(g: &Graph) -> Vec<TensorType> {
    g.outputs().iter().map(|&v| g.ty(v).clone()).collect()
}

/// The type covering both `a` and `b` (dims that differ become unknown), or
/// `None` if dtype or rank differ.
fn merge(a: &TensorType, b: &TensorType) -> Option<TensorType> {
    if a.dtype != b.dtype || a.rank() != b.rank() {
        return None;
    }
    let shape: Vec<Dim> = a
        .shape
        .iter()
        .zip(&b.shape)
        .map(|(x, y)| if x == y { x.clone() } else { Dim::Unknown })
        .collect();
    Some(TensorType::new(a.dtype, shape))
}
