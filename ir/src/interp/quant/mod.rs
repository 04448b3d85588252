//! Semantics of the quant ops (placeholder while being written).

use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, _inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    Err(format!(
        "`{}` is not implemented in the interpreter yet",
        op.name()
    ))
}
