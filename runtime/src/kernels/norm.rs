//! stub
use crate::kernel::Kernel;
use ingot_ir::{DType, Op};
pub(crate) fn kernel(_op: &Op, _dt: DType) -> Option<Result<Box<dyn Kernel>, String>> {
    None
}
