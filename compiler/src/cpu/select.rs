//! Kernel selection: which native kernel runs a node, if any.
//!
//! Asked once per node at compile time. `None` means "no native kernel for
//! this op" (the interpreter runs it); `Rejected` means a native kernel
//! exists for the op but refused this instance (a dtype or attribute it does
//! not support), with the reason kept for the compile report.
//!
//! Order of preference: JIT code for elementwise ops and fused bodies,
//! contraction micro-kernels (with their epilogue), then the runtime's
//! data-movement / reduction / normalization kernels.

use super::contract::contraction_kernel;
use super::fused::{contraction_with_epilogue, BodyKernel};
use super::jit::{compile_elementwise, compile_reduce, single_op_body};
use ingot_ir::{Graph, Node, Op, Tensor, TensorType, Value};
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::Kernel;
use std::collections::HashMap;
use std::sync::Arc;

pub enum Selected {
    /// A kernel, and the operands its step receives when they differ from
    /// the node's inputs.
    Kernel(Arc<dyn Kernel>, Option<Vec<Value>>),
    Rejected(String),
    None,
}

impl Selected {
    fn from(r: Option<Result<Box<dyn Kernel>, String>>) -> Selected {
        match r {
            None => Selected::None,
            Some(Ok(k)) => Selected::Kernel(Arc::from(k), None),
            Some(Err(e)) => Selected::Rejected(e),
        }
    }
}

/// The native kernel for node `n` of `g`; `users` is `g.users()`.
pub fn select(g: &Graph, n: Node, users: &HashMap<Value, Vec<Node>>) -> Selected {
    let nd = g.node(n);
    let in_types: Vec<TensorType> = nd.inputs.iter().map(|&v| g.ty(v).clone()).collect();
    let out_types: Vec<TensorType> = nd.outputs.iter().map(|&v| g.ty(v).clone()).collect();
    match &nd.op {
        Op::Fused { kind, body } if kind == "elementwise" => {
            return jit(compile_elementwise(body));
        }
        Op::Fused { kind, body } if kind == "contraction" => {
            return match contraction_with_epilogue(g, body, &nd.inputs) {
                Ok((k, ins)) => Selected::Kernel(Arc::from(k), Some(ins)),
                Err(e) => Selected::Rejected(e),
            };
        }
        Op::Fused { kind, body } if kind == "reduce" => {
            if let Ok(k) = compile_reduce(body) {
                return Selected::Kernel(k, None);
            }
            return match BodyKernel::new(body, kind) {
                Ok(k) => Selected::Kernel(Arc::new(k), None),
                Err(e) => Selected::Rejected(e),
            };
        }
        Op::Fused { kind, body } => {
            return match BodyKernel::new(body, kind) {
                Ok(k) => Selected::Kernel(Arc::new(k), None),
                Err(e) => Selected::Rejected(e),
            };
        }
        op if op.is_elementwise() && out_types.len() == 1 => {
            let body = single_op_body(op, &in_types, &out_types[0]);
            if let Selected::Kernel(k, ins) = jit(compile_elementwise(&body)) {
                return Selected::Kernel(k, ins);
            }
            // Cast/Where and friends the JIT does not take: the runtime's.
        }
        _ => {}
    }
    let consts: Vec<Option<Tensor>> = nd
        .inputs
        .iter()
        .map(|&v| g.const_value(v).cloned())
        .collect();
    // Results nobody reads need not be computed (max_pool's indices).
    let read = |v: &Value| users.contains_key(v) || g.outputs().contains(v);
    let needed = nd.outputs.len() - nd.outputs.iter().rev().take_while(|v| !read(v)).count();
    Selected::from(
        contraction_kernel(&nd.op, &in_types, &consts, needed.max(1), None)
            .or_else(|| movement_kernel(&nd.op, &in_types, &consts, &out_types)),
    )
}

fn jit<K: Kernel + 'static, E: std::fmt::Display>(r: Result<Arc<K>, E>) -> Selected {
    match r {
        Ok(k) => Selected::Kernel(k, None),
        Err(e) => Selected::Rejected(e.to_string()),
    }
}
