//! # ingot-compiler
//!
//! ONNX import, lowering to native code, artifacts, and the `ingot` CLI.
//! [`cpu`]: compile a graph (or ONNX file) for the CPU and run it;
//! [`artifact`]: save it as an `.ingot` file that `ingot-runtime` loads.

pub use ingot_ir as ir;

pub mod artifact;
pub mod cobj;
pub mod cpu;
pub mod gpu;
pub mod onnx;
pub mod quantize;
