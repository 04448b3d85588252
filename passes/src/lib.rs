//! # ingot-passes
//!
//! Graph rewrites over `ingot-ir`, one pass per file, and the pipeline that
//! runs them (`pipeline.rs`, one readable function). A pass is a small type
//! with a name and `run`, which reports whether it changed the graph so the
//! pipeline can iterate to a fixed point. Passes rely on the IR invariants the
//! verifier checks (SSA, topological schedule, types consistent with
//! `ingot_ir::infer`) and must preserve them; in debug builds and tests the
//! pipeline re-verifies after every pass.

pub mod const_fold;
pub mod cse;
pub mod dce;
pub mod fold_affine;
pub mod fold_bn;
pub mod fuse_qdq;
pub mod fusion;
pub mod memory_plan;
pub mod pipeline;
pub mod shape_consts;
pub mod shape_infer;
pub mod simplify;

/// The elementwise fusion pass under its historical path.
pub use fusion::elementwise as fuse_elementwise;

use ingot_ir::Graph;
use std::time::Duration;

pub use pipeline::{optimize, PipelineOptions, PipelineReport};

/// Whether a pass changed the graph.
pub type Changed = bool;

/// A graph rewrite with a name (used by `--dump-after=<name>` and statistics).
pub trait Pass {
    fn name(&self) -> &'static str;
    fn run(&self, g: &mut Graph, cx: &mut PassCx) -> Result<Changed, PassError>;
}

/// What a pass may consult and report while it runs.
#[derive(Default, Debug)]
pub struct PassCx {
    /// Nodes the pass fused into kernels (passes that fuse add to it).
    pub fused: usize,
}

/// A pass failed; names the pass.
#[derive(Debug, thiserror::Error)]
#[error("pass `{pass}`: {msg}")]
pub struct PassError {
    pub pass: &'static str,
    pub msg: String,
}

/// One pass run's statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct PassStat {
    pub pass: &'static str,
    pub changed: bool,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub fused: usize,
    pub time: Duration,
}
