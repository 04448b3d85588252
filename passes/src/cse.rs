//! Common-subexpression elimination.
//!
//! Two nodes are the same computation when they apply equal ops (`Op: PartialEq`,
//! which compares attributes, constant tensors by bytes, and subgraphs
//! structurally) to the same operands in the same order. Walking the schedule,
//! each node is looked up among earlier ones with the same op name and
//! operands; a match takes over its uses and the duplicate is removed. This is
//! structural, not by printing. Identical constants merge too (hashed by
//! dtype, shape and bytes).
//!
//! Guarantees: bit-exact results (all ops are pure and deterministic); the
//! surviving node is the earlier one, so the schedule stays topological.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Graph, Node, Op, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(cse(g))
    }
}

fn key(g: &Graph, n: Node, subst: &HashMap<Value, Value>) -> u64 {
    let nd = g.node(n);
    let mut h = DefaultHasher::new();
    nd.op.name().hash(&mut h);
    for v in &nd.inputs {
        subst.get(v).unwrap_or(v).hash(&mut h);
    }
    if let Op::Const { value } = &nd.op {
        // Hash a sample, not every byte: weights run to megabytes, and equal
        // keys are confirmed with a full comparison anyway.
        value.dtype().hash(&mut h);
        value.shape().hash(&mut h);
        let b = value.bytes();
        let step = (b.len() / 64).max(1);
        for i in (0..b.len()).step_by(step).take(64) {
            b[i].hash(&mut h);
        }
    }
    h.finish()
}

/// Merge duplicate computations in `g`; returns whether anything changed.
pub fn cse(g: &mut Graph) -> bool {
    let mut seen: HashMap<u64, Vec<Node>> = HashMap::new();
    let mut subst: HashMap<Value, Value> = HashMap::new();
    let mut dead = vec![];
    for n in g.order().to_vec() {
        // Rewrite operands first so chains of duplicates collapse in one walk.
        let inputs: Vec<Value> = g
            .node(n)
            .inputs
            .iter()
            .map(|v| *subst.get(v).unwrap_or(v))
            .collect();
        g.node_mut(n).inputs = inputs;
        let k = key(g, n, &subst);
        let bucket = seen.entry(k).or_default();
        let same = bucket.iter().copied().find(|&m| {
            let (a, b) = (g.node(m), g.node(n));
            a.inputs == b.inputs && a.outputs.len() == b.outputs.len() && a.op == b.op
        });
        match same {
            Some(m) => {
                let (old, new) = (g.node(n).outputs.clone(), g.node(m).outputs.clone());
                for (o, nw) in old.into_iter().zip(new) {
                    subst.insert(o, nw);
                }
                dead.push(n);
            }
            None => bucket.push(n),
        }
    }
    if dead.is_empty() {
        return false;
    }
    for (&old, &new) in &subst {
        g.replace_uses(old, new);
    }
    g.remove_nodes(&dead);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{DType, Tensor, TensorType};

    #[test]
    fn merges_equal_nodes_and_constants() {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let c1 = g.add_const(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap());
        let c2 = g.add_const(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap());
        let a = g.push_node(Op::Add, vec![x, c1], vec![t.clone()]);
        let b = g.push_node(Op::Add, vec![x, c2], vec![t.clone()]);
        let (a, b) = (g.node(a).outputs[0], g.node(b).outputs[0]);
        let m = g.push_node(Op::Mul, vec![a, b], vec![t.clone()]);
        let m = g.node(m).outputs[0];
        g.set_outputs(vec![m]);
        assert!(cse(&mut g));
        assert_eq!(g.order().len(), 3, "one const, one add, one mul");
        let mul = g.node(*g.order().last().unwrap());
        assert_eq!(mul.inputs[0], mul.inputs[1]);
        assert!(!cse(&mut g), "idempotent");
    }

    #[test]
    fn different_attributes_stay_apart() {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let a = g.push_node(Op::LeakyRelu { alpha: 0.1 }, vec![x], vec![t.clone()]);
        let b = g.push_node(Op::LeakyRelu { alpha: 0.2 }, vec![x], vec![t.clone()]);
        let outs = vec![g.node(a).outputs[0], g.node(b).outputs[0]];
        g.set_outputs(outs);
        assert!(!cse(&mut g));
    }
}
