//! Fold `mul`/`add` by per-channel constants into the contraction before it.
//!
//! `conv → mul %y, %k` with `k` constant per output channel (shape `[C,1,1]`,
//! `[1,C,1,1]`, a scalar, ...) scales the weight and bias: `W' = W·k`,
//! `b' = b·k`. `conv → add %y, %t` adds `t` into the bias (adding the bias
//! operand if there was none). The same holds for `conv_transpose`, `gemm`
//! and a rank-2 `matmul` (whose bias is a following `add` of a constant: a
//! `mul` after `matmul [+ add]` scales both; an `add` after `matmul + add`
//! merges into the first; an `add` right after a bare `matmul` is already
//! the bias form and is left alone). Sites are described in
//! `fold_bn/site.rs`: constant f32/f64/f16 weights, the result read only by
//! the `mul`/`add`, which must not broadcast it to a larger shape.
//!
//! Exact in real arithmetic (`(Wx + b)·k = (W·k)x + b·k`,
//! `(Wx + b) + t = Wx + (b + t)`); constants must be finite (a `mul` by inf
//! or NaN is not distributive over the sum). Floats change by rounding only:
//! the folded constants are computed in f64 and rounded once, so differences
//! are a few units in the last place of the largest term, as for `fold-bn`.
//! Idempotent: a folded `mul`/`add` is removed, and nothing new matches.

use crate::fold_bn::site::{apply, find_site, per_channel, transfer_name, AffineMap};
use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Graph, Node, Op};

pub struct FoldAffine;

impl Pass for FoldAffine {
    fn name(&self) -> &'static str {
        "fold-affine"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(fold_affine(g))
    }
}

/// Fold every per-channel `mul`/`add` by constants into its contraction.
pub fn fold_affine(g: &mut Graph) -> bool {
    let mut changed = false;
    // One fold at a time: chains (conv → mul → add) fold a link per round.
    loop {
        let found = g
            .order()
            .iter()
            .find_map(|&n| matched(g, n).map(|m| (n, m)));
        let Some((n, map)) = found else {
            return changed;
        };
        let nd = g.node(n);
        let (x, y) = (operand(g, n), nd.outputs[0]);
        let site = find_site(g, x, n).expect("matched");
        let out = apply(g, &site, &map, n);
        g.replace_uses(y, out);
        transfer_name(g, y, out);
        g.remove_nodes(&[n]);
        changed = true;
    }
}

/// The non-constant operand of a matched `mul`/`add`.
fn operand(g: &Graph, n: Node) -> ingot_ir::Value {
    let ins = &g.node(n).inputs;
    if g.const_value(ins[1]).is_some() {
        ins[0]
    } else {
        ins[1]
    }
}

/// The map `n` applies, if `n` is a foldable `mul`/`add` by a constant.
fn matched(g: &Graph, n: Node) -> Option<AffineMap> {
    let nd = g.node(n);
    let is_mul = match nd.op {
        Op::Mul => true,
        Op::Add => false,
        _ => return None,
    };
    let k = nd.inputs.iter().position(|&v| g.const_value(v).is_some())?;
    let (x, c) = (nd.inputs[1 - k], g.const_value(nd.inputs[k])?);
    if g.const_value(x).is_some() || c.dtype() != g.ty(x).dtype {
        return None;
    }
    let site = find_site(g, x, n)?;
    if !is_mul && !site.has_bias_slot() {
        return None;
    }
    let rank = g.ty(x).rank();
    let vals = per_channel(c, rank, site.channels())?;
    let ones = vec![1.0; vals.len()];
    let zeros = vec![0.0; vals.len()];
    let map = if is_mul {
        AffineMap {
            scale: vals,
            shift: zeros,
        }
    } else {
        AffineMap {
            scale: ones,
            shift: vals,
        }
    };
    map.is_finite().then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::attr::AutoPad;
    use ingot_ir::{interp, verify, DType, Tensor, TensorType};

    fn conv_graph(follow: &[(Op, Vec<usize>, Vec<f32>)]) -> Graph {
        let mut g = Graph::new("f");
        let x = g
            .add_input("x", TensorType::fixed(DType::F32, &[1, 2, 3, 3]))
            .unwrap();
        let b = g.add_const(Tensor::from_vec(&[3], vec![0.5f32, -1.0, 2.0]).unwrap());
        let op = Op::Conv {
            strides: vec![1, 1],
            pads: vec![1, 0, 1, 1],
            dilations: vec![1, 1],
            group: 1,
            auto_pad: AutoPad::NotSet,
        };
        let w = g.add_const(
            Tensor::from_vec(&[3, 2, 3, 2], (0..36).map(|i| (i as f32).cos()).collect()).unwrap(),
        );
        let mut y = g.add_node(op, &[x, w, b]).unwrap()[0];
        for (op, shape, vals) in follow {
            let c = g.add_const(Tensor::from_vec(shape, vals.clone()).unwrap());
            y = g.add_node(op.clone(), &[c, y]).unwrap()[0];
        }
        g.set_outputs(vec![y]);
        g
    }

    fn check(mut g: Graph, folds: usize) {
        let before = g.clone();
        let n0 = g.order().len();
        assert_eq!(fold_affine(&mut g), folds > 0);
        verify::verify(&g).unwrap();
        crate::dce::dce(&mut g);
        assert!(g.order().len() < n0 || folds == 0);
        let x = Tensor::from_vec(
            &[1, 2, 3, 3],
            (0..18).map(|i| i as f32 * 0.25 - 2.0).collect(),
        )
        .unwrap();
        let (a, b) = (
            interp::run(&g, std::slice::from_ref(&x)).unwrap(),
            interp::run(&before, &[x]).unwrap(),
        );
        for (p, q) in a[0].to_f64s().iter().zip(b[0].to_f64s()) {
            assert!(
                *p == q || (p - q).abs() <= 1e-5 + 1e-4 * q.abs(),
                "{p} vs {q}"
            );
        }
        assert!(!fold_affine(&mut g), "idempotent");
    }

    #[test]
    fn mul_then_add_fold_into_conv() {
        let g = conv_graph(&[
            (Op::Mul, vec![3, 1, 1], vec![2.0, -0.5, 3.0]),
            (Op::Add, vec![1, 3, 1, 1], vec![1.0, 2.0, -3.0]),
            (Op::Mul, vec![], vec![0.25]),
        ]);
        check(g, 3);
    }

    #[test]
    fn spatially_varying_or_broadcasting_constants_stay() {
        // [3,1,2] varies along the spatial axis; [2,1,1,1,1] adds an axis.
        check(
            conv_graph(&[(Op::Mul, vec![1, 1, 3], vec![1.0, 2.0, 3.0])]),
            0,
        );
        check(
            conv_graph(&[(Op::Add, vec![2, 1, 1, 1, 1], vec![1.0, 2.0])]),
            0,
        );
        check(conv_graph(&[(Op::Mul, vec![], vec![f32::INFINITY])]), 0);
    }

    #[test]
    fn add_after_bare_matmul_is_left_but_mul_folds() {
        let mut g = Graph::new("f");
        let x = g
            .add_input("x", TensorType::fixed(DType::F32, &[2, 3]))
            .unwrap();
        let w = g.add_const(Tensor::from_vec(&[3, 2], vec![1.0f32, 2., 3., 4., 5., 6.]).unwrap());
        let y = g.add_node(Op::MatMul, &[x, w]).unwrap()[0];
        let b = g.add_const(Tensor::from_vec(&[2], vec![1.0f32, -1.0]).unwrap());
        let z = g.add_node(Op::Add, &[y, b]).unwrap()[0];
        g.set_outputs(vec![z]);
        assert!(!fold_affine(&mut g));
        let k = g.add_const(Tensor::from_vec(&[1, 2], vec![2.0f32, 0.5]).unwrap());
        let m = g.add_node(Op::Mul, &[z, k]).unwrap()[0];
        g.set_outputs(vec![m]);
        assert!(fold_affine(&mut g));
        verify::verify(&g).unwrap();
        let x = Tensor::from_vec(&[2, 3], vec![1.0f32, 0., -1., 2., 0.5, 3.]).unwrap();
        let out = interp::run(&g, &[x]).unwrap();
        // ([[-4, -4], [18.5, 24]] + [1, -1]) * [2, 0.5].
        assert_eq!(out[0].to_f64s(), vec![-6.0, -2.5, 39.0, 11.5]);
        assert!(!g.order().iter().any(|&n| g.node(n).op == Op::Mul));
    }
}
