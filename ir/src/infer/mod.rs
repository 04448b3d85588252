//! Result types: the one function that computes an op's result types from its
//! operands' types (and, where the op reads them, operand *values* known at
//! compile time: constants, and integer vectors computed from shapes).
//!
//! One file per [`OpGroup`]; this file dispatches and holds the shared
//! helpers (broadcasting, axis normalization, arity checks).

pub(crate) mod contraction;
mod control;
mod dims;
mod elementwise;
mod movement;
mod normalize;
mod pool;
mod quant;
mod recurrent;
mod reduce;
mod signal;
mod vision;

use crate::dim::Dim;
use crate::graph::{Graph, Value};
use crate::op::{Op, OpGroup};
use crate::tensor::Tensor;
use crate::types::{ShapeDisplay, TensorType};

/// Why an op cannot be applied to these operands.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferError {
    #[error("`{op}` takes {expected} operand(s) but was given {given}")]
    Arity {
        op: &'static str,
        expected: String,
        given: usize,
    },
    #[error("`{op}`: {msg}")]
    Invalid { op: &'static str, msg: String },
}

/// What shape inference knows about one operand.
#[derive(Clone, Copy, Debug)]
pub struct InferInput<'a> {
    pub ty: &'a TensorType,
    /// The operand's value, when it is a constant.
    pub konst: Option<&'a Tensor>,
    /// The elements of a rank-0/1 integer operand, when known (possibly
    /// symbolic, e.g. the result of `shape %x` for `x: f32[batch,3]`).
    pub dims: Option<&'a [Dim]>,
}

impl<'a> InferInput<'a> {
    pub fn of_type(ty: &'a TensorType) -> InferInput<'a> {
        InferInput {
            ty,
            konst: None,
            dims: None,
        }
    }
}

/// The result types of `op` applied to `inputs`.
pub fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    match op.group() {
        OpGroup::Elementwise => elementwise::infer(op, inputs),
        OpGroup::Quant => quant::infer(op, inputs),
        OpGroup::Contraction => contraction::infer(op, inputs),
        OpGroup::Pool => pool::infer(op, inputs),
        OpGroup::Reduce => reduce::infer(op, inputs),
        OpGroup::Normalize => normalize::infer(op, inputs),
        OpGroup::Movement => movement::infer(op, inputs),
        OpGroup::Control => control::infer(op, inputs),
        OpGroup::Vision => vision::infer(op, inputs),
        OpGroup::Signal => signal::infer(op, inputs),
        OpGroup::Recurrent => recurrent::infer(op, inputs),
    }
}

pub use dims::{eval_dims, known_dims};

/// The integer contents of a constant rank-0/1 tensor, as dims.
pub fn const_dims(t: &Tensor) -> Option<Vec<Dim>> {
    (t.rank() <= 1 && t.dtype().is_int()).then(|| t.to_i64s().into_iter().map(Dim::Known).collect())
}

/// Result types of `op` on values of `g`, using what `g` knows about them
/// (constants and shape computations, see [`known_dims`]). Used by the builder.
pub fn infer_node(g: &Graph, op: &Op, inputs: &[Value]) -> Result<Vec<TensorType>, InferError> {
    if let Some(bad) = inputs.iter().find(|v| !g.contains_value(**v)) {
        return Err(invalid(
            op,
            format!("operand {bad} does not exist in this graph"),
        ));
    }
    let dims: Vec<Option<Vec<Dim>>> = inputs.iter().map(|&v| known_dims(g, v)).collect();
    let ins: Vec<InferInput> = inputs
        .iter()
        .zip(&dims)
        .map(|(&v, d)| InferInput {
            ty: g.ty(v),
            konst: g.const_value(v),
            dims: d.as_deref(),
        })
        .collect();
    infer(op, &ins)
}

// ---- Helpers shared by the group files -----------------------------------

pub(crate) fn invalid(op: &Op, msg: impl Into<String>) -> InferError {
    InferError::Invalid {
        op: op.name(),
        msg: msg.into(),
    }
}

/// Check that `inputs.len()` is within `min..=max`.
pub(crate) fn arity(
    op: &Op,
    inputs: &[InferInput],
    min: usize,
    max: usize,
) -> Result<(), InferError> {
    if inputs.len() < min || inputs.len() > max {
        let expected = if min == max {
            min.to_string()
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(InferError::Arity {
            op: op.name(),
            expected,
            given: inputs.len(),
        });
    }
    Ok(())
}

/// Numpy broadcasting of two shapes. A dim broadcasts against 1 and against
/// an equal dim; a symbolic dim against a known `k > 1` gives `k` (the
/// symbolic one must be 1 or `k` at run time, which the runtime checks); two
/// different symbolic dims give `?`, since either may be 1.
pub fn broadcast(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    let r = a.len().max(b.len());
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let da = if i + a.len() >= r {
            &a[i + a.len() - r]
        } else {
            &Dim::Known(1)
        };
        let db = if i + b.len() >= r {
            &b[i + b.len() - r]
        } else {
            &Dim::Known(1)
        };
        let d = match (da, db) {
            (Dim::Known(1), d) | (d, Dim::Known(1)) => d.clone(),
            (x, y) if x == y => x.clone(),
            (Dim::Known(x), Dim::Known(y)) => {
                return Err(format!(
                    "shapes {} and {} do not broadcast (axis {i}: {x} vs {y})",
                    ShapeDisplay(a),
                    ShapeDisplay(b)
                ))
            }
            // Whatever the other dim is at run time (1 or equal), the result
            // is the known one.
            (Dim::Known(k), _) | (_, Dim::Known(k)) => Dim::Known(*k),
            // Two different symbolic (or unknown) dims: either may be 1.
            _ => Dim::Unknown,
        };
        out.push(d);
    }
    Ok(out)
}

/// Normalize a possibly negative axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        let b = Dim::var("batch");
        let s = broadcast(&[b.clone(), 1.into(), 4.into()], &[3.into(), 1.into()]).unwrap();
        assert_eq!(s, vec![b, 3.into(), 4.into()]);
        assert!(broadcast(&[2.into()], &[3.into()])
            .unwrap_err()
            .contains("[2] and [3]"));
        assert_eq!(norm_axis(-1, 3), Ok(2));
        assert!(norm_axis(3, 3).is_err());
    }
}
