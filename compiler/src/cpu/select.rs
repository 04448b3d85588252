//! Kernel selection: which native kernel runs a node, if any.
//!
//! Asked once per node at compile time. `None` means "no native kernel for
//! this op" (the interpreter runs it); `Rejected` means a native kernel
//! exists for the op but refused this instance (a dtype or attribute it does
//! not support), with the reason kept for the compile report.
//!
//! Order of preference: JIT code for elementwise and fused kernels,
//! contraction micro-kernels (with their epilogue), then the runtime's
//! data-movement / reduction / normalization kernels.

use ingot_ir::{Graph, Node, Tensor, TensorType};
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::Kernel;
use std::sync::Arc;

pub enum Selected {
    Kernel(Arc<dyn Kernel>),
    Rejected(String),
    None,
}

impl Selected {
    fn from(r: Option<Result<Box<dyn Kernel>, String>>) -> Selected {
        match r {
            None => Selected::None,
            Some(Ok(k)) => Selected::Kernel(Arc::from(k)),
            Some(Err(e)) => Selected::Rejected(e),
        }
    }
}

/// The native kernel for node `n` of `g`.
pub fn select(g: &Graph, n: Node) -> Selected {
    let nd = g.node(n);
    let in_types: Vec<TensorType> = nd.inputs.iter().map(|&v| g.ty(v).clone()).collect();
    let out_types: Vec<TensorType> = nd.outputs.iter().map(|&v| g.ty(v).clone()).collect();
    let consts: Vec<Option<Tensor>> = nd
        .inputs
        .iter()
        .map(|&v| g.const_value(v).cloned())
        .collect();
    Selected::from(movement_kernel(&nd.op, &in_types, &consts, &out_types))
}
