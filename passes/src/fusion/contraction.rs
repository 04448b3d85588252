//! Contraction epilogue fusion: a matmul/gemm/conv/conv_transpose takes the
//! chain of elementwise ops applied to its result — bias add, activation
//! (relu, clip, sigmoid, ...), residual add with another tensor — into one
//! `fused {kind="contraction"}` node, so the backend applies the epilogue
//! while the output tile is still hot.
//!
//! Rule (general, no pattern list): starting from a contraction with one
//! result of known shape (no `?` dims), the chain's tail value is extended by
//! its consumer `u` when `u` is elementwise with one result of exactly the
//! contraction's result shape (dtype may change, the shape may not grow), and
//! the tail is used by `u` alone and is not a graph output. `u`'s other
//! operands stay external and may broadcast (bias `[C,1,1]`, a residual of the
//! same shape). A contraction with no epilogue is left alone; a consumer
//! joins at most one chain (a residual add of two conv outputs extends the
//! earlier conv's chain; the other conv's result becomes an operand).
//!
//! Guarantees: the body's first node is the contraction, every later node is
//! elementwise with the contraction result's shape, and the body has one
//! output (the last value). No cycle can arise: each chain value has a single
//! user, so the group's only outgoing edge is the tail. Results are
//! bit-exact; idempotent (fused nodes are neither contractions nor
//! elementwise).

use super::group::{apply_groups, known_shape, Planner};
use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Dim, Graph, Node, Op, Value};
use std::collections::HashMap;

pub struct FuseContraction;

impl Pass for FuseContraction {
    fn name(&self) -> &'static str {
        "fuse-contraction"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassCx) -> Result<Changed, PassError> {
        let fused = fuse_contraction(g).map_err(|msg| PassError {
            pass: self.name(),
            msg,
        })?;
        cx.fused += fused;
        Ok(fused > 0)
    }
}

/// Whether `op` is a contraction that may start an epilogue group.
pub fn is_contraction(op: &Op) -> bool {
    matches!(
        op,
        Op::MatMul | Op::Gemm { .. } | Op::Conv { .. } | Op::ConvTranspose { .. }
    )
}

/// A chain under construction: its current tail and the contraction's
/// result shape.
struct Chain<'g> {
    tail: Value,
    shape: &'g [Dim],
}

/// The single result of `n` when it has exactly one.
fn single_result(g: &Graph, n: Node) -> Option<Value> {
    match g.node(n).outputs[..] {
        [v] => Some(v),
        _ => None,
    }
}

/// Groups of schedule positions: a contraction and its epilogue chain (two
/// or more members), in the order of their last member.
pub fn plan_groups(g: &Graph) -> Vec<Vec<usize>> {
    let users = g.users();
    let mut p = Planner::new(g);
    // Open chains by group id (the position of their newest member).
    let mut chains: HashMap<usize, Chain> = HashMap::new();
    for i in 0..p.order.len() {
        let n = p.order[i];
        let op = &g.node(n).op;
        let Some(out) = single_result(g, n) else {
            continue;
        };
        if is_contraction(op) {
            if let Some(shape) = known_shape(g, out) {
                chains.insert(i, Chain { tail: out, shape });
            }
            continue;
        }
        if !op.is_elementwise() {
            continue;
        }
        let Some(shape) = known_shape(g, out) else {
            continue;
        };
        let extends = |v: &Value| {
            let j = p.producer_pos(*v)?;
            let c = chains.get(&p.group[j])?;
            let only_here = users.get(v).is_some_and(|us| us[..] == [n]);
            (c.tail == *v && c.shape == shape && only_here && !g.outputs().contains(v))
                .then_some(p.group[j])
        };
        let Some(gj) = g.node(n).inputs.iter().find_map(extends) else {
            continue;
        };
        let chain = chains.remove(&gj).expect("found above");
        p.merge(i, &[gj]);
        chains.insert(i, Chain { tail: out, ..chain });
    }
    p.finish(|m| m.len() >= 2)
}

/// Fuse `g`'s contractions with their epilogues; returns how many nodes were
/// fused.
pub fn fuse_contraction(g: &mut Graph) -> Result<usize, String> {
    let groups = plan_groups(g);
    apply_groups(g, &groups, "contraction")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{interp, verify, DType, Tensor, TensorType};

    fn ty(dims: &[usize]) -> TensorType {
        TensorType::fixed(DType::F32, dims)
    }

    fn run_both(before: &Graph, after: &Graph, inputs: &[Tensor]) {
        let (p, q) = (
            interp::run(before, inputs).unwrap(),
            interp::run(after, inputs).unwrap(),
        );
        assert!(p.iter().zip(&q).all(|(a, b)| a.bytes() == b.bytes()));
    }

    /// matmul → add bias → relu → add residual: one node, the matmul first.
    #[test]
    fn bias_activation_residual_chain() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[2, 3])).unwrap();
        let w = g.add_input("w", ty(&[3, 3])).unwrap();
        let b = g.add_input("b", ty(&[3])).unwrap();
        let m = g.add_node(Op::MatMul, &[x, w]).unwrap()[0];
        let a = g.add_node(Op::Add, &[m, b]).unwrap()[0];
        let r = g.add_node(Op::Relu, &[a]).unwrap()[0];
        let s = g.add_node(Op::Add, &[x, r]).unwrap()[0];
        g.set_outputs(vec![s]);
        let before = g.clone();
        let mut cx = PassCx::default();
        assert!(FuseContraction.run(&mut g, &mut cx).unwrap());
        assert_eq!(cx.fused, 4);
        assert_eq!(g.order().len(), 1);
        let Op::Fused { kind, body } = &g.node(g.order()[0]).op else {
            panic!("{g}");
        };
        assert_eq!(kind, "contraction");
        assert_eq!(body.node(body.order()[0]).op, Op::MatMul);
        assert_eq!(body.outputs().len(), 1);
        verify::verify(&g).unwrap();
        let t = |s: &[usize]| {
            let n = s.iter().product::<usize>();
            Tensor::from_vec(s, (0..n).map(|i| i as f32 - 2.5).collect()).unwrap()
        };
        let ins = [t(&[2, 3]), t(&[3, 3]), t(&[3])];
        run_both(&before, &g, &ins);
        assert!(!FuseContraction.run(&mut g, &mut cx).unwrap());
    }

    /// A result used twice, a shape that grows, and a bare contraction stop
    /// or prevent the chain.
    #[test]
    fn shared_growing_and_bare_results_stay() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[2, 3])).unwrap();
        let w = g.add_input("w", ty(&[3, 3])).unwrap();
        let y = g.add_input("y", ty(&[4, 2, 3])).unwrap();
        let m = g.add_node(Op::MatMul, &[x, w]).unwrap()[0];
        let r = g.add_node(Op::Relu, &[m]).unwrap()[0];
        let e = g.add_node(Op::Exp, &[m]).unwrap()[0];
        let m2 = g.add_node(Op::MatMul, &[r, w]).unwrap()[0];
        let big = g.add_node(Op::Add, &[m2, y]).unwrap()[0];
        let m3 = g.add_node(Op::MatMul, &[e, w]).unwrap()[0];
        g.set_outputs(vec![big, m3]);
        assert_eq!(fuse_contraction(&mut g).unwrap(), 0, "{g}");
    }
}
