//! Elementwise fusion: chains and trees of elementwise ops become one
//! `fused {kind="elementwise"}` node whose body is the original ops.
//!
//! Grouping (see `group.rs`) is greedy, producer→consumer, in schedule order.
//! A node joins (and merges) the groups of its elementwise producers when
//! every member's single result has the same shape (no `?` dims: an unknown
//! size equals nothing) and the merge keeps the graph of groups acyclic.
//! Groups of two or more nodes become one fused node. Runs last in the
//! pipeline, on what reduction and contraction fusion left: `fused` nodes are
//! not elementwise, so they never join.
//!
//! Guarantees: those of `group::apply_groups` (bit-exact bodies, stable
//! schedule, visible names kept); idempotent.

use super::group::{apply_groups, known_shape, Planner};
use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Dim, Graph, Node};

pub struct FuseElementwise;

impl Pass for FuseElementwise {
    fn name(&self) -> &'static str {
        "fuse-elementwise"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassCx) -> Result<Changed, PassError> {
        let fused = fuse_elementwise(g).map_err(|msg| PassError {
            pass: self.name(),
            msg,
        })?;
        cx.fused += fused;
        Ok(fused > 0)
    }
}

/// The result shape a node fuses under, if it is a fusion candidate.
fn key(g: &Graph, n: Node) -> Option<&[Dim]> {
    let nd = g.node(n);
    if !nd.op.is_elementwise() || nd.outputs.len() != 1 {
        return None;
    }
    known_shape(g, nd.outputs[0])
}

/// Groups of schedule positions (each sorted, two or more members), in the
/// order of their last member.
pub fn plan_groups(g: &Graph) -> Vec<Vec<usize>> {
    let mut p = Planner::new(g);
    for i in 0..p.order.len() {
        let Some(shape) = key(g, p.order[i]) else {
            continue;
        };
        let mut taken = vec![];
        for gj in p.producer_groups(i) {
            // Groups hold one shape, so checking the group's newest member
            // (its name) checks them all.
            if key(g, p.order[gj]) != Some(shape) {
                continue;
            }
            let mut trial = taken.clone();
            trial.push(gj);
            if p.stays_acyclic(&p.union(i, &trial), i) {
                taken = trial;
            }
        }
        p.merge(i, &taken);
    }
    p.finish(|m| m.len() >= 2)
}

/// Fuse `g`'s elementwise groups; returns how many nodes were fused.
pub fn fuse_elementwise(g: &mut Graph) -> Result<usize, String> {
    let groups = plan_groups(g);
    apply_groups(g, &groups, "elementwise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{interp, verify, DType, Op, Tensor, TensorType, Value};

    fn ty(dims: &[usize]) -> TensorType {
        TensorType::fixed(DType::F32, dims)
    }

    fn unary(g: &mut Graph, op: Op, x: Value) -> Value {
        g.add_node(op, &[x]).unwrap()[0]
    }

    #[test]
    fn chain_becomes_one_node_with_same_results() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[3])).unwrap();
        let a = unary(&mut g, Op::Neg, x);
        let b = unary(&mut g, Op::Relu, a);
        let c = unary(&mut g, Op::Exp, b);
        g.set_outputs(vec![c]);
        let before = g.clone();
        let mut cx = PassCx::default();
        assert!(FuseElementwise.run(&mut g, &mut cx).unwrap());
        assert_eq!(cx.fused, 3);
        assert_eq!(g.order().len(), 1);
        let Op::Fused { kind, body } = &g.node(g.order()[0]).op else {
            panic!("expected a fused node:\n{g}");
        };
        assert_eq!(kind, "elementwise");
        assert_eq!(body.order().len(), 3);
        assert_eq!(body.name, "fused_0");
        verify::verify(&g).unwrap();
        let input = [Tensor::from_vec(&[3], vec![-1.0f32, 0.5, 2.0]).unwrap()];
        assert_eq!(
            interp::run(&before, &input).unwrap()[0].bytes(),
            interp::run(&g, &input).unwrap()[0].bytes()
        );
        assert!(!FuseElementwise.run(&mut g, &mut cx).unwrap());
    }

    #[test]
    fn tree_with_shared_operands_fuses_into_one_exact_node() {
        // Two chains sharing values merge into one tree-shaped group.
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[2])).unwrap();
        let a1 = unary(&mut g, Op::Neg, x);
        let b2 = unary(&mut g, Op::Abs, x);
        let b1 = unary(&mut g, Op::Relu, a1);
        let a2 = g.add_node(Op::Add, &[a1, b2]).unwrap()[0];
        let b3 = g.add_node(Op::Mul, &[b1, b2]).unwrap()[0];
        g.set_outputs(vec![a2, b3]);
        let before = g.clone();
        assert_eq!(fuse_elementwise(&mut g).unwrap(), 5);
        assert_eq!(g.order().len(), 1);
        verify::verify(&g).unwrap();
        let input = [Tensor::from_vec(&[2], vec![-1.0f32, 3.0]).unwrap()];
        let (p, q) = (
            interp::run(&before, &input).unwrap(),
            interp::run(&g, &input).unwrap(),
        );
        assert!(p.iter().zip(&q).all(|(a, b)| a.bytes() == b.bytes()));
    }

    #[test]
    fn unknown_dims_and_single_nodes_are_left_alone() {
        let mut g = Graph::new("f");
        let t = TensorType::new(DType::F32, [Dim::Unknown]);
        let x = g.add_input("x", t.clone()).unwrap();
        let a = g.push_node(Op::Neg, vec![x], vec![t.clone()]);
        let a = g.node(a).outputs[0];
        let b = g.push_node(Op::Relu, vec![a], vec![t]);
        let b = g.node(b).outputs[0];
        g.set_outputs(vec![b]);
        assert_eq!(fuse_elementwise(&mut g).unwrap(), 0);
        let mut h = Graph::new("f");
        let x = h.add_input("x", ty(&[2])).unwrap();
        let y = unary(&mut h, Op::Neg, x);
        h.set_outputs(vec![y]);
        assert_eq!(fuse_elementwise(&mut h).unwrap(), 0);
    }
}
