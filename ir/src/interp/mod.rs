//! The reference interpreter: the one definition of what every op means.
//!
//! Plain loops over row-major data, f64 arithmetic where that makes the
//! definition clearer, no cleverness. Constant folding calls it; every backend
//! is tested against it; ONNX conformance runs through it first.
//!
//! `run` checks the inputs against the graph's input types (binding symbolic
//! dims), evaluates nodes in schedule order, and checks every result against
//! its declared type — so a wrong shape-inference rule shows up as an error
//! naming the node, not as a silently different tensor.
//!
//! One file per [`OpGroup`]; each exposes `eval(op, inputs) -> Result<Vec<Tensor>, String>`.

mod contraction;
mod control;
mod elementwise;
mod movement;
mod normalize;
mod pool;
mod quant;
mod recurrent;
mod reduce;
mod signal;
mod vision;

use crate::dim::Dim;
use crate::graph::{Graph, Node, Value};
use crate::op::{Op, OpGroup};
use crate::tensor::Tensor;
use crate::types::TensorType;
use std::collections::HashMap;

/// Why a graph could not be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    #[error("graph takes {expected} input(s) but {given} were given")]
    InputCount { expected: usize, given: usize },
    #[error("input {index} `{name}`: expected {expected}, given {given}")]
    Input {
        index: usize,
        name: String,
        expected: String,
        given: String,
    },
    #[error("{node} `{op}`{loc}: {msg}")]
    Node {
        node: Node,
        op: &'static str,
        loc: String,
        msg: String,
    },
    #[error("value {0} is used but never computed")]
    Undefined(Value),
}

/// Evaluate one op on concrete operands. `Const`, `If` and `Loop` included.
pub fn eval_op(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    match op.group() {
        OpGroup::Elementwise => elementwise::eval(op, inputs),
        OpGroup::Quant => quant::eval(op, inputs),
        OpGroup::Contraction => contraction::eval(op, inputs),
        OpGroup::Pool => pool::eval(op, inputs),
        OpGroup::Reduce => reduce::eval(op, inputs),
        OpGroup::Normalize => normalize::eval(op, inputs),
        OpGroup::Movement => movement::eval(op, inputs),
        OpGroup::Control => control::eval(op, inputs),
        OpGroup::Vision => vision::eval(op, inputs),
        OpGroup::Signal => signal::eval(op, inputs),
        OpGroup::Recurrent => recurrent::eval(op, inputs),
    }
}

/// Run `g` on `inputs` and return its outputs.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, InterpError> {
    let env = run_all(g, inputs)?;
    g.outputs()
        .iter()
        .map(|v| env.get(v).cloned().ok_or(InterpError::Undefined(*v)))
        .collect()
}

/// Run `g` on `inputs` and return every value it computed (inputs,
/// constants, every node result), for tools that compare intermediate
/// values (`ingot bisect`).
pub fn run_all(g: &Graph, inputs: &[Tensor]) -> Result<HashMap<Value, Tensor>, InterpError> {
    if inputs.len() != g.inputs().len() {
        return Err(InterpError::InputCount {
            expected: g.inputs().len(),
            given: inputs.len(),
        });
    }
    let mut bindings: HashMap<String, i64> = HashMap::new();
    let mut env: HashMap<Value, Tensor> = HashMap::new();
    for (i, (&v, t)) in g.inputs().iter().zip(inputs).enumerate() {
        let ty = g.ty(v);
        if let Err(msg) = check_type(ty, t, &mut bindings) {
            return Err(InterpError::Input {
                index: i,
                name: g.name_of(v).unwrap_or("").to_string(),
                expected: ty.to_string(),
                given: format!("{}{:?} ({msg})", t.dtype(), t.shape()),
            });
        }
        env.insert(v, t.clone());
    }
    for &n in g.order() {
        let nd = g.node(n);
        let node_err = |msg: String| InterpError::Node {
            node: n,
            op: nd.op.name(),
            loc: nd
                .loc
                .as_ref()
                .map(|l| format!(" at {l:?}"))
                .unwrap_or_default(),
            msg,
        };
        let args: Vec<&Tensor> = nd
            .inputs
            .iter()
            .map(|v| env.get(v).ok_or(InterpError::Undefined(*v)))
            .collect::<Result<_, _>>()?;
        let results = eval_op(&nd.op, &args).map_err(node_err)?;
        if results.len() != nd.outputs.len() {
            return Err(node_err(format!(
                "produced {} result(s) but the node declares {}",
                results.len(),
                nd.outputs.len()
            )));
        }
        for (k, (&v, t)) in nd.outputs.iter().zip(results).enumerate() {
            check_type(g.ty(v), &t, &mut bindings).map_err(|msg| {
                node_err(format!(
                    "result {k} is {}{:?} but its declared type is {} ({msg})",
                    t.dtype(),
                    t.shape(),
                    g.ty(v)
                ))
            })?;
            env.insert(v, t);
        }
    }
    Ok(env)
}

/// Check a concrete tensor against a type, binding symbolic variables the
/// first time they are seen. A compound symbolic dim whose variables are all
/// bound must evaluate to the actual size.
pub fn check_type(
    ty: &TensorType,
    t: &Tensor,
    bindings: &mut HashMap<String, i64>,
) -> Result<(), String> {
    if ty.dtype != t.dtype() {
        return Err(format!("dtype {} is not {}", t.dtype(), ty.dtype));
    }
    if ty.rank() != t.rank() {
        return Err(format!("rank {} is not {}", t.rank(), ty.rank()));
    }
    for (axis, (d, &actual)) in ty.shape.iter().zip(t.shape()).enumerate() {
        let actual = actual as i64;
        match d {
            Dim::Known(k) if *k != actual => {
                return Err(format!("axis {axis} is {actual}, not {k}"));
            }
            Dim::Sym(_) => {
                let vars = d.vars();
                if let [v] = vars.as_slice() {
                    if *d == Dim::var(v) && !bindings.contains_key(&**v) {
                        bindings.insert(v.to_string(), actual);
                        continue;
                    }
                }
                if let Some(expect) = d.eval(&|name| bindings.get(name).copied()) {
                    if expect != actual {
                        return Err(format!("axis {axis} is {actual}, but {d} = {expect}"));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---- Helpers shared by the group files -----------------------------------

/// Row-major strides of a shape (in elements).
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Numpy broadcasting of static shapes.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let y = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (x, y) {
                (1, d) | (d, 1) => Ok(d),
                (x, y) if x == y => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// For each flat index of `out`, the flat index of the element of a tensor of
/// shape `inp` that broadcasts to it. `inp` must broadcast to `out`.
pub(crate) fn broadcast_map(out: &[usize], inp: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let off = out.len() - inp.len();
    let in_strides = strides(inp);
    let mut map = Vec::with_capacity(n);
    let mut idx = vec![0usize; out.len()];
    for _ in 0..n {
        let mut flat = 0;
        for (k, &s) in in_strides.iter().enumerate() {
            if inp[k] != 1 {
                flat += idx[k + off] * s;
            }
        }
        map.push(flat);
        // Advance the multi-index.
        for ax in (0..out.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < out[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    map
}

/// Normalize a possibly negative axis against `rank`.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    crate::infer::norm_axis(axis, rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_map_matches_numpy() {
        assert_eq!(broadcast_shape(&[2, 1], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_map(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_map(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_map(&[2, 3], &[]), vec![0; 6]);
        assert!(broadcast_shape(&[2], &[3]).is_err());
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
