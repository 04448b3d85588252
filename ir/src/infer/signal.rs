//! Result types for the signal ops (none yet).

use super::{InferError, InferInput};
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, _inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    unreachable!("{} is not a signal op", op.name())
}
