//! Native CPU kernels.
//!
//! - Data movement, Cast/Where, reductions and normalizations are built
//!   through [`movement::movement_kernel`].
//! - Contractions and pooling (`matmul`, `gemm_op`, `conv`, `pool`), with the
//!   shared tile scheduler and fused [`Epilogue`] in `pack`.

pub mod conv;
pub mod gemm_op;
pub mod matmul;
pub mod misc;
pub mod movement;
pub mod norm;
pub mod pack;
pub mod pool;
pub mod reduce;
mod sgemm;

pub use pack::Epilogue;
