//! Result types for the recurrent ops (none yet).

use super::{InferError, InferInput};
use crate::op::Op;
use crate::types::TensorType;

pub(crate) fn infer(op: &Op, _inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    unreachable!("{} is not a recurrent op", op.name())
}
