//! Kernel selection: which native kernel runs a node, if any.
//!
//! Asked once per node at compile time. `None` means "no native kernel for
//! this op" (the interpreter runs it); `Rejected` means a native kernel
//! exists for the op but refused this instance (a dtype or attribute it does
//! not support), with the reason kept for the compile report.

use ingot_ir::{Graph, Node};
use ingot_runtime::Kernel;
use std::sync::Arc;

pub enum Selected {
    Kernel(Arc<dyn Kernel>),
    Rejected(String),
    None,
}

/// The native kernel for node `n` of `g`.
pub fn select(g: &Graph, n: Node) -> Selected {
    let _ = (g, n);
    Selected::None
}
