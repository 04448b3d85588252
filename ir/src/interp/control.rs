//! Semantics of constants and control flow.
//!
//! - `const`: its tensor.
//! - `if %cond, %caps...`: runs `then_branch` (cond true) or `else_branch` on
//!   the captures; only the taken branch runs.
//! - `loop %max_trip, %cond, %carried..., %caps...`: while `i < max_trip` and
//!   `cond`, runs the body on `(i, cond, carried..., caps...)`, which returns
//!   `(cond, carried..., scan...)`; scan outputs are stacked along a new
//!   leading axis. A body whose scan outputs change shape between iterations
//!   is an error.
//! - `fused %inputs...`: runs the body on the operands; its outputs are the
//!   results (a fused kernel computes exactly what its body does).

use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    match op {
        Op::Const { value } => Ok(vec![value.clone()]),
        Op::If {
            then_branch,
            else_branch,
        } => {
            let cond = single_bool(inputs.first().copied(), "condition")?;
            let branch = if cond { then_branch } else { else_branch };
            let caps: Vec<Tensor> = inputs[1..].iter().map(|&t| t.clone()).collect();
            super::run(branch, &caps)
                .map_err(|e| format!("in {} branch: {e}", if cond { "then" } else { "else" }))
        }
        Op::Loop { body, num_carried } => {
            let n = *num_carried as usize;
            if inputs.len() < 2 + n {
                return Err(format!("needs {} operands, has {}", 2 + n, inputs.len()));
            }
            let max_trip = inputs[0]
                .to_i64s()
                .first()
                .copied()
                .ok_or("empty trip count")?;
            let mut cond = single_bool(Some(inputs[1]), "condition")?;
            let mut carried: Vec<Tensor> = inputs[2..2 + n].iter().map(|&t| t.clone()).collect();
            let caps: Vec<Tensor> = inputs[2 + n..].iter().map(|&t| t.clone()).collect();
            let n_scan = body.outputs().len().saturating_sub(1 + n);
            let mut scans: Vec<Vec<Tensor>> = vec![vec![]; n_scan];
            let mut i = 0i64;
            while i < max_trip && cond {
                let mut args = vec![
                    Tensor::scalar(i),
                    Tensor::from_bools(&[], &[cond]).expect("scalar"),
                ];
                args.extend(carried.iter().cloned());
                args.extend(caps.iter().cloned());
                let outs = super::run(body, &args).map_err(|e| format!("in iteration {i}: {e}"))?;
                cond = single_bool(outs.first(), "body's condition")?;
                carried = outs[1..1 + n].to_vec();
                for (k, t) in outs[1 + n..].iter().enumerate() {
                    scans[k].push(t.clone());
                }
                i += 1;
            }
            let mut res = carried;
            for (k, parts) in scans.into_iter().enumerate() {
                res.push(stack(&parts, body, 1 + n + k)?);
            }
            Ok(res)
        }
        Op::Fused { body, .. } => {
            let args: Vec<Tensor> = inputs.iter().map(|&t| t.clone()).collect();
            super::run(body, &args).map_err(|e| format!("in fused body: {e}"))
        }
        _ => unreachable!("{} is not a control op", op.name()),
    }
}

fn single_bool(t: Option<&Tensor>, what: &str) -> Result<bool, String> {
    let t = t.ok_or_else(|| format!("missing {what}"))?;
    match t.to_bools().as_slice() {
        [b] => Ok(*b),
        v => Err(format!("{what} must hold one element, holds {}", v.len())),
    }
}

/// Stack equally shaped tensors along a new leading axis. With no parts, the
/// result has zero rows and the body's declared element shape (when static).
fn stack(parts: &[Tensor], body: &crate::Graph, out: usize) -> Result<Tensor, String> {
    let Some(first) = parts.first() else {
        let ty = body.ty(body.outputs()[out]);
        let mut shape = vec![0];
        shape.extend(
            ty.known_dims()
                .ok_or("scan output of an empty loop has a symbolic shape")?,
        );
        return Tensor::zeros(ty.dtype, &shape).map_err(|e| e.to_string());
    };
    let mut bytes = Vec::with_capacity(first.bytes().len() * parts.len());
    for p in parts {
        if p.shape() != first.shape() || p.dtype() != first.dtype() {
            return Err(format!(
                "scan output changes from {:?} to {:?} between iterations",
                first.shape(),
                p.shape()
            ));
        }
        bytes.extend_from_slice(p.bytes());
    }
    let mut shape = vec![parts.len()];
    shape.extend_from_slice(first.shape());
    Tensor::from_bytes(first.dtype(), &shape, &bytes).map_err(|e| e.to_string())
}
