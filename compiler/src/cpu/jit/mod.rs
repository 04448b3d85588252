//! The Cranelift JIT for the CPU backend's memory-bound kernels: fused
//! elementwise bodies and fused row reductions (softmax, layer norm,
//! reduce_* over trailing axes).
//!
//! A body is lowered to a small typed program (`prog.rs`), then emitted at
//! f32x4 and scalar width (`emit.rs`, `math.rs`) inside a loop nest
//! (`ew_gen.rs`, `reduce.rs`). Each kernel is compiled once (≈1 ms) into
//! its own `JITModule`, kept alive by the kernel object. Shapes are read at
//! run time, so symbolic batch sizes need no recompilation.
//!
//! Guarantees: what cannot be compiled exactly (or within the documented
//! error of `math.rs`) is an `Err`, never wrong code; the lead's lowering
//! then uses the interpreter kernel. Cranelift 0.135's x64 backend lowers
//! only 128-bit vectors, hence f32x4.

mod code;
mod emit;
mod ew;
mod ew_gen;
mod math;
mod prog;
mod reduce;
mod reduce_gen;
mod reduce_lower;
mod reduce_plan;

pub use ew::{ElementwiseKernel, PAR_MIN};
pub use reduce::ReduceKernel;

use ingot_ir::{Graph, Op, TensorType};
use std::sync::Arc;

/// Why a body could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JitError {
    #[error("jit: `{op}` is not supported: {why}")]
    Unsupported { op: String, why: String },
    #[error("jit: code generation failed: {0}")]
    Codegen(String),
}

/// Compile a `fused {kind="elementwise"}` body (body inputs = kernel
/// inputs, body outputs = kernel outputs).
pub fn compile_elementwise(body: &Graph) -> Result<Arc<ElementwiseKernel>, JitError> {
    let prog = prog::lower_elementwise(body)?;
    Ok(Arc::new(ElementwiseKernel::new(body, prog)?))
}

/// Compile a `fused {kind="reduce"}` body (row reductions over the trailing
/// axes of one row space with elementwise producers and consumers; see
/// `reduce_lower.rs` for the contract). f32 (and bool) values only.
pub fn compile_reduce(body: &Graph) -> Result<Arc<ReduceKernel>, JitError> {
    let rp = reduce_lower::lower_reduce(body)?;
    Ok(Arc::new(ReduceKernel::new(body, rp)?))
}

/// A one-node body applying `op` to inputs of types `ins`, with one result
/// of type `out`, for compiling a single op with the same machinery.
pub fn single_op_body(op: &Op, ins: &[TensorType], out: &TensorType) -> Graph {
    let mut g = Graph::new("single");
    let vs: Vec<_> = ins
        .iter()
        .enumerate()
        .map(|(k, t)| {
            g.add_input(&format!("x{k}"), t.clone())
                .expect("fresh names")
        })
        .collect();
    let n = g.push_node(op.clone(), vs, vec![out.clone()]);
    let r = g.node(n).outputs[0];
    g.set_outputs(vec![r]);
    g
}

#[cfg(test)]
mod tests;
