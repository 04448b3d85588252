//! # ingot-runtime
//!
//! Executes compiled plans. Depends on `ingot-ir` for tensor types (and the
//! reference interpreter, which runs ops that have no native kernel) —
//! never on passes or on Cranelift, so loading an artifact runs no compiler.
//!
//! - [`kernel`]: the interface every compiled step implements.
//! - [`program`]: a compiled program as data (buffers, locations, steps).
//! - [`exec`]: the executor ([`Model`]): input checks, symbolic-dim
//!   binding, arena pool, thread pool.
//! - [`spec`]: the same as serializable data, and building kernels from it.
//! - [`code`], [`jit`]: generated machine code and the kernels that call it.
//! - [`kernels`]: native micro-kernels (data movement, casts, reductions,
//!   normalizations, contractions, pooling).

pub mod artifact;
pub mod code;
pub mod exec;
pub mod jit;
pub mod kernel;
pub mod kernels;
pub mod program;
pub mod spec;

pub use exec::{default_threads, Model, RunError};
pub use ingot_ir::{DType, Tensor};
pub use kernel::{Arg, Ctx, Kernel, KernelError, RangeKernel};
pub use program::{ArenaSlot, BufInfo, Loc, Program, Step, StepKind};
