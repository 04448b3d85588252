//! A compiled program: what the executor runs, as data.
//!
//! Every value the steps touch is a *buffer* with a type (shapes may be
//! symbolic) and a location: a graph input, a constant (weights, owned
//! here), a region of the per-run arena at an offset that is a function of
//! the symbolic dims (from the memory plan), or *dynamic* — a value whose
//! size is data dependent (`?` dims), held as an owned tensor for one run.
//!
//! A step is a native kernel (JIT code or a micro-kernel) or, for ops with
//! no native kernel, the reference interpreter's `eval_op` on copies of the
//! operands ("fallback": always correct, slow; `Model::kernel_summary` says
//! how many steps use it).

use crate::kernel::Kernel;
use ingot_ir::{Op, Tensor, TensorType};
use std::sync::Arc;

/// Where a buffer lives.
#[derive(Clone, Debug, PartialEq)]
pub enum Loc {
    /// The `i`-th graph input.
    Input(usize),
    /// The `i`-th entry of [`Program::consts`].
    Const(usize),
    /// Region of the arena: [`Program::slots`]`[i]`.
    Arena(usize),
    /// Data-dependent size: computed by a fallback step, owned per run.
    Dynamic,
}

/// One value the program reads or writes.
#[derive(Clone, Debug)]
pub struct BufInfo {
    pub ty: TensorType,
    pub loc: Loc,
    /// The graph's name for the value (or `%n`), for errors.
    pub name: String,
}

/// How a step computes.
#[derive(Clone)]
pub enum StepKind {
    Native(Arc<dyn Kernel>),
    /// Run the reference interpreter on this op.
    Fallback(Op),
}

#[derive(Clone)]
pub struct Step {
    pub kind: StepKind,
    pub ins: Vec<usize>,
    pub outs: Vec<usize>,
    /// `node %7 `conv` at "/layer1/conv"`: for errors and profiles.
    pub label: String,
}

impl Step {
    pub fn describe(&self) -> String {
        match &self.kind {
            StepKind::Native(k) => k.describe(),
            StepKind::Fallback(op) => format!("interpreter `{}`", op.name()),
        }
    }

    pub fn is_fallback(&self) -> bool {
        matches!(self.kind, StepKind::Fallback(_))
    }
}

/// Everything needed to run a compiled graph.
#[derive(Clone)]
pub struct Program {
    pub name: String,
    pub bufs: Vec<BufInfo>,
    /// Buffers of the graph inputs, in order.
    pub inputs: Vec<usize>,
    /// Buffers of the graph outputs, in order.
    pub outputs: Vec<usize>,
    pub consts: Vec<Tensor>,
    /// Arena regions (several buffers may share one when their lifetimes
    /// do not overlap or one is computed in place over the other).
    pub slots: Vec<ArenaSlot>,
    pub steps: Vec<Step>,
}

/// A region of the arena, in bytes, as functions of the symbolic dims.
#[derive(Clone, Debug, PartialEq)]
pub struct ArenaSlot {
    pub offset: ingot_ir::Dim,
    pub bytes: ingot_ir::Dim,
}
