//! # ingot-runtime
//!
//! Executes compiled plans. Depends on `ingot-ir` for tensor types only —
//! never on passes or on Cranelift, so loading an artifact runs no compiler.
//!
//! - [`kernel`]: the interface every compiled step implements.
//! - [`kernels`]: CPU kernels (contractions, pooling, ...).

pub mod kernel;
pub mod kernels;

pub use ingot_ir::{DType, Tensor};
pub use kernel::{Arg, Ctx, Kernel, KernelError, RangeKernel};
