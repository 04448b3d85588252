//! Native CPU kernels.
//!
//! - Data movement, Cast/Where, reductions and normalizations are built
//!   through [`movement::movement_kernel`].
//! - Contractions and pooling (`matmul`, `gemm_op`, `conv`, `pool`), with the
//!   shared tile scheduler and fused [`Epilogue`] in `pack`.
//! - Quantized contractions (`quant`) on the INT8 GEMM (`qgemm`); per-tensor
//!   quantize/dequantize and `qlinear_add` (`qdq`), the integer global
//!   average pool (`qgap`), built through `movement_kernel` too.

pub mod conv;
pub mod gemm_op;
pub mod matmul;
pub mod misc;
pub mod movement;
pub mod norm;
pub mod pack;
pub mod pool;
pub mod qdq;
pub mod qgap;
pub mod qgemm;
pub mod qgemm_op;
pub mod quant;
pub mod reduce;
mod sgemm;

pub use pack::Epilogue;

use crate::kernel::Kernel;
use conv::ConvKernel;
use gemm_op::GemmKernel;
use ingot_ir::{Op, Tensor, TensorType};
use matmul::MatMulKernel;
use pool::PoolKernel;
use quant::{QConvKernel, QMatMulKernel};

/// Whether [`contraction_kernel`] builds kernels for `op` (contractions
/// and pools: they pack constant weights when built and take epilogues;
/// the quantized ones take none yet).
pub fn is_contraction(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul
            | Op::Gemm { .. }
            | Op::Conv { .. }
            | Op::ConvTranspose { .. }
            | Op::MaxPool { .. }
            | Op::AveragePool { .. }
            | Op::GlobalAveragePool
            | Op::GlobalMaxPool
            | Op::QGemm { .. }
            | Op::QLinearConv { .. }
            | Op::ConvInteger { .. }
            | Op::QLinearMatMul
            | Op::MatMulInteger
    )
}

/// The kernel for contraction/pool `op` with operand types and constant
/// values, or `None` if `op` is neither. Weights must be constants (they
/// are packed here, once); a runtime B operand is supported for MatMul and
/// Gemm only. The quantized contractions also need constant scales, zero
/// points and bias (see [`quant`]). An `Err` names what is unsupported;
/// the caller then runs the op on the interpreter.
pub fn contraction_kernel(
    op: &Op,
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
    n_outputs: usize,
    epilogue: Option<Epilogue>,
) -> Option<Result<Box<dyn Kernel>, String>> {
    if !is_contraction(op) {
        return None;
    }
    let c = |i: usize| consts.get(i).and_then(|t| t.as_ref());
    let ty = |i: usize| {
        in_types
            .get(i)
            .ok_or_else(|| format!("{}: operand {i} missing", op.name()))
    };
    let r: Result<Box<dyn Kernel>, String> = (|| match op {
        Op::MatMul => MatMulKernel::new(ty(0)?, ty(1)?, c(1), epilogue)
            .map(|k| Box::new(k) as Box<dyn Kernel>)
            .map_err(|e| e.0),
        Op::Gemm { .. } => {
            GemmKernel::new(op, ty(0)?, ty(1)?, in_types.get(2), c(1), c(2), epilogue)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0)
        }
        Op::Conv { .. } | Op::ConvTranspose { .. } => match c(1) {
            None => Err(format!("{}: the weight is not a constant", op.name())),
            Some(_) if in_types.len() > 2 && c(2).is_none() => {
                Err(format!("{}: the bias is not a constant", op.name()))
            }
            Some(w) => ConvKernel::new(op, ty(0)?, w, c(2), epilogue)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0),
        },
        Op::MaxPool { .. } | Op::AveragePool { .. } | Op::GlobalAveragePool | Op::GlobalMaxPool => {
            PoolKernel::new(op, ty(0)?, n_outputs > 1)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0)
        }
        Op::QGemm { .. } if epilogue.is_some() => Err("qgemm takes no epilogue".into()),
        Op::QGemm { .. } => qgemm_op::QGemmKernel::new(op, in_types, consts)
            .map(|k| Box::new(k) as Box<dyn Kernel>)
            .map_err(|e| e.0),
        Op::QLinearConv { .. } | Op::ConvInteger { .. } => match epilogue {
            Some(_) => Err(format!("{}: the kernel takes no epilogue", op.name())),
            None => QConvKernel::new(op, in_types, consts)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0),
        },
        Op::QLinearMatMul | Op::MatMulInteger => match epilogue {
            Some(_) => Err(format!("{}: the kernel takes no epilogue", op.name())),
            None => QMatMulKernel::new(op, in_types, consts)
                .map(|k| Box::new(k) as Box<dyn Kernel>)
                .map_err(|e| e.0),
        },
        _ => unreachable!("checked above"),
    })();
    Some(r)
}
