//! stub
use super::{InferError, InferInput};
use crate::op::Op;
use crate::types::TensorType;
pub(crate) fn infer(op: &Op, _inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    Err(super::invalid(op, "x"))
}
