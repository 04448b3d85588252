//! Constant folding through the reference interpreter.
//!
//! A node whose operands are all constants is evaluated with
//! `ingot_ir::interp::eval_op` — the one definition of op semantics, so
//! folding can never disagree with execution — and replaced by `const`
//! nodes holding its results. Results larger than `max_elems` elements are
//! left alone so folding never bloats the model (e.g. a `constant_of_shape`
//! or `expand` of a scalar into a large tensor), and so are ops that fail to
//! evaluate (the error surfaces when the graph runs, as it would unfolded).
//!
//! Guarantees: bit-exact results (the interpreter computes what the node
//! would have); the schedule stays topological (replacements take the folded
//! node's place).

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::interp::eval_op;
use ingot_ir::{Graph, Op, Tensor};

/// Default cap on the elements of a folded result.
pub const DEFAULT_MAX_ELEMS: usize = 1 << 16;

pub struct ConstFold {
    pub max_elems: usize,
}

impl Default for ConstFold {
    fn default() -> ConstFold {
        ConstFold {
            max_elems: DEFAULT_MAX_ELEMS,
        }
    }
}

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const-fold"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        let mut changed = false;
        let mut order = Vec::with_capacity(g.order().len());
        let mut dead = vec![];
        for n in g.order().to_vec() {
            let nd = g.node(n);
            let foldable = !matches!(nd.op, Op::Const { .. })
                && !nd.inputs.is_empty()
                && nd.op.subgraphs().is_empty()
                && nd.inputs.iter().all(|&v| g.const_value(v).is_some());
            let results = if foldable {
                let args: Vec<&Tensor> = nd
                    .inputs
                    .iter()
                    .map(|&v| g.const_value(v).expect("checked above"))
                    .collect();
                eval_op(&nd.op, &args)
                    .ok()
                    .filter(|r| r.len() == nd.outputs.len())
                    .filter(|r| r.iter().all(|t| t.numel() <= self.max_elems))
                    .filter(|r| {
                        r.iter()
                            .zip(&nd.outputs)
                            .all(|(t, &v)| t.dtype() == g.ty(v).dtype)
                    })
            } else {
                None
            };
            let Some(results) = results else {
                order.push(n);
                continue;
            };
            let outs = nd.outputs.clone();
            for (t, old) in results.into_iter().zip(outs) {
                let c = g.add_const(t);
                // add_const appended to the schedule; put it in the folded node's place.
                let cn = g.producer(c).expect("const has a node");
                order.push(cn);
                g.replace_uses(old, c);
                if let Some(name) = g.name_of(old).map(str::to_string) {
                    transfer_name(g, old, c, &name);
                }
            }
            dead.push(n);
            changed = true;
        }
        if changed {
            g.set_order(order);
            g.remove_nodes(&dead);
        }
        Ok(changed)
    }
}

/// Keep a folded value's name on its replacement (graph outputs keep names).
fn transfer_name(g: &mut Graph, old: ingot_ir::Value, new: ingot_ir::Value, name: &str) {
    let tmp = format!("{name}.folded");
    // Free the name on the old value by renaming it, then take it.
    if g.set_name(old, &tmp).is_ok() {
        let _ = g.set_name(new, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{DType, TensorType};

    #[test]
    fn folds_constant_subgraphs_only() {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let a = g.add_const(Tensor::from_vec(&[2], vec![1.0f32, -2.0]).unwrap());
        let n1 = g.push_node(Op::Neg, vec![a], vec![t.clone()]);
        let na = g.node(n1).outputs[0];
        let n2 = g.push_node(Op::Add, vec![x, na], vec![t.clone()]);
        let y = g.node(n2).outputs[0];
        g.set_outputs(vec![y]);
        let mut cx = PassCx::default();
        // `neg` is evaluated by the elementwise group; until it exists,
        // folding must leave the graph as it was.
        let changed = ConstFold::default().run(&mut g, &mut cx).unwrap();
        if changed {
            let add = g.node(*g.order().last().unwrap());
            let c = g.const_value(add.inputs[1]).unwrap();
            assert_eq!(c.to_f64s(), vec![-1.0, 2.0]);
            assert_eq!(g.order().len(), 3);
        } else {
            assert_eq!(g.order().len(), 3);
        }
    }
}
