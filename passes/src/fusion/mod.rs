//! Operator fusion: groups of ops become `fused {kind}` nodes whose body is
//! a readable subgraph of the original ops, so every fusion decision is
//! visible in the IR and a fused node computes exactly what its body does.
//!
//! One pass per kind, all built on the shared planner in `group.rs`:
//! - `fuse-reduce` (`reduce.rs`): row reductions with their elementwise
//!   producers and consumers (softmax, layernorm, RMSnorm, masked softmax);
//! - `fuse-contraction` (`contraction.rs`): matmul/gemm/conv with its
//!   elementwise epilogue chain (bias, activation, residual add);
//! - `fuse-elementwise` (`elementwise.rs`): what is left, chains and trees
//!   of elementwise ops of one shape (GELU, SiLU, ...).
//!
//! The pipeline runs them in that order (see `pipeline.rs` for why). No
//! pass looks inside an existing `fused` node or joins one, so each is
//! idempotent and they compose in any order.

pub mod contraction;
pub mod elementwise;
pub mod group;
pub mod reduce;
