//! Shape materialization: a `reshape` or `expand` whose target shape is
//! computed at run time (`Shape → Gather → Concat → ...`, as exporters
//! write it) gets a constant target instead, when its result type says
//! what the target must be — then the shape subgraph is dead and DCE
//! removes it.
//!
//! The constant is spelled with ONNX's own symbols so that it stays right
//! for every binding of the symbolic dims:
//! - reshape (without `allowzero`): a known result dim is itself; a
//!   symbolic one equal to the input's dim at the same axis is `0` ("copy");
//!   at most one other symbolic dim becomes `-1` ("infer");
//! - reshape with `allowzero`: as above without the `0` spelling;
//! - expand: a known result dim is itself; a symbolic one equal to the
//!   input's (right-aligned) dim is `1` (broadcast keeps the input dim).
//!
//! A reshape whose operand is itself a reshape (flatten, squeeze,
//! unsqueeze) may read that one's operand instead, when its dims are the
//! ones to copy. When the result type cannot be spelled (two dims needing `-1`, a `?`
//! dim, an expand dim the input does not have), the node is left alone.
//!
//! Assumes types from shape inference (the result type is what the
//! computed target evaluates to). Guarantees: the node's result type is
//! unchanged, so results are bit-exact; idempotent (a constant target is
//! never rewritten).

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Dim, Graph, Node, Op, Tensor, Value};

pub struct ShapeConsts;

impl Pass for ShapeConsts {
    fn name(&self) -> &'static str {
        "shape-consts"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(shape_consts(g) > 0)
    }
}

/// The constant target for node `n`, if it has a computed one that the
/// result type determines, and the data operand to reshape: a reshape of
/// a reshape may read the first one's operand instead (same elements in
/// the same order), whose dims may be the ones the result copies.
fn target(g: &Graph, n: Node) -> Option<(Vec<i64>, Value)> {
    let nd = g.node(n);
    let shape_operand = *nd.inputs.get(1)?;
    if g.const_value(shape_operand).is_some() {
        return None;
    }
    let mut src = nd.inputs[0];
    loop {
        if let Some(t) = target_for(g, n, src) {
            return Some((t, src));
        }
        if !matches!(nd.op, Op::Reshape { .. }) {
            return None;
        }
        let p = g.node(g.producer(src)?);
        match p.op {
            Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                src = p.inputs[0];
            }
            _ => return None,
        }
    }
}

fn target_for(g: &Graph, n: Node, data: Value) -> Option<Vec<i64>> {
    let nd = g.node(n);
    let x = &g.ty(data).shape;
    let out = &g.ty(nd.outputs[0]).shape;
    if out.iter().any(|d| matches!(d, Dim::Unknown)) {
        return None;
    }
    match nd.op {
        Op::Reshape { allowzero } => {
            let mut infer = false;
            out.iter()
                .enumerate()
                .map(|(i, d)| match d {
                    Dim::Known(k) => Some(*k),
                    _ if !allowzero && x.get(i) == Some(d) => Some(0),
                    _ if !infer => {
                        infer = true;
                        Some(-1)
                    }
                    _ => None,
                })
                .collect()
        }
        Op::Expand => {
            let off = out.len().checked_sub(x.len())?;
            out.iter()
                .enumerate()
                .map(|(j, d)| match d {
                    Dim::Known(k) => Some(*k),
                    _ if j >= off && x[j - off] == *d => Some(1),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

/// Give computed reshape/expand targets a constant; returns how many.
pub fn shape_consts(g: &mut Graph) -> usize {
    let mut done = 0;
    for n in g.order().to_vec() {
        let Some((dims, data)) = target(g, n) else {
            continue;
        };
        let Ok(t) = Tensor::from_vec(&[dims.len()], dims) else {
            continue;
        };
        let c = g.add_const(t);
        // add_const appended to the schedule; the constant goes first.
        let mut order = g.order().to_vec();
        let cn = order.pop().expect("the constant was just appended");
        order.insert(0, cn);
        g.set_order(order);
        g.node_mut(n).inputs[0] = data;
        g.node_mut(n).inputs[1] = c;
        done += 1;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{interp, parse, verify};

    #[test]
    fn computed_reshape_and_expand_targets_become_constants() {
        let src =
            "graph @f(%x: f32[batch,seq,8], %m: f32[batch,1]) -> f32[batch,seq,2,4], f32[batch,3] {
  %s = shape %x {start=0} : i64[3]
  %i0 = const i64[1] [0]
  %i1 = const i64[1] [1]
  %b = gather %s, %i0 {axis=0} : i64[1]
  %q = gather %s, %i1 {axis=0} : i64[1]
  %k = const i64[2] [2, 4]
  %t = concat %b, %q, %k {axis=0} : i64[4]
  %r = reshape %x, %t {allowzero=false} : f32[batch,seq,2,4]
  %k3 = const i64[1] [3]
  %e2 = concat %b, %k3 {axis=0} : i64[2]
  %e = expand %m, %e2 : f32[batch,3]
  return %r, %e
}";
        let mut g = parse(src).unwrap();
        let before = g.clone();
        assert_eq!(shape_consts(&mut g), 2);
        verify::verify(&g).unwrap();
        let text = g.to_string();
        assert!(text.contains("const i64[4] [0, 0, 2, 4]"), "{text}");
        assert!(text.contains("const i64[2] [1, 3]"), "{text}");
        let x = Tensor::from_vec(&[3, 5, 8], (0..120).map(|i| i as f32).collect()).unwrap();
        let m = Tensor::from_vec(&[3, 1], vec![1.0f32, 2.0, 3.0]).unwrap();
        let ins = [x, m];
        assert_eq!(
            interp::run(&before, &ins).unwrap(),
            interp::run(&g, &ins).unwrap()
        );
        assert_eq!(shape_consts(&mut g), 0);
    }
}
