//! # ingot-compiler
//!
//! ONNX import, lowering to native code, artifacts, and the `ingot` CLI.
//! Today it drives the IR: parse, verify, print and interpret text-format graphs.

pub use ingot_ir as ir;

pub mod cpu;
pub mod onnx;
