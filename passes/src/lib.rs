//! # ingot-passes
//!
//! The `Pass` trait and the optimization pipeline over `ingot-ir` graphs.
//! The passes themselves arrive with the optimization-pipeline work; this
//! crate fixes the interface they implement.

use ingot_ir::Graph;

/// Whether a pass changed the graph.
pub type Changed = bool;

/// A graph rewrite with a name (used by `--dump-after=<name>` and statistics).
pub trait Pass {
    fn name(&self) -> &'static str;
    fn run(&self, g: &mut Graph) -> Result<Changed, PassError>;
}

/// A pass failed; names the pass.
#[derive(Debug, thiserror::Error)]
#[error("pass `{pass}`: {msg}")]
pub struct PassError {
    pub pass: &'static str,
    pub msg: String,
}
