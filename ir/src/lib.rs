//! # ingot-ir
//!
//! Ingot's typed SSA intermediate representation: element types, symbolic
//! shapes, the graph, the builder and tracer, the verifier, the text format,
//! and the reference interpreter — the one definition of every op's semantics.
//!
//! See `docs/architecture.md` and `docs/ir.md` in the repository.

pub mod attr;
pub mod dim;
pub mod dtype;
pub mod graph;
pub mod infer;
pub mod interp;
pub mod op;
mod serde_impls;
pub mod tensor;
pub mod text;
pub mod trace;
pub mod types;
pub mod verify;

pub use half;

pub use attr::AttrValue;
pub use dim::Dim;
pub use dtype::DType;
pub use graph::{Graph, Node, NodeData, Value, ValueData, ValueDef};
pub use infer::{infer, InferError, InferInput};
pub use interp::InterpError;
pub use op::{Op, OpGroup};
pub use tensor::{Elem, SharedBytes, Tensor, TensorError};
pub use text::{parse, parse_with_weights, print, weights_table, ParseError, Printer};
pub use trace::{TraceError, Traced, Tracer};
pub use types::{Shape, TensorType};
pub use verify::{verify, Location, VerifyError, VerifyErrors};
