//! Fold inference-mode `batch_norm` into the contraction before it.
//!
//! `batch_norm %y, %gamma, %beta, %mean, %var` with constant parameters is the
//! per-channel affine map `y*s + t`, `s = gamma/sqrt(var+eps)`,
//! `t = beta - mean*s`. When `%y` comes from a contraction with constant
//! weight (and bias) and has no other user (see `site.rs`), the
//! map is folded into it: `W' = W*s` along the weight's output-channel axis,
//! `b' = b*s + t`; the batch norm disappears (a bare `matmul` gets an `add` of
//! `b'`, having no bias operand). A `batch_norm` with constant parameters and
//! no foldable contraction before it becomes `mul` + `add` by constants shaped
//! `[C,1,..,1]` to broadcast along the channel axis 1.
//!
//! Assumes: the graph verifies. Only f32/f64/f16 values are rewritten, and
//! only when `s` and `t` are finite (a non-positive `var+eps` is left alone).
//!
//! Guarantees: the result verifies, no foldable `batch_norm` remains (the pass
//! is idempotent), and outputs equal the original in real arithmetic. Floats
//! change by rounding only: folded constants are computed in f64 and rounded
//! once to the weight dtype, so per element the difference is a few units in
//! the last place of the largest term (`|x|·|W'|` sums, `|b'|`). The property
//! tests (`tests/tests/fold_bn_props.rs`) hold f32 to
//! `|a-b| <= 1e-4·|b| + 1e-5·max(1, max|out|)` (f64: 1e-10, 1e-12); ResNet-18
//! differs by 2.4e-7 at outputs of size 2.8. The old constants are left for
//! `dce`.

pub(crate) mod site;

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{DType, Graph, Node, Op, Tensor};
use site::{apply, find_site, move_before, transfer_name, AffineMap};

pub struct FoldBn;

impl Pass for FoldBn {
    fn name(&self) -> &'static str {
        "fold-bn"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(fold_bn(g))
    }
}

/// Fold every batch norm with constant parameters; returns whether anything changed.
pub fn fold_bn(g: &mut Graph) -> bool {
    let mut changed = false;
    // One rewrite at a time: a rewrite changes users, and chains
    // (conv → bn → bn) fold one link per round.
    while let Some(n) = next_batch_norm(g) {
        rewrite(g, n);
        changed = true;
    }
    changed
}

/// The first batch norm this pass can rewrite.
fn next_batch_norm(g: &Graph) -> Option<Node> {
    g.order().iter().copied().find(|&n| bn_map(g, n).is_some())
}

/// The per-channel map of batch norm `n`, if its parameters are constant,
/// its value dtype is one we fold and the map is finite.
fn bn_map(g: &Graph, n: Node) -> Option<AffineMap> {
    let nd = g.node(n);
    let Op::BatchNorm { epsilon } = nd.op else {
        return None;
    };
    let dt = g.ty(nd.inputs[0]).dtype;
    if !matches!(dt, DType::F32 | DType::F64 | DType::F16) || g.ty(nd.inputs[0]).rank() < 2 {
        return None;
    }
    let p: Vec<Vec<f64>> = nd.inputs[1..]
        .iter()
        .map(|&v| g.const_value(v).map(Tensor::to_f64s))
        .collect::<Option<_>>()?;
    let c = p[0].len();
    if c == 0 || p.iter().any(|v| v.len() != c) {
        return None;
    }
    let eps = f64::from(epsilon);
    let scale: Vec<f64> = (0..c).map(|i| p[0][i] / (p[3][i] + eps).sqrt()).collect();
    let shift: Vec<f64> = (0..c).map(|i| p[1][i] - p[2][i] * scale[i]).collect();
    let map = AffineMap { scale, shift };
    map.is_finite().then_some(map)
}

fn rewrite(g: &mut Graph, bn: Node) {
    let map = bn_map(g, bn).expect("chosen because it has a map");
    let (x, y) = (g.node(bn).inputs[0], g.node(bn).outputs[0]);
    if let Some(site) = find_site(g, x, bn) {
        let new_out = apply(g, &site, &map, bn);
        g.replace_uses(y, new_out);
        transfer_name(g, y, new_out);
        g.remove_nodes(&[bn]);
        return;
    }
    // Standalone: y = x*s + t with constants shaped [C,1,..,1].
    let ty = g.ty(x).clone();
    let mut shape = vec![map.scale.len()];
    shape.resize(ty.rank() - 1, 1);
    let cst = |g: &mut Graph, v: &[f64]| {
        let t = Tensor::from_f64s(ty.dtype, &shape, v).expect("C elements for [C,1,..]");
        let c = g.add_const(t);
        g.producer(c).expect("const has a node")
    };
    let (sn, tn) = (cst(g, &map.scale), cst(g, &map.shift));
    let (s, t) = (g.node(sn).outputs[0], g.node(tn).outputs[0]);
    let loc = g.node(bn).loc.clone();
    let mn = g.push_node(Op::Mul, vec![x, s], vec![ty.clone()]);
    let m = g.node(mn).outputs[0];
    let an = g.push_node(Op::Add, vec![m, t], vec![ty]);
    g.set_loc(mn, loc.clone());
    g.set_loc(an, loc);
    move_before(g, &[sn, tn, mn, an], bn);
    let out = g.node(an).outputs[0];
    g.replace_uses(y, out);
    transfer_name(g, y, out);
    g.remove_nodes(&[bn]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::attr::AutoPad;
    use ingot_ir::{interp, verify, TensorType};

    fn cst(g: &mut Graph, shape: &[usize], v: &[f32]) -> ingot_ir::Value {
        g.add_const(Tensor::from_vec(shape, v.to_vec()).unwrap())
    }

    fn bn(g: &mut Graph, x: ingot_ir::Value, c: usize) -> ingot_ir::Value {
        let gamma: Vec<f32> = (0..c).map(|i| 0.5 + i as f32).collect();
        let beta: Vec<f32> = (0..c).map(|i| i as f32 - 1.0).collect();
        let mean: Vec<f32> = (0..c).map(|i| 0.25 * i as f32).collect();
        let var: Vec<f32> = (0..c).map(|i| 1.0 + i as f32).collect();
        let p: Vec<_> = [gamma, beta, mean, var]
            .iter()
            .map(|v| cst(g, &[c], v))
            .collect();
        let mut ins = vec![x];
        ins.extend(p);
        g.add_node(Op::BatchNorm { epsilon: 1e-5 }, &ins).unwrap()[0]
    }

    fn close(a: &[Tensor], b: &[Tensor]) {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.shape(), y.shape());
            for (p, q) in x.to_f64s().iter().zip(y.to_f64s()) {
                assert!(
                    *p == q || (p - q).abs() <= 1e-5 + 1e-4 * q.abs(),
                    "{p} vs {q}"
                );
            }
        }
    }

    fn count(g: &Graph, name: &str) -> usize {
        g.order()
            .iter()
            .filter(|&&n| g.node(n).op.name() == name)
            .count()
    }

    #[test]
    fn grouped_conv_transpose_folds_per_group() {
        let mut g = Graph::new("f");
        let x = g
            .add_input("x", TensorType::fixed(DType::F32, &[1, 4, 3, 3]))
            .unwrap();
        // w: [C_in=4, M/group=3, 2, 2], group 2 → 6 output channels.
        let wv: Vec<f32> = (0..48).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = cst(&mut g, &[4, 3, 2, 2], &wv);
        let op = Op::ConvTranspose {
            strides: vec![1, 1],
            pads: vec![0, 0, 0, 0],
            dilations: vec![1, 1],
            group: 2,
            auto_pad: AutoPad::NotSet,
            output_padding: vec![],
            output_shape: vec![],
        };
        let y = g.add_node(op, &[x, w]).unwrap()[0];
        let z = bn(&mut g, y, 6);
        g.set_outputs(vec![z]);
        let xin = Tensor::from_vec(
            &[1, 4, 3, 3],
            (0..36).map(|i| (i as f32 * 0.91).cos()).collect(),
        )
        .unwrap();
        let before = g.clone();
        assert!(fold_bn(&mut g));
        verify::verify(&g).unwrap();
        assert_eq!(count(&g, "batch_norm"), 0);
        assert_eq!(g.node(g.producer(g.outputs()[0]).unwrap()).inputs.len(), 3);
        close(
            &interp::run(&g, std::slice::from_ref(&xin)).unwrap(),
            &interp::run(&before, &[xin]).unwrap(),
        );
        assert!(!fold_bn(&mut g), "idempotent");
    }

    #[test]
    fn shared_result_becomes_mul_add() {
        // The conv result is also a graph output: folding would change it.
        let mut g = Graph::new("f");
        let x = g
            .add_input("x", TensorType::fixed(DType::F32, &[2, 3]))
            .unwrap();
        let w = cst(&mut g, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = g.add_node(Op::MatMul, &[x, w]).unwrap()[0];
        let z = bn(&mut g, y, 2);
        g.set_outputs(vec![z, y]);
        let before = g.clone();
        assert!(fold_bn(&mut g));
        verify::verify(&g).unwrap();
        assert_eq!(count(&g, "batch_norm"), 0);
        assert_eq!((count(&g, "mul"), count(&g, "add")), (1, 1));
        let xin = Tensor::from_vec(&[2, 3], vec![0.5f32, -1.0, 2.0, 0.0, 1.5, -0.25]).unwrap();
        close(
            &interp::run(&g, std::slice::from_ref(&xin)).unwrap(),
            &interp::run(&before, &[xin]).unwrap(),
        );
    }

    #[test]
    fn non_constant_params_and_bf16_are_left() {
        let mut g = Graph::new("f");
        let t = TensorType::fixed(DType::F32, &[1, 2]);
        let x = g.add_input("x", t).unwrap();
        let gamma = g
            .add_input("gamma", TensorType::fixed(DType::F32, &[2]))
            .unwrap();
        let c = cst(&mut g, &[2], &[1.0, 1.0]);
        let z = g
            .add_node(Op::BatchNorm { epsilon: 1e-5 }, &[x, gamma, c, c, c])
            .unwrap()[0];
        g.set_outputs(vec![z]);
        assert!(!fold_bn(&mut g));
        let mut h = Graph::new("h");
        let x = h
            .add_input("x", TensorType::fixed(DType::BF16, &[1, 2]))
            .unwrap();
        let c = h.add_const(Tensor::from_f64s(DType::BF16, &[2], &[1.0, 1.0]).unwrap());
        let z = h
            .add_node(Op::BatchNorm { epsilon: 1e-5 }, &[x, c, c, c, c])
            .unwrap()[0];
        h.set_outputs(vec![z]);
        assert!(!fold_bn(&mut h));
    }
}
