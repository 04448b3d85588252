//! CPU kernels.
//!
//! - Contractions and pooling (`matmul`, `gemm_op`, `conv`, `pool`), with the
//!   shared tile scheduler and fused [`Epilogue`] in `pack`.

pub mod conv;
pub mod gemm_op;
pub mod matmul;
pub mod pack;
pub mod pool;

pub use pack::Epilogue;
