//! ONNX op → IR op converters.
//!
//! Each converter reads one ONNX node through a [`Cx`] and appends IR nodes,
//! returning one value per ONNX output (extra IR results, e.g. MaxPool's
//! indices when the ONNX node has one output, are simply not bound). The
//! table in [`converter`] is also what the unsupported-op scan consults, so an
//! op is "supported" exactly when it has a converter.
//!
//! Converters normalize: they fill ONNX defaults, resolve opset differences
//! (attribute vs. input), and follow the IR operand conventions in
//! `ir/src/op.rs`. Inputs that the IR keeps as attributes (axes of
//! Squeeze/Reduce*, Split's sizes) must be compile-time constants.

mod attention;
mod control;
mod elementwise;
mod loss;
mod nn;
mod recurrent;
mod reduce;
mod shape;
mod vision;

use super::attrs::Attrs;
use super::import::Importer;
use super::proto::NodeProto;
use super::OnnxError;
use ingot_ir::{DType, Graph, Op, Tensor, TensorType, Value};

/// A converter: appends IR nodes for one ONNX node, returns its outputs.
pub(crate) type Convert = fn(&mut Cx) -> Result<Vec<Value>, OnnxError>;

/// The converter for a default-domain op type, if we have one.
pub(crate) fn converter(op_type: &str) -> Option<Convert> {
    elementwise::converter(op_type)
        .or_else(|| nn::converter(op_type))
        .or_else(|| reduce::converter(op_type))
        .or_else(|| shape::converter(op_type))
        .or_else(|| control::converter(op_type))
        .or_else(|| loss::converter(op_type))
        .or_else(|| attention::converter(op_type))
        .or_else(|| recurrent::converter(op_type))
        .or_else(|| vision::converter(op_type))
}

/// The domain onnxruntime's contrib ops live in.
pub(crate) const MS_DOMAIN: &str = "com.microsoft";

/// The converter for `op_type` in `domain` ("" is the default domain): the
/// default domain's ops, and of onnxruntime's contrib ops the quantized
/// ones its QOperator quantizer writes.
pub(crate) fn converter_in(domain: &str, op_type: &str) -> Option<Convert> {
    match domain {
        "" | "ai.onnx" => converter(op_type),
        MS_DOMAIN => nn::ms_converter(op_type),
        _ => None,
    }
}

/// Ops whose opset-1..6 definitions mean what the newest do (so models that
/// import an opset below 7 for them still convert).
pub(crate) fn stable_since_opset_1(op_type: &str) -> bool {
    matches!(op_type, "Not")
}

/// Convert one node (the scan already checked that a converter exists).
pub(crate) fn convert(
    imp: &mut Importer,
    node: &NodeProto,
    label: &str,
) -> Result<Vec<Value>, OnnxError> {
    let op_type = node.op_type.as_deref().unwrap_or("");
    let domain = node.domain.as_deref().unwrap_or("");
    let f = converter_in(domain, op_type).ok_or_else(|| OnnxError::Node {
        node: label.to_string(),
        op_type: op_type.to_string(),
        inputs: String::new(),
        msg: "no converter".into(),
    })?;
    let opset = imp.opset;
    let mut cx = Cx {
        imp,
        node,
        label,
        attrs: Attrs::of(node),
        opset,
    };
    f(&mut cx)
}

/// What a converter sees: the node, its attributes, the opset, and the graph.
pub(crate) struct Cx<'a, 'm> {
    pub imp: &'a mut Importer<'m>,
    pub node: &'a NodeProto,
    pub label: &'a str,
    pub attrs: Attrs<'a>,
    pub opset: i64,
}

impl Cx<'_, '_> {
    pub fn g(&mut self) -> &mut Graph {
        self.imp.g()
    }

    pub fn graph(&self) -> &Graph {
        self.imp.graph()
    }

    pub fn op_type(&self) -> &str {
        self.node.op_type.as_deref().unwrap_or("")
    }

    /// An error about this node, listing its input types.
    pub fn err(&self, msg: impl Into<String>) -> OnnxError {
        let inputs = self
            .node
            .input
            .iter()
            .map(|n| {
                if n.is_empty() {
                    return "<none>".to_string();
                }
                match self.imp.lookup(n) {
                    Some(v) => format!("{n}: {}", self.graph().ty(v)),
                    None => format!("{n}: <undefined>"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        OnnxError::Node {
            node: self.label.to_string(),
            op_type: self.op_type().to_string(),
            inputs,
            msg: msg.into(),
        }
    }

    /// An "unsupported" error for a mode of this op we do not handle.
    pub fn unsupported(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Unsupported(vec![crate::onnx::UnsupportedOp {
            domain: String::new(),
            op_type: self.op_type().to_string(),
            opset: self.opset,
            nodes: vec![self.label.to_string()],
            reason: Some(reason.into()),
        }])
    }

    /// The IR dtype of an ONNX element-type code named by an attribute; an
    /// unsupported one is an [`OnnxError::UnsupportedType`] naming the node.
    pub fn dtype(&self, code: i64) -> Result<DType, OnnxError> {
        let code = i32::try_from(code).map_err(|_| self.err(format!("bad element type {code}")))?;
        crate::onnx::tensor::dtype_of(code).map_err(|e| match e {
            OnnxError::UnsupportedType(m) => OnnxError::UnsupportedType(format!(
                "node `{}` ({}): {m}",
                self.label,
                self.op_type()
            )),
            e => e,
        })
    }

    /// Lift an attribute-reading result into a node error.
    pub fn a<T>(&self, r: Result<T, String>) -> Result<T, OnnxError> {
        r.map_err(|m| self.err(m))
    }

    /// Number of inputs the node lists (including empty ones).
    pub fn n_inputs(&self) -> usize {
        self.node.input.len()
    }

    /// Input `i`, or `None` if absent or empty.
    pub fn input(&self, i: usize) -> Result<Option<Value>, OnnxError> {
        match self.node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self
                .imp
                .lookup(name)
                .map(Some)
                .ok_or_else(|| self.err(format!("input `{name}` is not defined"))),
        }
    }

    /// Input `i`, which must be present.
    pub fn req(&self, i: usize) -> Result<Value, OnnxError> {
        self.input(i)?
            .ok_or_else(|| self.err(format!("input {i} is required")))
    }

    /// Every present input, in order (variadic ops).
    pub fn all_inputs(&self) -> Result<Vec<Value>, OnnxError> {
        (0..self.n_inputs())
            .filter_map(|i| self.input(i).transpose())
            .collect()
    }

    /// Whether ONNX output `i` is requested.
    pub fn wants_output(&self, i: usize) -> bool {
        self.node.output.get(i).is_some_and(|s| !s.is_empty())
    }

    pub fn ty(&self, v: Value) -> TensorType {
        self.graph().ty(v).clone()
    }

    pub fn konst(&self, v: Value) -> Option<Tensor> {
        self.graph().const_value(v).cloned()
    }

    /// Rank of an input value.
    pub fn rank(&self, v: Value) -> usize {
        self.graph().ty(v).rank()
    }

    /// Append an op; inference failures become node errors.
    pub fn add(&mut self, op: Op, inputs: &[Value]) -> Result<Vec<Value>, OnnxError> {
        let name = op.name();
        let outs = self
            .g()
            .add_node(op, inputs)
            .map_err(|e| self.err(format!("IR `{name}`: {e}")))?;
        Ok(fold_constant_node(self.g(), outs))
    }

    /// Append a single-result op.
    pub fn add1(&mut self, op: Op, inputs: &[Value]) -> Result<Value, OnnxError> {
        let name = op.name();
        self.add(op, inputs)?
            .first()
            .copied()
            .ok_or_else(|| self.err(format!("IR `{name}` produced no result")))
    }

    pub fn constant(&mut self, t: Tensor) -> Value {
        self.g().add_const(t)
    }

    /// A rank-1 i64 constant.
    pub fn const_i64s(&mut self, v: &[i64]) -> Value {
        let t = Tensor::from_slice(&[v.len()], v).expect("length matches");
        self.constant(t)
    }

    /// A scalar constant of `dtype` holding `x` (converted).
    pub fn const_scalar(&mut self, dtype: DType, x: f64) -> Result<Value, OnnxError> {
        let t = Tensor::from_f64s(dtype, &[], &[x]).map_err(|e| self.err(e.to_string()))?;
        Ok(self.constant(t))
    }

    /// Input `i` as a list of integers; it must be known at compile time: a
    /// constant, or computed from static shapes (`known_dims`).
    /// `None` when the input is absent.
    pub fn const_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        let Some(v) = self.input(i)? else {
            return Ok(None);
        };
        let from_shapes = || -> Option<Vec<i64>> {
            ingot_ir::infer::known_dims(self.graph(), v)?
                .iter()
                .map(ingot_ir::Dim::as_known)
                .collect()
        };
        match self.konst(v) {
            Some(t) if t.dtype().is_int() => Ok(Some(t.to_i64s())),
            Some(t) => Err(self.err(format!("{what} must be integers, not {}", t.dtype()))),
            None if from_shapes().is_some() => Ok(from_shapes()),
            None => Err(OnnxError::NeedsConstant {
                node: self.label.to_string(),
                op_type: self.op_type().to_string(),
                what: what.to_string(),
                input: self.node.input[i].clone(),
            }),
        }
    }
}

/// ONNX `auto_pad` spelling → the IR enum.
pub(crate) fn auto_pad(cx: &Cx) -> Result<ingot_ir::attr::AutoPad, OnnxError> {
    use ingot_ir::attr::AutoPad;
    let s = cx.a(cx.attrs.string("auto_pad", "NOTSET"))?;
    match s.as_str() {
        "NOTSET" | "" => Ok(AutoPad::NotSet),
        "SAME_UPPER" => Ok(AutoPad::SameUpper),
        "SAME_LOWER" => Ok(AutoPad::SameLower),
        "VALID" => Ok(AutoPad::Valid),
        other => Err(cx.err(format!("unknown auto_pad {other:?}"))),
    }
}

/// Build an op from a name and attributes through `Op::from_parts`, so a
/// string attribute with an unknown spelling is a clean node error.
pub(crate) fn op_from(
    cx: &Cx,
    name: &str,
    attrs: Vec<(&str, ingot_ir::AttrValue)>,
) -> Result<Op, OnnxError> {
    let m = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Op::from_parts(name, m).map_err(|e| cx.err(e))
}

/// Largest result (in elements) that import-time folding materializes, so a
/// model never grows because a small constant was expanded or tiled.
const FOLD_MAX_ELEMS: usize = 1 << 16;

/// If the node that defines `outs` reads only constants, evaluate it with the
/// reference interpreter (the one definition of op semantics) and return
/// constants in its place. Exporters emit such nodes around shape
/// computations (`Size(c) == 4` deciding an `If`); folding them here lets
/// later converters see the values. Anything that does not evaluate cleanly
/// to the declared types is left as it was.
fn fold_constant_node(g: &mut Graph, outs: Vec<Value>) -> Vec<Value> {
    let Some(n) = outs.first().and_then(|&v| g.producer(v)) else {
        return outs;
    };
    let nd = g.node(n);
    // A dequantized constant stays: it marks a quantized weight for
    // `fuse-qdq`, which folds what it does not fuse.
    if matches!(nd.op, Op::Const { .. } | Op::DequantizeLinear { .. })
        || !nd.op.subgraphs().is_empty()
        || nd.inputs.is_empty()
        || !nd.inputs.iter().all(|&v| g.const_value(v).is_some())
    {
        return outs;
    }
    let args: Vec<&Tensor> = nd.inputs.iter().filter_map(|&v| g.const_value(v)).collect();
    let Ok(results) = ingot_ir::interp::eval_op(&nd.op, &args) else {
        return outs;
    };
    let fits = results.len() == outs.len()
        && results.iter().zip(&outs).all(|(t, &v)| {
            let mut bindings = std::collections::HashMap::new();
            t.numel() <= FOLD_MAX_ELEMS
                && ingot_ir::interp::check_type(g.ty(v), t, &mut bindings).is_ok()
        });
    if !fits {
        return outs;
    }
    g.remove_nodes(&[n]);
    results.into_iter().map(|t| g.add_const(t)).collect()
}
