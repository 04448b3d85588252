//! The CPU backend: native code for the executor's kernels.

pub mod jit;
