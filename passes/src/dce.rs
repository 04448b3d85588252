//! Dead-code elimination.
//!
//! Removes every node none of whose results reaches a graph output, walking
//! the schedule backwards from the outputs. All ops are pure, so liveness is
//! the only criterion. Subgraphs (If/Loop/Fused bodies) are cleaned recursively;
//! their inputs and outputs are their interface and are never removed.
//!
//! Guarantees: the outputs are computed exactly as before (bit-exact); the
//! schedule order of the surviving nodes is unchanged.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Graph, Value};
use std::collections::HashSet;

pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(dce(g))
    }
}

/// Remove dead nodes from `g` and its subgraphs; returns whether anything changed.
pub fn dce(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut live: HashSet<Value> = g.outputs().iter().copied().collect();
    let mut dead = vec![];
    for &n in g.order().iter().rev() {
        let nd = g.node(n);
        if nd.outputs.iter().any(|v| live.contains(v)) {
            live.extend(nd.inputs.iter().copied());
        } else {
            dead.push(n);
        }
    }
    if !dead.is_empty() {
        g.remove_nodes(&dead);
        changed = true;
    }
    let order = g.order().to_vec();
    for n in order {
        for sub in g.node_mut(n).op.subgraphs_mut() {
            changed |= dce(sub);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{DType, Op, Tensor, TensorType};

    #[test]
    fn removes_only_what_no_output_needs() {
        let mut g = Graph::new("f");
        let x = g
            .add_input("x", TensorType::fixed(DType::F32, &[2]))
            .unwrap();
        let c = g.add_const(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap());
        let unused = g.add_const(Tensor::scalar(3i64));
        let n = g.push_node(
            Op::Add,
            vec![x, c],
            vec![TensorType::fixed(DType::F32, &[2])],
        );
        let y = g.node(n).outputs[0];
        let n2 = g.push_node(Op::Neg, vec![y], vec![TensorType::fixed(DType::F32, &[2])]);
        let _dead_chain = g.node(n2).outputs[0];
        g.set_outputs(vec![y]);
        assert!(dce(&mut g));
        assert_eq!(g.order().len(), 2);
        assert!(g.producer(unused).is_some_and(|p| !g.order().contains(&p)));
        assert!(!dce(&mut g), "idempotent");
    }
}
