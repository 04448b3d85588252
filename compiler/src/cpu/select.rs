//! Kernel selection: which native kernel runs a node, if any.
//!
//! Asked once per node at compile time. The answer is a [`KernelSpec`]
//! (plain data: what an artifact stores); the runtime builds the kernel
//! object from it. `None` means "no native kernel for this op" (the
//! interpreter runs it); `Rejected` means a native kernel exists for the op
//! but refused this instance (a dtype or attribute it does not support),
//! with the reason kept for the compile report. Contraction kernels are
//! only checked when built (they pack their weights then, once): one that
//! refuses becomes an interpreter step at that point.
//!
//! Order of preference: JIT code for elementwise ops and fused bodies,
//! contraction micro-kernels (with their epilogue), then the runtime's
//! data-movement / reduction / normalization kernels.

use super::fused::{body_program, contraction_with_epilogue};
use super::jit::{single_op_body, Sink};
use ingot_ir::{Graph, Node, Op, Tensor, TensorType, Value};
use ingot_runtime::kernels::is_contraction;
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::spec::KernelSpec;
use std::collections::HashMap;

pub enum Selected {
    /// A kernel, and the operands its step receives when they differ from
    /// the node's inputs.
    Spec(Box<KernelSpec>, Option<Vec<Value>>),
    Rejected(String),
    None,
}

/// The native kernel for node `n` of `g`; `users` is `g.users()`.
pub fn select(g: &Graph, n: Node, users: &HashMap<Value, Vec<Node>>, sink: &mut Sink) -> Selected {
    let nd = g.node(n);
    let in_types: Vec<TensorType> = nd.inputs.iter().map(|&v| g.ty(v).clone()).collect();
    let out_types: Vec<TensorType> = nd.outputs.iter().map(|&v| g.ty(v).clone()).collect();
    match &nd.op {
        Op::Fused { kind, body } if kind == "elementwise" => {
            return match sink.elementwise(body) {
                Ok(s) => Selected::Spec(Box::new(KernelSpec::Elementwise(s)), None),
                Err(e) => Selected::Rejected(e.to_string()),
            };
        }
        Op::Fused { kind, body } if kind == "contraction" => {
            return match contraction_with_epilogue(body, &nd.inputs, sink) {
                Ok((k, ins)) => Selected::Spec(Box::new(k), Some(ins)),
                Err(e) => Selected::Rejected(e),
            };
        }
        Op::Fused { kind, body } => {
            if kind == "reduce" {
                if let Ok(s) = sink.reduce(body) {
                    return Selected::Spec(Box::new(KernelSpec::Reduce(s)), None);
                }
            }
            return match body_program(body, kind, sink) {
                Ok(k) => Selected::Spec(Box::new(k), None),
                Err(e) => Selected::Rejected(e),
            };
        }
        op if op.is_elementwise() && out_types.len() == 1 => {
            let body = single_op_body(op, &in_types, &out_types[0]);
            if let Ok(s) = sink.elementwise(&body) {
                return Selected::Spec(Box::new(KernelSpec::Elementwise(s)), None);
            }
            // Cast/Where and friends the JIT does not take: the runtime's.
        }
        _ => {}
    }
    // Results nobody reads need not be computed (max_pool's indices).
    let read = |v: &Value| users.contains_key(v) || g.outputs().contains(v);
    let needed = nd.outputs.len() - nd.outputs.iter().rev().take_while(|v| !read(v)).count();
    let spec = KernelSpec::Op {
        op: nd.op.clone(),
        n_inputs: nd.inputs.len(),
        n_outputs: needed.max(1),
        epilogue: None,
    };
    if is_contraction(&nd.op) {
        return Selected::Spec(Box::new(spec), None);
    }
    let consts: Vec<Option<Tensor>> = nd
        .inputs
        .iter()
        .map(|&v| g.const_value(v).cloned())
        .collect();
    match movement_kernel(&nd.op, &in_types, &consts, &out_types) {
        None => Selected::None,
        Some(Ok(_)) => Selected::Spec(Box::new(spec), None),
        Some(Err(e)) => Selected::Rejected(e),
    }
}
