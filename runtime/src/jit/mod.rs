//! The kernel objects around generated code: fused elementwise bodies and
//! fused row reductions.
//!
//! The compiler (Cranelift) turns a body into machine code for one *access
//! pattern* (which operands are contiguous or splat along the innermost
//! loop); these objects read concrete shapes at run time, pick the matching
//! function and call it over the output. What they need to know of the body
//! is plain data ([`EwSpec`], [`ReduceSpec`]), so a compiled model and a
//! loaded `.ingot` artifact build the very same kernels.
//!
//! A pattern that was not compiled ahead of time is compiled on first use
//! when a [`CodeGen`] is at hand (models compiled in this process); a
//! loaded artifact has none, and carries every pattern its compiler
//! predicted (see `docs/artifact.md`); anything else is a clear error.

mod ew;
mod reduce;

pub use ew::{merge_axes, ElementwiseKernel, PAR_MIN};
pub use reduce::ReduceKernel;

use ingot_ir::{DType, Dim};
use serde::{Deserialize, Serialize};

/// Generates code for patterns met at run time (the compiler implements it).
pub trait CodeGen: Send + Sync {
    /// Machine code of elementwise body `id` for contiguity `contig`.
    fn elementwise(&self, id: usize, contig: &[bool]) -> Result<Vec<u8>, String>;
    /// Machine code of reduce body `id` for `pat`.
    fn reduce(&self, id: usize, pat: &Pattern) -> Result<Vec<u8>, String>;
}

/// A fused elementwise body, as its kernel object sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EwSpec {
    /// Per input: its dtype, or `None` when the body does not read it.
    pub inputs: Vec<Option<DType>>,
    pub outputs: Vec<DType>,
    /// Ops in the body (for `describe`).
    pub ops: usize,
    /// Compiled patterns (per input: contiguous within the innermost run,
    /// else splat) and their function in the program's code; the first is
    /// the one the body's types predict.
    pub variants: Vec<(Vec<bool>, usize)>,
    /// The body's index for a [`CodeGen`].
    pub gen_id: usize,
}

/// Which shape an operand of a row reduction broadcasts against.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Space {
    /// Rank r: S itself or R (per-row, trailing axes 1).
    Row,
    /// Rank k: R' (per-row, reduced axes removed).
    Dropped,
}

/// The per-row access pattern a reduce function is compiled for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// Per input: contiguous within the row (else one element per row).
    pub contig: Vec<bool>,
    /// Per output: a full row (else one element per row).
    pub full: Vec<bool>,
    /// Full outputs may hold intermediate values between passes (no output
    /// overlaps an input).
    pub spill: bool,
}

/// A fused row-reduction body, as its kernel object sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceSpec {
    pub inputs: Vec<Option<DType>>,
    pub outputs: Vec<DType>,
    pub ops: usize,
    /// The first reduced axis.
    pub k: usize,
    /// S (the row space) as the body's types spell it (rank r).
    pub s: Vec<Dim>,
    /// Per input: the space it broadcasts against.
    pub in_space: Vec<Space>,
    /// Per output: its space, and whether its type is S (full rows).
    pub out_space: Vec<(Space, bool)>,
    /// Compiled patterns and their function; the first is the predicted one.
    pub variants: Vec<(Pattern, usize)>,
    pub gen_id: usize,
}
