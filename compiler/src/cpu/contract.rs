//! Building contraction and pooling kernels for a node (plain, or the
//! `contraction` fused kind with its epilogue).
//!
//! Weights must be constants (they are packed at compile time); a runtime
//! B operand is supported for MatMul and Gemm only.

use ingot_ir::{Op, Tensor, TensorType};
use ingot_runtime::kernels::conv::ConvKernel;
use ingot_runtime::kernels::gemm_op::GemmKernel;
use ingot_runtime::kernels::matmul::MatMulKernel;
use ingot_runtime::kernels::pool::PoolKernel;
use ingot_runtime::kernels::Epilogue;
use ingot_runtime::Kernel;

/// The kernel for contraction/pool `op` with operand types and constant
/// values, or `None` if `op` is neither.
pub fn contraction_kernel(
    op: &Op,
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
    n_outputs: usize,
    epilogue: Option<Epilogue>,
) -> Option<Result<Box<dyn Kernel>, String>> {
    let c = |i: usize| consts.get(i).and_then(|t| t.as_ref());
    let r: Result<Box<dyn Kernel>, String> = match op {
        Op::MatMul => MatMulKernel::new(&in_types[0], &in_types[1], c(1), epilogue)
            .map(|k| Box::new(k) as Box<dyn Kernel>)
            .map_err(|e| e.0),
        Op::Gemm { .. } => GemmKernel::new(
            op,
            &in_types[0],
            &in_types[1],
            in_types.get(2),
            c(1),
            c(2),
            epilogue,
        )
        .map(|k| Box::new(k) as Box<dyn Kernel>)
        .map_err(|e| e.0),
        Op::Conv { .. } | Op::ConvTranspose { .. } => match c(1) {
            None => Err(format!("{}: the weight is not a constant", op.name())),
            Some(_) if in_types.len() > 2 && c(2).is_none() => {
                Err(format!("{}: the bias is not a constant", op.name()))
            }
            Some(w) => ConvKernel::new(op, &in_types[0], w, c(2), epilogue)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0),
        },
        Op::MaxPool { .. } | Op::AveragePool { .. } | Op::GlobalAveragePool | Op::GlobalMaxPool => {
            PoolKernel::new(op, &in_types[0], n_outputs > 1)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0)
        }
        _ => return None,
    };
    Some(r)
}
