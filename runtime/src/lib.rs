//! # ingot-runtime
//!
//! Executes compiled plans. Depends on `ingot-ir` for tensor types only —
//! never on passes or on Cranelift, so loading an artifact runs no compiler.
//! The executor arrives with the CPU backend work; today this crate re-exports
//! the tensor type every backend exchanges.

pub use ingot_ir::{DType, Tensor};
