//! ONNX front end: decode a `.onnx` file (pure Rust, prost) and import it into
//! an `ingot-ir` [`Graph`].
//!
//! Assumptions: IR version ≥ 3; default-domain opsets 7 through
//! [`MAX_OPSET`]. Every ONNX op is normalized to the IR's operand conventions
//! (defaults filled, optional inputs made explicit or left out, attribute/input
//! differences between opsets resolved); result types come from
//! `Graph::add_node`, i.e. from `ingot_ir::infer`.
//!
//! Guarantees: user input never panics. A model with unsupported ops fails with
//! one [`OnnxError::Unsupported`] listing every (domain, op, opset) and the
//! nodes using it. Tensor sizes are checked against the bytes the file holds
//! before anything is allocated. External data is read only from inside the
//! model's folder (see [`external`]).

mod attrs;
pub mod external;
mod import;
mod ops;
pub mod proto;
pub mod tensor;

use ingot_ir::Graph;
use prost::Message;
use std::fmt;
use std::path::{Path, PathBuf};

pub use tensor::{dtype_of, tensor_from_proto};

/// The newest default-domain opset this importer knows (onnx 1.23).
pub const MAX_OPSET: i64 = 28;
/// The oldest default-domain opset this importer accepts.
pub const MIN_OPSET: i64 = 7;

/// One unsupported (domain, op type, opset) and the nodes that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub domain: String,
    pub op_type: String,
    pub opset: i64,
    /// Node names (or `#index` for unnamed nodes).
    pub nodes: Vec<String>,
    /// Why, when it is more than "no converter" (e.g. a training-only mode).
    pub reason: Option<String>,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = if self.domain.is_empty() {
            "ai.onnx"
        } else {
            &self.domain
        };
        write!(f, "{domain}::{} (opset {})", self.op_type, self.opset)?;
        if let Some(r) = &self.reason {
            write!(f, " [{r}]")?;
        }
        let shown: Vec<&str> = self.nodes.iter().take(8).map(String::as_str).collect();
        write!(f, " used by {}", shown.join(", "))?;
        if self.nodes.len() > shown.len() {
            write!(f, " and {} more", self.nodes.len() - shown.len())?;
        }
        Ok(())
    }
}

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed ONNX protobuf: {0}")]
    Decode(String),
    #[error("invalid model: {0}")]
    Model(String),
    #[error("model uses {} unsupported op(s):\n  {}", .0.len(),
        .0.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("\n  "))]
    Unsupported(Vec<UnsupportedOp>),
    /// A value type the IR cannot hold (string, uint32, complex, float8,
    /// sequences, maps, optionals, sparse tensors).
    #[error("unsupported type: {0}")]
    UnsupportedType(String),
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    #[error("external data of tensor `{tensor}` at `{location}`: {msg}")]
    ExternalData {
        tensor: String,
        location: String,
        msg: String,
    },
    /// An input the IR needs as a constant (axes, split sizes) is computed
    /// at run time. Freezing that graph input (see [`ImportOptions`]) helps.
    #[error("node `{node}` ({op_type}): {what} (input `{input}`) must be a compile-time constant")]
    NeedsConstant {
        node: String,
        op_type: String,
        what: String,
        input: String,
    },
    #[error("node `{node}` ({op_type}) with inputs ({inputs}): {msg}")]
    Node {
        node: String,
        op_type: String,
        inputs: String,
        msg: String,
    },
}

impl OnnxError {
    /// Whether the error means "this model needs a feature we lack" (as
    /// opposed to a broken file or a bug); the conformance runner counts
    /// these separately.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            OnnxError::Unsupported(_) | OnnxError::UnsupportedType(_)
        )
    }
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Graph inputs to replace by these constants (by ONNX name): e.g. to
    /// freeze a runtime `axes` or `shape` input that the IR needs as a
    /// constant. The tensor's dtype and rank must match the declared input.
    pub frozen_inputs: std::collections::HashMap<String, ingot_ir::Tensor>,
}

/// Decode a `ModelProto`. Malformed bytes give [`OnnxError::Decode`].
pub fn decode_model(bytes: &[u8]) -> Result<proto::ModelProto, OnnxError> {
    proto::ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))
}

/// Import the model at `path`. External data is read relative to its folder.
pub fn import_onnx(path: &Path) -> Result<Graph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    import_onnx_bytes_with(&bytes, Some(dir), &ImportOptions::default())
}

/// [`import_onnx`] with options.
pub fn import_onnx_with(path: &Path, opts: &ImportOptions) -> Result<Graph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    import_onnx_bytes_with(&bytes, Some(dir), opts)
}

/// Import a serialized model. `base_dir` is the folder external data is read
/// from; without one, a model with external data is an error.
pub fn import_onnx_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<Graph, OnnxError> {
    import_onnx_bytes_with(bytes, base_dir, &ImportOptions::default())
}

/// [`import_onnx_bytes`] with options.
pub fn import_onnx_bytes_with(
    bytes: &[u8],
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Graph, OnnxError> {
    let model = decode_model(bytes)?;
    let g = import::import_model(&model, base_dir, opts)?;
    // The importer builds through shape inference, so this holds by
    // construction; checking it here turns an importer bug into an error
    // instead of a graph that misbehaves later.
    ingot_ir::verify(&g).map_err(|e| {
        OnnxError::Model(format!(
            "the imported graph does not verify (an importer bug; please report it):\n{e}"
        ))
    })?;
    Ok(g)
}

/// Decode a serialized `TensorProto` (as in ONNX test data `input_0.pb`).
pub fn read_tensor_pb(bytes: &[u8]) -> Result<ingot_ir::Tensor, OnnxError> {
    let t = proto::TensorProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    tensor_from_proto(&t, None)
}
