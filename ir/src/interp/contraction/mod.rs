//! Semantics of the contraction ops (placeholder while infer is built).

#[path = "../../infer/contraction/window.rs"]
pub(crate) mod window;
#[path = "../../infer/contraction/einsum_eq.rs"]
pub(crate) mod einsum_eq;

use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, _inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    Err(format!(
        "`{}` is not implemented in the interpreter yet",
        op.name()
    ))
}
